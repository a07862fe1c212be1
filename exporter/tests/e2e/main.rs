//! End-to-end tests of the exporter: one test binary, a module per area
//! (real scrapes of a real runtime, the application's `metrics`, the
//! sidecar binary, a real Prometheus), helpers in `util`.

mod dashboards_live;
mod prometheus;
mod recorder;
mod scrape;
mod sidecar;
mod util;
