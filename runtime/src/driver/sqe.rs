//! Operations to start, described once for every backend.
//!
//! The layers above the driver (connections, UDP, files) say *what* to do
//! with an [`Sqe`]; the io_uring backend turns it into a submission queue
//! entry, the mio backend runs it on readiness or on the disk I/O pool.
//! Either way the op's pointers follow io_uring's rule: everything an `Sqe`
//! points to stays valid and unmoved until the op's final completion is
//! reaped (the caller's op slot or connection holds it; the graveyard keeps
//! it when a future is dropped early).

use std::os::fd::RawFd;
use std::time::Duration;

use crate::op::UserData;

/// A relative timeout with the kernel's `__kernel_timespec` layout, so the
/// io_uring backend can hand its address to a linked timeout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timespec {
    pub(crate) tv_sec: i64,
    pub(crate) tv_nsec: i64,
}

impl From<Duration> for Timespec {
    fn from(d: Duration) -> Timespec {
        Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    }
}

impl Timespec {
    /// Back to a `Duration` (negative fields count as zero).
    pub(crate) fn duration(&self) -> Duration {
        Duration::new(
            self.tv_sec.max(0) as u64,
            self.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    }
}

/// One operation and its arguments. Multishot ops (`AcceptMulti`,
/// `RecvMulti`, `RecvMsgMulti`) complete many times, with the "more" flag
/// on every completion but the last.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sqe {
    /// Accept connections on a listener, close-on-exec, until cancelled.
    AcceptMulti { fd: RawFd },
    /// Receive into the worker's stream buffers, one buffer per completion.
    RecvMulti { fd: RawFd },
    /// `send(fd, buf, len, MSG_NOSIGNAL)`.
    Send { fd: RawFd, buf: *const u8, len: u32 },
    /// `connect(fd, addr, len)`.
    Connect {
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    /// `close(fd)`.
    Close { fd: RawFd },
    /// `shutdown(fd, how)`.
    Shutdown { fd: RawFd, how: i32 },
    /// An 8-byte read of the worker's wake fd into `buf` (cross-thread
    /// wakes): an eventfd's counter on Linux, one pipe word elsewhere.
    WakeRead { fd: RawFd, buf: *mut u64 },
    /// `pread(fd, buf, len, offset)`.
    Read {
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
    },
    /// `pwrite(fd, buf, len, offset)`.
    Write {
        fd: RawFd,
        buf: *const u8,
        len: u32,
        offset: u64,
    },
    /// `fsync(fd)`.
    Fsync { fd: RawFd },
    /// `statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, out)` on Linux,
    /// `stat(path, out)` elsewhere ([`sys::stat`](crate::sys::stat)).
    Statx {
        path: *const libc::c_char,
        out: *mut crate::sys::StatBuf,
    },
    /// `openat(AT_FDCWD, path, flags, mode)`; the result is the new fd.
    OpenAt {
        path: *const libc::c_char,
        flags: i32,
        mode: u32,
    },
    /// `renameat(AT_FDCWD, from, AT_FDCWD, to)`.
    RenameAt {
        from: *const libc::c_char,
        to: *const libc::c_char,
    },
    /// `unlinkat(AT_FDCWD, path, 0)`.
    UnlinkAt { path: *const libc::c_char },
    /// `mkdirat(AT_FDCWD, path, mode)`.
    MkdirAt {
        path: *const libc::c_char,
        mode: u32,
    },
    /// Receive datagrams into the worker's UDP buffers, each laid out as
    /// io_uring's `io_uring_recvmsg_out` header, the name, the control
    /// data and the payload, sized by the `msghdr` template.
    RecvMsgMulti {
        fd: RawFd,
        msghdr: *const libc::msghdr,
    },
    /// `sendmsg(fd, msghdr, 0)`.
    SendMsg {
        fd: RawFd,
        msghdr: *const libc::msghdr,
    },
    /// Cancel the op carrying `target`.
    Cancel { target: UserData },
    /// Cancel every op in flight (forced shutdown).
    CancelAll,
}

/// An op that lends the kernel no memory of its submitter's, so starting
/// it is safe ([`Driver::push`](super::Driver::push)): its arguments are
/// descriptors and user data, or buffers the driver itself owns for its
/// whole life (the provided receive buffers).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plain {
    /// As [`Sqe::AcceptMulti`].
    AcceptMulti { fd: RawFd },
    /// As [`Sqe::RecvMulti`].
    RecvMulti { fd: RawFd },
    /// As [`Sqe::Close`].
    Close { fd: RawFd },
    /// As [`Sqe::Shutdown`].
    Shutdown { fd: RawFd, how: i32 },
    /// As [`Sqe::Cancel`].
    Cancel { target: UserData },
    /// As [`Sqe::CancelAll`].
    CancelAll,
}

impl From<Plain> for Sqe {
    fn from(op: Plain) -> Sqe {
        match op {
            Plain::AcceptMulti { fd } => Sqe::AcceptMulti { fd },
            Plain::RecvMulti { fd } => Sqe::RecvMulti { fd },
            Plain::Close { fd } => Sqe::Close { fd },
            Plain::Shutdown { fd, how } => Sqe::Shutdown { fd, how },
            Plain::Cancel { target } => Sqe::Cancel { target },
            Plain::CancelAll => Sqe::CancelAll,
        }
    }
}

/// A timeout linked to an op: the op fails with `-ECANCELED` if still
/// pending after `*ts`, and the timeout completes as `ud` (with `-ETIME`
/// when it fired).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) ud: UserData,
    pub(crate) ts: *const Timespec,
}

impl Sqe {
    /// True for the ops the mio backend runs on the disk I/O pool: they
    /// may block, and their fds are files, which readiness cannot watch.
    pub(crate) fn is_disk(&self) -> bool {
        matches!(
            self,
            Sqe::Read { .. }
                | Sqe::Write { .. }
                | Sqe::Fsync { .. }
                | Sqe::Statx { .. }
                | Sqe::OpenAt { .. }
                | Sqe::RenameAt { .. }
                | Sqe::UnlinkAt { .. }
                | Sqe::MkdirAt { .. }
        )
    }
}
