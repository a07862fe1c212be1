//! Special files: a FIFO nobody writes and a terminal nobody types into.
//! Opening or reading them may wait forever, and on no backend may that
//! stall other file ops (of this worker or another), outlive a dropped
//! future, or hold shutdown up.

use ringline_tests::backend_test;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::fs::{self, FsConfig, OpenFlags};

use crate::util::{Context, TempDir, config, mkfifo, run, run_each};

/// Long enough that a shutdown which had to wait it out is unmistakable.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A clean shutdown takes milliseconds; this leaves room for a slow CI.
const PROMPT_SHUTDOWN: Duration = Duration::from_secs(5);
/// How long a `stat` of a regular file may take before it counts as
/// stalled behind another op.
const PROMPT_OP: Duration = Duration::from_secs(3);

/// Two workers sharing one disk I/O thread (mio's pool; io_uring starts
/// none): one blocked file op there would stall every other.
fn two_workers_one_disk_thread(backend: ringline::config::BackendChoice) -> ringline::Config {
    let mut c = config(backend);
    c.worker.threads = 2;
    c.disk_io_threads = 1;
    c.shutdown_drain_timeout = DRAIN_TIMEOUT;
    c
}

/// Waits (on a worker, polling) until `flag` is set; `Err` after 5 s.
async fn until_set(flag: &AtomicBool, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !flag.load(Ordering::SeqCst) {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        ringline::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// `stat` of `path` must finish within [`PROMPT_OP`].
async fn prompt_stat(path: &Path) -> Result<(), String> {
    let stat = fs::stat(path).ctx("stat")?;
    match ringline::timeout(PROMPT_OP, stat).await {
        Ok(meta) => meta.map(drop).ctx("stat"),
        Err(_) => Err(format!("a stat of a regular file took over {PROMPT_OP:?}")),
    }
}

/// Opens `fifo` for writing, without blocking, when dropped: releases an
/// open that waits for a writer, so a failing test leaves no thread stuck.
struct ReleaseFifo(PathBuf);

impl Drop for ReleaseFifo {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.0);
    }
}

backend_test! {
    fn fifo_open_without_a_writer_stalls_no_other_worker(backend) {
        static OPENING: AtomicBool = AtomicBool::new(false);
        static STATTED: AtomicBool = AtomicBool::new(false);
        let dir = TempDir::new("fifo-open");
        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let _release = ReleaseFifo(fifo.clone());
        let file = dir.join("f");
        std::fs::write(&file, b"regular").expect("seed");
        let took = run_each(two_workers_one_disk_thread(backend), move |worker| {
            let (fifo, file) = (fifo.clone(), file.clone());
            async move {
                if worker == 1 {
                    until_set(&OPENING, "worker 0 opens the FIFO").await?;
                    // Let the open reach whatever runs it.
                    ringline::sleep(Duration::from_millis(50)).await;
                    prompt_stat(&file).await?;
                    STATTED.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                // Read-only, and nobody has it open for writing: a
                // blocking open(2) would wait for a writer.
                let open = fs::open(&fifo, OpenFlags::READ, 0).ctx("open fifo")?;
                OPENING.store(true, Ordering::SeqCst);
                let opened = ringline::timeout(PROMPT_OP, open).await;
                until_set(&STATTED, "worker 1 stats a regular file").await?;
                let p = opened
                    .map_err(|_| format!("opening a FIFO took over {PROMPT_OP:?}"))?
                    .ctx("open fifo")?;
                // A writer arrives; what it writes reaches the reader.
                let mut writer = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&fifo)
                    .ctx("open fifo for writing")?;
                std::io::Write::write_all(&mut writer, b"ping").ctx("write fifo")?;
                let read = fs::read_into(p, 0, BytesMut::with_capacity(16)).ctx("read_into")?;
                let (n, buf) = ringline::timeout(PROMPT_OP, read)
                    .await
                    .map_err(|_| "the FIFO read never completed".to_string())?;
                ensure!(n.ctx("read fifo")? == 4 && &buf[..] == b"ping", "read {buf:?}");
                fs::close(p).ctx("close fifo")
            }
        });
        assert!(took < PROMPT_SHUTDOWN, "shutdown took {took:?}");
    }
}

