//! A runtime's and a connection's life: EOF, half-close, graceful and
//! task-requested shutdown, client-only runtimes, configs launch refuses,
//! and the free functions called off a worker.

use std::future::Future;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringline::{
    AsyncEventHandler, Config, ConfigBuilder, ConnCtx, Error, ParseResult, RinglineBuilder,
};
use ringline_tests::{
    Echo, Ending, IO_TIMEOUT, backend_test, client, echo_round_trip, join_checked, launch_with,
    read_n, read_to_end_or_reset, shutdown_and_join, test_config, unique_temp_path, wait_for,
};

backend_test! {
    /// The handler's `with_data` resolves to 0 once the client closes.
    fn handler_sees_eof_when_peer_closes(backend) {
        static EOF_SEEN: AtomicBool = AtomicBool::new(false);
        struct EchoUntilEof;
        impl AsyncEventHandler for EchoUntilEof {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    ringline_tests::echo(conn).await;
                    EOF_SEEN.store(true, Ordering::SeqCst);
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                EchoUntilEof
            }
        }
        let Some((addr, shutdown, workers)) =
            ringline_tests::launch::<EchoUntilEof>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        stream.write_all(b"x").expect("write");
        assert_eq!(read_n(&mut stream, 1), b"x");
        assert!(
            !EOF_SEEN.load(Ordering::SeqCst),
            "EOF seen while the client is open"
        );
        drop(stream);
        wait_for("the handler to see EOF", IO_TIMEOUT, || {
            EOF_SEEN.load(Ordering::SeqCst).then_some(())
        });
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// After `shutdown_write` the client gets the queued bytes then EOF,
    /// while the server still receives what the client sends.
    fn shutdown_write_sends_fin_but_keeps_receiving(backend) {
        static AFTER_FIN: Mutex<Option<Vec<u8>>> = Mutex::new(None);
        struct HalfClose;
        impl AsyncEventHandler for HalfClose {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let mut ping = Vec::new();
                    let n = conn
                        .with_data(|d| {
                            if d.len() < 4 {
                                return ParseResult::NeedMore;
                            }
                            ping.extend_from_slice(&d[..4]);
                            ParseResult::Consumed(4)
                        })
                        .await;
                    if n == 0 {
                        return;
                    }
                    let _ = conn.send_nowait(&ping);
                    conn.shutdown_write();
                    let mut after = Vec::new();
                    while conn
                        .with_data(|d| {
                            after.extend_from_slice(d);
                            ParseResult::Consumed(d.len())
                        })
                        .await
                        > 0
                    {}
                    *AFTER_FIN.lock().unwrap() = Some(after);
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                HalfClose
            }
        }
        let Some((addr, shutdown, workers)) =
            ringline_tests::launch::<HalfClose>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        stream.write_all(b"ping").expect("write ping");
        assert_eq!(read_n(&mut stream, 4), b"ping");
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).expect("read EOF"),
            0,
            "expected EOF after the echo"
        );
        stream
            .write_all(b"still talking")
            .expect("write after the server's FIN");
        stream.shutdown(Shutdown::Write).expect("client half-close");
        let after = wait_for("the server to see the client's EOF", IO_TIMEOUT, || {
            AFTER_FIN.lock().unwrap().clone()
        });
        assert_eq!(after, b"still talking");
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// Shutdown with clients connected: workers return `Ok` promptly and
    /// every client sees its connection end (EOF or reset, not a timeout).
    fn graceful_shutdown_with_open_connections(backend) {
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(test_config(backend))
        else {
            return;
        };
        let mut clients: Vec<_> = (0..4).map(|_| client(addr)).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            let msg = format!("hello from {i}");
            c.write_all(msg.as_bytes()).expect("write");
            assert_eq!(read_n(c, msg.len()), msg.as_bytes());
        }
        let started = Instant::now();
        shutdown_and_join(&shutdown, workers);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "shutdown took {:?} with idle connections open",
            started.elapsed()
        );
        for c in &mut clients {
            let ending = read_to_end_or_reset(c);
            assert!(matches!(ending, Ending::Eof | Ending::Reset));
        }
    }
}

