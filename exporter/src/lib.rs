//! Prometheus metrics for ringline: an embedded `/metrics` endpoint for
//! a process that runs ringline, and what the sidecar (binary
//! `ringline-exporter`, serving every ringline process of the user over
//! their inspect sockets) is built on.
//!
//! ```no_run
//! # #[cfg(feature = "embedded")] {
//! // At the start of `main`; keep the value alive as long as the process
//! // should be scraped.
//! let exporter = ringline_exporter::serve("127.0.0.1:9464")?;
//! println!("metrics at {}", exporter.url());
//! # }
//! # Ok::<(), ringline_exporter::Error>(())
//! ```
//!
//! # What a scrape returns
//!
//! 1. ringline's series, rendered from a fresh [`ringline::stats::snapshot`]
//!    through [`ringline::stats::catalog`] — the one list of names, labels
//!    and `# HELP` texts that the `metrics` publisher, dashboards and alert
//!    rules share. Counters and gauges carry the catalog's labels
//!    (`runtime`, `worker`, `op`, `slab`, `result`, `backend`, `version`);
//!    the latency histogram `ringline_op_latency_seconds` is rendered
//!    exactly from the snapshot's buckets as `_bucket{le}`, `_sum` and
//!    `_count` in seconds (see [`text`] for the `le` boundaries).
//! 2. The application's own `metrics` (counters, gauges, histograms it
//!    records with the `metrics` crate), rendered by
//!    metrics-exporter-prometheus: [`Builder::serve`] installs a
//!    `PrometheusRecorder` as the global recorder if the application has
//!    none, and calls its `run_upkeep` on a timer. An application that
//!    installed its own Prometheus recorder passes its handle with
//!    [`Builder::prometheus_handle`]; one that does not use `metrics` at all
//!    gets ringline's series alone. `ringline_*` families from the recorder
//!    (ringline's own `metrics` publisher) are left out: they are already
//!    in part 1, exactly.
//!
//! # Series count
//!
//! A 2-worker echo server (accept and recv multishot; send, close and
//! timer one-shot; 10 pools per worker and 2 runtime-wide) has 229 catalog
//! series from its snapshot and 26 from its task list (`ringline_tasks`,
//! `ringline_tasks_stuck`: 13 per worker); its 6 latency histograms become
//! 34 Prometheus series each with the default [`Buckets::PowersOfTwo`], so
//! a scrape holds **453** series
//! (1,713 with [`Buckets::All`]). Op kinds a process never submits add no
//! series; with all 22 kinds active a 2-worker process has 465 catalog
//! series. A 2-worker process under echo traffic and every fs op kind on
//! both workers (the end-to-end test) has about 320–340 catalog series,
//! 1,050–1,130 Prometheus series and a ~100 KB body, scraped in about
//! 1 ms (release build, loopback). The sidecar adds its `pid` and
//! `process` labels to the same series of each process it serves.
//!
//! # The HTTP endpoint
//!
//! A small HTTP/1.1 responder on its own threads, on loopback unless told
//! otherwise ([`DEFAULT_LISTEN`]): `GET /metrics` answers 200 with
//! `text/plain; version=0.0.4`, any other path 404, any other method 405,
//! a malformed request 400, an oversized request head 431. At most
//! [`Builder::max_scrapes`] scrapes are served at once (503 beyond). Each
//! connection must send its request within [`Builder::request_timeout`]
//! (2 s; a connection that sends nothing gets 408 there and gives its slot
//! back) and have read the response within [`Builder::scrape_timeout`],
//! or it is dropped.
//!
//! # The sidecar
//!
//! `ringline-exporter --all` (or `--pid PID`) attaches to processes that
//! did not embed an exporter, over their inspect sockets, and serves them
//! on one `/metrics` with `pid` and `process` labels; run it with `--help`.
//! It is its own package, `ringline-exporter-sidecar` (`exporter/sidecar/`),
//! built on this crate without the runtime.
//!
//! # Features
//!
//! - `embedded` (default): [`Builder::serve`] and [`serve`], the endpoint
//!   for a process that runs ringline, with the application's `metrics`.
//!   It is the only part that links the `ringline` runtime (and `metrics`).
//!   Without it the crate renders snapshots it is given ([`text`], read with
//!   `ringline-schema` types) and serves them with [`Builder::serve_with`].

#![deny(missing_docs)]
// The docs describe the embedded endpoint, whose items (and the runtime
// they link to) exist only with its feature, on in the documented build.
#![cfg_attr(not(feature = "embedded"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "embedded")]
mod embedded;
// Without the feature, the same types holding nothing (the sidecar's build).
#[cfg(not(feature = "embedded"))]
#[path = "embedded_off.rs"]
mod embedded;
mod endpoint;
mod error;
mod http;
mod server;
pub mod text;

pub use endpoint::{Builder, DEFAULT_LISTEN, DEFAULT_REQUEST_TIMEOUT, Exporter};
pub use error::Error;
#[cfg(feature = "embedded")]
pub use metrics_exporter_prometheus::PrometheusHandle;
pub use text::{Buckets, RenderOptions, Source};

/// Starts an embedded `/metrics` endpoint on `addr` with the default
/// options (see [`Builder::new`]): this process's ringline series and its
/// application `metrics`.
#[cfg(feature = "embedded")]
pub fn serve(addr: impl std::net::ToSocketAddrs + std::fmt::Debug) -> Result<Exporter, Error> {
    Builder::new().listen(addr).serve()
}
