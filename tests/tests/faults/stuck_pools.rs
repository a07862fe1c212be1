//! A `spawn_blocking` closure that never returns (a hung NFS read) at
//! shutdown: the pool thread running it gets until the drain deadline,
//! then is left behind — counted in the final snapshot, named in one log
//! line — and every worker exits. A closure that returns within the drain
//! timeout is waited for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats, test_config};

use crate::util::{figures, ms};

/// The test config's drain timeout, named here because the bounds use it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// "Did not hang": the drain timeout plus a generous margin for a loaded
/// machine (before the fix, shutdown never ended).
const SHUTDOWN_BOUND: Duration = Duration::from_secs(4);

/// Waits (on the worker, by polling) until `flag` is set, up to 5 s.
async fn until_set(flag: &AtomicBool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !flag.load(Ordering::SeqCst) {
        ensure!(Instant::now() < deadline, "the closure never started");
        ringline::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

backend_test! {
    fn shutdown_abandons_a_blocking_closure_that_never_returns(backend) {
        static GATE: Mutex<Option<mpsc::Receiver<()>>> = Mutex::new(None);
        static STARTED: AtomicBool = AtomicBool::new(false);
        static RETURNED: AtomicBool = AtomicBool::new(false);
        static REQUESTED: Mutex<Option<Instant>> = Mutex::new(None);
        struct Stuck;
        impl Scenario for Stuck {
            async fn run() -> Result<(), String> {
                let gate = GATE.lock().unwrap().take().ok_or("no gate")?;
                let job = ringline::spawn_blocking(move || {
                    STARTED.store(true, Ordering::SeqCst);
                    // Returns only once the test drops its sender.
                    let _ = gate.recv();
                    RETURNED.store(true, Ordering::SeqCst);
                })
                .map_err(|e| format!("spawn_blocking: {e}"))?;
                // A task awaits it when shutdown drops every task.
                ringline::spawn(job).map_err(|e| format!("spawn: {e}"))?;
                until_set(&STARTED).await?;
                *REQUESTED.lock().unwrap() = Some(Instant::now());
                Ok(())
            }
        }

        let (release, gate) = mpsc::channel::<()>();
        *GATE.lock().unwrap() = Some(gate);
        let mut config = test_config(backend);
        config.shutdown_drain_timeout = DRAIN_TIMEOUT;
        let Some(rt) = run_scenario_stats::<Stuck>(config) else {
            return;
        };
        let took = REQUESTED.lock().unwrap().take().expect("the scenario ran").elapsed();
        assert!(!RETURNED.load(Ordering::SeqCst), "the closure cannot have returned yet");
        assert!(took < SHUTDOWN_BOUND, "shutdown took {took:?} with a stuck closure");
        assert!(
            took >= DRAIN_TIMEOUT - Duration::from_millis(50),
            "the closure was not given the drain timeout: abandoned after {took:?}"
        );
        assert_eq!(rt.pool_threads_abandoned, 1, "the stuck thread is counted");
        let blocking = rt.workers[0].op("blocking").expect("blocking");
        assert_eq!(
            (blocking.in_flight, blocking.completed_cancelled_total),
            (0, 1),
            "the dropped handle is counted as cancelled: {blocking:?}"
        );
        assert_eq!(rt.workers[0].graveyard.abandoned, 0, "no kernel op was given up on");
        // Let the abandoned thread finish and exit.
        drop(release);
        ringline_tests::wait_for("the closure to return", Duration::from_secs(5), || {
            RETURNED.load(Ordering::SeqCst).then_some(())
        });
        figures(
            "stuck_pools",
            &[
                ("backend", format!("{backend:?}")),
                ("drain_timeout_ms", ms(DRAIN_TIMEOUT)),
                ("shutdown_ms", ms(took)),
                ("threads_abandoned", rt.pool_threads_abandoned.to_string()),
            ],
        );
    }
}

backend_test! {
    fn shutdown_waits_for_a_blocking_closure_that_returns_within_the_drain_timeout(backend) {
        static STARTED: AtomicBool = AtomicBool::new(false);
        static RETURNED: AtomicBool = AtomicBool::new(false);
        struct Slow;
        impl Scenario for Slow {
            async fn run() -> Result<(), String> {
                let job = ringline::spawn_blocking(|| {
                    STARTED.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    RETURNED.store(true, Ordering::SeqCst);
                })
                .map_err(|e| format!("spawn_blocking: {e}"))?;
                // Detached: the closure still runs to its end.
                drop(job);
                until_set(&STARTED).await
            }
        }

        let mut config = test_config(backend);
        config.shutdown_drain_timeout = Duration::from_secs(5);
        let Some(rt) = run_scenario_stats::<Slow>(config) else {
            return;
        };
        assert!(
            RETURNED.load(Ordering::SeqCst),
            "the workers exited before the closure returned"
        );
        assert_eq!(rt.pool_threads_abandoned, 0);
    }
}
