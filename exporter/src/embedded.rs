//! The embedded endpoint: [`Builder`] (options) and [`Exporter`] (the
//! running endpoint), rendering this process's snapshot and the
//! application's own `metrics`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::Error;
use crate::server::{Limits, RenderFn, Server};
use crate::text::{self, Buckets, RenderOptions, Source};

/// How long [`Builder::new`] gives a connection to send its request:
/// scrapers send it as soon as they connect, so this only ever ends
/// connections that send nothing, which would otherwise hold a scrape
/// slot until [`Builder::scrape_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where [`Builder::new`] listens: loopback only, on the port
/// OpenTelemetry's Prometheus exporters use. Exposing metrics beyond the
/// host is a decision to make explicitly, with [`Builder::listen`].
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Options of an [`Exporter`]; [`Builder::serve`] starts it.
///
/// ```no_run
/// use std::time::Duration;
/// let exporter = ringline_exporter::Builder::new()
///     .listen("127.0.0.1:9464")
///     .scrape_timeout(Duration::from_secs(5))
///     .max_scrapes(2)
///     .serve()?;
/// println!("metrics at {}", exporter.url());
/// # Ok::<(), ringline_exporter::Error>(())
/// ```
#[derive(Debug)]
pub struct Builder {
    listen: String,
    addrs: io::Result<Vec<SocketAddr>>,
    limits: Limits,
    upkeep_interval: Duration,
    render: RenderOptions,
    install_recorder: bool,
    handle: Option<PrometheusHandle>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: [`DEFAULT_LISTEN`], 10 s scrape timeout (Prometheus's
    /// default), [`DEFAULT_REQUEST_TIMEOUT`] for the request, 4 concurrent
    /// scrapes, upkeep every 5 s, ops stuck after 1 s, power-of-two
    /// histogram buckets, and a Prometheus recorder installed for the
    /// application's `metrics` if none is installed.
    pub fn new() -> Builder {
        Builder {
            listen: String::new(),
            addrs: Ok(Vec::new()),
            limits: Limits {
                scrape_timeout: Duration::from_secs(10),
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                max_scrapes: 4,
            },
            upkeep_interval: Duration::from_secs(5),
            render: RenderOptions::default(),
            install_recorder: true,
            handle: None,
        }
        .listen(DEFAULT_LISTEN)
    }

    /// Listens on `addr` (e.g. `"127.0.0.1:9464"`, `"[::1]:9464"`,
    /// `"0.0.0.0:9464"` to accept scrapes from other hosts; port 0 picks a
    /// free port, see [`Exporter::local_addr`]).
    pub fn listen(mut self, addr: impl ToSocketAddrs + fmt::Debug) -> Builder {
        self.listen = format!("{addr:?}").trim_matches('"').to_owned();
        self.addrs = addr.to_socket_addrs().map(Iterator::collect);
        self
    }

    /// Listens on `port` of 127.0.0.1 (loopback only).
    pub fn port(self, port: u16) -> Builder {
        self.listen(format!("127.0.0.1:{port}"))
    }

    /// How long one scrape may take from connect to the last byte of the
    /// response: a client that reads the response more slowly is dropped
    /// there. A timeout past what the clock can represent (such as
    /// `Duration::MAX`) means no deadline.
    pub fn scrape_timeout(mut self, timeout: Duration) -> Builder {
        self.limits.scrape_timeout = timeout;
        self
    }

    /// How long a connection may take from connect to the end of its
    /// request head (default [`DEFAULT_REQUEST_TIMEOUT`]; the scrape
    /// timeout when that is shorter): one that has not sent it by then is
    /// answered 408 and closed, giving back its scrape slot, so idle
    /// connections cannot keep every scraper out for a whole scrape
    /// timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Builder {
        self.limits.request_timeout = timeout;
        self
    }

    /// Scrapes served at once; more concurrent ones get 503.
    pub fn max_scrapes(mut self, n: usize) -> Builder {
        self.limits.max_scrapes = n;
        self
    }

    /// How often the recorder's upkeep runs (it drains histogram samples
    /// of the application's `metrics` into their distributions; without
    /// it they pile up in memory between scrapes).
    pub fn upkeep_interval(mut self, interval: Duration) -> Builder {
        self.upkeep_interval = interval;
        self
    }

    /// In-flight ops at least this old count in `ringline_ops_stuck`
    /// (default [`DEFAULT_STUCK_AFTER`](ringline::stats::catalog::DEFAULT_STUCK_AFTER),
    /// which dashboards and alerts assume).
    pub fn stuck_after(mut self, after: Duration) -> Builder {
        self.render.stuck_after = after;
        self
    }

    /// Which latency-histogram boundaries become `le` buckets (default
    /// [`Buckets::PowersOfTwo`]).
    pub fn buckets(mut self, buckets: Buckets) -> Builder {
        self.render.buckets = buckets;
        self
    }

