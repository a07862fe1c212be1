//! Causal debugging end to end: a stuck program is read from outside its
//! workers — in-process through `ringline::stats`, and over the inspect
//! socket — and every task names where it was spawned, the user-code call
//! it waits in, what that wait is on, and a verdict on why it has not
//! moved. Each scenario runs on both backends:
//!
//! - two tasks deadlocked through two channels: both, and the cycle;
//! - a `send` stuck on a peer that stopped reading: its await site, also
//!   on the `ops` answer's send op;
//! - a task woken but starved by one that busy-loops on the same worker:
//!   "woken, not polled", naming the busy task;
//! - a connection task idle on a future woken from outside the runtime:
//!   "idle on nothing ringline knows".
//!
//! Each is also read the way an on-call engineer would: `ringline-top
//! --pid <this process> --once --json`, attached to this test process's
//! own inspect socket. No location reported for these tasks may point
//! inside ringline.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringline::stats::{Site, TaskInfo, TaskKind, VerdictKind, WaitTarget};
use ringline::{AsyncEventHandler, ConnCtx, ParseResult, mpsc, spawn_named};
use ringline_tests::{IO_TIMEOUT, backend_test, client, shutdown_and_join, test_config, wait_for};

type Start = Option<Pin<Box<dyn Future<Output = ()> + 'static>>>;

/// What `ringline-top --pid <this process> --once --json` says now.
fn top_json() -> serde_json::Value {
    let out = std::process::Command::new(ringline_tests::ringline_top())
        .args(["--pid", &std::process::id().to_string(), "--once", "--json"])
        .output()
        .expect("run ringline-top");
    assert!(
        out.status.success(),
        "ringline-top failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ringline-top --once --json prints JSON")
}

/// Task `id` of runtime `runtime` in a `--once --json` document.
fn top_task(doc: &serde_json::Value, runtime: u64, id: u64) -> serde_json::Value {
    doc["tasks"]
        .as_array()
        .expect("a tasks array")
        .iter()
        .find(|t| t["runtime"] == runtime && t["id"] == id)
        .unwrap_or_else(|| panic!("task {id} of runtime {runtime} not in ringline-top's tasks"))
        .clone()
}

/// A site of a `--once --json` task, as (file, line).
fn top_site(task: &serde_json::Value, which: &str) -> (String, u64) {
    let site = &task[which];
    (
        site["file"].as_str().unwrap_or_default().to_owned(),
        site["line"].as_u64().unwrap_or_default(),
    )
}

/// The tasks of runtime `runtime`, as the registry reads them now.
fn tasks_of(runtime: u64) -> Vec<TaskInfo> {
    ringline::stats::tasks(Duration::ZERO)
        .into_iter()
        .filter(|t| t.runtime == runtime)
        .collect()
}

/// Asserts `site` is in this file at `line`.
fn assert_here(site: &Option<Site>, line: u32, what: &str) {
    let site = site.as_ref().unwrap_or_else(|| panic!("{what}: no site"));
    assert_eq!(site.file, file!(), "{what}: {site}");
    assert_eq!(site.line, line, "{what}: {site}");
}

/// Asserts no site of these tasks points inside ringline.
fn assert_outside_ringline(tasks: &[TaskInfo]) {
    for t in tasks {
        for site in [&t.spawn_site, &t.await_site].into_iter().flatten() {
            assert!(
                !site.file.starts_with("runtime/") && !site.file.contains("/ringline-0."),
                "task {} reports a location inside ringline: {site}",
                t.id
            );
        }
    }
}

/// The runtime id of the shutdown handle's runtime.
fn runtime_id(shutdown: &ringline::ShutdownHandle) -> u64 {
    shutdown.stats().id
}

