//! The io_uring calls the `io-uring` crate cannot make for us (Linux
//! only): entering a ring through its *registered* index, and registering
//! that index. The crate's `Submitter` forgets a registered ring fd between
//! calls (`IoUring::submitter()` builds a new one each time), so the
//! backend keeps the index itself and enters with these.
//!
//! A registered ring fd lives in the calling thread's own table (at most
//! 16 per thread), holds a reference to the ring, and is dropped when the
//! thread exits or it is unregistered: a ring must be unregistered by the
//! thread that registered it before the ring is closed, or the ring (and
//! every file in its table) outlives its owner until that thread exits.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// `IORING_ENTER_GETEVENTS`: wait for (and run the task work of)
/// completions.
pub(crate) const ENTER_GETEVENTS: u32 = 1 << 0;
/// `IORING_ENTER_EXT_ARG`: the argument is an `io_uring_getevents_arg`.
const ENTER_EXT_ARG: u32 = 1 << 3;
/// `IORING_ENTER_REGISTERED_RING`: the fd argument is a registered index.
pub(crate) const ENTER_REGISTERED_RING: u32 = 1 << 4;

/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS` (Linux 5.18).
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// The kernel's `struct io_uring_rsrc_update`.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// The kernel's `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// The kernel's `struct io_uring_getevents_arg` (no signal mask).
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `io_uring_enter(ring, to_submit, min_complete, flags[, timeout])`:
/// the number of SQEs the kernel consumed. `ring` is the ring's fd, or
/// its registered index when `flags` has [`ENTER_REGISTERED_RING`]. With
/// `timeout`, waits at most that long (`IORING_ENTER_EXT_ARG`, Linux
/// 5.11), failing with `ETIME` when it passes.
///
/// Safe as the crate's `Submitter::submit` is: it only hands the kernel
/// SQEs already in the ring, whose pushers promised (in an `unsafe` push)
/// that what they point to stays valid until their completions.
pub(crate) fn ring_enter(
    ring: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    timeout: Option<Duration>,
) -> io::Result<u32> {
    let ts;
    let arg;
    let (flags, argp, argsz): (u32, *const libc::c_void, usize) = match timeout {
        None => (flags, std::ptr::null(), 0),
        Some(t) => {
            ts = KernelTimespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(t.subsec_nanos()),
            };
            arg = GeteventsArg {
                sigmask: 0,
                sigmask_sz: 0,
                min_wait_usec: 0,
                ts: (&raw const ts) as u64,
            };
            (
                flags | ENTER_EXT_ARG,
                (&raw const arg).cast(),
                size_of::<GeteventsArg>(),
            )
        }
    };
    // `argp` is null or points at `arg` (which points at `ts`), both alive
    // on this frame for the whole call; the kernel only reads them.
    let n = syscall!(syscall(
        libc::SYS_io_uring_enter,
        libc::c_long::from(ring),
        libc::c_long::from(to_submit),
        libc::c_long::from(min_complete),
        libc::c_long::from(flags),
        argp as libc::c_long,
        argsz as libc::c_long,
    ))?;
    Ok(n as u32)
}

/// Registers ring `fd` in the calling thread's registered-ring table
/// (`IORING_REGISTER_RING_FDS`, Linux 5.18): the index to enter it by.
pub(crate) fn register_ring_fd(fd: RawFd) -> io::Result<u32> {
    let mut up = RsrcUpdate {
        // `-1U`: let the kernel pick the index (it writes it back here).
        offset: u32::MAX,
        resv: 0,
        data: fd as u64,
    };
    // `&mut up` is one valid `io_uring_rsrc_update` (the count is 1) that
    // the kernel reads and writes back during the call only.
    syscall!(syscall(
        libc::SYS_io_uring_register,
        libc::c_long::from(fd),
        libc::c_long::from(REGISTER_RING_FDS),
        (&raw mut up) as libc::c_long,
        1 as libc::c_long,
    ))?;
    Ok(up.offset)
}

/// Drops registered ring `index` of the calling thread (registered by
/// [`register_ring_fd`] on ring `fd`, on this thread).
pub(crate) fn unregister_ring_fd(fd: RawFd, index: u32) -> io::Result<()> {
    let mut up = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // As in `register_ring_fd`: one valid struct, read during the call.
    syscall!(syscall(
        libc::SYS_io_uring_register,
        libc::c_long::from(fd),
        libc::c_long::from(UNREGISTER_RING_FDS),
        (&raw mut up) as libc::c_long,
        1 as libc::c_long,
    ))
    .map(drop)
}

/// The soft `RLIMIT_NOFILE`: a registered-file table may not be larger.
pub(crate) fn nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut lim))?;
    Ok(lim.rlim_cur)
}
