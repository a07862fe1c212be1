//! One io_uring instance: setup, SQE submission that never drops an entry,
//! waiting with a deadline, and reaping.
//!
//! When the submission queue is full we submit what is queued and retry;
//! if the kernel still refuses (`EBUSY` while completions back up) the SQE
//! waits in a backlog that is flushed, in order, before anything new. A
//! linked pair (connect + its timeout) is kept adjacent in the SQ.
//!
//! The ring is entered through its *registered* fd when the kernel allows
//! (`IORING_REGISTER_RING_FDS`, Linux 5.18): `io_uring_enter` then skips
//! the descriptor lookup (and, in a multithreaded process, the reference
//! count on the ring's file) on every call. The crate's `Submitter` does
//! not remember a registered index, so [`Ring`] enters through
//! [`sys::uring`](crate::sys::uring) itself, with the flags the crate's
//! `submit`, `submit_and_wait` and `submit_with_args` would pass for this
//! ring's setup (no SQPOLL, no IOPOLL).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::thread::ThreadId;
use std::time::Duration;

use io_uring::{IoUring, cqueue, squeue};

use crate::driver::Cqe;
use crate::stats::RingTotals;
use crate::sys::uring::{self as sys_uring, ENTER_GETEVENTS, ENTER_REGISTERED_RING};

/// See the module docs.
pub(crate) struct Ring {
    uring: IoUring<squeue::Entry, cqueue::Entry>,
    /// SQEs that did not fit; groups of one or two (a linked pair).
    backlog: VecDeque<(squeue::Entry, Option<squeue::Entry>)>,
    /// What `io_uring_enter` is given: the ring's registered index (and
    /// `enter_flags` is `IORING_ENTER_REGISTERED_RING`), or its fd.
    enter_fd: RawFd,
    enter_flags: u32,
    /// The thread that registered `enter_fd`: the index is in its table,
    /// and only it can unregister it.
    registered_on: Option<ThreadId>,
    /// Totals for the stats layer (kept with or without the `stats`
    /// feature: a few adds per syscall).
    pub(crate) counters: RingTotals,
}

