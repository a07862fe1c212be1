//! End-to-end tests of `ringline::stats`: real traffic, real files and real
//! stuck operations, checked against exact counts in the snapshots.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

#[path = "stats/connections.rs"]
mod connections;
#[path = "stats/counts.rs"]
mod counts;
#[path = "stats/graveyard.rs"]
mod graveyard;
#[path = "stats/stuck.rs"]
mod stuck;
#[path = "stats/util.rs"]
mod util;
