//! The resolver pool: [`resolve`](crate::resolve) lookups (`getaddrinfo`,
//! which blocks) on a [`ThreadPool`] of their own.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use super::handle::ResolveFuture;
use super::pool::job;
use super::pool_op::PoolOp;
use crate::op::OpKind;
use crate::thread_pool::{AtShutdown, BoxedJob, PoolStats, Refused, SubmitError, ThreadPool};

/// Most name lookups queued or running at once. There is no `Config` field
/// for it: lookups are short, and a backlog this deep already means the
/// resolver threads or the DNS server cannot keep up.
const RESOLVER_QUEUE_CAPACITY: usize = 1024;

/// Runs [`resolve`](crate::resolve) lookups on its own threads.
pub(crate) struct ResolverPool {
    pub(super) pool: ThreadPool<BoxedJob>,
}

impl ResolverPool {
    /// Starts `threads` threads named `{name}-N` (the runtime passes
    /// `ringline-resolver`); `None` when `threads` is 0 (disabled).
    pub(crate) fn new(threads: usize, name: &str) -> io::Result<Option<Arc<Self>>> {
        if threads == 0 {
            return Ok(None);
        }
        let pool = ThreadPool::start(name, threads, RESOLVER_QUEUE_CAPACITY, AtShutdown::Discard)?;
        Ok(Some(Arc::new(Self { pool })))
    }

    /// The queue's fill level, read without taking its lock.
    pub(crate) fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Queues a lookup of `host`; see [`resolve`](crate::resolve) for the
    /// contract.
    #[track_caller]
    pub(crate) fn resolve(&self, host: String, port: u16) -> io::Result<ResolveFuture> {
        let (job, lookup) = job(move || first_address(&host, port));
        match self.pool.submit(job) {
            Ok(()) => {
                let mut lookup = lookup;
                lookup.op = PoolOp::start(OpKind::Resolve);
                Ok(ResolveFuture { lookup })
            }
            Err(Refused {
                why: SubmitError::Full { capacity },
                ..
            }) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "resolve: the resolver queue is full ({capacity} lookups queued or running); \
                     retry later, or raise Config::resolver_threads"
                ),
            )),
            Err(Refused {
                why: SubmitError::ShutDown,
                ..
            }) => Err(io::Error::other(
                "resolve: the resolver pool is shut down (the runtime is exiting)",
            )),
        }
    }

    /// As [`BlockingPool::begin_shutdown`](super::BlockingPool::begin_shutdown):
    /// queued lookups fail with an error.
    pub(crate) fn begin_shutdown(&self) {
        self.pool.begin_shutdown();
    }

    /// As [`BlockingPool::finish_shutdown`](super::BlockingPool::finish_shutdown),
    /// for lookups (a `getaddrinfo` waiting on a DNS server that never
    /// answers is left behind).
    pub(crate) fn finish_shutdown(&self, deadline: Instant) -> usize {
        self.pool.finish_shutdown(deadline)
    }
}

/// The blocking part of [`resolve`](crate::resolve): `getaddrinfo` through
/// std.
pub(super) fn first_address(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("resolve: {host:?} has no addresses"),
        )
    })
}
