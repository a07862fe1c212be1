//! Fixed log-linear latency histogram (submit→completion, in ns) shared by every op kind.
//!
//! Exact counts, no sampling. The layout is fixed so that the Prometheus exporter, the terminal
//! inspector and Grafana dashboards all agree on bucket boundaries without negotiating them:
//!
//! ```text
//!  index           range [lower, upper) in ns                       width
//!  0               [0, 128)                                          128
//!  1..=8           [128, 256), 8 steps                               16
//!  9..=16          [256, 512), 8 steps                               32
//!  ...
//!  1 + 8(e-7) + k  [2^e + k*2^(e-3), 2^e + (k+1)*2^(e-3))            2^(e-3)
//!                  for e in 7..37 (30 octaves), k in 0..8
//!  ...
//!  233..=240       [2^36, 2^37) ≈ [68.7 s, 137.4 s), 8 steps         2^33 ≈ 8.6 s
//!  241             [2^37 ≈ 137.4 s, +Inf)  overflow                  -
//! ```
//!
//! Every finite bucket above bucket 0 is at most 12.5 % wide relative to its lower bound.
//! The full table is checked in as `histogram_layout.txt`.
//!
//! This module is the layout and the plain [`Histogram`] a snapshot carries; the runtime's
//! recording side (atomic counters written by one worker) indexes its buckets with
//! [`bucket_index`].

/// log2 of the sub-buckets per octave; a power of two so the sub-bucket is a shift of the value.
const SUB_BUCKET_BITS: u32 = 3;
/// Linear sub-buckets per power of two.
pub const SUB_BUCKETS_PER_OCTAVE: usize = 1 << SUB_BUCKET_BITS;
/// Exponent of `MIN_NS`. 128 ns rather than a round 100 ns: the floor only has to be roughly
/// where submit→completion times stop being meaningful, and a power of two makes the index a
/// `leading_zeros` and a shift instead of a subtraction, a division or a table lookup.
const MIN_EXP: u32 = 7;
/// Exponent of `OVERFLOW_NS`.
const OVERFLOW_EXP: u32 = 37;
/// Upper bound (exclusive) of bucket 0.
pub const MIN_NS: u64 = 1 << MIN_EXP;
/// Lower bound (inclusive) of the overflow bucket, ≈ 137.4 s.
pub const OVERFLOW_NS: u64 = 1 << OVERFLOW_EXP;
/// Number of buckets: bucket 0, 30 octaves of 8 sub-buckets, and the overflow bucket.
pub const BUCKETS: usize = 1 + (OVERFLOW_EXP - MIN_EXP) as usize * SUB_BUCKETS_PER_OCTAVE + 1;
const OVERFLOW_BUCKET: usize = BUCKETS - 1;

const _: () = assert!(BUCKETS == 242);
// Serialized indices are u16.
const _: () = assert!(BUCKETS <= u16::MAX as usize);

/// Index of the bucket holding `ns`. Branch-light: leading_zeros + shifts, no loops, no floats:
/// the runtime calls it for every completed op.
#[inline]
pub fn bucket_index(ns: u64) -> usize {
    if ns < MIN_NS {
        return 0;
    }
    if ns >= OVERFLOW_NS {
        return OVERFLOW_BUCKET;
    }
    // 7 <= e <= 36 here, so the shift below never underflows.
    let e = 63 - ns.leading_zeros();
    let k = (ns >> (e - SUB_BUCKET_BITS)) as usize & (SUB_BUCKETS_PER_OCTAVE - 1);
    1 + (e - MIN_EXP) as usize * SUB_BUCKETS_PER_OCTAVE + k
}

/// Lower bound (inclusive) of bucket `i` in ns.
///
/// # Panics
/// If `i >= BUCKETS`.
pub fn bucket_lower_ns(i: usize) -> u64 {
    assert!(i < BUCKETS, "bucket {i} out of range 0..{BUCKETS}");
    match i {
        0 => 0,
        OVERFLOW_BUCKET => OVERFLOW_NS,
        _ => {
            let e = MIN_EXP + ((i - 1) / SUB_BUCKETS_PER_OCTAVE) as u32;
            let k = ((i - 1) % SUB_BUCKETS_PER_OCTAVE) as u64;
            (1 << e) + (k << (e - SUB_BUCKET_BITS))
        }
    }
}

