//! The current worker of this thread, for the free functions (`spawn`,
//! `sleep`, `connect`, …) and the futures that need their worker.
//!
//! The worker sets a thread-local pointer for as long as its event loop
//! runs and clears it (also on unwind) before the worker is dropped.

use std::cell::Cell;
use std::io;
use std::sync::Arc;

use crate::blocking::{BlockingPool, ResolverPool};
use crate::worker::Worker;

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
/// whole life: the worker's run loop holds it on its stack frame (in an
/// `Rc`) and drops the guard before the worker.
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

/// Runs `f` with the current worker; panics off a worker thread, naming
/// the function the user called.
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Worker) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => panic!("ringline::{what} called outside a ringline worker thread"),
    }
}

/// The error the fallible free functions return off a worker thread.
pub(crate) fn outside_error() -> io::Error {
    io::Error::other("called outside a ringline worker thread")
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
