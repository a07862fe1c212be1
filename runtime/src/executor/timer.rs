//! The worker's timer queue: a min-heap of deadlines over a slot table.
//!
//! Timers cost no SQE: the event loop waits in `io_uring_enter` with a
//! timeout equal to the nearest deadline, then fires everything due. A
//! cancelled timer leaves a stale heap entry behind (lazy deletion); when
//! stale entries outnumber live ones the heap is rebuilt, so memory stays
//! proportional to live timers however many are created and dropped.
//!
//! `timer_slots` bounds the `try_*` functions. `sleep`/`timeout` cannot
//! return an error, so past the bound they still get a timer (never an
//! early or missing wakeup) and the overflow is counted as an exhaustion.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

use crate::error::TimerExhausted;

/// A timer's slot and the generation it was issued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    /// `None` when the slot is free.
    deadline: Option<Instant>,
    fired: bool,
    waker: Option<Waker>,
}

/// See the module docs.
pub(crate) struct TimerQueue {
    slots: Vec<Slot>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    live: u32,
    capacity: u32,
    high_water: u32,
    exhausted_total: u64,
    armed_total: u64,
    fired_total: u64,
    removed_unfired_total: u64,
}

impl TimerQueue {
    /// A queue with `capacity` slots reserved.
    pub(crate) fn new(capacity: u32) -> TimerQueue {
        TimerQueue {
            slots: Vec::with_capacity(capacity as usize),
            free: Vec::new(),
            heap: BinaryHeap::with_capacity(capacity as usize),
            live: 0,
            capacity,
            high_water: 0,
            exhausted_total: 0,
            armed_total: 0,
            fired_total: 0,
            removed_unfired_total: 0,
        }
    }

