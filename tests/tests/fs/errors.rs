//! Errors, not panics: stale and foreign handles, exhausted limits, bad
//! paths, permissions, a disabled fs layer, calls off a worker.

use ringline_tests::backend_test;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use ringline::config::BackendChoice;
use ringline::fs::{self, File, FsConfig, OpenFlags};

use crate::util::{Context, TempDir, config, expect_err, mkfifo, run, run_each};

fn limits(backend: BackendChoice, max_files: u16, max_commands_in_flight: u16) -> ringline::Config {
    let mut c = config(backend);
    c.fs = Some(FsConfig {
        max_files,
        max_commands_in_flight,
    });
    c
}

backend_test! {
    fn closed_handle_is_stale_and_never_reaches_the_next_file(backend) {
        let dir = TempDir::new("stale");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"AAAA").expect("seed a");
        std::fs::write(&b, b"BBBB").expect("seed b");
        run(limits(backend, 1, 8), move || async move {
            let fa = fs::open(&a, OpenFlags::READ, 0)
                .ctx("open a")?
                .await
                .ctx("open a")?;
            fs::close(fa).ctx("close a")?;
            let stale = |r: io::Result<()>, what: &str| {
                expect_err(r, io::ErrorKind::InvalidInput, "stale fs::File", what)
            };
            stale(fs::close(fa), "second close")?;
            stale(fs::fsync(fa).map(drop), "fsync after close")?;
            stale(
                fs::read_into(fa, 0, BytesMut::with_capacity(8)).map(drop),
                "read_into after close",
            )?;
            // The only slot is reused by the next open; the old handle must
            // still be refused rather than read file b.
            let fb = fs::open(&b, OpenFlags::READ, 0)
                .ctx("open b")?
                .await
                .ctx("open b")?;
            ensure!(fb.index() == fa.index(), "one slot, reused");
            ensure!(fb != fa, "a reused slot gets a new generation");
            stale(
                fs::read_into(fa, 0, BytesMut::with_capacity(8)).map(drop),
                "old handle after slot reuse",
            )?;
            let (n, buf) = fs::read_into(fb, 0, BytesMut::with_capacity(8))
                .ctx("read b")?
                .await;
            ensure!(n.ctx("read b")? == 4 && &buf[..] == b"BBBB", "b reads b");
            fs::close(fb).ctx("close b")
        });
    }
}

backend_test! {
    fn file_table_exhaustion_is_an_error_until_a_file_is_closed(backend) {
        let dir = TempDir::new("max-files");
        let path = dir.join("f");
        std::fs::write(&path, b"x").expect("seed");
        run(limits(backend, 2, 8), move || async move {
            let f1 = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open 1")?
                .await
                .ctx("open 1")?;
            let f2 = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open 2")?
                .await
                .ctx("open 2")?;
            let full = fs::open(&path, OpenFlags::READ, 0).map(drop);
            expect_err(
                full,
                io::ErrorKind::Other,
                "FsConfig::max_files",
                "third open",
            )?;
            fs::close(f1).ctx("close 1")?;
            let f3 = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open 3")?
                .await
                .ctx("open 3")?;
            // A failed open gives its reserved slot back.
            expect_err(
                fs::open(path.with_extension("missing"), OpenFlags::READ, 0).map(drop),
                io::ErrorKind::Other,
                "FsConfig::max_files",
                "open with a full table",
            )?;
            fs::close(f2).ctx("close 2")?;
            expect_err(
                fs::open(path.with_extension("missing"), OpenFlags::READ, 0)
                    .ctx("open missing")?
                    .await,
                io::ErrorKind::NotFound,
                "",
                "open of a missing file",
            )?;
            let f4 = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open 4")?
                .await
                .ctx("open 4")?;
            fs::close(f3).ctx("close 3")?;
            fs::close(f4).ctx("close 4")
        });
    }
}

