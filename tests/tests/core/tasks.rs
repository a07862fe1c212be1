//! Tasks and combinators: spawn, `JoinHandle` (result, abort, detach),
//! `TaskId::cancel`, and `select`/`select3`/`join`/`join3`.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use ringline::{Either, Either3, oneshot, select, select3, sleep};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario, test_config};

/// Sets its flag when dropped: shows that a future was dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A future that never completes and sets `flag` when dropped.
fn pending_until_dropped(flag: &Rc<Cell<bool>>) -> impl Future<Output = u32> + 'static {
    let guard = DropFlag(flag.clone());
    async move {
        let _guard = guard;
        std::future::pending::<u32>().await
    }
}

backend_test! {
    /// `spawn` runs a task; `spawn_with_handle` hands back its output.
    fn spawn_and_join_handle_result(backend) {
        struct Spawn;
        impl Scenario for Spawn {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = oneshot::channel();
                    ringline::spawn(async move {
                        let _ = tx.send("ran");
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    ensure!(rx.await == Ok("ran"), "the spawned task did not run");

                    let handle = ringline::spawn_with_handle(async {
                        sleep(Duration::from_millis(5)).await;
                        42u64
                    })
                    .map_err(|e| format!("spawn_with_handle: {e}"))?;
                    let id = handle.id();
                    ensure!(handle.await == 42, "wrong JoinHandle output");
                    // Cancelling a finished task is a no-op.
                    id.cancel();
                    Ok(())
                }
            }
        }
        run_scenario::<Spawn>(test_config(backend));
    }
}

backend_test! {
    /// `abort` stops the task's side effects, and its handle then never
    /// resolves (observed by racing it against a sleep).
    fn join_handle_abort_stops_task(backend) {
        struct Abort;
        impl Scenario for Abort {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let ticks = Rc::new(Cell::new(0u32));
                    let counter = ticks.clone();
                    let handle = ringline::spawn_with_handle(async move {
                        loop {
                            counter.set(counter.get() + 1);
                            sleep(Duration::from_millis(2)).await;
                        }
                    })
                    .map_err(|e| format!("spawn_with_handle: {e}"))?;
                    sleep(Duration::from_millis(20)).await;
                    ensure!(ticks.get() > 0, "the task never ran");
                    handle.abort();
                    let at_abort = ticks.get();
                    sleep(Duration::from_millis(30)).await;
                    ensure!(
                        ticks.get() == at_abort,
                        "the task ticked {} more times after abort",
                        ticks.get() - at_abort
                    );
                    match select(handle, sleep(Duration::from_millis(30))).await {
                        Either::Left(()) => Err("an aborted JoinHandle resolved".into()),
                        Either::Right(()) => Ok(()),
                    }
                }
            }
        }
        run_scenario::<Abort>(test_config(backend));
    }
}

backend_test! {
    /// `TaskId::cancel` drops the task's future at once.
    fn task_id_cancel_drops_future(backend) {
        struct Cancel;
        impl Scenario for Cancel {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let dropped = Rc::new(Cell::new(false));
                    let polled = Rc::new(Cell::new(false));
                    let (flag, seen) = (dropped.clone(), polled.clone());
                    let id = ringline::spawn(async move {
                        seen.set(true);
                        pending_until_dropped(&flag).await;
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    sleep(Duration::from_millis(5)).await;
                    ensure!(polled.get(), "the task never ran");
                    ensure!(!dropped.get(), "the future was dropped before cancel");
                    id.cancel();
                    ensure!(
                        dropped.get(),
                        "TaskId::cancel did not drop the future at once"
                    );
                    Ok(())
                }
            }
        }
        run_scenario::<Cancel>(test_config(backend));
    }
}

backend_test! {
    /// Dropping a `JoinHandle` detaches the task: it runs to completion.
    fn dropped_join_handle_detaches_task(backend) {
        struct Detach;
        impl Scenario for Detach {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let done = Rc::new(Cell::new(false));
                    let flag = done.clone();
                    let handle = ringline::spawn_with_handle(async move {
                        sleep(Duration::from_millis(10)).await;
                        flag.set(true);
                        7u8
                    })
                    .map_err(|e| format!("spawn_with_handle: {e}"))?;
                    drop(handle);
                    sleep(Duration::from_millis(40)).await;
                    ensure!(done.get(), "a detached task did not finish");
                    Ok(())
                }
            }
        }
        run_scenario::<Detach>(test_config(backend));
    }
}