/// Upper bound (exclusive) of bucket `i` in ns, `None` for the overflow bucket.
///
/// # Panics
/// If `i >= BUCKETS`.
pub fn bucket_upper_ns(i: usize) -> Option<u64> {
    assert!(i < BUCKETS, "bucket {i} out of range 0..{BUCKETS}");
    (i < OVERFLOW_BUCKET).then(|| bucket_lower_ns(i + 1))
}

/// Plain, serde-serializable copy of a histogram.
///
/// Sparse: only non-zero buckets, as `(index, count)` sorted by index. 242 mostly-zero buckets per
/// op kind per worker would bloat every snapshot sent to the inspector and exporter.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    /// Number of samples.
    pub count: u64,
    /// Sum of all samples in ns.
    pub sum_ns: u64,
    /// Non-zero buckets as `(index, count)`, sorted by index, no zero counts.
    pub buckets: Vec<(u16, u64)>,
}

impl Histogram {
    /// Count in bucket `i` (0 when absent).
    pub fn bucket(&self, i: usize) -> u64 {
        let Ok(i) = u16::try_from(i) else { return 0 };
        match self.buckets.binary_search_by_key(&i, |&(b, _)| b) {
            Ok(p) => self.buckets[p].1,
            Err(_) => 0,
        }
    }

    /// Records `n` samples of `ns` (for tests, benches and the mio backend's pool threads which
    /// merge locally). Saturates rather than wraps, since plain data has no hot-path constraint.
    pub fn record_n(&mut self, ns: u64, n: u64) {
        if n == 0 {
            return; // keep the "no zero counts" invariant
        }
        self.add(bucket_index(ns) as u16, n);
        self.count = self.count.saturating_add(n);
        self.sum_ns = self.sum_ns.saturating_add(ns.saturating_mul(n));
    }

    /// Element-wise `self - prev`, saturating at 0 per bucket, count and sum (a counter reset
    /// after a restart gives zeros, not wrap-around). Used by `Snapshot::delta` for rates.
    pub fn delta(&self, prev: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .filter_map(|&(i, c)| {
                let d = c.saturating_sub(prev.bucket(i as usize));
                (d != 0).then_some((i, d))
            })
            .collect();
        Histogram {
            count: self.count.saturating_sub(prev.count),
            sum_ns: self.sum_ns.saturating_sub(prev.sum_ns),
            buckets,
        }
    }

    /// Element-wise sum (merging workers).
    pub fn merge(&mut self, other: &Histogram) {
        // At most 242 entries each, so insert-or-add is as cheap as a merge walk and simpler.
        for &(i, c) in &other.buckets {
            self.add(i, c);
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }

    /// The value at quantile `q` in [0, 1], in ns: the upper bound of the bucket where the
    /// cumulative count reaches `ceil(q·count)` (at least 1, so `q = 0` gives the first non-empty
    /// bucket); the overflow bucket reports `OVERFLOW_NS`. `None` when empty. `q` outside [0, 1] is
    /// clamped, NaN is treated as 0.
    ///
    /// `count` here is the sum of the buckets rather than the `count` field: they are equal except
    /// in a snapshot torn by a concurrent `record`, and ranking over the buckets being walked
    /// always finds a bucket.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        let total: u64 = self.buckets.iter().map(|&(_, c)| c).sum();
        if total == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut cumulative = 0;
        for &(i, c) in &self.buckets {
            cumulative += c;
            if cumulative >= rank {
                return Some(bucket_upper_ns(i as usize).unwrap_or(OVERFLOW_NS));
            }
        }
        None // unreachable: rank <= total
    }

    /// Cumulative count of samples strictly below `upper_ns`, where `upper_ns` must be one of the
    /// bucket boundaries (an upper bound of some bucket); this is what the Prometheus exporter
    /// renders as `_bucket{le=…}`. O(non-zero buckets). `None` if `upper_ns` is not a boundary.
    pub fn count_below(&self, upper_ns: u64) -> Option<u64> {
        let end = bucket_index(upper_ns);
        if end == 0 || bucket_lower_ns(end) != upper_ns {
            return None;
        }
        let below = self.buckets.iter().take_while(|b| usize::from(b.0) < end);
        Some(below.map(|&(_, c)| c).sum())
    }

    /// Adds `n > 0` to bucket `i`, keeping `buckets` sorted.
    fn add(&mut self, i: u16, n: u64) {
        match self.buckets.binary_search_by_key(&i, |&(b, _)| b) {
            Ok(p) => self.buckets[p].1 = self.buckets[p].1.saturating_add(n),
            Err(p) => self.buckets.insert(p, (i, n)),
        }
    }

