//! The arithmetic of the open loop, kept pure so it can be tested without
//! sockets: when each request is *meant* to go out, and which request a
//! run of echoed bytes completes.
//!
//! Latency is measured from a request's intended send time, not from when
//! the client got around to writing it: if the server stalls, requests
//! that were due meanwhile are charged the stall instead of silently not
//! being sent (coordinated omission). Times are nanoseconds since the
//! client thread's start.

use std::collections::VecDeque;

/// Intended send times at a fixed rate: request `k` is due at
/// `k / rate` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    interval_ns: f64,
}

impl Schedule {
    /// `rate` requests per second (positive and finite).
    pub fn new(rate: f64) -> Schedule {
        assert!(rate.is_finite() && rate > 0.0, "rate must be positive");
        Schedule {
            interval_ns: 1e9 / rate,
        }
    }

    /// When request `k` is due. Computed from `k` rather than accumulated,
    /// so rounding never drifts the rate.
    pub fn due_ns(&self, k: u64) -> u64 {
        (k as f64 * self.interval_ns) as u64
    }
}

/// One request on the wire: when it was meant to go out, and whether it
/// counts (it was issued inside the measured window and not yet charged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outstanding {
    due_ns: u64,
    counted: bool,
}

/// The requests in flight on one connection, oldest first. An echo server
/// returns bytes in order, so every `message_size` bytes received complete
/// the oldest request.
#[derive(Debug)]
pub struct InFlight {
    message_size: usize,
    /// Bytes of the oldest request's echo received so far.
    partial: usize,
    queue: VecDeque<Outstanding>,
}

impl InFlight {
    /// Tracks requests of `message_size` bytes (at least 1).
    pub fn new(message_size: usize) -> InFlight {
        InFlight {
            message_size: message_size.max(1),
            partial: 0,
            queue: VecDeque::new(),
        }
    }

    /// A request due at `due_ns` was queued for sending; `counted` when it
    /// belongs to the measured window.
    pub fn issue(&mut self, due_ns: u64, counted: bool) {
        self.queue.push_back(Outstanding { due_ns, counted });
    }

    /// Requests issued and not yet completed.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// `bytes` more echoed bytes arrived at `now_ns`: calls `done` with the
    /// latency (from the intended send time) of every counted request they
    /// complete. Bytes beyond what was sent are ignored (a broken server).
    pub fn received(&mut self, bytes: usize, now_ns: u64, mut done: impl FnMut(u64)) {
        self.partial += bytes;
        while self.partial >= self.message_size {
            let Some(req) = self.queue.pop_front() else {
                self.partial = 0;
                return;
            };
            self.partial -= self.message_size;
            if req.counted {
                done(now_ns.saturating_sub(req.due_ns));
            }
        }
    }

    /// The measured window closed at `now_ns`: charges every counted
    /// request still in flight its latency so far (a lower bound; a stalled
    /// server must not vanish from the tail) and stops counting it. Returns
    /// how many there were.
    pub fn close_window(&mut self, now_ns: u64, mut charge: impl FnMut(u64)) -> u64 {
        let mut n = 0;
        for req in self.queue.iter_mut().filter(|r| r.counted) {
            charge(now_ns.saturating_sub(req.due_ns));
            req.counted = false;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn schedule_is_exact_and_does_not_drift() {
        let s = Schedule::new(3.0);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(1), 333_333_333);
        assert_eq!(s.due_ns(3), 1_000_000_000);
        // A million steps at 300k/s end where they should, to the ns.
        let fast = Schedule::new(300_000.0);
        assert_eq!(fast.due_ns(300_000 * 10), 10_000_000_000);
    }

    /// The server stalls for 10 ms while one request per millisecond is
    /// due; all echoes arrive together at 10 ms. Measured from the
    /// intended send times the latencies are 10, 9, …, 1 ms, not ten
    /// near-zero samples.
    #[test]
    fn a_stall_is_charged_to_every_request_due_during_it() {
        let mut f = InFlight::new(64);
        for k in 0..10 {
            f.issue(k * MS, true);
        }
        let mut lat = Vec::new();
        f.received(64 * 10, 10 * MS, |ns| lat.push(ns / MS));
        assert_eq!(lat, vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert!(f.is_empty());
    }

    #[test]
    fn partial_echoes_complete_a_request_only_when_whole() {
        let mut f = InFlight::new(100);
        f.issue(0, true);
        f.issue(5, true);
        let mut lat = Vec::new();
        f.received(60, 10, |ns| lat.push(ns));
        assert!(lat.is_empty());
        f.received(60, 20, |ns| lat.push(ns)); // 120: first done, 20 of the second
        assert_eq!(lat, vec![20]);
        f.received(80, 35, |ns| lat.push(ns));
        assert_eq!(lat, vec![20, 30]);
        assert_eq!(f.len(), 0);
        // Stray bytes with nothing in flight are dropped, not carried over.
        f.received(500, 40, |ns| lat.push(ns));
        f.issue(40, true);
        f.received(99, 41, |ns| lat.push(ns));
        assert_eq!(lat, vec![20, 30]);
    }

    #[test]
    fn closing_the_window_charges_the_stuck_and_skips_the_uncounted() {
        let mut f = InFlight::new(8);
        f.issue(0, false); // warm-up request
        f.issue(2 * MS, true);
        f.issue(3 * MS, true);
        let mut lat = Vec::new();
        assert_eq!(f.close_window(10 * MS, |ns| lat.push(ns / MS)), 2);
        assert_eq!(lat, vec![8, 7]);
        // Their echoes arrive later: not recorded a second time.
        f.received(24, 50 * MS, |ns| lat.push(ns / MS));
        assert_eq!(lat, vec![8, 7]);
        assert!(f.is_empty());
    }
}
