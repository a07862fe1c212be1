//! Seqlock records: one writer thread publishes a few words, any thread reads a consistent copy.
//!
//! This is the lock-free core of the op registry. A worker mirrors each in-flight op into a
//! [`SeqRecord`]; an inspector or exporter thread reads it without locks and without ever making
//! the worker wait (the writer never spins, never does a read-modify-write, and a reader that
//! races a write simply retries). The protocol is the fence-based seqlock from Boehm, "Can
//! seqlocks get along with programming language memory models?" (MSPC 2012):
//!
//! ```text
//!   writer (one thread per record)           reader (any thread, never blocks the writer)
//!   ------------------------------           --------------------------------------------
//!   s = seq.load(Relaxed)                    s1 = seq.load(Acquire)          <--[B]
//!   seq.store(s+1, Relaxed)   odd: busy      s1 odd? retry
//!   fence(Release)            [A]-->         w[i] = words[i].load(Relaxed)
//!   words[i].store(.., Relaxed)              fence(Acquire)                  <--[A]
//!   seq.store(s+2, Release)   [B]-->         s2 = seq.load(Relaxed)
//!                             even: stable   s1 == s2 ? Some(w) : retry (at most max_tries)
//!
//!   [A] fence-fence sync: if any word the reader loaded was stored after the writer's release
//!       fence, the odd store s+1 happens-before the s2 load, so s2 != s1 and the reader retries.
//!   [B] release/acquire on seq: if s1 is the even value s+2, every word of that write (and of
//!       earlier ones) happens-before the reader's loads, so the copy is not older than s1.
//! ```

// Loom only in loom *test* builds: it is a dev-dependency, so a non-test build with
// `--cfg ringline_loom` (e.g. `clippy --all-targets`) must keep std atomics.
#[cfg(all(test, ringline_loom))]
use loom::{
    hint::spin_loop,
    sync::atomic::{AtomicU64, Ordering, fence},
};
#[cfg(not(all(test, ringline_loom)))]
use std::{
    hint::spin_loop,
    sync::atomic::{AtomicU64, Ordering, fence},
};

/// A sequence counter plus `N` data words, written by one thread and read by many.
///
/// `seq` is even while the words are stable and odd while a write is in progress; it grows by 2
/// per publish.
///
/// Aligned to a cache line so a record of up to 7 words never straddles two (the op registry's
/// records are exactly one line).
#[repr(C, align(64))]
pub(crate) struct SeqRecord<const N: usize> {
    seq: AtomicU64,
    words: [AtomicU64; N],
}