backend_test! {
    fn command_exhaustion_is_an_error_until_an_op_finishes(backend) {
        let dir = TempDir::new("max-commands");
        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let file = dir.join("f");
        std::fs::write(&file, b"x").expect("seed");
        run(limits(backend, 4, 3), move || async move {
            // Read-write on a FIFO opens without blocking and makes reads wait
            // (we are the only writer and never write).
            let p = fs::open(&fifo, OpenFlags::READ_WRITE, 0)
                .ctx("open fifo")?
                .await
                .ctx("open fifo")?;
            let r1 = fs::read_into(p, 0, BytesMut::with_capacity(8)).ctx("read 1")?;
            let r2 = fs::read_into(p, 0, BytesMut::with_capacity(8)).ctx("read 2")?;
            let r3 = fs::read_into(p, 0, BytesMut::with_capacity(8)).ctx("read 3")?;
            let needle = "FsConfig::max_commands_in_flight";
            expect_err(
                fs::stat(&file).map(drop),
                io::ErrorKind::Other,
                needle,
                "stat",
            )?;
            expect_err(
                fs::fsync(p).map(drop),
                io::ErrorKind::Other,
                needle,
                "fsync",
            )?;
            expect_err(
                fs::open(&file, OpenFlags::READ, 0).map(drop),
                io::ErrorKind::Other,
                needle,
                "open",
            )?;
            // A dropped op keeps its command until the kernel is done with it.
            drop(r1);
            let mut freed = false;
            for _ in 0..200 {
                ringline::sleep(Duration::from_millis(5)).await;
                if let Ok(s) = fs::stat(&file) {
                    ensure!(s.await.ctx("stat")?.size == 1, "stat after recovery");
                    freed = true;
                    break;
                }
            }
            ensure!(freed, "the cancelled read never gave its command back");
            drop((r2, r3));
            fs::close(p).ctx("close fifo")
        });
    }
}

backend_test! {
    fn bad_paths_fail_with_the_right_kind(backend) {
        let dir = TempDir::new("bad-paths");
        let root = dir.path().to_path_buf();
        run(config(backend), move || async move {
            let nul = root.join("a\0b");
            let kind = io::ErrorKind::InvalidInput;
            let needle = "NUL";
            expect_err(
                fs::open(&nul, OpenFlags::READ, 0).map(drop),
                kind,
                needle,
                "open",
            )?;
            expect_err(fs::create(&nul).map(drop), kind, needle, "create")?;
            expect_err(fs::stat(&nul).map(drop), kind, needle, "stat")?;
            expect_err(fs::mkdir(&nul, 0o755).map(drop), kind, needle, "mkdir")?;
            expect_err(fs::remove(&nul).map(drop), kind, needle, "remove")?;
            expect_err(
                fs::rename(&nul, root.join("x")).map(drop),
                kind,
                needle,
                "rename from",
            )?;
            expect_err(
                fs::rename(root.join("x"), &nul).map(drop),
                kind,
                needle,
                "rename to",
            )?;

            let orphan = root.join("no-such-dir").join("f");
            let not_found = io::ErrorKind::NotFound;
            expect_err(
                fs::create(&orphan).ctx("create")?.await,
                not_found,
                "",
                "create",
            )?;
            expect_err(
                fs::mkdir(&orphan, 0o755).ctx("mkdir")?.await,
                not_found,
                "",
                "mkdir",
            )?;
            expect_err(
                fs::open(root.join("missing"), OpenFlags::READ, 0)
                    .ctx("open")?
                    .await,
                not_found,
                "",
                "open of a missing file",
            )
        });
    }
}

backend_test! {
    fn permission_denied_is_reported(backend) {
        // SAFETY: plain getter.
        let root = unsafe { libc::geteuid() } == 0;
        let dir = TempDir::new("perm");
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).expect("mkdir locked");
        std::fs::write(locked.join("f"), b"x").expect("seed");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        }
        if root {
            println!(
                "skipping the chmod-000 half of permission_denied_is_reported: running as root, \
                 which bypasses file permissions (CAP_DAC_OVERRIDE)"
            );
        }
        // sysfs refuses to open a read-only attribute for writing with EACCES
        // whoever asks, root included.
        let sysfs = std::path::Path::new("/sys/kernel/notes");
        let sysfs_ok = sysfs.exists();
        if !sysfs_ok {
            println!("skipping the sysfs half of permission_denied_is_reported: no {sysfs:?}");
        }
        let inside = locked.clone();
        run(config(backend), move || async move {
            if !root {
                expect_err(
                    fs::open(inside.join("f"), OpenFlags::READ, 0)
                        .ctx("open")?
                        .await,
                    io::ErrorKind::PermissionDenied,
                    "",
                    "open in a chmod-000 dir",
                )?;
                expect_err(
                    fs::stat(inside.join("f")).ctx("stat")?.await,
                    io::ErrorKind::PermissionDenied,
                    "",
                    "stat in a chmod-000 dir",
                )?;
            }
            if sysfs_ok {
                expect_err(
                    fs::open(sysfs, OpenFlags::WRITE, 0).ctx("open")?.await,
                    io::ErrorKind::PermissionDenied,
                    "",
                    "open of a read-only sysfs file for writing",
                )?;
            }
            Ok(())
        });
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    }
}

