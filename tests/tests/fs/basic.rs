//! The happy paths: open/create, write, fsync, read (raw and owned
//! buffers), stat, rename, remove, mkdir.

use ringline_tests::backend_test;
use std::io;

use bytes::{BufMut, BytesMut};
use ringline::fs::{self, OpenFlags};

use crate::util::{Context, TempDir, config, expect_err, run};

backend_test! {
    fn create_write_fsync_then_read_back(backend) {
        let dir = TempDir::new("round-trip");
        let path = dir.join("data.bin");
        run(config(backend), move || async move {
            let f = fs::create(&path).ctx("create")?.await.ctx("create await")?;
            let mut out = BytesMut::new();
            out.put_slice(b"hello, ringline");
            let (n, out) = fs::write_from(f, 0, out).ctx("write_from")?.await;
            ensure!(n.ctx("write")? == 15, "short write");
            ensure!(
                &out[..] == b"hello, ringline",
                "write_from changed the buffer"
            );
            // Overwrite in the middle through the raw-pointer call.
            let patch = *b"RING";
            // SAFETY: `patch` lives on this task's stack until the future
            // resolves below; it is not dropped early.
            let n = unsafe { fs::write(f, 7, patch.as_ptr(), 4) }
                .ctx("write")?
                .await
                .ctx("write await")?;
            ensure!(n == 4, "raw write wrote {n}");
            ensure!(
                fs::fsync(f).ctx("fsync")?.await.ctx("fsync await")? == 0,
                "fsync"
            );
            fs::close(f).ctx("close")?;

            let f = fs::open(&path, OpenFlags::READ, 0)
                .ctx("open")?
                .await
                .ctx("open await")?;
            let (n, buf) = fs::read_into(f, 0, BytesMut::with_capacity(64))
                .ctx("read_into")?
                .await;
            ensure!(n.ctx("read_into await")? == 15, "read count");
            ensure!(&buf[..] == b"hello, RINGline", "read back {:?}", &buf[..]);

            let mut raw = [0u8; 32];
            // SAFETY: `raw` outlives the awaited future.
            let n = unsafe { fs::read(f, 7, raw.as_mut_ptr(), 32) }
                .ctx("read")?
                .await
                .ctx("read await")?;
            ensure!(n == 8, "short read returned as-is: {n}");
            ensure!(&raw[..8] == b"RINGline", "raw read {:?}", &raw[..8]);
            // SAFETY: as above.
            let eof = unsafe { fs::read(f, 100, raw.as_mut_ptr(), 32) }
                .ctx("read at eof")?
                .await
                .ctx("read at eof await")?;
            ensure!(eof == 0, "read past the end gave {eof}");
            fs::close(f).ctx("close")?;
            Ok(())
        });
        assert_eq!(
            std::fs::read(dir.join("data.bin")).expect("std read"),
            b"hello, RINGline"
        );
    }
}

backend_test! {
    fn append_flag_writes_at_the_end(backend) {
        let dir = TempDir::new("append");
        let path = dir.join("log");
        std::fs::write(&path, b"one;").expect("seed file");
        run(config(backend), move || async move {
            let f = fs::open(&path, OpenFlags::WRITE | OpenFlags::APPEND, 0)
                .ctx("open")?
                .await
                .ctx("open await")?;
            let (n, _) = fs::write_from(f, 0, BytesMut::from(&b"two;"[..]))
                .ctx("write_from")?
                .await;
            ensure!(n.ctx("append")? == 4, "append count");
            fs::close(f).ctx("close")?;
            Ok(())
        });
        assert_eq!(std::fs::read(dir.join("log")).expect("read"), b"one;two;");
    }
}

backend_test! {
    fn stat_reports_files_and_directories(backend) {
        let dir = TempDir::new("stat");
        let file = dir.join("f");
        std::fs::write(&file, vec![7u8; 1234]).expect("seed file");
        let root = dir.path().to_path_buf();
        run(config(backend), move || async move {
            let m = fs::stat(&file).ctx("stat")?.await.ctx("stat file")?;
            ensure!(m.size == 1234, "size {}", m.size);
            ensure!(m.is_file && !m.is_dir && !m.is_symlink, "kind {m:?}");
            ensure!(m.mode & 0o170000 == 0o100000, "mode {:o}", m.mode);
            // SAFETY: plain getters.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            ensure!(m.uid == uid && m.gid == gid, "owner {}:{}", m.uid, m.gid);
            ensure!(m.mtime.as_secs() > 1_600_000_000, "mtime {:?}", m.mtime);

            let d = fs::stat(&root).ctx("stat dir")?.await.ctx("stat dir")?;
            ensure!(d.is_dir && !d.is_file, "dir kind {d:?}");

            expect_err(
                fs::stat(root.join("missing")).ctx("stat")?.await,
                io::ErrorKind::NotFound,
                "",
                "stat of a missing file",
            )
        });
    }
}

