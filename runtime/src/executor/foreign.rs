//! Worker-local handles used on the wrong thread.
//!
//! `ConnCtx`, `ConnToken`, `UdpCtx`, `fs::File` and the futures of
//! connect, fs and timers are `Send` (as in ringline 0.1.2), so nothing
//! stops a program from moving one to another worker. They carry their
//! worker's identity instead, and nothing acts on another worker's slots:
//!
//! - plain handles (`ConnCtx`, `UdpCtx`, `File`) refuse with
//!   `ErrorKind::InvalidInput` (or report a closed connection where the
//!   method has no error to return);
//! - a future holding a kernel op is released by its own worker: the
//!   thread that dropped or polled it sends a [`Foreign`] request through
//!   the owner's [`WorkerHandle`](super::waker::WorkerHandle), which
//!   cancels the op and frees it once the kernel is done. A future over
//!   memory the caller lent (`fs::read`, `fs::write`) resolves only then,
//!   through a [`ForeignWait`];
//! - a timer moves: the owner drops its entry, the polling worker makes a
//!   new one for the same deadline;
//! - a pool job (`spawn_blocking`, `resolve`) whose handle ends elsewhere
//!   is counted by the worker that queued it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use super::timer::TimerKey;
use crate::op::{OpOwner, PoolJobEnd};
use crate::slab::Key;

/// What another thread asks a worker to release.
pub(crate) enum Foreign {
    /// A future of this worker's op (connect, fs) was dropped or polled
    /// elsewhere: cancel the op, free it once the kernel is done, then
    /// finish `notify`.
    AbandonOp {
        owner: OpOwner,
        op: Key,
        notify: Option<Arc<ForeignWait>>,
    },
    /// A sleep of this worker moved to another thread: drop its entry.
    RemoveTimer(TimerKey),
    /// A pool job this worker queued ended on another thread: count it
    /// (the worker's counters are its own to write).
    PoolJobEnded(PoolJobEnd),
}

/// Tells a future polled off its worker that its op is over and the kernel
/// no longer touches its memory.
#[derive(Default)]
pub(crate) struct ForeignWait {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ForeignWait {
    /// Marks the op over and wakes whoever polled last.
    pub(crate) fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once finished; otherwise `waker` is woken when it is.
    pub(crate) fn poll_done(&self, waker: &Waker) -> bool {
        if self.done.load(Ordering::SeqCst) {
            return true;
        }
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
        // Finished between the check and the store: its wake may have
        // found no waker.
        self.done.load(Ordering::SeqCst)
    }
}

/// The error of a worker-local handle used on another thread (built off
/// the hot path: the checks that call it stay small enough to inline).
#[cold]
#[inline(never)]
pub(crate) fn wrong_worker(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} belongs to another ringline worker: use it on the worker that created it"),
    )
}
