//! The echo comparison matrix: which servers, message sizes, connection
//! counts and worker counts, and how a command line picks a subset.
//!
//! The issue's matrix is 64 B and 4 KiB × 1, 16 and 128 connections with
//! one worker, plus two workers at 128 connections. Every cell compares
//! ringline with each other server (tokio multi-thread only where there is
//! more than one worker: with one worker it is current-thread plus a
//! cross-thread hand-off).

use std::fmt;

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// This workspace's `runtime/examples/echo_server` on io_uring.
    Ringline,
    /// The same server on the mio backend (`RINGLINE_BACKEND=mio`).
    RinglineMio,
    /// `tokio-echo --flavor current-thread`.
    Tokio,
    /// `tokio-echo --flavor multi-thread`.
    TokioMt,
    /// The published ringline 0.1.2 (`bench/ringline-0.1.2-echo`).
    Ringline012,
    /// `bench/raw-uring-echo`, the hand-written ceiling.
    RawUring,
}

impl ServerKind {
    /// Every server, in report order.
    pub const ALL: [ServerKind; 6] = [
        ServerKind::Ringline,
        ServerKind::RinglineMio,
        ServerKind::Tokio,
        ServerKind::TokioMt,
        ServerKind::Ringline012,
        ServerKind::RawUring,
    ];

    /// The name used on the command line, in output lines and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Ringline => "ringline",
            ServerKind::RinglineMio => "ringline-mio",
            ServerKind::Tokio => "tokio",
            ServerKind::TokioMt => "tokio-mt",
            ServerKind::Ringline012 => "ringline-0.1.2",
            ServerKind::RawUring => "raw-uring",
        }
    }

    /// Parses a name or one of its short aliases.
    pub fn parse(name: &str) -> Result<ServerKind, String> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "ringline" => Ok(ServerKind::Ringline),
            "ringline-mio" | "mio" => Ok(ServerKind::RinglineMio),
            "tokio" | "tokio-ct" | "tokio-current-thread" => Ok(ServerKind::Tokio),
            "tokio-mt" | "tokio-multi-thread" => Ok(ServerKind::TokioMt),
            "ringline-0.1.2" | "0.1.2" | "ringline-012" => Ok(ServerKind::Ringline012),
            "raw-uring" | "raw" | "raw-io-uring" => Ok(ServerKind::RawUring),
            _ => Err(format!(
                "unknown server {name:?}: expected one of {}",
                ServerKind::ALL.map(ServerKind::as_str).join(", ")
            )),
        }
    }

    /// Whether this server belongs in a cell with `workers` workers, as an
    /// opponent of ringline. `ringline` itself is an A/A control.
    fn fits(self, workers: usize) -> bool {
        self != ServerKind::TokioMt || workers > 1
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell: a message size, a connection count, a worker count, and the
/// servers ringline is compared with there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Bytes per message.
    pub message_size: usize,
    /// Client connections, one message in flight on each (closed loop).
    pub connections: usize,
    /// Server worker threads.
    pub workers: usize,
    /// What ringline is compared with, in order.
    pub opponents: Vec<ServerKind>,
}

impl Cell {
    /// `64B/128c`, `4KiB/16c`, `64B/128c/2w`.
    pub fn label(&self) -> String {
        let mut label = format!("{}/{}c", size_label(self.message_size), self.connections);
        if self.workers != 1 {
            label.push_str(&format!("/{}w", self.workers));
        }
        label
    }
}

/// `64B`, `4KiB`, `1MiB`, `1500B`.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// Parses `64`, `64B`, `4k`, `4KiB`, `1m` (binary units).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: usize = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    let scale = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("unknown unit in size {text:?}")),
    };
    match n.checked_mul(scale) {
        Some(0) | None => Err(format!("size out of range: {text:?}")),
        Some(bytes) => Ok(bytes),
    }
}

/// Parses a comma-separated list with `item`, rejecting an empty list and
/// duplicates (order kept).
pub fn parse_list<T: PartialEq>(
    text: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let v = item(part)?;
        if out.contains(&v) {
            return Err(format!("{part:?} listed twice in {text:?}"));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(format!("empty list: {text:?}"));
    }
    Ok(out)
}

/// Parses a positive count.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("not a positive count: {text:?}")),
    }
}

