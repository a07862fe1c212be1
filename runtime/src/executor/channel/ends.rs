//! Who is on each side of a channel, for the task registry: a channel id,
//! and the task that last used its sending side and its receiving side
//! (created, cloned, sent or received). A task parked on a channel names
//! the other side's task, which is how wait verdicts find the task it
//! waits for and cycles of tasks waiting on each other.
//!
//! "Last used" is what ringline can see: a sender moved into another task
//! and never used there still names the task that last used it.

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::executor::context;
use crate::stats::task_registry::Wait;

/// See the module docs.
#[derive(Debug)]
pub(super) struct Ends {
    id: u64,
    /// Task number + 1 of the last user of each side; 0: none on a worker.
    sender: Cell<u64>,
    receiver: Cell<u64>,
}

/// The number + 1 of the task being polled, 0 when none.
fn current() -> u64 {
    context::try_with(|e| e.current_task().map_or(0, |t| t.stats_id() + 1)).unwrap_or(0)
}

impl Ends {
    /// A new channel's ends, both used by the calling task.
    pub(super) fn new() -> Ends {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let task = current();
        Ends {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            sender: Cell::new(task),
            receiver: Cell::new(task),
        }
    }

    /// The calling task used the sending side.
    #[inline]
    pub(super) fn sent(&self) {
        let task = current();
        if task != 0 {
            self.sender.set(task);
        }
    }

    /// The calling task used the receiving side.
    #[inline]
    pub(super) fn received(&self) {
        let task = current();
        if task != 0 {
            self.receiver.set(task);
        }
    }

    /// The calling task waits for a message, in the call at `site`.
    pub(super) fn wait_recv(&self, site: &'static Location<'static>) {
        self.received();
        let wait = Wait::ChannelRecv {
            channel: self.id,
            holder: self.sender.get(),
        };
        context::parked(wait, site);
    }

    /// The calling task waits for room, in the call at `site`.
    pub(super) fn wait_send(&self, site: &'static Location<'static>) {
        self.sent();
        let wait = Wait::ChannelSend {
            channel: self.id,
            holder: self.receiver.get(),
        };
        context::parked(wait, site);
    }
}
