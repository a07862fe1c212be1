//! One-shot operations in flight that a future waits on (connect, file
//! I/O, …): their result slot, their waiter, and everything the kernel may
//! still read or write for them.
//!
//! ```text
//!  submit ──► InFlight ──CQE──► Done ──poll──► freed (result to the future)
//!                │
//!          future dropped
//!                ▼
//!            Orphaned (in the graveyard: buffers held, ASYNC_CANCEL sent)
//!                │
//!               CQE ──► freed (buffers dropped only now)
//! ```
//!
//! An op may expect two CQEs (a connect and its linked timeout); its slot,
//! and whatever it holds, is released only after the last one.
//!
//! Each layer that starts such ops owns its own table, typed by what its
//! ops lend the kernel (`H`): connections keep their connects' addresses
//! and timeouts, files their paths, buffers and descriptors. A table's
//! user data carries its slot index plus the table's `base`, so the
//! tables of one worker never share a `user_data` (nor an op registry
//! slot) and a CQE finds its table by [`OpOwner`].

use std::collections::VecDeque;
use std::task::Waker;

use crate::config::Config;
pub(crate) use crate::op::OpOwner;
use crate::op::{OpKind, UserData};
use crate::slab::{Key, Slab};
use crate::stats::GraveyardTotals;
use crate::stats::kinds::SlabUsage;

/// A one-shot op's slot; `H` is what it keeps alive for the kernel until
/// its last CQE.
pub(crate) struct OpSlot<H> {
    pub(crate) kind: OpKind,
    waiter: Option<Waker>,
    orphaned: bool,
    cqes_pending: u8,
    result: Option<i32>,
    /// True when a linked timeout fired (its CQE carried `-ETIME`).
    pub(crate) timed_out: bool,
    pub(crate) hold: H,
    /// Bytes of buffer memory in `hold`, for the graveyard gauges.
    pub(crate) held_bytes: usize,
    /// A future polled on another thread waits for this op's end here.
    pub(crate) notify: Option<std::sync::Arc<crate::executor::foreign::ForeignWait>>,
}

/// What a CQE did to its op (`S`: the op's slot).
pub(crate) enum Completed<S> {
    /// Not the last CQE, or the op is still waited on (waiter woken).
    Pending,
    /// The last CQE of an op whose future was dropped: the caller cleans up
    /// what the op produced (e.g. closes a connected socket), then drops it.
    Orphan(S, i32),
    /// A CQE whose op slot no longer exists (stale or unknown).
    Stale,
}

/// See the module docs.
pub(crate) struct OpTable<H> {
    slab: Slab<OpSlot<H>>,
    /// Added to slot indices in user data (see the module docs).
    base: u32,
    /// Set when shutdown gave up on ops in flight: the slots (and what
    /// the kernel may still write through them) are never freed.
    leak: bool,
    orphans: usize,
    orphan_bytes: usize,
    parked_total: u64,
    reaped_total: u64,
    /// Parked ops in parking order with their parking time, for the age
    /// of the oldest; reaped entries are skipped lazily.
    parked: VecDeque<(u64, Key)>,
}

impl<H> OpTable<H> {
    /// A table of `capacity` slots whose user data indices start at `base`.
    pub(crate) fn new(capacity: u32, base: u32) -> OpTable<H> {
        OpTable {
            slab: Slab::with_capacity(capacity),
            base,
            leak: false,
            orphans: 0,
            orphan_bytes: 0,
            parked_total: 0,
            reaped_total: 0,
            parked: VecDeque::new(),
        }
    }

    /// Takes a slot for an op about to be submitted; `None` when full.
    pub(crate) fn insert(
        &mut self,
        kind: OpKind,
        hold: H,
        held_bytes: usize,
        cqes: u8,
    ) -> Option<Key> {
        self.slab
            .insert(OpSlot {
                kind,
                waiter: None,
                orphaned: false,
                cqes_pending: cqes,
                result: None,
                timed_out: false,
                hold,
                held_bytes,
                notify: None,
            })
            .ok()
    }

    /// The `user_data` for the op's primary SQE.
    pub(crate) fn user_data(&self, key: Key) -> UserData {
        let kind = self.slab.get(key).map_or(OpKind::Cancel, |s| s.kind);
        self.user_data_of(kind, key)
    }

    fn user_data_of(&self, kind: OpKind, key: Key) -> UserData {
        UserData::new(kind, key.generation, key.index + self.base)
    }

    /// The `user_data` of the linked timeout of the op at `key`.
    pub(crate) fn link_timeout_user_data(&self, key: Key) -> UserData {
        self.user_data_of(OpKind::LinkTimeout, key)
    }

