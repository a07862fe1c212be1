//! Blocking until `SIGINT` or `SIGTERM`, for graceful shutdown.
//!
//! [`wait`] blocks the calling thread until one of the two arrives; it is what
//! [`ShutdownHandle::wait_on_signal`](crate::ShutdownHandle::wait_on_signal)
//! calls.
//!
//! # How it works
//!
//! The self-pipe trick: the first call creates a pipe and installs, with
//! `sigaction(SA_RESTART)`, a handler for both signals that writes the
//! signal's number as one byte into the pipe. The handler does nothing but an
//! atomic load and `write(2)`, both async-signal-safe, and restores `errno`
//! so the interrupted code never sees it change. [`wait`] reads one byte from
//! the pipe.
//!
//! # Delivery rules
//!
//! - Installation replaces any handler set earlier for `SIGINT` or `SIGTERM`
//!   and lasts for the rest of the process; after it, neither signal
//!   terminates the process on its own.
//! - Each handled signal wakes exactly one waiter. With several threads in
//!   [`wait`], each signal goes to one of them (which one is up to the
//!   kernel) and the others keep waiting.
//! - A signal handled while no thread waits is kept: the next [`wait`]
//!   returns it at once. Kept signals are returned oldest first.
//! - A signal that arrives before the handlers are installed (by the first
//!   [`wait`], or by [`install`]) gets the previous disposition (by
//!   default, the process ends).
//! - The kernel merges a signal with an identical one still pending, so two
//!   `SIGINT`s in quick succession may be handled, and returned, once.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A signal [`wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGINT`, typically from Ctrl-C.
    Interrupt,
    /// `SIGTERM`, the default signal of `kill`.
    Terminate,
}

