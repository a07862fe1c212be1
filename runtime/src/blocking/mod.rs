//! Work that must not run on a worker: closures passed to
//! [`spawn_blocking`], and name lookups for [`resolve`].
//!
//! Each has a pool of its own threads (an instance of the runtime's one
//! `thread_pool`), shared by all workers of a runtime, so a closure that
//! never returns cannot hold up lookups, nor either of them the mio
//! backend's file I/O, which has its own instance too. The pools know
//! nothing of the executor: a job hands its outcome back through a slot
//! shared with the awaiting future (`oneshot`) and wakes that future's
//! [`Waker`](std::task::Waker).
//!
//! ```text
//!  worker task                 pool queue (bounded)         pool thread
//!  spawn(f) ─ push job ──────▶ [job][job]…  ──── pop ─────▶ run f (catch_unwind)
//!     │  └─ BlockingJoinHandle ◀─── slot ◀── release capacity, store outcome, wake
//!  .await: outcome, or the closure's panic resumed
//! ```
//!
//! The queue counts queued and running jobs against one capacity, so a
//! flood of `spawn_blocking` calls fails fast with an error the caller can
//! see, instead of growing memory without bound.
//!
//! Each job is counted as an op (`blocking`, `resolve`) of the worker that
//! queued it, wherever its handle ends (`pool_op`). These are not kernel
//! ops: no memory of the driver's is at stake, so shutdown neither cancels
//! them nor leaks for them. At exit the pools' threads get until the drain
//! deadline to finish their jobs; one still running then (a closure that
//! never returns) is left behind, never joined (see `thread_pool`).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the public entry points |
//! | `handle.rs` | the futures they return |
//! | `oneshot.rs` | the slot a job's outcome crosses threads in |
//! | `pool_op.rs` | counting a job as an op of the worker that queued it |
//! | `pool.rs`, `resolver.rs` | the two pools, on `thread_pool` |

mod handle;
mod oneshot;
mod pool;
mod pool_op;
mod resolver;
#[cfg(test)]
mod tests;

use std::io;

pub use self::handle::{BlockingJoinHandle, ResolveFuture};
pub(crate) use self::pool::BlockingPool;
pub(crate) use self::resolver::ResolverPool;

use std::cell::RefCell;
use std::sync::Arc;

/// A runtime's blocking and resolver pools (`None`: disabled).
pub(crate) type Pools = (Option<Arc<BlockingPool>>, Option<Arc<ResolverPool>>);

thread_local! {
    /// The pools of the runtime whose worker runs on this thread.
    static POOLS: RefCell<Option<Pools>> = const { RefCell::new(None) };
}

/// Puts the pools back as they were when dropped (including on unwind).
pub(crate) struct EnterGuard {
    previous: Option<Pools>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        POOLS.with(|p| *p.borrow_mut() = previous);
    }
}

/// Makes `pools` the current worker thread's pools until the guard drops.
pub(crate) fn enter(pools: Pools) -> EnterGuard {
    let previous = POOLS.with(|p| p.borrow_mut().replace(pools));
    EnterGuard { previous }
}

/// The current worker's pools; `None` off a worker thread.
fn pools() -> Option<Pools> {
    POOLS.with(|p| p.borrow().clone())
}

/// Runs `f` on the runtime's blocking thread pool and returns a future
/// resolving to its return value.
///
/// Use it for work that would stall the worker's event loop: blocking
/// system calls, CPU-heavy computation, synchronous libraries. The pool has
/// [`Config::blocking_threads`](crate::Config::blocking_threads) threads
/// shared by all workers.
///
/// If `f` panics, the pool thread survives and awaiting the handle resumes
/// the panic in the awaiting task, as if `f` had run there. Dropping the
/// handle detaches the job: it still runs, and its result is dropped.
///
/// Shutdown waits for a running `f` until
/// [`Config::shutdown_drain_timeout`](crate::Config::shutdown_drain_timeout)
/// after it was requested, no longer: an `f` that has not returned by then
/// keeps its thread, which is left behind (never joined) while the
/// runtime exits.
///
/// # Errors
///
/// - called outside a ringline worker;
/// - the pool is disabled (`Config::blocking_threads` is 0), kind
///   [`Unsupported`](io::ErrorKind::Unsupported);
/// - [`Config::blocking_queue_capacity`](crate::Config::blocking_queue_capacity)
///   closures are already queued or running, kind
///   [`WouldBlock`](io::ErrorKind::WouldBlock): retry later;
/// - the runtime is shutting down.
#[track_caller]
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<BlockingJoinHandle<T>> {
    match pools() {
        None => Err(io::Error::other(
            "spawn_blocking called outside a ringline worker: call it from a task running on the runtime",
        )),
        Some((None, _)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "spawn_blocking: the blocking pool is disabled (Config::blocking_threads = 0); set it above 0",
        )),
        Some((Some(pool), _)) => pool.spawn(f),
    }
}

/// Resolves `host` to its first address, with `port`, on the runtime's
/// resolver threads (`getaddrinfo` blocks, so it never runs on a worker).
///
/// `host` may also be an IP address literal. The future yields an error for
/// an unknown name, and one of kind [`NotFound`](io::ErrorKind::NotFound)
/// when the lookup succeeds with no address. As with [`spawn_blocking`], a
/// lookup still running at the drain deadline of a shutdown is left
/// behind on its thread rather than waited for.
///
/// # Errors
///
/// - called outside a ringline worker;
/// - the pool is disabled (`Config::resolver_threads` is 0), kind
///   [`Unsupported`](io::ErrorKind::Unsupported);
/// - 1024 lookups are already queued or running, kind
///   [`WouldBlock`](io::ErrorKind::WouldBlock): retry later;
/// - the runtime is shutting down.
#[track_caller]
pub fn resolve(host: &str, port: u16) -> io::Result<ResolveFuture> {
    match pools() {
        None => Err(io::Error::other(
            "resolve called outside a ringline worker: call it from a task running on the runtime",
        )),
        Some((_, None)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "resolve: the resolver pool is disabled (Config::resolver_threads = 0); set it above 0",
        )),
        Some((_, Some(pool))) => pool.resolve(host.to_owned(), port),
    }
}
