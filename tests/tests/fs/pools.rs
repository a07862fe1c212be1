//! File I/O has threads of its own: on the mio backend a `spawn_blocking`
//! closure that does not return holds a blocking-pool thread, never one
//! of the disk threads file ops run on (io_uring runs them in the ring).

use ringline_tests::backend_test;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::fs::{self, OpenFlags};

use crate::util::{Context, TempDir, config, run};

/// How long a file op may take before it counts as stalled.
const PROMPT_OP: Duration = Duration::from_secs(3);
/// How long the stuck closure waits for its release at most, so a failing
/// test leaves no thread behind for long.
const STUCK_FOR_AT_MOST: Duration = Duration::from_secs(10);

backend_test! {
    fn stuck_blocking_closures_stall_no_file_op(backend) {
        static RUNNING: AtomicBool = AtomicBool::new(false);
        static RELEASE: AtomicBool = AtomicBool::new(false);
        let dir = TempDir::new("pools-apart");
        let file = dir.join("f");
        std::fs::write(&file, b"regular").expect("seed");
        let mut c = config(backend);
        // One thread in each pool: the closure takes the only blocking one.
        c.blocking_threads = 1;
        c.blocking_queue_capacity = 4;
        c.disk_io_threads = 1;
        run(c, move || async move {
            let stuck = ringline::spawn_blocking(|| {
                RUNNING.store(true, Ordering::SeqCst);
                let started = Instant::now();
                while !RELEASE.load(Ordering::SeqCst) && started.elapsed() < STUCK_FOR_AT_MOST {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .ctx("spawn_blocking")?;
            let started = Instant::now();
            while !RUNNING.load(Ordering::SeqCst) {
                ensure!(started.elapsed() < PROMPT_OP, "the closure never started");
                ringline::sleep(Duration::from_millis(1)).await;
            }
            let ops = async {
                let f = fs::open(&file, OpenFlags::READ, 0).ctx("open")?.await.ctx("open")?;
                let read = fs::read_into(f, 0, BytesMut::with_capacity(16)).ctx("read_into")?;
                let (n, buf) = read.await;
                fs::close(f).ctx("close")?;
                ensure!(n.ctx("read")? == 7 && &buf[..] == b"regular", "read {buf:?}");
                Ok(())
            };
            let done = ringline::timeout(PROMPT_OP, ops).await;
            RELEASE.store(true, Ordering::SeqCst);
            stuck.await;
            done.map_err(|_| {
                format!("file ops took over {PROMPT_OP:?} while a closure held the blocking pool")
            })?
        });
    }
}
