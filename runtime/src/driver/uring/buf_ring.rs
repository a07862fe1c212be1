//! A provided-buffer ring: buffers the kernel picks from for multishot
//! receives, returned to it as soon as their bytes are copied out.
//!
//! Two allocations that must outlive every receive the kernel may still
//! complete: the ring of `io_uring_buf` descriptors (page aligned, shared
//! with the kernel; we publish new entries by a release store of its tail)
//! and the buffers themselves. Both are freed only when the owner proves no
//! receive is armed (see `Driver` teardown); otherwise they are leaked.

use crate::driver::buffers::BufferGroup;
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use super::ring::Ring;

/// See the module docs.
pub(crate) struct BufRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    buffers: *mut u8,
    buffers_layout: Layout,
    count: u16,
    buffer_size: u32,
    bgid: u16,
    /// Our copy of the tail; published to the kernel by `publish`.
    tail: u16,
    /// Buffers handed back since the last publish.
    unpublished: u16,
    /// Most buffers out of the kernel's hands at once (recycled, not yet
    /// published).
    high_water: u16,
    /// Receives that found the ring empty (`ENOBUFS`).
    exhausted_total: u64,
}

impl BufRing {
    /// Allocates `count` buffers of `buffer_size` bytes and registers them
    /// with `ring` as buffer group `bgid`. `count` is a power of two.
    pub(crate) fn new(ring: &Ring, count: u16, buffer_size: u32, bgid: u16) -> io::Result<BufRing> {
        assert!(count.is_power_of_two(), "validated by Config::validate");
        let entries_layout =
            Layout::from_size_align(count as usize * std::mem::size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        let buffers_layout = Layout::from_size_align(count as usize * buffer_size as usize, 64)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have non-zero size (count >= 1, size >= 1,
        // checked by Config::validate).
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        // SAFETY: the buffers' layout has non-zero size too (count >= 1,
        // buffer_size >= 1, checked by Config::validate).
        let buffers = unsafe { alloc_zeroed(buffers_layout) };
        if entries.is_null() || buffers.is_null() {
            // SAFETY: each non-null pointer came from `alloc_zeroed` with
            // the layout we free it with.
            unsafe {
                if !entries.is_null() {
                    dealloc(entries.cast(), entries_layout);
                }
                if !buffers.is_null() {
                    dealloc(buffers, buffers_layout);
                }
            }
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot allocate receive buffers (Config::recv_buffer)",
            ));
        }
        let mut ring_buf = BufRing {
            entries,
            entries_layout,
            buffers,
            buffers_layout,
            count,
            buffer_size,
            bgid,
            tail: 0,
            unpublished: 0,
            high_water: 0,
            exhausted_total: 0,
        };
        for bid in 0..count {
            ring_buf.recycle(bid);
        }
        ring_buf.publish();
        // SAFETY: the descriptor ring stays allocated and unmoved until
        // `Drop`, which the driver runs only after the ring is torn down or
        // no receive is armed (else it leaks the BufRing on purpose).
        let registered = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, bgid, 0)
        };
        if let Err(e) = registered {
            // Not registered: nothing in the kernel points at our memory.
            drop(ring_buf);
            return Err(e);
        }
        Ok(ring_buf)
    }

    /// The buffer group id receives select from.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }
}

impl BufferGroup for BufRing {
    /// Bytes the kernel wrote into buffer `bid`.
    ///
    /// # Safety
    ///
    /// `bid` came from a CQE of this group and has not been recycled since,
    /// and `len` is that CQE's result: the kernel is done writing it.
    unsafe fn data(&self, bid: u16, len: usize) -> &[u8] {
        debug_assert!(bid < self.count && len <= self.buffer_size as usize);
        let len = len.min(self.buffer_size as usize);
        // SAFETY: bid < count so the range lies inside `buffers`; the caller
        // guarantees the kernel finished writing these bytes and will not
        // touch the buffer again until we recycle it.
        unsafe {
            std::slice::from_raw_parts(
                self.buffers.add(bid as usize * self.buffer_size as usize),
                len,
            )
        }
    }

    /// Hands buffer `bid` back to the kernel (visible after `publish`).
    fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot < count`, inside the descriptor allocation; the
        // kernel reads descriptors only below the published tail, and this
        // slot is at or past it, so we are its only writer.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: bid < count, so the address is inside `buffers`.
        let addr = unsafe { self.buffers.add(bid as usize * self.buffer_size as usize) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buffer_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.unpublished += 1;
        self.high_water = self.high_water.max(self.unpublished);
    }

    /// Counts a receive that found no buffer (`ENOBUFS`).
    fn note_exhausted(&mut self) {
        self.exhausted_total += 1;
    }

    /// Occupancy for the stats layer: buffers the worker holds (the kernel
    /// cannot use them until `publish`).
    fn usage(&self) -> crate::stats::kinds::SlabUsage {
        crate::stats::kinds::SlabUsage {
            used: self.unpublished as u64,
            capacity: self.count as u64,
            high_water: self.high_water as u64,
            exhausted_total: self.exhausted_total,
        }
    }

    /// Publishes recycled buffers to the kernel with one release store.
    fn publish(&mut self) {
        if self.unpublished == 0 {
            return;
        }
        self.unpublished = 0;
        // SAFETY: `tail` points at the 16-bit tail field inside the first
        // descriptor, which the kernel reads with acquire semantics; the
        // field is naturally aligned, so viewing it as an AtomicU16 is sound.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers came from `alloc_zeroed` with these layouts,
        // and the owner drops us only when the kernel can no longer use them.
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.buffers, self.buffers_layout);
        }
    }
}
