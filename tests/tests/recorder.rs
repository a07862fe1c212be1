//! The flight recorder end to end, on both backends: a worker wedged in a
//! task writes a stall dump by itself, holding the half minute before the
//! stall with the stuck op seen ageing; a worker panic writes a dump
//! naming the panic; the history stays under its memory cap with 10,000
//! ops in flight. The recorder is one per process, so every test here
//! shares it (and its dump directory).

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::record::{Recording, TriggerKind};
use ringline::stats::OpTarget;
use ringline::{AsyncEventHandler, Config, ConnCtx, RecorderConfig};
use ringline_tests::{TempDir, backend_test, mkfifo, shutdown_and_join, test_config, wait_for};

type Start = Option<Pin<Box<dyn Future<Output = ()> + 'static>>>;

const STALL_AFTER: Duration = Duration::from_secs(2);

/// The dump directory every test of this binary shares.
fn dumps() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| TempDir::new("recorder-dumps")).path()
}

/// `test_config` with files and the recorder writing into `dumps()`.
fn config(backend: ringline::config::BackendChoice, commands: u16) -> Config {
    let mut config = test_config(backend);
    config.fs = Some(FsConfig {
        max_files: 4,
        max_commands_in_flight: commands,
    });
    config.recorder = RecorderConfig {
        dump_dir: Some(dumps().to_owned()),
        stall_after: STALL_AFTER,
        max_dumps: 100,
        dump_signal: Some(libc::SIGUSR2),
        ..RecorderConfig::default()
    };
    config
}

/// Every dump now in the directory, read back.
fn read_dumps() -> Vec<(PathBuf, Recording)> {
    let Ok(entries) = std::fs::read_dir(dumps()) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .filter_map(|p| {
            let file = std::fs::File::open(&p).ok()?;
            Some((p.clone(), Recording::read(BufReader::new(file)).ok()?))
        })
        .collect()
}

/// A FIFO in a fresh directory (kept alive by the returned guard).
fn fifo(tag: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("fifo");
    mkfifo(&path);
    (dir, path)
}

