//! A worker's life, as one state machine owned by its driver.
//!
//! ```text
//!  Running ──shutdown requested──► Draining ──drain deadline──► Forcing
//!                                     │  (cancel everything)      │
//!                          work done: │                           │ work done
//!                                     ▼                           ▼
//!                                 Quiescing (the wake read is being cancelled)
//!                                     │ wake read ended
//!                                     ▼
//!                                   Done
//!
//!  Forcing or Quiescing, grace after the forced cancel ran out ──► Abandoned
//! ```
//!
//! "Work done" is the worker's verdict (no connection, no kernel op but
//! the wake read, no pool job it must still count); everything else —
//! when to cancel, when to give up, whether the wake read may be re-armed,
//! whether memory must be leaked at drop — is decided here, and nowhere
//! else flips it.

use std::time::{Duration, Instant};

/// Extra time, after the drain timeout, that a forced cancellation gets
/// before the worker gives up and leaks what the kernel may still hold.
pub(crate) const FORCED_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Where a worker is in its life; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving: accepting, spawning, re-arming.
    Running,
    /// Shutdown was requested: tasks are gone, in-flight ops finish or
    /// are cancelled one by one.
    Draining,
    /// The drain deadline passed: every op on the ring was cancelled.
    Forcing,
    /// Nothing is left but the wake read, which is being cancelled.
    Quiescing,
    /// Shut down cleanly: nothing in flight.
    Done,
    /// Gave up on ops the kernel never finished: their memory is leaked,
    /// never freed.
    Abandoned,
}

/// What the worker's loop does after a [`Lifecycle::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep turning.
    Continue,
    /// Cancel the wake read (the last op in flight).
    CancelWake,
    /// Cancel every op on the ring.
    CancelEverything,
    /// Give up: report and leak what is in flight, then leave the loop.
    Abandon,
    /// Leave the loop: shut down cleanly.
    Exit,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: Phase,
    /// When draining turns into forcing.
    drain_deadline: Option<Instant>,
    /// When everything was cancelled; the grace runs from here.
    forced_at: Option<Instant>,
    /// How long a forced cancellation may take before giving up.
    grace: Duration,
    /// A read is armed on the wake fd.
    wake_armed: bool,
    /// Kernel ops in flight when the worker gave up (leaked, not freed).
    abandoned_ops: u64,
}

impl Lifecycle {
    /// A running worker whose forced cancellations get `grace` to finish.
    pub(crate) fn new(grace: Duration) -> Lifecycle {
        Lifecycle {
            phase: Phase::Running,
            drain_deadline: None,
            forced_at: None,
            grace,
            wake_armed: false,
            abandoned_ops: 0,
        }
    }

    /// The current phase.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// True while serving (no shutdown has begun).
    #[inline]
    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// True once shutdown gave up on in-flight ops: their memory must
    /// never be freed.
    pub(crate) fn leaks(&self) -> bool {
        self.phase == Phase::Abandoned
    }

    /// Records how many kernel ops were in flight when the worker gave up
    /// (after [`Step::Abandon`]).
    pub(crate) fn record_abandoned(&mut self, ops: u64) {
        self.abandoned_ops = ops;
    }

    /// Kernel ops the worker gave up on (0 unless abandoned).
    pub(crate) fn abandoned_ops(&self) -> u64 {
        self.abandoned_ops
    }

    /// True when the drain deadline has passed at `now`.
    pub(crate) fn deadline_passed(&self, now: Instant) -> bool {
        self.drain_deadline.is_some_and(|d| now >= d)
    }

    /// Running → Draining: shutdown was requested at `now`; ops get
    /// `timeout` to finish before they are cancelled. Returns false (and
    /// changes nothing) when shutdown had already begun.
    pub(crate) fn begin_drain(&mut self, now: Instant, timeout: Duration) -> bool {
        if self.phase != Phase::Running {
            return false;
        }
        self.phase = Phase::Draining;
        self.drain_deadline = Some(now + timeout);
        true
    }

    /// One shutdown step at `now`, given whether the worker's own work is
    /// done. Does nothing while running or after the end.
    pub(crate) fn step(&mut self, now: Instant, work_done: bool) -> Step {
        match self.phase {
            Phase::Running => return Step::Continue,
            Phase::Done | Phase::Abandoned => return Step::Exit,
            Phase::Draining | Phase::Forcing | Phase::Quiescing => {}
        }
        if work_done {
            if !self.wake_armed {
                self.phase = Phase::Done;
                return Step::Exit;
            }
            if self.phase != Phase::Quiescing {
                self.phase = Phase::Quiescing;
                return Step::CancelWake;
            }
        }
        match self.forced_at {
            None if self.deadline_passed(now) => {
                self.forced_at = Some(now);
                if self.phase == Phase::Draining {
                    self.phase = Phase::Forcing;
                }
                Step::CancelEverything
            }
            Some(forced) if now >= forced + self.grace => {
                self.phase = Phase::Abandoned;
                Step::Abandon
            }
            _ => Step::Continue,
        }
    }

    /// True when a wake read should be armed now (none is, and the worker
    /// is not winding it down).
    pub(crate) fn wants_wake_read(&self) -> bool {
        !self.wake_armed
            && matches!(
                self.phase,
                Phase::Running | Phase::Draining | Phase::Forcing
            )
    }

    /// True while a wake read is armed.
    pub(crate) fn wake_armed(&self) -> bool {
        self.wake_armed
    }

