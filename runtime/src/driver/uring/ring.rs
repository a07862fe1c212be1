//! One io_uring instance: setup, SQE submission that never drops an entry,
//! waiting with a deadline, and reaping.
//!
//! When the submission queue is full we submit what is queued and retry;
//! if the kernel still refuses (`EBUSY` while completions back up) the SQE
//! waits in a backlog that is flushed, in order, before anything new. A
//! linked pair (connect + its timeout) is kept adjacent in the SQ.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::{IoUring, cqueue, squeue, types};

use crate::driver::Cqe;
use crate::stats::RingTotals;

/// See the module docs.
pub(crate) struct Ring {
    uring: IoUring<squeue::Entry, cqueue::Entry>,
    /// SQEs that did not fit; groups of one or two (a linked pair).
    backlog: VecDeque<(squeue::Entry, Option<squeue::Entry>)>,
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
            uring,
            backlog: VecDeque::new(),
            counters: RingTotals::default(),
        })
    }

    /// The submitter, for registrations.
    pub(crate) fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }

    fn sq_space(&mut self) -> usize {
        let sq = self.uring.submission();
        sq.capacity() - sq.len()
    }

    /// Queues one SQE.
    ///
    /// # Safety
    ///
    /// Every buffer, path or struct the SQE points to must stay valid and
    /// unmoved until its completion is reaped.
    pub(crate) unsafe fn push(&mut self, sqe: squeue::Entry) {
        // SAFETY: the caller keeps what `sqe` points to valid and unmoved
        // until its completion: `push_group`'s contract for a lone entry.
        unsafe { self.push_group(sqe, None) }
    }

    /// Queues `first` linked to `second` (`first` must carry `IO_LINK`).
    ///
    /// # Safety
    ///
    /// As [`push`](Self::push), for both entries.
    pub(crate) unsafe fn push_linked(&mut self, first: squeue::Entry, second: squeue::Entry) {
        // SAFETY: the caller keeps what both entries point to valid and
        // unmoved until their completions: `push_group`'s contract.
        unsafe { self.push_group(first, Some(second)) }
    }

    unsafe fn push_group(&mut self, first: squeue::Entry, second: Option<squeue::Entry>) {
        let need = 1 + second.is_some() as usize;
        if self.backlog.is_empty() {
            if self.sq_space() < need {
                self.counters.sq_full += 1;
                let _ = self.submit();
            }
            if self.backlog.is_empty() && self.sq_space() >= need {
                // SAFETY: the caller keeps every pointed-to resource alive
                // until the CQE; `need` slots are free so neither push fails.
                unsafe { self.push_now(&first, second.as_ref()) };
                return;
            }
        }
        self.backlog.push_back((first, second));
    }

    /// # Safety
    ///
    /// As `push`; the caller checked there is room for the group.
    unsafe fn push_now(&mut self, first: &squeue::Entry, second: Option<&squeue::Entry>) {
        let mut sq = self.uring.submission();
        // SAFETY: what the entries point to outlives their CQEs (this fn's
        // contract, from `push`'s callers); the caller checked there is
        // room for both, so neither push is dropped.
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
            // SAFETY: these entries were pushed through `push`/`push_linked`
            // whose callers guaranteed their resources outlive the CQE.
            unsafe { self.push_now(&first, second.as_ref()) };
        }
    }

    /// Submits queued SQEs without waiting; skips the syscall when there
    /// is nothing to submit and no completion work pending in the kernel.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        self.flush_backlog();
        let queued = {
            let sq = self.uring.submission();
            if sq.is_empty() && !sq.taskrun() && !sq.cq_overflow() {
                return Ok(());
            }
            sq.len()
        };
        self.counters.enter_calls += 1;
        match self.uring.submit() {
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
        self.counters.enter_calls += 1;
        let result = match timeout {
            None => self.uring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
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

/// Errors from `io_uring_enter` that only mean "try again later": the
/// wait timed out, a signal interrupted it, or completions are backed up.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
    )
}