backend_test! {
    fn rename_moves_and_remove_unlinks(backend) {
        let dir = TempDir::new("rename");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"x").expect("seed file");
        run(config(backend), move || async move {
            let r = fs::rename(&a, &b).ctx("rename")?.await.ctx("rename")?;
            ensure!(r == 0, "rename gave {r}");
            expect_err(
                fs::stat(&a).ctx("stat")?.await,
                io::ErrorKind::NotFound,
                "",
                "old name after rename",
            )?;
            ensure!(
                fs::stat(&b).ctx("stat")?.await.ctx("stat new")?.size == 1,
                "moved size"
            );
            expect_err(
                fs::rename(&a, &b).ctx("rename")?.await,
                io::ErrorKind::NotFound,
                "",
                "rename of a missing file",
            )?;

            fs::remove(&b).ctx("remove")?.await.ctx("remove")?;
            expect_err(
                fs::stat(&b).ctx("stat")?.await,
                io::ErrorKind::NotFound,
                "",
                "removed file",
            )?;
            expect_err(
                fs::remove(&b).ctx("remove")?.await,
                io::ErrorKind::NotFound,
                "",
                "second remove",
            )
        });
    }
}

backend_test! {
    fn mkdir_creates_and_refuses_an_existing_directory(backend) {
        let dir = TempDir::new("mkdir");
        let sub = dir.join("sub");
        run(config(backend), move || async move {
            fs::mkdir(&sub, 0o755).ctx("mkdir")?.await.ctx("mkdir")?;
            let m = fs::stat(&sub).ctx("stat")?.await.ctx("stat")?;
            ensure!(m.is_dir, "not a dir: {m:?}");
            expect_err(
                fs::mkdir(&sub, 0o755).ctx("mkdir")?.await,
                io::ErrorKind::AlreadyExists,
                "",
                "mkdir of an existing dir",
            )?;
            expect_err(
                fs::remove(&sub).ctx("remove")?.await,
                io::ErrorKind::IsADirectory,
                "",
                "remove of a directory",
            )
        });
    }
}

backend_test! {
    fn owned_buffers_use_spare_capacity_only(backend) {
        let dir = TempDir::new("owned");
        let path = dir.join("digits");
        std::fs::write(&path, b"0123456789abcdefghij").expect("seed file");
        run(config(backend), move || async move {
            let f = fs::open(&path, OpenFlags::READ_WRITE, 0)
                .ctx("open")?
                .await
                .ctx("open")?;
            // Existing contents are kept; the kernel fills only what follows.
            let mut buf = BytesMut::with_capacity(8);
            buf.put_slice(b"ab");
            let spare = buf.capacity() - buf.len();
            let (n, buf) = fs::read_into(f, 0, buf).ctx("read_into")?.await;
            let n = n.ctx("read_into")?;
            ensure!(n == spare.min(20), "read {n} into {spare} spare bytes");
            ensure!(buf.len() == 2 + n, "len {}", buf.len());
            ensure!(&buf[..2] == b"ab", "prefix clobbered: {:?}", &buf[..]);
            ensure!(buf[2..] == b"0123456789abcdefghij"[..n], "{:?}", &buf[..]);

            // No spare capacity: refused before any I/O.
            expect_err(
                fs::read_into(f, 0, BytesMut::new()),
                io::ErrorKind::InvalidInput,
                "spare capacity",
                "read_into an empty BytesMut",
            )?;
            let mut full = BytesMut::with_capacity(16);
            full.resize(full.capacity(), 0);
            expect_err(
                fs::read_into(f, 0, full),
                io::ErrorKind::InvalidInput,
                "spare capacity",
                "read_into a full BytesMut",
            )?;

            // A read at the end of the file returns the buffer unchanged.
            let mut buf = buf;
            buf.reserve(16);
            let len = buf.len();
            let (n, buf) = fs::read_into(f, 20, buf).ctx("read_into eof")?.await;
            ensure!(n.ctx("eof")? == 0 && buf.len() == len, "eof read");
            fs::close(f).ctx("close")?;
            Ok(())
        });
    }
}

