//! Thread pools for work that must not run on a worker: closures passed to
//! [`spawn_blocking`], and name lookups for [`resolve`].
//!
//! Both pools are shared by all workers of a runtime and know nothing of the
//! executor: a job hands its outcome back through a slot shared with the
//! awaiting future and wakes that future's [`Waker`].
//!
//! ```text
//!  worker task                 pool queue (bounded)         pool thread
//!  spawn(f) ─ push job ──────▶ [job][job]…  ──── pop ─────▶ run f (catch_unwind)
//!     │  └─ BlockingJoinHandle ◀─── slot ◀── release capacity, store outcome, wake
//!  .await: outcome, or the closure's panic resumed
//! ```
//!
//! The queue counts queued and running jobs against one capacity, so a
//! flood of `spawn_blocking` calls fails fast with an error the caller can
//! see, instead of growing memory without bound.
//!
//! Each job is counted as an op (`blocking`, `resolve`) of the worker that
//! queued it, wherever its handle ends (see `PoolOp`). These are not
//! kernel ops: no memory of the driver's is at stake, so shutdown neither
//! cancels them nor leaks for them. At exit the pools' threads get until
//! the drain deadline to finish their jobs; one still running then (a
//! closure that never returns) is left behind, never joined (see
//! `thread_pool`).

mod thread_pool;

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use std::{fmt, mem};

use self::thread_pool::{Job, SubmitError, ThreadPool};
use crate::executor::foreign::Foreign;
use crate::executor::waker::WorkerHandle;
use crate::op::OpKind;
use crate::worker::Worker;

/// Most name lookups queued or running at once. There is no `Config` field
/// for it: lookups are short, and a backlog this deep already means the
/// resolver threads or the DNS server cannot keep up.
const RESOLVER_QUEUE_CAPACITY: usize = 1024;

// ── Public entry points ─────────────────────────────────────────────

/// Runs `f` on the runtime's blocking thread pool and returns a future
/// resolving to its return value.
///
/// Use it for work that would stall the worker's event loop: blocking
/// system calls, CPU-heavy computation, synchronous libraries. The pool has
/// [`Config::blocking_threads`](crate::Config::blocking_threads) threads
/// shared by all workers.
///
/// If `f` panics, the pool thread survives and awaiting the handle resumes
/// the panic in the awaiting task, as if `f` had run there. Dropping the
/// handle detaches the job: it still runs, and its result is dropped.
///
/// Shutdown waits for a running `f` until
/// [`Config::shutdown_drain_timeout`](crate::Config::shutdown_drain_timeout)
/// after it was requested, no longer: an `f` that has not returned by then
/// keeps its thread, which is left behind (never joined) while the
/// runtime exits.
///
/// # Errors
///
/// - called outside a ringline worker;
/// - the pool is disabled (`Config::blocking_threads` is 0), kind
///   [`Unsupported`](io::ErrorKind::Unsupported);
/// - [`Config::blocking_queue_capacity`](crate::Config::blocking_queue_capacity)
///   closures are already queued or running, kind
///   [`WouldBlock`](io::ErrorKind::WouldBlock): retry later;
/// - the runtime is shutting down.
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<BlockingJoinHandle<T>> {
    match crate::worker::current::pools() {
        None => Err(io::Error::other(
            "spawn_blocking called outside a ringline worker: call it from a task running on the runtime",
        )),
        Some((None, _)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "spawn_blocking: the blocking pool is disabled (Config::blocking_threads = 0); set it above 0",
        )),
        Some((Some(pool), _)) => pool.spawn(f),
    }
}

/// Resolves `host` to its first address, with `port`, on the runtime's
/// resolver threads (`getaddrinfo` blocks, so it never runs on a worker).
///
/// `host` may also be an IP address literal. The future yields an error for
/// an unknown name, and one of kind [`NotFound`](io::ErrorKind::NotFound)
/// when the lookup succeeds with no address. As with [`spawn_blocking`], a
/// lookup still running at the drain deadline of a shutdown is left
/// behind on its thread rather than waited for.
///
/// # Errors
///
/// - called outside a ringline worker;
/// - the pool is disabled (`Config::resolver_threads` is 0), kind
///   [`Unsupported`](io::ErrorKind::Unsupported);
/// - 1024 lookups are already queued or running, kind
///   [`WouldBlock`](io::ErrorKind::WouldBlock): retry later;
/// - the runtime is shutting down.
pub fn resolve(host: &str, port: u16) -> io::Result<ResolveFuture> {
    match crate::worker::current::pools() {
        None => Err(io::Error::other(
            "resolve called outside a ringline worker: call it from a task running on the runtime",
        )),
        Some((_, None)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "resolve: the resolver pool is disabled (Config::resolver_threads = 0); set it above 0",
        )),
        Some((_, Some(pool))) => pool.resolve(host.to_owned(), port),
    }
}

