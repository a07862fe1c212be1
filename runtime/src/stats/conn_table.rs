//! The connection table: one seqlock record per connection slot of a
//! worker, mirroring what the connection holds (bytes in and out, bytes
//! buffered for its handler or queued to send, backpressure, ops in
//! flight, its task), readable from any thread while the worker runs or
//! is wedged.
//!
//! Written lazily: the net layer marks a connection dirty when its
//! figures change (a flag and, the first time, a push on a list) and the
//! worker writes the dirty records when it publishes its stats — at most
//! every `PUBLISH_INTERVAL_NS` on a busy loop, always before it may sleep.
//! So a record is at most one publish old, and the hot path pays no
//! seqlock write per op. A record is cleared at once when its connection
//! is released, so a reader never lists a connection that is gone for
//! longer than it takes to read the table.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::ConnectionInfo;
use super::seqlock::{SeqRecord, zeroed_table};

/// Record words: flags and ops in flight, opened at, bytes in, bytes out,
/// buffered, queued, task + 1: with the sequence word, one cache line.
const WORDS: usize = 7;

// Word 0 bit layout:
//   0       live (0: empty slot)
//   1       outbound
//   2       receive paused
//   3       closing
//  32..64   ops in flight
const LIVE: u64 = 1;
const OUTBOUND: u64 = 2;
const PAUSED: u64 = 4;
const CLOSING: u64 = 8;

/// How many times a reader retries a record the worker is rewriting.
const READ_TRIES: u32 = 8;

/// What one connection holds, as the net layer counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnFigures {
    /// Stats-clock time it was accepted or its connect started.
    pub(crate) opened_at_ns: u64,
    pub(crate) outbound: bool,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) buffered: u64,
    pub(crate) queued: u64,
    pub(crate) recv_paused: bool,
    pub(crate) closing: bool,
    pub(crate) ops_in_flight: u32,
    /// The serving task's stats id.
    pub(crate) task: Option<u64>,
}

impl ConnFigures {
    fn encode(&self) -> [u64; WORDS] {
        let flag = |on: bool, bit: u64| if on { bit } else { 0 };
        [
            LIVE | flag(self.outbound, OUTBOUND)
                | flag(self.recv_paused, PAUSED)
                | flag(self.closing, CLOSING)
                | (self.ops_in_flight as u64) << 32,
            self.opened_at_ns,
            self.bytes_in,
            self.bytes_out,
            self.buffered,
            self.queued,
            self.task.map_or(0, |t| t.wrapping_add(1)),
        ]
    }

    fn decode(w: &[u64; WORDS]) -> Option<ConnFigures> {
        (w[0] & LIVE != 0).then(|| ConnFigures {
            opened_at_ns: w[1],
            outbound: w[0] & OUTBOUND != 0,
            bytes_in: w[2],
            bytes_out: w[3],
            buffered: w[4],
            queued: w[5],
            recv_paused: w[0] & PAUSED != 0,
            closing: w[0] & CLOSING != 0,
            ops_in_flight: (w[0] >> 32) as u32,
            task: (w[6] != 0).then(|| w[6].wrapping_sub(1)),
        })
    }
}

/// See the module docs. Written by its worker only; read by anyone.
pub(crate) struct ConnTable {
    records: Box<[SeqRecord<WORDS>]>,
    /// One past the highest slot ever written: readers scan only that far
    /// (the table is sized for `max_connections`).
    used: AtomicUsize,
}

impl ConnTable {
    /// A table for connection slots `0..conns`, allocated zeroed (resident
    /// only where slots were used).
    pub(crate) fn new(conns: usize) -> ConnTable {
        ConnTable {
            records: zeroed_table(conns),
            used: AtomicUsize::new(0),
        }
    }

    /// Publishes slot `index`'s figures (worker only).
    pub(crate) fn write(&self, index: u32, figures: &ConnFigures) {
        let index = index as usize;
        let Some(record) = self.records.get(index) else {
            return;
        };
        record.write(&figures.encode());
        // Single writer: a plain load and store; Release so a reader that
        // sees the new bound also sees the record written above.
        if index >= self.used.load(Ordering::Relaxed) {
            self.used.store(index + 1, Ordering::Release);
        }
    }

    /// Clears slot `index`: its connection was released (worker only).
    pub(crate) fn clear(&self, index: u32) {
        if let Some(record) = self.records.get(index as usize)
            && record.writer_word(0) != 0
        {
            // An empty word 0 is enough: readers ignore the rest.
            record.write_word(0, 0);
        }
    }

    /// Every live record as `(slot, figures)`.
    pub(crate) fn read(&self, mut each: impl FnMut(u32, ConnFigures)) {
        let n = self.used.load(Ordering::Acquire).min(self.records.len());
        for (index, record) in self.records[..n].iter().enumerate() {
            if let Some(figures) = record
                .read(READ_TRIES)
                .and_then(|w| ConnFigures::decode(&w))
            {
                each(index as u32, figures);
            }
        }
    }
}

impl ConnFigures {
    /// The schema's view, with its age as of `now_ns`.
    pub(crate) fn info(
        &self,
        runtime: u64,
        worker: usize,
        index: u32,
        peer: Option<String>,
        now_ns: u64,
    ) -> ConnectionInfo {
        ConnectionInfo {
            runtime,
            worker,
            index,
            peer,
            outbound: self.outbound,
            age_ns: now_ns.saturating_sub(self.opened_at_ns),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            buffered_bytes: self.buffered,
            queued_bytes: self.queued,
            recv_paused: self.recv_paused,
            closing: self.closing,
            ops_in_flight: self.ops_in_flight,
            task: self.task,
            task_state: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(n: u64) -> ConnFigures {
        ConnFigures {
            opened_at_ns: 100,
            outbound: n.is_multiple_of(2),
            bytes_in: n,
            bytes_out: 2 * n,
            buffered: 3 * n,
            queued: 4 * n,
            recv_paused: true,
            closing: false,
            ops_in_flight: 3,
            task: Some(n << 40),
        }
    }

    fn all(t: &ConnTable) -> Vec<(u32, ConnFigures)> {
        let mut out = Vec::new();
        t.read(|i, f| out.push((i, f)));
        out
    }

    #[test]
    fn figures_round_trip_and_a_cleared_slot_is_gone() {
        let t = ConnTable::new(8);
        assert!(all(&t).is_empty());
        t.write(5, &figures(7));
        t.write(2, &figures(8));
        assert_eq!(all(&t), [(2, figures(8)), (5, figures(7))]);
        assert_eq!(
            t.used.load(Ordering::Relaxed),
            6,
            "scans up to the highest slot"
        );
        t.clear(5);
        t.clear(5);
        assert_eq!(all(&t), [(2, figures(8))]);
        let none = ConnFigures {
            task: None,
            ..ConnFigures::default()
        };
        t.write(2, &none);
        assert_eq!(all(&t), [(2, none)], "a live record with every figure zero");
        t.write(8, &figures(1));
        assert_eq!(t.used.load(Ordering::Relaxed), 6, "out of range: ignored");
    }

    #[test]
    fn info_ages_from_now() {
        let i = figures(1).info(3, 1, 4, Some("unix".into()), 1_100);
        assert_eq!((i.runtime, i.worker, i.index, i.age_ns), (3, 1, 4, 1_000));
        assert_eq!(i.task, Some(1 << 40));
        assert_eq!(i.peer.as_deref(), Some("unix"));
        assert_eq!((i.buffered_bytes, i.queued_bytes), (3, 4));
        assert!(i.recv_paused && !i.closing && i.ops_in_flight == 3);
    }
}
