//! The portable side of [`sys`](super), for the Unixes without Linux's
//! combined calls (macOS, the BSDs): plain POSIX calls followed by
//! `fcntl`, a pipe for wakes, `stat`, no CPU pinning, and a Unix peer's uid
//! from `getpeereid`.
//!
//! Setting close-on-exec after the fd exists leaves a window in which a
//! `fork` + `exec` on another thread inherits it; macOS has no atomic
//! alternative for sockets and accepted connections, so the window stays.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::set_nonblocking;

/// A close-on-exec socket (`FD_CLOEXEC` set right after it is created).
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(domain, ty, protocol))?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec(fd.as_raw_fd())?;
    Ok(fd)
}

/// Accepts one connection on `listener`: a close-on-exec, non-blocking
/// socket the caller owns from now on.
pub(crate) fn accept(listener: RawFd) -> io::Result<RawFd> {
    let fd = syscall!(accept(listener, std::ptr::null_mut(), std::ptr::null_mut()))?;
    // SAFETY: `fd` was just accepted and is owned by nobody else; owning
    // it here closes it if the flags below cannot be set.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_cloexec(fd.as_raw_fd())?;
    set_nonblocking(fd.as_raw_fd(), true)?;
    Ok(fd.into_raw_fd())
}

/// A worker's cross-thread wake: a pipe (both ends close-on-exec and
/// non-blocking). A signal writes one 8-byte word to the write end; the
/// worker keeps an 8-byte read armed on the read end.
///
/// Unlike an eventfd's counter, a pipe keeps every word written. The
/// worker's handle signals at most once until the worker has consumed the
/// previous signal, so the pipe holds at most one word; were it to hold
/// more, each re-armed read takes the next one at once (the mio backend
/// tries a read before it waits for readiness), so a word is never left
/// behind, only turned into an extra wake completion. An 8-byte write is
/// below `PIPE_BUF`, so it is never split.
///
/// The mio backend registers the read end for both directions, as it does
/// every fd an op parks on: kqueue accepts a write filter on a pipe's read
/// end (it never fires), so that is harmless.
pub(crate) struct WakeFd {
    read: OwnedFd,
    write: OwnedFd,
}

impl WakeFd {
    pub(crate) fn new() -> io::Result<WakeFd> {
        let mut fds: [libc::c_int; 2] = [-1, -1];
        syscall!(pipe(fds.as_mut_ptr()))?;
        // SAFETY: pipe returned two new fds, owned by nobody else; owning
        // them here closes both if the flags below cannot be set.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            set_cloexec(fd.as_raw_fd())?;
            set_nonblocking(fd.as_raw_fd(), true)?;
        }
        Ok(WakeFd { read, write })
    }

    /// Makes [`read_fd`](Self::read_fd) readable.
    pub(crate) fn signal(&self) {
        // A failed write (the pipe is full) still leaves the read end
        // readable, which is all we need.
        let _ = super::write(self.write.as_raw_fd(), &1u64.to_ne_bytes());
    }

    /// The fd the worker reads 8 bytes from (the pipe's read end).
    pub(crate) fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

/// What [`stat`] fills: the platform's `struct stat`.
pub(crate) type StatBuf = libc::stat;

/// `stat(path, out)`: 0, or `-errno`.
///
/// # Safety
///
/// `path` is NUL-terminated and `out` is valid for writes, both for the
/// duration of the call.
pub(crate) unsafe fn stat(path: *const libc::c_char, out: *mut StatBuf) -> i32 {
    syscall!(-errno stat(path, out))
}

/// Does nothing: macOS has no call that binds a thread to a CPU (its
/// affinity tags are scheduling hints), and the BSDs each have their own,
/// so workers run unpinned here whatever `WorkerConfig::pin_to_core` says.
pub(crate) fn pin_to_core(_core: usize) {}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFD))?;
    if flags & libc::FD_CLOEXEC == 0 {
        syscall!(fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC))?;
    }
    Ok(())
}

/// The effective uid of the process at the other end of Unix socket `fd`,
/// from `getpeereid` (macOS and the BSDs have no `SO_PEERCRED`).
#[cfg(feature = "inspect")]
pub(crate) fn peer_uid(fd: RawFd) -> io::Result<u32> {
    let (mut uid, mut gid): (libc::uid_t, libc::gid_t) = (0, 0);
    syscall!(getpeereid(fd, &mut uid, &mut gid))?;
    Ok(uid)
}
