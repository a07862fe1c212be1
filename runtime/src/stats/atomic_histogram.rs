//! The recording side of the latency histogram: buckets of atomic counters
//! that one worker writes and any thread reads, copied into the schema's
//! plain [`Histogram`] (layout and math live there, in
//! `ringline_schema::stats::histogram`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::histogram::{BUCKETS, Histogram, bucket_index};

/// A histogram written by exactly one thread and readable from any thread.
///
/// Single-writer: `record` does a relaxed `load` + `store` per field instead of `fetch_add`, so the
/// hot path has no lock-prefixed read-modify-write. Readers use relaxed loads and may observe a
/// record's bucket before its sum, or vice versa; a snapshot can therefore be off by the
/// few records in flight, which is fine for monitoring. Counters wrap at `u64::MAX` (the sum after
/// ~584 years of accumulated latency); `Histogram::delta` treats that like a reset.
///
/// There is no count field: a snapshot's count is the sum of its buckets, so
/// the count always agrees with the buckets and a record is two stores.
pub(crate) struct AtomicHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram.
    pub(crate) fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one sample of `ns`. Does not allocate.
    ///
    /// # Single writer
    /// Only the owning worker thread calls this: two concurrent writers would lose updates,
    /// because load + store is not atomic as a whole.
    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        bump(&self.buckets[bucket_index(ns)], 1);
        bump(&self.sum_ns, ns);
    }

    /// Copy into plain data (relaxed loads). Only non-zero buckets are kept.
    pub(crate) fn snapshot(&self) -> Histogram {
        let buckets: Vec<(u16, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let c = b.load(Relaxed);
                (c != 0).then_some((i as u16, c))
            })
            .collect();
        Histogram {
            count: buckets.iter().fold(0u64, |n, &(_, c)| n.wrapping_add(c)),
            sum_ns: self.sum_ns.load(Relaxed),
            buckets,
        }
    }
}

/// `a += by` for a single writer: a plain load and store compile to two `mov`s, where `fetch_add`
/// would be a `lock xadd`, a full barrier costing ~20 cycles even when uncontended.
#[inline]
fn bump(a: &AtomicU64, by: u64) {
    a.store(a.load(Relaxed).wrapping_add(by), Relaxed);
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::OVERFLOW_NS;

    const O: u64 = OVERFLOW_NS;

    fn hist(samples: &[(u64, u64)]) -> Histogram {
        let mut h = Histogram::default();
        samples.iter().for_each(|&(ns, n)| h.record_n(ns, n));
        h
    }

    fn idx(ns: u64) -> u16 {
        bucket_index(ns) as u16
    }

    #[test]
    fn record_snapshot_round_trip() {
        let h = AtomicHistogram::new();
        assert_eq!(h.snapshot(), Histogram::default());
        [5_000, 100, 5_000, O, 200]
            .into_iter()
            .for_each(|ns| h.record(ns));
        let s = h.snapshot();
        assert_eq!((s.count, s.sum_ns), (5, 10_300 + O));
        let want = [(0, 1), (idx(200), 1), (idx(5_000), 2), (241, 1)];
        assert_eq!(s.buckets, want);
        assert_eq!((s.bucket(idx(5_000).into()), s.bucket(1)), (2, 0));
        assert_eq!(s.mean_ns(), Some((10_300 + O) / 5));
        assert_eq!(Histogram::default().mean_ns(), None);
        let r = hist(&[(5_000, 2), (100, 1), (1 << 25, 0), (O, 1), (200, 1)]);
        assert_eq!(r, s);
    }
}
