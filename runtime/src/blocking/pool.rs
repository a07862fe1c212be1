//! The blocking pool: [`spawn_blocking`](crate::spawn_blocking) closures on
//! a [`ThreadPool`] of their own, and the job wrapper the resolver shares.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use super::handle::BlockingJoinHandle;
use super::oneshot::{self, Outcome};
use super::pool_op::PoolOp;
use crate::op::OpKind;
use crate::stats::kinds::SlabUsage;
use crate::thread_pool::{AtShutdown, BoxedJob, PoolStats, Refused, SubmitError, ThreadPool};

/// Runs [`spawn_blocking`](crate::spawn_blocking) closures on its own
/// threads.
pub(crate) struct BlockingPool {
    pub(super) pool: ThreadPool<BoxedJob>,
}

impl BlockingPool {
    /// Starts `threads` threads named `{name}-N` (the runtime passes
    /// `ringline-blocking`); `None` when `threads` is 0 (disabled).
    /// `queue_capacity` bounds queued plus running closures.
    pub(crate) fn new(
        threads: usize,
        queue_capacity: usize,
        name: &str,
    ) -> io::Result<Option<Arc<Self>>> {
        if threads == 0 {
            return Ok(None);
        }
        let pool = ThreadPool::start(name, threads, queue_capacity, AtShutdown::Discard)?;
        Ok(Some(Arc::new(Self { pool })))
    }

    /// Queues `f`; see [`spawn_blocking`](crate::spawn_blocking) for the
    /// contract.
    #[track_caller]
    pub(crate) fn spawn<T, F>(&self, f: F) -> io::Result<BlockingJoinHandle<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (job, handle) = job(f);
        match self.pool.submit(job) {
            Ok(()) => {
                let mut handle = handle;
                handle.op = PoolOp::start(OpKind::Blocking);
                Ok(handle)
            }
            // The refused job (the caller's closure) is dropped here, after
            // the pool's lock was released.
            Err(Refused {
                why: SubmitError::Full { capacity },
                ..
            }) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "spawn_blocking: the blocking pool is full ({capacity} closures queued or running); \
                     retry later, or raise Config::blocking_queue_capacity or Config::blocking_threads"
                ),
            )),
            Err(Refused {
                why: SubmitError::ShutDown,
                ..
            }) => Err(io::Error::other(
                "spawn_blocking: the blocking pool is shut down (the runtime is exiting)",
            )),
        }
    }

    /// Refuses new closures and drops the queued ones (their handles
    /// panic when polled); running closures go on. Returns at once;
    /// idempotent. [`finish_shutdown`](Self::finish_shutdown) then waits.
    pub(crate) fn begin_shutdown(&self) {
        self.pool.begin_shutdown();
    }

    /// Lets each thread finish its current closure until `deadline`, and
    /// joins it; a thread whose closure is still running then is left
    /// behind (detached, never joined). Returns how many were left.
    pub(crate) fn finish_shutdown(&self, deadline: Instant) -> usize {
        self.pool.finish_shutdown(deadline)
    }

    /// The queue's fill level, read without taking its lock.
    pub(crate) fn stats(&self) -> PoolStats {
        self.pool.stats()
    }
}

/// Wraps `f` as a job, with the handle that will receive its outcome (not
/// counted as an op until the job is queued).
#[track_caller]
pub(super) fn job<T, F>(f: F) -> (BoxedJob, BlockingJoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (completer, slot) = oneshot::slot();
    let job: BoxedJob = Box::new(move |release| {
        // The closure is the caller's code: whatever it touched is theirs,
        // and a panic is handed to them whole, so unwind safety is not ours
        // to enforce.
        let outcome = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Outcome::Returned(value),
            Err(payload) => Outcome::Panicked(payload),
        };
        release();
        completer.complete(outcome);
    });
    (
        job,
        BlockingJoinHandle {
            slot,
            op: PoolOp::NONE,
            site: panic::Location::caller(),
        },
    )
}

impl From<PoolStats> for SlabUsage {
    fn from(p: PoolStats) -> Self {
        SlabUsage {
            used: p.used as u64,
            capacity: p.capacity as u64,
            high_water: p.high_water as u64,
            exhausted_total: p.exhausted_total,
        }
    }
}
