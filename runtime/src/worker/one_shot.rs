//! The worker's view of one-shot ops (connects, file ops): each lives in
//! the table of the layer that started it (`net`, `fs`), which completes
//! and reaps it; the worker routes requests from other threads to the
//! right layer and publishes both tables as one pool of op slots and one
//! graveyard.

use std::sync::Arc;

use super::Worker;
use crate::executor::foreign::ForeignWait;
use crate::op::OpOwner;
use crate::slab::Key;
use crate::stats::GraveyardTotals;
use crate::stats::kinds::SlabUsage;

impl Worker {
    /// Another thread dropped or polled the future of op `op` of `owner`'s
    /// table (see `executor::foreign`).
    pub(super) fn orphan_op_notify(
        &self,
        owner: OpOwner,
        op: Key,
        notify: Option<Arc<ForeignWait>>,
    ) {
        match owner {
            OpOwner::Net => self.net().orphan_connect(op, notify),
            OpOwner::Fs => self.fs().orphan_op(op, notify),
        }
    }

    /// Publishes the graveyard gauges if an op was parked or reaped since
    /// the last time.
    pub(super) fn publish_graveyard(&self) {
        if self.core.take_graveyard_changed() {
            self.core.stats.graveyard(&self.graveyard_totals());
        }
    }

    /// The graveyard of both tables, for the stats.
    pub(super) fn graveyard_totals(&self) -> GraveyardTotals {
        let net = self.net_state.borrow_mut().connects.graveyard_totals();
        let fs = self.fs_state.borrow_mut().ops.graveyard_totals();
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
            abandoned: self.abandoned.get(),
        }
    }

    /// Occupancy of both one-shot op tables, as one pool of op slots.
    pub(super) fn op_slot_usage(&self) -> SlabUsage {
        let net = self.net_state.borrow().connects.usage();
        let fs = self.fs_state.borrow().ops.usage();
        SlabUsage {
            used: net.used + fs.used,
            capacity: net.capacity + fs.capacity,
            high_water: net.high_water + fs.high_water,
            exhausted_total: net.exhausted_total + fs.exhausted_total,
        }
    }
}
