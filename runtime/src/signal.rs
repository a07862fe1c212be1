//! Blocking until `SIGINT` or `SIGTERM`, for graceful shutdown.
//!
//! [`wait`] blocks the calling thread until one of the two arrives; it is what
//! [`ShutdownHandle::wait_on_signal`](crate::ShutdownHandle::wait_on_signal)
//! calls.
//!
//! # How it works
//!
//! The self-pipe trick, on `signal-hook-registry`: the first call creates a
//! connected pair of Unix sockets and registers, for both signals, an action
//! that writes the signal's number as one byte into it. The action does
//! nothing but `write(2)`, which is async-signal-safe, and cannot panic; the
//! registry's handler is installed with `SA_RESTART` and saves and restores
//! `errno`, so the interrupted code never sees it change. [`wait`] reads one
//! byte.
//!
//! The registry was chosen over a handler of our own because it is the one
//! other libraries in the process (a terminal UI restoring the screen, a
//! metrics flusher) most likely use too: every action registered through it
//! runs, where two hand-installed handlers would silently replace each other.
//!
//! # Delivery rules
//!
//! - Installation takes over `SIGINT` and `SIGTERM` for the rest of the
//!   process: after it, neither signal terminates the process on its own. A
//!   handler some other code installed earlier is not removed: the registry
//!   chains it, so it still runs (before ours).
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
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::sys;

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

/// The signals [`install`] takes over.
const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The reading end of the socket pair; set once both actions are
/// registered, so it doubles as the "installed" flag.
static READER: OnceLock<UnixStream> = OnceLock::new();

/// What installation has done so far, kept across a failed attempt so a
/// retry resumes it: a failure (such as `EMFILE` for the socket pair) is
/// returned and retried, never cached, and no action is registered twice.
struct Progress {
    reader: Option<UnixStream>,
    /// The writing end the actions write to; kept here, never closed, for
    /// the life of the process.
    writer: Option<UnixStream>,
    /// The signals whose action is registered.
    registered: Vec<libc::c_int>,
}

static PROGRESS: Mutex<Progress> = Mutex::new(Progress {
    reader: None,
    writer: None,
    registered: Vec::new(),
});

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
/// descriptors), or if reading the socket pair fails with anything but
/// `EINTR`.
pub fn wait() -> Signal {
    if let Err(err) = install() {
        panic!("signal::wait: cannot install the SIGINT/SIGTERM handlers: {err}");
    }
    let mut reader = READER
        .get()
        .expect("install() returned Ok, so READER is set");
    loop {
        let mut byte = [0u8];
        match reader.read(&mut byte) {
            // Only the actions write, and only SIGINT or SIGTERM, so an
            // unknown byte cannot occur; skipping it keeps waiting correct anyway.
            Ok(1) => {
                if let Some(signal) = Signal::from_raw(byte[0].into()) {
                    return signal;
                }
            }
            Ok(_) => {
                panic!("signal::wait: the signal pipe was closed (its write end is never closed)")
            }
            // SA_RESTART restarts the read after our handler; EINTR can
            // still come from another library's handler installed without it.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => panic!("signal::wait: reading the signal pipe failed: {err}"),
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
/// The socket pair cannot be created (out of file descriptors) or a
/// handler cannot be registered.
pub fn install() -> io::Result<()> {
    if READER.get().is_some() {
        return Ok(());
    }
    let mut progress = PROGRESS.lock().unwrap_or_else(PoisonError::into_inner);
    if READER.get().is_some() {
        return Ok(());
    }
    if progress.writer.is_none() {
        // Close-on-exec (std sets it); the writing end is non-blocking so
        // an action never blocks: if the buffer is full, unread bytes
        // already guarantee that waiters wake, and dropping one more loses
        // nothing anyone would see.
        let (reader, writer) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        progress.reader = Some(reader);
        progress.writer = Some(writer);
    }
    let write_fd = progress.writer.as_ref().expect("created above").as_raw_fd();
    for signal in SIGNALS {
        if progress.registered.contains(&signal) {
            continue;
        }
        // SAFETY: the action is async-signal-safe, as a signal handler must
        // be: it calls only write(2) (through `sys::write`, which allocates
        // nothing and takes no lock) on a descriptor that stays open for the
        // life of the process (its `UnixStream` lives in `PROGRESS`, never
        // dropped), touches no other state, and cannot panic.
        unsafe { signal_hook_registry::register(signal, move || notify(write_fd, signal)) }?;
        progress.registered.push(signal);
    }
    let reader = progress.reader.take().expect("kept until installed");
    READER
        .set(reader)
        .expect("READER is only set here, under the PROGRESS lock, after the check above");
    Ok(())
}

/// The action: the signal's number as one byte (SIGINT = 2, SIGTERM = 15
/// fit). A failure (`EAGAIN` on a full buffer) is deliberately ignored:
/// see [`install`].
fn notify(write_fd: RawFd, signal: libc::c_int) {
    let _ = sys::write(write_fd, &[signal as u8]);
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
        let fd = READER.get().expect("installed").as_raw_fd();
        install().expect("install again");
        assert_eq!(READER.get().expect("installed").as_raw_fd(), fd);
        let progress = PROGRESS.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(progress.writer.as_ref().expect("kept").as_raw_fd() >= 0);
        assert_eq!(progress.registered, SIGNALS, "each action registered once");
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
