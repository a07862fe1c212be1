//! Exact counts: echo traffic, every fs op kind, and pool high-water marks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use ringline::fs::{self, OpenFlags};
use ringline_tests::{
    Echo, Scenario, TempDir, backend_test, client, ensure, launch, pattern, read_n,
    run_scenario_stats, shutdown_and_join, test_config, wait_for,
};

use crate::util::{fs_config, next_turn, op, this_runtime, worker0};

backend_test! {
    /// Five clients connected at once, each echoing 1000 bytes: every
    /// connection, byte and send is counted exactly once.
    fn echo_traffic_is_counted_exactly(backend) {
        let Some((addr, shutdown, workers)) = launch::<Echo>(test_config(backend)) else {
            return;
        };
        let msg = pattern(1000);
        let mut clients: Vec<_> = (0..5).map(|_| client(addr)).collect();
        for c in &mut clients {
            c.write_all(&msg).expect("write");
            assert_eq!(read_n(c, msg.len()), msg);
        }
        let open = wait_for("5 connections in the stats", Duration::from_secs(5), || {
            let rt = shutdown.stats();
            (rt.workers[0].net.connections_active == 5).then_some(rt)
        });
        let conns = open.workers[0].slab("connections").expect("connections slab");
        assert_eq!((conns.used, conns.high_water), (5, 5), "{conns:?}");
        drop(clients);
        wait_for("5 closes in the stats", Duration::from_secs(5), || {
            (shutdown.stats().workers[0].net.connections_closed_total == 5).then_some(())
        });
        shutdown_and_join(&shutdown, workers);

        let rt = shutdown.stats();
        let w = &rt.workers[0];
        assert_eq!(w.net.connections_accepted_total, 5);
        assert_eq!(w.net.connections_closed_total, 5);
        assert_eq!(w.net.connections_active, 0);
        assert_eq!(w.net.bytes_received_total, 5000, "{:?}", w.net);
        assert_eq!(w.net.bytes_sent_total, 5000, "{:?}", w.net);
        let conns = w.slab("connections").expect("connections slab");
        assert_eq!((conns.used, conns.high_water, conns.exhausted_total), (0, 5, 0));
        let send = w.op("send").expect("send");
        assert!(send.submitted_total >= 5, "{send:?}");
        assert_eq!(send.completed_ok_total, send.submitted_total, "{send:?}");
        assert_eq!(send.latency.count, send.submitted_total, "every send is timed");
        let recv = w.op("recv").expect("recv");
        assert!(recv.multishot && recv.multishot_cqes_total >= 5, "{recv:?}");
        assert_eq!(recv.latency.count, 0, "multishot ops have no latency");
        let accept = w.op("accept").expect("accept");
        assert_eq!(accept.multishot_cqes_total, 5, "{accept:?}");
        assert!(w.ring.cqes_reaped_total > 0 && w.ring.enter_calls_total > 0);
        assert!(w.executor.loop_iterations_total > 0 && w.executor.polls_total > 0);
        assert!(w.executor.busy_ns_total > 0);
    }
}

backend_test! {
    /// One of every fs op (and one failing open): each kind counts exactly
    /// what was done, by result, and times every completion.
    fn fs_ops_are_counted_exactly(backend) {
        static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
        struct FsOps;
        impl Scenario for FsOps {
            async fn run() -> Result<(), String> {
                let dir = DIR.lock().unwrap().clone().ok_or("no dir")?;
                let e = |what: &'static str| move |err: std::io::Error| format!("{what}: {err}");
                let file = dir.join("f");
                let f = fs::create(&file).map_err(e("create"))?.await.map_err(e("create"))?;
                let (n, _) = fs::write_from(f, 0, BytesMut::from(&[7u8; 4096][..]))
                    .map_err(e("write"))?
                    .await;
                ensure!(n.map_err(e("write"))? == 4096, "short write");
                fs::fsync(f).map_err(e("fsync"))?.await.map_err(e("fsync"))?;
                fs::close(f).map_err(e("close"))?;
                let f = fs::open(&file, OpenFlags::READ, 0)
                    .map_err(e("open"))?
                    .await
                    .map_err(e("open"))?;
                let (n, _) = fs::read_into(f, 0, BytesMut::with_capacity(4096))
                    .map_err(e("read"))?
                    .await;
                ensure!(n.map_err(e("read"))? == 4096, "short read");
                fs::close(f).map_err(e("close"))?;
                fs::stat(&file).map_err(e("stat"))?.await.map_err(e("stat"))?;
                fs::mkdir(dir.join("d"), 0o700).map_err(e("mkdir"))?.await.map_err(e("mkdir"))?;
                fs::rename(&file, dir.join("g"))
                    .map_err(e("rename"))?
                    .await
                    .map_err(e("rename"))?;
                fs::remove(dir.join("g")).map_err(e("remove"))?.await.map_err(e("remove"))?;
                let missing = fs::open(dir.join("missing"), OpenFlags::READ, 0)
                    .map_err(e("open missing"))?
                    .await;
                ensure!(missing.is_err(), "opening a missing file succeeded");
                Ok(())
            }
        }
        let dir = TempDir::new("stats-fs");
        *DIR.lock().unwrap() = Some(dir.path().to_path_buf());
        let mut config = test_config(backend);
        config.fs = fs_config();
        let Some(rt) = run_scenario_stats::<FsOps>(config) else {
            return;
        };
        let expect = [
            ("fs_open", 2, 1),
            ("fs_write", 1, 0),
            ("fs_fsync", 1, 0),
            ("fs_read", 1, 0),
            ("fs_statx", 1, 0),
            ("fs_mkdir", 1, 0),
            ("fs_rename", 1, 0),
            ("fs_unlink", 1, 0),
        ];
        for (name, ok, err) in expect {
            let o = op(&rt, name);
            assert_eq!(
                (o.submitted_total, o.completed_ok_total, o.completed_error_total, o.in_flight),
                (ok + err, ok, err, 0),
                "{o:?}"
            );
            assert_eq!(o.latency.count, ok + err, "{name}: every completion timed");
            assert!(o.latency.sum_ns > 0, "{name}: a real op takes time");
        }
        let files = rt.workers[0].slab("fs_files").expect("fs_files");
        assert_eq!((files.used, files.high_water, files.capacity), (0, 1, 16), "{files:?}");
        let commands = rt.workers[0].slab("fs_commands").expect("fs_commands");
        assert_eq!((commands.used, commands.high_water), (0, 1), "{commands:?}");
    }
}

