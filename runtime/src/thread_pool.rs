//! The runtime's one thread-pool implementation: named threads taking jobs
//! from one bounded FIFO queue, and a shutdown that never waits past a
//! deadline. Three pools run on it: `spawn_blocking` closures and `resolve`
//! lookups (`blocking`), and the mio backend's file ops (`driver::mio`).
//!
//! ```text
//!  submit ─▶ [job][job]… ─ pop (busy += 1) ─▶ run ─▶ back for the next (busy -= 1)
//!  shutdown: flag; drop the queued jobs (Discard) or leave them to be run
//!            (RunQueued); wake everyone
//!            wait until every thread exited, or the deadline passed and
//!            only threads busy in a job remain: those are abandoned
//!            (detached, counted), the others joined
//! ```
//!
//! One instance per purpose, not one pool with a lane per purpose. Each
//! instance owns its threads, its queue and its capacity, so a
//! `spawn_blocking` closure that never returns, or a `getaddrinfo` waiting
//! on a dead DNS server, holds a thread of its own pool only: file I/O on
//! the mio backend always has its own threads to run on. Lanes in one pool
//! would need the same per-lane threads and queues to give that guarantee,
//! plus a scheduler between them, for no sharing anyone could use.
//!
//! The pools differ only in what they pass to [`ThreadPool::start`]: the
//! job type, the capacity, and what shutdown does with queued jobs. A
//! closure or lookup queued at shutdown is dropped unrun (its handle sees
//! the pool gone); a file op is run anyway, since its completion is what
//! lets the worker free, or keep leaking, the memory the op points to.
//!
//! A `Mutex<VecDeque>` with a `Condvar` rather than a lock-free queue:
//! idle threads must sleep, submissions are rare next to socket I/O, and
//! the capacity counts running jobs too, which a bounded lock-free queue
//! alone would not.
//!
//! Why abandon rather than join: a job may be the caller's code (a read of
//! a hung NFS mount, a `getaddrinfo` waiting on a dead DNS server) and may
//! never return; nothing can interrupt it. Joining it would hang the
//! runtime's exit forever. A detached thread holds only its own job and
//! the pool's shared state (an `Arc`), so leaving it behind loses no
//! memory anyone else may reuse; it exits by itself if its job returns.
//!
//! This module uses nothing but `std`: the mio driver, which sits below
//! the executor, runs its file ops here.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Work a pool thread runs.
pub(crate) trait Job: Send + 'static {
    /// Does the work. `release` gives the job's queue capacity back; call
    /// it once the work is done and before publishing the outcome, so that
    /// whoever sees the outcome also sees the capacity returned. A job that
    /// does not call it is released when it returns.
    fn run(self, release: &dyn Fn());
}

/// A job as a boxed closure, for pools whose jobs are all different
/// closures (`spawn_blocking`, `resolve`).
pub(crate) type BoxedJob = Box<dyn FnOnce(&dyn Fn()) + Send>;

impl Job for BoxedJob {
    fn run(self, release: &dyn Fn()) {
        self(release);
    }
}

/// What shutdown does with jobs still queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtShutdown {
    /// Drop them unrun: whoever waits on them learns the pool is gone.
    Discard,
    /// Run them first; the threads exit once the queue is empty.
    RunQueued,
}

/// Fill level of a pool's queue, for the stats' `blocking_queue` and
/// `resolver_queue` slabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolStats {
    /// Jobs queued or running now.
    pub(crate) used: usize,
    /// Most jobs queued or running at once before `submit` refuses.
    pub(crate) capacity: usize,
    /// Largest `used` seen since the pool started.
    pub(crate) high_water: usize,
    /// Jobs refused because the queue was full.
    pub(crate) exhausted_total: u64,
}

/// Why [`ThreadPool::submit`] did not queue a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubmitError {
    /// `capacity` jobs are queued or running.
    Full { capacity: usize },
    /// Shutdown has begun.
    ShutDown,
}

