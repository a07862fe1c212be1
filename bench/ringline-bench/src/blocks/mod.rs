//! `ringline-bench blocks`: a workload where io_uring should win by a
//! margin. Clients ask for uniformly random 4 KiB blocks of a 1 GiB file
//! (`fs_common::blocks`: an 8-byte index in, the block out, closed loop,
//! one request in flight per connection); the server reads each block
//! with its runtime's file API and sends it back. A request costs a
//! receive, a file read and a send: on io_uring all three are ring ops of
//! the one worker thread, where tokio hands every read to its blocking
//! pool and back.
//!
//! Servers, one worker each (`BlocksServer`): ringline on io_uring and on
//! mio (`bench/blocks-ringline`), tokio `current_thread` with `tokio::fs`
//! or with `spawn_blocking(pread)` (`bench/blocks-tokio`), and the
//! published ringline 0.1.2 (`bench/ringline-0.1.2-blocks`). Two I/O modes
//! (`IoMode`): page-cached (the file read once before the cell, so every
//! read hits the cache: what the runtimes cost) and `O_DIRECT` (each read
//! goes to the device).
//!
//! Pairs run as `ringline-bench echo`'s do (`echo::run` explains why):
//! both servers at once, pinned to the same CPU, each with its own clients
//! on the other CPU, measured over the same window; the ratio is ops per
//! server-core-second (every thread of the server process counts: tokio's
//! blocking pool, io_uring's workers, ringline's disk I/O pool on mio).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | servers, I/O modes, the plan |
//! | `file.rs` | the block file: made, warmed, checked, removed |
//! | `run.rs` | the servers' builds and command lines, the pairs |
//! | `report.rs` | the JSON document and the markdown table |

mod file;
mod report;
mod run;

use std::fmt;
use std::time::Duration;

pub use self::file::{BlockFile, default_dir, direct_io_refusal};
pub use self::report::{BlocksCell, BlocksReport, BlocksSettings, markdown_table};
pub use self::run::{Binaries, run};

use super::loadgen::{self, Wait};

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlocksServer {
    /// `blocks-ringline` on io_uring (`fs::read_into`, `send_nowait`).
    Ringline,
    /// The same program on the mio backend (reads on its disk I/O pool).
    RinglineMio,
    /// `blocks-tokio --api fs`: `tokio::fs::File`, seek + `read_exact`.
    TokioFs,
    /// `blocks-tokio --api pread`: `spawn_blocking` of `pread`.
    TokioPread,
    /// `ringline-012-blocks`: the published ringline 0.1.2. Its fs
    /// releases an op's slot when the completion arrives and keys the
    /// result by that slot, so a read submitted before the first one's
    /// task ran can take the first one's result: under concurrent reads
    /// some answers are the wrong block (the client's check fails the
    /// pair) or never come (the client times out).
    Ringline012,
}

impl BlocksServer {
    /// Every opponent of ringline, in report order (the command's
    /// default).
    pub const OPPONENTS: [BlocksServer; 4] = [
        BlocksServer::RinglineMio,
        BlocksServer::TokioFs,
        BlocksServer::TokioPread,
        BlocksServer::Ringline012,
    ];

    /// Name on the command line, in output lines and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BlocksServer::Ringline => "ringline",
            BlocksServer::RinglineMio => "ringline-mio",
            BlocksServer::TokioFs => "tokio-fs",
            BlocksServer::TokioPread => "tokio-pread",
            BlocksServer::Ringline012 => "ringline-0.1.2",
        }
    }

    /// Parses a name or a short alias; `ringline` (the A/A control) too.
    pub fn parse(text: &str) -> Result<BlocksServer, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ringline" => Ok(BlocksServer::Ringline),
            "ringline-mio" | "mio" => Ok(BlocksServer::RinglineMio),
            "tokio-fs" | "tokio" => Ok(BlocksServer::TokioFs),
            "tokio-pread" | "pread" => Ok(BlocksServer::TokioPread),
            "ringline-0.1.2" | "0.1.2" | "ringline-012" => Ok(BlocksServer::Ringline012),
            other => Err(format!(
                "unknown blocks server {other:?}: expected ringline-mio, tokio-fs, tokio-pread, \
                 ringline-0.1.2 (or ringline for an A/A control)"
            )),
        }
    }

    /// Why this server sits out I/O mode `io`, if it does.
    pub fn skip_reason(self, io: IoMode) -> Option<&'static str> {
        (self == BlocksServer::TokioFs && io == IoMode::Direct).then_some(
            "tokio::fs::File reads through its own unaligned buffer, which O_DIRECT refuses",
        )
    }
}