/// The future returned by [`spawn_blocking`]; resolves to the closure's
/// return value.
///
/// Dropping it detaches the closure: it still runs, and its result is
/// dropped by whichever side finishes last.
///
/// # Panics
///
/// Polling it resumes the closure's panic, if it panicked, and panics if
/// the runtime shut the pool down before the closure started.
pub struct BlockingJoinHandle<T> {
    slot: Arc<Slot<T>>,
    op: PoolOp,
}

impl<T> Future for BlockingJoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let outcome = std::task::ready!(this.slot.poll_outcome(cx));
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

/// A pool job counted as an op of the worker that queued it (op kinds
/// `blocking` and `resolve`): submitted when queued, completed when its
/// handle sees the outcome, cancelled when the handle is dropped first.
/// Its latency is measured from the turn it was queued in to the turn that
/// counted the outcome (no clock read of its own).
///
/// The outcome is always counted by the worker that queued the job, so
/// its in-flight count goes back to zero wherever the handle ends: on
/// that worker directly; on another worker or a plain thread, through the
/// queuing worker's [`WorkerHandle`], which it drains every loop turn.
struct PoolOp {
    counted: Option<Counted>,
}

/// What a counted pool job needs to report its end.
struct Counted {
    kind: OpKind,
    submitted_at_ns: u64,
    /// The worker that queued the job and counts it.
    owner: Arc<WorkerHandle>,
}

/// How a pool job ended, for the counters of the worker that queued it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolJobEnd {
    kind: OpKind,
    /// As a CQE's: 0 ok, `-ECANCELED`, another negative errno for an error.
    result: i32,
    submitted_at_ns: u64,
}

impl PoolOp {
    /// Not counted (a handle built off a worker, or before it is queued).
    const NONE: PoolOp = PoolOp { counted: None };

    fn start(kind: OpKind) -> PoolOp {
        crate::worker::current::try_with(|w| {
            w.core.driver.borrow_mut().counters.submitted(kind);
            PoolOp {
                counted: Some(Counted {
                    kind,
                    submitted_at_ns: crate::stats::clock::ns_at(w.now()),
                    owner: Arc::clone(&w.core.handle),
                }),
            }
        })
        .unwrap_or(PoolOp::NONE)
    }