backend_test! {
    /// `request_shutdown()` from a task on one worker stops every worker,
    /// without the `ShutdownHandle` being used.
    fn request_shutdown_from_task_stops_all_workers(backend) {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        static REQUESTED: Mutex<Option<String>> = Mutex::new(None);
        struct Stopper {
            worker_id: usize,
        }
        impl AsyncEventHandler for Stopper {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
                let id = self.worker_id;
                Some(Box::pin(async move {
                    STARTED.fetch_add(1, Ordering::SeqCst);
                    if id != 0 {
                        return;
                    }
                    let spawned = ringline::spawn(async {
                        ringline::sleep(Duration::from_millis(20)).await;
                        let result = ringline::request_shutdown();
                        *REQUESTED.lock().unwrap() = Some(format!("{result:?}"));
                    });
                    if let Err(e) = spawned {
                        *REQUESTED.lock().unwrap() = Some(format!("spawn failed: {e}"));
                    }
                }))
            }
            fn create_for_worker(worker_id: usize) -> Self {
                Stopper { worker_id }
            }
        }
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let builder = RinglineBuilder::new(config).bind("127.0.0.1:0".parse().unwrap());
        let Some((shutdown, workers)) = launch_with::<Stopper>(builder, backend) else {
            return;
        };
        assert_eq!(workers.len(), 2);
        join_checked(&shutdown, workers);
        assert_eq!(
            STARTED.load(Ordering::SeqCst),
            2,
            "on_start runs once per worker"
        );
        assert_eq!(REQUESTED.lock().unwrap().as_deref(), Some("Ok(())"));
    }
}

backend_test! {
    /// A runtime with nothing bound runs one `on_start` task per worker
    /// (each on its own worker) and stops on `ShutdownHandle::shutdown`.
    fn on_start_only_runtime_runs_each_worker(backend) {
        static STARTED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        struct Client {
            worker_id: usize,
        }
        impl AsyncEventHandler for Client {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
                let id = self.worker_id;
                Some(Box::pin(async move {
                    // Runs as a task: it can sleep on its worker's timers.
                    ringline::sleep(Duration::from_millis(1)).await;
                    STARTED.lock().unwrap().push(id);
                }))
            }
            fn create_for_worker(worker_id: usize) -> Self {
                Client { worker_id }
            }
        }
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let Some((shutdown, workers)) =
            launch_with::<Client>(RinglineBuilder::new(config), backend)
        else {
            return;
        };
        wait_for("both on_start tasks", IO_TIMEOUT, || {
            (STARTED.lock().unwrap().len() == 2).then_some(())
        });
        let mut started = STARTED.lock().unwrap().clone();
        started.sort_unstable();
        assert_eq!(started, [0, 1]);
        shutdown_and_join(&shutdown, workers);
    }
}

fn assert_invalid(config: &Config, field: &str) {
    match config.validate() {
        Err(Error::RingSetup(message)) if message.starts_with("invalid config: ") => {
            assert!(
                message.contains(field),
                "message should name {field}: {message}"
            )
        }
        other => panic!("validate: expected an invalid-config error naming {field}, got {other:?}"),
    }
    let launched = RinglineBuilder::new(config.clone())
        .bind("127.0.0.1:0".parse().unwrap())
        .launch::<Echo>();
    match launched {
        Err(Error::RingSetup(message)) if message.starts_with("invalid config: ") => {
            assert!(
                message.contains(field),
                "message should name {field}: {message}"
            )
        }
        Err(other) => {
            panic!("launch: expected an invalid-config error naming {field}, got {other}")
        }
        Ok((shutdown, workers)) => {
            shutdown_and_join(&shutdown, workers);
            panic!("launch accepted an invalid {field}");
        }
    }
}

/// Configs the runtime cannot honour are refused by `validate`, by
/// `launch` (before any thread starts) and by `ConfigBuilder::build`.
#[test]
fn invalid_configs_are_refused() {
    let base = || {
        let mut config = Config::default();
        config.worker.threads = 1;
        config.worker.pin_to_core = false;
        config
    };
    let mut zero_ring = base();
    zero_ring.recv_buffer.ring_size = 0;
    assert_invalid(&zero_ring, "recv_buffer.ring_size");

    let mut zero_sq = base();
    zero_sq.sq_entries = 0;
    assert_invalid(&zero_sq, "sq_entries");

    let mut odd_sq = base();
    odd_sq.sq_entries = 384;
    assert_invalid(&odd_sq, "sq_entries");

    let mut odd_ring = base();
    odd_ring.recv_buffer.ring_size = 100;
    assert_invalid(&odd_ring, "recv_buffer.ring_size");

    let built = ConfigBuilder::new().workers(1).sq_entries(100).build();
    assert!(
        matches!(built, Err(Error::RingSetup(ref m)) if m.starts_with("invalid config: ")),
        "build: {built:?}"
    );
    assert!(base().validate().is_ok(), "the base config is valid");
}

