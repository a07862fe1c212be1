//! The current executor of this thread, for the free functions (`spawn`,
//! `sleep`, …), wakers and the futures that need their executor.
//!
//! The worker sets a thread-local pointer for as long as its event loop
//! runs and clears it (also on unwind) before the executor is dropped.
//! It points at the executor alone: the layers above (connections, files,
//! pools) keep their own current-worker handle (`worker::current`).

use std::cell::Cell;
use std::io;
use std::panic::Location;

use super::local::Executor;
use crate::stats::task_registry::Wait;

thread_local! {
    static CURRENT: Cell<*const Executor> = const { Cell::new(std::ptr::null()) };
}

/// Clears the thread's executor pointer when dropped (including on unwind).
pub(crate) struct EnterGuard {
    previous: *const Executor,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `executor` the current executor of this thread until the guard
/// drops.
///
/// The caller keeps `executor` alive, at a fixed address, for the guard's
/// whole life: the worker's run loop borrows it for the loop's duration
/// and drops the guard before the worker.
pub(crate) fn enter(executor: &Executor) -> EnterGuard {
    let previous = CURRENT.with(|c| c.replace(executor as *const Executor));
    EnterGuard { previous }
}

/// Runs `f` with the current executor, or returns `None` off a worker
/// thread.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Executor) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `enter` set this pointer from a live `&Executor`, and its
    // guard resets it before that executor is dropped or moved; only this
    // thread reads its own thread-local, and we hand out a shared
    // reference only.
    let executor = unsafe { &*ptr };
    Some(f(executor))
}

/// Runs `f` with the current executor; panics off a worker thread, naming
/// the function the user called.
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Executor) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => panic!("ringline::{what} called outside a ringline worker thread"),
    }
}

/// Reports that a future of the task being polled returns `Pending`,
/// waiting on `wait`, made by the user's call at `site` (what the task
/// registry shows as the task's await site); nothing off a worker.
#[inline]
pub(crate) fn parked(wait: Wait, site: &'static Location<'static>) {
    try_with(|e| e.parked(wait, site));
}

/// The error the fallible free functions return off a worker thread.
pub(crate) fn outside_error() -> io::Error {
    io::Error::other("called outside a ringline worker thread")
}
