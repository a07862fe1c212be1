//! A dropped fs future: its op is flagged in the registry, its buffer sits
//! in the graveyard, and both leave once the cancelled op's CQE arrives.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use ringline::fs::{self, OpenFlags};
use ringline::stats::OpTarget;
use ringline_tests::{Scenario, backend_test, ensure, run_scenario_stats, test_config};

use crate::util::{fifo, fs_config, next_turn, this_runtime, worker0};

backend_test! {
    fn dropped_read_passes_through_the_graveyard(backend) {
        static FIFO: Mutex<Option<PathBuf>> = Mutex::new(None);
        struct Dropped;
        impl Scenario for Dropped {
            async fn run() -> Result<(), String> {
                let path = FIFO.lock().unwrap().clone().ok_or("no fifo")?;
                // Read-write: opens without a writer, and reads then wait.
                let p = fs::open(&path, OpenFlags::READ_WRITE, 0)
                    .map_err(|e| format!("open: {e}"))?
                    .await
                    .map_err(|e| format!("open: {e}"))?;
                let read = fs::read_into(p, 0, BytesMut::with_capacity(64 * 1024))
                    .map_err(|e| format!("read_into: {e}"))?;
                next_turn().await;
                let rt = this_runtime()?;
                let w = worker0(&rt)?;
                let reads: Vec<_> = w.in_flight.iter().filter(|o| o.op == "fs_read").collect();
                ensure!(reads.len() == 1, "one read in flight: {:?}", w.in_flight);
                ensure!(
                    matches!(reads[0].target, OpTarget::Fd { fd, .. } if fd >= 0)
                        && !reads[0].in_graveyard
                        && !reads[0].cancel_submitted,
                    "{:?}",
                    reads[0]
                );
                ensure!(w.graveyard.depth == 0, "{:?}", w.graveyard);

                drop(read);
                // The registry and the graveyard are updated at once.
                let rt = this_runtime()?;
                let w = worker0(&rt)?;
                let g = &w.graveyard;
                ensure!(
                    g.depth == 1 && g.bytes >= 64 * 1024 && g.parked_total == 1,
                    "parked: {g:?}"
                );
                ensure!(g.oldest_age_ns.is_some(), "{g:?}");
                let read = w.in_flight.iter().find(|o| o.op == "fs_read");
                ensure!(
                    read.is_some_and(|r| r.in_graveyard && r.cancel_submitted),
                    "flagged: {read:?}"
                );

                // The cancel completes the read: the buffer is freed.
                ringline::sleep(Duration::from_millis(20)).await;
                next_turn().await;
                let rt = this_runtime()?;
                let w = worker0(&rt)?;
                let g = &w.graveyard;
                ensure!(
                    g.depth == 0 && g.bytes == 0 && g.reaped_total == 1 && g.oldest_age_ns.is_none(),
                    "reaped: {g:?}"
                );
                ensure!(
                    !w.in_flight.iter().any(|o| o.op == "fs_read"),
                    "{:?}",
                    w.in_flight
                );
                let r = w.op("fs_read").ok_or("fs_read")?;
                ensure!(
                    r.completed_cancelled_total == 1 && r.in_flight == 0,
                    "{r:?}"
                );
                fs::close(p).map_err(|e| format!("close: {e}"))?;
                Ok(())
            }
        }
        let (_dir, path) = fifo("stats-graveyard");
        *FIFO.lock().unwrap() = Some(path);
        let mut config = test_config(backend);
        config.fs = fs_config();
        let Some(rt) = run_scenario_stats::<Dropped>(config) else {
            return;
        };
        let g = &rt.workers[0].graveyard;
        assert_eq!((g.parked_total, g.reaped_total, g.depth), (1, 1, 0));
    }
}
