//! The one door to the C library: every `libc` call that touches memory
//! goes through a function here, so the rest of the crate carries neither
//! hand-written errno checks nor `#[cfg(target_os)]` on statements.
//!
//! | file          | what                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | `mod.rs`      | [`syscall!`] (both result forms), [`errno`], [`Zeroed`]               |
//! | `fd.rs`       | descriptors: close, flags, file type, reads and writes of slices      |
//! | `socket.rs`   | sockets: options, bind/listen/connect, names, peer credentials        |
//! | `sockaddr.rs` | [`SockAddr`]: std addresses and Unix paths as the kernel's structs    |
//! | `io.rs`       | the mio backend's calls on memory an op lends it (raw pointers)       |
//! | `linux.rs`    | Linux's one-step calls (below)                                        |
//! | `uring.rs`    | Linux: io_uring enters by registered ring index, `RLIMIT_NOFILE`      |
//! | `posix.rs`    | their portable equivalents for macOS and the BSDs                     |
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
//! | a Unix peer's uid        | `SO_PEERCRED`                            | `getpeereid`                              |
//!
//! Two result conventions, one per kind of caller:
//!
//! - code that reports errors to people gets `io::Result`;
//! - the mio backend, which emulates io_uring's completions, gets an `i32`
//!   that is the call's result when non-negative and `-errno` otherwise:
//!   exactly what a CQE's `res` carries, so it is passed on unchanged.
//!
//! io_uring items (the backend, its probe, its buffer parser) are gated
//! with [`cfg_uring!`] / [`cfg_not_uring!`] rather than living here: they
//! are a backend, not a syscall shim. The exception is `uring.rs`: the raw
//! `io_uring_enter`/`io_uring_register` calls the `io-uring` crate cannot
//! make for the backend (entering by a registered ring index).

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

/// Calls `libc::$name(args)` and checks `errno` for it, in one of two
/// forms:
///
/// - `syscall!(close(fd))`: `io::Result` of the call's return value, `-1`
///   turned into the thread's `errno`;
/// - `syscall!(-errno close(fd))`: an `i32`, the return value (clamped to
///   `i32::MAX`) or `-errno`: a completion's result (see the module docs).
///
/// The call is `unsafe`; the macro is not, so its uses are held to one
/// rule, which makes every one of them sound: **outside `sys/`, arguments
/// are integers only** (descriptors, flags, modes), which no call can take
/// for memory. Calls that take pointers are made inside `sys/`, from a
/// function whose signature (a reference, a slice, or an `unsafe fn` with a
/// `# Safety` contract) makes each pointer valid for the call.
macro_rules! syscall {
    (-errno $name:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the macro's rule: the arguments are integers, or (inside
        // `sys/`) pointers the enclosing function's signature or `# Safety`
        // contract makes valid for this call.
        let res = unsafe { libc::$name($($arg),*) };
        $crate::sys::completion(res)
    }};
    ($name:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the macro's rule: the arguments are integers, or (inside
        // `sys/`) pointers the enclosing function's signature or `# Safety`
        // contract makes valid for this call.
        let res = unsafe { libc::$name($($arg),*) };
        if res == -1 { Err(std::io::Error::last_os_error()) } else { Ok(res) }
    }};
}
pub(crate) use syscall;

mod fd;
mod io;
mod sockaddr;
mod socket;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) mod uring;
#[cfg(target_os = "linux")]
use self::linux as platform;

#[cfg(not(target_os = "linux"))]
mod posix;
#[cfg(not(target_os = "linux"))]
use self::posix as platform;

pub(crate) use self::fd::{close, file_mode, set_nonblocking, write};
// What only the inspect server needs.
#[cfg(feature = "inspect")]
pub(crate) use self::fd::at_exit;
#[cfg(test)]
pub(crate) use self::fd::{mkfifo, read};
pub(crate) use self::io::{
    connect_raw, fsync, mkdirat, openat, read_at, read_raw, recv, recvmsg, renameat, send, sendmsg,
    unlinkat, write_at,
};
#[cfg(feature = "inspect")]
pub(crate) use self::platform::peer_uid;
pub(crate) use self::platform::{StatBuf, WakeFd, accept, pin_to_core, socket, stat};
pub(crate) use self::sockaddr::SockAddr;
#[cfg(test)]
pub(crate) use self::socket::set_v6_only;
pub(crate) use self::socket::{
    bind, connect, listen, local_addr, peer_addr, set_linger_zero, set_nodelay, set_reuse_addr,
    set_reuse_port, take_error, v6_only,
};

/// The calling thread's `errno` (`EIO` should the platform not say).
pub(crate) fn errno() -> i32 {
    errno_of(&std::io::Error::last_os_error())
}

/// The `errno` an `io::Error` carries (`EIO` for an error not from the
/// kernel), for a completion's `-errno`.
pub(crate) fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// What a libc call returns: an `int` or an `ssize_t`, `-1` on failure.
pub(crate) trait SysResult: Copy {
    /// The call failed (returned `-1`).
    fn failed(self) -> bool;
    /// The successful value as a completion's `i32` (counts clamped).
    fn clamped(self) -> i32;
}

impl SysResult for libc::c_int {
    fn failed(self) -> bool {
        self == -1
    }
    fn clamped(self) -> i32 {
        self
    }
}

impl SysResult for isize {
    fn failed(self) -> bool {
        self == -1
    }
    fn clamped(self) -> i32 {
        self.min(i32::MAX as isize) as i32
    }
}

/// The `-errno` form of a call's result (see [`syscall!`]); reads `errno`
/// at once, so it must come right after the call.
#[inline]
pub(crate) fn completion<R: SysResult>(res: R) -> i32 {
    if res.failed() {
        -errno()
    } else {
        res.clamped()
    }
}

/// C structs for which all-zero bytes are a valid value (integers, null
/// pointers, empty arrays): the kernel's in/out parameters, zeroed before
/// a call fills them.
///
/// # Safety
///
/// An implementor has no field for which all-zero bytes are invalid: no
/// reference, no `NonNull`, no enum without a zero variant, no `bool`
/// holding anything but 0.
pub(crate) unsafe trait Zeroed: Sized {
    /// All-zero bytes of `Self`.
    fn zeroed() -> Self {
        // SAFETY: the implementor promises all-zero bytes are a valid
        // `Self` (the trait's contract).
        unsafe { std::mem::zeroed() }
    }
}

// SAFETY: integers (family, port, address words) and padding arrays only.
unsafe impl Zeroed for libc::sockaddr_storage {}
// SAFETY: integers and an `in_addr` (one integer) only.
unsafe impl Zeroed for libc::sockaddr_in {}
// SAFETY: integers and an `in6_addr` (a byte array) only.
unsafe impl Zeroed for libc::sockaddr_in6 {}
// SAFETY: a family integer and a `c_char` array only.
unsafe impl Zeroed for libc::sockaddr_un {}
// SAFETY: raw pointers (null is valid for a raw pointer) and integers.
unsafe impl Zeroed for libc::msghdr {}
// SAFETY: `statx` (Linux) and `stat` (elsewhere) hold integers and
// timestamp structs of integers only.
unsafe impl Zeroed for StatBuf {}
