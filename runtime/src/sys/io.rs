//! The calls the mio backend makes for ops: on memory an op lends it
//! (buffers, paths, `msghdr`s reached through an `Sqe`'s raw pointers), in
//! the completion form: the result, or `-errno` (see [`syscall!`]).
//!
//! Each is an `unsafe fn` whose `# Safety` is the op's contract with its
//! owner: the op slot (or connection, or UDP slot) keeps the memory alive
//! and unmoved until the op's completion is reaped. A failed call is never
//! retried here; the backend decides what `EINTR` and `EAGAIN` mean.

use std::os::fd::RawFd;

/// `pread(2)`, or `read(2)` for a file that cannot seek (a pipe, a FIFO, a
/// terminal), whose offset io_uring ignores too.
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes, and nothing else touches it
/// meanwhile.
pub(crate) unsafe fn read_at(fd: RawFd, buf: *mut u8, len: u32, offset: u64) -> i32 {
    let n = syscall!(-errno pread(fd, buf.cast(), len as usize, offset as libc::off_t));
    if n == -libc::ESPIPE {
        // SAFETY: the same buffer and length, valid by this fn's contract.
        unsafe { read_raw(fd, buf, len) }
    } else {
        n
    }
}

/// [`read_at`]'s counterpart: `pwrite(2)`, or `write(2)` where the file
/// cannot seek.
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
pub(crate) unsafe fn write_at(fd: RawFd, buf: *const u8, len: u32, offset: u64) -> i32 {
    let n = syscall!(-errno pwrite(fd, buf.cast(), len as usize, offset as libc::off_t));
    if n == -libc::ESPIPE {
        syscall!(-errno write(fd, buf.cast(), len as usize))
    } else {
        n
    }
}

/// `read(fd, buf, len)`.
///
/// # Safety
///
/// `buf` is valid for writes of `len` bytes, and nothing else touches it
/// meanwhile.
pub(crate) unsafe fn read_raw(fd: RawFd, buf: *mut u8, len: u32) -> i32 {
    syscall!(-errno read(fd, buf.cast(), len as usize))
}

/// `fsync(fd)`.
pub(crate) fn fsync(fd: RawFd) -> i32 {
    syscall!(-errno fsync(fd))
}

/// `recv(fd, buf, flags)` into a slice.
///
/// On Linux through `syscall(2)`: glibc's `recv` is a thread cancellation
/// point, and entering and leaving one costs ~90 instructions per call
/// (two per echo round trip) for a feature the runtime never uses (no
/// thread of it is ever `pthread_cancel`ed).
#[cfg(target_os = "linux")]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> i32 {
    let no_addr = std::ptr::null_mut::<libc::sockaddr>();
    let no_len = std::ptr::null_mut::<libc::socklen_t>();
    // SAFETY: `buf` is a live, writable slice for the call, and
    // `recvfrom` writes at most `buf.len()` bytes into it; null address
    // pointers ask for no peer address.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            flags,
            no_addr,
            no_len,
        )
    };
    if n < 0 { -super::errno() } else { n as i32 }
}

/// `recv(fd, buf, flags)` into a slice.
#[cfg(not(target_os = "linux"))]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> i32 {
    syscall!(-errno recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags))
}

/// `send(fd, buf, len, flags)` (on Linux through `syscall(2)`, as
/// [`recv`]).
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn send(fd: RawFd, buf: *const u8, len: u32, flags: libc::c_int) -> i32 {
    let no_addr = std::ptr::null::<libc::sockaddr>();
    // SAFETY: the caller keeps `buf` readable for `len` bytes; `sendto`
    // with a null address and length 0 is `send`.
    let n = unsafe { libc::syscall(libc::SYS_sendto, fd, buf, len as usize, flags, no_addr, 0) };
    if n < 0 { -super::errno() } else { n as i32 }
}

/// `send(fd, buf, len, flags)`.
///
/// # Safety
///
/// `buf` is valid for reads of `len` bytes.
#[cfg(not(target_os = "linux"))]
pub(crate) unsafe fn send(fd: RawFd, buf: *const u8, len: u32, flags: libc::c_int) -> i32 {
    syscall!(-errno send(fd, buf.cast(), len as usize, flags))
}

/// `sendmsg(fd, msg, flags)`.
///
/// # Safety
///
/// `msg` points at a `msghdr` whose name, iovecs and the buffers they
/// describe are valid for reads, for the call.
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: libc::c_int) -> i32 {
    syscall!(-errno sendmsg(fd, msg, flags))
}

/// `recvmsg(fd, msg, flags)`.
///
/// # Safety
///
/// `msg`'s name, control and iovec buffers are valid for writes of the
/// lengths it gives, for the call.
pub(crate) unsafe fn recvmsg(fd: RawFd, msg: &mut libc::msghdr, flags: libc::c_int) -> i32 {
    syscall!(-errno recvmsg(fd, msg, flags))
}

/// `connect(fd, addr, len)`.
///
/// # Safety
///
/// `addr` is valid for reads of `len` bytes.
pub(crate) unsafe fn connect_raw(
    fd: RawFd,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> i32 {
    syscall!(-errno connect(fd, addr, len))
}

/// `openat(AT_FDCWD, path, flags, mode)`: the new descriptor.
///
/// # Safety
///
/// `path` is a valid NUL-terminated string.
pub(crate) unsafe fn openat(path: *const libc::c_char, flags: i32, mode: u32) -> i32 {
    syscall!(-errno openat(libc::AT_FDCWD, path, flags, mode as libc::c_uint))
}

/// `renameat(AT_FDCWD, from, AT_FDCWD, to)`.
///
/// # Safety
///
/// `from` and `to` are valid NUL-terminated strings.
pub(crate) unsafe fn renameat(from: *const libc::c_char, to: *const libc::c_char) -> i32 {
    syscall!(-errno renameat(libc::AT_FDCWD, from, libc::AT_FDCWD, to))
}

/// `unlinkat(AT_FDCWD, path, 0)`.
///
/// # Safety
///
/// `path` is a valid NUL-terminated string.
pub(crate) unsafe fn unlinkat(path: *const libc::c_char) -> i32 {
    syscall!(-errno unlinkat(libc::AT_FDCWD, path, 0))
}

/// `mkdirat(AT_FDCWD, path, mode)`.
///
/// # Safety
///
/// `path` is a valid NUL-terminated string.
pub(crate) unsafe fn mkdirat(path: *const libc::c_char, mode: u32) -> i32 {
    syscall!(-errno mkdirat(libc::AT_FDCWD, path, mode as libc::mode_t))
}