    /// Mean in ns, `None` when empty.
    pub fn mean_ns(&self) -> Option<u64> {
        self.sum_ns.checked_div(self.count)
    }
}

/// The layout as data, for the inspect protocol's `hello` and for consumers that render buckets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// Linear sub-buckets per power of two (8).
    pub sub_buckets_per_octave: u32,
    /// Upper bound of bucket 0 in ns.
    pub min_ns: u64,
    /// Lower bound of the overflow bucket in ns.
    pub overflow_ns: u64,
    /// The `BUCKETS - 1` finite upper bounds in ns, by bucket index; the last bucket is `+Inf`.
    pub upper_bounds_ns: Vec<u64>,
}

impl Layout {
    /// The layout this build uses.
    pub fn current() -> Layout {
        Layout {
            sub_buckets_per_octave: SUB_BUCKETS_PER_OCTAVE as u32,
            min_ns: MIN_NS,
            overflow_ns: OVERFLOW_NS,
            upper_bounds_ns: (0..OVERFLOW_BUCKET).filter_map(bucket_upper_ns).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: u64 = OVERFLOW_NS;
    const LAYOUT_PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/stats/histogram_layout.txt"
    );

    /// Loop-based reference, independent of `bucket_lower_ns` and `leading_zeros`.
    fn naive_index(ns: u64) -> usize {
        let mut e = 7;
        while e < 37 && (2u64 << e) <= ns {
            e += 1;
        }
        let (mut lo, mut k) = (1u64 << e, 0);
        while k < 8 && lo + (1 << (e - 3)) <= ns {
            (lo, k) = (lo + (1 << (e - 3)), k + 1);
        }
        match ns {
            0..128 => 0,
            _ if e == 37 => 241,
            _ => 1 + (e - 7) * 8 + k,
        }
    }

    fn hist(samples: &[(u64, u64)]) -> Histogram {
        let mut h = Histogram::default();
        samples.iter().for_each(|&(ns, n)| h.record_n(ns, n));
        h
    }

    fn idx(ns: u64) -> u16 {
        bucket_index(ns) as u16
    }

    #[test]
    fn bucket_boundaries() {
        for i in 0..BUCKETS {
            let lo = bucket_lower_ns(i);
            assert_eq!(bucket_index(lo), i, "lower of {i}");
            let Some(hi) = bucket_upper_ns(i) else { break };
            assert!(hi > lo && bucket_lower_ns(i + 1) == hi, "bounds of {i}");
            assert_eq!(bucket_index(hi - 1), i, "upper - 1 of {i}");
            assert_eq!(bucket_index(hi), i + 1, "upper of {i}");
            // Relative width ≤ 12.5 % wherever the lower bound is non-zero.
            assert!(i == 0 || (hi - lo) * 8 <= lo, "bucket {i} too wide");
        }
        let ns = [0, 1, 127, 128, 144, 255, 256, O - 1, O, u64::MAX];
        let want = [0, 0, 0, 1, 2, 8, 9, 240, 241, 241];
        for (ns, want) in ns.into_iter().zip(want) {
            assert_eq!(bucket_index(ns), want, "ns = {ns}");
        }
        assert_eq!(bucket_lower_ns(240), (1 << 36) + (7 << 33));
        assert_eq!(bucket_upper_ns(0), Some(MIN_NS));
        assert_eq!(bucket_upper_ns(240), Some(O));
        assert_eq!(bucket_upper_ns(241), None);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn lower_out_of_range_panics() {
        bucket_lower_ns(BUCKETS);
    }

    #[test]
    fn matches_naive_reference() {
        for ns in 0..1u64 << 16 {
            assert_eq!(bucket_index(ns), naive_index(ns), "ns = {ns}");
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut xorshift = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            let ns = xorshift() >> (xorshift() % 64); // spread over all exponents
            assert_eq!(bucket_index(ns), naive_index(ns), "ns = {ns}");
        }
    }

    #[test]
    fn delta_and_merge() {
        let prev = hist(&[(1_000, 3), (50, 1)]);
        let cur = hist(&[(1_000, 5), (50, 1), (1 << 20, 4)]);
        let d = cur.delta(&prev);
        assert_eq!((d.count, d.sum_ns), (6, 2_000 + (4 << 20)));
        assert_eq!(d.buckets, [(idx(1_000), 2), (idx(1 << 20), 4)]);
        // A restart resets counters: saturate to zero instead of wrapping.
        assert_eq!(Histogram::default().delta(&cur), Histogram::default());
        let d = hist(&[(1_000, 1), (1 << 30, 1)]).delta(&cur);
        assert_eq!((d.count, d.sum_ns), (0, 1_000 + (1 << 30) - cur.sum_ns));
        assert_eq!(d.buckets, [(idx(1 << 30), 1)]);

        let mut m = prev.clone();
        m.merge(&d);
        m.merge(&cur);
        let want = hist(&[(1_000, 8), (50, 2), (1 << 20, 4), (1 << 30, 1)]);
        assert_eq!(m.buckets, want.buckets);
        assert_eq!(m.count, prev.count + d.count + cur.count);
        assert_eq!(m.sum_ns, prev.sum_ns + d.sum_ns + cur.sum_ns);
        let mut empty = Histogram::default();
        empty.merge(&m);
        assert_eq!(empty, m);
    }

    #[test]
    fn quantiles() {
        assert_eq!(Histogram::default().quantile_ns(0.5), None);
        let one = hist(&[(1_000, 1)]);
        for q in [0.0, 0.5, 1.0, -3.0, 7.0, f64::NAN] {
            assert_eq!(one.quantile_ns(q), Some(1_024), "q = {q}");
        }
        // 90 samples at 200 ns, 9 at 10 µs, 1 in overflow.
        let h = hist(&[(200, 90), (10_000, 9), (u64::MAX, 1)]);
        let qs = [0.0, 0.5, 0.9, 0.91, 0.99, 0.995, 1.0];
        let (a, b) = (208, 10_240);
        for (q, want) in qs.into_iter().zip([a, a, a, b, b, O, O]) {
            assert_eq!(h.quantile_ns(q), Some(want), "q = {q}");
        }
    }

    #[test]
    fn count_below_boundaries() {
        assert_eq!(Histogram::default().count_below(MIN_NS), Some(0));
        let mut h = Histogram::default();
        for i in 0..BUCKETS {
            h.record_n(bucket_lower_ns(i), i as u64 + 1);
        }
        for i in 0..BUCKETS - 1 {
            let below = h.count_below(bucket_upper_ns(i).unwrap());
            let n = i as u64 + 1;
            assert_eq!(below, Some(n * (n + 1) / 2), "i = {i}");
        }
        for ns in [0, 1, 127, 129, 1_000, O - 1, O + 1, u64::MAX] {
            assert_eq!(h.count_below(ns), None, "ns = {ns}");
        }
    }

    #[test]
    fn serde_and_layout() {
        let h = hist(&[(300, 2), (O, 1)]);
        let json = serde_json::to_string(&h).unwrap();
        let want = r#"{"count":3,"sum_ns":137438954072,"buckets":[[10,2],[241,1]]}"#;
        assert_eq!(json, want);
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), h);
        let l = Layout::current();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Layout>(&json).unwrap(), l);
        assert_eq!((l.sub_buckets_per_octave, l.min_ns), (8, MIN_NS));
        assert_eq!(l.overflow_ns, O);
        assert_eq!(l.upper_bounds_ns.len(), BUCKETS - 1);
        for (i, &u) in l.upper_bounds_ns.iter().enumerate() {
            assert_eq!(Some(u), bucket_upper_ns(i));
        }
    }

    #[test]
    fn layout_file_is_current() {
        let mut text = String::from(
            "# index lower_ns upper_ns upper_seconds; generated by the test `layout_file_is_current`, do not edit.\n\
             # Regenerate: RINGLINE_BLESS=1 cargo test -p ringline-schema --lib layout_file_is_current\n",
        );
        for i in 0..BUCKETS {
            let lo = bucket_lower_ns(i);
            text += &match bucket_upper_ns(i) {
                // Integer formatting keeps the seconds exact and platform-independent.
                Some(hi) => format!("{i} {lo} {hi} {}.{:09}\n", hi / 1e9 as u64, hi % 1e9 as u64),
                None => format!("{i} {lo} +Inf +Inf\n"),
            };
        }
        if std::env::var_os("RINGLINE_BLESS").is_some_and(|v| v == "1") {
            return std::fs::write(LAYOUT_PATH, &text).unwrap();
        }
        let stale = text != include_str!("histogram_layout.txt");
        assert!(!stale, "{LAYOUT_PATH} is stale; see its header");
    }
}
