//! Runtime faults: each test forces one fault the kernel or the world can
//! throw at a worker — a completion queue that overflows, a provided-buffer
//! ring that runs dry, a storm of signals, no file descriptors left, a
//! million fs futures dropped at random points, shutdown with ten thousand
//! ops that never complete, shutdown with a blocking closure that never
//! returns — and checks that the runtime keeps working and loses nothing
//! (`assert_nothing_lost`, bytes sent == bytes echoed, no late kernel
//! write into freed memory). Each has a deadline and prints
//! one `RELIABILITY faults case=… ` line of figures for
//! `reliability-report`.
//!
//! One binary with a module per fault; every scenario runs once per
//! backend (`ringline_tests::backend_test!`).

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

// A crate root outside `main.rs` looks for modules beside itself, so each
// fault names its file under `faults/`.

#[path = "faults/guard.rs"]
mod guard;
#[path = "faults/util.rs"]
mod util;

#[path = "faults/cq_overflow.rs"]
mod cq_overflow;
#[path = "faults/dropped_fs_futures.rs"]
mod dropped_fs_futures;
#[path = "faults/enobufs.rs"]
mod enobufs;
#[path = "faults/fd_exhaustion.rs"]
mod fd_exhaustion;
#[path = "faults/shutdown_in_flight.rs"]
mod shutdown_in_flight;
#[path = "faults/signal_storm.rs"]
mod signal_storm;
#[path = "faults/stuck_pools.rs"]
mod stuck_pools;

/// Every buffer of `guard::GUARD_SIZE` bytes this binary frees is kept in
/// quarantine and checked for late writes (see `guard`).
#[global_allocator]
static ALLOCATOR: guard::Quarantine = guard::Quarantine;
