//! The stats clock: nanoseconds since a process-wide epoch, so a time fits
//! in one `u64` atomic and every worker's times compare directly.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The process's stats epoch: a monotonic instant and the wall-clock time
/// read at (almost) the same moment, to turn one into the other.
struct Epoch {
    instant: Instant,
    unix_ns: u64,
}

fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| Epoch {
        instant: Instant::now(),
        unix_ns: unix_now_ns(),
    })
}

/// Monotonic nanoseconds since the epoch for `at` (0 for instants before
/// it). 2^64 ns is 584 years: no wrap to handle.
#[inline]
pub(crate) fn ns_at(at: Instant) -> u64 {
    at.saturating_duration_since(epoch().instant).as_nanos() as u64
}

/// Monotonic nanoseconds since the epoch, now (one clock read).
#[inline]
pub(crate) fn now_ns() -> u64 {
    ns_at(Instant::now())
}

/// Wall-clock nanoseconds since 1970 for a monotonic stats time.
pub(crate) fn unix_ns_at(ns: u64) -> u64 {
    epoch().unix_ns.saturating_add(ns)
}

/// Wall-clock nanoseconds since 1970, now.
pub(crate) fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn monotonic_and_convertible_to_wall_clock() {
        let a = now_ns();
        std::thread::sleep(Duration::from_millis(2));
        let b = now_ns();
        assert!(b >= a + 2_000_000, "{a} → {b}");
        let wall = unix_ns_at(b);
        let now = unix_now_ns();
        assert!(now.abs_diff(wall) < 1_000_000_000, "{wall} vs {now}");
    }
}