backend_test! {
    /// A read stuck on a FIFO for 32 s, then a task that spins for 5 s:
    /// a stall dump appears within a second of the stall threshold, with
    /// at least 30 s of history before the stall in which the read ages.
    fn a_stalled_worker_dumps_the_minute_before_it(backend) {
        static FIFO: Mutex<Option<PathBuf>> = Mutex::new(None);
        static STALLED_AT: Mutex<Option<Instant>> = Mutex::new(None);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    let path = FIFO.lock().unwrap().clone().expect("fifo");
                    let file = fs::open(&path, OpenFlags::READ_WRITE, 0).expect("open").await.expect("open");
                    let read = fs::read_into(file, 0, BytesMut::with_capacity(64)).expect("read");
                    ringline::sleep(Duration::from_secs(32)).await;
                    *STALLED_AT.lock().unwrap() = Some(Instant::now());
                    let until = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    drop(read);
                    let _ = fs::close(file);
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        let (_dir, path) = fifo("recorder-stall");
        *FIFO.lock().unwrap() = Some(path.clone());
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(config(backend, 16))
        else {
            return;
        };
        let runtime = shutdown.stats().id;
        let stalled_at = wait_for("the stall", Duration::from_secs(60), || *STALLED_AT.lock().unwrap());
        let mine = format!("of runtime {runtime} ");
        let (file, dump) = wait_for("a stall dump", Duration::from_secs(10), || {
            read_dumps().into_iter().find(|(_, d)| {
                d.header.trigger.kind == TriggerKind::Stall && d.header.trigger.message.contains(&mine)
            })
        });
        let written = std::fs::metadata(&file).and_then(|m| m.modified()).expect("mtime");
        let after_stall = written
            .duration_since(std::time::SystemTime::now() - stalled_at.elapsed())
            .unwrap_or_default();
        assert!(
            after_stall <= STALL_AFTER + Duration::from_secs(1),
            "the dump came {after_stall:?} after the stall began (threshold {STALL_AFTER:?})"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(dump.header.pid, std::process::id());
        assert_eq!(dump.header.trigger.worker, Some(0));
        // At least 30 s of history before the stall.
        let trigger_at = dump.header.trigger.at_monotonic_ns;
        let first = dump.frames.first().expect("frames").monotonic_ns;
        assert!(
            trigger_at.saturating_sub(first) >= 30_000_000_000,
            "history starts {} s before the trigger",
            (trigger_at.saturating_sub(first)) as f64 / 1e9
        );
        // The read, seen ageing frame after frame.
        let named = path.to_string_lossy().into_owned();
        let ages: Vec<u64> = dump
            .frames
            .iter()
            .filter_map(|f| {
                let rt = f.state.snapshot.runtimes.iter().find(|r| r.id == runtime)?;
                rt.workers[0]
                    .in_flight
                    .iter()
                    .find(|op| {
                        op.op == "fs_read"
                            && matches!(&op.target, OpTarget::Fd { path: Some(p), .. } if *p == named)
                    })
                    .map(|op| op.age_ns)
            })
            .collect();
        assert!(ages.len() >= 30, "the read in {} frames", ages.len());
        assert!(ages.windows(2).all(|w| w[0] <= w[1]), "ages go up: {ages:?}");
        assert!(*ages.last().unwrap() >= 30_000_000_000, "{ages:?}");
        assert!(
            ringline::stats::snapshot().recorder.dumps_total["stall"] >= 1,
            "counted"
        );
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A task panics: its worker writes a dump naming the panic before it
    /// unwinds.
    fn a_panicking_worker_dumps_before_unwinding(backend) {
        static MESSAGE: Mutex<String> = Mutex::new(String::new());
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    ringline::sleep(Duration::from_millis(300)).await;
                    let message = MESSAGE.lock().unwrap().clone();
                    panic!("{message}");
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        let message = format!("recorder test panic on {backend:?} {}", std::process::id());
        *MESSAGE.lock().unwrap() = message.clone();
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(config(backend, 16))
        else {
            return;
        };
        let (_, dump) = wait_for("a panic dump", Duration::from_secs(10), || {
            read_dumps().into_iter().find(|(_, d)| {
                d.header.trigger.kind == TriggerKind::Panic && d.header.trigger.message.contains(&message)
            })
        });
        assert_eq!(dump.header.trigger.worker, Some(0));
        assert!(!dump.frames.is_empty());
        shutdown.shutdown();
        for worker in workers {
            assert!(worker.join().is_err(), "the worker panicked");
        }
    }
}

backend_test! {
    /// 10,000 reads in flight on one FIFO: the history stays under its
    /// cap and still spans seconds (frames keep each worker's oldest ops,
    /// not all of them).
    fn the_memory_cap_holds_with_ten_thousand_ops_in_flight(backend) {
        const OPS: usize = 10_000;
        static FIFO: Mutex<Option<PathBuf>> = Mutex::new(None);
        static SUBMITTED: AtomicU64 = AtomicU64::new(0);
        static DONE: AtomicBool = AtomicBool::new(false);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    let path = FIFO.lock().unwrap().clone().expect("fifo");
                    let file = fs::open(&path, OpenFlags::READ_WRITE, 0).expect("open").await.expect("open");
                    let mut reads = Vec::with_capacity(OPS);
                    for _ in 0..OPS {
                        match fs::read_into(file, 0, BytesMut::with_capacity(16)) {
                            Ok(read) => reads.push(read),
                            Err(e) => panic!("read {}: {e}", reads.len()),
                        }
                    }
                    SUBMITTED.store(reads.len() as u64, Ordering::SeqCst);
                    while !DONE.load(Ordering::SeqCst) {
                        ringline::sleep(Duration::from_millis(20)).await;
                    }
                    drop(reads);
                    let _ = fs::close(file);
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        let (_dir, path) = fifo("recorder-cap");
        *FIFO.lock().unwrap() = Some(path);
        let Some((_addr, shutdown, workers)) =
            ringline_tests::launch::<Handler>(config(backend, OPS as u16 + 16))
        else {
            return;
        };
        let runtime = shutdown.stats().id;
        wait_for("the reads", Duration::from_secs(30), || {
            (SUBMITTED.load(Ordering::SeqCst) == OPS as u64).then_some(())
        });
        let in_flight = |s: &ringline::stats::Snapshot| -> u64 {
            s.runtimes
                .iter()
                .filter(|r| r.id == runtime)
                .flat_map(|r| &r.workers)
                .filter_map(|w| w.op("fs_read"))
                .map(|o| o.in_flight)
                .sum()
        };
        // Published by the worker at the end of its turn.
        wait_for("the reads in the stats", Duration::from_secs(30), || {
            (in_flight(&ringline::stats::snapshot()) >= OPS as u64).then_some(())
        });
        let started = Instant::now();
        let mut peak = 0;
        while started.elapsed() < Duration::from_secs(5) {
            let s = ringline::stats::snapshot();
            assert!(in_flight(&s) >= OPS as u64, "{} in flight", in_flight(&s));
            assert!(s.recorder.enabled);
            assert!(
                s.recorder.bytes <= s.recorder.max_bytes && s.recorder.max_bytes == 8 << 20,
                "{:?}",
                s.recorder
            );
            peak = peak.max(s.recorder.bytes);
            std::thread::sleep(Duration::from_millis(100));
        }
        let s = ringline::stats::snapshot();
        assert!(s.recorder.frames >= 30, "history of {} frames", s.recorder.frames);
        eprintln!("recorder: {} frames, peak {peak} bytes", s.recorder.frames);
        DONE.store(true, Ordering::SeqCst);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// The configured signal makes the process write a dump; so does the
    /// inspect `dump` request, which answers with the file's path.
    fn the_dump_signal_and_the_dump_request_write_dumps(backend) {
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(config(backend, 16))
        else {
            return;
        };
        let before = |kind: TriggerKind| {
            ringline::stats::snapshot().recorder.dumps_total[kind.name()]
        };
        let signals = before(TriggerKind::Signal);
        // SAFETY: kill(2) with our own pid and a signal the recorder
        // registered a handler for (the first launch's config).
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) }, 0);
        wait_for("a signal dump", Duration::from_secs(10), || {
            (before(TriggerKind::Signal) > signals).then_some(())
        });
        assert!(
            read_dumps().iter().any(|(_, d)| d.header.trigger.kind == TriggerKind::Signal),
            "a signal dump on disk"
        );
        let mut client = ringline::inspect::Client::connect(std::process::id()).expect("inspect");
        let path = client.dump().expect("dump");
        let dump = Recording::read(BufReader::new(std::fs::File::open(&path).expect("open")))
            .expect("a dump");
        assert_eq!(dump.header.trigger.kind, TriggerKind::Request);
        assert_eq!(path.parent(), Some(dumps()));
        assert!(!dump.frames.is_empty());
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A task drops 20 reads it started and then hogs its worker, so their
    /// buffers pile up in the graveyard: `ringline-top --diff A B` between
    /// a dump before and one during the pile-up puts the graveyard and
    /// `fs_read` on top.
    fn a_diff_of_two_dumps_attributes_a_graveyard_leak_to_its_op(backend) {
        const READS: usize = 20;
        static FIFO: Mutex<Option<PathBuf>> = Mutex::new(None);
        static GO: AtomicBool = AtomicBool::new(false);
        static LEAKING: AtomicBool = AtomicBool::new(false);
        struct Handler;
        impl AsyncEventHandler for Handler {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_start(&self) -> Start {
                Some(Box::pin(async {
                    let path = FIFO.lock().unwrap().clone().expect("fifo");
                    let file = fs::open(&path, OpenFlags::READ_WRITE, 0).expect("open").await.expect("open");
                    while !GO.load(Ordering::SeqCst) {
                        ringline::sleep(Duration::from_millis(10)).await;
                    }
                    let reads: Vec<_> = (0..READS)
                        .map(|_| fs::read_into(file, 0, BytesMut::with_capacity(4096)).expect("read"))
                        .collect();
                    ringline::sleep(Duration::from_millis(50)).await;
                    // Dropped while the kernel holds their buffers: parked in
                    // the graveyard until their cancels complete, which the
                    // worker does not reap while this task hogs it.
                    drop(reads);
                    LEAKING.store(true, Ordering::SeqCst);
                    let until = Instant::now() + Duration::from_millis(1500);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    let _ = fs::close(file);
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Handler
            }
        }
        let (_dir, path) = fifo("recorder-leak");
        *FIFO.lock().unwrap() = Some(path);
        let top = ringline_tests::ringline_top();
        let Some((_addr, shutdown, workers)) = ringline_tests::launch::<Handler>(config(backend, 64))
        else {
            return;
        };
        let runtime = shutdown.stats().id;
        std::thread::sleep(Duration::from_millis(300));
        let mut client = ringline::inspect::Client::connect(std::process::id()).expect("inspect");
        let before = client.dump().expect("dump A");
        GO.store(true, Ordering::SeqCst);
        wait_for("the leak", Duration::from_secs(10), || LEAKING.load(Ordering::SeqCst).then_some(()));
        // Frames of the pile-up (the recorder takes one every 100 ms).
        std::thread::sleep(Duration::from_millis(400));
        let during = client.dump().expect("dump B");
        let out = std::process::Command::new(top)
            .arg("--diff")
            .arg(&before)
            .arg(&during)
            .arg("--json")
            .output()
            .expect("run ringline-top --diff");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let diff: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let ours: Vec<&serde_json::Value> = diff["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["runtime"] == runtime)
            .collect();
        let rank = |pred: &dyn Fn(&serde_json::Value) -> bool| ours.iter().position(|c| pred(c));
        let graveyard = rank(&|c| c["what"].as_str().is_some_and(|w| w.contains("graveyard")));
        let fs_read = rank(&|c| c["name"] == "fs_read" || c["what"].as_str().is_some_and(|w| w.contains("fs_read")));
        assert!(
            graveyard.is_some_and(|g| g < 3) && fs_read.is_some_and(|f| f < 3),
            "the graveyard and fs_read should top the diff: {ours:#?}"
        );
        let depth = ours
            .iter()
            .find(|c| c["what"].as_str().is_some_and(|w| w.contains("graveyard")) && c["delta"].as_f64().unwrap_or(0.0) >= READS as f64)
            .or_else(|| ours.iter().find(|c| c["what"].as_str().is_some_and(|w| w.contains("graveyard"))));
        assert!(depth.is_some(), "{ours:#?}");
        shutdown_and_join(&shutdown, workers);
    }
}