/// The fallible free functions return errors, not panics, off a worker.
#[test]
fn free_functions_outside_a_worker_return_errors() {
    let addr = "127.0.0.1:9".parse().unwrap();
    assert!(ringline::spawn(async {}).is_err(), "spawn");
    assert!(
        ringline::spawn_with_handle(async { 1 }).is_err(),
        "spawn_with_handle"
    );
    assert!(ringline::connect(addr).is_err(), "connect");
    assert!(
        ringline::connect_with_timeout(addr, 100).is_err(),
        "connect_with_timeout"
    );
    assert!(
        ringline::connect_unix(unique_temp_path("nowhere.sock")).is_err(),
        "connect_unix"
    );
    assert!(ringline::request_shutdown().is_err(), "request_shutdown");
    assert!(ringline::spawn_blocking(|| 1).is_err(), "spawn_blocking");
    assert!(ringline::resolve("localhost", 80).is_err(), "resolve");
}

backend_test! {
    /// A plain echo keeps working across connections opened one after the
    /// other (slots are reused after close).
    fn connection_slots_are_reused_after_close(backend) {
        let mut config = test_config(backend);
        config.max_connections = 2;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(config) else {
            return;
        };
        for i in 0..10 {
            let msg = format!("connection {i}");
            // The previous connection's slot is freed once the server has
            // seen its close; give it a moment rather than racing it.
            let echoed = wait_for("a free connection slot", IO_TIMEOUT, || {
                let mut stream = client(addr);
                stream.write_all(msg.as_bytes()).ok()?;
                let mut buf = vec![0u8; msg.len()];
                stream.read_exact(&mut buf).ok()?;
                Some(buf)
            });
            assert_eq!(echoed, msg.as_bytes());
        }
        assert_eq!(echo_round_trip(addr, b"last"), b"last");
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A client that sends without ever reading wedges the echo's send in
    /// the kernel. Shutdown waits for it only `shutdown_drain_timeout`,
    /// then cancels it: bounded, and nothing is lost or leaked.
    fn shutdown_with_a_send_that_never_completes_is_bounded(backend) {
        let mut config = test_config(backend);
        let drain = Duration::from_millis(300);
        config.shutdown_drain_timeout = drain;
        let Some((addr, shutdown, workers)) =
            ringline_tests::launch::<ringline_tests::AwaitedEcho>(config)
        else {
            return;
        };
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop_writer = stop.clone();
        let writer = std::thread::spawn(move || {
            let mut c = client(addr);
            c.set_write_timeout(Some(Duration::from_millis(50))).expect("timeout");
            let chunk = vec![1u8; 64 * 1024];
            while !stop_writer.load(Ordering::SeqCst) {
                let _ = c.write(&chunk);
            }
            c
        });
        // Wait until the echo's send is stuck in the kernel.
        wait_for("a send stuck for 200 ms", Duration::from_secs(10), || {
            let rt = shutdown.stats();
            let snap_stuck = rt.workers[0]
                .in_flight
                .iter()
                .any(|op| op.op == "send" && op.age_ns > 200_000_000);
            snap_stuck.then_some(())
        });
        let started = Instant::now();
        shutdown.shutdown();
        ringline_tests::join_all(workers);
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let _client = writer.join().expect("writer thread");
        assert!(took >= drain, "did not wait for the stuck send: {took:?}");
        assert!(took < drain + Duration::from_secs(2), "shutdown unbounded: {took:?}");
        let rt = shutdown.stats();
        ringline_tests::assert_nothing_lost(&rt);
        let send = rt.workers[0].op("send").expect("send");
        assert!(send.completed_cancelled_total >= 1, "the stuck send was cancelled: {send:?}");
        assert_eq!(rt.workers[0].graveyard.abandoned, 0);
    }
}
