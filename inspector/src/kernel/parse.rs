//! Parsers of the `/proc` texts the kernel view reads, as pure functions
//! of the text: an io_uring fd's `fdinfo`, a thread's `stat`, the
//! `net/tcp` and `net/tcp6` tables, and fd links.
//!
//! The io_uring `fdinfo` format (Linux `io_uring/fdinfo.c`): `SqMask`,
//! `SqHead`, `SqTail`, `CachedSqHead`, `CqMask`, `CqHead`, `CqTail`,
//! `CachedCqTail`, `SQEs` (then one line per pending SQE), `CQEs` (then one
//! line per pending CQE), `SqThread`, `SqThreadCpu`, (6.8+) `SqTotalTime`,
//! `SqWorkTime`, `UserFiles` (then one line per registered file), `UserBufs`
//! (then one per buffer), `PollList:` (then `  op=N, task_works=N` lines),
//! `CqOverflowList:` (then `  user_data=…, res=…, flags=…` lines), (6.9+)
//! `NAPI:`. The kernel prints it only when it can take the ring's lock
//! without waiting: since 6.x, a ring whose lock is held (a submission in
//! progress) shows no io_uring line at all; older kernels print the
//! counters and leave out the registered files and buffers.

// Read on Linux only; the parsers compile (and are tested) everywhere.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use serde::Serialize;

/// One io_uring instance as its `fdinfo` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ring {
    /// The fd of the ring in the process.
    pub fd: u32,
    /// The ring's counters; `None` when the kernel printed none (its lock
    /// was held while we read: try again).
    pub state: Option<RingState>,
}

/// The counters and lists of a ring's `fdinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RingState {
    /// Submission queue size (`SqMask + 1`).
    pub sq_entries: u32,
    /// `SqHead`: the kernel's consumer index of the SQ (as published).
    pub sq_head: u32,
    /// `SqTail`: the application's producer index of the SQ.
    pub sq_tail: u32,
    /// `CachedSqHead`: the kernel's own consumer index.
    pub cached_sq_head: u32,
    /// Completion queue size (`CqMask + 1`).
    pub cq_entries: u32,
    /// `CqHead`: the application's consumer index of the CQ.
    pub cq_head: u32,
    /// `CqTail`: the kernel's producer index of the CQ (as published).
    pub cq_tail: u32,
    /// `CachedCqTail`: the kernel's own producer index.
    pub cached_cq_tail: u32,
    /// `SQEs`: submitted by the application, not yet taken by the kernel.
    pub sqes_pending: u32,
    /// `CQEs`: completed by the kernel, not yet reaped by the application.
    pub cqes_pending: u32,
    /// The pending SQEs' opcodes, in order (as the kernel names them).
    pub pending_sqe_ops: Vec<String>,
    /// `SqThread`: the SQPOLL thread's pid, when the ring has one.
    pub sq_thread: Option<i64>,
    /// `SqThreadCpu`: the CPU it last ran on.
    pub sq_thread_cpu: Option<i64>,
    /// `UserFiles`: registered (fixed) file slots.
    pub user_files: u32,
    /// The registered files the kernel listed (`socket:[123]`, paths).
    pub files: Vec<String>,
    /// True when `UserFiles`/`UserBufs` count entries that the kernel did
    /// not list (an older kernel, ring lock held).
    pub lists_skipped: bool,
    /// `UserBufs`: registered buffers.
    pub user_bufs: u32,
    /// Requests armed on poll (`PollList`), by opcode name: ops waiting
    /// for their socket or pipe to become ready.
    pub poll_list: Vec<String>,
    /// Completions in the CQ overflow list (`CqOverflowList`): the CQ was
    /// full and the application has not caught up.
    pub cq_overflow: u32,
}

