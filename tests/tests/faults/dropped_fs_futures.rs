//! fs futures dropped at random points: reads of a regular file, reads of
//! a FIFO that another thread trickles bytes into (so a read may complete
//! in the same instant its future is dropped), and writes — each dropped
//! before its first poll (its SQE not even submitted), right after its
//! first poll, later while in flight, or awaited to completion, as a
//! seeded PRNG decides.
//!
//! Every buffer is a guard buffer (`guard`): a completed read must have
//! written only the bytes it reported, and no buffer the runtime freed may
//! change afterwards (a late kernel write). At the end the graveyard is
//! empty, every op submitted completed, and nothing is lost.
//!
//! `RINGLINE_FAULT_FUTURES` sets how many futures (default 10^6: about
//! 18 s in a debug build here, 4 s in release; see RELIABILITY.md);
//! `RINGLINE_FAULT_SEED` replays a seed.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use ringline::fs::{self, FsConfig, OpenFlags, ReadFuture, WriteFuture};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats_for, test_config};

use crate::guard::{self, GUARD_SIZE};
use crate::util::{Context, Rng, env_u64, figures, mkfifo, ms, next_turn, pattern_file, seed};

/// Futures per run unless `RINGLINE_FAULT_FUTURES` says otherwise.
const DEFAULT_FUTURES: u64 = 1_000_000;
/// The scenario bounds itself (it runs unguarded: long runs take minutes).
const DEADLINE: Duration = Duration::from_secs(600);

#[derive(Clone)]
struct Setup {
    data: PathBuf,
    bytes: Vec<u8>,
    scratch: PathBuf,
    fifo: PathBuf,
    futures: u64,
    seed: u64,
}

/// Where each future was dropped.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    before_poll: u64,
    after_first_poll: u64,
    in_flight: u64,
    completed: u64,
    fifo: u64,
    writes: u64,
    command_waits: u64,
}

enum Op {
    Read(ReadFuture),
    Write(WriteFuture),
}

impl Op {
    /// Polls once (registering the task's waker), whatever the outcome.
    async fn poll_once(&mut self) {
        std::future::poll_fn(|cx| {
            match self {
                Op::Read(r) => drop(Pin::new(r).poll(cx)),
                Op::Write(w) => drop(Pin::new(w).poll(cx)),
            }
            Poll::Ready(())
        })
        .await
    }
}

backend_test! {
    fn fs_futures_dropped_at_random_points_lose_nothing(backend) {
        static SETUP: Mutex<Option<Setup>> = Mutex::new(None);
        static COUNTS: Mutex<Option<Counts>> = Mutex::new(None);
        struct Drops;
        impl Scenario for Drops {
            async fn run() -> Result<(), String> {
                let setup = SETUP.lock().unwrap().clone().ok_or("no setup")?;
                let counts = drop_futures(&setup).await?;
                *COUNTS.lock().unwrap() = Some(counts);
                Ok(())
            }
        }

        let dir = ringline_tests::TempDir::new("dropped-futures");
        let (data, bytes) = pattern_file(dir.path(), "data", 256 * 1024);
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let futures = env_u64("RINGLINE_FAULT_FUTURES").unwrap_or(DEFAULT_FUTURES);
        let seed = seed();
        eprintln!("dropped fs futures: {futures} futures, seed {seed} (RINGLINE_FAULT_SEED)");
        *SETUP.lock().unwrap() = Some(Setup {
            data,
            bytes,
            scratch: dir.path().join("scratch"),
            fifo: fifo.clone(),
            futures,
            seed,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let trickle = trickle_into(fifo, stop.clone());

        let mut config = test_config(backend);
        config.fs = Some(FsConfig { max_files: 8, max_commands_in_flight: 512 });
        let started = Instant::now();
        let stats = run_scenario_stats_for::<Drops>(config, DEADLINE);
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let trickled = trickle.join().expect("trickle thread");
        let Some(rt) = stats else {
            return;
        };
        let counts = COUNTS.lock().unwrap().take().expect("the scenario reported");
        // The runtime has exited: whatever it freed must be untouched.
        let guarded = guard::drain();
        assert_eq!(guarded.late_writes, 0, "freed buffers written after free: {guarded:?}");
        assert!(guarded.checked >= futures, "only {} guard blocks checked", guarded.checked);
        let g = &rt.workers[0].graveyard;
        if rt.backend == "io_uring" {
            assert!(g.parked_total > 0, "no future was parked: {g:?}");
        }
        assert_eq!((g.depth, g.abandoned), (0, 0), "{g:?}");
        let read = rt.workers[0].op("fs_read").expect("fs_read");
        let write = rt.workers[0].op("fs_write").expect("fs_write");
        figures(
            "dropped_fs_futures",
            &[
                ("backend", format!("{backend:?}")),
                ("futures", futures.to_string()),
                ("dropped_before_poll", counts.before_poll.to_string()),
                ("dropped_after_first_poll", counts.after_first_poll.to_string()),
                ("dropped_in_flight", counts.in_flight.to_string()),
                ("completed", counts.completed.to_string()),
                ("fifo_reads", counts.fifo.to_string()),
                ("writes", counts.writes.to_string()),
                ("command_waits", counts.command_waits.to_string()),
                ("parked", g.parked_total.to_string()),
                ("reaped", g.reaped_total.to_string()),
                ("cancelled", (read.completed_cancelled_total + write.completed_cancelled_total).to_string()),
                ("guard_blocks_checked", guarded.checked.to_string()),
                ("late_writes", guarded.late_writes.to_string()),
                ("fifo_bytes_trickled", trickled.to_string()),
                ("lost", "0".into()),
                ("ms", ms(took)),
                ("seed", seed.to_string()),
            ],
        );
    }
}

/// Writes a few bytes into the FIFO every 200 µs until `stop`.
fn trickle_into(fifo: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut written = 0u64;
        let mut fifo_w = None;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_micros(200));
            // Opening for writing without a reader fails (ENXIO): retry
            // until the runtime has opened its end.
            if fifo_w.is_none() {
                fifo_w = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&fifo)
                    .ok();
            }
            if let Some(w) = fifo_w.as_mut()
                && let Ok(n) = w.write(&[0x42; 37])
            {
                written += n as u64;
            }
        }
        written
    })
}