impl Signal {
    fn from_raw(number: libc::c_int) -> Option<Self> {
        match number {
            libc::SIGINT => Some(Self::Interrupt),
            libc::SIGTERM => Some(Self::Terminate),
            _ => None,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Read end of the self-pipe; set once, when both handlers are installed,
/// so it doubles as the "installed" flag.
static READ_FD: OnceLock<RawFd> = OnceLock::new();

/// Write end of the self-pipe, for the handler: a plain atomic load is
/// async-signal-safe, while reading a `OnceLock` is not promised to be.
/// -1 until the pipe exists.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// The pipe once created, kept across a failed installation so a retry
/// reuses it. Installing under this lock (rather than
/// `OnceLock::get_or_init`) lets a failure, such as `EMFILE`, be returned
/// and retried instead of cached forever.
static PIPE: Mutex<Option<(RawFd, RawFd)>> = Mutex::new(None);

/// Blocks the calling thread until `SIGINT` or `SIGTERM` is handled, and
/// returns which one.
///
/// The first call in the process installs the handlers; see the
/// [module docs](self) for what that changes and for how signals are shared
/// among several waiting threads.
///
/// # Panics
///
/// If the handlers cannot be installed (the process is out of file
/// descriptors), or if reading the pipe fails with anything but `EINTR`.
pub fn wait() -> Signal {
    if let Err(err) = install() {
        panic!("signal::wait: cannot install the SIGINT/SIGTERM handlers: {err}");
    }
    let read_fd = *READ_FD
        .get()
        .expect("install() returned Ok, so READ_FD is set");
    loop {
        let mut byte = 0u8;
        // SAFETY: `read_fd` is the pipe's read end, which is never closed once
        // installed; the buffer is one live, writable byte.
        let n = unsafe { libc::read(read_fd, (&raw mut byte).cast(), 1) };
        match n {
            // Only the handler writes, and only SIGINT or SIGTERM, so an
            // unknown byte cannot occur; skipping it keeps waiting correct anyway.
            1 => {
                if let Some(signal) = Signal::from_raw(byte.into()) {
                    return signal;
                }
            }
            0 => panic!("signal::wait: the signal pipe was closed (its write end is never closed)"),
            _ => {
                let err = io::Error::last_os_error();
                // SA_RESTART restarts the read after our handlers; EINTR can
                // still come from another library's handler installed without it.
                if err.kind() != io::ErrorKind::Interrupted {
                    panic!("signal::wait: reading the signal pipe failed: {err}");
                }
            }
        }
    }
}

/// Installs the handlers now (what the first [`wait`] does otherwise), so
/// that a `SIGINT` or `SIGTERM` arriving before anyone waits is kept for
/// the next [`wait`] instead of ending the process. Call it before telling
/// the world you are up (a readiness line, a pid file).
///
/// Idempotent and safe to call from several threads; `Ok` means the
/// handlers are in place.
///
/// # Errors
///
/// The self-pipe cannot be created (out of file descriptors) or
/// `sigaction` fails.
pub fn install() -> io::Result<()> {
    if READ_FD.get().is_some() {
        return Ok(());
    }
    let mut pipe = PIPE.lock().unwrap_or_else(PoisonError::into_inner);
    if READ_FD.get().is_some() {
        return Ok(());
    }
    let (read_fd, write_fd) = match *pipe {
        Some(fds) => fds,
        None => {
            let fds = self_pipe()?;
            // Published before any handler exists, so the first signal
            // after installation already finds the pipe.
            WRITE_FD.store(fds.1, Ordering::Release);
            *pipe = Some(fds);
            fds
        }
    };
    debug_assert_eq!(WRITE_FD.load(Ordering::Relaxed), write_fd);

    let previous_sigint = set_handler(libc::SIGINT)?;
    if let Err(err) = set_handler(libc::SIGTERM) {
        // Half-installed would turn SIGINT into a no-op until a retry
        // succeeds; put the old action back so the process stays killable.
        // SAFETY: `previous_sigint` is the action sigaction just returned, so
        // it is valid to reinstall; no old action is requested back.
        unsafe { libc::sigaction(libc::SIGINT, &previous_sigint, std::ptr::null_mut()) };
        return Err(err);
    }
    READ_FD
        .set(read_fd)
        .expect("READ_FD is only set here, under the PIPE lock, after the check above");
    Ok(())
}

/// A close-on-exec pipe whose write end is non-blocking, so the handler can
/// never block: if the pipe is full, unread bytes already guarantee that
/// waiters wake, and dropping one more loses nothing anyone would see.
fn self_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    #[cfg(not(target_vendor = "apple"))]
    // SAFETY: `fds` is a live array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    #[cfg(target_vendor = "apple")]
    // SAFETY: `fds` is a live array of two ints, as pipe requires.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;

    let [read_fd, write_fd] = fds;
    let configure = || -> io::Result<()> {
        // No pipe2 on Apple platforms: set close-on-exec right after (racy
        // against a concurrent fork and exec, the best they offer).
        #[cfg(target_vendor = "apple")]
        for fd in fds {
            // SAFETY: `fd` was just returned by pipe and is open.
            cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        }
        // SAFETY: `write_fd` was just created above and is open.
        let flags = cvt(unsafe { libc::fcntl(write_fd, libc::F_GETFL) })?;
        // SAFETY: as above; only O_NONBLOCK is added to the current flags.
        cvt(unsafe { libc::fcntl(write_fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
        Ok(())
    };
    if let Err(err) = configure() {
        for fd in fds {
            // SAFETY: both ends are open, nothing else has seen them yet,
            // and each is closed exactly once here.
            unsafe { libc::close(fd) };
        }
        return Err(err);
    }
    Ok((read_fd, write_fd))
}

/// Installs [`on_signal`] for `signal`; returns the action it replaced.
fn set_handler(signal: libc::c_int) -> io::Result<libc::sigaction> {
    // SAFETY: `sigaction` is a plain C struct; all-zero is a valid value
    // (no handler, empty mask, no flags) that the fields below then fill.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // Restart interrupted syscalls in the rest of the program: a Ctrl-C must
    // not make some unrelated read fail with EINTR.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a live, writable sigset_t.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: as above, all-zero is a valid sigaction; sigaction overwrites it.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; `on_signal` is an
    // `extern "C" fn(c_int)` as a handler without SA_SIGINFO must be, and it
    // is async-signal-safe (see its body).
    cvt(unsafe { libc::sigaction(signal, &action, &mut previous) })?;
    Ok(previous)
}

/// The signal handler. Only async-signal-safe work: an atomic load,
/// `write(2)`, and saving and restoring `errno`, which `write` may change
/// under the interrupted code's feet.
extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: `errno_slot` returns this thread's errno location, valid for
    // as long as the thread runs.
    let saved_errno = unsafe { *errno_slot() };
    let fd = WRITE_FD.load(Ordering::Acquire);
    if fd >= 0 {
        // Signal numbers fit in a byte (SIGINT = 2, SIGTERM = 15).
        let byte = signal as u8;
        // SAFETY: `fd` is the pipe's write end, never closed once stored;
        // the buffer is one live byte. A failure (EAGAIN on a full pipe)
        // is deliberately ignored: see `self_pipe`.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *errno_slot() = saved_errno };
}

/// The calling thread's `errno`, under each libc's name for it.
fn errno_slot() -> *mut libc::c_int {
    #[cfg(target_os = "linux")]
    // SAFETY: no preconditions; returns the calling thread's errno slot.
    let slot = unsafe { libc::__errno_location() };
    #[cfg(target_os = "android")]
    // SAFETY: no preconditions; returns the calling thread's errno slot.
    let slot = unsafe { libc::__errno() };
    #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
    // SAFETY: no preconditions; returns the calling thread's errno slot.
    let slot = unsafe { libc::__error() };
    slot
}

/// Turns a libc `-1` return into the thread's `errno` as an `io::Error`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// Long enough for any loaded CI machine; only reached on failure.
    const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

    fn spawn_waiter(done: mpsc::Sender<Signal>) {
        thread::Builder::new()
            .name("signal-waiter".into())
            .spawn(move || {
                let _ = done.send(wait());
            })
            .expect("spawn waiter thread");
    }

    fn raise(signal: libc::c_int) {
        // SAFETY: kill with our own pid and a valid signal number has no
        // memory-safety preconditions; the handler is installed, so the
        // process survives it.
        let ret = unsafe { libc::kill(libc::getpid(), signal) };
        assert_eq!(ret, 0, "kill: {}", io::Error::last_os_error());
    }

    #[test]
    fn display_names_the_signal() {
        assert_eq!(Signal::Interrupt.to_string(), "SIGINT");
        assert_eq!(Signal::Terminate.to_string(), "SIGTERM");
    }

    #[test]
    fn install_is_idempotent_across_threads() {
        let threads: Vec<_> = (0..8).map(|_| thread::spawn(install)).collect();
        for t in threads {
            t.join().expect("install thread").expect("install");
        }
        let fd = *READ_FD.get().expect("installed");
        install().expect("install again");
        assert_eq!(*READ_FD.get().expect("installed"), fd);
        assert!(WRITE_FD.load(Ordering::Relaxed) >= 0);
    }

    /// The only test that raises real signals: any other test waiting on
    /// the same process-wide pipe could take its bytes.
    #[test]
    fn raised_signals_wake_waiters() {
        install().expect("install");

        // One waiter, one signal.
        let (done, results) = mpsc::channel();
        spawn_waiter(done.clone());
        raise(libc::SIGTERM);
        assert_eq!(
            results.recv_timeout(DELIVERY_TIMEOUT),
            Ok(Signal::Terminate)
        );

        // Two waiters, two signals: each signal wakes one of them. The
        // second signal is raised only after the first was taken, so the
        // kernel cannot merge them.
        spawn_waiter(done.clone());
        spawn_waiter(done);
        raise(libc::SIGINT);
        let first = results
            .recv_timeout(DELIVERY_TIMEOUT)
            .expect("first waiter");
        raise(libc::SIGTERM);
        let second = results
            .recv_timeout(DELIVERY_TIMEOUT)
            .expect("second waiter");
        let mut got = [first.to_string(), second.to_string()];
        got.sort();
        assert_eq!(got, ["SIGINT", "SIGTERM"]);
    }
}
