//! The send copy pool: fixed slots that hold bytes queued for sending
//! until the kernel has sent them.
//!
//! One allocation, carved into `count` slots of `slot_size` bytes, that
//! never moves, so a send SQE may point into it for as long as the send is
//! in flight. A connection appends small sends into the free tail of its
//! last slot (coalescing many `send_nowait` calls into one SQE) and takes a
//! new slot only when that one is full.

use std::alloc::{Layout, alloc, dealloc};

/// See the module docs.
pub(crate) struct SendPool {
    base: *mut u8,
    layout: Layout,
    slot_size: u32,
    free: Vec<u16>,
    count: u16,
    high_water: u16,
    exhausted_total: u64,
    /// Set when in-flight sends were abandoned at shutdown: never free.
    pub(crate) leak: bool,
}

impl SendPool {
    /// `count` slots of `slot_size` bytes (both non-zero, validated).
    pub(crate) fn new(count: u16, slot_size: u32) -> SendPool {
        let layout = Layout::from_size_align(count as usize * slot_size as usize, 64)
            .expect("validated sizes fit a layout");
        // SAFETY: the layout has non-zero size (count, slot_size >= 1).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        SendPool {
            base,
            layout,
            slot_size,
            free: (0..count).rev().collect(),
            count,
            high_water: 0,
            exhausted_total: 0,
            leak: false,
        }
    }

    pub(crate) fn slot_size(&self) -> u32 {
        self.slot_size
    }

    pub(crate) fn available(&self) -> usize {
        self.free.len()
    }

    /// Occupancy for the stats layer.
    pub(crate) fn usage(&self) -> crate::stats::kinds::SlabUsage {
        crate::stats::kinds::SlabUsage {
            used: (self.count as usize - self.free.len()) as u64,
            capacity: self.count as u64,
            high_water: self.high_water as u64,
            exhausted_total: self.exhausted_total,
        }
    }

    pub(crate) fn note_exhausted(&mut self) {
        self.exhausted_total += 1;
    }

    pub(crate) fn alloc(&mut self) -> Option<u16> {
        let slot = self.free.pop()?;
        self.high_water = self.high_water.max(self.count - self.free.len() as u16);
        Some(slot)
    }

    pub(crate) fn release(&mut self, slot: u16) {
        debug_assert!(slot < self.count && !self.free.contains(&slot));
        self.free.push(slot);
    }

    /// Pointer to byte `offset` of `slot`.
    pub(crate) fn ptr(&self, slot: u16, offset: u32) -> *mut u8 {
        debug_assert!(slot < self.count && offset <= self.slot_size);
        // SAFETY: slot < count and offset <= slot_size keep the result
        // inside (or one past the end of a slot inside) the allocation.
        unsafe {
            self.base
                .add(slot as usize * self.slot_size as usize + offset as usize)
        }
    }

    /// Copies `data` into `slot` at `offset`.
    ///
    /// The range written must not overlap bytes of this slot that a send
    /// in flight covers; callers only write past the queued end.
    pub(crate) fn write(&mut self, slot: u16, offset: u32, data: &[u8]) {
        assert!(offset as usize + data.len() <= self.slot_size as usize);
        // SAFETY: the destination range lies inside `slot` (asserted), does
        // not overlap `data` (a caller's slice, not pool memory), and no
        // kernel read covers it (the caller writes only past queued bytes).
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr(slot, offset), data.len());
        }
    }
}

impl Drop for SendPool {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: `base` came from `alloc(layout)`; no send is in flight
        // (otherwise `leak` is set), so the kernel holds no pointer into it.
        unsafe { dealloc(self.base, self.layout) };
    }
}