backend_test! {
    /// Twenty tasks sleeping at once: the task and timer pools' high-water
    /// marks are exactly the peak, and usage falls back when they end.
    fn slab_high_water_is_the_peak_actually_used(backend) {
        struct Peak;
        impl Scenario for Peak {
            async fn run() -> Result<(), String> {
                for _ in 0..20 {
                    ringline::spawn(async {
                        ringline::sleep(Duration::from_millis(30)).await;
                    })
                    .map_err(|e| format!("spawn: {e}"))?;
                }
                ringline::sleep(Duration::from_millis(100)).await;
                next_turn().await;
                let rt = this_runtime()?;
                let w = worker0(&rt)?;
                let tasks = w.slab("tasks").ok_or("tasks slab")?;
                // This scenario's task plus the twenty.
                ensure!(tasks.high_water == 21 && tasks.used == 1, "{tasks:?}");
                let timers = w.slab("timers").ok_or("timers slab")?;
                // Twenty sleeps plus this task's own.
                ensure!(timers.high_water == 21 && timers.used == 0, "{timers:?}");
                let t = w.op("timer").ok_or("timer op")?;
                ensure!(
                    t.submitted_total == 21 && t.completed_ok_total == 21 && t.in_flight == 0,
                    "{t:?}"
                );
                ensure!(w.executor.tasks == 1, "{:?}", w.executor);
                Ok(())
            }
        }
        run_scenario_stats::<Peak>(test_config(backend));
    }
}

backend_test! {
    /// Pool jobs are ops of the worker that queued them: a returned value
    /// is `ok`, a failed lookup an `error`, a dropped handle `cancelled`,
    /// and each finished one is timed.
    fn blocking_and_resolve_jobs_are_counted(backend) {
        struct Pools;
        impl Scenario for Pools {
            async fn run() -> Result<(), String> {
                let v = ringline::spawn_blocking(|| 6 * 7)
                    .map_err(|e| format!("spawn_blocking: {e}"))?
                    .await;
                ensure!(v == 42, "{v}");
                let slow = ringline::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)))
                    .map_err(|e| format!("spawn_blocking: {e}"))?;
                drop(slow);
                let addr = ringline::resolve("localhost", 80)
                    .map_err(|e| format!("resolve: {e}"))?
                    .await;
                ensure!(addr.is_ok(), "{addr:?}");
                let bad = ringline::resolve("no-such-host.invalid", 80)
                    .map_err(|e| format!("resolve: {e}"))?
                    .await;
                ensure!(bad.is_err(), "{bad:?}");
                Ok(())
            }
        }
        let Some(rt) = run_scenario_stats::<Pools>(test_config(backend)) else {
            return;
        };
        let b = op(&rt, "blocking");
        assert_eq!(
            (b.submitted_total, b.completed_ok_total, b.completed_cancelled_total, b.in_flight),
            (2, 1, 1, 0),
            "{b:?}"
        );
        assert_eq!(b.latency.count, 1, "the returned job is timed");
        let r = op(&rt, "resolve");
        assert_eq!(
            (r.submitted_total, r.completed_ok_total, r.completed_error_total),
            (2, 1, 1),
            "{r:?}"
        );
        assert_eq!(r.latency.count, 2);
    }
}

