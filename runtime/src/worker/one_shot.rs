//! The worker's side of one-shot ops (connects, file ops): routing their
//! completions to the table that owns them, and cleaning up after ops
//! whose futures were dropped, once the kernel is done with them.
//!
//! `net` keeps its connects and `fs` its file ops, each in a table typed
//! by what the op lends the kernel; [`Orphan`] names which one a finished
//! op came from, so each is reaped by its own layer.

use std::sync::Arc;

use super::Worker;
use crate::driver::ops::{Completed, OpOwner, OpSlot, Orphaned};
use crate::executor::foreign::ForeignWait;
use crate::fs::FsHold;
use crate::net::ConnectHold;
use crate::op::UserData;
use crate::slab::Key;
use crate::stats::GraveyardTotals;
use crate::stats::clock;
use crate::stats::kinds::SlabUsage;

/// A one-shot op whose future is gone and whose last CQE is in, by the
/// table it came from.
enum Orphan {
    Connect(OpSlot<Box<ConnectHold>>),
    Fs(OpSlot<Box<FsHold>>),
}

impl Worker {
    /// The primary CQE of a connect or a file op.
    pub(super) fn on_one_shot_cqe(&self, owner: OpOwner, ud: UserData, result: i32) {
        let done = match owner {
            OpOwner::Net => {
                let done = self.net.borrow_mut().connects.complete(ud, result);
                done.map(Orphan::Connect)
            }
            OpOwner::Fs => {
                let done = self.fs.borrow_mut().ops.complete(ud, result);
                done.map(Orphan::Fs)
            }
        };
        if let Completed::Orphan(orphan, result) = done {
            self.reap_orphan(orphan, result);
        }
    }

    /// The CQE of a connect's linked timeout.
    pub(super) fn on_link_timeout_cqe(&self, ud: UserData, result: i32) {
        let done = self
            .net
            .borrow_mut()
            .connects
            .complete_link_timeout(ud, result);
        if let Completed::Orphan(slot, result) = done {
            self.reap_orphan(Orphan::Connect(slot), result);
        }
    }

    /// Cleans up after an op whose future was dropped, once the kernel is
    /// done with it: whatever the op produced (a connected socket, an open
    /// file) is closed, then its held memory is freed.
    fn reap_orphan(&self, orphan: Orphan, result: i32) {
        self.stats.graveyard(&self.graveyard_totals());
        let notify = match orphan {
            Orphan::Connect(mut slot) => {
                let notify = slot.notify.take();
                self.reap_connect_orphan(slot, result);
                notify
            }
            Orphan::Fs(mut slot) => {
                let notify = slot.notify.take();
                crate::fs::reap_orphan(self, slot, result);
                notify
            }
        };
        if let Some(n) = notify {
            n.finish();
        }
    }

    /// The future waiting on op `op` of `owner`'s table was dropped: a
    /// finished op is cleaned up now; a running one is parked in the
    /// graveyard (its buffers kept until its CQE) and a cancel is
    /// submitted.
    pub(crate) fn orphan_op(&self, owner: OpOwner, op: Key) {
        self.orphan_op_notify(owner, op, None);
    }

    /// [`orphan_op`](Self::orphan_op), finishing `notify` once the kernel
    /// is done with the op (at once if it already is).
    pub(super) fn orphan_op_notify(
        &self,
        owner: OpOwner,
        op: Key,
        notify: Option<Arc<ForeignWait>>,
    ) {
        let now_ns = clock::ns_at(self.now());
        let orphaned = match owner {
            OpOwner::Net => {
                let orphaned = self.net.borrow_mut().connects.orphan(op, now_ns);
                orphaned.map(Orphan::Connect)
            }
            OpOwner::Fs => {
                let orphaned = self.fs.borrow_mut().ops.orphan(op, now_ns);
                orphaned.map(Orphan::Fs)
            }
        };
        match orphaned {
            Orphaned::Gone => {}
            Orphaned::Finished(orphan, result) => self.reap_orphan(orphan, result),
            Orphaned::Parked(ud) => {
                if let Some(kind) = ud.kind() {
                    self.stats.op_orphaned(kind, ud);
                }
                self.stats.graveyard(&self.graveyard_totals());
                self.driver.borrow_mut().cancel(ud);
                let waiting_here = match owner {
                    OpOwner::Net => self.net.borrow_mut().connects.get_mut(op).map(|slot| {
                        slot.notify = notify;
                    }),
                    OpOwner::Fs => self.fs.borrow_mut().ops.get_mut(op).map(|slot| {
                        slot.notify = notify;
                    }),
                };
                debug_assert!(waiting_here.is_some(), "a parked op keeps its slot");
                return;
            }
        }
        if let Some(n) = notify {
            n.finish();
        }
    }

    /// The graveyard of both tables, for the stats.
    pub(super) fn graveyard_totals(&self) -> GraveyardTotals {
        let net = self.net.borrow_mut().connects.graveyard_totals();
        let fs = self.fs.borrow_mut().ops.graveyard_totals();
        let oldest = match (net.oldest_parked_at_ns, fs.oldest_parked_at_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        GraveyardTotals {
            depth: net.depth + fs.depth,
            bytes: net.bytes + fs.bytes,
            parked_total: net.parked_total + fs.parked_total,
            reaped_total: net.reaped_total + fs.reaped_total,
            oldest_parked_at_ns: oldest,
            abandoned: 0,
        }
    }

    /// Occupancy of both one-shot op tables, as one pool of op slots.
    pub(super) fn op_slot_usage(&self) -> SlabUsage {
        let net = self.net.borrow().connects.usage();
        let fs = self.fs.borrow().ops.usage();
        SlabUsage {
            used: net.used + fs.used,
            capacity: net.capacity + fs.capacity,
            high_water: net.high_water + fs.high_water,
            exhausted_total: net.exhausted_total + fs.exhausted_total,
        }
    }
}
