//! The disk I/O pool of the mio backend: readiness cannot watch files, so
//! file ops run as plain blocking syscalls on `Config::disk_io_threads`
//! threads shared by the runtime's workers. Each finished op is posted to
//! its worker's completion queue and the worker's `Poll` is woken.
//!
//! Only ops that finish on their own run here (a disk is slow, not
//! absent): opens never wait for a FIFO's peer (`open_without_waiting`),
//! and reads and writes of FIFOs, sockets and character devices (a
//! terminal) stay on readiness, where they wait cancellably. A job here
//! cannot be cancelled, and one that waited forever would stall every
//! file op of every worker queued behind it.
//!
//! The graveyard rule holds as with the kernel: a job's buffers and paths
//! live in the worker's op slot, which is freed only after the job's
//! completion is reaped, even when the future waiting on it was dropped.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::driver::Cqe;
use crate::driver::sqe::Sqe;
use crate::op::UserData;
use crate::sys;
use crate::thread_pool::{AtShutdown, Job, ThreadPool};

/// A worker's end of the pool: finished ops, and the waker of its `Poll`.
pub(crate) struct Completions {
    done: Mutex<Vec<Cqe>>,
    /// Set with `done` non-empty, so the worker checks without locking.
    ready: AtomicBool,
    waker: mio::Waker,
}

impl Completions {
    pub(crate) fn new(waker: mio::Waker) -> Completions {
        Completions {
            done: Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
            waker,
        }
    }

    fn post(&self, cqe: Cqe) {
        lock(&self.done).push(cqe);
        self.ready.store(true, Ordering::Release);
        // A failed wake leaves the completion queued; the worker's next
        // wait (bounded by its tick or timers) still finds it.
        let _ = self.waker.wake();
    }

    /// Moves every posted completion to `out`.
    pub(crate) fn take(&self, out: &mut Vec<Cqe>) {
        if self.ready.swap(false, Ordering::Acquire) {
            out.append(&mut lock(&self.done));
        }
    }
}

/// One file op handed to a pool thread.
struct DiskJob {
    ud: UserData,
    sqe: Sqe,
    to: Arc<Completions>,
}

// SAFETY: a job's raw pointers name memory in its op slot's hold on the
// submitting worker, which keeps it alive and untouched until the job's
// completion is reaped there (a dropped future parks the slot in the
// graveyard); only the one pool thread running the job uses them.
unsafe impl Send for DiskJob {}

impl Job for DiskJob {
    fn run(self, release: &dyn Fn()) {
        // SAFETY: `DiskPool::submit`'s contract: the memory `sqe` points
        // to stays valid and untouched by anyone else until the
        // completion posted below is reaped, and no other thread has this
        // job.
        let result = unsafe { run_disk_op(self.sqe) };
        release();
        self.to.post(Cqe {
            user_data: self.ud.raw(),
            result,
            flags: 0,
        });
    }
}

/// See the module docs: a [`ThreadPool`] of its own, so that no
/// `spawn_blocking` closure or name lookup can take the threads file ops
/// need.
///
/// Shut down when its last holder lets go of it: the runtime and every
/// worker's driver hold it, and a driver leaked with ops in flight keeps
/// it (and so its threads) forever, as it keeps the ops' memory. Jobs
/// still queued then are run first ([`AtShutdown::RunQueued`]); a thread
/// in a job that never finishes (a file stuck in the kernel) is not
/// joined, so it cannot hang the process's exit.
pub(crate) struct DiskPool {
    pool: ThreadPool<DiskJob>,
}

impl DiskPool {
    /// Starts `threads` threads (at least one).
    pub(crate) fn new(threads: usize) -> io::Result<Arc<DiskPool>> {
        // Unbounded: every queued op holds one of its worker's op slots,
        // which bound it already; a refusal here would have to fail a file
        // op the fs API has no error for.
        let pool = ThreadPool::start(
            "ringline-disk",
            threads.max(1),
            usize::MAX,
            AtShutdown::RunQueued,
        )?;
        Ok(Arc::new(DiskPool { pool }))
    }

    /// Queues `sqe` (a disk op); its completion goes to `to`.
    ///
    /// # Safety
    ///
    /// Everything `sqe` points to stays valid, and is not otherwise
    /// accessed, until its completion has been taken from `to`.
    pub(crate) unsafe fn submit(&self, ud: UserData, sqe: Sqe, to: &Arc<Completions>) {
        let job = DiskJob {
            ud,
            sqe,
            to: to.clone(),
        };
        if let Err(refused) = self.pool.submit(job) {
            // Not reached: the queue is unbounded and shutdown begins only
            // once no driver holds the pool. Should it happen, the op runs
            // here, so its completion is still posted and its memory
            // still freed only after it is reaped.
            refused.job.run(&|| {});
        }
    }
}

/// Runs one disk op as a blocking syscall: the result as io_uring reports
/// it (a count or fd, or `-errno`). `EINTR` is retried.
///
/// # Safety
///
/// `sqe`'s pointers are valid for the op (its buffer for `len` bytes, its
/// paths NUL-terminated) and nothing else touches them meanwhile.
pub(crate) unsafe fn run_disk_op(sqe: Sqe) -> i32 {
    loop {
        // SAFETY: the caller's contract: each pointer is valid for the op
        // it was built for (a buffer for `len` bytes, NUL-terminated
        // paths, a whole `StatBuf`), and nothing else touches it meanwhile.
        let res = unsafe {
            match sqe {
                Sqe::Read {
                    fd,
                    buf,
                    len,
                    offset,
                } => sys::read_at(fd, buf, len, offset),
                Sqe::Write {
                    fd,
                    buf,
                    len,
                    offset,
                } => sys::write_at(fd, buf, len, offset),
                Sqe::Fsync { fd } => sys::fsync(fd),
                Sqe::Statx { path, out } => sys::stat(path, out),
                Sqe::OpenAt { path, flags, mode } => open_without_waiting(path, flags, mode),
                Sqe::RenameAt { from, to } => sys::renameat(from, to),
                Sqe::UnlinkAt { path } => sys::unlinkat(path),
                Sqe::MkdirAt { path, mode } => sys::mkdirat(path, mode),
                _ => return -libc::EINVAL,
            }
        };
        if res != -libc::EINTR {
            return res;
        }
    }
}

/// `openat(2)` that never waits for a peer, as io_uring's inline attempt
/// does not: `O_NONBLOCK` for the open, so a FIFO opened read-only without
/// a writer opens at once (and one opened write-only without a reader
/// fails with `ENXIO`), as does a device that would wait for a carrier;
/// then the file's flags as asked. A blocking open of such a file would
/// hold a disk thread, and every file op queued behind it, until a peer
/// came, with no way to cancel it.
///
/// # Safety
///
/// `path` is a valid NUL-terminated string.
unsafe fn open_without_waiting(path: *const libc::c_char, flags: i32, mode: u32) -> i32 {
    // SAFETY: `path` is a valid NUL-terminated string (this fn's contract).
    let fd = unsafe { sys::openat(path, flags | libc::O_NONBLOCK, mode) };
    if fd >= 0 && flags & libc::O_NONBLOCK == 0 {
        // Reads and writes of files readiness can watch set it again;
        // anything else sees the descriptor as opened. Should this fail,
        // the file stays non-blocking, which only a FIFO or device would
        // notice, and those are read and written on readiness anyway.
        let _ = sys::set_nonblocking(fd, false);
    }
    fd
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