    /// Whether to install a Prometheus recorder as the global `metrics`
    /// recorder (default true; it is installed only if the application has
    /// not installed one, see [`Exporter::recorder_installed`]).
    pub fn install_recorder(mut self, install: bool) -> Builder {
        self.install_recorder = install;
        self
    }

    /// Renders this recorder's metrics after ringline's, instead of
    /// installing one: for an application that built and installed its
    /// own `PrometheusRecorder` (with its buckets, layers, global labels).
    pub fn prometheus_handle(mut self, handle: PrometheusHandle) -> Builder {
        self.handle = Some(handle);
        self
    }

    /// Starts the endpoint: this process's ringline series (a fresh
    /// [`ringline::stats::snapshot`] per scrape), then the application's
    /// own `metrics`.
    pub fn serve(self) -> Result<Exporter, Error> {
        let listener = self.bind()?;
        let (handle, installed) = match (self.handle, self.install_recorder) {
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
            Some(h) => Some(Upkeep::start(h.clone(), self.upkeep_interval)?),
            None => None,
        };
        let options = self.render;
        let app = handle.clone();
        let render = move |out: &mut String| {
            let snapshot = ringline::stats::snapshot();
            text::render(&[Source::new(&snapshot)], &options, out);
            if let Some(app) = &app {
                append_application_metrics(&app.render(), out);
            }
        };
        let mut exporter = Exporter::start(listener, self.limits, Arc::new(render))?;
        (
            exporter.handle,
            exporter.recorder_installed,
            exporter.upkeep,
        ) = (handle, installed, upkeep);
        Ok(exporter)
    }

    /// Starts the endpoint serving whatever `render` appends to the string
    /// it is given (the sidecar's many processes, or a custom mix); the
    /// recorder options are not used.
    pub fn serve_with<F>(self, render: F) -> Result<Exporter, Error>
    where
        F: Fn(&mut String) + Send + Sync + 'static,
    {
        let listener = self.bind()?;
        Exporter::start(listener, self.limits, Arc::new(render))
    }

    fn bind(&self) -> Result<TcpListener, Error> {
        if self.limits.max_scrapes == 0 {
            return Err(Error::Option("max_scrapes must be at least 1".into()));
        }
        if self.limits.scrape_timeout.is_zero()
            || self.limits.request_timeout.is_zero()
            || self.upkeep_interval.is_zero()
        {
            return Err(Error::Option(
                "scrape_timeout, request_timeout and upkeep_interval must be longer than zero"
                    .into(),
            ));
        }
        let addrs = match &self.addrs {
            Ok(addrs) if !addrs.is_empty() => addrs,
            Ok(_) => {
                return Err(Error::Resolve {
                    addr: self.listen.clone(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no address found"),
                });
            }
            Err(e) => {
                return Err(Error::Resolve {
                    addr: self.listen.clone(),
                    source: io::Error::new(e.kind(), e.to_string()),
                });
            }
        };
        TcpListener::bind(&addrs[..]).map_err(|source| Error::Bind {
            addr: self.listen.clone(),
            source,
        })
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

/// A running `/metrics` endpoint. Dropping it (or [`shutdown`]) stops
/// accepting scrapes; keep it alive as long as the process should be
/// scraped.
///
/// [`shutdown`]: Exporter::shutdown
#[must_use = "dropping the Exporter stops its endpoint"]
pub struct Exporter {
    server: Server,
    render: Arc<RenderFn>,
    handle: Option<PrometheusHandle>,
    recorder_installed: bool,
    upkeep: Option<Upkeep>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("local_addr", &self.local_addr())
            .field("recorder_installed", &self.recorder_installed)
            .field("renders_recorder", &self.handle.is_some())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    fn start(
        listener: TcpListener,
        limits: Limits,
        render: Arc<RenderFn>,
    ) -> Result<Exporter, Error> {
        let server = Server::start(listener, limits, render.clone())?;
        Ok(Exporter {
            server,
            render,
            handle: None,
            recorder_installed: false,
            upkeep: None,
        })
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://<local_addr>/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.local_addr())
    }

    /// True when [`Builder::serve`] installed its Prometheus recorder as
    /// the global `metrics` recorder; false when the application had
    /// installed one first (its metrics are then not in this endpoint's
    /// output, unless given with [`Builder::prometheus_handle`]) or when
    /// installing was turned off.
    pub fn recorder_installed(&self) -> bool {
        self.recorder_installed
    }

    /// The recorder whose metrics follow ringline's, if any.
    pub fn prometheus_handle(&self) -> Option<&PrometheusHandle> {
        self.handle.as_ref()
    }

    /// The body a scrape would get now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        (self.render)(&mut out);
        out
    }

    /// Stops accepting scrapes and the upkeep timer (scrapes in progress
    /// finish by their deadline). The same as dropping it.
    pub fn shutdown(self) {}
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(upkeep) = self.upkeep.take() {
            upkeep.stop();
        }
    }
}

/// The timer thread calling `run_upkeep`.
struct Upkeep {
    stop: Sender<()>,
    thread: JoinHandle<()>,
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
        Ok(Upkeep { stop, thread })
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
