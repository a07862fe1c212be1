//! Where a pool job's outcome meets the handle awaiting it: a one-value
//! slot shared by the pool thread ([`Completer`]) and the handle
//! ([`Slot::poll_outcome`]), safe to use from any two threads.
//!
//! Not `executor::channel::oneshot`: that one is `!Send` and lock-free for
//! tasks on one worker; this one crosses threads, so it takes a lock (held
//! only to move a value or a waker, never while user code runs).

use std::any::Any;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// How a job ended.
pub(super) enum Outcome<T> {
    Returned(T),
    Panicked(Box<dyn Any + Send>),
    /// The job was dropped unrun: the pool shut down first.
    Abandoned,
}

/// A new slot: the pool's end and the handle's.
pub(super) fn slot<T>() -> (Completer<T>, Arc<Slot<T>>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState::Pending(None)),
    });
    let completer = Completer {
        slot: Some(Arc::clone(&slot)),
    };
    (completer, slot)
}

/// The handle's end of a job's outcome.
pub(super) struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

enum SlotState<T> {
    /// Not finished; the waker of the handle's latest poll.
    Pending(Option<Waker>),
    /// Finished; the handle has not taken the outcome yet.
    Ready(Outcome<T>),
    /// The handle took the outcome or was dropped.
    Closed,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // No user code runs under this lock (outcomes and wakers are moved
        // out before they are dropped or woken), so poisoning cannot leave
        // the state half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pool side: publishes the outcome and wakes the handle, or drops the
    /// outcome here if the handle is gone.
    fn finish(&self, outcome: Outcome<T>) {
        let mut state = self.lock();
        match mem::replace(&mut *state, SlotState::Closed) {
            SlotState::Pending(waker) => {
                *state = SlotState::Ready(outcome);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // The handle was dropped: the outcome (the value, or a panic
            // payload) is dropped here, outside the lock.
            SlotState::Closed => {
                drop(state);
                drop(outcome);
            }
            SlotState::Ready(_) => unreachable!("a job finishes once"),
        }
    }

    /// Handle side: takes the outcome, or registers the waker.
    pub(super) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let mut state = self.lock();
        match &mut *state {
            SlotState::Pending(waker) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Ready(_) => match mem::replace(&mut *state, SlotState::Closed) {
                SlotState::Ready(outcome) => Poll::Ready(outcome),
                _ => unreachable!("matched Ready just above"),
            },
            SlotState::Closed => panic!("blocking job handle polled after it completed"),
        }
    }

    /// Handle side, on drop: whatever the slot holds is dropped outside the
    /// lock (an unclaimed value runs its destructor on this thread).
    pub(super) fn detach(&self) {
        let previous = mem::replace(&mut *self.lock(), SlotState::Closed);
        drop(previous);
    }
}

/// The pool side of a slot. Dropped without [`complete`](Self::complete)
/// (the job was discarded unrun at shutdown), it tells the handle so,
/// instead of leaving it pending forever.
pub(super) struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Completer<T> {
    /// Publishes `outcome` to the handle and wakes it.
    pub(super) fn complete(mut self, outcome: Outcome<T>) {
        if let Some(slot) = self.slot.take() {
            slot.finish(outcome);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.finish(Outcome::Abandoned);
        }
    }
}