    /// Mutable access for filling in what the SQE points to.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut OpSlot<H>> {
        self.slab.get_mut(key)
    }

    fn find(&mut self, ud: UserData) -> Option<Key> {
        let index = ud.index().checked_sub(self.base)?;
        let (key, _) = self.slab.get_by_index(index)?;
        ud.matches(key.generation).then_some(key)
    }

    /// Records the primary CQE of an op.
    pub(crate) fn complete(&mut self, ud: UserData, result: i32) -> Completed<OpSlot<H>> {
        let Some(key) = self.find(ud) else {
            return Completed::Stale;
        };
        let slot = self.slab.get_mut(key).expect("found above");
        slot.result = Some(result);
        self.after_cqe(key)
    }

    /// Records the CQE of an op's linked timeout.
    pub(crate) fn complete_link_timeout(
        &mut self,
        ud: UserData,
        result: i32,
    ) -> Completed<OpSlot<H>> {
        let Some(key) = self.find(ud) else {
            return Completed::Stale;
        };
        let slot = self.slab.get_mut(key).expect("found above");
        if result == -libc::ETIME {
            slot.timed_out = true;
        }
        self.after_cqe(key)
    }

    fn after_cqe(&mut self, key: Key) -> Completed<OpSlot<H>> {
        let slot = self.slab.get_mut(key).expect("caller found it");
        slot.cqes_pending = slot.cqes_pending.saturating_sub(1);
        if slot.cqes_pending > 0 {
            return Completed::Pending;
        }
        if slot.orphaned {
            let slot = self.slab.remove(key).expect("live");
            self.orphans -= 1;
            self.orphan_bytes -= slot.held_bytes;
            self.reaped_total += 1;
            let result = slot.result.unwrap_or(-libc::ECANCELED);
            return Completed::Orphan(slot, result);
        }
        if let Some(w) = slot.waiter.take() {
            w.wake();
        }
        Completed::Pending
    }

    /// The op's result once every CQE arrived (the slot is freed and handed
    /// back with it); otherwise remembers `waker`.
    pub(crate) fn poll(&mut self, key: Key, waker: &Waker) -> Option<(i32, OpSlot<H>)> {
        let slot = self.slab.get_mut(key)?;
        if slot.cqes_pending == 0
            && let Some(result) = slot.result
        {
            let slot = self.slab.remove(key).expect("live");
            return Some((result, slot));
        }
        match &mut slot.waiter {
            Some(w) if w.will_wake(waker) => {}
            w => *w = Some(waker.clone()),
        }
        None
    }

    /// The future waiting on `key` was dropped. A finished op is freed now
    /// (returned, for the caller to clean up); a running one is parked in
    /// the graveyard and its `user_data` returned for an `ASYNC_CANCEL`.
    pub(crate) fn orphan(&mut self, key: Key, now_ns: u64) -> Orphaned<OpSlot<H>> {
        let Some(slot) = self.slab.get_mut(key) else {
            return Orphaned::Gone;
        };
        if slot.cqes_pending == 0 {
            let result = slot.result.unwrap_or(-libc::ECANCELED);
            let slot = self.slab.remove(key).expect("live");
            return Orphaned::Finished(slot, result);
        }
        slot.orphaned = true;
        slot.waiter = None;
        let kind = slot.kind;
        self.orphans += 1;
        self.orphan_bytes += slot.held_bytes;
        self.parked_total += 1;
        self.parked.push_back((now_ns, key));
        let held = slot.held_bytes;
        Orphaned::Parked(self.user_data_of(kind, key), held)
    }

    #[cfg(test)]
    /// True when no op is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Graveyard depth and bytes.
    #[cfg(test)]
    pub(crate) fn graveyard(&self) -> (usize, usize) {
        (self.orphans, self.orphan_bytes)
    }

    /// The graveyard for the stats layer (drops reaped entries from the
    /// front of the age queue first: amortised O(1)).
    pub(crate) fn graveyard_totals(&mut self) -> GraveyardTotals {
        while let Some(&(_, key)) = self.parked.front() {
            match self.slab.get(key) {
                Some(slot) if slot.orphaned => break,
                _ => {
                    self.parked.pop_front();
                }
            }
        }
        GraveyardTotals {
            depth: self.orphans as u64,
            bytes: self.orphan_bytes as u64,
            parked_total: self.parked_total,
            reaped_total: self.reaped_total,
            oldest_parked_at_ns: self.parked.front().map(|&(at, _)| at),
            abandoned: 0,
        }
    }

    /// Occupancy of the op slots.
    pub(crate) fn usage(&self) -> SlabUsage {
        self.slab.usage()
    }

    /// The worker gave up on ops in flight: keep every slot's memory for
    /// the life of the process instead of freeing it at drop.
    pub(crate) fn leak(&mut self) {
        self.leak = true;
    }
}

impl<H> Drop for OpTable<H> {
    fn drop(&mut self) {
        if self.leak {
            // The kernel (or a disk pool thread) may still write into a
            // hold: forget the slots rather than free them.
            std::mem::forget(std::mem::replace(&mut self.slab, Slab::with_capacity(0)));
        }
    }
}

/// Capacity of the connects' op table: one per connection, and a margin.
pub(crate) fn net_op_slots(config: &Config) -> u32 {
    config.max_connections.saturating_add(64)
}