/// Parses one io_uring `fdinfo`.
pub fn parse_fdinfo(fd: u32, text: &str) -> Ring {
    let mut st = RingState::default();
    let mut seen_header = false;
    let mut section = "";
    let mut files_listed = 0u32;
    let mut bufs_listed = 0u32;
    for line in text.lines() {
        // List items are indented (`%5u: …`), but an index of five digits
        // fills the width.
        let indexed = line.split_once(':').is_some_and(|(k, _)| {
            let k = k.trim();
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())
        });
        if line.starts_with(' ') || indexed {
            let item = line.trim();
            match section {
                "SQEs" => {
                    if let Some(op) = item
                        .split_once("opcode:")
                        .and_then(|(_, r)| r.split(',').next())
                    {
                        st.pending_sqe_ops.push(op.trim().to_owned());
                    }
                }
                "UserFiles" => {
                    files_listed += 1;
                    if let Some((_, f)) = item.split_once(": ") {
                        st.files.push(f.trim().to_owned());
                    }
                }
                "UserBufs" => bufs_listed += 1,
                "PollList" => {
                    if let Some(op) = item
                        .strip_prefix("op=")
                        .and_then(|r| r.split(',').next())
                        .and_then(|n| n.trim().parse::<u8>().ok())
                    {
                        st.poll_list.push(opcode_name(op));
                    }
                }
                "CqOverflowList" if item.starts_with("user_data=") => st.cq_overflow += 1,
                _ => {}
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let num = || -> u32 {
            match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap_or(0),
                None => value.parse().unwrap_or(0),
            }
        };
        let signed = || value.parse::<i64>().ok().filter(|&v| v >= 0);
        section = key;
        match key {
            "SqMask" => {
                seen_header = true;
                st.sq_entries = num().wrapping_add(1);
            }
            "SqHead" => st.sq_head = num(),
            "SqTail" => st.sq_tail = num(),
            "CachedSqHead" => st.cached_sq_head = num(),
            "CqMask" => st.cq_entries = num().wrapping_add(1),
            "CqHead" => st.cq_head = num(),
            "CqTail" => st.cq_tail = num(),
            "CachedCqTail" => st.cached_cq_tail = num(),
            "SQEs" => st.sqes_pending = num(),
            "CQEs" => st.cqes_pending = num(),
            "SqThread" => st.sq_thread = signed(),
            "SqThreadCpu" => st.sq_thread_cpu = signed(),
            "UserFiles" => st.user_files = num(),
            "UserBufs" => st.user_bufs = num(),
            _ => {}
        }
    }
    // Empty file slots are not listed by newer kernels; buffers always are.
    st.lists_skipped = (st.user_files > 0 && files_listed == 0)
        || (st.user_bufs > 0 && bufs_listed < st.user_bufs);
    Ring {
        fd,
        state: seen_header.then_some(st),
    }
}

/// The name of io_uring opcode `op` (`IORING_OP_*` less the prefix,
/// lower case), or `op N` for one this table does not know.
pub fn opcode_name(op: u8) -> String {
    const NAMES: [&str; 59] = [
        "nop",
        "readv",
        "writev",
        "fsync",
        "read_fixed",
        "write_fixed",
        "poll_add",
        "poll_remove",
        "sync_file_range",
        "sendmsg",
        "recvmsg",
        "timeout",
        "timeout_remove",
        "accept",
        "async_cancel",
        "link_timeout",
        "connect",
        "fallocate",
        "openat",
        "close",
        "files_update",
        "statx",
        "read",
        "write",
        "fadvise",
        "madvise",
        "send",
        "recv",
        "openat2",
        "epoll_ctl",
        "splice",
        "provide_buffers",
        "remove_buffers",
        "tee",
        "shutdown",
        "renameat",
        "unlinkat",
        "mkdirat",
        "symlinkat",
        "linkat",
        "msg_ring",
        "fsetxattr",
        "setxattr",
        "fgetxattr",
        "getxattr",
        "socket",
        "uring_cmd",
        "send_zc",
        "sendmsg_zc",
        "read_multishot",
        "waitid",
        "futex_wait",
        "futex_wake",
        "futex_waitv",
        "fixed_fd_install",
        "ftruncate",
        "bind",
        "listen",
        "recv_zc",
    ];
    NAMES
        .get(usize::from(op))
        .map_or_else(|| format!("op {op}"), |n| (*n).to_owned())
}

