//! The futures a task awaits for a pool job: [`BlockingJoinHandle`] for a
//! `spawn_blocking` closure, [`ResolveFuture`] for a lookup.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::oneshot::{Outcome, Slot};
use super::pool_op::PoolOp;
use crate::executor::context;
use crate::stats::task_registry::Wait;

/// The future returned by [`spawn_blocking`](crate::spawn_blocking);
/// resolves to the closure's return value.
///
/// Dropping it detaches the closure: it still runs, and its result is
/// dropped by whichever side finishes last.
///
/// # Panics
///
/// Polling it resumes the closure's panic, if it panicked, and panics if
/// the runtime shut the pool down before the closure started.
pub struct BlockingJoinHandle<T> {
    pub(super) slot: Arc<Slot<T>>,
    pub(super) op: PoolOp,
    /// The user's call that queued the job.
    pub(super) site: &'static panic::Location<'static>,
}

impl<T> Future for BlockingJoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let Poll::Ready(outcome) = this.slot.poll_outcome(cx) else {
            context::parked(Wait::Pool, this.site);
            return Poll::Pending;
        };
        Poll::Ready(match outcome {
            Outcome::Returned(value) => {
                this.op.finish(0);
                value
            }
            Outcome::Panicked(payload) => {
                this.op.finish(-libc::EIO);
                panic::resume_unwind(payload)
            }
            Outcome::Abandoned => {
                this.op.finish(-libc::ECANCELED);
                panic!(
                    "spawn_blocking: the blocking pool shut down before the closure ran (the runtime is exiting)"
                )
            }
        })
    }
}

impl<T> Drop for BlockingJoinHandle<T> {
    fn drop(&mut self) {
        self.op.finish(-libc::ECANCELED);
        self.slot.detach();
    }
}

impl<T> fmt::Debug for BlockingJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJoinHandle").finish_non_exhaustive()
    }
}

/// The future returned by [`resolve`](crate::resolve); yields the first
/// address found.
pub struct ResolveFuture {
    pub(super) lookup: BlockingJoinHandle<io::Result<SocketAddr>>,
}

impl Future for ResolveFuture {
    type Output = io::Result<SocketAddr>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A lookup cannot be refused once queued, so the shutdown case is a
        // plain error here rather than the panic `BlockingJoinHandle` gives.
        let lookup = &mut self.get_mut().lookup;
        let Poll::Ready(outcome) = lookup.slot.poll_outcome(cx) else {
            context::parked(Wait::Pool, lookup.site);
            return Poll::Pending;
        };
        Poll::Ready(match outcome {
            Outcome::Returned(result) => {
                lookup
                    .op
                    .finish(if result.is_ok() { 0 } else { -libc::ENOENT });
                result
            }
            Outcome::Panicked(payload) => {
                lookup.op.finish(-libc::EIO);
                panic::resume_unwind(payload)
            }
            Outcome::Abandoned => {
                lookup.op.finish(-libc::ECANCELED);
                Err(io::Error::other(
                    "resolve: the resolver pool shut down before the lookup ran (the runtime is exiting)",
                ))
            }
        })
    }
}

impl fmt::Debug for ResolveFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveFuture").finish_non_exhaustive()
    }
}