backend_test! {
    /// `select`: the first ready future wins and the loser is dropped at
    /// once; with both ready, the left one wins.
    fn select_first_ready_wins_and_drops_loser(backend) {
        struct Select;
        impl Scenario for Select {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let dropped = Rc::new(Cell::new(false));
                    let winner = async {
                        sleep(Duration::from_millis(5)).await;
                        "sleep"
                    };
                    match select(pending_until_dropped(&dropped), winner).await {
                        Either::Right("sleep") => {}
                        Either::Right(other) => return Err(format!("right gave {other}")),
                        Either::Left(_) => return Err("a pending future won".into()),
                    }
                    ensure!(dropped.get(), "the losing future was not dropped");

                    let both = select(async { 1 }, async { 2 }).await;
                    ensure!(
                        both == Either::Left(1),
                        "both ready: {both:?}, expected Left(1)"
                    );
                    ensure!(both.into_inner() == 1, "into_inner");
                    Ok(())
                }
            }
        }
        run_scenario::<Select>(test_config(backend));
    }
}

backend_test! {
    /// `select3`: whichever of three finishes first wins; the others drop.
    fn select3_third_wins(backend) {
        struct Select3;
        impl Scenario for Select3 {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let first = Rc::new(Cell::new(false));
                    let second = Rc::new(Cell::new(false));
                    let third = async {
                        sleep(Duration::from_millis(5)).await;
                        3u32
                    };
                    let out = select3(
                        pending_until_dropped(&first),
                        pending_until_dropped(&second),
                        third,
                    )
                    .await;
                    ensure!(matches!(out, Either3::Third(3)), "select3 gave {out:?}");
                    ensure!(first.get() && second.get(), "losers not dropped");
                    Ok(())
                }
            }
        }
        run_scenario::<Select3>(test_config(backend));
    }
}

backend_test! {
    /// `join`/`join3` run their futures concurrently (each needs another to
    /// make progress) and return every output in argument order.
    fn join_and_join3_run_concurrently(backend) {
        struct Join;
        impl Scenario for Join {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = oneshot::channel::<u32>();
                    let (a, b) = ringline::join(rx, async move {
                        sleep(Duration::from_millis(2)).await;
                        tx.send(5).map_err(|_| "receiver gone")
                    })
                    .await;
                    ensure!(a == Ok(5) && b.is_ok(), "join gave ({a:?}, {b:?})");

                    let (tx1, rx1) = oneshot::channel::<&str>();
                    let (tx2, rx2) = oneshot::channel::<&str>();
                    let (x, y, z) = ringline::join3(
                        rx1,
                        async move {
                            let got = rx2.await;
                            let _ = tx1.send("from second");
                            got
                        },
                        async move {
                            let _ = tx2.send("from third");
                            "third"
                        },
                    )
                    .await;
                    ensure!(
                        x == Ok("from second") && y == Ok("from third") && z == "third",
                        "join3 gave ({x:?}, {y:?}, {z:?})"
                    );
                    Ok(())
                }
            }
        }
        run_scenario::<Join>(test_config(backend));
    }
}

backend_test! {
    /// A `TaskId` and a `JoinHandle` kept after their tasks ended stay
    /// harmless however often their slots are reused: 70 000 rounds, more
    /// than the 65 536 generations ringline 0.1 could tell apart, each put
    /// two new tasks in those two slots (freed slots are handed out
    /// last-in first-out, and cancel frees one at once); the stale
    /// `cancel`/`abort` never reaches them, and no task number repeats.
    fn stale_task_id_never_cancels_a_slot_reuser(backend) {
        struct StaleIds;
        impl Scenario for StaleIds {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let stale_id = ringline::spawn(async {}).map_err(|e| format!("spawn: {e}"))?;
                    let mut stale_handle = ringline::spawn_with_handle(async { 1u8 })
                        .map_err(|e| format!("spawn_with_handle: {e}"))?;
                    ensure!((&mut stale_handle).await == 1, "wrong JoinHandle output");
                    // Both stale tasks have ended by now.
                    sleep(Duration::from_millis(1)).await;
                    let mut numbers = std::collections::HashSet::new();
                    for round in 0..70_000u32 {
                        let flags = [Rc::new(Cell::new(false)), Rc::new(Cell::new(false))];
                        let mut live = Vec::with_capacity(2);
                        for flag in &flags {
                            let pending = pending_until_dropped(flag);
                            let id = ringline::spawn(async move {
                                pending.await;
                            })
                                .map_err(|e| format!("spawn in round {round}: {e}"))?;
                            ensure!(
                                numbers.insert(id.as_u64()),
                                "round {round}: task number {} given out twice",
                                id.as_u64()
                            );
                            live.push(id);
                        }
                        stale_id.cancel();
                        stale_handle.abort();
                        ensure!(
                            !flags[0].get() && !flags[1].get(),
                            "round {round}: a stale id cancelled a task now in its slot"
                        );
                        for id in live.into_iter().rev() {
                            id.cancel();
                        }
                        ensure!(
                            flags[0].get() && flags[1].get(),
                            "round {round}: cancel did not drop the live tasks"
                        );
                    }
                    Ok(())
                }
            }
        }
        run_scenario::<StaleIds>(test_config(backend));
    }
}
