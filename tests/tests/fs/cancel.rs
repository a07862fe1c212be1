//! Futures dropped before their completion: buffers parked, cancels sent,
//! commands and file slots given back, and a clean, prompt shutdown.

use ringline_tests::backend_test;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use bytes::BytesMut;
use ringline::fs::{self, FsConfig, OpenFlags};

use crate::util::{Context, TempDir, config, run};

/// Long enough that a shutdown which had to wait it out is unmistakable.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A clean shutdown takes milliseconds; this leaves room for a slow CI.
const PROMPT_SHUTDOWN: Duration = Duration::from_secs(5);

backend_test! {
    fn dropped_fifo_read_is_parked_then_cancelled_and_shutdown_is_prompt(backend) {
        let dir = TempDir::new("fifo-drop");
        let fifo = dir.join("fifo");
        crate::util::mkfifo(&fifo);
        let file = dir.join("f");
        std::fs::write(&file, b"still correct").expect("seed");
        let mut c = config(backend);
        c.shutdown_drain_timeout = DRAIN_TIMEOUT;
        let took = run(c, move || async move {
            // Read-write on a FIFO opens without blocking; we are its only
            // writer and never write, so reads wait forever.
            let p = fs::open(&fifo, OpenFlags::READ_WRITE, 0)
                .ctx("open fifo")?
                .await
                .ctx("open fifo")?;
            let read = fs::read_into(p, 0, BytesMut::with_capacity(64 * 1024)).ctx("read_into")?;
            ensure!(
                ringline::timeout(Duration::from_millis(50), read)
                    .await
                    .is_err(),
                "a FIFO read with no data completed"
            );
            // The dropped read's buffer is parked; other files read fine.
            let f = fs::open(&file, OpenFlags::READ, 0)
                .ctx("open")?
                .await
                .ctx("open")?;
            for _ in 0..3 {
                let (n, buf) = fs::read_into(f, 0, BytesMut::with_capacity(32))
                    .ctx("read")?
                    .await;
                ensure!(
                    n.ctx("read")? == 13 && &buf[..] == b"still correct",
                    "{buf:?}"
                );
            }
            fs::close(f).ctx("close")?;
            // A task blocked on the FIFO when shutdown starts: dropped with
            // its read in flight, which shutdown must cancel and reap.
            let blocked = fs::read_into(p, 0, BytesMut::with_capacity(16)).ctx("read_into")?;
            ringline::spawn(async move {
                let _ = blocked.await;
            })
            .ctx("spawn")?;
            fs::close(p).ctx("close fifo")?;
            Ok(())
        });
        assert!(
            took < PROMPT_SHUTDOWN,
            "shutdown took {took:?}: parked FIFO reads were not cancelled and reaped"
        );
    }
}

backend_test! {
    fn ten_thousand_dropped_reads_give_every_command_back(backend) {
        let dir = TempDir::new("many-drops");
        let path = dir.join("f");
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).expect("seed");
        let mut c = config(backend);
        c.shutdown_drain_timeout = DRAIN_TIMEOUT;
        let commands = 64u16;
        c.fs = Some(FsConfig {
            max_files: 4,
            max_commands_in_flight: commands,
        });
        let took = run(c, move || async move {
            let f = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open")?
                .await
                .ctx("open")?;
            let (mut dropped, mut waits) = (0, 0);
            while dropped < 10_000 {
                match fs::read_into(f, (dropped % 4096) as u64, BytesMut::with_capacity(512)) {
                    Ok(read) => {
                        drop(read);
                        dropped += 1;
                    }
                    // Every command is held by a dropped read the kernel has
                    // not finished: let the loop turn and reap.
                    Err(e) if e.kind() == std::io::ErrorKind::Other => {
                        waits += 1;
                        ringline::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => return Err(format!("read_into: {e}")),
                }
            }
            ensure!(waits > 0, "expected to hit the command limit at least once");
            // Once the graveyard drains, every command is free again: all of
            // them can be in flight at once, and they read the right bytes.
            ringline::sleep(Duration::from_millis(50)).await;
            let mut reads = Vec::new();
            for i in 0..commands as u64 {
                let read = fs::read_into(f, i * 8, BytesMut::with_capacity(8))
                    .ctx("read_into after the drops")?;
                reads.push(read);
            }
            for (i, read) in reads.into_iter().enumerate() {
                let (n, buf) = read.await;
                ensure!(n.ctx("read")? == 8, "short read {i}");
                ensure!(buf[..] == data[i * 8..i * 8 + 8], "wrong bytes at {i}");
            }
            fs::close(f).ctx("close")
        });
        assert!(took < PROMPT_SHUTDOWN, "shutdown took {took:?}");
    }
}

backend_test! {
    fn dropped_opens_give_their_file_slots_back(backend) {
        let dir = TempDir::new("dropped-opens");
        let path = dir.join("f");
        std::fs::write(&path, b"x").expect("seed");
        let mut c = config(backend);
        c.fs = Some(FsConfig {
            max_files: 2,
            max_commands_in_flight: 16,
        });
        run(c, move || async move {
            let mut dropped = 0;
            let mut waits = 0;
            while dropped < 200 {
                match fs::open(&path, OpenFlags::READ, 0) {
                    Ok(open) => {
                        drop(open);
                        dropped += 1;
                    }
                    Err(_) => {
                        waits += 1;
                        ensure!(waits < 10_000, "slots never came back");
                        ringline::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            ringline::sleep(Duration::from_millis(20)).await;
            let a = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open a")?
                .await
                .ctx("open a")?;
            let b = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open b")?
                .await
                .ctx("open b")?;
            fs::close(a).ctx("close a")?;
            fs::close(b).ctx("close b")
        });
    }
}

backend_test! {
    fn close_with_a_read_in_flight_keeps_the_descriptor_until_it_completes(backend) {
        let dir = TempDir::new("close-in-flight");
        let fifo = dir.join("fifo");
        crate::util::mkfifo(&fifo);
        let other = dir.join("other");
        std::fs::write(&other, b"OTHER FILE").expect("seed");
        run(config(backend), move || async move {
            let p = fs::open(&fifo, OpenFlags::READ_WRITE, 0)
                .ctx("open fifo")?
                .await
                .ctx("open fifo")?;
            // Closed before the loop even submits the read: the kernel looks
            // the descriptor up only at submission, so closing it now would
            // fail the read with EBADF (or, had the number been reused, read
            // another file).
            let read = fs::read_into(p, 0, BytesMut::with_capacity(64)).ctx("read_into")?;
            fs::close(p).ctx("close with a read in flight")?;
            ensure!(
                fs::fsync(p).is_err(),
                "the handle must be stale right after close"
            );
            // Were the descriptor closed now, this open would get its number
            // and the pending read would see this file.
            let o = fs::open(&other, OpenFlags::READ, 0)
                .ctx("open other")?
                .await
                .ctx("open other")?;
            let mut writer = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .ctx("open fifo for writing")?;
            writer.write_all(b"from the fifo").ctx("write fifo")?;
            let (n, buf) = ringline::timeout(Duration::from_secs(5), read)
                .await
                .map_err(|_| "the in-flight read never completed".to_string())?;
            ensure!(n.ctx("read")? == 13, "read count");
            ensure!(&buf[..] == b"from the fifo", "read {buf:?}");
            let (n, buf) = fs::read_into(o, 0, BytesMut::with_capacity(64))
                .ctx("read other")?
                .await;
            ensure!(
                n.ctx("read other")? == 10 && &buf[..] == b"OTHER FILE",
                "{buf:?}"
            );
            fs::close(o).ctx("close other")
        });
    }
}
