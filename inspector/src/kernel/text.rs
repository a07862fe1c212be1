//! The kernel view as `--once` prints it without `--json`.

use std::fmt::Write as _;

use super::KernelView;

/// The text report: a title saying whose view this is, then rings,
/// threads and TCP sockets.
pub fn render(v: &KernelView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (pid {}): the KERNEL's view, from /proc (not the process's own account)",
        v.process, v.pid
    );
    if let Some(why) = &v.no_agent {
        let _ = writeln!(out, "no inspect agent: {why}");
    }
    let _ = writeln!(out, "\nio_uring instances ({}):", v.rings.len());
    if v.rings.is_empty() {
        let _ = writeln!(out, "  (none: this process has no io_uring fd)");
    } else {
        let _ = writeln!(
            out,
            "  {:<5} {:>6} {:>6} {:>8} {:>8} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8}",
            "FD",
            "SQ",
            "CQ",
            "SQEs",
            "CQEs",
            "POLL",
            "OVFL",
            "FILES",
            "BUFS",
            "SQTHR",
            "CPU",
            "SQ HEAD"
        );
        for r in &v.rings {
            match &r.state {
                None => {
                    let _ = writeln!(
                        out,
                        "  {:<5} (ring lock held: the kernel printed no counters)",
                        r.fd
                    );
                }
                Some(s) => {
                    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                    let _ = writeln!(
                        out,
                        "  {:<5} {:>6} {:>6} {:>8} {:>8} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8}",
                        r.fd,
                        s.sq_entries,
                        s.cq_entries,
                        s.sqes_pending,
                        s.cqes_pending,
                        s.poll_list.len(),
                        s.cq_overflow,
                        s.user_files,
                        s.user_bufs,
                        opt(s.sq_thread),
                        opt(s.sq_thread_cpu),
                        s.sq_head
                    );
                    if !s.poll_list.is_empty() {
                        let _ = writeln!(out, "        armed on poll: {}", summary(&s.poll_list));
                    }
                    if !s.pending_sqe_ops.is_empty() {
                        let _ =
                            writeln!(out, "        pending SQEs: {}", summary(&s.pending_sqe_ops));
                    }
                    if s.lists_skipped {
                        let _ = writeln!(
                            out,
                            "        (ring lock held: registered files and buffers not listed)"
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "\nthreads ({}):", v.threads.len());
    let _ = writeln!(
        out,
        "  {:<8} {:<16} {:<12} {:>10} {:>4} WCHAN",
        "TID", "NAME", "STATE", "CPU", "LAST"
    );
    for t in &v.threads {
        let _ = writeln!(
            out,
            "  {:<8} {:<16} {:<12} {:>10} {:>4} {}",
            t.tid,
            t.name,
            format!("{} {}", t.state, t.state_name),
            format!("{:.2}s", t.cpu_ms as f64 / 1000.0),
            t.last_cpu.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            t.wchan.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(out, "\ntcp sockets ({}):", v.tcp.len());
    if !v.tcp.is_empty() {
        let _ = writeln!(
            out,
            "  {:<5} {:<12} {:>9} {:>9} {:<24} REMOTE",
            "FD", "STATE", "SEND-Q", "RECV-Q", "LOCAL"
        );
    }
    for s in &v.tcp {
        let _ = writeln!(
            out,
            "  {:<5} {:<12} {:>9} {:>9} {:<24} {}",
            s.fd.map_or_else(|| "ring".to_owned(), |f| f.to_string()),
            s.state,
            s.send_q,
            s.recv_q,
            s.local,
            s.remote
        );
    }
    for n in &v.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    out
}

/// `["recv", "recv", "send"]` → `recv ×2, send`.
pub fn summary(ops: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for op in ops {
        match counts.iter_mut().find(|(o, _)| o == op) {
            Some((_, n)) => *n += 1,
            None => counts.push((op, 1)),
        }
    }
    counts
        .iter()
        .map(|(o, n)| {
            if *n == 1 {
                (*o).to_owned()
            } else {
                format!("{o} ×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::parse::{RingState, parse_fdinfo};
    use super::super::{FORMAT_VERSION, Ring, TcpSocket, Thread};
    use super::*;

    pub(crate) fn sample() -> KernelView {
        KernelView {
            format: "ringline-top/kernel",
            format_version: FORMAT_VERSION,
            source: "kernel",
            pid: 4242,
            process: "echo".into(),
            taken_at_unix_ns: 1,
            no_agent: Some("no inspect socket".into()),
            rings: vec![
                Ring {
                    fd: 5,
                    state: Some(RingState {
                        sq_entries: 256,
                        cq_entries: 512,
                        sqes_pending: 1,
                        cqes_pending: 3,
                        poll_list: vec!["recv".into(), "recv".into(), "send".into()],
                        ..RingState::default()
                    }),
                },
                parse_fdinfo(6, "pos:\t0\n"),
            ],
            threads: vec![Thread {
                tid: 4242,
                name: "ringline-w0".into(),
                state: "S".into(),
                state_name: "sleeping",
                wchan: Some("io_cqring_wait".into()),
                cpu_ms: 1500,
                last_cpu: Some(1),
            }],
            tcp: vec![TcpSocket {
                fd: Some(9),
                inode: 77,
                local: "127.0.0.1:7878".into(),
                remote: "127.0.0.1:5000".into(),
                state: "ESTABLISHED",
                send_q: 2_500_000,
                recv_q: 0,
            }],
            notes: vec![],
        }
    }

    #[test]
    fn the_text_names_its_source_and_shows_every_section() {
        let t = render(&sample());
        assert!(t.contains("KERNEL's view"), "{t}");
        assert!(t.contains("no inspect agent: no inspect socket"), "{t}");
        assert!(t.contains("armed on poll: recv ×2, send"), "{t}");
        assert!(t.contains("(ring lock held"), "{t}");
        assert!(t.contains("io_cqring_wait"), "{t}");
        assert!(t.contains("ESTABLISHED") && t.contains("2500000"), "{t}");
        assert_eq!(sample().pending(), (1, 3));
    }

    #[test]
    fn the_json_has_its_own_format() {
        let j = serde_json::to_value(sample()).unwrap();
        assert_eq!(j["format"], "ringline-top/kernel");
        assert_eq!(j["source"], "kernel");
        assert_eq!(j["rings"][0]["state"]["sq_entries"], 256);
        assert!(j["rings"][1]["state"].is_null());
        assert_eq!(j["tcp"][0]["send_q"], 2_500_000);
        assert_eq!(j["threads"][0]["wchan"], "io_cqring_wait");
    }
}
