//! Op kinds and the `user_data` word every SQE carries back in its CQE.
//!
//! Every submission and every completion passes through [`OpKind`]: it keys
//! the dispatcher (one `match` on the kind) and every per-op counter and
//! latency histogram, so an op kind added (in the schema crate, see below)
//! is accounted everywhere.

// What a submitted operation is; its discriminant is the `user_data` tag.
// Defined in the schema crate because its names are the `op` label and
// JSON field of every per-op count that readers of a process see.
pub(crate) use ringline_schema::stats::kinds::OpKind;

/// Per-kind op accounting, kept by the driver: every submission is counted
/// when pushed and every final completion when reaped, so `in_flight` is
/// exact at all times (shutdown waits on it). The stats layer publishes the
/// kinds marked dirty once per loop iteration.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpCounters {
    pub(crate) submitted: [u64; OpKind::COUNT],
    pub(crate) completed_ok: [u64; OpKind::COUNT],
    pub(crate) completed_err: [u64; OpKind::COUNT],
    pub(crate) completed_cancelled: [u64; OpKind::COUNT],
    pub(crate) in_flight: [u64; OpKind::COUNT],
    /// Intermediate CQEs of multishot ops (each accepted socket, each
    /// received buffer).
    pub(crate) multishot_cqes: [u64; OpKind::COUNT],
    /// CQEs whose tag names no op kind (a bug; counted, never dropped
    /// silently).
    pub(crate) unknown_cqes: u64,
    /// Bit `k` set: kind `k` changed since the last `take_dirty`.
    dirty: u32,
}

// The dirty set is one bit per kind.
const _: () = assert!(OpKind::COUNT <= 32);

impl OpCounters {
    #[inline]
    pub(crate) fn submitted(&mut self, kind: OpKind) {
        let k = kind as usize;
        self.submitted[k] += 1;
        self.in_flight[k] += 1;
        self.dirty |= 1 << k;
    }

    /// A CQE arrived; `more` means the (multishot) op stays armed.
    #[inline]
    pub(crate) fn completed(&mut self, kind: OpKind, more: bool, result: i32) {
        let k = kind as usize;
        self.dirty |= 1 << k;
        if more {
            self.multishot_cqes[k] += 1;
            return;
        }
        // Saturating: a kernel surprise (an extra CQE) must not wrap the
        // count that shutdown waits on.
        self.in_flight[k] = self.in_flight[k].saturating_sub(1);
        if result == -libc::ECANCELED {
            self.completed_cancelled[k] += 1;
        } else if result < 0 {
            self.completed_err[k] += 1;
        } else {
            self.completed_ok[k] += 1;
        }
    }

    /// Ops of every kind still waiting for their final CQE.
    pub(crate) fn total_in_flight(&self) -> u64 {
        self.in_flight.iter().sum()
    }

    /// Pool jobs (blocking closures, name lookups) whose handles have not
    /// ended yet.
    pub(crate) fn pool_jobs_in_flight(&self) -> u64 {
        OpKind::ALL
            .iter()
            .filter(|k| k.is_pool_job())
            .map(|&k| self.in_flight[k as usize])
            .sum()
    }

    /// Ops the kernel (or the mio backend) may still complete into memory
    /// of ours: everything in flight but pool jobs.
    pub(crate) fn kernel_in_flight(&self) -> u64 {
        self.total_in_flight() - self.pool_jobs_in_flight()
    }

    /// The kinds changed since the last call, as a bit set.
    #[inline]
    pub(crate) fn take_dirty(&mut self) -> u32 {
        std::mem::take(&mut self.dirty)
    }
}

/// The 64-bit `user_data` of an SQE, decoded again from its CQE.
///
/// ```text
///  63        56 55                       32 31                         0
/// +------------+---------------------------+----------------------------+
/// |  kind (8)  |     generation (24)       |         index (32)         |
/// +------------+---------------------------+----------------------------+
/// ```
///
/// `index` names the owner: a connection slot for connection ops, an op
/// slot for one-shot ops with a future, a listener for accepts. The
/// `generation` is the owner slot's generation truncated to 24 bits, so a
/// late CQE for a slot that has since been reused is recognised as stale.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct UserData(u64);

impl UserData {
    const GEN_BITS: u32 = 24;
    const GEN_MASK: u32 = (1 << Self::GEN_BITS) - 1;

    /// Packs kind, generation (low 24 bits kept) and index.
    #[inline]
    pub(crate) const fn new(kind: OpKind, generation: u32, index: u32) -> UserData {
        UserData((kind as u64) << 56 | ((generation & Self::GEN_MASK) as u64) << 32 | index as u64)
    }

    /// Wraps a raw CQE `user_data`.
    #[inline]
    pub(crate) const fn from_raw(raw: u64) -> UserData {
        UserData(raw)
    }

    /// The raw word for the SQE.
    #[inline]
    pub(crate) const fn raw(self) -> u64 {
        self.0
    }

    /// The op kind, or `None` for a tag no op carries (a bug, counted).
    #[inline]
    pub(crate) const fn kind(self) -> Option<OpKind> {
        OpKind::from_tag((self.0 >> 56) as u8)
    }

    /// The owner's generation, truncated to 24 bits.
    #[inline]
    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32 & Self::GEN_MASK
    }

    /// The owner's slot index.
    #[inline]
    pub(crate) const fn index(self) -> u32 {
        self.0 as u32
    }

    /// True when `generation` (full width) matches this word's 24 bits.
    #[inline]
    pub(crate) const fn matches(self, generation: u32) -> bool {
        self.generation() == generation & Self::GEN_MASK
    }
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserData")
            .field("kind", &self.kind())
            .field("generation", &self.generation())
            .field("index", &self.index())
            .finish()
    }
}

/// Which table of its worker an op lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpOwner {
    /// A connect (`net`): the first `Config::max_connections` + margin
    /// indices.
    Net,
    /// A file op (`fs`): the indices after the connects'.
    Fs,
}

/// How a pool job ended, for the counters of the worker that queued it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolJobEnd {
    pub(crate) kind: OpKind,
    /// As a CQE's: 0 ok, `-ECANCELED`, another negative errno for an error.
    pub(crate) result: i32,
    pub(crate) submitted_at_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips_every_tag_at_the_field_edges() {
        let gens = [0, 1, 0x7f_ffff, 0xff_ffff];
        let indices = [0, 1, 0x7fff_ffff, u32::MAX];
        for kind in OpKind::ALL {
            for generation in gens {
                for index in indices {
                    let ud = UserData::new(kind, generation, index);
                    let back = UserData::from_raw(ud.raw());
                    assert_eq!(back.kind(), Some(kind));
                    assert_eq!(back.generation(), generation);
                    assert_eq!(back.index(), index);
                    assert!(back.matches(generation));
                }
            }
        }
    }

    #[test]
    fn generation_is_truncated_not_spilled_into_the_tag() {
        let ud = UserData::new(OpKind::Recv, 0xffff_ffff, 7);
        assert_eq!(ud.kind(), Some(OpKind::Recv));
        assert_eq!(ud.generation(), 0xff_ffff);
        assert!(ud.matches(0xffff_ffff));
        assert!(ud.matches(0x00ff_ffff));
        assert!(!ud.matches(0x00ff_fffe));
    }

    #[test]
    fn unknown_tag_decodes_to_none() {
        let ud = UserData::from_raw(0xfe00_0000_0000_0001);
        assert_eq!(ud.kind(), None);
        assert_eq!(ud.index(), 1);
    }
}
