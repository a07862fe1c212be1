//! The pool alone, with jobs of its own: the two shutdown modes, and a
//! drop that does not wait for a running job.

use super::*;
use std::sync::mpsc;

/// Only reached when a test is failing; generous for loaded machines.
const PATIENCE: Duration = Duration::from_secs(10);

/// A job that waits for its gate to open, then reports `id` as run.
struct Gated {
    id: usize,
    gate: Option<mpsc::Receiver<()>>,
    ran: mpsc::Sender<usize>,
}

impl Job for Gated {
    fn run(self, release: &dyn Fn()) {
        if let Some(gate) = &self.gate {
            let _ = gate.recv_timeout(PATIENCE);
        }
        release();
        let _ = self.ran.send(self.id);
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn run_queued_shutdown_runs_every_queued_job_in_order() {
    let pool = ThreadPool::start("ringline-test", 1, usize::MAX, AtShutdown::RunQueued)
        .expect("start pool");
    let (ran_tx, ran) = mpsc::channel();
    let (open, gate) = mpsc::channel();
    let first = Gated {
        id: 0,
        gate: Some(gate),
        ran: ran_tx.clone(),
    };
    assert!(pool.submit(first).is_ok());
    wait_until("the first job runs", || pool.queued() == 0);
    for id in 1..4 {
        let job = Gated {
            id,
            gate: None,
            ran: ran_tx.clone(),
        };
        assert!(pool.submit(job).is_ok());
    }
    pool.begin_shutdown();
    assert!(pool.is_shut_down());
    let late = Gated {
        id: 99,
        gate: None,
        ran: ran_tx.clone(),
    };
    let refused = pool.submit(late).expect_err("no jobs after shutdown");
    assert_eq!(refused.why, SubmitError::ShutDown);
    assert_eq!(refused.job.id, 99, "the refused job is handed back");

    open.send(()).expect("gate");
    assert_eq!(pool.finish_shutdown(Instant::now() + PATIENCE), 0);
    let order: Vec<usize> = ran.try_iter().collect();
    assert_eq!(order, [0, 1, 2, 3], "queued jobs ran, oldest first");
    assert_eq!(pool.shared_refs(), 1, "every thread exited");
    assert_eq!(pool.stats().used, 0);
}

#[test]
fn discard_shutdown_drops_queued_jobs_unrun() {
    let pool = ThreadPool::start("ringline-test", 1, 8, AtShutdown::Discard).expect("start pool");
    let (ran_tx, ran) = mpsc::channel();
    let (open, gate) = mpsc::channel();
    let running = Gated {
        id: 0,
        gate: Some(gate),
        ran: ran_tx.clone(),
    };
    assert!(pool.submit(running).is_ok());
    wait_until("the first job runs", || pool.queued() == 0);
    let queued = Gated {
        id: 1,
        gate: None,
        ran: ran_tx,
    };
    assert!(pool.submit(queued).is_ok());
    pool.begin_shutdown();
    assert_eq!(pool.queued(), 0, "the queued job was dropped");
    assert_eq!(pool.stats().used, 1, "only the running job is counted");
    open.send(()).expect("gate");
    assert_eq!(pool.finish_shutdown(Instant::now() + PATIENCE), 0);
    assert_eq!(ran.try_iter().collect::<Vec<_>>(), [0]);
}

#[test]
fn dropping_the_pool_leaves_a_running_job_behind_without_waiting() {
    let pool = ThreadPool::start("ringline-test", 2, usize::MAX, AtShutdown::RunQueued)
        .expect("start pool");
    let (ran_tx, ran) = mpsc::channel();
    let (open, gate) = mpsc::channel();
    let stuck = Gated {
        id: 7,
        gate: Some(gate),
        ran: ran_tx,
    };
    assert!(pool.submit(stuck).is_ok());
    wait_until("the job runs", || pool.queued() == 0);
    let started = Instant::now();
    drop(pool);
    assert!(started.elapsed() < PATIENCE, "waited for the running job");
    // The detached thread still finishes its job.
    open.send(()).expect("gate");
    assert_eq!(ran.recv_timeout(PATIENCE), Ok(7));
}
