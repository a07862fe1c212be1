//! Owning the terminal: raw mode and the alternate screen while the TUI
//! runs, and the user's terminal back afterwards — by a `Drop` guard on
//! every normal and error path, by a panic hook when something panics, and
//! by the app loop noticing SIGTERM/SIGHUP/SIGINT (see [`signals`]) or the
//! terminal hanging up (see [`spawn_watchdog`]).

use std::io::{self, Stdout};
use std::sync::Once;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

/// The terminal in TUI mode; restores it when dropped.
pub struct TerminalGuard {
    /// The ratatui terminal to draw on.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and installs the panic
    /// hook that undoes both.
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode().map_err(|e| with_context(e, "cannot switch the terminal to raw mode"))?;
        // From here on a failure must restore what was done.
        let entered = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .map_err(|e| with_context(e, "cannot enter the alternate screen"))
            .and_then(|()| {
                Terminal::new(CrosstermBackend::new(io::stdout()))
                    .map_err(|e| with_context(e, "cannot set up the terminal"))
            });
        match entered {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back: cooked mode, main screen, visible cursor.
/// Harmless when already restored.
pub fn restore() {
    // Raw mode first: it has the larger effect if the rest fails.
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// Restores the terminal before the default hook prints the panic, so the
/// message lands on the user's screen, not in the alternate one.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Termination signals, turned into a flag the app loop polls so that it
/// exits through its normal path (terminal restored, demo child reaped)
/// instead of dying mid-frame.
pub mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, LazyLock};

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    /// Set by a termination signal (signal-hook stores to it from the
    /// handler, which is async-signal-safe), by a hangup, or by [`request`].
    static REQUESTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

    /// Routes SIGTERM, SIGHUP and SIGINT to the flag (their default action,
    /// ending the process, no longer applies).
    pub fn install() {
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&REQUESTED)) {
                eprintln!("ringline-top: cannot catch signal {sig}: {e}");
            }
        }
    }

    /// True once a termination signal arrived (or the terminal hung up).
    pub fn requested() -> bool {
        REQUESTED.load(Ordering::Relaxed)
    }

    /// Asks the app loop to exit, as a termination signal does.
    pub fn request() {
        REQUESTED.store(true, Ordering::Relaxed);
    }
}

/// How long the app loop gets to exit after a signal or hangup before the
/// watchdog ends the process itself.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Starts a thread that notices the terminal going away (its pty closed:
/// `POLLHUP` on stdin) and turns it into an exit request, and that ends
/// the process if the app loop has not exited [`EXIT_GRACE`] after any
/// exit request.
///
/// Why: crossterm 0.29 spins forever inside `event::poll` once the tty is
/// gone (its read loop ignores EOF and `EIO`: crossterm issue #793), so the
/// loop would never see the request, and the process would burn a core as
/// an orphan. A demo child still dies with us (parent-death signal).
pub fn spawn_watchdog() {
    // SAFETY: isatty only inspects the descriptor.
    let watch_stdin = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    let spawned = std::thread::Builder::new()
        .name("ringline-top-watchdog".into())
        .spawn(move || {
            let mut requested_at: Option<Instant> = None;
            loop {
                let mut hung_up = false;
                if watch_stdin {
                    // No events asked: only hangup, error or an invalid
                    // descriptor wake the poll, never keystrokes.
                    let mut fd = libc::pollfd {
                        fd: libc::STDIN_FILENO,
                        events: 0,
                        revents: 0,
                    };
                    // SAFETY: one valid, initialised pollfd, count 1.
                    let n = unsafe { libc::poll(&mut fd, 1, 250) };
                    hung_up =
                        n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
                }
                if hung_up {
                    signals::request();
                }
                if signals::requested() {
                    let at = *requested_at.get_or_insert_with(Instant::now);
                    if at.elapsed() >= EXIT_GRACE {
                        restore();
                        std::process::exit(1);
                    }
                }
                if hung_up || !watch_stdin {
                    // poll returns at once on a hung-up descriptor.
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("ringline-top: cannot start the terminal watchdog: {e}");
    }
}