backend_test! {
    fn non_utf8_file_names_work(backend) {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = TempDir::new("non-utf8");
        let name = OsStr::from_bytes(b"caf\xe9-\xff\xfe.bin");
        assert!(name.to_str().is_none(), "the name must not be UTF-8");
        let path = dir.join(name);
        let renamed = dir.join(OsStr::from_bytes(b"\xc0\xc1-renamed"));
        let (p, r) = (path.clone(), renamed.clone());
        run(config(backend), move || async move {
            let f = fs::create(&p).ctx("create")?.await.ctx("create")?;
            let (n, _) = fs::write_from(f, 0, BytesMut::from(&b"bytes"[..]))
                .ctx("write_from")?
                .await;
            ensure!(n.ctx("write")? == 5, "write count");
            fs::close(f).ctx("close")?;
            ensure!(
                fs::stat(&p).ctx("stat")?.await.ctx("stat")?.size == 5,
                "size"
            );
            fs::rename(&p, &r).ctx("rename")?.await.ctx("rename")?;
            Ok(())
        });
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![renamed.file_name().expect("has a name").to_owned()]
        );
        assert_eq!(std::fs::read(&renamed).expect("std read"), b"bytes");
    }
}

backend_test! {
    fn direct_reads_bypass_the_cache_with_aligned_buffers(backend) {
        /// 4 KiB, 4 KiB-aligned: what O_DIRECT asks of buffers on any device.
        #[repr(C, align(4096))]
        struct Block([u8; 4096]);

        let dir = TempDir::new("direct");
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).expect("seed");
        let skipped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let skip = skipped.clone();
        run(config(backend), move || async move {
            let f = match fs::open(&path, OpenFlags::READ | OpenFlags::DIRECT, 0)
                .ctx("open")?
                .await
            {
                Ok(f) => f,
                // tmpfs and some other filesystems refuse O_DIRECT.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    skip.store(true, std::sync::atomic::Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => return Err(format!("open O_DIRECT: {e}")),
            };
            let mut block = Box::new(Block([0; 4096]));
            // SAFETY: `block` is heap memory owned by this task until the
            // future below resolves; it is 4 KiB long and 4 KiB-aligned.
            let n = unsafe { fs::read(f, 4096, block.0.as_mut_ptr(), 4096) }
                .ctx("read")?
                .await
                .ctx("read await")?;
            ensure!(n == 4096, "short direct read: {n}");
            ensure!(
                block.0[..] == data[4096..],
                "direct read returned other bytes"
            );
            // A file offset off the block size is refused: proof the page cache
            // is bypassed (buffered reads take any offset). Some devices accept
            // misaligned memory, so the offset is what is checked.
            // SAFETY: as above; 512 bytes fit in the block.
            let r = unsafe { fs::read(f, 1, block.0.as_mut_ptr(), 512) }
                .ctx("misaligned read")?
                .await;
            ensure!(
                r.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EINVAL),
                "an O_DIRECT read at offset 1 must fail with EINVAL, got {r:?}"
            );
            fs::close(f).ctx("close")
        });
        if skipped.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("SKIPPED: the temp dir's filesystem refuses O_DIRECT");
        }
    }
}

#[test]
fn mio_without_disk_threads_runs_file_ops_on_the_worker() {
    // `disk_io_threads = 0`: the mio backend has no pool and runs each
    // file op on the worker itself; results and accounting are the same.
    let dir = TempDir::new("inline");
    let path = dir.join("f");
    let mut c = config(ringline::config::BackendChoice::Mio);
    c.disk_io_threads = 0;
    run(c, move || async move {
        ensure!(
            ringline::backend() == ringline::Backend::Mio,
            "running on {}",
            ringline::backend()
        );
        let f = fs::open(&path, OpenFlags::READ_WRITE | OpenFlags::CREATE, 0o600)
            .ctx("open")?
            .await
            .ctx("open")?;
        let (n, _) = fs::write_from(f, 0, BytesMut::from(&b"inline"[..]))
            .ctx("write_from")?
            .await;
        ensure!(n.ctx("write")? == 6, "short write");
        let (n, buf) = fs::read_into(f, 0, BytesMut::with_capacity(16))
            .ctx("read_into")?
            .await;
        ensure!(n.ctx("read")? == 6 && &buf[..] == b"inline", "read {buf:?}");
        let m = fs::stat(&path).ctx("stat")?.await.ctx("stat")?;
        ensure!(m.size == 6, "size {}", m.size);
        fs::close(f).ctx("close")?;
        Ok(())
    });
}