    /// Counts the outcome once (`result` as a CQE's: 0 ok, `-ECANCELED`,
    /// another negative errno for an error), on whatever thread this is.
    fn finish(&mut self, result: i32) {
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
        let counted_here = crate::worker::current::try_with(|w| {
            let here = Arc::ptr_eq(&w.core.handle, &owner);
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

impl Worker {
    /// Counts the end of a pool job this worker queued.
    pub(crate) fn count_pool_job_end(&self, end: PoolJobEnd) {
        self.core
            .driver
            .borrow_mut()
            .counters
            .completed(end.kind, false, end.result);
        if end.result != -libc::ECANCELED {
            let now = crate::stats::clock::ns_at(self.now());
            self.core
                .stats
                .op_latency(end.kind, now.saturating_sub(end.submitted_at_ns));
        }
    }
}

impl<T> fmt::Debug for BlockingJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingJoinHandle").finish_non_exhaustive()
    }
}

/// The future returned by [`resolve`]; yields the first address found.
pub struct ResolveFuture {
    lookup: BlockingJoinHandle<io::Result<SocketAddr>>,
}

impl Future for ResolveFuture {
    type Output = io::Result<SocketAddr>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A lookup cannot be refused once queued, so the shutdown case is a
        // plain error here rather than the panic `BlockingJoinHandle` gives.
        let lookup = &mut self.get_mut().lookup;
        let outcome = std::task::ready!(lookup.slot.poll_outcome(cx));
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

// ── The two pools ───────────────────────────────────────────────────

/// Fill level of a pool's queue, for the stats' `blocking_queue` and
/// `resolver_queue` slabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolStats {
    /// Jobs queued or running now.
    pub(crate) used: usize,
    /// Most jobs queued or running at once before `spawn` refuses.
    pub(crate) capacity: usize,
    /// Largest `used` seen since the pool started.
    pub(crate) high_water: usize,
    /// Jobs refused because the queue was full.
    pub(crate) exhausted_total: u64,
}

/// Runs [`spawn_blocking`] closures on its own threads.
pub(crate) struct BlockingPool {
    pool: ThreadPool,
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
        let pool = ThreadPool::start(name, threads, queue_capacity)?;
        Ok(Some(Arc::new(Self { pool })))
    }

    /// Queues `f`; see [`spawn_blocking`] for the contract.
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
            Err(SubmitError::Full { capacity }) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "spawn_blocking: the blocking pool is full ({capacity} closures queued or running); \
                     retry later, or raise Config::blocking_queue_capacity or Config::blocking_threads"
                ),
            )),
            Err(SubmitError::ShutDown) => Err(io::Error::other(
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

/// Runs [`resolve`] lookups on its own threads.
pub(crate) struct ResolverPool {
    pool: ThreadPool,
}

impl ResolverPool {
    /// Starts `threads` threads named `{name}-N` (the runtime passes
    /// `ringline-resolver`); `None` when `threads` is 0 (disabled).
    pub(crate) fn new(threads: usize, name: &str) -> io::Result<Option<Arc<Self>>> {
        if threads == 0 {
            return Ok(None);
        }
        let pool = ThreadPool::start(name, threads, RESOLVER_QUEUE_CAPACITY)?;
        Ok(Some(Arc::new(Self { pool })))
    }

    /// The queue's fill level, read without taking its lock.
    pub(crate) fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Queues a lookup of `host`; see [`resolve`] for the contract.
    pub(crate) fn resolve(&self, host: String, port: u16) -> io::Result<ResolveFuture> {
        let (job, lookup) = job(move || first_address(&host, port));
        match self.pool.submit(job) {
            Ok(()) => {
                let mut lookup = lookup;
                lookup.op = PoolOp::start(OpKind::Resolve);
                Ok(ResolveFuture { lookup })
            }
            Err(SubmitError::Full { capacity }) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "resolve: the resolver queue is full ({capacity} lookups queued or running); \
                     retry later, or raise Config::resolver_threads"
                ),
            )),
            Err(SubmitError::ShutDown) => Err(io::Error::other(
                "resolve: the resolver pool is shut down (the runtime is exiting)",
            )),
        }
    }

    /// As [`BlockingPool::begin_shutdown`]: queued lookups fail with an
    /// error.
    pub(crate) fn begin_shutdown(&self) {
        self.pool.begin_shutdown();
    }

    /// As [`BlockingPool::finish_shutdown`], for lookups (a `getaddrinfo`
    /// waiting on a DNS server that never answers is left behind).
    pub(crate) fn finish_shutdown(&self, deadline: Instant) -> usize {
        self.pool.finish_shutdown(deadline)
    }
}

/// The blocking part of [`resolve`]: `getaddrinfo` through std.
fn first_address(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("resolve: {host:?} has no addresses"),
        )
    })
}

// ── Jobs and the slot they report to ────────────────────────────────

/// Wraps `f` as a job, with the handle that will receive its outcome.
fn job<T, F>(f: F) -> (Job, BlockingJoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Slot::new());
    let completer = Completer {
        slot: Some(Arc::clone(&slot)),
    };
    let job: Job = Box::new(move |release| {
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
        },
    )
}

enum Outcome<T> {
    Returned(T),
    Panicked(Box<dyn Any + Send>),
    /// The job was dropped unrun: the pool shut down first.
    Abandoned,
}

/// Where a job's outcome meets its handle.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

