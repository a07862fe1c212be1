//! A pool job counted as an op of the worker that queued it (op kinds
//! `blocking` and `resolve`), wherever its handle ends.

use std::sync::Arc;

use crate::executor::foreign::Foreign;
use crate::executor::waker::WorkerHandle;
use crate::op::{OpKind, PoolJobEnd};
use crate::reactor::Reactor;

/// A pool job counted as an op of the worker that queued it: submitted
/// when queued, completed when its handle sees the outcome, cancelled when
/// the handle is dropped first. Its latency is measured from the turn it
/// was queued in to the turn that counted the outcome (no clock read of
/// its own).
///
/// The outcome is always counted by the worker that queued the job, so
/// its in-flight count goes back to zero wherever the handle ends: on
/// that worker directly; on another worker or a plain thread, through the
/// queuing worker's [`WorkerHandle`], which it drains every loop turn.
pub(super) struct PoolOp {
    counted: Option<Counted>,
}

/// What a counted pool job needs to report its end.
struct Counted {
    kind: OpKind,
    submitted_at_ns: u64,
    /// The worker that queued the job and counts it.
    owner: Arc<WorkerHandle>,
}

impl PoolOp {
    /// Not counted (a handle built off a worker, or before it is queued).
    pub(super) const NONE: PoolOp = PoolOp { counted: None };

    /// Counts a job of `kind` as submitted by the current worker; not
    /// counted off a worker.
    pub(super) fn start(kind: OpKind) -> PoolOp {
        crate::reactor::try_with(|w| {
            w.driver.borrow_mut().counters.submitted(kind);
            PoolOp {
                counted: Some(Counted {
                    kind,
                    submitted_at_ns: crate::stats::clock::ns_at(w.now()),
                    owner: Arc::clone(&w.handle),
                }),
            }
        })
        .unwrap_or(PoolOp::NONE)
    }

    /// Counts the outcome once (`result` as a CQE's: 0 ok, `-ECANCELED`,
    /// another negative errno for an error), on whatever thread this is.
    pub(super) fn finish(&mut self, result: i32) {
        let Some(Counted {
            kind,
            submitted_at_ns,
            owner,
        }) = self.counted.take()
        else {
            return;
        };
        let end = PoolJobEnd {
            kind,
            result,
            submitted_at_ns,
        };
        let counted_here = crate::reactor::try_with(|w| {
            let here = Arc::ptr_eq(&w.handle, &owner);
            if here {
                w.count_pool_job_end(end);
            }
            here
        });
        if counted_here != Some(true) {
            owner.request(Foreign::PoolJobEnded(end));
        }
    }
}

impl Reactor {
    /// Counts the end of a pool job this worker queued.
    pub(crate) fn count_pool_job_end(&self, end: PoolJobEnd) {
        self.driver
            .borrow_mut()
            .counters
            .completed(end.kind, false, end.result);
        if end.result != -libc::ECANCELED {
            let now = crate::stats::clock::ns_at(self.now());
            self.stats
                .op_latency(end.kind, now.saturating_sub(end.submitted_at_ns));
        }
    }
}