backend_test! {
    fn dropped_fifo_open_gives_its_file_slot_back(backend) {
        let dir = TempDir::new("fifo-open-drop");
        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let _release = ReleaseFifo(fifo.clone());
        let file = dir.join("f");
        std::fs::write(&file, b"regular").expect("seed");
        let mut c = config(backend);
        c.shutdown_drain_timeout = DRAIN_TIMEOUT;
        c.fs = Some(FsConfig { max_files: 1, max_commands_in_flight: 8 });
        let took = run(c, move || async move {
            let open = fs::open(&fifo, OpenFlags::READ, 0).ctx("open fifo")?;
            // Submitted and started, then dropped (or, if it already
            // finished, closed): either way the one file slot comes back.
            if let Ok(opened) = ringline::timeout(Duration::from_millis(5), open).await {
                fs::close(opened.ctx("open fifo")?).ctx("close fifo")?;
            }
            let deadline = Instant::now() + PROMPT_OP;
            let f = loop {
                match fs::open(&file, OpenFlags::READ, 0) {
                    Ok(open) => break open.await.ctx("open file")?,
                    Err(_) if Instant::now() < deadline => {
                        ringline::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => {
                        return Err(format!("the dropped open kept its file slot: {e}"));
                    }
                }
            };
            fs::close(f).ctx("close file")
        });
        assert!(took < PROMPT_SHUTDOWN, "shutdown took {took:?}");
    }
}

/// A pseudo-terminal: the master end (kept by the test) and the path of
/// its slave, a character device whose reads wait for typed input.
fn pty() -> (OwnedFd, PathBuf) {
    // SAFETY: plain syscalls; the master fd is owned from here on, and
    // `name` is a live buffer of the length passed.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        let rc = libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len());
        assert_eq!(rc, 0, "ptsname_r");
        let path = CStr::from_ptr(name.as_ptr()).to_str().expect("ascii path");
        (master, PathBuf::from(path))
    }
}

backend_test! {
    fn terminal_read_is_cancellable_and_stalls_no_other_worker(backend) {
        static READ_DROPPED: AtomicBool = AtomicBool::new(false);
        static STATTED: AtomicBool = AtomicBool::new(false);
        let (master, slave) = pty();
        let master_fd = master.as_raw_fd();
        let dir = TempDir::new("pty");
        let file = dir.join("f");
        std::fs::write(&file, b"regular").expect("seed");
        let took = run_each(two_workers_one_disk_thread(backend), move |worker| {
            let (slave, file) = (slave.clone(), file.clone());
            async move {
                if worker == 1 {
                    until_set(&READ_DROPPED, "worker 0 reads the terminal").await?;
                    prompt_stat(&file).await?;
                    STATTED.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                let t = fs::open(&slave, OpenFlags::READ_WRITE, 0)
                    .ctx("open pty")?
                    .await
                    .ctx("open pty")?;
                // Nobody types: the read waits, and is dropped waiting.
                let read = fs::read_into(t, 0, BytesMut::with_capacity(64)).ctx("read_into")?;
                let waited = ringline::timeout(Duration::from_millis(100), read).await;
                ensure!(waited.is_err(), "a terminal read with no input completed");
                READ_DROPPED.store(true, Ordering::SeqCst);
                until_set(&STATTED, "worker 1 stats a regular file").await?;
                prompt_stat(&file).await?;
                // The dropped read was cancelled: a line typed now goes to
                // the next read.
                // SAFETY: writes 5 bytes from a live buffer to the master,
                // which the test keeps open until the runtime exits.
                let n = unsafe { libc::write(master_fd, b"ping\n".as_ptr().cast(), 5) };
                ensure!(n == 5, "write to the pty master: {}", std::io::Error::last_os_error());
                let read = fs::read_into(t, 0, BytesMut::with_capacity(64)).ctx("read_into")?;
                let (n, buf) = ringline::timeout(PROMPT_OP, read)
                    .await
                    .map_err(|_| "the typed line never reached a read".to_string())?;
                ensure!(n.ctx("read pty")? == 5 && &buf[..] == b"ping\n", "read {buf:?}");
                // A task waits on the terminal when shutdown begins.
                let blocked = fs::read_into(t, 0, BytesMut::with_capacity(64)).ctx("read_into")?;
                ringline::spawn(async move {
                    let _ = blocked.await;
                })
                .ctx("spawn")?;
                fs::close(t).ctx("close pty")
            }
        });
        drop(master);
        assert!(
            took < PROMPT_SHUTDOWN,
            "shutdown took {took:?}: a pending terminal read was not cancelled"
        );
    }
}