backend_test! {
    /// Two tasks each send one message to the other, then both wait for a
    /// second that never comes: each is parked on a channel whose sending
    /// side the other used last, a cycle.
    fn two_tasks_deadlocked_through_two_channels_are_a_cycle(backend) {
        static IDS: Mutex<Option<(u64, u64)>> = Mutex::new(None);
        static SPAWN_LINE: AtomicU32 = AtomicU32::new(0);
        static RECV_LINE: AtomicU32 = AtomicU32::new(0);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    let (tx_a, rx_a) = mpsc::channel::<u32>(4);
                    let (tx_b, rx_b) = mpsc::channel::<u32>(4);
                    let ping = async move {
                        let _ = tx_b.send(1).await;
                        let _ = rx_a.recv().await;
                        let (second, line) = (rx_a.recv(), line!());
                        RECV_LINE.store(line, Ordering::SeqCst);
                        let _ = second.await;
                    };
                    let pong = async move {
                        let _ = tx_a.send(1).await;
                        let _ = rx_b.recv().await;
                        let _ = rx_b.recv().await;
                    };
                    let (a, line) = (spawn_named("ping", ping), line!());
                    SPAWN_LINE.store(line, Ordering::SeqCst);
                    let b = spawn_named("pong", pong);
                    *IDS.lock().unwrap() = Some((a.unwrap().as_u64(), b.unwrap().as_u64()));
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        ringline_tests::ringline_top();
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(test_config(backend))
        else {
            return;
        };
        let runtime = runtime_id(&shutdown);
        let (a, b) = wait_for("the tasks to start", IO_TIMEOUT, || *IDS.lock().unwrap());
        let tasks = wait_for("the deadlock to show", IO_TIMEOUT, || {
            let tasks = tasks_of(runtime);
            let both = [a, b].iter().all(|id| {
                tasks
                    .iter()
                    .any(|t| t.id == *id && t.verdict.kind == VerdictKind::Deadlock)
            });
            both.then_some(tasks)
        });
        let ping = tasks.iter().find(|t| t.id == a).expect("ping");
        let pong = tasks.iter().find(|t| t.id == b).expect("pong");
        assert_eq!(ping.name.as_deref(), Some("ping"));
        assert_eq!(ping.kind, TaskKind::Spawned);
        assert_here(&ping.spawn_site, SPAWN_LINE.load(Ordering::SeqCst), "ping's spawn");
        assert_here(&ping.await_site, RECV_LINE.load(Ordering::SeqCst), "ping's recv");
        assert_eq!(pong.spawn_site.as_ref().map(|s| s.file.as_str()), Some(file!()));
        assert!(
            matches!(&ping.waiting_on, WaitTarget::ChannelRecv { senders, .. } if senders == &[b]),
            "{:?}",
            ping.waiting_on
        );
        let mut cycle = ping.verdict.tasks.clone();
        cycle.sort_unstable();
        let mut want = vec![a, b];
        want.sort_unstable();
        assert_eq!(cycle, want, "{}", ping.verdict.message);
        assert!(ping.verdict.message.contains("deadlock"), "{}", ping.verdict.message);
        assert_outside_ringline(&tasks);
        // The same over the inspect socket.
        let mut inspect = ringline::inspect::Client::connect(std::process::id()).expect("inspect");
        let remote = inspect.tasks(Duration::ZERO, 10_000).expect("tasks");
        let remote_ping = remote.iter().find(|t| t.runtime == runtime && t.id == a).expect("ping");
        assert_eq!(remote_ping.verdict.kind, VerdictKind::Deadlock);
        assert_eq!(remote_ping.await_site, ping.await_site);
        // And as ringline-top reports it.
        let doc = top_json();
        for (id, name) in [(a, "ping"), (b, "pong")] {
            let t = top_task(&doc, runtime, id);
            assert_eq!(t["name"], name);
            assert_eq!(t["verdict"]["kind"], "deadlock", "{t}");
            assert_eq!(top_site(&t, "spawn_site").0, file!());
            assert_eq!(top_site(&t, "await_site").0, file!());
            let mut cycle: Vec<u64> = serde_json::from_value(t["verdict"]["tasks"].clone()).unwrap();
            cycle.sort_unstable();
            assert_eq!(cycle, want, "{t}");
        }
        let t = top_task(&doc, runtime, a);
        assert_eq!(top_site(&t, "await_site").1, u64::from(RECV_LINE.load(Ordering::SeqCst)));
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A handler sends to a client that never reads: the connection's task
    /// waits in its `send`, and the send op in the kernel points there.
    fn a_send_stuck_on_a_peer_that_stopped_reading_names_its_call(backend) {
        static SEND_LINE: AtomicU32 = AtomicU32::new(0);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    conn.with_data(|d| ParseResult::Consumed(d.len().min(1))).await;
                    let chunk = vec![7u8; 64 * 1024];
                    loop {
                        let (sent, line) = (conn.send(&chunk), line!());
                        SEND_LINE.store(line, Ordering::SeqCst);
                        match sent {
                            Ok(f) => {
                                if f.await.is_err() {
                                    return;
                                }
                            }
                            Err(_) => return,
                        }
                    }
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        ringline_tests::ringline_top();
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Handler>(test_config(backend))
        else {
            return;
        };
        let runtime = runtime_id(&shutdown);
        let mut silent = client(addr);
        std::io::Write::write_all(&mut silent, b"x").expect("write");
        let task = wait_for("the send to stall", IO_TIMEOUT, || {
            tasks_of(runtime).into_iter().find(|t| {
                matches!(t.waiting_on, WaitTarget::Send { .. })
                    && t.state_for_ns > 50_000_000
            })
        });
        let connection = match task.waiting_on {
            WaitTarget::Send { connection } => connection,
            _ => unreachable!(),
        };
        assert_eq!(task.kind, TaskKind::Connection { connection });
        assert_eq!(task.verdict.kind, VerdictKind::WaitingOnConnection);
        assert!(task.verdict.message.contains("not reading"), "{}", task.verdict.message);
        assert_here(&task.await_site, SEND_LINE.load(Ordering::SeqCst), "the send");
        // The handler's task was spawned by the launch call in this file.
        assert_eq!(task.spawn_site.as_ref().map(|s| s.file.as_str()), Some(file!()));
        assert_outside_ringline(std::slice::from_ref(&task));
        let ops = ringline::stats::stuck_ops(Duration::ZERO);
        let send = ops
            .iter()
            .find(|op| op.runtime == runtime && op.op == "send")
            .expect("a send in flight");
        assert_eq!(send.await_site, task.await_site, "{send:?}");
        let verdict = send.verdict.as_ref().expect("a verdict");
        assert_eq!(verdict.tasks, [task.id], "{}", verdict.message);
        // ringline-top: the task, its send's line, and the connection's
        // queued bytes.
        let doc = top_json();
        let t = top_task(&doc, runtime, task.id);
        assert_eq!(t["verdict"]["kind"], "waiting_on_connection", "{t}");
        assert_eq!(
            top_site(&t, "await_site"),
            (file!().to_owned(), u64::from(SEND_LINE.load(Ordering::SeqCst)))
        );
        let conn = doc["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .find(|c| c["runtime"] == runtime && c["index"] == connection)
            .expect("the connection in ringline-top")
            .clone();
        assert!(conn["queued_bytes"].as_u64().unwrap_or(0) > 0, "{conn}");
        assert_eq!(conn["task"], task.id, "{conn}");
        let stuck_send = doc["stuck"]
            .as_array()
            .expect("stuck")
            .iter()
            .find(|op| op["runtime"] == runtime && op["op"] == "send");
        if let Some(op) = stuck_send {
            assert_eq!(op["await_site"]["line"], u64::from(SEND_LINE.load(Ordering::SeqCst)));
        }
        drop(silent);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// One task wakes another, then busy-loops for 2 s without yielding:
    /// the woken one is "woken, not polled", and the verdict names the task
    /// the worker is stuck in.
    fn a_starved_task_names_the_task_that_hogs_its_worker(backend) {
        static IDS: Mutex<Option<(u64, u64)>> = Mutex::new(None);
        static HOGGING: AtomicBool = AtomicBool::new(false);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    let (tx, rx) = mpsc::channel::<()>(1);
                    let starved = spawn_named("starved", async move {
                        let _ = rx.recv().await;
                    })
                    .unwrap();
                    let hog = spawn_named("hog", async move {
                        // Let the other task park first.
                        ringline::sleep(Duration::from_millis(20)).await;
                        let _ = tx.try_send(());
                        HOGGING.store(true, Ordering::SeqCst);
                        let until = Instant::now() + Duration::from_secs(2);
                        while Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    })
                    .unwrap();
                    *IDS.lock().unwrap() = Some((starved.as_u64(), hog.as_u64()));
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        ringline_tests::ringline_top();
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(test_config(backend))
        else {
            return;
        };
        let runtime = runtime_id(&shutdown);
        let (starved, hog) = wait_for("the tasks", IO_TIMEOUT, || *IDS.lock().unwrap());
        wait_for("the hog to start", IO_TIMEOUT, || HOGGING.load(Ordering::SeqCst).then_some(()));
        let task = wait_for("the starved task's verdict", Duration::from_millis(1500), || {
            tasks_of(runtime)
                .into_iter()
                .find(|t| t.id == starved && t.state_for_ns > 100_000_000)
        });
        assert_eq!(task.verdict.kind, VerdictKind::WokenNotPolled, "{}", task.verdict.message);
        assert_eq!(task.verdict.tasks, [hog], "{}", task.verdict.message);
        assert!(task.verdict.message.contains("hog"), "{}", task.verdict.message);
        let running = tasks_of(runtime).into_iter().find(|t| t.id == hog).expect("hog");
        assert_eq!(running.verdict.kind, VerdictKind::Running);
        // ringline-top, still within the hog's 2 s.
        let doc = top_json();
        let t = top_task(&doc, runtime, starved);
        assert_eq!(t["verdict"]["kind"], "woken_not_polled", "{t}");
        assert_eq!(t["verdict"]["tasks"], serde_json::json!([hog]), "{t}");
        assert_eq!(top_site(&top_task(&doc, runtime, hog), "spawn_site").0, file!());
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A connection's task awaits a future woken from outside the runtime:
    /// it is idle on nothing ringline knows (and moves once woken).
    fn a_task_idle_on_an_outside_future_is_idle_on_unknown(backend) {
        /// A future ringline knows nothing of: pending until the test
        /// wakes it.
        struct Outside;
        static OUTSIDE: Mutex<Option<Waker>> = Mutex::new(None);
        static OUTSIDE_DONE: AtomicBool = AtomicBool::new(false);
        impl Future for Outside {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                if OUTSIDE_DONE.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                *OUTSIDE.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    conn.with_data(|d| ParseResult::Consumed(d.len().min(1))).await;
                    Outside.await;
                    let _ = conn.send_nowait(b"woken");
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        ringline_tests::ringline_top();
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Handler>(test_config(backend))
        else {
            return;
        };
        let runtime = runtime_id(&shutdown);
        let mut stream = client(addr);
        std::io::Write::write_all(&mut stream, b"x").expect("write");
        let task = wait_for("the task to idle", IO_TIMEOUT, || {
            tasks_of(runtime).into_iter().find(|t| {
                matches!(t.kind, TaskKind::Connection { .. })
                    && t.verdict.kind == VerdictKind::IdleOnUnknown
                    && t.state_for_ns > 20_000_000
            })
        });
        assert_eq!(task.waiting_on, WaitTarget::Nothing);
        assert_eq!(task.await_site, None);
        assert!(task.verdict.message.contains("outside the runtime"), "{}", task.verdict.message);
        let doc = top_json();
        let t = top_task(&doc, runtime, task.id);
        assert_eq!(t["verdict"]["kind"], "idle_on_unknown", "{t}");
        assert_eq!(t["kind"], "connection", "{t}");
        assert!(t["await_site"].is_null(), "{t}");
        assert_eq!(top_site(&t, "spawn_site").0, file!());
        // Woken from outside, it moves on.
        OUTSIDE_DONE.store(true, Ordering::SeqCst);
        if let Some(w) = OUTSIDE.lock().unwrap().take() {
            w.wake();
        }
        let got = ringline_tests::read_n(&mut stream, 5);
        assert_eq!(got, b"woken");
        shutdown_and_join(&shutdown, workers);
    }
}