backend_test! {
    /// A pool job is counted on the worker that queued it, wherever its
    /// handle ends: awaited on another worker, dropped on a plain thread,
    /// or dropped by another worker's shutdown. Nothing stays in flight,
    /// so shutdown neither waits out the drain timeout nor reports kernel
    /// ops it gave up on.
    fn pool_jobs_ended_on_other_threads_are_counted_where_they_were_queued(backend) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Instant;

        use ringline::{AsyncEventHandler, BlockingJoinHandle, ConnCtx, RinglineBuilder};

        /// Worker 0's job, awaited on worker 1.
        static HANDED_OVER: Mutex<Option<BlockingJoinHandle<u32>>> = Mutex::new(None);
        /// Worker 0's job, still running when worker 1's shutdown drops it.
        static HELD: Mutex<Option<BlockingJoinHandle<u32>>> = Mutex::new(None);
        static AWAITED: Mutex<Option<Result<u32, String>>> = Mutex::new(None);
        static DROPPED_ELSEWHERE: AtomicBool = AtomicBool::new(false);
        static REQUESTED: Mutex<Option<Instant>> = Mutex::new(None);

        struct HandOver {
            worker: usize,
        }
        impl AsyncEventHandler for HandOver {
            fn on_accept(&self, _conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(
                &self,
            ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'static>>> {
                let worker = self.worker;
                Some(Box::pin(async move {
                    if worker == 0 {
                        let held = ringline::spawn_blocking(|| {
                            std::thread::sleep(Duration::from_millis(200));
                            9u32
                        })
                        .expect("spawn_blocking");
                        *HELD.lock().unwrap() = Some(held);
                        let awaited = ringline::spawn_blocking(|| 7u32).expect("spawn_blocking");
                        *HANDED_OVER.lock().unwrap() = Some(awaited);
                        let dropped = ringline::spawn_blocking(|| 8u32).expect("spawn_blocking");
                        std::thread::spawn(move || drop(dropped))
                            .join()
                            .expect("dropping thread");
                        DROPPED_ELSEWHERE.store(true, Ordering::SeqCst);
                        return;
                    }
                    let deadline = Instant::now() + Duration::from_secs(5);
                    let handle = loop {
                        if let Some(h) = HANDED_OVER.lock().unwrap().take() {
                            break Some(h);
                        }
                        if Instant::now() > deadline {
                            break None;
                        }
                        ringline::sleep(Duration::from_millis(1)).await;
                    };
                    let result = match handle {
                        Some(h) => Ok(h.await),
                        None => Err("worker 0 never handed its job over".to_string()),
                    };
                    while !DROPPED_ELSEWHERE.load(Ordering::SeqCst) && Instant::now() < deadline {
                        ringline::sleep(Duration::from_millis(1)).await;
                    }
                    if let Some(held) = HELD.lock().unwrap().take() {
                        ringline::spawn(async move {
                            let _ = held.await;
                        })
                        .expect("spawn");
                    }
                    *AWAITED.lock().unwrap() = Some(result);
                    *REQUESTED.lock().unwrap() = Some(Instant::now());
                    ringline::request_shutdown().expect("on a worker");
                }))
            }
            fn create_for_worker(worker: usize) -> Self {
                HandOver { worker }
            }
        }

        let mut config = test_config(backend);
        config.worker.threads = 2;
        // A shutdown that waited for a job counted in flight forever would
        // take this long, plus the forced-cancel grace.
        config.shutdown_drain_timeout = Duration::from_secs(5);
        let builder = RinglineBuilder::new(config);
        let Some((shutdown, workers)) = ringline_tests::launch_with::<HandOver>(builder, backend)
        else {
            return;
        };
        ringline_tests::join_checked(&shutdown, workers);
        let took = REQUESTED.lock().unwrap().take().expect("worker 1 finished").elapsed();
        assert_eq!(AWAITED.lock().unwrap().take(), Some(Ok(7)));
        assert!(
            took < Duration::from_secs(3),
            "shutdown took {took:?}: it waited for pool jobs counted in flight"
        );
        let rt = shutdown.stats();
        let queued_on = rt.workers[0].op("blocking").expect("blocking");
        assert_eq!(
            (
                queued_on.submitted_total,
                queued_on.completed_ok_total,
                queued_on.completed_cancelled_total,
                queued_on.in_flight,
            ),
            (3, 1, 2, 0),
            "worker 0 queued the three jobs: {queued_on:?}"
        );
        assert_eq!(queued_on.latency.count, 1, "the awaited job is timed");
        let awaited_on = rt.workers[1].op("blocking").expect("blocking");
        assert_eq!(
            (awaited_on.submitted_total, awaited_on.completed_total()),
            (0, 0),
            "worker 1 queued nothing: {awaited_on:?}"
        );
        for w in &rt.workers {
            assert_eq!(w.graveyard.abandoned, 0, "worker {} gave up: {:?}", w.worker, w.graveyard);
        }
    }
}
