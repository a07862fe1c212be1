//! Fixed-capacity pools run out with errors, never panics: standalone
//! tasks, timers, the send copy pool, and connection slots.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ringline::{AsyncEventHandler, ConnCtx, oneshot, sleep};
use ringline_tests::{
    Echo, Ending, IO_TIMEOUT, Scenario, backend_test, client, ensure, read_n, read_to_end_or_reset,
    run_scenario, run_scenario_unguarded, shutdown_and_join, test_config, wait_for,
};

/// Yields to the worker's event loop once (so completions get processed).
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

backend_test! {
    /// With `standalone_task_capacity = 1`, a second live spawn fails with
    /// an error, and the slot is usable again once the first task ends.
    fn task_capacity_one_refuses_second_spawn(backend) {
        struct Capacity;
        impl Scenario for Capacity {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let (tx, rx) = oneshot::channel::<()>();
                    ringline::spawn(async move {
                        let _ = rx.await;
                    })
                    .map_err(|e| format!("first spawn: {e}"))?;
                    ensure!(
                        ringline::spawn(async {}).is_err(),
                        "a second spawn succeeded"
                    );
                    ensure!(
                        ringline::spawn_with_handle(async { 1 }).is_err(),
                        "a second spawn_with_handle succeeded"
                    );
                    let _ = tx.send(());
                    sleep(Duration::from_millis(5)).await;
                    let again = ringline::spawn_with_handle(async { 2 })
                        .map_err(|e| format!("spawn after the first task ended: {e}"))?;
                    ensure!(again.await == 2, "wrong output");
                    Ok(())
                }
            }
        }
        let mut config = test_config(backend);
        config.standalone_task_capacity = 1;
        run_scenario::<Capacity>(config);
    }
}

backend_test! {
    /// With `timer_slots = 1`, `try_sleep` and `try_timeout` are refused
    /// with `TimerExhausted` while one timer is live, but `sleep` still
    /// sleeps correctly.
    fn timer_slots_one_refuses_try_sleep_but_sleep_works(backend) {
        struct Timers;
        impl Scenario for Timers {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let held = ringline::try_sleep(Duration::from_millis(40))
                        .map_err(|e| format!("first try_sleep: {e}"))?;
                    match ringline::try_sleep(Duration::from_millis(1)) {
                        Err(ringline::TimerExhausted) => {}
                        Ok(_) => return Err("a second try_sleep got a slot".into()),
                    }
                    ensure!(
                        ringline::try_timeout(Duration::from_secs(1), async {}).is_err(),
                        "try_timeout got a slot"
                    );
                    let started = Instant::now();
                    sleep(Duration::from_millis(10)).await;
                    let slept = started.elapsed();
                    ensure!(
                        slept >= Duration::from_millis(10) && slept < Duration::from_secs(1),
                        "sleep past the slot limit took {slept:?}"
                    );
                    held.await;
                    let again = ringline::try_sleep(Duration::from_millis(1))
                        .map_err(|e| format!("try_sleep after the slot was freed: {e}"))?;
                    again.await;
                    Ok(())
                }
            }
        }
        let mut config = test_config(backend);
        config.timer_slots = 1;
        // The scenario guard would hold the only timer slot.
        run_scenario_unguarded::<Timers>(config);
    }
}

