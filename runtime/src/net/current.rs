//! The connection layer of one worker, as its futures and the worker see
//! it: its own state ([`NetState`]: connections, send pool, UDP sockets,
//! connects in flight) on the worker's [`Reactor`] (executor, driver,
//! stats). The worker composes it and hands its completions to it; the
//! futures and free functions reach the current one through a
//! thread-local that holds exactly this, not the worker.

use std::cell::{Cell, RefCell};
use std::ptr;

use super::conn::NetState;
use super::ctx::ConnCtx;
use crate::reactor::Reactor;

pub(crate) use crate::executor::context::outside_error;

/// See the module docs.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    pub(crate) core: &'a Reactor,
    pub(crate) net: &'a RefCell<NetState>,
    /// Connections accepted during this turn, awaiting their tasks.
    pub(crate) accepted: &'a RefCell<Vec<ConnCtx>>,
}

type Pointers = (
    *const Reactor,
    *const RefCell<NetState>,
    *const RefCell<Vec<ConnCtx>>,
);

thread_local! {
    static CURRENT: Cell<Pointers> =
        const { Cell::new((ptr::null(), ptr::null(), ptr::null())) };
}

/// Restores the thread's previous connection layer when dropped
/// (including on unwind).
pub(crate) struct EnterGuard {
    previous: Pointers,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `net` the current connection layer of this thread until the
/// guard drops.
///
/// The caller keeps what `net` borrows alive, at fixed addresses, for the
/// guard's whole life: the worker's run loop borrows its own fields for
/// the loop's duration and drops the guard before the worker.
pub(crate) fn enter(net: Net<'_>) -> EnterGuard {
    let now: Pointers = (net.core, net.net, net.accepted);
    let previous = CURRENT.with(|c| c.replace(now));
    EnterGuard { previous }
}

/// Runs `f` with the current connection layer, or returns `None` off a
/// worker thread.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Net<'_>) -> R) -> Option<R> {
    let (core, net, accepted) = CURRENT.with(|c| c.get());
    if core.is_null() {
        return None;
    }
    // SAFETY: `enter` set all three pointers together from live references
    // into one worker, and its guard resets them before that worker is
    // dropped or moved; only this thread reads its own thread-local, and
    // we hand out shared references only.
    let net = unsafe {
        Net {
            core: &*core,
            net: &*net,
            accepted: &*accepted,
        }
    };
    Some(f(&net))
}

/// Runs `f` with the current connection layer; panics off a worker
/// thread, naming the function the user called.
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Net<'_>) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => panic!("ringline::{what} called outside a ringline worker thread"),
    }
}
