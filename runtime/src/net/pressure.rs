//! What a connection may hold on to, and for how long: receive
//! backpressure (unconsumed bytes, per connection and per worker) and the
//! linger deadline of a connection closed with bytes still queued.
//!
//! Both are plain bookkeeping over the connection table: the receive and
//! close paths (`recv.rs`, `ctx.rs`, `close.rs`) act on what they answer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::conn::Conn;
use crate::slab::{Key, Slab};

/// Unconsumed received bytes: a connection stops receiving at `limit` and
/// resumes at `resume` (half of it); the worker-wide figures are for the
/// stats.
pub(crate) struct RecvPressure {
    limit: usize,
    resume: usize,
    /// Connections paused now.
    pub(crate) paused: u64,
    /// Every connection's unconsumed bytes.
    pub(crate) buffered: u64,
    /// Times a connection was paused.
    pub(crate) pauses_total: u64,
}

impl RecvPressure {
    pub(crate) fn new(limit: usize) -> RecvPressure {
        RecvPressure {
            limit,
            resume: limit / 2,
            paused: 0,
            buffered: 0,
            pauses_total: 0,
        }
    }

    /// `conn` received `n` more bytes; true when it just reached the limit
    /// and must stop receiving.
    pub(crate) fn received(&mut self, conn: &mut Conn, n: usize) -> bool {
        conn.acc_counted += n;
        self.buffered += n as u64;
        if conn.recv_paused || conn.acc_counted < self.limit {
            return false;
        }
        conn.recv_paused = true;
        self.paused += 1;
        self.pauses_total += 1;
        true
    }

    /// `conn`'s handler ran and left what it did not consume; true when it was paused
    /// and has consumed enough to receive again.
    pub(crate) fn consumed(&mut self, conn: &mut Conn) -> bool {
        let len = conn.unconsumed();
        self.buffered = self.buffered - conn.acc_counted as u64 + len as u64;
        conn.acc_counted = len;
        if !conn.recv_paused || len > self.resume {
            return false;
        }
        conn.recv_paused = false;
        self.paused -= 1;
        true
    }

    /// `conn` left the table.
    pub(crate) fn released(&mut self, conn: &Conn) {
        self.buffered -= conn.acc_counted as u64;
        if conn.recv_paused {
            self.paused -= 1;
        }
    }
}

/// Closing connections with bytes still queued, with their deadlines,
/// oldest first: every deadline is its start plus the same timeout, so a
/// FIFO stays sorted. A connection that finishes in time leaves a stale
/// entry behind, skipped at its deadline or compacted away.
pub(crate) struct Linger {
    timeout: Duration,
    queue: VecDeque<(Instant, Key)>,
    /// Connections whose deadline is still pending (`Conn::lingering`).
    live: usize,
}

impl Linger {
    pub(crate) fn new(timeout: Duration) -> Linger {
        Linger {
            timeout,
            queue: VecDeque::new(),
            live: 0,
        }
    }

    /// Starts `conn`'s deadline at `now` (once); true when stale entries
    /// outnumber the live ones and [`compact`](Self::compact) is due.
    pub(crate) fn start(&mut self, conn: &mut Conn, key: Key, now: Instant) -> bool {
        if conn.lingering {
            return false;
        }
        conn.lingering = true;
        self.live += 1;
        self.queue.push_back((now + self.timeout, key));
        self.queue.len() > 64 && self.queue.len() > 2 * self.live
    }

    /// Drops the entries of connections no longer lingering, so the queue
    /// stays proportional to what really lingers (amortised O(1)).
    pub(crate) fn compact(&mut self, conns: &Slab<Conn>) {
        self.queue
            .retain(|(_, k)| conns.get(*k).is_some_and(|c| c.lingering));
    }

    /// `conn` sent everything in time.
    pub(crate) fn stop(&mut self, conn: &mut Conn) {
        if std::mem::take(&mut conn.lingering) {
            self.live -= 1;
        }
    }

    /// `conn` left the table.
    pub(crate) fn released(&mut self, conn: &Conn) {
        if conn.lingering {
            self.live -= 1;
        }
    }

