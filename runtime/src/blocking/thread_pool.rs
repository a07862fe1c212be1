//! The thread pool both pools run on: named threads taking jobs from one
//! bounded FIFO queue, and a shutdown that never waits past a deadline.
//!
//! ```text
//!  submit ─▶ [job][job]… ─ pop (busy += 1) ─▶ run ─▶ back for the next (busy -= 1)
//!  shutdown: flag, drop queued jobs, wake everyone
//!            wait until every thread exited, or the deadline passed and
//!            only threads busy in a job remain: those are abandoned
//!            (detached, counted), the others joined
//! ```
//!
//! A `Mutex<VecDeque>` with a `Condvar` rather than a lock-free queue:
//! idle threads must sleep, submissions are rare next to socket I/O, and
//! the capacity counts running jobs too, which a bounded lock-free queue
//! alone would not.
//!
//! Why abandon rather than join: a job is the caller's code (a read of a
//! hung NFS mount, a `getaddrinfo` waiting on a dead DNS server) and may
//! never return; nothing can interrupt it. Joining it would hang the
//! runtime's exit forever. A detached thread holds only its own job and
//! the pool's shared state (an `Arc`), so leaving it behind loses no
//! memory anyone else may reuse; it exits by itself if its job returns.

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use std::cell::Cell;

use super::PoolStats;

/// A queued job. It gets a `release` callback to call once its work is
/// done and before it publishes the outcome, so that a task which saw the
/// outcome also sees the queue capacity given back.
pub(super) type Job = Box<dyn FnOnce(&dyn Fn()) + Send>;

/// How often a shutdown past its deadline looks again for idle threads
/// that have not exited yet. They exit as soon as they are scheduled, so
/// this bounds nothing but the wait for a thread the OS has not run yet.
const EXIT_RECHECK: Duration = Duration::from_millis(5);

pub(super) enum SubmitError {
    Full { capacity: usize },
    ShutDown,
}

/// See the module docs.
pub(super) struct ThreadPool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

struct Shared {
    queue: Mutex<Queue>,
    job_ready: Condvar,
    /// Signalled when a thread exits, or finishes a job, after shutdown.
    thread_exited: Condvar,
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
    /// Threads that have not returned from their loop.
    live: usize,
    /// Threads running a job now.
    busy: usize,
}

impl ThreadPool {
    pub(super) fn start(name: &str, threads: usize, capacity: usize) -> io::Result<Self> {
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

    pub(super) fn submit(&self, job: Job) -> Result<(), SubmitError> {
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

    /// Refuses new jobs, drops the queued ones (their handles see the pool
    /// shut down) and tells every thread to exit once its job is done.
    /// Returns at once; idempotent.
    pub(super) fn begin_shutdown(&self) {
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
    }

    /// After [`begin_shutdown`](Self::begin_shutdown): waits for each
    /// thread to finish its job and exit, until `deadline`; threads still
    /// in a job then are detached rather than joined. Returns how many
    /// were left behind. Idle threads are always waited for: they exit as
    /// soon as they run. Idempotent (a second call finds nothing to join).
    pub(super) fn finish_shutdown(&self, deadline: Instant) -> usize {
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
                // Jobs run under catch_unwind, so a pool thread only ends
                // in a panic if a waker panics; nothing is left to clean up.
                let _ = handle.join();
            }
        }
        abandoned
    }

    pub(super) fn stats(&self) -> PoolStats {
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
        // Reached with threads still listed only when the runtime never
        // shut the pool down (a failed start): idle threads are joined,
        // a job still running is not waited for.
        self.begin_shutdown();
        self.finish_shutdown(Instant::now());
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
/// leaving queued jobs to [`ThreadPool::begin_shutdown`].
fn run_worker(shared: &Shared) {
    let mut ran_a_job = false;
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            if mem::take(&mut ran_a_job) {
                queue.busy -= 1;
            }
            loop {
                if queue.shut_down {
                    queue.live -= 1;
                    drop(queue);
                    shared.thread_exited.notify_all();
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    queue.busy += 1;
                    break job;
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
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
impl ThreadPool {
    /// Jobs waiting for a thread.
    pub(super) fn queued(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    /// Whether shutdown has begun.
    pub(super) fn is_shut_down(&self) -> bool {
        lock(&self.shared.queue).shut_down
    }

    /// References to the shared state: 1 once every thread has exited.
    pub(super) fn shared_refs(&self) -> usize {
        Arc::strong_count(&self.shared)
    }
}
