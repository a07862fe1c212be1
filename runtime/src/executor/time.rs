//! Sleeping and timeouts on the worker's timer queue.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::context;
use super::foreign::Foreign;
use super::timer::TimerKey;
use super::waker;
use crate::error::TimerExhausted;
use crate::stats::clock;
use crate::stats::task_registry::Wait;

/// A point in monotonic time (`CLOCK_MONOTONIC`), for [`sleep_until`] and
/// [`timeout_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// Now.
    pub fn now() -> Deadline {
        Deadline(Instant::now())
    }

    /// `duration` from now (saturating far in the future).
    pub fn after(duration: Duration) -> Deadline {
        Deadline(add(Instant::now(), duration))
    }

    /// Time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub(crate) fn instant(self) -> Instant {
        self.0
    }
}

/// `now + d`, clamped to about 30 years ahead instead of overflowing.
fn add(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(d.min(FAR)).unwrap_or(now + FAR)
}

/// Future of [`sleep`] and [`sleep_until`]: resolves at its deadline.
///
/// The timer slot is taken on first poll (or at creation, for the `try_`
/// variants) and released when the future completes or is dropped.
#[must_use = "futures do nothing unless awaited"]
pub struct SleepFuture {
    deadline: Instant,
    /// The timer, and the worker whose queue holds it (global id, serial).
    key: Option<(TimerKey, u16, u32)>,
    done: bool,
    /// The user's call that made it.
    site: &'static Location<'static>,
}

impl SleepFuture {
    #[track_caller]
    fn new(deadline: Instant) -> SleepFuture {
        SleepFuture {
            deadline,
            key: None,
            done: false,
            site: Location::caller(),
        }
    }

    #[track_caller]
    fn armed(deadline: Instant) -> Result<SleepFuture, TimerExhausted> {
        let site = Location::caller();
        let key = context::with("try_sleep", |w| {
            let key = w.timers.borrow_mut().insert(deadline, true)?;
            Ok::<_, TimerExhausted>((key, w.handle.gid, w.serial))
        })?;
        Ok(SleepFuture {
            deadline,
            key: Some(key),
            done: false,
            site,
        })
    }
}

impl Future for SleepFuture {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let key = self.key;
        let (ready, key) = context::with("sleep", |w| {
            let mut timers = w.timers.borrow_mut();
            // A sleep moved to another worker leaves its old timer to be
            // dropped by its own worker and starts one here.
            let own = key.filter(|&(_, _, serial)| serial == w.serial);
            if let (Some((old, gid, serial)), None) = (key, own) {
                waker::request(gid, serial, Foreign::RemoveTimer(old));
            }
            let key = match own {
                Some((k, _, _)) => k,
                None => timers
                    .insert(deadline, false)
                    .expect("an unbounded insert never fails"),
            };
            let ready = timers.poll(key, w.now(), cx.waker());
            if ready {
                timers.remove(key);
            }
            (ready, (key, w.handle.gid, w.serial))
        });
        if ready {
            self.key = None;
            self.done = true;
            Poll::Ready(())
        } else {
            self.key = Some(key);
            let at = clock::ns_at(deadline);
            context::parked(Wait::Timer(at), self.site);
            Poll::Pending
        }
    }
}

impl Drop for SleepFuture {
    fn drop(&mut self) {
        if let Some((key, gid, serial)) = self.key.take() {
            let local = context::try_with(|w| {
                let local = w.serial == serial;
                if local {
                    w.timers.borrow_mut().remove(key);
                }
                local
            });
            if local != Some(true) {
                waker::request(gid, serial, Foreign::RemoveTimer(key));
            }
        }
    }
}

impl fmt::Debug for SleepFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SleepFuture")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// Completes after `duration`, measured from this call.
///
/// Never fails: past `Config::timer_slots` live timers it still sleeps
/// correctly and counts the exhaustion; use [`try_sleep`] to be refused
/// instead.
///
/// # Panics
///
/// When first polled outside a ringline worker.
#[track_caller]
pub fn sleep(duration: Duration) -> SleepFuture {
    SleepFuture::new(add(Instant::now(), duration))
}

/// Completes at `deadline` (at once if it has passed). As [`sleep`].
///
/// # Panics
///
/// When first polled outside a ringline worker.
#[track_caller]
pub fn sleep_until(deadline: Deadline) -> SleepFuture {
    SleepFuture::new(deadline.instant())
}

/// Like [`sleep`], but takes the timer slot now and fails when all
/// `Config::timer_slots` are in use.
///
/// # Panics
///
/// When called outside a ringline worker.
#[track_caller]
pub fn try_sleep(duration: Duration) -> Result<SleepFuture, TimerExhausted> {
    SleepFuture::armed(add(Instant::now(), duration))
}

/// Like [`sleep_until`], but fails when all timer slots are in use.
///
/// # Panics
///
/// When called outside a ringline worker.
#[track_caller]
pub fn try_sleep_until(deadline: Deadline) -> Result<SleepFuture, TimerExhausted> {
    SleepFuture::armed(deadline.instant())
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

pin_project! {
    /// Future of [`timeout`] and [`timeout_at`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct TimeoutFuture<F> {
        #[pin]
        future: F,
        sleep: SleepFuture,
    }
}

impl<F: Future> Future for TimeoutFuture<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs `future` with a time limit of `duration`: `Ok(output)` if it
/// finished first, `Err(Elapsed)` otherwise (the future is then dropped
/// with the `TimeoutFuture`). The inner future is polled before the timer,
/// so a future that is ready wins even at a zero timeout.
///
/// # Panics
///
/// When polled outside a ringline worker.
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> TimeoutFuture<F> {
    TimeoutFuture {
        future,
        sleep: sleep(duration),
    }
}

/// [`timeout`] with an absolute deadline.
///
/// # Panics
///
/// When polled outside a ringline worker.
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Deadline, future: F) -> TimeoutFuture<F> {
    TimeoutFuture {
        future,
        sleep: sleep_until(deadline),
    }
}

/// [`timeout`] that fails instead of going past `Config::timer_slots`.
///
/// # Panics
///
/// When called outside a ringline worker.
#[track_caller]
pub fn try_timeout<F: Future>(
    duration: Duration,
    future: F,
) -> Result<TimeoutFuture<F>, TimerExhausted> {
    Ok(TimeoutFuture {
        future,
        sleep: try_sleep(duration)?,
    })
}

/// [`timeout_at`] that fails instead of going past `Config::timer_slots`.
///
/// # Panics
///
/// When called outside a ringline worker.
#[track_caller]
pub fn try_timeout_at<F: Future>(
    deadline: Deadline,
    future: F,
) -> Result<TimeoutFuture<F>, TimerExhausted> {
    Ok(TimeoutFuture {
        future,
        sleep: try_sleep_until(deadline)?,
    })
}
