//! `--demo`: the demo workload (`runtime/examples/demo.rs`: echo traffic,
//! file I/O, one stuck read, a slowly filling pool) as a child process
//! with a private inspect directory, killed and reaped when we exit.
//!
//! The binary is looked up next to our own (`target/<profile>/examples/demo`,
//! where `cargo build --example demo` puts it); failing that, it is built
//! and run with `cargo run --release -p ringline --example demo`. Its
//! stderr goes to ours until the TUI starts, everything else to `demo.log`
//! in its private directory (removed with it).
//!
//! Cleanup: [`DemoChild`]'s `Drop` sends SIGTERM (the demo removes its
//! socket), waits, then SIGKILLs and reaps; that runs on normal exit, on
//! errors and on unwinding panics. A termination signal to us reaches it
//! through the app loop; if we die without unwinding (SIGKILL), the
//! kernel's parent-death signal terminates it.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::terminal::signals;

/// How long the demo gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// How long to wait for the socket once the pid is known.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

/// The running demo.
pub struct DemoChild {
    child: Child,
    /// Its pid (as it printed it).
    pub pid: u32,
    /// Its inspect socket.
    pub socket: PathBuf,
    dir: PathBuf,
    quiet: Arc<AtomicBool>,
}

impl DemoChild {
    /// Sends the child's output to `demo.log` from now on (the TUI owns
    /// the terminal).
    pub fn quiet(&self) {
        self.quiet.store(true, Ordering::Relaxed);
    }
}

impl Drop for DemoChild {
    fn drop(&mut self) {
        let id = self.child.id();
        for pid in [id, self.pid] {
            if let Ok(pid) = i32::try_from(pid) {
                // SAFETY: kill only sends a signal; `pid` is our child (or
                // the pid it reported, the same process after cargo's exec).
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            if self.pid == id {
                break;
            }
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Starts the demo and waits until its socket exists.
pub fn start() -> Result<DemoChild, String> {
    let dir = std::env::temp_dir().join(format!("ringline-top-demo-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create the demo's directory {}: {e}", dir.display()))?;
    let mut command = demo_command()?;
    command
        .env("RINGLINE_INSPECT_DIR", &dir)
        .env_remove("RINGLINE_INSPECT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: getpid is async-signal-safe and touches no memory.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            // Die with us even if we are SIGKILLed; the signal survives
            // cargo's exec into the demo.
            // (Linux only: elsewhere the demo outlives a SIGKILLed parent.)
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // We died before prctl: nobody will reap this child.
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the demo ({command:?}): {e}"))?;
    let quiet = Arc::new(AtomicBool::new(false));
    let log = dir.join("demo.log");
    let (pid_tx, pid_rx) = mpsc::channel();
    // Its stdout (pid, socket, "watch it with --pid", which would not find
    // the private directory) only feeds the pid and the log; its stderr
    // (cargo's build progress, errors) shows until the TUI starts.
    if let Some(out) = child.stdout.take() {
        forward(
            out,
            Arc::new(AtomicBool::new(true)),
            log.clone(),
            Some(pid_tx),
        );
    }
    if let Some(err) = child.stderr.take() {
        forward(err, quiet.clone(), log, None);
    }
    let mut demo = DemoChild {
        pid: child.id(),
        child,
        socket: PathBuf::new(),
        dir,
        quiet,
    };
    demo.pid = wait_for(&mut demo, "print its pid", None, || pid_rx.try_recv().ok())?;
    demo.socket = demo.dir.join(format!("{}.sock", demo.pid));
    let socket = demo.socket.clone();
    wait_for(
        &mut demo,
        "open its inspect socket",
        Some(SOCKET_WAIT),
        || socket.exists().then_some(()),
    )?;
    Ok(demo)
}

/// Polls `ready` until it gives a value, the child exits, a termination
/// signal arrives, or `limit` passes.
fn wait_for<T>(
    demo: &mut DemoChild,
    what: &str,
    limit: Option<Duration>,
    mut ready: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        if let Ok(Some(status)) = demo.child.try_wait() {
            return Err(format!(
                "the demo exited ({status}) before it could {what}; its errors are above"
            ));
        }
        if signals::requested() {
            return Err("interrupted while starting the demo".into());
        }
        if limit.is_some_and(|l| start.elapsed() > l) {
            return Err(format!(
                "the demo did not {what} within {:?}",
                limit.unwrap_or_default()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The command that runs the demo: the binary next to ours, else cargo.
fn demo_command() -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    if let Some(bin) = exe.parent().map(|d| d.join("examples").join("demo"))
        && bin.is_file()
    {
        return Ok(Command::new(bin));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["run", "--release", "-p", "ringline", "--example", "demo"]);
    // The workspace this binary was built from, when it is still there;
    // otherwise cargo looks from the current directory.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if workspace.join("Cargo.toml").is_file() {
        command.current_dir(workspace);
    }
    eprintln!(
        "ringline-top: no demo binary next to {}; building and running it with \
         `cargo run --release -p ringline --example demo` (the first build takes a minute)…",
        exe.display()
    );
    Ok(command)
}

/// Copies the child's `stream` line by line to our stderr, or to `log`
/// once `quiet`; hands the pid from the demo's `demo: pid N …` line to
/// `pid`.
fn forward(
    stream: impl Read + Send + 'static,
    quiet: Arc<AtomicBool>,
    log: PathBuf,
    pid: Option<mpsc::Sender<u32>>,
) {
    let spawned = thread::Builder::new()
        .name("ringline-top-demo-output".into())
        .spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &pid
                    && let Some(n) = parse_pid(&line)
                {
                    let _ = tx.send(n);
                }
                if quiet.load(Ordering::Relaxed) {
                    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&log) {
                        let _ = writeln!(f, "{line}");
                    }
                } else {
                    eprintln!("{line}");
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("ringline-top: cannot read the demo's output: {e}");
    }
}

/// The pid in the demo's `demo: pid 4242 serving echo on …` line.
fn parse_pid(line: &str) -> Option<u32> {
    line.strip_prefix("demo: pid ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pid_line() {
        assert_eq!(
            super::parse_pid("demo: pid 2358 serving echo on 127.0.0.1:38611"),
            Some(2358)
        );
        assert_eq!(
            super::parse_pid("demo: inspect socket /tmp/x/2358.sock"),
            None
        );
    }
}