/// One thread as its `stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStat {
    /// `comm`: the thread's name.
    pub name: String,
    /// The state letter (`R`, `S`, `D`, …).
    pub state: char,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// The CPU it last ran on.
    pub last_cpu: Option<u32>,
}

/// Parses a `/proc/PID/task/TID/stat` line (the name may hold spaces and
/// parentheses: it ends at the last `)`).
pub fn parse_task_stat(text: &str) -> Option<TaskStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    // Fields from 3 (state) on.
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let state = field(3)?.chars().next()?;
    let utime: u64 = field(14)?.parse().ok()?;
    let stime: u64 = field(15)?.parse().ok()?;
    let last_cpu = field(39).and_then(|c| c.parse().ok());
    Some(TaskStat {
        name,
        state,
        cpu_ticks: utime + stime,
        last_cpu,
    })
}

/// What a state letter of `stat` means.
pub fn state_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'Z' => "zombie",
        'X' => "dead",
        'I' => "idle",
        'P' => "parked",
        'W' => "waking",
        'K' => "wakekill",
        _ => "?",
    }
}

/// A thread's `wchan`: `None` for `0` or empty (running, or hidden from
/// us).
pub fn parse_wchan(text: &str) -> Option<String> {
    let w = text.trim();
    (!w.is_empty() && w != "0").then(|| w.to_owned())
}

/// One row of `net/tcp` or `net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    /// Local address, `ip:port` (`[ip]:port` for IPv6).
    pub local: String,
    /// Remote address.
    pub remote: String,
    /// The TCP state's name (`ESTABLISHED`, `LISTEN`, …).
    pub state: &'static str,
    /// `tx_queue`: Send-Q, bytes sent and not acknowledged (for `LISTEN`,
    /// the backlog limit).
    pub send_q: u64,
    /// `rx_queue`: Recv-Q, bytes received and not read (for `LISTEN`,
    /// connections waiting for `accept`).
    pub recv_q: u64,
    /// The socket's inode (`socket:[inode]` among the process's fds).
    pub inode: u64,
}

