//! The file layer of one worker, as its futures and the worker see it:
//! its own state ([`FsState`]: open files, commands and file ops in
//! flight) on the worker's [`Reactor`]. The futures and free functions
//! reach the current one through a thread-local that holds exactly this,
//! not the worker.

use std::cell::{Cell, RefCell};
use std::ptr;

use super::table::FsState;
use crate::reactor::Reactor;

pub(crate) use crate::executor::context::outside_error;

/// See the module docs.
#[derive(Clone, Copy)]
pub(crate) struct Fs<'a> {
    pub(crate) core: &'a Reactor,
    pub(crate) fs: &'a RefCell<FsState>,
}

type Pointers = (*const Reactor, *const RefCell<FsState>);

thread_local! {
    static CURRENT: Cell<Pointers> = const { Cell::new((ptr::null(), ptr::null())) };
}

/// Restores the thread's previous file layer when dropped (including on
/// unwind).
pub(crate) struct EnterGuard {
    previous: Pointers,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `fs` the current file layer of this thread until the guard drops.
///
/// The caller keeps what `fs` borrows alive, at fixed addresses, for the
/// guard's whole life: the worker's run loop borrows its own fields for
/// the loop's duration and drops the guard before the worker.
pub(crate) fn enter(fs: Fs<'_>) -> EnterGuard {
    let now: Pointers = (fs.core, fs.fs);
    let previous = CURRENT.with(|c| c.replace(now));
    EnterGuard { previous }
}

/// Runs `f` with the current file layer, or returns `None` off a worker
/// thread.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Fs<'_>) -> R) -> Option<R> {
    let (core, fs) = CURRENT.with(|c| c.get());
    if core.is_null() {
        return None;
    }
    // SAFETY: `enter` set both pointers together from live references into
    // one worker, and its guard resets them before that worker is dropped
    // or moved; only this thread reads its own thread-local, and we hand
    // out shared references only.
    let fs = unsafe {
        Fs {
            core: &*core,
            fs: &*fs,
        }
    };
    Some(f(&fs))
}

/// Runs `f` with the current file layer; panics off a worker thread,
/// naming the function the user called.
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Fs<'_>) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => panic!("ringline::{what} called outside a ringline worker thread"),
    }
}
