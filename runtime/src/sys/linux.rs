//! The Linux side of [`sys`](super): the calls that set close-on-exec and
//! non-blocking atomically, an `eventfd` for wakes, `statx`, CPU pinning,
//! and a Unix peer's uid from `SO_PEERCRED`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::Zeroed;

// SAFETY: a bit array of integers; all zero is the empty set.
unsafe impl Zeroed for libc::cpu_set_t {}
// SAFETY: three integers (pid, uid, gid).
unsafe impl Zeroed for libc::ucred {}

/// A close-on-exec socket (`SOCK_CLOEXEC`, set atomically).
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<OwnedFd> {
    let fd = syscall!(socket(domain, ty | libc::SOCK_CLOEXEC, protocol))?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Accepts one connection on `listener`: a close-on-exec, non-blocking
/// socket the caller owns from now on.
pub(crate) fn accept(listener: RawFd) -> io::Result<RawFd> {
    syscall!(accept4(
        listener,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
    ))
}

/// A worker's cross-thread wake: an `eventfd` (close-on-exec,
/// non-blocking). Other threads add to its counter; the worker keeps an
/// 8-byte read armed on it, which returns the counter and resets it, so
/// any number of signals costs the worker one completion.
pub(crate) struct WakeFd {
    eventfd: OwnedFd,
}

impl WakeFd {
    pub(crate) fn new() -> io::Result<WakeFd> {
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: `fd` was just returned by eventfd and is owned by no one
        // else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(WakeFd { eventfd })
    }

    /// Makes [`read_fd`](Self::read_fd) readable.
    pub(crate) fn signal(&self) {
        // A failed write (counter saturated) still leaves it readable,
        // which is all we need.
        let _ = super::write(self.eventfd.as_raw_fd(), &1u64.to_ne_bytes());
    }

    /// The fd the worker reads 8 bytes from (the eventfd itself).
    pub(crate) fn read_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}

/// What [`stat`] fills: the kernel's `struct statx`.
pub(crate) type StatBuf = libc::statx;

/// `statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, out)`: 0, or `-errno`.
///
/// # Safety
///
/// `path` is NUL-terminated and `out` is valid for writes, both for the
/// duration of the call.
pub(crate) unsafe fn stat(path: *const libc::c_char, out: *mut StatBuf) -> i32 {
    syscall!(-errno statx(libc::AT_FDCWD, path, 0, libc::STATX_BASIC_STATS, out))
}

/// Pins the calling thread to `core` modulo the CPUs we may run on. A
/// failure (a restricted cpuset) leaves the thread unpinned.
pub(crate) fn pin_to_core(core: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut set = libc::cpu_set_t::zeroed();
    // SAFETY: CPU_SET writes inside `set`; the index is reduced modulo the
    // CPU count, far below CPU_SETSIZE.
    unsafe { libc::CPU_SET(core % cpus, &mut set) };
    let _ = syscall!(sched_setaffinity(
        0,
        std::mem::size_of::<libc::cpu_set_t>(),
        &set
    ));
}

/// The uid of the process at the other end of Unix socket `fd`, from
/// `SO_PEERCRED` (the credentials it had when it connected).
#[cfg(feature = "inspect")]
pub(crate) fn peer_uid(fd: RawFd) -> io::Result<u32> {
    let mut cred = libc::ucred::zeroed();
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_PEERCRED,
        (&raw mut cred).cast(),
        &mut len,
    ))?;
    Ok(cred.uid)
}
