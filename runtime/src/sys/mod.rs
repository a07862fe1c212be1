//! What differs between the platforms ringline builds on, in one place, so
//! the rest of the crate carries no `#[cfg(target_os)]` on statements.
//!
//! Linux has io_uring and a few calls that do two steps in one; the other
//! Unixes the mio backend runs on (macOS, the BSDs) get the portable POSIX
//! equivalent. `linux.rs` and `posix.rs` have the same API and this file
//! picks one:
//!
//! | need                     | Linux (`linux.rs`)                       | elsewhere (`posix.rs`)                    |
//! |--------------------------|------------------------------------------|-------------------------------------------|
//! | close-on-exec socket     | `socket(.., ty \| SOCK_CLOEXEC, ..)`     | `socket`, then `FD_CLOEXEC`               |
//! | accepted connection      | `accept4(SOCK_CLOEXEC \| SOCK_NONBLOCK)` | `accept`, then `FD_CLOEXEC`, `O_NONBLOCK` |
//! | cross-thread wake        | an `eventfd`                             | a pipe                                    |
//! | file metadata            | `statx` into a `libc::statx`             | `stat` into a `libc::stat`                |
//! | pin a thread to a CPU    | `sched_setaffinity`                      | nothing (no portable call)                |
//!
//! io_uring items (the backend, its probe, its buffer parser) are gated
//! with [`cfg_uring!`] / [`cfg_not_uring!`] rather than living here: they
//! are a backend, not a syscall shim.

/// Compiles the items it wraps only where io_uring exists (Linux).
macro_rules! cfg_uring {
    ($($item:item)*) => {
        $( #[cfg(target_os = "linux")] $item )*
    };
}
pub(crate) use cfg_uring;

/// Compiles the items it wraps only where io_uring does not exist: the
/// stand-ins of [`cfg_uring!`] items.
macro_rules! cfg_not_uring {
    ($($item:item)*) => {
        $( #[cfg(not(target_os = "linux"))] $item )*
    };
}
pub(crate) use cfg_not_uring;

/// Calls `libc::$name(args)`, turning `-1` into the `errno` as an
/// `io::Error`.
macro_rules! syscall {
    ($name:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: a plain libc call whose pointer arguments (if any) point
        // at live locals of the caller, sized as the call requires.
        let res = unsafe { libc::$name($($arg),*) };
        if res == -1 { Err(std::io::Error::last_os_error()) } else { Ok(res) }
    }};
}
pub(crate) use syscall;

/// Makes the next `close` of socket `fd` a reset: queued bytes are
/// dropped and the peer sees `ECONNRESET` (`SO_LINGER` on, 0 seconds).
/// Best effort: a socket type without lingering is closed as usual.
pub(crate) fn set_linger_zero(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = syscall!(setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&linger as *const libc::linger).cast::<libc::c_void>(),
        std::mem::size_of::<libc::linger>() as libc::socklen_t,
    ));
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use self::linux::{StatBuf, WakeFd, accept, pin_to_core, socket, stat};

#[cfg(not(target_os = "linux"))]
mod posix;
#[cfg(not(target_os = "linux"))]
pub(crate) use self::posix::{StatBuf, WakeFd, accept, pin_to_core, socket, stat};
