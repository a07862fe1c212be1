//! The endpoint: [`Builder`] (where to listen, limits) and [`Exporter`]
//! (the running endpoint), serving whatever a render function appends.
//! What the embedded endpoint adds (this process's snapshot, the
//! application's own `metrics`) is in `embedded.rs`, behind the feature of
//! that name.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::embedded;
use crate::server::{Limits, RenderFn, Server};

/// How long [`Builder::new`] gives a connection to send its request:
/// scrapers send it as soon as they connect, so this only ever ends
/// connections that send nothing, which would otherwise hold a scrape
/// slot until [`Builder::scrape_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where [`Builder::new`] listens: loopback only, on the port
/// OpenTelemetry's Prometheus exporters use. Exposing metrics beyond the
/// host is a decision to make explicitly, with [`Builder::listen`].
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// Options of an [`Exporter`]; [`Builder::serve`] (the embedded endpoint,
/// feature `embedded`) or [`Builder::serve_with`] starts it.
///
/// ```no_run
/// # #[cfg(feature = "embedded")] {
/// use std::time::Duration;
/// let exporter = ringline_exporter::Builder::new()
///     .listen("127.0.0.1:9464")
///     .scrape_timeout(Duration::from_secs(5))
///     .max_scrapes(2)
///     .serve()?;
/// println!("metrics at {}", exporter.url());
/// # }
/// # Ok::<(), ringline_exporter::Error>(())
/// ```
#[derive(Debug)]
pub struct Builder {
    pub(crate) listen: String,
    pub(crate) addrs: io::Result<Vec<SocketAddr>>,
    pub(crate) limits: Limits,
    /// The embedded endpoint's options (empty without its feature).
    pub(crate) embedded: embedded::Options,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: [`DEFAULT_LISTEN`], 10 s scrape timeout (Prometheus's
    /// default), [`DEFAULT_REQUEST_TIMEOUT`] for the request, 4 concurrent
    /// scrapes; with the `embedded` feature also upkeep every 5 s, ops
    /// stuck after 1 s, power-of-two histogram buckets, and a Prometheus
    /// recorder installed for the application's `metrics` if none is
    /// installed.
    pub fn new() -> Builder {
        Builder {
            listen: String::new(),
            addrs: Ok(Vec::new()),
            limits: Limits {
                scrape_timeout: Duration::from_secs(10),
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                max_scrapes: 4,
            },
            embedded: embedded::Options::default(),
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

    /// Checks the limits and binds the listener.
    pub(crate) fn bind(&self) -> Result<TcpListener, Error> {
        if self.limits.max_scrapes == 0 {
            return Err(Error::Option("max_scrapes must be at least 1".into()));
        }
        if self.limits.scrape_timeout.is_zero() || self.limits.request_timeout.is_zero() {
            return Err(Error::Option(
                "scrape_timeout and request_timeout must be longer than zero".into(),
            ));
        }
        self.embedded.check()?;
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

/// A running `/metrics` endpoint. Dropping it (or [`shutdown`]) stops
/// accepting scrapes; keep it alive as long as the process should be
/// scraped.
///
/// [`shutdown`]: Exporter::shutdown
#[must_use = "dropping the Exporter stops its endpoint"]
pub struct Exporter {
    server: Server,
    render: Arc<RenderFn>,
    /// The embedded endpoint's recorder and upkeep timer (empty without
    /// its feature, or when serving with [`Builder::serve_with`]).
    pub(crate) embedded: embedded::Running,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Exporter");
        d.field("local_addr", &self.local_addr());
        self.embedded.describe(&mut d);
        d.finish_non_exhaustive()
    }
}

impl Exporter {
    pub(crate) fn start(
        listener: TcpListener,
        limits: Limits,
        render: Arc<RenderFn>,
    ) -> Result<Exporter, Error> {
        let server = Server::start(listener, limits, render.clone())?;
        Ok(Exporter {
            server,
            render,
            embedded: embedded::Running::default(),
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