    /// Arms a timer for `deadline`. With `bounded`, refuses past capacity;
    /// without, goes past it and counts the exhaustion.
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        bounded: bool,
    ) -> Result<TimerKey, TimerExhausted> {
        if self.live >= self.capacity {
            self.exhausted_total += 1;
            if bounded {
                return Err(TimerExhausted);
            }
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    deadline: None,
                    fired: false,
                    waker: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.deadline = Some(deadline);
        slot.fired = false;
        slot.waker = None;
        self.live += 1;
        self.armed_total += 1;
        self.high_water = self.high_water.max(self.live);
        self.heap.push(Reverse((deadline, index, slot.generation)));
        Ok(TimerKey {
            index,
            generation: slot.generation,
        })
    }

    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation && s.deadline.is_some())
    }

    /// True once the timer fired (or its deadline is at or before `now`);
    /// otherwise remembers `waker` for when it fires.
    pub(crate) fn poll(&mut self, key: TimerKey, now: Instant, waker: &Waker) -> bool {
        let Some(slot) = self.slot_mut(key) else {
            return true;
        };
        if slot.fired {
            return true;
        }
        if slot.deadline.is_some_and(|d| d <= now) {
            slot.fired = true;
            self.fired_total += 1;
            return true;
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(waker) => {}
            w => *w = Some(waker.clone()),
        }
        false
    }

    /// Releases a timer (fired or not); a stale key is a no-op.
    pub(crate) fn remove(&mut self, key: TimerKey) {
        let Some(slot) = self.slot_mut(key) else {
            return;
        };
        let fired = slot.fired;
        slot.deadline = None;
        slot.waker = None;
        slot.generation = slot.generation.wrapping_add(1);
        if !fired {
            self.removed_unfired_total += 1;
        }
        self.free.push(key.index);
        self.live -= 1;
        // Rebuild once stale entries dominate; amortised O(1) per removal.
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live as usize {
            let slots = &self.slots;
            self.heap.retain(|Reverse((_, i, g))| {
                let s = &slots[*i as usize];
                s.generation == *g && s.deadline.is_some()
            });
        }
    }

    /// The nearest deadline of a live, unfired timer.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, index, generation))) = self.heap.peek().copied() {
            let s = &self.slots[index as usize];
            if s.generation == generation && s.deadline.is_some() && !s.fired {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Marks every timer due at `now` as fired and hands its waker to `wake`.
    /// Returns how many fired.
    pub(crate) fn fire_expired(&mut self, now: Instant, mut wake: impl FnMut(Waker)) -> usize {
        let mut fired = 0;
        while let Some(Reverse((deadline, index, generation))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            let s = &mut self.slots[index as usize];
            if s.generation != generation || s.deadline.is_none() || s.fired {
                continue;
            }
            s.fired = true;
            fired += 1;
            self.fired_total += 1;
            if let Some(w) = s.waker.take() {
                wake(w);
            }
        }
        fired
    }

    #[cfg(test)]
    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.live as usize
    }

    #[cfg(test)]
    /// Most timers ever live at once.
    pub(crate) fn high_water(&self) -> u32 {
        self.high_water
    }

    #[cfg(test)]
    /// Arms that found the queue at capacity.
    pub(crate) fn exhausted_total(&self) -> u64 {
        self.exhausted_total
    }

    /// Occupancy for the stats layer.
    pub(crate) fn usage(&self) -> crate::stats::kinds::SlabUsage {
        crate::stats::kinds::SlabUsage {
            used: self.live as u64,
            capacity: self.capacity as u64,
            high_water: self.high_water as u64,
            exhausted_total: self.exhausted_total,
        }
    }

    /// Timers as ops: (pending, armed ever, fired, removed before firing).
    /// A fired timer whose future is not yet dropped is no longer pending.
    pub(crate) fn op_totals(&self) -> (u64, u64, u64, u64) {
        let pending = self.armed_total - self.fired_total - self.removed_unfired_total;
        (
            pending,
            self.armed_total,
            self.fired_total,
            self.removed_unfired_total,
        )
    }

    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new(8);
        let ms = |n| t0 + Duration::from_millis(n);
        let late = q.insert(ms(30), true).unwrap();
        let early = q.insert(ms(10), true).unwrap();
        let (c, w) = counting();
        assert!(!q.poll(late, t0, &w));
        assert!(!q.poll(early, t0, &w));
        assert_eq!(q.next_deadline(), Some(ms(10)));

        assert_eq!(q.fire_expired(ms(9), |w| w.wake()), 0);
        assert_eq!(
            q.fire_expired(ms(10), |w| w.wake()),
            1,
            "due exactly at the deadline"
        );
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert!(q.poll(early, ms(10), &w));
        assert!(!q.poll(late, ms(10), &w));
        assert_eq!(q.next_deadline(), Some(ms(30)));
        assert_eq!(q.fire_expired(ms(100), |w| w.wake()), 1);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn removed_timers_never_fire_and_stale_keys_are_inert() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new(2);
        let a = q.insert(t0, true).unwrap();
        let (c, w) = counting();
        assert!(q.poll(a, t0, &w), "a past deadline is ready on first poll");
        q.remove(a);
        let b = q.insert(t0 + Duration::from_secs(1), true).unwrap();
        assert!(!q.poll(b, t0, &w));
        q.remove(b);
        q.remove(b);
        assert_eq!(q.fire_expired(t0 + Duration::from_secs(2), |w| w.wake()), 0);
        assert_eq!(c.0.load(Ordering::SeqCst), 0);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn bounded_insert_refuses_past_capacity_unbounded_counts_it() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new(1);
        let a = q.insert(t0, true).unwrap();
        assert_eq!(q.insert(t0, true), Err(TimerExhausted));
        let b = q.insert(t0, false).expect("sleep() must still get a timer");
        assert_eq!(q.exhausted_total(), 2);
        assert_eq!(q.len(), 2);
        assert_eq!(q.high_water(), 2);
        q.remove(a);
        q.remove(b);
        assert!(q.insert(t0, true).is_ok(), "capacity frees up again");
    }

    #[test]
    fn heap_stays_proportional_to_live_timers() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new(16);
        let keep = q.insert(t0 + Duration::from_secs(60), true).unwrap();
        for _ in 0..10_000 {
            let k = q.insert(t0 + Duration::from_secs(60), true).unwrap();
            q.remove(k);
        }
        assert!(q.heap_len() <= 130, "heap grew to {}", q.heap_len());
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(60)));
        q.remove(keep);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn waker_is_replaced_when_the_task_changes() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new(1);
        let k = q.insert(t0 + Duration::from_millis(5), true).unwrap();
        let (c1, w1) = counting();
        let (c2, w2) = counting();
        assert!(!q.poll(k, t0, &w1));
        assert!(!q.poll(k, t0, &w2));
        q.fire_expired(t0 + Duration::from_millis(5), |w| w.wake());
        assert_eq!(c1.0.load(Ordering::SeqCst), 0);
        assert_eq!(c2.0.load(Ordering::SeqCst), 1);
    }
}
