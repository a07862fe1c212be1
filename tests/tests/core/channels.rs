//! Worker-local coordination between tasks: oneshot and mpsc channels
//! (wakeups, backpressure, disconnection) and `CancellationToken`.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use ringline::{
    CancellationToken, Either, RecvError, TryRecvError, TrySendError, mpsc, oneshot, select, sleep,
};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario, test_config};

backend_test! {
    /// A task parked on a oneshot receiver is woken by a send from another
    /// task; a dropped sender gives `RecvError`; a dropped receiver hands
    /// the value back.
    fn oneshot_wakes_the_receiving_task(backend) {
        struct Oneshot;
        impl Scenario for Oneshot {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = oneshot::channel::<u32>();
                    ensure!(
                        rx.try_recv() == Err(TryRecvError::Empty),
                        "try_recv before send"
                    );
                    let waiter =
                        ringline::spawn_with_handle(rx).map_err(|e| format!("spawn: {e}"))?;
                    sleep(Duration::from_millis(5)).await;
                    ensure!(tx.send(9).is_ok(), "send to a live receiver failed");
                    let got = waiter.await;
                    ensure!(got == Ok(9), "receiver got {got:?}");

                    let (tx, rx) = oneshot::channel::<u32>();
                    let waiter =
                        ringline::spawn_with_handle(rx).map_err(|e| format!("spawn: {e}"))?;
                    sleep(Duration::from_millis(2)).await;
                    drop(tx);
                    let got = waiter.await;
                    ensure!(got == Err(RecvError), "after the sender dropped: {got:?}");

                    let (tx, rx) = oneshot::channel::<u32>();
                    drop(rx);
                    ensure!(tx.send(3) == Err(3), "send to a dropped receiver");
                    Ok(())
                }
            }
        }
        run_scenario::<Oneshot>(test_config(backend));
    }
}

backend_test! {
    /// Values sent from one task arrive in order in another; once every
    /// sender is gone the receiver sees the end.
    fn mpsc_delivers_in_order_and_ends_when_senders_drop(backend) {
        struct Mpsc;
        impl Scenario for Mpsc {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = mpsc::channel::<u32>(4);
                    let producer = tx.clone();
                    drop(tx);
                    ringline::spawn(async move {
                        for i in 0..100 {
                            if producer.send(i).await.is_err() {
                                return;
                            }
                        }
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    let mut got = Vec::new();
                    while let Some(v) = rx.recv().await {
                        got.push(v);
                    }
                    ensure!(got == (0..100).collect::<Vec<_>>(), "received {got:?}");
                    ensure!(
                        rx.try_recv() == Err(TryRecvError::Disconnected),
                        "try_recv at the end"
                    );
                    Ok(())
                }
            }
        }
        run_scenario::<Mpsc>(test_config(backend));
    }
}

backend_test! {
    /// A full bounded channel parks the sender until the receiver takes a
    /// value, and `try_send` reports `Full` meanwhile.
    fn mpsc_bounded_capacity_blocks_the_sender(backend) {
        struct Backpressure;
        impl Scenario for Backpressure {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = mpsc::channel::<u32>(2);
                    let sent = Rc::new(Cell::new(0u32));
                    let (producer, count) = (tx.clone(), sent.clone());
                    ringline::spawn(async move {
                        for i in 0..5 {
                            if producer.send(i).await.is_err() {
                                return;
                            }
                            count.set(count.get() + 1);
                        }
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    sleep(Duration::from_millis(10)).await;
                    ensure!(
                        sent.get() == 2,
                        "{} sends completed into a channel of capacity 2",
                        sent.get()
                    );
                    ensure!(
                        matches!(tx.try_send(99), Err(TrySendError::Full(99))),
                        "try_send on a full channel"
                    );
                    let first = rx.recv().await;
                    ensure!(first == Some(0), "first value {first:?}");
                    sleep(Duration::from_millis(10)).await;
                    ensure!(
                        sent.get() == 3,
                        "after one receive, {} sends completed (expected 3)",
                        sent.get()
                    );
                    drop(tx);
                    let mut rest = Vec::new();
                    while let Some(v) = rx.recv().await {
                        rest.push(v);
                    }
                    ensure!(rest == [1, 2, 3, 4], "rest {rest:?}");
                    ensure!(sent.get() == 5, "{} sends completed in all", sent.get());
                    Ok(())
                }
            }
        }
        run_scenario::<Backpressure>(test_config(backend));
    }
}

backend_test! {
    /// Cancelling a token wakes tasks awaiting it (directly, through a
    /// child token, and inside `select`); cancelling a child leaves its
    /// parent alone.
    fn cancellation_token_wakes_tasks(backend) {
        struct Cancel;
        impl Scenario for Cancel {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let token = CancellationToken::new();
                    let child = token.child_token();
                    let (direct, raced) = (token.clone(), token.clone());
                    let waiter = ringline::spawn_with_handle(async move {
                        direct.cancelled().await;
                        "direct"
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    let child_waiter = ringline::spawn_with_handle(async move {
                        child.cancelled().await;
                        child.is_cancelled()
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    let racer = ringline::spawn_with_handle(async move {
                        match select(raced.cancelled(), sleep(Duration::from_secs(10))).await {
                            Either::Left(()) => "cancelled",
                            Either::Right(()) => "slept",
                        }
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                    sleep(Duration::from_millis(5)).await;
                    ensure!(!token.is_cancelled(), "cancelled before cancel()");
                    token.cancel();
                    ensure!(token.is_cancelled(), "not cancelled after cancel()");
                    ensure!(waiter.await == "direct", "direct waiter");
                    ensure!(
                        child_waiter.await,
                        "child token not cancelled with its parent"
                    );
                    let raced = racer.await;
                    ensure!(raced == "cancelled", "select against the token: {raced}");
                    // Already cancelled: resolves at once.
                    token.cancelled().await;

                    let parent = CancellationToken::new();
                    let child = parent.child_token();
                    child.cancel();
                    ensure!(
                        child.is_cancelled() && !parent.is_cancelled(),
                        "a child cancelled its parent"
                    );
                    Ok(())
                }
            }
        }
        run_scenario::<Cancel>(test_config(backend));
    }
}
