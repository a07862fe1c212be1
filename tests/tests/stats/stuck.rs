//! Ops blocked forever and a worker wedged in user code, seen from outside
//! while it happens: the right op kind and target, ages within 10 % of the
//! truth, and a heartbeat that stops.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::fs::{self, OpenFlags};
use ringline::stats::OpTarget;
use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats, test_config};

use crate::util::{fifo, fs_config, stuck_ops_of, this_runtime, within_10_percent};

backend_test! {
    /// A read on a FIFO nobody writes to: in flight for a second, listed by
    /// `stuck_ops` with its kind, its file and its age.
    fn fifo_read_with_no_writer_is_a_stuck_op(backend) {
        static FIFO: Mutex<Option<PathBuf>> = Mutex::new(None);
        struct Blocked;
        impl Scenario for Blocked {
            async fn run() -> Result<(), String> {
                let path = FIFO.lock().unwrap().clone().ok_or("no fifo")?;
                let p = fs::open(&path, OpenFlags::READ_WRITE, 0)
                    .map_err(|e| format!("open: {e}"))?
                    .await
                    .map_err(|e| format!("open: {e}"))?;
                let id = this_runtime()?.id;
                let started = Instant::now();
                let read = fs::read_into(p, 0, BytesMut::with_capacity(512))
                    .map_err(|e| format!("read_into: {e}"))?;
                ringline::sleep(Duration::from_millis(1200)).await;
                let stuck = stuck_ops_of(id, Duration::from_secs(1));
                let truth = started.elapsed();
                ensure!(stuck.len() == 1, "one stuck op: {stuck:?}");
                let op = &stuck[0];
                ensure!(op.op == "fs_read", "{op:?}");
                // Named as opened (read on this worker: from the table
                // fs::open filled, never through /proc).
                let named = path.to_string_lossy();
                ensure!(
                    matches!(&op.target, OpTarget::Fd { fd, path: Some(p) } if *fd >= 0 && *p == named),
                    "{op:?}, expected the path {named}"
                );
                ensure!(op.task.is_some() && op.worker == 0, "{op:?}");
                let age = Duration::from_nanos(op.age_ns);
                ensure!(within_10_percent(age, truth), "age {age:?}, truth {truth:?}");
                ensure!(
                    stuck_ops_of(id, Duration::from_secs(5)).is_empty(),
                    "nothing is 5 s old"
                );
                drop(read);
                fs::close(p).map_err(|e| format!("close: {e}"))?;
                Ok(())
            }
        }
        let (_dir, path) = fifo("stats-stuck-fifo");
        *FIFO.lock().unwrap() = Some(path);
        let mut config = test_config(backend);
        config.fs = fs_config();
        let Some(rt) = run_scenario_stats::<Blocked>(config) else {
            return;
        };
        assert_eq!(rt.workers[0].op("fs_read").expect("fs_read").completed_cancelled_total, 1);
    }
}

backend_test! {
    /// Sends to a peer that never reads fill the socket buffers; the send
    /// the kernel cannot finish is listed with its connection and peer.
    fn send_to_a_peer_that_never_reads_is_a_stuck_op(backend) {
        static PEER: Mutex<Option<std::net::SocketAddr>> = Mutex::new(None);
        static DONE: AtomicBool = AtomicBool::new(false);
        struct Stalled;
        impl Scenario for Stalled {
            async fn run() -> Result<(), String> {
                let peer = PEER.lock().unwrap().ok_or("no peer")?;
                let conn = ringline::connect(peer)
                    .map_err(|e| format!("connect: {e}"))?
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let id = this_runtime()?.id;
                let last_send = std::rc::Rc::new(std::cell::Cell::new(Instant::now()));
                let stamp = last_send.clone();
                let sender = ringline::spawn(async move {
                    let chunk = vec![0x5au8; 16 * 1024];
                    loop {
                        stamp.set(Instant::now());
                        match conn.send(&chunk) {
                            Ok(f) => {
                                if f.await.is_err() {
                                    return;
                                }
                            }
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| format!("spawn: {e}"))?;
                ringline::sleep(Duration::from_millis(1500)).await;
                let stuck = stuck_ops_of(id, Duration::from_millis(500));
                let truth = last_send.get().elapsed();
                DONE.store(true, Ordering::SeqCst);
                ensure!(stuck.len() == 1, "one stuck op: {stuck:?}");
                let op = &stuck[0];
                ensure!(op.op == "send", "{op:?}");
                let expected_peer = peer.to_string();
                ensure!(
                    matches!(&op.target, OpTarget::Connection { index, peer: Some(p) }
                        if *index as usize == conn.index() && *p == expected_peer),
                    "{op:?}, expected connection {} to {expected_peer}",
                    conn.index()
                );
                let age = Duration::from_nanos(op.age_ns);
                ensure!(within_10_percent(age, truth), "age {age:?}, truth {truth:?}");
                sender.cancel();
                conn.close();
                Ok(())
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        *PEER.lock().unwrap() = Some(listener.local_addr().expect("addr"));
        // Accepts and holds the connection without reading until the
        // scenario has looked, then closes it so the blocked send ends.
        let holder = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let deadline = Instant::now() + Duration::from_secs(30);
            while !DONE.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(stream);
        });
        let mut config = test_config(backend);
        config.shutdown_drain_timeout = Duration::from_secs(5);
        run_scenario_stats::<Stalled>(config);
        holder.join().expect("holder thread");
    }
}

backend_test! {
    /// A handler that blocks its worker for 2 s: an outside reader sees the
    /// heartbeat stop and the current poll age grow with the truth.
    fn busy_handler_shows_as_a_wedged_worker(backend) {
        static RUNTIME: AtomicU64 = AtomicU64::new(0);
        static STARTED: Mutex<Option<Instant>> = Mutex::new(None);
        struct Wedged;
        impl Scenario for Wedged {
            async fn run() -> Result<(), String> {
                RUNTIME.store(this_runtime()?.id, Ordering::SeqCst);
                *STARTED.lock().unwrap() = Some(Instant::now());
                // Blocks the worker thread: no await, no loop iteration.
                std::thread::sleep(Duration::from_secs(2));
                Ok(())
            }
        }
        let observer = std::thread::spawn(|| {
            let started = loop {
                if let Some(t) = *STARTED.lock().unwrap() {
                    break t;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            std::thread::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed()));
            let snap = ringline::stats::snapshot();
            let truth = started.elapsed();
            let rt = snap
                .runtime(RUNTIME.load(Ordering::SeqCst))
                .expect("the wedged runtime is listed")
                .clone();
            (rt.workers[0].executor.clone(), truth)
        });
        run_scenario_stats::<Wedged>(test_config(backend));
        let (e, truth) = observer.join().expect("observer");
        assert!(!e.parked, "{e:?}");
        assert!(e.current_task.is_some(), "{e:?}");
        let heartbeat = Duration::from_nanos(e.heartbeat_age_ns);
        assert!(within_10_percent(heartbeat, truth), "heartbeat {heartbeat:?}, truth {truth:?}");
        let poll = Duration::from_nanos(e.current_poll_age_ns.expect("a poll is running"));
        assert!(within_10_percent(poll, truth), "poll {poll:?}, truth {truth:?}");
    }
}
