//! A completion queue that overflows: an 8-entry submission queue (so the
//! loop submits every 8 SQEs, mid-poll) and bursts of 3,000 file reads in
//! one poll — completions the kernel posts inline, three times what the
//! 1,024-entry CQ holds — alongside bursts of timers, tasks and sends. The
//! kernel keeps what does not fit (`NODROP`); the worker must reap every
//! one: each read returns the right bytes, every timer fires, every task
//! ends, every byte reaches its peer, and nothing is lost.

use std::cell::Cell;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats_for, test_config};

use crate::util::{Context, figures, ms, pattern_file};

/// Reads submitted in one poll, per round.
const READ_BURST: usize = 3_000;
/// Timers (each in its own task) started in one poll, per round.
const TIMER_BURST: usize = 2_000;
/// Rounds of bursts.
const ROUNDS: usize = 3;
/// Outbound connections that each send `SENDS` messages per round.
const CONNS: usize = 16;
const SENDS: usize = 50;
const MESSAGE: usize = 100;
/// The scenario bounds itself (it needs every timer slot).
const DEADLINE: Duration = Duration::from_secs(60);

backend_test! {
    fn cq_overflow_from_bursts_loses_nothing(backend) {
        static SETUP: Mutex<Option<(PathBuf, Vec<u8>, SocketAddr)>> = Mutex::new(None);
        struct Bursts;
        impl Scenario for Bursts {
            async fn run() -> Result<(), String> {
                let (path, data, sink) = SETUP.lock().unwrap().clone().ok_or("no setup")?;
                let started = Instant::now();
                let f = fs::open(&path, OpenFlags::READ, 0).ctx("open")?.await.ctx("open")?;
                let mut conns = Vec::new();
                for _ in 0..CONNS {
                    let c = ringline::connect(sink).ctx("connect")?.await.ctx("connect")?;
                    conns.push(c);
                }
                let message = [0x5au8; MESSAGE];
                let fired = Rc::new(Cell::new(0usize));
                for round in 0..ROUNDS {
                    // One poll: every read is pushed (and, 8 at a time,
                    // submitted and completed by the kernel) before the
                    // loop gets to reap a single CQE.
                    let mut reads = Vec::with_capacity(READ_BURST);
                    for i in 0..READ_BURST {
                        let at = (i * 61 + round * 7) % (data.len() - 64);
                        let read = fs::read_into(f, at as u64, BytesMut::with_capacity(64))
                            .ctx("read_into")?;
                        reads.push((at, read));
                    }
                    for i in 0..TIMER_BURST {
                        let fired = fired.clone();
                        ringline::spawn(async move {
                            ringline::sleep(Duration::from_micros((i % 500) as u64)).await;
                            fired.set(fired.get() + 1);
                        })
                        .ctx("spawn")?;
                    }
                    for c in &conns {
                        for _ in 0..SENDS {
                            c.send_nowait(&message).ctx("send_nowait")?;
                        }
                    }
                    for (at, read) in reads {
                        let (n, buf) = read.await;
                        ensure!(n.ctx("read")? == 64, "short read at {at}");
                        ensure!(buf[..] == data[at..at + 64], "wrong bytes at {at}");
                    }
                    ensure!(started.elapsed() < DEADLINE, "round {round} past {DEADLINE:?}");
                }
                for c in &conns {
                    c.send(b"").ctx("send")?.await.ctx("flush")?;
                }
                while fired.get() < ROUNDS * TIMER_BURST {
                    ensure!(
                        started.elapsed() < DEADLINE,
                        "{} of {} timers fired",
                        fired.get(),
                        ROUNDS * TIMER_BURST
                    );
                    ringline::sleep(Duration::from_millis(1)).await;
                }
                for c in conns {
                    c.close();
                }
                fs::close(f).ctx("close")
            }
        }

        let dir = ringline_tests::TempDir::new("cq-overflow");
        let (path, data) = pattern_file(dir.path(), "data", 64 * 1024);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let sink_addr = listener.local_addr().expect("sink address");
        *SETUP.lock().unwrap() = Some((path, data, sink_addr));
        // Counts every byte each connection delivers until it closes.
        let sink = std::thread::spawn(move || {
            let readers: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (mut s, _) = listener.accept().expect("accept");
                    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        let mut total = 0usize;
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) => return total,
                                Ok(n) => total += n,
                                Err(e) => panic!("sink read after {total} bytes: {e}"),
                            }
                        }
                    })
                })
                .collect();
            readers.into_iter().map(|r| r.join().expect("sink reader")).sum::<usize>()
        });

        let mut config = test_config(backend);
        config.sq_entries = 8;
        config.fs = Some(FsConfig { max_files: 4, max_commands_in_flight: 4096 });
        // Every round's timer tasks may still be alive when the last starts.
        config.standalone_task_capacity = (ROUNDS * TIMER_BURST + 64) as u32;
        config.timer_slots = (ROUNDS * TIMER_BURST + 64) as u32;
        config.send_copy_count = 1024;
        config.send_copy_slot_size = 512;
        let started = Instant::now();
        let Some(rt) = run_scenario_stats_for::<Bursts>(config, DEADLINE) else {
            return;
        };
        let took = started.elapsed();
        let received = sink.join().expect("sink");
        let sent = ROUNDS * CONNS * SENDS * MESSAGE;
        assert_eq!(received, sent, "bytes sent == bytes received");
        let w = &rt.workers[0];
        // Only io_uring has a completion queue to overflow.
        if rt.backend == "io_uring" {
            assert!(
                w.ring.cq_overflow_total > 0,
                "no CQ overflow was forced: {:?}",
                w.ring
            );
        }
        let reads = w.op("fs_read").expect("fs_read");
        assert_eq!(reads.completed_ok_total, (ROUNDS * READ_BURST) as u64, "{reads:?}");
        assert_eq!(w.net.bytes_sent_total, sent as u64, "{:?}", w.net);
        figures(
            "cq_overflow",
            &[
                ("backend", format!("{backend:?}")),
                ("reads", (ROUNDS * READ_BURST).to_string()),
                ("timers", (ROUNDS * TIMER_BURST).to_string()),
                ("bytes_sent", sent.to_string()),
                ("bytes_received", received.to_string()),
                ("cq_overflow_turns", w.ring.cq_overflow_total.to_string()),
                ("cqes", w.ring.cqes_reaped_total.to_string()),
                ("enters", w.ring.enter_calls_total.to_string()),
                ("sq_full", w.ring.sq_full_total.to_string()),
                ("lost", "0".into()),
                ("ms", ms(took)),
            ],
        );
    }
}