impl<const N: usize> SeqRecord<N> {
    /// A record with all words zero and `seq == 0` (even, i.e. stable): a reader sees `[0; N]`.
    // Tables come from `zeroed_table`; outside tests nothing may need a lone record.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Writer: publish `words`.
    ///
    /// Contract: exactly one thread ever writes a given record (`write` and `write_word`); the
    /// protocol relies on it, since `seq` is advanced with plain loads and stores instead of
    /// read-modify-write instructions to keep the hot path cheap. Two writers would corrupt
    /// `seq` (caught in debug builds when it is seen odd on entry).
    #[inline]
    pub(crate) fn write(&self, words: &[u64; N]) {
        // Relaxed is enough: we are the only thread that stores to `seq`.
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "SeqRecord written by two threads (seq {s} odd)");
        // Wrapping only matters after 2^63 writes; it keeps the parity right regardless.
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // [A]: a reader that sees any word below also sees the odd value above.
        fence(Ordering::Release);
        for (slot, &w) in self.words.iter().zip(words) {
            slot.store(w, Ordering::Relaxed);
        }
        // [B]: a reader that acquires this even value sees all the words above.
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Writer: publish `value` as word `i`, the others unchanged (3 stores instead of a whole
    /// record's). Same single-writer contract as `write`.
    #[inline]
    pub(crate) fn write_word(&self, i: usize, value: u64) {
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "SeqRecord written by two threads (seq {s} odd)");
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // [A] and [B] as in `write`.
        fence(Ordering::Release);
        self.words[i].store(value, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Writer: publish the words `(i, value)` of `updates`, the others
    /// unchanged (one publish for several words). Same single-writer
    /// contract as `write`. Panics if an index is `>= N`.
    #[inline]
    pub(crate) fn write_words<const K: usize>(&self, updates: [(usize, u64); K]) {
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "SeqRecord written by two threads (seq {s} odd)");
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // [A] and [B] as in `write`.
        fence(Ordering::Release);
        for (i, value) in updates {
            self.words[i].store(value, Ordering::Relaxed);
        }
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Writer only: word `i` as this thread last wrote it. Relaxed is exact here because the
    /// caller is the only thread that stores to the record. Panics if `i >= N`.
    #[inline]
    pub(crate) fn writer_word(&self, i: usize) -> u64 {
        self.words[i].load(Ordering::Relaxed)
    }

    /// Reader: a consistent copy of the words, trying up to `max_tries` times while a write is
    /// in progress or the sequence changed during the copy. `None` if no try got a stable read
    /// (the writer is writing constantly), or if `max_tries == 0`. Never blocks the writer.
    pub(crate) fn read(&self, max_tries: u32) -> Option<[u64; N]> {
        for attempt in 0..max_tries {
            if attempt > 0 {
                spin_loop();
            }
            // [B]: the words of the write that produced `s1` are visible below.
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                continue; // Write in progress: the words may be half old, half new.
            }
            let copy: [u64; N] = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
            // [A]: keeps the word loads before the `s2` load, and if one saw a newer write,
            // `s2` sees at least that write's odd value.
            fence(Ordering::Acquire);
            let s2 = self.seq.load(Ordering::Relaxed);
            if s1 == s2 {
                return Some(copy);
            }
        }
        None
    }

    /// Test-only: pretend a write is stuck in progress (odd `seq`) or finish it (even).
    #[cfg(all(test, not(ringline_loom)))]
    fn set_seq(&self, s: u64) {
        self.seq.store(s, Ordering::Release);
    }
}

/// `n` zeroed records in one allocation from [`std::alloc::alloc_zeroed`].
///
/// The registry keeps ~100k slots per worker; zeroed pages come straight from the OS and cost no
/// resident memory until a slot is touched, whereas building each record with `new()` would
/// write (and so commit) every page up front. An all-zero record is exactly `new()`.
///
/// `n == 0` allocates nothing. Panics with a clear message if `n` records overflow the address
/// space (a caller bug, like `Vec`'s "capacity overflow", so not worth an error path); calls
/// [`std::alloc::handle_alloc_error`] if the allocator fails.
#[cfg(not(all(test, ringline_loom)))]
pub(crate) fn zeroed_table<const N: usize>(n: usize) -> Box<[SeqRecord<N>]> {
    use std::alloc::{Layout, alloc_zeroed, handle_alloc_error};
    if n == 0 {
        return Vec::new().into_boxed_slice();
    }
    let layout = Layout::array::<SeqRecord<N>>(n).unwrap_or_else(|_| {
        panic!("zeroed_table: {n} records of {N} words overflow the address space")
    });
    // SAFETY: `alloc_zeroed` only requires a non-zero size: `n > 0` and a record always holds
    // at least `seq`.
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<SeqRecord<N>>();
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY:
    // - Validity: `SeqRecord<N>` consists only of `AtomicU64`s, which have the same in-memory
    //   representation as `u64`; all-zero bytes are a valid `AtomicU64` (value 0), so each of
    //   the `n` records is initialized (and equals `SeqRecord::new()`).
    // - Ownership and deallocation: `ptr` is a fresh allocation of `Layout::array::<T>(n)`,
    //   which is `Layout::for_value` of a `[T]` of length `n` (size `n * size_of::<T>()`, align
    //   `align_of::<T>()`), the layout `Box<[T]>` deallocates with through the global allocator
    //   `alloc_zeroed` used. Nothing else holds `ptr`.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }
}

/// Loom test builds: loom's atomics are handles into its model, not plain memory, so zeroed
/// bytes are not valid ones; build each record instead (only callable inside `loom::model`).
#[cfg(all(test, ringline_loom))]
pub(crate) fn zeroed_table<const N: usize>(n: usize) -> Box<[SeqRecord<N>]> {
    (0..n).map(|_| SeqRecord::new()).collect()
}

#[cfg(all(test, not(ringline_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn write_word_publishes_one_word_and_keeps_the_rest() {
        let r = SeqRecord::<3>::new();
        r.write(&[1, 2, 3]);
        r.write_word(1, 9);
        assert_eq!(r.read(1), Some([1, 9, 3]));
        assert_eq!(r.seq.load(Ordering::Relaxed), 4, "one publish: seq + 2");
        assert_eq!(std::mem::size_of::<SeqRecord<7>>(), 64, "one cache line");
        assert_eq!(std::mem::align_of::<SeqRecord<3>>(), 64);
    }

    #[test]
    fn write_words_publishes_those_words_once() {
        let r = SeqRecord::<4>::new();
        r.write(&[1, 2, 3, 4]);
        r.write_words([(3, 40), (0, 10)]);
        assert_eq!(r.read(1), Some([10, 2, 3, 40]));
        assert_eq!(r.seq.load(Ordering::Relaxed), 4, "one publish: seq + 2");
    }

    #[test]
    fn write_then_read_and_writer_word() {
        let r = SeqRecord::<3>::new();
        assert_eq!(r.read(1), Some([0; 3]));
        r.write(&[1, 2, 3]);
        assert_eq!(r.read(1), Some([1, 2, 3]));
        assert_eq!([0, 1, 2].map(|i| r.writer_word(i)), [1, 2, 3]);
        assert_eq!(r.seq.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn read_during_write_gives_up() {
        let r = SeqRecord::<2>::new();
        r.write(&[7, 8]);
        r.set_seq(3); // as if the writer stopped between its odd store and its even store
        assert_eq!(r.read(5), None);
        r.set_seq(4);
        assert_eq!(r.read(1), Some([7, 8]));
        assert_eq!(r.read(0), None, "zero tries never reads");
    }

    #[test]
    fn zeroed_table_empty_and_large() {
        assert!(zeroed_table::<4>(0).is_empty());
        let t = zeroed_table::<4>(100_000);
        assert_eq!(t.len(), 100_000);
        assert!(t.iter().all(|r| r.read(1) == Some([0; 4])));
        t[99_999].write(&[1, 2, 3, 4]);
        assert_eq!(t[99_999].read(1), Some([1, 2, 3, 4]));
    }

    #[test]
    #[should_panic(expected = "overflow the address space")]
    fn zeroed_table_overflow_panics() {
        let _ = zeroed_table::<4>(usize::MAX / 8);
    }

    #[test]
    fn stress_readers_never_see_a_torn_record() {
        const WRITES: u64 = 200_000;
        let pattern = |k: u64| [k, k.wrapping_mul(3), !k];
        let rec = Arc::new(SeqRecord::<3>::new());
        rec.write(&pattern(0)); // all-zero is not of the pattern: publish k = 0 before reading
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (rec, done) = (rec.clone(), done.clone());
                std::thread::spawn(move || {
                    let (mut last, mut reads) = (0, 0u64);
                    while !done.load(Ordering::Acquire) {
                        if let Some([k, k3, not_k]) = rec.read(16) {
                            assert_eq!((k3, not_k), (k.wrapping_mul(3), !k), "torn: k={k}");
                            assert!(k >= last, "went back in time: {k} < {last}");
                            (last, reads) = (k, reads + 1);
                        }
                    }
                    reads
                })
            })
            .collect();
        for k in 1..WRITES {
            rec.write(&pattern(k));
        }
        done.store(true, Ordering::Release);
        let reads: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(reads > 0, "readers never got a stable read");
        assert_eq!(rec.read(1), Some(pattern(WRITES - 1)));
    }
}

