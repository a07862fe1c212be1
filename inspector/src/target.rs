//! Which process to attach to: `--pid`, `--socket`, or — with neither —
//! the only live process in the socket directory; and `--list`, the table
//! of attachable processes with stale sockets marked.
//!
//! On Linux `--pid` also finds the socket of a process in another
//! namespace (a container) through `/proc/PID/root`
//! ([`ringline_schema::inspect::locate`]), and `--list` shows such
//! processes with both pids.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use ringline_schema::inspect::{self, Client, Endpoint};

/// How long `--list` waits for each live process's `hello`. A healthy
/// server answers in microseconds, but a loaded 2-core box running the
/// target's busy workers was seen to take over a second; a wedged server
/// is the only thing a longer wait costs, and it is reported as such.
const LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// A socket to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inspect socket.
    pub socket: PathBuf,
    /// How the screen names it (`pid 4242`, or the socket path).
    pub label: String,
    /// The process, when known (for the kernel view).
    pub pid: Option<u32>,
    /// Why the socket must not be used (it breaks the directory or socket
    /// rules, or a process in another namespace has none): only the kernel
    /// view is shown.
    pub refused: Option<String>,
}

impl Target {
    /// Process `pid`'s socket: in this user's socket directory, or on
    /// Linux where the process itself put it (another namespace).
    pub fn pid(pid: u32) -> Target {
        let mut target = Target {
            socket: inspect::socket_path(pid),
            label: format!("pid {pid}"),
            pid: Some(pid),
            refused: None,
        };
        locate(&mut target, pid);
        target
    }

    /// An explicit socket path.
    pub fn socket(path: PathBuf) -> Target {
        Target {
            label: path.display().to_string(),
            socket: path,
            pid: None,
            refused: None,
        }
    }
}

/// Points `target` at the socket process `pid` itself put, wherever that
/// is (another namespace), or refuses it.
#[cfg(target_os = "linux")]
fn locate(target: &mut Target, pid: u32) {
    match inspect::locate(pid) {
        Ok(found) => {
            if found.ns_pid != pid {
                target.label = format!("pid {pid} (pid {} in its namespace)", found.ns_pid);
            }
            target.socket = found.socket;
        }
        // Nothing there (yet): try our directory as always.
        Err(inspect::LocateError::NoProcess(_))
        | Err(inspect::LocateError::NoSocket { foreign: false, .. }) => {}
        Err(e) => target.refused = Some(e.to_string()),
    }
}

/// Only Linux has namespaces to look into: our directory it is.
#[cfg(not(target_os = "linux"))]
fn locate(_target: &mut Target, _pid: u32) {}

/// What to do without `--pid` or `--socket`.
#[derive(Debug)]
pub enum Choice {
    /// Exactly one live process: attach to it.
    Attach(Target),
    /// None or several: the list was printed.
    Listed,
}

/// Attaches to the only live process, else prints the list.
pub fn choose(out: &mut impl Write) -> io::Result<Choice> {
    let endpoints = inspect::list();
    // Processes of this socket directory only: one in a container is
    // attached to by --pid.
    let live: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|e| e.alive && e.ns_pid.is_none() && e.path.starts_with(inspect::socket_dir()))
        .collect();
    if let [only] = live.as_slice() {
        return Ok(Choice::Attach(Target::pid(only.pid)));
    }
    print_list(out, &endpoints)?;
    if live.is_empty() {
        writeln!(
            out,
            "no live ringline process to attach to; start one (try `ringline-top --demo`), or pass --pid or --socket"
        )?;
    } else {
        writeln!(
            out,
            "{} live processes: pick one with --pid PID",
            live.len()
        )?;
    }
    Ok(Choice::Listed)
}

/// Prints every socket of `endpoints` (from [`inspect::list`]) as a table,
/// asking each live process for its name, backend and workers.
pub fn print_list(out: &mut impl Write, endpoints: &[Endpoint]) -> io::Result<()> {
    writeln!(
        out,
        "inspect sockets in {}{}:",
        inspect::socket_dir().display(),
        if cfg!(target_os = "linux") {
            " and of processes in other namespaces"
        } else {
            ""
        }
    )?;
    if endpoints.is_empty() {
        return writeln!(out, "  (none)");
    }
    writeln!(
        out,
        "  {:<8} {:<6} {:<16} {:<9} {:<7} SOCKET",
        "PID", "STATE", "PROCESS", "BACKEND", "WORKERS"
    )?;
    for e in endpoints {
        let (state, process, backend, workers, note) = if e.alive {
            match describe(e) {
                Ok(h) => (
                    "live",
                    h.process,
                    h.backend,
                    h.workers.to_string(),
                    String::new(),
                ),
                Err(err) => (
                    "live",
                    "?".into(),
                    "?".into(),
                    "?".into(),
                    format!("  (not answering: {err})"),
                ),
            }
        } else {
            (
                "stale",
                "-".into(),
                "-".into(),
                "-".into(),
                "  (process gone; its socket was left behind)".into(),
            )
        };
        let note = match e.ns_pid {
            Some(inner) => format!("  (pid {inner} in its namespace){note}"),
            None => note,
        };
        writeln!(
            out,
            "  {:<8} {:<6} {:<16} {:<9} {:<7} {}{note}",
            e.pid,
            state,
            process,
            backend,
            workers,
            e.path.display()
        )?;
    }
    Ok(())
}

fn describe(e: &Endpoint) -> io::Result<ringline_schema::inspect::wire::Hello> {
    let mut client = Client::connect_path(&e.path)?;
    client.set_timeout(LIST_TIMEOUT)?;
    client.hello()
}