/// A job [`ThreadPool::submit`] refused, handed back to the caller (who
/// decides where it is dropped, or runs it elsewhere).
pub(crate) struct Refused<J> {
    pub(crate) job: J,
    pub(crate) why: SubmitError,
}

/// How often a shutdown past its deadline looks again for idle threads
/// that have not exited yet. They exit as soon as they are scheduled, so
/// this bounds nothing but the wait for a thread the OS has not run yet.
const EXIT_RECHECK: Duration = Duration::from_millis(5);

/// See the module docs.
pub(crate) struct ThreadPool<J: Job> {
    shared: Arc<Shared<J>>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

struct Shared<J> {
    queue: Mutex<Queue<J>>,
    job_ready: Condvar,
    /// Signalled when a thread exits.
    thread_exited: Condvar,
    capacity: usize,
    at_shutdown: AtShutdown,
    /// Mirrors of `Queue`'s counters, stored under the queue lock and read
    /// without it, so stats readers never contend with submitters.
    used: AtomicUsize,
    high_water: AtomicUsize,
    exhausted_total: AtomicU64,
}

struct Queue<J> {
    jobs: VecDeque<J>,
    /// Queued plus running jobs.
    used: usize,
    high_water: usize,
    exhausted_total: u64,
    shut_down: bool,
    /// Threads that have not returned from their loop.
    live: usize,
    /// Threads running a job now.
    busy: usize,
}

impl<J: Job> ThreadPool<J> {
    /// Starts `threads` threads named `{name}-N`, taking at most
    /// `capacity` jobs queued or running at once.
    pub(crate) fn start(
        name: &str,
        threads: usize,
        capacity: usize,
        at_shutdown: AtShutdown,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                used: 0,
                high_water: 0,
                exhausted_total: 0,
                shut_down: false,
                live: 0,
                busy: 0,
            }),
            job_ready: Condvar::new(),
            thread_exited: Condvar::new(),
            capacity,
            at_shutdown,
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
            // Counted before the thread runs, so a shutdown right after
            // start waits for it.
            lock(&pool.shared.queue).live += 1;
            let spawned = thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || run_worker(&shared));
            match spawned {
                Ok(handle) => lock(&pool.threads).push(handle),
                // Dropping `pool` stops and joins the threads already started.
                Err(err) => {
                    lock(&pool.shared.queue).live -= 1;
                    return Err(io::Error::new(
                        err.kind(),
                        format!("cannot start thread {name}-{index}: {err}"),
                    ));
                }
            }
        }
        Ok(pool)
    }

    /// Queues `job`, or hands it back when the queue is full or shutdown
    /// has begun.
    pub(crate) fn submit(&self, job: J) -> Result<(), Refused<J>> {
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
        if let Some(why) = refused {
            // The refused job may hold the caller's closure: it goes back
            // to be dropped outside the lock.
            drop(queue);
            return Err(Refused { job, why });
        }
        queue.jobs.push_back(job);
        queue.used += 1;
        queue.high_water = queue.high_water.max(queue.used);
        self.shared.publish(&queue);
        drop(queue);
        self.shared.job_ready.notify_one();
        Ok(())
    }

    /// Refuses new jobs, drops the queued ones or leaves them to be run
    /// (as [`AtShutdown`] says), and tells every thread to exit once the
    /// queue is empty. Returns at once; idempotent.
    pub(crate) fn begin_shutdown(&self) {
        let discarded = {
            let mut queue = lock(&self.shared.queue);
            queue.shut_down = true;
            let discarded = match self.shared.at_shutdown {
                AtShutdown::Discard => mem::take(&mut queue.jobs),
                AtShutdown::RunQueued => VecDeque::new(),
            };
            queue.used -= discarded.len();
            self.shared.publish(&queue);
            discarded
        };
        self.shared.job_ready.notify_all();
        // Dropping a job unrun tells whoever waits on it; outside the lock.
        drop(discarded);
    }

    /// After [`begin_shutdown`](Self::begin_shutdown): waits for each
    /// thread to finish its jobs and exit, until `deadline`; threads still
    /// in a job then are detached rather than joined. Returns how many
    /// were left behind. Idle threads are always waited for: they exit as
    /// soon as they run. Idempotent (a second call finds nothing to join).
    pub(crate) fn finish_shutdown(&self, deadline: Instant) -> usize {
        let threads = mem::take(&mut *lock(&self.threads));
        // A pool thread cannot wait for itself (the last reference to the
        // pool may be dropped in a job); it exits on its own once back in
        // its loop.
        let current = thread::current().id();
        let me = usize::from(threads.iter().any(|h| h.thread().id() == current));
        let mut queue = lock(&self.shared.queue);
        loop {
            let others = queue.live - me;
            if others == 0 {
                break;
            }
            let now = Instant::now();
            // Past the deadline, stop once every thread left is in a job.
            if now >= deadline && queue.busy - me == others {
                break;
            }
            let wait = deadline.saturating_duration_since(now).max(EXIT_RECHECK);
            queue = self
                .shared
                .thread_exited
                .wait_timeout(queue, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let abandoned = queue.live - me;
        drop(queue);
        for handle in threads {
            if handle.thread().id() == current {
                continue;
            }
            // With nothing abandoned every thread is returning, so the
            // join is brief. Otherwise a thread not yet finished may be
            // the stuck one: dropping its handle detaches it.
            if abandoned == 0 || handle.is_finished() {
                // Jobs catch their panics, so a pool thread only ends in a
                // panic if a waker panics; nothing is left to clean up.
                let _ = handle.join();
            }
        }
        abandoned
    }

    /// The queue's fill level, read without taking its lock.
    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            used: self.shared.used.load(Ordering::Relaxed),
            capacity: self.shared.capacity,
            high_water: self.shared.high_water.load(Ordering::Relaxed),
            exhausted_total: self.shared.exhausted_total.load(Ordering::Relaxed),
        }
    }
}

