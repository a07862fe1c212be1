//! The provided-buffer ring multishot receives pick their buffers from.
//!
//! Two allocations: the descriptor ring (page aligned, shared with the
//! kernel, new entries published by a release store of its tail) and the
//! buffers. A buffer leaves the kernel's hands in a receive CQE, is sent
//! from directly, and comes back here when its send completes; returns are
//! published once per loop turn, right before the next `io_uring_enter`.
//!
//! The owner must drop the ring (which tears down every armed receive)
//! before dropping this: see `Worker`'s field order.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

pub(crate) struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    buffers: *mut u8,
    buffers_layout: Layout,
    count: u16,
    buffer_size: u32,
    /// Our copy of the tail, published by `publish`.
    tail: u16,
    dirty: bool,
}

impl BufRing {
    /// Allocates `count` (a power of two) buffers of `buffer_size` bytes
    /// and registers them as buffer group `bgid`.
    pub(crate) fn new(
        submitter: &Submitter<'_>,
        count: u16,
        buffer_size: u32,
        bgid: u16,
    ) -> io::Result<BufRing> {
        assert!(count.is_power_of_two() && buffer_size > 0);
        let entries_layout =
            Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        let buffers_layout =
            Layout::from_size_align(usize::from(count) * buffer_size as usize, 4096)
                .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size (asserted above).
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        // SAFETY: as above.
        let buffers = unsafe { alloc_zeroed(buffers_layout) };
        assert!(
            !entries.is_null() && !buffers.is_null(),
            "out of memory for receive buffers"
        );
        let mut ring = BufRing {
            entries,
            entries_layout,
            buffers,
            buffers_layout,
            count,
            buffer_size,
            tail: 0,
            dirty: false,
        };
        for bid in 0..count {
            ring.recycle(bid);
        }
        ring.publish();
        // SAFETY: the descriptor ring stays allocated and unmoved until
        // `Drop`, which runs only after the io_uring instance is gone.
        unsafe { submitter.register_buf_ring_with_flags(entries as u64, count, bgid, 0)? };
        Ok(ring)
    }

    /// Start of buffer `bid`.
    pub(crate) fn ptr(&self, bid: u16) -> *const u8 {
        debug_assert!(bid < self.count);
        // SAFETY: bid < count keeps the offset inside the allocation.
        unsafe {
            self.buffers
                .add(usize::from(bid) * self.buffer_size as usize)
        }
    }

    /// Hands `bid` back to the kernel (visible after `publish`). The caller
    /// no longer reads it and no send from it is in flight.
    pub(crate) fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: slot < count is inside the descriptor allocation, and the
        // kernel reads only descriptors below the published tail, so this
        // slot (at or past it) is ours alone.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(self.ptr(bid) as u64);
        entry.set_len(self.buffer_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.dirty = true;
    }

    /// Publishes every recycled buffer with one release store.
    pub(crate) fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        // SAFETY: the tail is the naturally aligned u16 inside the first
        // descriptor, which the kernel reads with acquire semantics.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers came from `alloc_zeroed` with these
        // layouts, and the ring that could write into them is gone.
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.buffers, self.buffers_layout);
        }
    }
}