#[cfg(all(test, ringline_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Small bound so the module checks in seconds (unbounded takes ~1 min); the
    /// `LOOM_MAX_PREEMPTIONS` env var wins when set. The broken variants fail from bound 1.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = b.preemption_bound.or(Some(5));
        b.check(f);
    }

    /// One writer publishes `[1; 3]` then `[2; 3]` (`write(rec, k)` publishes `[k; 3]`) while this
    /// thread reads once with `read`: any copy it gets must be one whole publish.
    fn check<W, R>(write: W, read: R)
    where
        W: Fn(&SeqRecord<3>, u64) + Copy + Send + Sync + 'static,
        R: Fn(&SeqRecord<3>) -> Option<[u64; 3]> + Copy + Send + Sync + 'static,
    {
        model(move || {
            let rec = Arc::new(SeqRecord::<3>::new());
            let w = rec.clone();
            let writer = thread::spawn(move || (1..=2).for_each(|k| write(&w, k)));
            if let Some(v) = read(&rec) {
                assert!(v.iter().all(|&x| x == v[0]) && v[0] <= 2, "torn read {v:?}");
            }
            writer.join().unwrap();
            assert_eq!(read(&rec), Some([2; 3]), "last write lost after join");
        });
    }

    #[test]
    fn seqlock_write_never_torn() {
        check(|r, k| r.write(&[k; 3]), |r| r.read(3));
    }

    #[test]
    fn seqlock_write_word_publishes_in_order() {
        // Word 1 then word 0: a reader that sees the second publish must
        // see the first too ([9, 0, 0] would be out of order).
        model(|| {
            let rec = Arc::new(SeqRecord::<3>::new());
            let w = rec.clone();
            let writer = thread::spawn(move || {
                w.write_word(1, 7);
                w.write_word(0, 9);
            });
            if let Some(v) = rec.read(3) {
                assert!(
                    [[0, 0, 0], [0, 7, 0], [9, 7, 0]].contains(&v),
                    "torn read {v:?}"
                );
            }
            writer.join().unwrap();
            assert_eq!(rec.read(3), Some([9, 7, 0]), "last write lost after join");
        });
    }

    /// Which ordering a deliberately broken copy of the protocol weakens to `Relaxed`.
    #[derive(Clone, Copy, PartialEq)]
    enum Weaken {
        Everything,
        WriterFence,
        WriterRelease,
        ReaderAcquire,
        ReaderFence,
    }

    /// `write`/`read` as above, minus `weak`; proves the model check can fail and that each
    /// ordering of the protocol is needed.
    fn broken(weak: Weaken) {
        let keep = move |w: Weaken| weak != Weaken::Everything && weak != w;
        let order = move |w, strong| if keep(w) { strong } else { Ordering::Relaxed };
        let write = move |r: &SeqRecord<3>, k| {
            let s = r.seq.load(Ordering::Relaxed);
            r.seq.store(s + 1, Ordering::Relaxed);
            if keep(Weaken::WriterFence) {
                fence(Ordering::Release);
            }
            r.words.iter().for_each(|w| w.store(k, Ordering::Relaxed));
            let end = order(Weaken::WriterRelease, Ordering::Release);
            r.seq.store(s + 2, end);
        };
        let read = move |r: &SeqRecord<3>| {
            for _ in 0..3 {
                let s1 = r.seq.load(order(Weaken::ReaderAcquire, Ordering::Acquire));
                let copy: [u64; 3] = std::array::from_fn(|i| r.words[i].load(Ordering::Relaxed));
                if keep(Weaken::ReaderFence) {
                    fence(Ordering::Acquire);
                }
                if s1 & 1 == 0 && s1 == r.seq.load(Ordering::Relaxed) {
                    return Some(copy);
                }
            }
            None
        };
        check(write, read);
    }

    #[test]
    #[should_panic(expected = "torn read")]
    fn seqlock_broken_all_relaxed_is_caught() {
        broken(Weaken::Everything);
    }

    #[test]
    #[should_panic(expected = "torn read")]
    fn seqlock_broken_no_writer_fence_is_caught() {
        broken(Weaken::WriterFence);
    }

    #[test]
    #[should_panic(expected = "torn read")]
    fn seqlock_broken_no_writer_release_is_caught() {
        broken(Weaken::WriterRelease);
    }

    #[test]
    #[should_panic(expected = "torn read")]
    fn seqlock_broken_no_reader_acquire_is_caught() {
        broken(Weaken::ReaderAcquire);
    }

    #[test]
    #[should_panic(expected = "torn read")]
    fn seqlock_broken_no_reader_fence_is_caught() {
        broken(Weaken::ReaderFence);
    }
}
