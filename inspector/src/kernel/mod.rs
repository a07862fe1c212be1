//! The kernel's view of a process, read from `/proc` without its help:
//! every io_uring instance (`fdinfo` of each `anon_inode:[io_uring]` fd),
//! every thread (name, state, wait channel, CPU time) and every TCP
//! connection of its fds with its Send-Q and Recv-Q. It works on any
//! process we may inspect (`ptrace` read access: the same user, or root):
//! one with inspection off, an older ringline, fio, any io_uring program —
//! and beside a live agent as one more view.
//!
//! Parsing is in [`parse`] (pure functions of the text); reading in
//! [`read`] (Linux only); `--once` output in [`text`] and as JSON
//! ([`KernelView`] itself, `format: "ringline-top/kernel"`).

pub mod feed;
pub mod parse;
pub mod text;

use std::time::Duration;

use serde::Serialize;

pub use parse::Ring;

use crate::target::Target;

/// Version of the `--once --json` kernel document; bumped on any
/// incompatible change (fields may be added without a bump).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub const FORMAT_VERSION: u32 = 1;

/// Everything the kernel view shows, as `--once --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelView {
    /// Always `ringline-top/kernel`.
    pub format: &'static str,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Always `kernel`: what this document is the view of (not the
    /// process's own account).
    pub source: &'static str,
    /// The process.
    pub pid: u32,
    /// Its name (`comm`).
    pub process: String,
    /// When it was read, ns since 1970.
    pub taken_at_unix_ns: u64,
    /// Why this and not the agent's view (no socket, no answer); `None`
    /// when shown beside a live agent.
    pub no_agent: Option<String>,
    /// Every io_uring instance, by fd.
    pub rings: Vec<Ring>,
    /// Every thread, by tid.
    pub threads: Vec<Thread>,
    /// TCP sockets among its fds (and its rings' registered files), IPv4
    /// then IPv6.
    pub tcp: Vec<TcpSocket>,
    /// What could not be read, one line each.
    pub notes: Vec<String>,
}

/// One thread of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thread {
    /// Its id.
    pub tid: u32,
    /// Its name.
    pub name: String,
    /// The state letter (`R`, `S`, `D`, …).
    pub state: String,
    /// What it means (`running`, `sleeping`, `disk sleep`, …).
    pub state_name: &'static str,
    /// The kernel function it sleeps in (`io_cqring_wait`,
    /// `do_epoll_wait`, `pipe_read`, …); `None` when running or hidden.
    pub wchan: Option<String>,
    /// User plus system CPU time, ms.
    pub cpu_ms: u64,
    /// The CPU it last ran on.
    pub last_cpu: Option<u32>,
}

/// One TCP socket of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpSocket {
    /// Its fd, when it has one (not for a socket only in a ring's file
    /// table).
    pub fd: Option<u32>,
    /// The socket's inode.
    pub inode: u64,
    /// `ip:port` here.
    pub local: String,
    /// `ip:port` of the peer.
    pub remote: String,
    /// `ESTABLISHED`, `LISTEN`, …
    pub state: &'static str,
    /// Bytes sent and not acknowledged by the peer (a peer that stopped
    /// reading keeps this up); for `LISTEN`, the backlog limit.
    pub send_q: u64,
    /// Bytes received and not read by the process; for `LISTEN`,
    /// connections waiting for `accept`.
    pub recv_q: u64,
}

impl KernelView {
    /// Pending SQEs and CQEs summed over the rings the kernel printed.
    pub fn pending(&self) -> (u64, u64) {
        self.rings
            .iter()
            .filter_map(|r| r.state.as_ref())
            .fold((0, 0), |(s, c), st| {
                (
                    s + u64::from(st.sqes_pending),
                    c + u64::from(st.cqes_pending),
                )
            })
    }
}

/// Reads the kernel's view of `pid`; `no_agent` says why it is shown
/// alone (`None` beside a live agent).
#[cfg(target_os = "linux")]
pub fn read(pid: u32, no_agent: Option<String>) -> Result<KernelView, String> {
    linux::read(pid, no_agent)
}

/// Reads the kernel's view of `pid`: only Linux has one to read.
#[cfg(not(target_os = "linux"))]
pub fn read(pid: u32, _no_agent: Option<String>) -> Result<KernelView, String> {
    Err(format!(
        "no kernel view of pid {pid}: it is read from Linux's /proc"
    ))
}

/// True when `pid` is a process whose `/proc` we can read (the kernel view
/// has something to show).
pub fn available(pid: u32) -> bool {
    cfg!(target_os = "linux") && std::fs::read_dir(format!("/proc/{pid}/task")).is_ok()
}