impl fmt::Display for BlocksServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Page cache or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoMode {
    /// Buffered reads of a file the page cache holds whole.
    Cached,
    /// `O_DIRECT` reads of 4096-aligned buffers: every read is a device
    /// read.
    Direct,
}

impl IoMode {
    /// Name on the command line and in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            IoMode::Cached => "cached",
            IoMode::Direct => "direct",
        }
    }

    /// Parses `cached` (or `buffered`) / `direct`.
    pub fn parse(text: &str) -> Result<IoMode, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cached" | "buffered" | "page-cached" => Ok(IoMode::Cached),
            "direct" | "o_direct" => Ok(IoMode::Direct),
            other => Err(format!(
                "unknown I/O mode {other:?}: expected cached, direct"
            )),
        }
    }
}

/// What `blocks` runs.
#[derive(Debug, Clone)]
pub struct BlocksPlan {
    /// I/O modes, one cell each, in order.
    pub io: Vec<IoMode>,
    /// What ringline is compared with (`Ringline` itself: A/A control).
    pub opponents: Vec<BlocksServer>,
    /// Client connections per server.
    pub connections: usize,
    /// Client threads per server.
    pub threads: usize,
    /// How clients wait for answers.
    pub wait: Wait,
    /// Pairs per comparison.
    pub pairs: usize,
    /// Measured window per pair.
    pub secs: Duration,
    /// Seed of the clients' block picks.
    pub seed: u64,
}

impl BlocksPlan {
    /// The opponents that run in I/O mode `io`.
    pub fn opponents_in(&self, io: IoMode) -> Vec<BlocksServer> {
        self.opponents
            .iter()
            .copied()
            .filter(|o| o.skip_reason(io).is_none())
            .collect()
    }

    /// Pair runs in the whole plan.
    pub fn runs(&self) -> usize {
        self.io
            .iter()
            .map(|&io| self.opponents_in(io).len())
            .sum::<usize>()
            * self.pairs
    }

    /// A rough duration: window, warm-up and about 0.7 s of start/stop per
    /// run (ringline 0.1.2 takes about a second to start).
    pub fn estimate(&self) -> Duration {
        let per_run = self.secs + loadgen::WARM_UP + Duration::from_millis(700);
        per_run * self.runs() as u32
    }

    /// `cached/64c`.
    pub fn label(&self, io: IoMode) -> String {
        format!("{}/{}c", io.as_str(), self.connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_aliases_work() {
        for s in [BlocksServer::Ringline]
            .into_iter()
            .chain(BlocksServer::OPPONENTS)
        {
            assert_eq!(BlocksServer::parse(s.as_str()), Ok(s));
        }
        assert_eq!(BlocksServer::parse(" Tokio "), Ok(BlocksServer::TokioFs));
        assert_eq!(BlocksServer::parse("0.1.2"), Ok(BlocksServer::Ringline012));
        assert!(BlocksServer::parse("fio").is_err());
        assert_eq!(IoMode::parse("buffered"), Ok(IoMode::Cached));
        assert_eq!(IoMode::parse("direct"), Ok(IoMode::Direct));
        assert!(IoMode::parse("mmap").is_err());
    }

    #[test]
    fn tokio_fs_sits_out_direct_io_and_the_estimate_counts_it() {
        let plan = BlocksPlan {
            io: vec![IoMode::Cached, IoMode::Direct],
            opponents: BlocksServer::OPPONENTS.to_vec(),
            connections: 64,
            threads: 2,
            wait: Wait::Block,
            pairs: 5,
            secs: Duration::from_secs(3),
            seed: 1,
        };
        assert_eq!(plan.opponents_in(IoMode::Cached).len(), 4);
        assert_eq!(
            plan.opponents_in(IoMode::Direct),
            [
                BlocksServer::RinglineMio,
                BlocksServer::TokioPread,
                BlocksServer::Ringline012
            ]
        );
        assert!(BlocksServer::TokioFs.skip_reason(IoMode::Direct).is_some());
        assert_eq!(plan.runs(), (4 + 3) * 5);
        assert_eq!(plan.estimate(), Duration::from_millis(35 * 4000));
        assert_eq!(plan.label(IoMode::Direct), "direct/64c");
    }
}
