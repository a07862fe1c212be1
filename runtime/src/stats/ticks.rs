//! A cheap timestamp for per-poll times: the CPU's time-stamp counter on
//! x86-64 (constant-rate and synchronized across cores on every CPU of
//! the last decade), the stats clock elsewhere. A poll reads it twice, so
//! it has to cost a few cycles, not a clock call.
//!
//! Ticks become nanoseconds only when read ([`Scale`]): the rate is
//! measured between the moment [`init`] ran (at launch) and the reading,
//! against the stats clock, so it needs no calibration pause and grows
//! more exact the longer the process runs.

use std::sync::OnceLock;

use super::clock;

/// The counter now.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn now() -> u64 {
    // SAFETY: `rdtsc` exists on every x86-64 CPU and has no preconditions;
    // it only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The counter now: the stats clock, in nanoseconds.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn now() -> u64 {
    clock::now_ns()
}

/// The reference point: the stats clock and the counter read together.
static BASE: OnceLock<(u64, u64)> = OnceLock::new();

/// Takes the reference point (once per process; launch calls it).
pub(crate) fn init() {
    BASE.get_or_init(|| (clock::now_ns(), now()));
}

/// Turns ticks into stats-clock nanoseconds, for one reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    now_ns: u64,
    now_ticks: u64,
    ns_per_tick: f64,
}

impl Scale {
    /// The scale as of now.
    pub(crate) fn now() -> Scale {
        let now_ns = clock::now_ns();
        let now_ticks = now();
        let ns_per_tick = match BASE.get() {
            Some(&(ns, ticks)) if now_ticks > ticks && now_ns > ns => {
                (now_ns - ns) as f64 / (now_ticks - ticks) as f64
            }
            _ => 1.0,
        };
        Scale {
            now_ns,
            now_ticks,
            ns_per_tick,
        }
    }

    /// A span of `ticks` in nanoseconds.
    pub(crate) fn ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    /// Nanoseconds since the counter read `at` (0 for a later reading).
    pub(crate) fn ns_since(&self, at: u64) -> u64 {
        self.ns(self.now_ticks.saturating_sub(at))
    }

    /// The stats-clock time of this reading.
    pub(crate) fn now_ns(&self) -> u64 {
        self.now_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ticks_advance_and_scale_to_about_the_clock() {
        init();
        let a = now();
        std::thread::sleep(Duration::from_millis(20));
        let scale = Scale::now();
        let waited = scale.ns_since(a);
        assert!(
            (15_000_000..2_000_000_000).contains(&waited),
            "20 ms read as {waited} ns"
        );
        assert_eq!(
            scale.ns_since(u64::MAX),
            0,
            "a later reading is no time ago"
        );
    }
}