impl<J: Job> Drop for ThreadPool<J> {
    fn drop(&mut self) {
        // With threads still listed when the owner never shut the pool
        // down (a failed start, or the mio disk pool, which stops when its
        // last driver lets go of it): idle threads are joined, a job still
        // running is not waited for.
        self.begin_shutdown();
        self.finish_shutdown(Instant::now());
    }
}

impl<J> Shared<J> {
    /// Called with the queue lock held, so the stores never race.
    fn publish(&self, queue: &Queue<J>) {
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

/// A pool thread: take the oldest job, run it, repeat; exit at shutdown
/// once the queue is empty (with [`AtShutdown::Discard`],
/// [`ThreadPool::begin_shutdown`] has emptied it already).
fn run_worker<J: Job>(shared: &Shared<J>) {
    let mut ran_a_job = false;
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            if mem::take(&mut ran_a_job) {
                queue.busy -= 1;
            }
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    queue.busy += 1;
                    break job;
                }
                if queue.shut_down {
                    queue.live -= 1;
                    drop(queue);
                    shared.thread_exited.notify_all();
                    return;
                }
                queue = shared
                    .job_ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        ran_a_job = true;
        let released = Cell::new(false);
        let release = || {
            if !released.replace(true) {
                shared.release_one();
            }
        };
        // A job catches its own caller's panic; this outer catch is for
        // what runs after it, such as dropping a detached result whose
        // destructor panics. Either way the thread lives on.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| job.run(&release)));
        release();
    }
}

/// Locks, ignoring poison: no job runs under these locks (refused or
/// discarded jobs are dropped after unlocking), so a poisoned lock still
/// guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
impl<J: Job> ThreadPool<J> {
    /// Jobs waiting for a thread.
    pub(crate) fn queued(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shut_down(&self) -> bool {
        lock(&self.shared.queue).shut_down
    }

    /// References to the shared state: 1 once every thread has exited.
    pub(crate) fn shared_refs(&self) -> usize {
        Arc::strong_count(&self.shared)
    }
}

#[cfg(test)]
mod tests;
