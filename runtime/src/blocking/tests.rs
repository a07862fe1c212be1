//! Tests of the blocking and resolver pools, driven from a plain thread
//! (no worker, so their jobs are not counted as ops).

use super::pool::job;
use super::resolver::first_address;
use super::{BlockingPool, ResolveFuture, ResolverPool};
use crate::thread_pool::PoolStats;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
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

    let literal =
        block_on(pool.resolve("127.0.0.1".into(), 53).expect("queue")).expect("literals resolve");
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
