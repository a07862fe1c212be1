//! A worker's receive buffers as both backends keep them: one group for
//! stream receives and, on workers with UDP sockets, one for datagrams.
//! A receive completion names a buffer; the worker copies the bytes out,
//! recycles it, and publishes every recycled buffer once per batch.

use crate::stats::kinds::SlabUsage;

/// One buffer group: io_uring's provided-buffer ring or the mio pool.
pub(crate) trait BufferGroup {
    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    ///
    /// `bid` and `len` come from one receive completion of this group and
    /// the buffer has not been recycled since.
    unsafe fn data(&self, bid: u16, len: usize) -> &[u8];
    /// Hands buffer `bid` back (usable again after `publish`).
    fn recycle(&mut self, bid: u16);
    /// Counts a receive that found no buffer (`ENOBUFS`).
    fn note_exhausted(&mut self);
    /// Occupancy: buffers recycled but not yet published.
    fn usage(&self) -> SlabUsage;
    /// Makes every recycled buffer usable again.
    fn publish(&mut self);
}

/// The stream group and the optional UDP group.
pub(crate) struct Buffers<B> {
    pub(crate) stream: B,
    pub(crate) udp: Option<B>,
}

impl<B: BufferGroup> Buffers<B> {
    /// # Safety
    ///
    /// As [`BufferGroup::data`], for a stream receive.
    pub(crate) unsafe fn recv_data(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: the caller's `bid` and `len` come from one stream receive
        // completion, so from this group, not recycled since: `data`'s
        // contract.
        unsafe { self.stream.data(bid, len) }
    }

    pub(crate) fn recycle_recv(&mut self, bid: u16) {
        self.stream.recycle(bid);
    }

    pub(crate) fn note_recv_exhausted(&mut self) {
        self.stream.note_exhausted();
    }

    /// # Safety
    ///
    /// As [`BufferGroup::data`], for a UDP receive.
    pub(crate) unsafe fn udp_data(&self, bid: u16, len: usize) -> &[u8] {
        match &self.udp {
            // SAFETY: the caller's `bid` and `len` come from one UDP
            // receive completion, so from this group, not recycled since:
            // `data`'s contract.
            Some(b) => unsafe { b.data(bid, len) },
            None => &[],
        }
    }

    pub(crate) fn recycle_udp(&mut self, bid: u16) {
        if let Some(b) = &mut self.udp {
            b.recycle(bid);
        }
    }

    pub(crate) fn note_udp_exhausted(&mut self) {
        if let Some(b) = &mut self.udp {
            b.note_exhausted();
        }
    }

    /// Occupancy of the stream and UDP groups.
    pub(crate) fn usage(&self) -> (SlabUsage, SlabUsage) {
        let udp = self.udp.as_ref().map(B::usage).unwrap_or_default();
        (self.stream.usage(), udp)
    }

    pub(crate) fn publish(&mut self) {
        self.stream.publish();
        if let Some(b) = &mut self.udp {
            b.publish();
        }
    }
}