async fn drop_futures(s: &Setup) -> Result<Counts, String> {
    let started = Instant::now();
    let f = fs::open(&s.data, OpenFlags::READ, 0)
        .ctx("open data")?
        .await
        .ctx("open data")?;
    let w = fs::open(&s.scratch, OpenFlags::WRITE | OpenFlags::CREATE, 0o600)
        .ctx("open scratch")?
        .await
        .ctx("open scratch")?;
    let p = fs::open(&s.fifo, OpenFlags::READ_WRITE, 0)
        .ctx("open fifo")?
        .await
        .ctx("open fifo")?;
    let mut rng = Rng::new(s.seed);
    let mut c = Counts::default();
    // Futures dropped later, at the iteration they are due.
    let mut later: VecDeque<(u64, Op)> = VecDeque::new();
    // Reads near the end are short: the canary past them must survive.
    let span = s.bytes.len() as u64;
    for i in 0..s.futures {
        let target = rng.below(100);
        let offset = rng.below(span);
        let (mut op, fifo) = loop {
            let made = match target {
                0..50 => fs::read_into(f, offset, guard::guarded()).map(|r| (Op::Read(r), false)),
                50..70 => fs::read_into(p, 0, guard::guarded()).map(|r| (Op::Read(r), true)),
                _ => {
                    let mut buf = guard::guarded();
                    buf.extend_from_slice(&s.bytes[..1 + rng.below(GUARD_SIZE as u64) as usize]);
                    fs::write_from(w, offset, buf).map(|w| (Op::Write(w), false))
                }
            };
            match made {
                Ok(op) => break op,
                // Every command is in flight (or parked): let the loop reap.
                Err(e) if e.kind() == std::io::ErrorKind::Other => {
                    c.command_waits += 1;
                    next_turn().await;
                }
                Err(e) => return Err(format!("future {i}: {e}")),
            }
        };
        c.fifo += u64::from(fifo);
        c.writes += u64::from(matches!(op, Op::Write(_)));
        match rng.below(100) {
            0..35 => {
                drop(op);
                c.before_poll += 1;
            }
            35..60 => {
                op.poll_once().await;
                drop(op);
                c.after_first_poll += 1;
            }
            // A FIFO read may never complete: it is dropped in flight.
            60..85 => {
                op.poll_once().await;
                later.push_back((i + 1 + rng.below(64), op));
            }
            _ if fifo => later.push_back((i + 1 + rng.below(64), op)),
            _ => {
                complete(op, offset, &s.bytes).await?;
                c.completed += 1;
            }
        }
        while later.front().is_some_and(|(due, _)| *due <= i) {
            drop(later.pop_front());
            c.in_flight += 1;
        }
        if i % 128 == 0 {
            next_turn().await;
            ensure!(
                started.elapsed() < DEADLINE,
                "{i} futures after {DEADLINE:?}"
            );
        }
    }
    c.in_flight += later.len() as u64;
    drop(later);
    fs::close(f).ctx("close data")?;
    fs::close(w).ctx("close scratch")?;
    fs::close(p).ctx("close fifo")?;
    Ok(c)
}

/// Awaits a file read or write and checks what it did.
async fn complete(op: Op, offset: u64, bytes: &[u8]) -> Result<(), String> {
    match op {
        Op::Read(read) => {
            let (n, mut buf) = read.await;
            let n = n.ctx("read")?;
            let at = offset as usize;
            let want = GUARD_SIZE.min(bytes.len() - at);
            ensure!(n == want, "read {n} of {want} bytes at {at}");
            ensure!(buf[..] == bytes[at..at + n], "wrong bytes at {at}");
            ensure!(guard::spare_intact(&mut buf), "a read wrote past its count");
        }
        Op::Write(write) => {
            let (n, buf) = write.await;
            ensure!(n.ctx("write")? == buf.len(), "short write");
        }
    }
    Ok(())
}