    /// The next deadline, if any (possibly a stale one: one early wake).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _)| *at)
    }

    /// Moves the connections whose deadline passed at `now` and that still
    /// linger into `out`.
    pub(crate) fn expired(&mut self, now: Instant, conns: &Slab<Conn>, out: &mut Vec<Key>) {
        while let Some(&(at, key)) = self.queue.front() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            if conns.get(key).is_some_and(|c| c.lingering) {
                out.push(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SockKind;

    fn conn() -> Conn {
        Conn::new(-1, SockKind::Tcp, false, 0)
    }

    /// The handler leaves `left` bytes of what it was shown.
    fn consume_to(p: &mut RecvPressure, c: &mut Conn, left: usize) -> bool {
        c.acc.clear();
        c.acc.extend_from_slice(&vec![0; left]);
        p.consumed(c)
    }

    #[test]
    fn pauses_at_the_limit_and_resumes_at_half_of_it() {
        let mut p = RecvPressure::new(100);
        let mut c = conn();
        assert!(!p.received(&mut c, 99), "below the limit");
        assert!(p.received(&mut c, 1), "at the limit");
        assert!(!p.received(&mut c, 30), "already paused: no second pause");
        assert_eq!((p.paused, p.buffered, p.pauses_total), (1, 130, 1));
        assert!(!consume_to(&mut p, &mut c, 51), "above half: still paused");
        assert_eq!(p.buffered, 51);
        assert!(consume_to(&mut p, &mut c, 50), "half: resume");
        assert_eq!((p.paused, p.buffered), (0, 50));
        assert!(
            !consume_to(&mut p, &mut c, 0),
            "not paused: nothing to resume"
        );
        assert_eq!(p.buffered, 0);
    }

    #[test]
    fn a_released_connection_takes_its_share_with_it() {
        let mut p = RecvPressure::new(10);
        let (mut a, mut b) = (conn(), conn());
        assert!(p.received(&mut a, 12));
        assert!(!p.received(&mut b, 3));
        p.released(&a);
        assert_eq!((p.paused, p.buffered, p.pauses_total), (0, 3, 1));
        p.released(&b);
        assert_eq!(p.buffered, 0);
    }

    #[test]
    fn linger_yields_only_connections_still_lingering_and_compacts_stale_entries() {
        let mut conns: Slab<Conn> = Slab::with_capacity(256);
        let mut l = Linger::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let keys: Vec<Key> = (0..100)
            .map(|_| conns.insert(conn()).ok().unwrap())
            .collect();
        let mut compact_due = false;
        for (i, &k) in keys.iter().enumerate() {
            let at = t0 + Duration::from_millis(i as u64);
            compact_due |= l.start(conns.get_mut(k).unwrap(), k, at);
            assert!(!l.start(conns.get_mut(k).unwrap(), k, at), "started once");
        }
        assert!(!compact_due, "every entry is live");
        // All but the last 10 finish in time.
        for &k in &keys[..90] {
            l.stop(conns.get_mut(k).unwrap());
        }
        // A new start with 90 stale entries queued asks for compaction.
        let k = conns.insert(conn()).ok().unwrap();
        assert!(l.start(
            conns.get_mut(k).unwrap(),
            k,
            t0 + Duration::from_millis(100)
        ));
        l.compact(&conns);
        assert_eq!(l.queue.len(), 11, "the 10 still lingering plus the new one");
        assert_eq!(l.next_deadline(), Some(t0 + Duration::from_millis(1090)));
        let mut out = Vec::new();
        l.expired(t0 + Duration::from_millis(1094), &conns, &mut out);
        assert_eq!(out, keys[90..95], "due ones only, in deadline order");
        // One that finished in time between compactions is skipped.
        l.stop(conns.get_mut(keys[95]).unwrap());
        out.clear();
        l.expired(t0 + Duration::from_millis(1096), &conns, &mut out);
        assert_eq!(out, keys[96..97]);
        l.released(conns.get(keys[99]).unwrap());
        assert_eq!(l.live, 9, "11 lingered, 1 stopped, 1 released");
    }
}
