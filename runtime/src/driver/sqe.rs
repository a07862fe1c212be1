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

/// A connection's socket as its ops name it: the descriptor, and its slot
/// in the ring's registered-file table when it has one (io_uring only).
/// An op on a slot skips the kernel's per-op descriptor lookup and its
/// reference count on the file; the mio backend always uses `raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdRef {
    /// The socket's descriptor (kept for `setsockopt`, `getpeername` and
    /// the mio backend, and closed with the connection).
    pub(crate) raw: RawFd,
    /// Its slot in the ring's file table, or [`FdRef::NO_SLOT`].
    pub(crate) slot: u32,
}

impl FdRef {
    /// `slot` of a socket that is not in the file table.
    pub(crate) const NO_SLOT: u32 = u32::MAX;

    /// A socket known by its descriptor only.
    pub(crate) const fn raw(fd: RawFd) -> FdRef {
        FdRef {
            raw: fd,
            slot: Self::NO_SLOT,
        }
    }

    /// Its file-table slot, if it has one (only io_uring has a table).
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn slot(self) -> Option<u32> {
        (self.slot != Self::NO_SLOT).then_some(self.slot)
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
    RecvMulti { fd: FdRef },
    /// `send(fd, buf, len, MSG_NOSIGNAL)`.
    Send { fd: FdRef, buf: *const u8, len: u32 },
    /// `connect(fd, addr, len)`.
    Connect {
        fd: RawFd,
        addr: *const libc::sockaddr,
        len: libc::socklen_t,
    },
    /// `close(fd)`. A socket with a file-table slot is held by the table
    /// too: the io_uring backend closes its descriptor at once (the table
    /// keeps the socket open) and this op empties the slot, which closes
    /// the socket after every op submitted before it.
    Close { fd: FdRef },
    /// `shutdown(fd, how)`.
    Shutdown { fd: FdRef, how: i32 },
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
    RecvMulti { fd: FdRef },
    /// As [`Sqe::Close`].
    Close { fd: FdRef },
    /// As [`Sqe::Shutdown`].
    Shutdown { fd: FdRef, how: i32 },
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
