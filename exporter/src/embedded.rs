//! What the embedded endpoint serves (feature `embedded`, on by default):
//! this process's ringline series from a fresh snapshot per scrape, then
//! the application's own `metrics` from a Prometheus recorder kept drained
//! by an upkeep thread. The only part of the crate that links the runtime.

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::text::{self, Buckets, RenderOptions, Source};
use crate::{Builder, Error, Exporter};

/// The embedded endpoint's options, kept in the [`Builder`].
#[derive(Debug)]
pub(crate) struct Options {
    upkeep_interval: Duration,
    render: RenderOptions,
    install_recorder: bool,
    handle: Option<PrometheusHandle>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            upkeep_interval: Duration::from_secs(5),
            render: RenderOptions::default(),
            install_recorder: true,
            handle: None,
        }
    }
}

impl Options {
    /// Refuses options out of range (checked with the endpoint's own).
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.upkeep_interval.is_zero() {
            return Err(Error::Option(
                "upkeep_interval must be longer than zero".into(),
            ));
        }
        Ok(())
    }
}

/// What a running embedded endpoint holds besides the listener.
#[derive(Default)]
pub(crate) struct Running {
    handle: Option<PrometheusHandle>,
    recorder_installed: bool,
    /// Held only to be dropped with the [`Exporter`], which stops and
    /// joins it.
    _upkeep: Option<Upkeep>,
}

impl Running {
    /// Adds what the `Debug` of an [`Exporter`] shows of it.
    pub(crate) fn describe(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("recorder_installed", &self.recorder_installed)
            .field("renders_recorder", &self.handle.is_some());
    }
}

impl Builder {
    /// How often the recorder's upkeep runs (it drains histogram samples
    /// of the application's `metrics` into their distributions; without
    /// it they pile up in memory between scrapes).
    pub fn upkeep_interval(mut self, interval: Duration) -> Builder {
        self.embedded.upkeep_interval = interval;
        self
    }

    /// In-flight ops at least this old count in `ringline_ops_stuck`
    /// (default [`DEFAULT_STUCK_AFTER`](ringline_schema::stats::catalog::DEFAULT_STUCK_AFTER),
    /// which dashboards and alerts assume).
    pub fn stuck_after(mut self, after: Duration) -> Builder {
        self.embedded.render.stuck_after = after;
        self
    }

    /// Which latency-histogram boundaries become `le` buckets (default
    /// [`Buckets::PowersOfTwo`]).
    pub fn buckets(mut self, buckets: Buckets) -> Builder {
        self.embedded.render.buckets = buckets;
        self
    }

    /// Whether to install a Prometheus recorder as the global `metrics`
    /// recorder (default true; it is installed only if the application has
    /// not installed one, see [`Exporter::recorder_installed`]).
    pub fn install_recorder(mut self, install: bool) -> Builder {
        self.embedded.install_recorder = install;
        self
    }

    /// Renders this recorder's metrics after ringline's, instead of
    /// installing one: for an application that built and installed its
    /// own `PrometheusRecorder` (with its buckets, layers, global labels).
    pub fn prometheus_handle(mut self, handle: PrometheusHandle) -> Builder {
        self.embedded.handle = Some(handle);
        self
    }

    /// Starts the endpoint: this process's ringline series (a fresh
    /// [`ringline::stats::snapshot`] per scrape), then the application's
    /// own `metrics`.
    pub fn serve(self) -> Result<Exporter, Error> {
        let listener = self.bind()?;
        let options = self.embedded;
        let (handle, installed) = match (options.handle, options.install_recorder) {
            (Some(handle), _) => (Some(handle), false),
            (None, true) => {
                let recorder = PrometheusBuilder::new().build_recorder();
                let handle = recorder.handle();
                match metrics::set_global_recorder(recorder) {
                    Ok(()) => (Some(handle), true),
                    // The application installed its own recorder: its
                    // metrics are for its own exporter to serve.
                    Err(_) => (None, false),
                }
            }
            (None, false) => (None, false),
        };
        let upkeep = match &handle {
            Some(h) => Some(Upkeep::start(h.clone(), options.upkeep_interval)?),
            None => None,
        };
        let render_options = options.render;
        let app = handle.clone();
        let render = move |out: &mut String| {
            let snapshot = ringline::stats::snapshot();
            let tasks = ringline::stats::tasks(Duration::ZERO);
            let source = Source::new(&snapshot).with_tasks(&tasks);
            text::render(&[source], &render_options, out);
            if let Some(app) = &app {
                append_application_metrics(&app.render(), out);
            }
        };
        let mut exporter = Exporter::start(listener, self.limits, Arc::new(render))?;
        exporter.embedded = Running {
            handle,
            recorder_installed: installed,
            _upkeep: upkeep,
        };
        Ok(exporter)
    }
}

