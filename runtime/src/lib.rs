//! ringline: a thread-per-core async I/O runtime, io_uring-native on Linux,
//! that you can watch while it runs. Elsewhere (macOS, the BSDs) it runs on
//! its mio backend (kqueue).
//!
//! Each worker thread owns one event loop (an io_uring instance), one
//! single-threaded executor whose tasks never migrate, a timer queue, a
//! connection table and fixed-capacity pools. A handler implementing
//! [`AsyncEventHandler`] gets one task per accepted connection; any task can
//! spawn more, sleep, connect out, and talk over worker-local channels.
//!
//! Every worker counts what it holds and waits for; [`stats::snapshot`]
//! copies it into a plain [`stats::Snapshot`], and the inspect socket
//! (`ringline::inspect`, feature `inspect`) serves it to other processes. Those read types —
//! the snapshot, the histogram layout, the metric catalogue, the inspect
//! protocol and client — are defined in the `ringline-schema` crate, which
//! tools that only read a process depend on instead of this one, and are
//! re-exported here under [`stats`] and `inspect`.
//!
//! # Layers
//!
//! Each module imports only from the layers below it (a module folder may
//! import itself in a circle; no circle spans two). The table is checked
//! against the code by the `layers` test of the `ringline-tests` crate, so
//! it stays true:
//!
//! ```text
//! layer  modules                        what it is
//!  10    builder                        launching a runtime, its ShutdownHandle
//!   9    worker                         one thread's loop: composes the layers, routes CQEs
//!   8    handler shared                 the service's trait; what a runtime's workers share
//!   7    net fs blocking recorder       connections, files, pools: state machines on a Reactor; flight recorder
//!   6    reactor inspect                one worker's core (executor + driver + stats); inspect socket
//!   5    driver                         io_uring / mio backends, op tables, the lifecycle
//!   4    executor                       tasks, wakers, timers, channels: no I/O
//!   3    slab metrics                   fixed-capacity slabs; the `metrics` publisher
//!   2    config stats signal            settings; counters and the op registry; signals
//!   1    sys error op peer thread_pool  syscalls, errors, op kinds, peer addresses, threads
//! ```
//!
//! The thread-locals follow the layers: the executor's (`executor::context`)
//! holds the executor only, the reactor's the worker's core, and `net`'s
//! and `fs`'s their own state with the reactor; none holds the worker.
//!
//! ```no_run
//! use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};
//!
//! struct Echo;
//!
//! impl AsyncEventHandler for Echo {
//!     fn on_accept(&self, conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
//!         async move {
//!             while conn
//!                 .with_data(|data| {
//!                     let _ = conn.send_nowait(data);
//!                     ParseResult::Consumed(data.len())
//!                 })
//!                 .await
//!                 > 0
//!             {}
//!         }
//!     }
//!     fn create_for_worker(_worker: usize) -> Self {
//!         Echo
//!     }
//! }
//!
//! let (shutdown, workers) = RinglineBuilder::new(Config::default())
//!     .bind("127.0.0.1:7878".parse().unwrap())
//!     .launch::<Echo>()
//!     .expect("launch");
//! shutdown.wait_on_signal();
//! for worker in workers {
//!     worker.join().expect("worker panicked").expect("worker failed");
//! }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(target_pointer_width = "64"), allow(unused))]

#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "ringline packs task references into pointer-sized wakers and needs a 64-bit target"
);

// ── Platform differences: Linux and the other Unixes ────────────────
mod sys;
// The threads of the blocking, resolver and mio disk pools (std only).
mod thread_pool;

// ── Launching ────────────────────────────────────────────────────────
mod builder;
pub mod config;
pub mod error;
pub mod handler;
pub mod signal;

// ── The worker: executor, driver, time ──────────────────────────────
mod blocking;
mod driver;
mod executor;
mod op;
mod peer;
mod reactor;
#[cfg(feature = "recorder")]
mod recorder;
mod shared;
mod slab;
mod worker;

// ── I/O surfaces ────────────────────────────────────────────────────
pub mod fs;
mod net;

// ── Watching it run ─────────────────────────────────────────────────
#[cfg(feature = "inspect")]
pub mod inspect;
pub mod stats;

/// The flight recorder's dump format (`ringline_schema::record`): read a
/// dump with [`record::Recording::read`]. The recorder itself is set up by
/// [`Config::recorder`].
pub use ringline_schema::record;

// ── Publishing to the `metrics` facade (feature `metrics`) ──────────
#[cfg(feature = "metrics")]
pub mod metrics;

pub use builder::{RinglineBuilder, ShutdownHandle};
pub use config::{Backend, Config, ConfigBuilder, RecorderConfig, RecvBufferConfig, WorkerConfig};
pub use error::{Error, TimerExhausted, UdpSendError};
pub use handler::{AsyncEventHandler, ConnToken, DriverCtx, UdpToken};
pub use signal::Signal;

pub use blocking::{BlockingJoinHandle, ResolveFuture, resolve, spawn_blocking};
pub use executor::cancellation::{CancellationToken, CancelledFuture};
pub use executor::channel::{RecvError, SendError, TryRecvError, TrySendError, mpsc, oneshot};
pub use executor::join::{Join, Join3, join, join3};
pub use executor::select::{Either, Either3, Select, Select3, select, select3};
pub use executor::task::{JoinHandle, TaskId, spawn, spawn_named, spawn_with_handle};
pub use executor::time::{
    Deadline, Elapsed, SleepFuture, TimeoutFuture, sleep, sleep_until, timeout, timeout_at,
    try_sleep, try_sleep_until, try_timeout, try_timeout_at,
};
pub use fs::DiskIoFuture;
pub use net::{
    ConnCtx, ConnectFuture, ParseResult, PeerAddr, RecvReadyFuture, SendFuture, UdpCtx,
    UdpRecvFuture, WithBytesFuture, WithDataFuture, connect, connect_unix, connect_with_timeout,
};
pub use reactor::request_shutdown;

/// The backend this process runs on: the one the most recently launched
/// runtime chose. Before any launch: io_uring on Linux, mio elsewhere.
pub fn backend() -> Backend {
    driver::current_backend()
}