/// Parses a `net/tcp` (or `tcp6`, by the address width) table.
pub fn parse_tcp(text: &str) -> Vec<TcpRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tx, rx) = f.get(4)?.split_once(':')?;
            Some(TcpRow {
                local: address(f.get(1)?)?,
                remote: address(f.get(2)?)?,
                state: tcp_state(u8::from_str_radix(f.get(3)?, 16).ok()?),
                send_q: u64::from_str_radix(tx, 16).ok()?,
                recv_q: u64::from_str_radix(rx, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:1F90` → `127.0.0.1:8080`; a 32-digit IPv6 address → `[::1]:…`.
/// The address is in the kernel's byte order, 32-bit words at a time
/// (little-endian on the machines this runs on: x86-64, aarch64).
fn address(text: &str) -> Option<String> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<u32>> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let bytes: Vec<u8> = words?
        .into_iter()
        .flat_map(|w| {
            if cfg!(target_endian = "little") {
                w.to_le_bytes()
            } else {
                w.to_be_bytes()
            }
        })
        .collect();
    match bytes.len() {
        4 => {
            let ip = std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            Some(format!("{ip}:{port}"))
        }
        16 => {
            let raw: [u8; 16] = bytes.try_into().ok()?;
            Some(format!("[{}]:{port}", std::net::Ipv6Addr::from(raw)))
        }
        _ => None,
    }
}

/// The name of TCP state `n` (`include/net/tcp_states.h`).
fn tcp_state(n: u8) -> &'static str {
    match n {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "?",
    }
}

/// The inode of an fd link `socket:[1234]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// True for the fd link of an io_uring instance.
pub fn is_io_uring(link: &str) -> bool {
    link == "anon_inode:[io_uring]"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fio 3.33, `--ioengine=io_uring --iodepth=16`, Linux 6.18, between
    /// two submissions.
    const FIO_FDINFO: &str = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1822371\nSqMask:\t0xf\nSqHead:\t61832\nSqTail:\t61832\nCachedSqHead:\t61832\nCqMask:\t0xf\nCqHead:\t61816\nCqTail:\t61816\nCachedCqTail:\t61816\nSQEs:\t0\nCQEs:\t0\nSqThread:\t-1\nSqThreadCpu:\t-1\nSqTotalTime:\t0\nSqWorkTime:\t0\nUserFiles:\t0\nUserBufs:\t0\nPollList:\nCqOverflowList:\nNAPI:\tdisabled\n";

    /// The same layout with work in every list (the line formats of
    /// `io_uring/fdinfo.c`).
    const BUSY_FDINFO: &str = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1822371\nSqMask:\t0xff\nSqHead:\t100\nSqTail:\t102\nCachedSqHead:\t100\nCqMask:\t0x1ff\nCqHead:\t90\nCqTail:\t93\nCachedCqTail:\t93\nSQEs:\t2\n12345: opcode:SEND, fd:5, flags:1, off:0, addr:0x7f00, rw_flags:0x4000, buf_index:0 user_data:77\n    4: opcode:READ, fd:7, flags:0, off:0, addr:0x7f10, rw_flags:0x0, buf_index:0 user_data:78\nCQEs:\t3\n   90: user_data:1, res:5, flag:0\n   91: user_data:2, res:5, flag:0\n   92: user_data:3, res:-11, flag:0\nSqThread:\t4242\nSqThreadCpu:\t1\nSqTotalTime:\t10\nSqWorkTime:\t5\nUserFiles:\t4\n    0: socket:[1853576]\n    2: /tmp/data\nUserBufs:\t1\n    0: 0x7f0000/4096\nPollList:\n  op=27, task_works=0\n  op=26, task_works=0\n  op=99, task_works=1\nCqOverflowList:\n  user_data=5, res=0, flags=2\nNAPI:\tdisabled\n";

    #[test]
    fn an_idle_fio_ring() {
        let r = parse_fdinfo(6, FIO_FDINFO);
        let st = r.state.unwrap();
        assert_eq!(st.sq_entries, 16);
        assert_eq!(st.cq_entries, 16);
        assert_eq!(
            (st.sq_head, st.sq_tail, st.cached_sq_head),
            (61832, 61832, 61832)
        );
        assert_eq!(
            (st.cq_head, st.cq_tail, st.cached_cq_tail),
            (61816, 61816, 61816)
        );
        assert_eq!((st.sqes_pending, st.cqes_pending), (0, 0));
        assert_eq!((st.sq_thread, st.sq_thread_cpu), (None, None));
        assert_eq!((st.user_files, st.user_bufs), (0, 0));
        assert!(!st.lists_skipped);
        assert!(st.poll_list.is_empty());
        assert_eq!(st.cq_overflow, 0);
    }

    #[test]
    fn a_busy_ring_with_every_list() {
        let st = parse_fdinfo(9, BUSY_FDINFO).state.unwrap();
        assert_eq!((st.sq_entries, st.cq_entries), (256, 512));
        assert_eq!((st.sqes_pending, st.cqes_pending), (2, 3));
        assert_eq!(st.pending_sqe_ops, ["SEND", "READ"]);
        assert_eq!((st.sq_thread, st.sq_thread_cpu), (Some(4242), Some(1)));
        assert_eq!(st.user_files, 4);
        assert_eq!(st.files, ["socket:[1853576]", "/tmp/data"]);
        assert_eq!(st.user_bufs, 1);
        assert!(!st.lists_skipped);
        assert_eq!(st.poll_list, ["recv", "send", "op 99"]);
        assert_eq!(st.cq_overflow, 1);
    }

    #[test]
    fn a_ring_whose_lock_was_held() {
        // Linux 6.x prints no io_uring line at all then.
        let r = parse_fdinfo(3, "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1822371\n");
        assert_eq!(r, Ring { fd: 3, state: None });
        // Older kernels print the counters but skip the lists.
        let old = BUSY_FDINFO
            .replace("    0: socket:[1853576]\n    2: /tmp/data\n", "")
            .replace("    0: 0x7f0000/4096\n", "");
        assert!(parse_fdinfo(3, &old).state.unwrap().lists_skipped);
    }

    #[test]
    fn thread_stats() {
        let s = "23179 (bash) S 23177 23179 23179 0 -1 4194560 10173 977237 0 243 1 8 1840 480 20 0 1 0 1839280 5255168 993 18446744073709551615 93963887128576 93963887917981 140734673882384 0 0 0 65536 4 1132560123 1 0 0 17 0 0 0 0 0 0 93963888151280 93963888199524 93963988054016 140734673886077 140734673886092 140734673886092 140734673887210 0";
        let t = parse_task_stat(s).unwrap();
        assert_eq!(t.name, "bash");
        assert_eq!(t.state, 'S');
        assert_eq!(t.cpu_ticks, 9);
        assert_eq!(t.last_cpu, Some(0));
        // A name with a space and a parenthesis.
        let odd = s.replace("(bash)", "(a) b (c)");
        assert_eq!(parse_task_stat(&odd).unwrap().name, "a) b (c");
        assert_eq!(parse_task_stat("12 (x"), None);
        assert_eq!(state_name('D'), "disk sleep");
        assert_eq!(parse_wchan("0"), None);
        assert_eq!(parse_wchan(""), None);
        assert_eq!(
            parse_wchan("io_cqring_wait"),
            Some("io_cqring_wait".to_owned())
        );
    }

    #[test]
    fn tcp_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   2: 0100007F:A607 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1853574 1 00000000d046a990 100 0 0 10 0\n 526: 0100007F:A607 0100007F:A06C 01 00000000:00000005 00:00000000 00000000     0        0 1853576 1 000000003dc548e8 20 4 30 10 -1\n";
        let rows = parse_tcp(v4);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:42503");
        assert_eq!(rows[0].remote, "0.0.0.0:0");
        assert_eq!(rows[0].state, "LISTEN");
        assert_eq!(
            rows[1],
            TcpRow {
                local: "127.0.0.1:42503".into(),
                remote: "127.0.0.1:41068".into(),
                state: "ESTABLISHED",
                send_q: 0,
                recv_q: 5,
                inode: 1853576,
            }
        );
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   1: 00000000000000000000000001000000:CA22 00000000000000000000000001000000:EA9B 01 0039B600:00000000 04:0000000C 00000000     0        0 1852965 2 00000000f27b11cd 20 0 0 16 -1\n";
        let rows = parse_tcp(v6);
        assert_eq!(rows[0].local, "[::1]:51746");
        assert_eq!(rows[0].remote, "[::1]:60059");
        assert_eq!(rows[0].send_q, 0x39B600);
        assert_eq!(rows[0].recv_q, 0);
        assert!(parse_tcp("garbage\nnot a row\n").is_empty());
    }

    #[test]
    fn fd_links() {
        assert_eq!(socket_inode("socket:[1853576]"), Some(1853576));
        assert_eq!(socket_inode("pipe:[1]"), None);
        assert!(is_io_uring("anon_inode:[io_uring]"));
        assert!(!is_io_uring("anon_inode:[eventfd]"));
    }
}
