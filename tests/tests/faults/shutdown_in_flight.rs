//! Shutdown with 10,000 ops that never complete in flight: reads of a FIFO
//! nobody writes, each in its own task with a guard buffer, plus 200
//! outbound connections to a peer that never sends, each with a task
//! waiting for data. Shutdown must cancel and reap all of them well inside
//! the drain timeout (never giving up and leaking), free no buffer before
//! its op's final completion (no late write shows in a guard buffer), and
//! lose nothing.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringline::ParseResult;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats, test_config};

use crate::guard;
use crate::util::{Context, figures, mkfifo, ms, next_turn};

const READS: usize = 10_000;
const CONNS: usize = 200;
/// Far longer than a prompt shutdown needs: a shutdown that only ends by
/// giving up would take this long and fail the bound below.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);
/// What "bounded" means here: cancelling and reaping 10,200 ops.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

backend_test! {
    fn shutdown_cancels_ten_thousand_never_completing_ops(backend) {
        static SETUP: Mutex<Option<(PathBuf, SocketAddr)>> = Mutex::new(None);
        static REQUESTED: Mutex<Option<Instant>> = Mutex::new(None);
        struct Stuck;
        impl Scenario for Stuck {
            async fn run() -> Result<(), String> {
                let (fifo, peer) = SETUP.lock().unwrap().clone().ok_or("no setup")?;
                // Read-write: opens without a writer; reads then wait.
                let p = fs::open(&fifo, OpenFlags::READ_WRITE, 0)
                    .ctx("open fifo")?
                    .await
                    .ctx("open fifo")?;
                for _ in 0..READS {
                    let read = fs::read_into(p, 0, guard::guarded()).ctx("read_into")?;
                    ringline::spawn(async move {
                        let _ = read.await;
                    })
                    .ctx("spawn a reader")?;
                }
                for _ in 0..CONNS {
                    let conn = ringline::connect(peer).ctx("connect")?.await.ctx("connect")?;
                    ringline::spawn(async move {
                        conn.with_data(|d| ParseResult::Consumed(d.len())).await;
                    })
                    .ctx("spawn a receiver")?;
                }
                next_turn().await;
                let rt = ringline::stats::this_runtime().ok_or("no runtime")?;
                let w = rt.workers.first().ok_or("no worker")?;
                let reads = w.op("fs_read").ok_or("no fs_read")?;
                ensure!(reads.in_flight == READS as u64, "reads in flight: {reads:?}");
                ensure!(
                    w.net.connections_active == CONNS as u64,
                    "connections: {:?}",
                    w.net
                );
                // The FIFO's descriptor stays open for the reads in flight.
                fs::close(p).ctx("close fifo")?;
                *REQUESTED.lock().unwrap() = Some(Instant::now());
                Ok(())
            }
        }

        let dir = ringline_tests::TempDir::new("shutdown-in-flight");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the silent peer");
        let peer = listener.local_addr().expect("peer address");
        *SETUP.lock().unwrap() = Some((fifo, peer));
        // Accepts and holds every connection open, never sending.
        let silent = std::thread::spawn(move || {
            (0..CONNS).map(|_| listener.accept().expect("accept").0).collect::<Vec<_>>()
        });

        let mut config = test_config(backend);
        config.shutdown_drain_timeout = DRAIN_TIMEOUT;
        config.max_connections = 512;
        config.standalone_task_capacity = (READS + CONNS + 64) as u32;
        config.fs = Some(FsConfig { max_files: 4, max_commands_in_flight: (READS + 64) as u16 });
        let Some(rt) = run_scenario_stats::<Stuck>(config) else {
            return;
        };
        let took = REQUESTED.lock().unwrap().take().expect("the scenario ran").elapsed();
        let held = silent.join().expect("silent peer");
        drop(held);
        let guarded = guard::drain();
        assert_eq!(guarded.late_writes, 0, "freed buffers written after free: {guarded:?}");
        let w = &rt.workers[0];
        let g = &w.graveyard;
        assert!(
            took < SHUTDOWN_BOUND,
            "shutdown took {took:?} with {READS} reads in flight (drain timeout {DRAIN_TIMEOUT:?})"
        );
        assert_eq!(g.abandoned, 0, "shutdown gave up on ops: {g:?}");
        assert_eq!(g.reaped_total, g.parked_total, "{g:?}");
        let reads = w.op("fs_read").expect("fs_read");
        // io_uring parks each dropped read and cancels it in the kernel.
        if rt.backend == "io_uring" {
            assert!(g.parked_total >= READS as u64, "{g:?}");
            assert!(reads.completed_cancelled_total >= READS as u64, "{reads:?}");
        }
        figures(
            "shutdown_in_flight",
            &[
                ("backend", format!("{backend:?}")),
                ("reads_in_flight", READS.to_string()),
                ("connections", CONNS.to_string()),
                ("shutdown_ms", ms(took)),
                ("parked", g.parked_total.to_string()),
                ("reaped", g.reaped_total.to_string()),
                ("cancelled", reads.completed_cancelled_total.to_string()),
                ("abandoned", g.abandoned.to_string()),
                ("late_writes", guarded.late_writes.to_string()),
                ("lost", "0".into()),
            ],
        );
    }
}