backend_test! {
    /// With 4 send slots and a client that does not read, `send_nowait`
    /// eventually fails with `SendPoolExhausted`; once the client reads,
    /// sending resumes and every accepted byte arrives.
    fn send_pool_exhausts_when_peer_does_not_read(backend) {
        const CHUNK: usize = 16 * 1024;
        /// (chunks accepted before the error, the error) once the pool ran out.
        static FILLED: Mutex<Option<(u64, String)>> = Mutex::new(None);
        /// Chunks accepted in all, once sending resumed.
        static TOTAL: Mutex<Option<Result<u64, String>>> = Mutex::new(None);
        struct Flood;
        impl AsyncEventHandler for Flood {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let chunk = [0xAB_u8; CHUNK];
                    let mut sent = 0u64;
                    let started = Instant::now();
                    loop {
                        match conn.send_nowait(&chunk) {
                            Ok(()) => sent += 1,
                            Err(e) => {
                                let exhausted = e
                                    .get_ref()
                                    .and_then(|inner| inner.downcast_ref::<ringline::Error>())
                                    .is_some_and(|inner| {
                                        matches!(inner, ringline::Error::SendPoolExhausted)
                                    });
                                *FILLED.lock().unwrap() = Some((
                                    sent,
                                    if exhausted {
                                        "SendPoolExhausted".into()
                                    } else {
                                        format!("{:?}: {e}", e.kind())
                                    },
                                ));
                                break;
                            }
                        }
                        if started.elapsed() > Duration::from_secs(4) {
                            *FILLED.lock().unwrap() = Some((sent, "never failed".into()));
                            return;
                        }
                        YieldNow(false).await;
                    }
                    // Now the client drains; retry until a slot frees up.
                    let resumed = Instant::now();
                    let total = loop {
                        if conn.send_nowait(&chunk).is_ok() {
                            break Ok(sent + 1);
                        }
                        if resumed.elapsed() > Duration::from_secs(4) {
                            break Err("sending never resumed".to_string());
                        }
                        sleep(Duration::from_millis(1)).await;
                    };
                    *TOTAL.lock().unwrap() = Some(total);
                    // Returning closes the connection after the queued bytes.
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Flood
            }
        }
        let mut config = test_config(backend);
        config.send_copy_count = 4;
        config.send_copy_slot_size = CHUNK as u32;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Flood>(config) else {
            return;
        };
        let mut stream = client(addr);
        let (sent, error) = wait_for("send_nowait to fail", IO_TIMEOUT, || {
            FILLED.lock().unwrap().clone()
        });
        assert_eq!(error, "SendPoolExhausted", "after {sent} chunks");
        assert!(sent >= 4, "only {sent} chunks fit before the error");
        let mut received = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    assert!(buf[..n].iter().all(|&b| b == 0xAB), "corrupt bytes");
                    received += n as u64;
                }
                Err(e) => panic!("reading the flood: {e} after {received} bytes"),
            }
        }
        let total = TOTAL.lock().unwrap().clone().expect("the handler finished");
        assert_eq!(received, total.expect("sending resumed") * CHUNK as u64);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// With `max_connections = 2`, a third client is closed at once while
    /// the first two keep echoing; a freed slot takes a new client.
    fn max_connections_closes_extra_clients(backend) {
        let mut config = test_config(backend);
        config.max_connections = 2;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(config) else {
            return;
        };
        let mut a = client(addr);
        let mut b = client(addr);
        for (name, c) in [("a", &mut a), ("b", &mut b)] {
            c.write_all(name.as_bytes()).expect("write");
            assert_eq!(read_n(c, 1), name.as_bytes());
        }
        let mut extra = client(addr);
        // The write may fail if the reset arrives first; either way the
        // connection must end instead of echoing.
        let _ = extra.write_all(b"c");
        assert!(matches!(
            read_to_end_or_reset(&mut extra),
            Ending::Eof | Ending::Reset
        ));
        for (name, c) in [("a", &mut a), ("b", &mut b)] {
            c.write_all(name.as_bytes())
                .expect("write after the refusal");
            assert_eq!(read_n(c, 1), name.as_bytes(), "{name} stopped echoing");
        }
        drop(a);
        let echoed = wait_for("a freed slot", IO_TIMEOUT, || {
            let mut d = client(addr);
            d.write_all(b"d").ok()?;
            let mut byte = [0u8; 1];
            (d.read(&mut byte).ok()? == 1).then_some(byte)
        });
        assert_eq!(&echoed, b"d");
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A panic-free refusal also for outbound connects: with one connection
    /// slot taken, `connect` fails with an error.
    fn connect_beyond_max_connections_errs(backend) {
        struct Outbound;
        impl Scenario for Outbound {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let listener =
                        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                    let addr = listener.local_addr().map_err(|e| e.to_string())?;
                    let first =
                        ringline::connect(addr).map_err(|e| format!("first connect: {e}"))?;
                    let conn = first
                        .await
                        .map_err(|e| format!("first connect future: {e}"))?;
                    let second = match ringline::connect(addr) {
                        Err(_) => Ok(()),
                        Ok(fut) => match fut.await {
                            Err(_) => Ok(()),
                            Ok(_) => {
                                Err("a second connection got a slot of max_connections = 1"
                                    .to_string())
                            }
                        },
                    };
                    conn.close();
                    drop(listener);
                    second
                }
            }
        }
        let mut config = test_config(backend);
        config.max_connections = 1;
        run_scenario::<Outbound>(config);
    }
}
