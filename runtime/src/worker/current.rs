//! The current worker of this thread, for the layers above the executor
//! (connections, files, pools) and their futures.
//!
//! The worker sets a thread-local pointer for as long as its event loop
//! runs and clears it (also on unwind) before the worker is dropped. The
//! executor below keeps its own, narrower one (`executor::context`).

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use super::Worker;
use crate::blocking::{BlockingPool, ResolverPool};
pub(crate) use crate::executor::context::outside_error;

thread_local! {
    static CURRENT: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// Clears the thread's worker pointer when dropped (including on unwind).
pub(crate) struct EnterGuard {
    previous: *const Worker,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `worker` the current worker of this thread until the guard drops.
///
/// The caller keeps `worker` alive, at a fixed address, for the guard's
/// whole life: the worker's run loop borrows it for the loop's duration
/// and drops the guard before the worker.
pub(crate) fn enter(worker: &Worker) -> EnterGuard {
    let previous = CURRENT.with(|c| c.replace(worker as *const Worker));
    EnterGuard { previous }
}

/// Runs `f` with the current worker, or returns `None` off a worker thread.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `enter` set this pointer from a live `&Worker`, and its guard
    // resets it before that worker is dropped or moved; only this thread
    // reads its own thread-local, and we hand out a shared reference only.
    let worker = unsafe { &*ptr };
    Some(f(worker))
}

/// A runtime's blocking and resolver pools (`None`: disabled).
pub(crate) type Pools = (Option<Arc<BlockingPool>>, Option<Arc<ResolverPool>>);

/// The blocking and resolver pools of the current runtime; `None` off a
/// worker thread, and a `None` pool when that pool is disabled.
pub(crate) fn pools() -> Option<Pools> {
    try_with(|worker| {
        (
            worker.runtime.blocking.clone(),
            worker.runtime.resolver.clone(),
        )
    })
}

/// Asks every worker of the current runtime to shut down gracefully.
///
/// Workers stop accepting, drop their tasks, close their connections, wait
/// (bounded by `Config::shutdown_drain_timeout`) for in-flight kernel
/// operations, and return `Ok(())` from their threads.
///
/// # Errors
///
/// Returns an error when called outside a ringline worker.
pub fn request_shutdown() -> io::Result<()> {
    try_with(|worker| worker.runtime.request_shutdown()).ok_or_else(outside_error)
}