/// The matrix for the selection: for each size, every connection count
/// with one worker (when 1 is among `workers`), then every other worker
/// count at the largest selected connection count (the issue's "2 workers
/// at 128 connections"). `ringline` in `servers` adds an A/A control.
/// Cells where no opponent fits are left out.
pub fn cells(
    sizes: &[usize],
    conns: &[usize],
    workers: &[usize],
    servers: &[ServerKind],
) -> Vec<Cell> {
    let Some(&most_conns) = conns.iter().max() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for &message_size in sizes {
        let mut shapes: Vec<(usize, usize)> = Vec::new();
        if workers.contains(&1) {
            shapes.extend(conns.iter().map(|&c| (c, 1)));
        }
        shapes.extend(workers.iter().filter(|&&w| w > 1).map(|&w| (most_conns, w)));
        for (connections, workers) in shapes {
            let opponents: Vec<ServerKind> = ServerKind::ALL
                .into_iter()
                .filter(|s| servers.contains(s) && s.fits(workers))
                .collect();
            if !opponents.is_empty() {
                out.push(Cell {
                    message_size,
                    connections,
                    workers,
                    opponents,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(cells: &[Cell]) -> Vec<String> {
        cells.iter().map(Cell::label).collect()
    }

    #[test]
    fn the_default_selection_is_the_issues_matrix() {
        let servers = [
            ServerKind::RinglineMio,
            ServerKind::Tokio,
            ServerKind::TokioMt,
            ServerKind::Ringline012,
            ServerKind::RawUring,
        ];
        let m = cells(&[64, 4096], &[1, 16, 128], &[1, 2], &servers);
        assert_eq!(
            labels(&m),
            [
                "64B/1c",
                "64B/16c",
                "64B/128c",
                "64B/128c/2w",
                "4KiB/1c",
                "4KiB/16c",
                "4KiB/128c",
                "4KiB/128c/2w"
            ]
        );
        use ServerKind::*;
        assert_eq!(m[2].opponents, [RinglineMio, Tokio, Ringline012, RawUring]);
        assert_eq!(
            m[3].opponents,
            [RinglineMio, Tokio, TokioMt, Ringline012, RawUring]
        );
        let pairs: usize = m.iter().map(|c| c.opponents.len()).sum();
        assert_eq!(pairs, 6 * 4 + 2 * 5);
    }

    #[test]
    fn subsets_pick_cells_and_opponents() {
        let m = cells(&[64], &[16], &[1, 2], &[ServerKind::TokioMt]);
        // tokio-mt has no place with one worker; the 2-worker cell moves
        // to the largest selected connection count.
        assert_eq!(labels(&m), ["64B/16c/2w"]);
        let m = cells(&[4096], &[128, 1], &[1], &[ServerKind::Ringline]);
        assert_eq!(labels(&m), ["4KiB/128c", "4KiB/1c"]);
        assert_eq!(m[0].opponents, [ServerKind::Ringline]);
        assert!(cells(&[64], &[], &[1], &[ServerKind::Tokio]).is_empty());
    }

    #[test]
    fn sizes_counts_and_servers_parse_or_fail() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("64B"), Ok(64));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size(" 4KiB "), Ok(4096));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4x").is_err());
        assert!(parse_size("k").is_err());
        assert_eq!(parse_list("64,4k", parse_size), Ok(vec![64, 4096]));
        assert!(parse_list("64,64b", parse_size).is_err());
        assert!(parse_list(",", parse_size).is_err());
        assert_eq!(parse_list("1,16,128", parse_count), Ok(vec![1, 16, 128]));
        assert!(parse_count("0").is_err());
        assert_eq!(
            parse_list("raw,0.1.2,Tokio", ServerKind::parse),
            Ok(vec![
                ServerKind::RawUring,
                ServerKind::Ringline012,
                ServerKind::Tokio
            ])
        );
        assert_eq!(ServerKind::parse("mio"), Ok(ServerKind::RinglineMio));
        assert!(ServerKind::parse("epoll").is_err());
        for s in ServerKind::ALL {
            assert_eq!(ServerKind::parse(s.as_str()), Ok(s));
        }
    }

    #[test]
    fn labels_use_binary_units() {
        assert_eq!(size_label(64), "64B");
        assert_eq!(size_label(4096), "4KiB");
        assert_eq!(size_label(1500), "1500B");
        assert_eq!(size_label(1 << 20), "1MiB");
    }
}