impl Exporter {
    /// True when [`Builder::serve`] installed its Prometheus recorder as
    /// the global `metrics` recorder; false when the application had
    /// installed one first (its metrics are then not in this endpoint's
    /// output, unless given with [`Builder::prometheus_handle`]) or when
    /// installing was turned off.
    pub fn recorder_installed(&self) -> bool {
        self.embedded.recorder_installed
    }

    /// The recorder whose metrics follow ringline's, if any.
    pub fn prometheus_handle(&self) -> Option<&PrometheusHandle> {
        self.embedded.handle.as_ref()
    }
}

/// Appends a recorder's rendering without its `ringline_*` families: those
/// come exactly from the snapshot, and an application that also runs
/// ringline's `metrics` publisher into this recorder would otherwise
/// expose every ringline name twice (a scrape Prometheus rejects).
fn append_application_metrics(rendered: &str, out: &mut String) {
    for line in rendered.lines() {
        let name = match line.strip_prefix('#') {
            Some(comment) => {
                let mut words = comment.split_whitespace();
                match words.next() {
                    Some("HELP" | "TYPE") => words.next().unwrap_or(""),
                    _ => "",
                }
            }
            None => line.split(['{', ' ']).next().unwrap_or(""),
        };
        if !name.starts_with("ringline_") {
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// The timer thread calling `run_upkeep`; dropping it stops and joins it.
struct Upkeep {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Upkeep {
    fn start(handle: PrometheusHandle, interval: Duration) -> Result<Upkeep, Error> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ringline-exporter-upkeep".into())
            .spawn(move || {
                // A message or a dropped sender both mean stop.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    handle.run_upkeep();
                }
            })
            .map_err(|source| Error::Spawn {
                what: "upkeep",
                source,
            })?;
        Ok(Upkeep {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_LISTEN;
    use std::net::{SocketAddr, ToSocketAddrs};

    #[test]
    fn application_metrics_lose_only_ringline_families() {
        let rendered = "# HELP app_requests_total Requests.\n\
            # TYPE app_requests_total counter\n\
            app_requests_total{path=\"/\"} 3\n\
            \n\
            # HELP ringline_worker_polls_total published twice\n\
            # TYPE ringline_worker_polls_total counter\n\
            ringline_worker_polls_total{worker=\"0\"} 7\n\
            ringline_worker_polls_total 7\n\
            \n\
            # TYPE app_up gauge\n\
            app_up 1\n";
        let mut out = String::from("ringline_info{runtime=\"1\"} 1\n");
        append_application_metrics(rendered, &mut out);
        assert_eq!(
            out,
            "ringline_info{runtime=\"1\"} 1\n\
             # HELP app_requests_total Requests.\n\
             # TYPE app_requests_total counter\n\
             app_requests_total{path=\"/\"} 3\n\
             \n\
             \n\
             # TYPE app_up gauge\n\
             app_up 1\n"
        );
    }

    #[test]
    fn default_listen_address_is_loopback() {
        let addrs: Vec<SocketAddr> = DEFAULT_LISTEN.to_socket_addrs().unwrap().collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            "{addrs:?}"
        );
        let b = Builder::new();
        assert_eq!(b.addrs.as_ref().unwrap(), &addrs);
        assert_eq!(b.listen, DEFAULT_LISTEN);
        let e = Builder::new()
            .port(0)
            .install_recorder(false)
            .serve()
            .unwrap();
        assert!(e.local_addr().ip().is_loopback(), "{e:?}");
        assert_ne!(e.local_addr().port(), 0);
        assert!(!e.recorder_installed() && e.prometheus_handle().is_none());
    }

    #[test]
    fn bad_options_and_addresses_are_refused_with_the_fix() {
        let err = Builder::new().port(0).max_scrapes(0).serve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid exporter option: max_scrapes must be at least 1"
        );
        let err = Builder::new()
            .port(0)
            .request_timeout(Duration::ZERO)
            .serve()
            .unwrap_err();
        assert!(err.to_string().contains("request_timeout"), "{err}");
        let err = Builder::new().listen("no-port-here").serve().unwrap_err();
        assert!(matches!(err, Error::Resolve { .. }), "{err}");
        assert!(err.to_string().contains("give an ip:port"), "{err}");
        let taken = Builder::new()
            .port(0)
            .install_recorder(false)
            .serve()
            .unwrap();
        let err = Builder::new()
            .listen(taken.local_addr())
            .serve()
            .unwrap_err();
        assert!(matches!(err, Error::Bind { .. }), "{err}");
        assert!(err.to_string().contains("pick a free port"), "{err}");
    }
}