enum SlotState<T> {
    /// Not finished; the waker of the handle's latest poll.
    Pending(Option<Waker>),
    /// Finished; the handle has not taken the outcome yet.
    Ready(Outcome<T>),
    /// The handle took the outcome or was dropped.
    Closed,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            state: Mutex::new(SlotState::Pending(None)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // No user code runs under this lock (outcomes and wakers are moved
        // out before they are dropped or woken), so poisoning cannot leave
        // the state half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pool side: publishes the outcome and wakes the handle, or drops the
    /// outcome here if the handle is gone.
    fn finish(&self, outcome: Outcome<T>) {
        let mut state = self.lock();
        match mem::replace(&mut *state, SlotState::Closed) {
            SlotState::Pending(waker) => {
                *state = SlotState::Ready(outcome);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            // The handle was dropped: the outcome (the value, or a panic
            // payload) is dropped here, outside the lock.
            SlotState::Closed => {
                drop(state);
                drop(outcome);
            }
            SlotState::Ready(_) => unreachable!("a job finishes once"),
        }
    }

    /// Handle side: takes the outcome, or registers the waker.
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let mut state = self.lock();
        match &mut *state {
            SlotState::Pending(waker) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Ready(_) => match mem::replace(&mut *state, SlotState::Closed) {
                SlotState::Ready(outcome) => Poll::Ready(outcome),
                _ => unreachable!("matched Ready just above"),
            },
            SlotState::Closed => panic!("blocking job handle polled after it completed"),
        }
    }

    /// Handle side, on drop: whatever the slot holds is dropped outside the
    /// lock (an unclaimed value runs its destructor on this thread).
    fn detach(&self) {
        let previous = mem::replace(&mut *self.lock(), SlotState::Closed);
        drop(previous);
    }
}

/// The pool side of a slot. Dropped without [`complete`](Self::complete)
/// (the job was discarded unrun at shutdown), it tells the handle so,
/// instead of leaving it pending forever.
struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Completer<T> {
    fn complete(mut self, outcome: Outcome<T>) {
        if let Some(slot) = self.slot.take() {
            slot.finish(outcome);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.finish(Outcome::Abandoned);
        }
    }
}

impl From<PoolStats> for crate::stats::kinds::SlabUsage {
    fn from(p: PoolStats) -> Self {
        crate::stats::kinds::SlabUsage {
            used: p.used as u64,
            capacity: p.capacity as u64,
            high_water: p.high_water as u64,
            exhausted_total: p.exhausted_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::task::Wake;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Only reached when a test is failing; generous for loaded machines.
    const PATIENCE: Duration = Duration::from_secs(10);

    struct ThreadWaker(thread::Thread);

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls `future` on this thread, parking between polls.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            // Parks may end spuriously, which only costs a poll; a full
            // timeout means nobody woke us, which is the bug to catch.
            let parked = Instant::now();
            thread::park_timeout(PATIENCE);
            assert!(
                parked.elapsed() < PATIENCE,
                "not woken within {PATIENCE:?}: lost wakeup"
            );
        }
    }

    fn resolver_pool() -> Arc<ResolverPool> {
        ResolverPool::new(1, "ringline-resolver")
            .expect("start resolver pool")
            .expect("threads > 0")
    }

    fn blocking_pool(threads: usize, capacity: usize) -> Arc<BlockingPool> {
        BlockingPool::new(threads, capacity, "ringline-blocking")
            .expect("start blocking pool")
            .expect("threads > 0")
    }

    /// A job that blocks until the test sends on the returned sender.
    fn gated<T: Send + 'static>(value: T) -> (mpsc::Sender<()>, impl FnOnce() -> T + Send) {
        let (open, gate) = mpsc::channel::<()>();
        (open, move || {
            let _ = gate.recv_timeout(PATIENCE);
            value
        })
    }

