//! The process's open-descriptor count is back where it started once each
//! runtime that used `ringline::fs` has shut down: files closed by hand,
//! closed with ops in flight, left open at shutdown, opened by dropped
//! futures, and FIFOs with cancelled reads.
//!
//! One test in its own binary: `/proc/self/fd` counts the whole process,
//! so no other test may open descriptors while it runs.

#[macro_use]
#[path = "fs/util.rs"]
mod util;

use std::time::Duration;

use bytes::BytesMut;
use ringline::config::BackendChoice;
use ringline::fs::{self, FsConfig, OpenFlags};

use util::{Context, TempDir, config, mkfifo, open_fds, run};

#[test]
fn fs_scenarios_leave_no_descriptor_behind() {
    // In turn, not as two tests: the count is the whole process's.
    for backend in [BackendChoice::IoUring, BackendChoice::Mio] {
        scenarios(backend);
    }
}

fn scenarios(backend: BackendChoice) {
    let dir = TempDir::new("fd-leak");
    let file = dir.join("f");
    std::fs::write(&file, vec![1u8; 8192]).expect("seed");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);

    // One runtime first, so anything created once per process is counted
    // in the baseline rather than as a leak.
    run(config(backend), || async { Ok(()) });
    let baseline = open_fds();
    let check = |what: &str| {
        let now = open_fds();
        assert_eq!(
            now, baseline,
            "{backend:?}: {what}: {now} descriptors open, {baseline} before"
        );
    };

    let f = file.clone();
    run(config(backend), move || async move {
        for _ in 0..100 {
            let h = fs::open(&f, OpenFlags::READ, 0)
                .ctx("open")?
                .await
                .ctx("open")?;
            let (n, _) = fs::read_into(h, 0, BytesMut::with_capacity(64))
                .ctx("read")?
                .await;
            n.ctx("read")?;
            fs::close(h).ctx("close")?;
        }
        Ok(())
    });
    check("open, read and close");

    let f = file.clone();
    run(config(backend), move || async move {
        // Left open: the worker's file table closes them at shutdown.
        for _ in 0..10 {
            fs::open(&f, OpenFlags::READ, 0)
                .ctx("open")?
                .await
                .ctx("open")?;
        }
        Ok(())
    });
    check("files left open at shutdown");

    let f = file.clone();
    let mut c = config(backend);
    c.fs = Some(FsConfig {
        max_files: 8,
        max_commands_in_flight: 32,
    });
    run(c, move || async move {
        // Opens dropped before their completion: the kernel opens the
        // file anyway, and the orphan reaper must close it.
        let mut dropped = 0;
        while dropped < 500 {
            match fs::open(&f, OpenFlags::READ, 0) {
                Ok(open) => {
                    drop(open);
                    dropped += 1;
                }
                Err(_) => ringline::sleep(Duration::from_millis(1)).await,
            }
        }
        ringline::sleep(Duration::from_millis(20)).await;
        Ok(())
    });
    check("dropped opens");

    let (f, p) = (file.clone(), fifo.clone());
    run(config(backend), move || async move {
        // Close with reads in flight (deferred close), a cancelled FIFO
        // read, and dropped reads on a regular file.
        let h = fs::open(&p, OpenFlags::READ_WRITE, 0)
            .ctx("open fifo")?
            .await
            .ctx("open fifo")?;
        let pending = fs::read_into(h, 0, BytesMut::with_capacity(64)).ctx("read fifo")?;
        fs::close(h).ctx("close fifo")?;
        let timed_out = ringline::timeout(Duration::from_millis(20), pending).await;
        ensure!(
            timed_out.is_err(),
            "a FIFO read with no writer data completed"
        );
        let g = fs::open(&f, OpenFlags::READ, 0)
            .ctx("open")?
            .await
            .ctx("open")?;
        for i in 0..100 {
            drop(fs::read_into(g, i * 8, BytesMut::with_capacity(8)).ctx("read")?);
        }
        fs::close(g).ctx("close")?;
        // And one left in flight on a FIFO for shutdown to cancel.
        let h = fs::open(&p, OpenFlags::READ_WRITE, 0)
            .ctx("open fifo")?
            .await
            .ctx("open fifo")?;
        let blocked = fs::read_into(h, 0, BytesMut::with_capacity(64)).ctx("read fifo")?;
        ringline::spawn(async move {
            let _ = blocked.await;
        })
        .ctx("spawn")?;
        Ok(())
    });
    check("cancelled and dropped reads");
}