/// `--once`: the agent's report, or — when the target has no usable
/// socket or it does not answer — the kernel's view of the process, saying
/// why. Errors only when neither can be had.
pub fn once_or_kernel(
    target: &Target,
    json: bool,
    stuck_after: Duration,
) -> Result<String, String> {
    let why = match &target.refused {
        Some(refused) => refused.clone(),
        None => match crate::once::run(target, json, stuck_after) {
            Ok(out) => return Ok(out),
            Err(e) => e,
        },
    };
    let Some(pid) = target.pid.filter(|&p| available(p)) else {
        return Err(why);
    };
    let view = read(pid, Some(why))?;
    if json {
        serde_json::to_string_pretty(&view)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot encode the kernel view: {e}"))
    } else {
        Ok(text::render(&view))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;
    use std::path::Path;

    use super::parse::{self, TcpRow};
    use super::{FORMAT_VERSION, KernelView, TcpSocket, Thread};

    pub(super) fn read(pid: u32, no_agent: Option<String>) -> Result<KernelView, String> {
        let proc = Path::new("/proc").join(pid.to_string());
        let process = std::fs::read_to_string(proc.join("comm"))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("no process with pid {pid}"),
                _ => format!("cannot read /proc/{pid}: {e}"),
            })?
            .trim_end()
            .to_owned();
        let mut notes = Vec::new();
        let taken_at_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);

        // The fds: rings and sockets.
        let mut rings = Vec::new();
        let mut sockets: HashMap<u64, Option<u32>> = HashMap::new();
        match std::fs::read_dir(proc.join("fd")) {
            Ok(entries) => {
                let mut fds: Vec<(u32, String)> = entries
                    .flatten()
                    .filter_map(|e| {
                        let fd = e.file_name().to_str()?.parse().ok()?;
                        let link = std::fs::read_link(e.path()).ok()?;
                        Some((fd, link.to_string_lossy().into_owned()))
                    })
                    .collect();
                fds.sort();
                for (fd, link) in fds {
                    if let Some(inode) = parse::socket_inode(&link) {
                        sockets.insert(inode, Some(fd));
                    } else if parse::is_io_uring(&link) {
                        match std::fs::read_to_string(proc.join("fdinfo").join(fd.to_string())) {
                            Ok(text) => rings.push(parse::parse_fdinfo(fd, &text)),
                            // Closed in between.
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => notes.push(format!("fdinfo of ring fd {fd}: {e}")),
                        }
                    }
                }
            }
            Err(e) => notes.push(format!("cannot list its fds (/proc/{pid}/fd): {e}")),
        }
        // Sockets only in a ring's file table (their fd closed).
        for st in rings.iter().filter_map(|r| r.state.as_ref()) {
            for f in &st.files {
                if let Some(inode) = parse::socket_inode(f) {
                    sockets.entry(inode).or_insert(None);
                }
            }
        }
        if rings.iter().any(|r| r.state.is_none()) {
            notes.push(
                "a ring's lock was held while the kernel printed its fdinfo, so it showed no counters; the next refresh likely will".into(),
            );
        }

        // Threads.
        let ticks = clock_ticks();
        let mut threads = Vec::new();
        match std::fs::read_dir(proc.join("task")) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let Some(tid) = e.file_name().to_str().and_then(|t| t.parse().ok()) else {
                        continue;
                    };
                    // A thread that exited in between is left out.
                    let Some(stat) = std::fs::read_to_string(e.path().join("stat"))
                        .ok()
                        .and_then(|s| parse::parse_task_stat(&s))
                    else {
                        continue;
                    };
                    let wchan = std::fs::read_to_string(e.path().join("wchan"))
                        .ok()
                        .and_then(|w| parse::parse_wchan(&w));
                    threads.push(Thread {
                        tid,
                        name: stat.name,
                        state: stat.state.to_string(),
                        state_name: parse::state_name(stat.state),
                        wchan,
                        cpu_ms: stat.cpu_ticks * 1000 / ticks,
                        last_cpu: stat.last_cpu,
                    });
                }
                threads.sort_by_key(|t| t.tid);
            }
            Err(e) => notes.push(format!("cannot list its threads: {e}")),
        }

        // TCP, in the process's own network namespace.
        let mut tcp = Vec::new();
        for table in ["tcp", "tcp6"] {
            match std::fs::read_to_string(proc.join("net").join(table)) {
                Ok(text) => {
                    for row in parse::parse_tcp(&text) {
                        if let Some(&fd) = sockets.get(&row.inode) {
                            tcp.push(socket(fd, row));
                        }
                    }
                }
                // No IPv6 in this kernel.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => notes.push(format!("cannot read /proc/{pid}/net/{table}: {e}")),
            }
        }
        Ok(KernelView {
            format: "ringline-top/kernel",
            format_version: FORMAT_VERSION,
            source: "kernel",
            pid,
            process,
            taken_at_unix_ns,
            no_agent,
            rings,
            threads,
            tcp,
            notes,
        })
    }

    fn socket(fd: Option<u32>, row: TcpRow) -> TcpSocket {
        TcpSocket {
            fd,
            inode: row.inode,
            local: row.local,
            remote: row.remote,
            state: row.state,
            send_q: row.send_q,
            recv_q: row.recv_q,
        }
    }

    /// Clock ticks per second (`stat`'s CPU times are in them).
    fn clock_ticks() -> u64 {
        // SAFETY: sysconf reads a constant of the system; no memory of ours
        // is involved.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_reads_with_threads_and_a_tcp_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let v = read(std::process::id(), Some("test".into())).unwrap();
        assert_eq!(v.format, "ringline-top/kernel");
        assert_eq!(v.pid, std::process::id());
        assert!(v.threads.iter().any(|t| t.tid == std::process::id()));
        let ours = v
            .tcp
            .iter()
            .find(|s| s.local == format!("127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("{:?}", v.tcp));
        assert_eq!(ours.state, "LISTEN");
        assert!(ours.fd.is_some());
        // Another process's sockets are not ours: no row of pid 1's
        // listeners unless we hold them.
        assert!(v.tcp.iter().all(|s| s.fd.is_some()));
        assert!(read(4_194_999, None).unwrap_err().contains("no process"));
    }
}
