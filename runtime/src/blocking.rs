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

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::op::OpKind;
use std::task::{Context, Poll, Waker};
use std::{fmt, mem, thread};

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
    match crate::executor::context::pools() {
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
/// when the lookup succeeds with no address.
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
    match crate::executor::context::pools() {
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
/// saw the outcome (no clock read of its own).
///
/// A handle moved to another worker and finished there is counted on that
/// worker, leaving the first worker's count in flight.
struct PoolOp {
    kind: Option<OpKind>,
    submitted_at_ns: u64,
}

impl PoolOp {
    /// Not counted (a handle built off a worker, or before it is queued).
    const NONE: PoolOp = PoolOp {
        kind: None,
        submitted_at_ns: 0,
    };

    fn start(kind: OpKind) -> PoolOp {
        crate::executor::context::try_with(|w| {
            w.driver.borrow_mut().counters.submitted(kind);
            PoolOp {
                kind: Some(kind),
                submitted_at_ns: crate::stats::clock::ns_at(w.now()),
            }
        })
        .unwrap_or(PoolOp::NONE)
    }

    /// Counts the outcome once (`result` as a CQE's: 0 ok, `-ECANCELED`,
    /// another negative errno for an error).
    fn finish(&mut self, result: i32) {
        let Some(kind) = self.kind.take() else {
            return;
        };
        crate::executor::context::try_with(|w| {
            w.driver
                .borrow_mut()
                .counters
                .completed(kind, false, result);
            if result != -libc::ECANCELED {
                let now = crate::stats::clock::ns_at(w.now());
                w.stats
                    .op_latency(kind, now.saturating_sub(self.submitted_at_ns));
            }
        });
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

    /// Lets each thread finish its current closure, drops the queued ones
    /// (their handles panic when polled), and joins the threads. Waits as
    /// long as the running closures take. Idempotent; also run on drop.
    pub(crate) fn shutdown(&self) {
        self.pool.shutdown();
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

    /// As [`BlockingPool::shutdown`]: queued lookups fail with an error.
    pub(crate) fn shutdown(&self) {
        self.pool.shutdown();
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

/// A queued job. It gets a `release` callback to call once its work is
/// done and before it publishes the outcome, so that a task which saw the
/// outcome also sees the queue capacity given back.
type Job = Box<dyn FnOnce(&dyn Fn()) + Send>;

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

// ── The thread pool both pools run on ───────────────────────────────

enum SubmitError {
    Full { capacity: usize },
    ShutDown,
}

/// Named threads taking jobs from one bounded FIFO queue.
///
/// A `Mutex<VecDeque>` with a `Condvar` rather than a lock-free queue:
/// idle threads must sleep, submissions are rare next to socket I/O, and
/// the capacity counts running jobs too, which a bounded lock-free queue
/// alone would not.
struct ThreadPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

struct Shared {
    queue: Mutex<Queue>,
    job_ready: Condvar,
    capacity: usize,
    /// Mirrors of `Queue`'s counters, stored under the queue lock and read
    /// without it, so stats readers never contend with submitters.
    used: AtomicUsize,
    high_water: AtomicUsize,
    exhausted_total: AtomicU64,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Queued plus running jobs.
    used: usize,
    high_water: usize,
    exhausted_total: u64,
    shut_down: bool,
}

impl ThreadPool {
    fn start(name: &str, threads: usize, capacity: usize) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                used: 0,
                high_water: 0,
                exhausted_total: 0,
                shut_down: false,
            }),
            job_ready: Condvar::new(),
            capacity,
            used: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            exhausted_total: AtomicU64::new(0),
        });
        let pool = Self {
            shared,
            threads: Mutex::new(Vec::with_capacity(threads)),
        };
        for index in 0..threads {
            let shared = Arc::clone(&pool.shared);
            let spawned = thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || run_worker(&shared));
            match spawned {
                Ok(handle) => lock(&pool.threads).push(handle),
                // Dropping `pool` stops and joins the threads already started.
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("cannot start thread {name}-{index}: {err}"),
                    ));
                }
            }
        }
        Ok(pool)
    }

    fn submit(&self, job: Job) -> Result<(), SubmitError> {
        let mut queue = lock(&self.shared.queue);
        let refused = if queue.shut_down {
            Some(SubmitError::ShutDown)
        } else if queue.used >= self.shared.capacity {
            queue.exhausted_total += 1;
            self.shared.publish(&queue);
            Some(SubmitError::Full {
                capacity: self.shared.capacity,
            })
        } else {
            None
        };
        if let Some(err) = refused {
            // The refused job holds the caller's closure: drop it outside
            // the lock.
            drop(queue);
            drop(job);
            return Err(err);
        }
        queue.jobs.push_back(job);
        queue.used += 1;
        queue.high_water = queue.high_water.max(queue.used);
        self.shared.publish(&queue);
        drop(queue);
        self.shared.job_ready.notify_one();
        Ok(())
    }

    fn shutdown(&self) {
        let discarded = {
            let mut queue = lock(&self.shared.queue);
            queue.shut_down = true;
            let discarded = mem::take(&mut queue.jobs);
            queue.used -= discarded.len();
            self.shared.publish(&queue);
            discarded
        };
        self.shared.job_ready.notify_all();
        // Dropping a job unrun marks its handle abandoned and wakes it.
        drop(discarded);

        let threads = mem::take(&mut *lock(&self.threads));
        let current = thread::current().id();
        for handle in threads {
            // A pool thread cannot join itself; it exits on its own once
            // back in its loop.
            if handle.thread().id() != current {
                // Jobs run under catch_unwind, so a pool thread only ends
                // in a panic if a waker panics; nothing is left to clean up.
                let _ = handle.join();
            }
        }
    }

    fn stats(&self) -> PoolStats {
        PoolStats {
            used: self.shared.used.load(Ordering::Relaxed),
            capacity: self.shared.capacity,
            high_water: self.shared.high_water.load(Ordering::Relaxed),
            exhausted_total: self.shared.exhausted_total.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    /// Called with the queue lock held, so the stores never race.
    fn publish(&self, queue: &Queue) {
        self.used.store(queue.used, Ordering::Relaxed);
        self.high_water.store(queue.high_water, Ordering::Relaxed);
        self.exhausted_total
            .store(queue.exhausted_total, Ordering::Relaxed);
    }

    fn release_one(&self) {
        let mut queue = lock(&self.queue);
        queue.used -= 1;
        self.publish(&queue);
    }
}

/// A pool thread: take the oldest job, run it, repeat; exit at shutdown,
/// leaving queued jobs to [`ThreadPool::shutdown`].
fn run_worker(shared: &Shared) {
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if queue.shut_down {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue = shared
                    .job_ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let released = Cell::new(false);
        let release = || {
            if !released.replace(true) {
                shared.release_one();
            }
        };
        // The job catches the closure's own panic; this outer catch is for
        // what runs after it, such as dropping a detached result whose
        // destructor panics. Either way the thread lives on.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| job(&release)));
        release();
    }
}

/// Locks, ignoring poison: no user code runs under these locks (refused or
/// discarded jobs are dropped after unlocking), so a poisoned lock still
/// guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::task::Wake;
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
        wait_until("both threads are busy", || {
            lock(&pool.pool.shared.queue).jobs.is_empty()
        });
        let never_ran = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&never_ran);
        let queued = pool
            .spawn(move || flag.store(false, Ordering::SeqCst))
            .expect("spawn queued job");

        let stopper = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.shutdown())
        };
        wait_until("shutdown has begun", || {
            lock(&pool.pool.shared.queue).shut_down
        });
        open_a.send(()).expect("gate");
        open_b.send(()).expect("gate");
        stopper.join().expect("shutdown returns");

        // Joined: every pool thread has dropped its share of the state.
        assert_eq!(Arc::strong_count(&pool.pool.shared), 1);
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
        pool.shutdown(); // idempotent
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
        pool.shutdown();
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