backend_test! {
    fn disabled_fs_refuses_every_call(backend) {
        let dir = TempDir::new("disabled");
        let path = dir.join("f");
        let mut c = config(backend);
        c.fs = None;
        run(c, move || async move {
            let kind = io::ErrorKind::Unsupported;
            let needle = "filesystem disabled";
            expect_err(fs::create(&path).map(drop), kind, needle, "create")?;
            expect_err(fs::stat(&path).map(drop), kind, needle, "stat")?;
            expect_err(fs::mkdir(&path, 0o755).map(drop), kind, needle, "mkdir")?;
            expect_err(fs::remove(&path).map(drop), kind, needle, "remove")?;
            expect_err(fs::rename(&path, &path).map(drop), kind, needle, "rename")
        });
        assert!(!dir.join("f").exists(), "nothing was created");
    }
}

backend_test! {
    fn handles_are_worker_local(backend) {
        let dir = TempDir::new("worker-local");
        let path = dir.join("f");
        std::fs::write(&path, b"data").expect("seed");
        let mut c = config(backend);
        c.worker.threads = 2;
        // Worker 0 opens and publishes its handle; worker 1 tries it and says
        // when it is done, so worker 0 closes only afterwards.
        let shared: Arc<Mutex<(Option<File>, bool)>> = Arc::new(Mutex::new((None, false)));
        run_each(c, move |worker| {
            let (shared, path) = (shared.clone(), path.clone());
            async move {
                if worker == 0 {
                    let f = fs::open(&path, OpenFlags::READ, 0)
                        .ctx("open")?
                        .await
                        .ctx("open")?;
                    shared.lock().expect("lock").0 = Some(f);
                    while !shared.lock().expect("lock").1 {
                        ringline::sleep(Duration::from_millis(2)).await;
                    }
                    let (n, _) = fs::read_into(f, 0, BytesMut::with_capacity(8))
                        .ctx("read")?
                        .await;
                    ensure!(n.ctx("read on the owner")? == 4, "owner still reads");
                    return fs::close(f).ctx("close on the owner");
                }
                let f = loop {
                    if let Some(f) = shared.lock().expect("lock").0 {
                        break f;
                    }
                    ringline::sleep(Duration::from_millis(2)).await;
                };
                let foreign = |r: io::Result<()>, what: &str| {
                    expect_err(r, io::ErrorKind::InvalidInput, "worker-local", what)
                };
                let r = foreign(
                    fs::read_into(f, 0, BytesMut::with_capacity(8)).map(drop),
                    "read_into on another worker",
                )
                .and_then(|()| foreign(fs::fsync(f).map(drop), "fsync on another worker"))
                .and_then(|()| foreign(fs::close(f), "close on another worker"));
                shared.lock().expect("lock").1 = true;
                r
            }
        });
    }
}

backend_test! {
    fn calls_off_a_worker_thread_fail_instead_of_panicking(backend) {
        let e = fs::stat("/").err().expect("no worker here");
        assert!(e.to_string().contains("outside a ringline worker"), "{e}");
        assert!(fs::create("/nonexistent/x").is_err());
        assert!(fs::close(ended_runtime_handle(backend)).is_err());
    }
}

backend_test! {
    fn handle_from_an_ended_runtime_is_refused(backend) {
        let f = ended_runtime_handle(backend);
        run(config(backend), move || async move {
            expect_err(
                fs::close(f),
                io::ErrorKind::InvalidInput,
                "worker-local",
                "close of a handle from an earlier runtime",
            )
        });
    }
}

/// A real handle, left open, from a runtime that has since shut down.
fn ended_runtime_handle(backend: BackendChoice) -> File {
    let dir = TempDir::new("fake");
    let path = dir.join("f");
    let out = Arc::new(Mutex::new(None));
    let slot = out.clone();
    run(config(backend), move || async move {
        let f = fs::create(&path).ctx("create")?.await.ctx("create")?;
        *slot.lock().expect("lock") = Some(f);
        Ok(())
    });
    out.lock().expect("lock").expect("set")
}
