//! Connects on readiness: a connect in progress parks on its socket until
//! it is writable, its linked timeout (io_uring's `LINK_TIMEOUT`) is a
//! deadline checked after each wait, and a connect to a Unix listener
//! whose backlog is full waits for room.
//!
//! ```text
//!  connect(2) ─ 0 ───────────────▶ done
//!      ├─ EINPROGRESS ─▶ parked on the socket ─ writable ─▶ SO_ERROR ─▶ done
//!      ├─ EAGAIN (AF_UNIX) ─▶ backlog wait ─ 1, 2, 4 … 64 ms ─▶ connect(2) again
//!      └─ other error ──────▶ done
//!  cancel / linked timeout / fd closed: parked or waiting ─▶ -ECANCELED
//! ```
//!
//! Why retry: a non-blocking connect to a Unix listener with a full
//! backlog fails with `EAGAIN` at once, where a blocking one (and
//! io_uring's, which runs as one) waits until the listener accepts.
//! Readiness cannot say when room appears: the connecting socket is
//! writable all along, and the listener is not ours to watch. So the
//! connect is tried again, 1 ms later, doubling to [`BACKLOG_RETRY_MAX`]:
//! room is seen at most that late, and a connect to a listener that never
//! accepts costs about 16 wakes a second until it is cancelled. Running a
//! blocking connect on the disk pool instead was rejected: it could not
//! be cancelled and would stall every file op behind it.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::{Io, Parked};
use crate::driver::sqe::Sqe;
use crate::op::UserData;
use crate::sys;

/// The first wait for room in a full Unix backlog.
const BACKLOG_RETRY_FIRST: Duration = Duration::from_millis(1);
/// The longest wait between two tries (see the module docs).
const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(64);

/// A connect's linked timeout.
pub(super) struct LinkTimeout {
    pub(super) deadline: Instant,
    pub(super) connect: UserData,
    pub(super) timeout: UserData,
}

/// A connect waiting for room in a Unix listener's backlog.
pub(super) struct BacklogWait {
    /// When to try again.
    at: Instant,
    /// How long it waited this time (the next wait doubles it).
    delay: Duration,
    op: Parked,
}

impl Io {
    /// Starts a connect (see the module docs).
    pub(super) fn start_connect(&mut self, op: Parked) {
        if let Sqe::Connect { fd, .. } = op.sqe {
            // A failure leaves the socket blocking: the connect then runs
            // to its end inside the call, which is correct, only slower.
            let _ = sys::set_nonblocking(fd, true);
        }
        self.try_connect(op, BACKLOG_RETRY_FIRST);
    }

    /// One `connect(2)`; `delay` is the wait before the next try should
    /// the listener's backlog be full.
    fn try_connect(&mut self, op: Parked, delay: Duration) {
        let Sqe::Connect { fd, addr, len } = op.sqe else {
            self.complete(op.ud, -libc::EINVAL, 0);
            return;
        };
        // SAFETY: the address lives in the connect's hold, `len` bytes
        // (at least a family field: every address starts with one),
        // unmoved until the connect's completion is reaped (the `push`
        // contract).
        let (res, family) = unsafe { (sys::connect_raw(fd, addr, len), (*addr).sa_family) };
        if res == 0 {
            self.connect_done(op.ud, 0);
            return;
        }
        let unix = family == libc::AF_UNIX as libc::sa_family_t;
        match -res {
            libc::EINPROGRESS | libc::EINTR => self.park(fd, op, false),
            // For other families EAGAIN means no local port: a real error.
            libc::EAGAIN if unix => self.backlog_waits.push(BacklogWait {
                at: Instant::now() + delay,
                delay,
                op,
            }),
            errno => self.connect_done(op.ud, -errno),
        }
    }

    /// Tries again every connect whose backlog wait is over at `now`.
    pub(super) fn retry_backlog_waits(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.backlog_waits.len() {
            if self.backlog_waits[i].at > now {
                i += 1;
                continue;
            }
            // A connect still refused is pushed again, due later than now.
            let wait = self.backlog_waits.swap_remove(i);
            self.try_connect(wait.op, (wait.delay * 2).min(BACKLOG_RETRY_MAX));
        }
    }

    /// True when a connect has a deadline (a linked timeout or a retry):
    /// only then does a wait read the clock.
    pub(super) fn has_connect_deadlines(&self) -> bool {
        !self.timeouts.is_empty() || !self.backlog_waits.is_empty()
    }

    /// The nearest connect deadline, for the wait's timeout.
    pub(super) fn next_connect_deadline(&self) -> Option<Instant> {
        let timeouts = self.timeouts.iter().map(|t| t.deadline);
        let retries = self.backlog_waits.iter().map(|w| w.at);
        timeouts.chain(retries).min()
    }

    /// Removes the connect carrying `ud` from the backlog waits; false
    /// when it is not waiting there.
    pub(super) fn withdraw_backlog_wait(&mut self, ud: UserData) -> bool {
        match self.backlog_waits.iter().position(|w| w.op.ud == ud) {
            Some(i) => {
                self.backlog_waits.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Cancels every connect waiting for backlog room on `fd`, or on any
    /// socket with `None`.
    pub(super) fn cancel_backlog_waits(&mut self, fd: Option<RawFd>) {
        let mut i = 0;
        while i < self.backlog_waits.len() {
            let on = match self.backlog_waits[i].op.sqe {
                Sqe::Connect { fd, .. } => Some(fd),
                _ => None,
            };
            if fd.is_some() && on != fd {
                i += 1;
                continue;
            }
            let wait = self.backlog_waits.swap_remove(i);
            self.cancelled(wait.op.ud);
        }
    }

    /// A connect finished: its linked timeout, if any, is cancelled.
    pub(super) fn connect_done(&mut self, ud: UserData, result: i32) {
        self.complete(ud, result, 0);
        if let Some(i) = self.timeouts.iter().position(|t| t.connect == ud) {
            let t = self.timeouts.swap_remove(i);
            self.complete(t.timeout, -libc::ECANCELED, 0);
        }
    }

    /// Fires the linked timeouts due at `now`: each cancels its connect.
    pub(super) fn expire_timeouts(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.timeouts.len() {
            if self.timeouts[i].deadline > now {
                i += 1;
                continue;
            }
            let t = self.timeouts.swap_remove(i);
            if self.unpark(t.connect) {
                self.complete(t.connect, -libc::ECANCELED, 0);
            }
            self.complete(t.timeout, -libc::ETIME, 0);
        }
    }
}