/// Capacity of the file ops' table: every fs command.
pub(crate) fn fs_op_slots(config: &Config) -> u32 {
    config
        .fs
        .as_ref()
        .map_or(0, |f| f.max_commands_in_flight as u32)
}

/// Every one-shot op slot of a worker (both tables; the op registry's
/// one-shot region).
pub(crate) fn op_slots(config: &Config) -> u32 {
    net_op_slots(config).saturating_add(fs_op_slots(config))
}

/// Outcome of [`OpTable::orphan`] (`S`: the op's slot).
pub(crate) enum Orphaned<S> {
    /// The slot was already gone.
    Gone,
    /// The op had finished; its slot is freed.
    Finished(S, i32),
    /// Parked; send an `ASYNC_CANCEL` for this user data.
    /// Parked: the op's tag (for its cancel) and the bytes it holds.
    Parked(UserData, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn table() -> OpTable<()> {
        OpTable::new(4, 0)
    }

    #[test]
    fn result_reaches_the_waiter_and_frees_the_slot() {
        let mut t = table();
        let k = t.insert(OpKind::Connect, (), 0, 1).unwrap();
        let ud = t.user_data(k);
        let (c, w) = waker();
        assert!(t.poll(k, &w).is_none());
        assert!(matches!(t.complete(ud, 0), Completed::Pending));
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        let (res, slot) = t.poll(k, &w).expect("done");
        assert_eq!(res, 0);
        assert_eq!(slot.kind, OpKind::Connect);
        assert!(t.is_empty());
        assert!(
            matches!(t.complete(ud, 0), Completed::Stale),
            "late CQE is stale"
        );
    }

    #[test]
    fn linked_op_waits_for_both_cqes_in_either_order() {
        for timeout_first in [false, true] {
            let mut t = table();
            let k = t.insert(OpKind::Connect, (), 0, 2).unwrap();
            let ud = t.user_data(k);
            let (_c, w) = waker();
            if timeout_first {
                t.complete_link_timeout(ud, -libc::ETIME);
                assert!(t.poll(k, &w).is_none(), "one CQE is not enough");
                t.complete(ud, -libc::ECANCELED);
            } else {
                t.complete(ud, -libc::ECANCELED);
                assert!(t.poll(k, &w).is_none(), "one CQE is not enough");
                t.complete_link_timeout(ud, -libc::ETIME);
            }
            let (res, slot) = t.poll(k, &w).expect("both arrived");
            assert_eq!(res, -libc::ECANCELED);
            assert!(slot.timed_out);
        }
    }

    #[test]
    fn dropped_future_parks_its_hold_until_the_cqe() {
        struct Tracked(Arc<AtomicUsize>);
        impl Drop for Tracked {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new(4, 0);
        let hold = Tracked(dropped.clone());
        let k = t.insert(OpKind::FsRead, hold, 4096, 1).unwrap();
        let ud = t.user_data(k);
        let Orphaned::Parked(cancel, _) = t.orphan(k, 0) else {
            panic!("a running op must park");
        };
        assert_eq!(cancel, ud);
        assert_eq!(t.graveyard(), (1, 4096));
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            0,
            "hold must outlive the kernel's use"
        );
        match t.complete(ud, -libc::ECANCELED) {
            Completed::Orphan(slot, res) => {
                assert_eq!(res, -libc::ECANCELED);
                drop(slot);
            }
            _ => panic!("the last CQE of an orphan hands it back"),
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(t.graveyard(), (0, 0));
        assert!(t.is_empty());
    }

    #[test]
    fn orphaning_a_finished_op_frees_it_at_once() {
        let mut t = table();
        let k = t.insert(OpKind::Connect, (), 0, 1).unwrap();
        t.complete(t.user_data(k), 5);
        assert!(matches!(t.orphan(k, 0), Orphaned::Finished(_, 5)));
        assert!(t.is_empty());
        assert!(matches!(t.orphan(k, 0), Orphaned::Gone));
    }

    #[test]
    fn a_table_with_a_base_answers_only_its_own_user_data() {
        let mut low: OpTable<()> = OpTable::new(2, 0);
        let mut high: OpTable<()> = OpTable::new(2, 2);
        let k = high.insert(OpKind::FsRead, (), 0, 1).unwrap();
        let ud = high.user_data(k);
        assert_eq!(ud.index(), 2, "indices start at the base");
        let kl = low.insert(OpKind::Connect, (), 0, 1).unwrap();
        assert_eq!(low.user_data(kl).index(), 0);
        assert!(matches!(low.complete(ud, 0), Completed::Stale));
        assert!(matches!(
            high.complete(low.user_data(kl), 0),
            Completed::Stale
        ));
        assert!(matches!(high.complete(ud, 0), Completed::Pending));
        assert_eq!(high.poll(k, &waker().1).map(|(r, _)| r), Some(0));
    }

    #[test]
    fn exhaustion_is_a_none() {
        let mut t = OpTable::new(1, 0);
        assert!(t.insert(OpKind::Connect, (), 0, 1).is_some());
        assert!(t.insert(OpKind::Connect, (), 0, 1).is_none());
    }
}
