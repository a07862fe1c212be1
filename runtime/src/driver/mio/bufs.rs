//! The mio backend's receive buffers: the same contract as io_uring's
//! provided-buffer ring (a receive takes a free buffer, its completion
//! names it, the worker hands it back after copying the bytes out, and it
//! becomes free again at the next publish), kept in plain memory.

use crate::driver::buffers::BufferGroup;
use crate::stats::kinds::SlabUsage;

/// See the module docs.
pub(crate) struct BufPool {
    memory: Box<[u8]>,
    buffer_size: usize,
    /// Buffers a receive may take.
    free: Vec<u16>,
    /// Buffers handed back since the last publish.
    recycled: Vec<u16>,
    high_water: u16,
    exhausted_total: u64,
    count: u16,
}

impl BufPool {
    /// `count` buffers of `buffer_size` bytes (both validated by `Config`).
    pub(crate) fn new(count: u16, buffer_size: u32) -> BufPool {
        let buffer_size = buffer_size as usize;
        BufPool {
            memory: vec![0; count as usize * buffer_size].into_boxed_slice(),
            buffer_size,
            // Popped from the back: buffer 0 is taken first.
            free: (0..count).rev().collect(),
            recycled: Vec::with_capacity(count as usize),
            high_water: 0,
            exhausted_total: 0,
            count,
        }
    }

    /// Takes a free buffer: its id and its memory.
    pub(crate) fn take(&mut self) -> Option<(u16, &mut [u8])> {
        let bid = self.free.pop()?;
        let start = bid as usize * self.buffer_size;
        Some((bid, &mut self.memory[start..start + self.buffer_size]))
    }

    /// Returns a buffer taken by [`take`](Self::take) whose receive
    /// delivered nothing; it is free again at once.
    pub(crate) fn untake(&mut self, bid: u16) {
        self.free.push(bid);
    }
}

impl BufferGroup for BufPool {
    /// The first `len` bytes of buffer `bid`.
    unsafe fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.buffer_size;
        &self.memory[start..start + len.min(self.buffer_size)]
    }

    /// Hands buffer `bid` back (free again after `publish`).
    fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.count);
        self.recycled.push(bid);
        self.high_water = self.high_water.max(self.recycled.len() as u16);
    }

    fn note_exhausted(&mut self) {
        self.exhausted_total += 1;
    }

    /// Makes every recycled buffer free again.
    fn publish(&mut self) {
        self.free.append(&mut self.recycled);
    }

    /// Occupancy, counted as the io_uring ring counts it: buffers the
    /// worker holds that receives cannot use yet.
    fn usage(&self) -> SlabUsage {
        SlabUsage {
            used: self.recycled.len() as u64,
            capacity: u64::from(self.count),
            high_water: u64::from(self.high_water),
            exhausted_total: self.exhausted_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_free_again_only_after_recycle_and_publish() {
        let mut pool = BufPool::new(2, 8);
        let (a, mem) = pool.take().expect("first");
        mem[..3].copy_from_slice(b"abc");
        let (b, _) = pool.take().expect("second");
        assert!(pool.take().is_none(), "two buffers only");
        // SAFETY: `a` was taken above and is not recycled yet.
        assert_eq!(unsafe { pool.data(a, 3) }, b"abc");
        pool.recycle(a);
        assert!(pool.take().is_none(), "not free before publish");
        assert_eq!(pool.usage().used, 1);
        pool.publish();
        assert_eq!(pool.usage().used, 0);
        assert_eq!(pool.take().map(|(bid, _)| bid), Some(a));
        pool.untake(b);
        assert_eq!(pool.take().map(|(bid, _)| bid), Some(b));
    }
}