    /// Shuts `pool` down with a deadline no test reaches: how many threads
    /// were left behind.
    fn shut_down(pool: &BlockingPool) -> usize {
        pool.begin_shutdown();
        pool.finish_shutdown(Instant::now() + PATIENCE)
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn zero_threads_means_disabled() {
        let blocking = BlockingPool::new(0, 16, "ringline-blocking");
        assert!(blocking.expect("no threads to start").is_none());
        let resolver = ResolverPool::new(0, "ringline-resolver");
        assert!(resolver.expect("no threads to start").is_none());
    }

    #[test]
    fn returns_the_closures_values() {
        let pool = blocking_pool(2, 16);
        let number = pool.spawn(|| 40 + 2).expect("spawn");
        let text = pool.spawn(|| String::from("done")).expect("spawn");
        assert_eq!(block_on(number), 42);
        assert_eq!(block_on(text), "done");
    }

    #[test]
    fn runs_jobs_concurrently_on_named_threads() {
        const THREADS: usize = 4;
        let pool = blocking_pool(THREADS, 16);
        let started = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let started = Arc::clone(&started);
                pool.spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    // Every job waits for all of them: this only finishes
                    // if all THREADS jobs run at the same time.
                    let deadline = Instant::now() + PATIENCE;
                    while started.load(Ordering::SeqCst) < THREADS && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(1));
                    }
                    let all_ran_together = started.load(Ordering::SeqCst) == THREADS;
                    let name = thread::current().name().map(str::to_owned);
                    (all_ran_together, name)
                })
                .expect("spawn")
            })
            .collect();
        let mut names = Vec::new();
        for handle in handles {
            let (all_ran_together, name) = block_on(handle);
            assert!(all_ran_together, "jobs did not run concurrently");
            names.push(name.expect("pool threads are named"));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), THREADS, "one job per thread: {names:?}");
        assert!(
            names.iter().all(|n| n.starts_with("ringline-blocking-")),
            "{names:?}"
        );
    }

    #[test]
    fn full_queue_refuses_then_recovers() {
        let pool = blocking_pool(1, 2);
        let (open_running, running) = gated(1);
        let (open_queued, queued) = gated(2);
        let running = pool.spawn(running).expect("first job runs");
        let queued = pool.spawn(queued).expect("second job queues");

        let err = pool.spawn(|| 3).expect_err("queue is full");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(err.to_string().contains("blocking_queue_capacity"), "{err}");
        assert_eq!(
            pool.stats(),
            PoolStats {
                used: 2,
                capacity: 2,
                high_water: 2,
                exhausted_total: 1
            }
        );

        open_running.send(()).expect("gate");
        open_queued.send(()).expect("gate");
        assert_eq!(block_on(running), 1);
        assert_eq!(block_on(queued), 2);
        // Capacity is given back before the outcome is published.
        assert_eq!(pool.stats().used, 0);

        let again: Vec<_> = (10..12)
            .map(|n| pool.spawn(move || n).expect("room again"))
            .collect();
        assert_eq!(
            again.into_iter().map(block_on).collect::<Vec<_>>(),
            [10, 11]
        );
        assert_eq!(pool.stats().exhausted_total, 1);
    }

    #[test]
    fn panic_resumes_on_await_and_the_thread_survives() {
        let pool = blocking_pool(1, 4);
        let handle = pool
            .spawn(|| -> u32 { panic!("job failed on purpose") })
            .expect("spawn");
        let payload = panic::catch_unwind(AssertUnwindSafe(|| block_on(handle)))
            .expect_err("the panic reaches the awaiting side");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"job failed on purpose")
        );

        // The single pool thread is still there to run the next job.
        assert_eq!(block_on(pool.spawn(|| 7).expect("spawn")), 7);
        assert_eq!(pool.stats().used, 0);
    }

    #[test]
    fn dropped_handle_detaches_and_the_result_is_dropped() {
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }

        let pool = blocking_pool(1, 4);
        let dropped = Arc::new(AtomicBool::new(false));
        let (open, job) = gated(SetOnDrop(Arc::clone(&dropped)));
        drop(pool.spawn(job).expect("spawn"));
        open.send(()).expect("gate");
        wait_until("the detached result is dropped", || {
            dropped.load(Ordering::SeqCst)
        });
        wait_until("the slot is released", || pool.stats().used == 0);
    }

    #[test]
    fn shutdown_finishes_running_jobs_discards_queued_and_joins() {
        let pool = blocking_pool(2, 8);
        let (open_a, a) = gated("a");
        let (open_b, b) = gated("b");
        let a = pool.spawn(a).expect("spawn a");
        let b = pool.spawn(b).expect("spawn b");
        wait_until("both threads are busy", || pool.pool.queued() == 0);
        let never_ran = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&never_ran);
        let queued = pool
            .spawn(move || flag.store(false, Ordering::SeqCst))
            .expect("spawn queued job");

        let stopper = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || shut_down(&pool))
        };
        wait_until("shutdown has begun", || pool.pool.is_shut_down());
        open_a.send(()).expect("gate");
        open_b.send(()).expect("gate");
        let abandoned = stopper.join().expect("shutdown returns");

        // Joined: every pool thread has dropped its share of the state.
        assert_eq!(abandoned, 0, "the jobs returned before the deadline");
        assert_eq!(pool.pool.shared_refs(), 1);
        assert_eq!(block_on(a), "a");
        assert_eq!(block_on(b), "b");
        assert!(never_ran.load(Ordering::SeqCst));
        let payload = panic::catch_unwind(AssertUnwindSafe(|| block_on(queued)))
            .expect_err("a discarded job's handle panics");
        let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("shut down"), "{message}");

        let err = pool.spawn(|| ()).expect_err("no spawning after shutdown");
        assert!(err.to_string().contains("shut down"), "{err}");
        assert_eq!(pool.stats().used, 0);
        assert_eq!(shut_down(&pool), 0, "idempotent");
    }

    #[test]
    fn shutdown_leaves_a_closure_running_past_the_deadline_behind() {
        let pool = blocking_pool(2, 8);
        let (release, stuck) = gated("stuck");
        let stuck = pool.spawn(stuck).expect("spawn");
        wait_until("the closure runs", || pool.pool.queued() == 0);
        let started = Instant::now();
        pool.begin_shutdown();
        let abandoned = pool.finish_shutdown(started + Duration::from_millis(200));
        let took = started.elapsed();
        assert_eq!(abandoned, 1, "the idle thread is joined, the busy one left");
        assert!(
            took >= Duration::from_millis(200),
            "left before the deadline: {took:?}"
        );
        assert!(took < PATIENCE, "waited for the stuck closure: {took:?}");
        // The abandoned thread still finishes its closure and exits.
        release.send(()).expect("gate");
        assert_eq!(block_on(stuck), "stuck");
        wait_until("the abandoned thread exits", || {
            pool.pool.shared_refs() == 1
        });
        assert_eq!(shut_down(&pool), 0, "nothing left to abandon");
    }

    #[test]
    fn resolver_shutdown_leaves_a_hung_lookup_behind_at_the_deadline() {
        let pool = resolver_pool();
        // A lookup that hangs, as `getaddrinfo` does on a DNS server that
        // never answers: the same pool, a job that waits on a gate.
        let (release, hung) = gated(Ok("127.0.0.1:1".parse().expect("literal")));
        let (job, lookup) = job(hung);
        assert!(pool.pool.submit(job).is_ok(), "queued");
        wait_until("the lookup runs", || pool.pool.queued() == 0);
        let started = Instant::now();
        pool.begin_shutdown();
        assert_eq!(
            pool.finish_shutdown(started + Duration::from_millis(100)),
            1
        );
        assert!(started.elapsed() < PATIENCE);
        release.send(()).expect("gate");
        let addr = block_on(ResolveFuture { lookup }).expect("the lookup still answers");
        assert_eq!(addr.port(), 1);
        wait_until("the abandoned thread exits", || {
            pool.pool.shared_refs() == 1
        });
    }

    #[test]
    fn resolves_localhost_to_loopback() {
        let pool = resolver_pool();
        let addr = block_on(pool.resolve("localhost".into(), 8080).expect("queue"))
            .expect("localhost resolves");
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 8080);

        let literal = block_on(pool.resolve("127.0.0.1".into(), 53).expect("queue"))
            .expect("literals resolve");
        assert_eq!(literal, "127.0.0.1:53".parse().expect("literal"));
    }

    #[test]
    fn unknown_name_is_an_error() {
        let pool = resolver_pool();
        let result = block_on(
            pool.resolve("no-such-host.invalid".into(), 80)
                .expect("queue"),
        );
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn resolver_shutdown_turns_queued_lookups_into_errors() {
        let pool = resolver_pool();
        pool.begin_shutdown();
        assert_eq!(pool.finish_shutdown(Instant::now() + PATIENCE), 0);
        let err = pool
            .resolve("localhost".into(), 80)
            .expect_err("no lookups after shutdown");
        assert!(err.to_string().contains("shut down"), "{err}");

        // A lookup discarded while queued resolves to an error, not a panic.
        let (job, lookup) = job(|| first_address("localhost", 80));
        drop(job);
        let result = block_on(ResolveFuture { lookup });
        assert!(result.is_err_and(|e| e.to_string().contains("shut down")));
    }
}