    /// A wake read was submitted.
    pub(crate) fn wake_read_armed(&mut self) {
        self.wake_armed = true;
    }

    /// The wake read completed (or was cancelled).
    pub(crate) fn wake_read_ended(&mut self) {
        self.wake_armed = false;
    }

    /// The last-chance drain of a worker dropped mid-flight (a panic
    /// unwound out of its loop): from any phase, wind down without
    /// re-arming anything. Returns false when it already gave up.
    pub(crate) fn begin_drop_drain(&mut self) -> bool {
        if self.phase == Phase::Abandoned {
            return false;
        }
        if self.phase != Phase::Done {
            self.phase = Phase::Quiescing;
        }
        true
    }

    /// The end of a drop drain: `Done` when nothing is in flight any
    /// more, `Abandoned` (leak) otherwise.
    pub(crate) fn end_drop_drain(&mut self, drained: bool) {
        self.phase = if drained {
            Phase::Done
        } else {
            Phase::Abandoned
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(1);
    const DRAIN: Duration = Duration::from_millis(200);

    fn ms(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn running() -> (Lifecycle, Instant) {
        let mut l = Lifecycle::new(GRACE);
        assert!(l.wants_wake_read());
        l.wake_read_armed();
        (l, Instant::now())
    }

    #[test]
    fn running_ignores_steps_and_drains_once() {
        let (mut l, t) = running();
        assert_eq!(l.step(ms(t, 10_000), true), Step::Continue);
        assert!(l.is_running());
        assert!(l.begin_drain(t, DRAIN));
        assert!(
            !l.begin_drain(ms(t, 5), DRAIN),
            "only the first request counts"
        );
        assert_eq!(l.phase(), Phase::Draining);
        assert!(!l.deadline_passed(ms(t, 199)));
        assert!(l.deadline_passed(ms(t, 200)));
    }

    #[test]
    fn a_clean_drain_cancels_the_wake_read_then_exits() {
        let (mut l, t) = running();
        l.begin_drain(t, DRAIN);
        assert_eq!(l.step(ms(t, 1), false), Step::Continue);
        assert_eq!(l.step(ms(t, 2), true), Step::CancelWake);
        assert_eq!(l.phase(), Phase::Quiescing);
        assert!(!l.wants_wake_read(), "no re-arm while quiescing");
        assert_eq!(l.step(ms(t, 3), true), Step::Continue, "cancel once");
        l.wake_read_ended();
        assert!(!l.wants_wake_read());
        assert_eq!(l.step(ms(t, 4), true), Step::Exit);
        assert_eq!(l.phase(), Phase::Done);
        assert!(!l.leaks());
    }

    #[test]
    fn the_wake_read_is_re_armed_while_draining() {
        let (mut l, t) = running();
        l.begin_drain(t, DRAIN);
        l.wake_read_ended();
        assert!(l.wants_wake_read());
        l.wake_read_armed();
        assert!(!l.wants_wake_read(), "one read at a time");
    }

    #[test]
    fn the_deadline_forces_then_a_late_finish_still_exits_cleanly() {
        let (mut l, t) = running();
        l.begin_drain(t, DRAIN);
        assert_eq!(l.step(ms(t, 199), false), Step::Continue);
        assert_eq!(l.step(ms(t, 200), false), Step::CancelEverything);
        assert_eq!(l.phase(), Phase::Forcing);
        assert_eq!(l.step(ms(t, 300), false), Step::Continue, "force once");
        assert_eq!(l.step(ms(t, 400), true), Step::CancelWake);
        l.wake_read_ended();
        assert_eq!(l.step(ms(t, 401), true), Step::Exit);
        assert!(!l.leaks());
    }

    #[test]
    fn ops_the_kernel_never_finishes_are_abandoned_after_the_grace() {
        let (mut l, t) = running();
        l.begin_drain(t, DRAIN);
        assert_eq!(l.step(ms(t, 250), false), Step::CancelEverything);
        assert_eq!(l.step(ms(t, 1249), false), Step::Continue);
        assert_eq!(l.step(ms(t, 1250), false), Step::Abandon);
        assert!(l.leaks());
        assert!(!l.wants_wake_read());
        assert_eq!(l.step(ms(t, 1300), true), Step::Exit);
        assert!(l.leaks(), "giving up is final");
    }

    #[test]
    fn a_stuck_wake_cancel_is_forced_and_abandoned_too() {
        let (mut l, t) = running();
        l.begin_drain(t, DRAIN);
        assert_eq!(l.step(ms(t, 10), true), Step::CancelWake);
        assert_eq!(l.step(ms(t, 200), true), Step::CancelEverything);
        assert_eq!(l.phase(), Phase::Quiescing);
        assert_eq!(l.step(ms(t, 1200), true), Step::Abandon);
        assert!(l.leaks());
    }

    #[test]
    fn a_drop_drain_winds_down_and_records_its_verdict() {
        let (mut l, _) = running();
        assert!(l.begin_drop_drain());
        assert!(!l.wants_wake_read());
        l.end_drop_drain(false);
        assert!(l.leaks());
        assert!(!l.begin_drop_drain(), "already gave up");

        let (mut l, _) = running();
        assert!(l.begin_drop_drain());
        l.end_drop_drain(true);
        assert_eq!(l.phase(), Phase::Done);
        assert!(!l.leaks());
    }
}