impl Ring {
    /// Sets up a ring for the calling thread (it becomes the single issuer).
    pub(crate) fn new(sq_entries: u32) -> io::Result<Ring> {
        let cq_entries = (sq_entries * 4).max(1024);
        let uring = IoUring::<squeue::Entry, cqueue::Entry>::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_defer_taskrun()
            // With deferred task work, completions only surface on an enter
            // with GETEVENTS; this flag tells us (and the crate's submit)
            // when such work is pending, so a loop that stays busy with
            // ready tasks still reaps I/O.
            .setup_taskrun_flag()
            .setup_submit_all()
            .setup_cqsize(cq_entries)
            .build(sq_entries)?;
        if !uring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "kernel lacks IORING_FEAT_NODROP (needs Linux 5.5+)",
            ));
        }
        Ok(Ring {
            enter_fd: uring.as_raw_fd(),
            enter_flags: 0,
            registered_on: None,
            uring,
            backlog: VecDeque::new(),
            counters: RingTotals::default(),
        })
    }

    /// Registers the ring's fd in the calling thread's registered-ring
    /// table, so every enter skips the fd lookup. Call it from the thread
    /// that submits (the worker); on failure (kernel before 5.18, or the
    /// thread's 16 slots taken) the ring keeps entering by its fd.
    pub(crate) fn register_ring_fd(&mut self) -> bool {
        match sys_uring::register_ring_fd(self.uring.as_raw_fd()) {
            Ok(index) => {
                self.enter_fd = index as RawFd;
                self.enter_flags = ENTER_REGISTERED_RING;
                self.registered_on = Some(std::thread::current().id());
                true
            }
            Err(_) => false,
        }
    }

    /// `io_uring_enter` through the registered index when there is one.
    #[inline]
    fn enter(
        &self,
        to_submit: usize,
        min_complete: u32,
        flags: u32,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        sys_uring::ring_enter(
            self.enter_fd,
            to_submit as u32,
            min_complete,
            flags | self.enter_flags,
            timeout,
        )
        .map(|n| n as usize)
    }

    /// The submitter, for registrations.
    pub(crate) fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }

    fn sq_space(&mut self) -> usize {
        let sq = self.uring.submission();
        sq.capacity() - sq.len()
    }

    /// Queues `first`, and `second` linked to it (`first` then carries
    /// `IO_LINK`): into the SQ when both fit, else into the backlog that
    /// the next submit flushes, in order.
    ///
    /// # Safety
    ///
    /// Every buffer, path or struct the entries point to stays valid and
    /// unmoved until their completions are reaped.
    pub(crate) unsafe fn push(&mut self, first: squeue::Entry, second: Option<squeue::Entry>) {
        let need = 1 + second.is_some() as usize;
        if self.backlog.is_empty() {
            if self.sq_space() < need {
                self.counters.sq_full += 1;
                let _ = self.submit();
            }
            if self.backlog.is_empty() && self.sq_space() >= need {
                self.push_now(&first, second.as_ref());
                return;
            }
        }
        self.backlog.push_back((first, second));
    }

    /// Copies a group into the SQ; the caller checked there is room.
    /// Entries reach here only through [`push`](Self::push), whose contract
    /// keeps what they point to alive.
    fn push_now(&mut self, first: &squeue::Entry, second: Option<&squeue::Entry>) {
        let mut sq = self.uring.submission();
        // SAFETY: every entry comes from `push` (directly or through the
        // backlog), whose callers keep what it points to alive and unmoved
        // until its CQE; the caller checked there is room, and a linked
        // pair goes in together, in order.
        unsafe {
            let _ = sq.push(first);
            if let Some(s) = second {
                let _ = sq.push(s);
            }
        }
    }

    /// Moves backlogged SQEs into the SQ while they fit.
    fn flush_backlog(&mut self) {
        while let Some((_, second)) = self.backlog.front() {
            let need = 1 + second.is_some() as usize;
            if self.sq_space() < need {
                break;
            }
            let (first, second) = self.backlog.pop_front().expect("front exists");
            self.push_now(&first, second.as_ref());
        }
    }

    /// Submits queued SQEs without waiting; skips the syscall when there
    /// is nothing to submit and no completion work pending in the kernel.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        self.flush_backlog();
        let (queued, flags) = {
            let sq = self.uring.submission();
            let (taskrun, overflow) = (sq.taskrun(), sq.cq_overflow());
            if sq.is_empty() && !taskrun && !overflow {
                return Ok(());
            }
            // As the crate's `submit`: deferred task work (and completions
            // the kernel kept on overflow) only move on an enter with
            // GETEVENTS.
            let flags = if taskrun || overflow { ENTER_GETEVENTS } else { 0 };
            (sq.len(), flags)
        };
        self.counters.enter_calls += 1;
        match self.enter(queued, 0, flags, None) {
            Ok(n) => {
                self.counters.sqes_submitted += n as u64;
                debug_assert!(n <= queued);
                Ok(())
            }
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits and waits for at least one completion, at most `timeout`
    /// (forever with `None`).
    pub(crate) fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog();
        let queued = self.uring.submission().len();
        self.counters.enter_calls += 1;
        // As the crate's `submit_and_wait(1)` and, with a timeout,
        // `submit_with_args(1, ..)` (which adds EXT_ARG).
        match self.enter(queued, 1, ENTER_GETEVENTS, timeout) {
            Ok(n) => {
                self.counters.sqes_submitted += n as u64;
                Ok(())
            }
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Appends every available completion to `out`.
    pub(crate) fn reap(&mut self, out: &mut Vec<Cqe>) {
        if self.uring.submission().cq_overflow() {
            self.counters.cq_overflow += 1;
        }
        let before = out.len();
        let mut cq = self.uring.completion();
        cq.sync();
        for cqe in &mut cq {
            out.push(Cqe {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
        self.counters.cqes_reaped += (out.len() - before) as u64;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // A registered index holds a reference to the ring: left in place,
        // it would keep the ring (and the sockets in its file table) open
        // until the registering thread exits. Only that thread can drop it;
        // from another one the registration goes when its thread does.
        if self.registered_on == Some(std::thread::current().id()) {
            let index = self.enter_fd as u32;
            let _ = sys_uring::unregister_ring_fd(self.uring.as_raw_fd(), index);
        }
    }
}

/// Errors from `io_uring_enter` that only mean "try again later": the
/// wait timed out, a signal interrupted it, or completions are backed up.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread holds at most 16 registered rings: each dropped ring must
    /// give its index back (or it would stay open until the thread exits,
    /// and the 17th ring of a thread would lose the registration), and an
    /// enter through the index must work.
    #[test]
    fn a_dropped_ring_unregisters_its_fd_and_enters_by_index() {
        for i in 0..40 {
            let Ok(mut ring) = Ring::new(8) else {
                eprintln!("SKIPPED: no io_uring here");
                return;
            };
            if !ring.register_ring_fd() {
                assert_eq!(i, 0, "ring {i}: an earlier ring kept its registration");
                eprintln!("SKIPPED: kernel without registered ring fds (5.18+)");
                return;
            }
            // Nothing to reap: the wait times out (ETIME, not an error),
            // where a wrong index or flag would fail with EBADF.
            ring.submit_and_wait(Some(Duration::from_millis(1)))
                .expect("enter through the registered index");
            assert_eq!(ring.counters.enter_calls, 1);
        }
    }
}
