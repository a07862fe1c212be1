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

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use crate::driver::Cqe;
use crate::driver::sqe::Sqe;
use crate::op::UserData;
use crate::sys;

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
struct Job {
    ud: UserData,
    sqe: Sqe,
    to: Arc<Completions>,
}

// SAFETY: a job's raw pointers name memory in its op slot's hold on the
// submitting worker, which keeps it alive and untouched until the job's
// completion is reaped there (a dropped future parks the slot in the
// graveyard); only the one pool thread running the job uses them.
unsafe impl Send for Job {}

/// See the module docs.
pub(crate) struct DiskPool {
    shared: Arc<Shared>,
}

struct Shared {
    jobs: Mutex<(VecDeque<Job>, bool)>,
    job_ready: Condvar,
}

impl DiskPool {
    /// Starts `threads` threads (at least one).
    pub(crate) fn new(threads: usize) -> io::Result<Arc<DiskPool>> {
        let shared = Arc::new(Shared {
            jobs: Mutex::new((VecDeque::new(), false)),
            job_ready: Condvar::new(),
        });
        for index in 0..threads.max(1) {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("ringline-disk-{index}"))
                .spawn(move || run(&shared))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot start ringline-disk-{index}: {e}"))
                })?;
        }
        Ok(Arc::new(DiskPool { shared }))
    }

    /// Queues `sqe` (a disk op); its completion goes to `to`.
    ///
    /// # Safety
    ///
    /// Everything `sqe` points to stays valid, and is not otherwise
    /// accessed, until its completion has been taken from `to`.
    pub(crate) unsafe fn submit(&self, ud: UserData, sqe: Sqe, to: &Arc<Completions>) {
        let job = Job {
            ud,
            sqe,
            to: to.clone(),
        };
        lock(&self.shared.jobs).0.push_back(job);
        self.shared.job_ready.notify_one();
    }
}

impl Drop for DiskPool {
    fn drop(&mut self) {
        // Threads finish the job in hand, then exit; a job stuck in the
        // kernel (a FIFO nobody writes) must not hang the process's exit,
        // so they are not joined.
        lock(&self.shared.jobs).1 = true;
        self.shared.job_ready.notify_all();
    }
}

fn run(shared: &Shared) {
    loop {
        let job = {
            let mut jobs = lock(&shared.jobs);
            loop {
                if let Some(job) = jobs.0.pop_front() {
                    break job;
                }
                if jobs.1 {
                    return;
                }
                jobs = shared
                    .job_ready
                    .wait(jobs)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // SAFETY: the job's pointers name memory in its op slot's hold,
        // kept alive and untouched on the submitting worker until this
        // completion is reaped there; only this thread uses it meanwhile.
        let result = unsafe { run_disk_op(job.sqe) };
        job.to.post(Cqe {
            user_data: job.ud.raw(),
            result,
            flags: 0,
        });
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
