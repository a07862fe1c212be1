//! Time: `sleep`, `sleep_until`, `timeout`, `timeout_at` and `Deadline`.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringline::{Deadline, Elapsed, sleep, sleep_until, timeout, timeout_at};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario, test_config};

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

backend_test! {
    fn sleep_lasts_at_least_the_requested_duration(backend) {
        struct Sleep;
        impl Scenario for Sleep {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    for ms in [1u64, 15, 30] {
                        let wanted = Duration::from_millis(ms);
                        let started = Instant::now();
                        sleep(wanted).await;
                        let slept = started.elapsed();
                        ensure!(
                            slept >= wanted,
                            "sleep({wanted:?}) returned after {slept:?}"
                        );
                        ensure!(
                            slept < wanted + Duration::from_secs(1),
                            "sleep({wanted:?}) took {slept:?}"
                        );
                    }
                    let started = Instant::now();
                    sleep(Duration::ZERO).await;
                    ensure!(
                        started.elapsed() < Duration::from_millis(500),
                        "sleep(0) took long"
                    );
                    Ok(())
                }
            }
        }
        run_scenario::<Sleep>(test_config(backend));
    }
}

backend_test! {
    /// `timeout` passes a fast future's output through, and gives
    /// `Elapsed` (dropping the inner future) for a slow one.
    fn timeout_ok_and_expired(backend) {
        struct Timeout;
        impl Scenario for Timeout {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let fast = timeout(Duration::from_secs(1), async {
                        sleep(Duration::from_millis(5)).await;
                        7
                    })
                    .await;
                    ensure!(fast == Ok(7), "fast future: {fast:?}");

                    let ready = timeout(Duration::ZERO, async { 8 }).await;
                    ensure!(
                        ready == Ok(8),
                        "a ready future must win a zero timeout: {ready:?}"
                    );

                    let dropped = Rc::new(Cell::new(false));
                    let guard = DropFlag(dropped.clone());
                    let started = Instant::now();
                    let slow = timeout(Duration::from_millis(20), async move {
                        let _guard = guard;
                        sleep(Duration::from_secs(10)).await;
                    })
                    .await;
                    let waited = started.elapsed();
                    ensure!(slow == Err(Elapsed), "slow future: {slow:?}");
                    ensure!(
                        waited >= Duration::from_millis(20),
                        "expired after only {waited:?}"
                    );
                    ensure!(
                        waited < Duration::from_secs(1),
                        "expired only after {waited:?}"
                    );
                    ensure!(dropped.get(), "the timed-out future was not dropped");
                    Ok(())
                }
            }
        }
        run_scenario::<Timeout>(test_config(backend));
    }
}

backend_test! {
    /// Absolute deadlines: `Deadline::remaining`, `sleep_until`,
    /// `timeout_at`, and their `try_` forms.
    fn deadlines_sleep_until_and_timeout_at(backend) {
        struct Deadlines;
        impl Scenario for Deadlines {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let wanted = Duration::from_millis(30);
                    let started = Instant::now();
                    let deadline = Deadline::after(wanted);
                    let left = deadline.remaining();
                    ensure!(
                        left <= wanted && left > Duration::ZERO,
                        "remaining() = {left:?}"
                    );
                    sleep_until(deadline).await;
                    ensure!(
                        started.elapsed() >= wanted,
                        "sleep_until woke after {:?}",
                        started.elapsed()
                    );
                    ensure!(
                        deadline.remaining() == Duration::ZERO,
                        "remaining() after the deadline"
                    );
                    ensure!(
                        Deadline::now().remaining() == Duration::ZERO,
                        "Deadline::now() has time left"
                    );
                    ensure!(Deadline::now() >= deadline, "deadlines are ordered by time");

                    let past = Instant::now();
                    sleep_until(deadline).await;
                    ensure!(
                        past.elapsed() < Duration::from_millis(500),
                        "a past deadline still slept"
                    );

                    let expired = timeout_at(
                        Deadline::after(Duration::from_millis(20)),
                        sleep(Duration::from_secs(10)),
                    )
                    .await;
                    ensure!(expired == Err(Elapsed), "timeout_at: {expired:?}");
                    let ok = timeout_at(Deadline::after(Duration::from_secs(1)), async { 3 }).await;
                    ensure!(ok == Ok(3), "timeout_at: {ok:?}");

                    let slept =
                        ringline::try_sleep_until(Deadline::after(Duration::from_millis(1)))
                            .map_err(|e| format!("try_sleep_until with free slots: {e}"))?;
                    slept.await;
                    let timed = ringline::try_timeout(Duration::from_secs(1), async { 4 })
                        .map_err(|e| format!("try_timeout with free slots: {e}"))?
                        .await;
                    ensure!(timed == Ok(4), "try_timeout: {timed:?}");
                    let timed_at = ringline::try_timeout_at(
                        Deadline::after(Duration::from_millis(5)),
                        sleep(Duration::from_secs(10)),
                    )
                    .map_err(|e| format!("try_timeout_at with free slots: {e}"))?
                    .await;
                    ensure!(timed_at == Err(Elapsed), "try_timeout_at: {timed_at:?}");
                    Ok(())
                }
            }
        }
        run_scenario::<Deadlines>(test_config(backend));
    }
}
