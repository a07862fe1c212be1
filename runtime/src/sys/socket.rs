//! Sockets: integer options, binding, listening and connecting to a
//! [`SockAddr`], the names at either end, and an error a non-blocking
//! connect left behind.

use std::io;
use std::os::fd::RawFd;

use super::SockAddr;

/// `setsockopt(fd, level, name, &value)` for an `int` option.
fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        level,
        name,
        (&value as *const libc::c_int).cast(),
        size_of::<libc::c_int>() as libc::socklen_t,
    ))
    .map(drop)
}

/// `getsockopt(fd, level, name)` of an `int` option.
fn int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        level,
        name,
        (&mut value as *mut libc::c_int).cast(),
        &mut len,
    ))?;
    Ok(value)
}

/// `TCP_NODELAY` on: small writes go out at once (no Nagle).
pub(crate) fn set_nodelay(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// `SO_REUSEADDR` on: a restarted server binds its port despite
/// connections of the last run in `TIME_WAIT`.
pub(crate) fn set_reuse_addr(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)
}

/// `SO_REUSEPORT` on: several sockets (one per worker) bind one port.
pub(crate) fn set_reuse_port(fd: RawFd) -> io::Result<()> {
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)
}

/// Whether IPv6 socket `fd` has `IPV6_V6ONLY` (reaches IPv6 peers only).
pub(crate) fn v6_only(fd: RawFd) -> io::Result<bool> {
    int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).map(|v| v != 0)
}

/// Sets `IPV6_V6ONLY` (tests).
#[cfg(test)]
pub(crate) fn set_v6_only(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, on.into())
}

/// The outcome of a non-blocking connect that became writable
/// (`SO_ERROR`, which reading also clears), as a completion's result: 0
/// when it connected, else `-errno`.
pub(crate) fn take_error(fd: RawFd) -> i32 {
    match int_opt(fd, libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(err) => -err,
        Err(e) => -super::errno_of(&e),
    }
}

/// Makes the next `close` of socket `fd` a reset: queued bytes are
/// dropped and the peer sees `ECONNRESET` (`SO_LINGER` on, 0 seconds).
/// Best effort: a socket type without lingering is closed as usual.
pub(crate) fn set_linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = syscall!(setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&linger as *const libc::linger).cast(),
        size_of::<libc::linger>() as libc::socklen_t,
    ));
}

/// `bind(fd, addr)`.
pub(crate) fn bind(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    syscall!(bind(fd, addr.as_ptr(), addr.len())).map(drop)
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    syscall!(listen(fd, backlog)).map(drop)
}

/// `connect(fd, addr)`; on a non-blocking socket a connect still in
/// progress is the error `EINPROGRESS` (`EAGAIN` for a Unix socket whose
/// listener's backlog is full).
pub(crate) fn connect(fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    syscall!(connect(fd, addr.as_ptr(), addr.len())).map(drop)
}

/// The address `fd` is bound to (`getsockname`).
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SockAddr> {
    SockAddr::fill(|storage, len| syscall!(getsockname(fd, storage, len)).map(drop))
}

/// The address of `fd`'s peer (`getpeername`).
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SockAddr> {
    SockAddr::fill(|storage, len| syscall!(getpeername(fd, storage, len)).map(drop))
}
