//! `ringline-bench fs`: file I/O of ringline (`bench/fs-ringline`, io_uring,
//! one worker) against `fio --ioengine=io_uring` (the limit) and `tokio::fs`
//! (`bench/fs-tokio`), at the same queue depth, in interleaved pairs.
//!
//! Workloads: 4 KiB random reads of one data file and 1 MiB sequential
//! writes (each side its own file), `--qd` operations in flight.
//!
//! **What is measured.** Every side is a separate process, pinned to the
//! server CPU. The harness watches `/proc/<pid>/fd` until the process has
//! the benchmark file open (its I/O starts: fio sets up for ~0.25 s and
//! ~0.15 CPU-s before that, which must not be billed), samples the
//! process's CPU time (`/proc/<pid>/stat`, every thread, dead ones
//! included), and samples it again when the file is closed (or, if the
//! process is gone by then, takes `wait4`'s total). Throughput is each
//! program's own count over its own I/O phase (fio's `total_ios` and
//! `runtime`, the others' JSON line). io_uring's `iou-wrk` and tokio's
//! blocking-pool threads are threads of the process, so their CPU counts.
//!
//! **Pairs.** `concurrent` (default with buffered I/O): both sides at once
//! on the same CPU, the slower starter launched first so their I/O phases
//! overlap, each in a session (so an autogroup) of its own so that the
//! scheduler splits the CPU per process, not per thread; throughput is
//! then per equal CPU share. `alternating` (default
//! with `O_DIRECT`, where two processes would split one device): one after
//! the other, each alone, which side goes first alternating.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the plan: sides, workloads, I/O modes, pair modes |
//! | `commands.rs` | each side's command line, and what it prints |
//! | `process.rs` | a side's process: launched, pinned, watched, reaped |
//! | `files.rs` | the benchmark's files and the filesystem under them |
//! | `run.rs` | the pairs, in order, with their skips |
//! | `report.rs` | rates, comparisons, the JSON and the markdown table |

mod commands;
mod files;
mod process;
mod report;
mod run;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use self::commands::{
    FioJob, Parsed, find_fio, fio_args, fio_common_options, parse_fio_output, parse_program_output,
};
pub use self::files::filesystem_type;
pub use self::process::{has_open, launch_delays};
pub use self::report::{FsCell, FsComparison, FsPair, FsReport, FsRun, FsSettings, markdown_table};
pub use self::run::{run, skip_reason};

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `bench/fs-ringline`: ringline fs on io_uring, one worker.
    Ringline,
    /// The same program on the mio backend (files on its disk I/O pool).
    RinglineMio,
    /// `fio --ioengine=io_uring`.
    Fio,
    /// `bench/fs-tokio --api fs`: `tokio::fs::File`, seek + read/write.
    Tokio,
    /// `bench/fs-tokio --api pread`: `spawn_blocking(pread/pwrite)`.
    TokioPread,
}

impl Side {
    /// Opponents in report order.
    pub const OPPONENTS: [Side; 4] = [Side::RinglineMio, Side::Fio, Side::Tokio, Side::TokioPread];

    /// Name on the command line, in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Ringline => "ringline",
            Side::RinglineMio => "ringline-mio",
            Side::Fio => "fio",
            Side::Tokio => "tokio",
            Side::TokioPread => "tokio-pread",
        }
    }

    /// Parses an opponent's name.
    pub fn parse(text: &str) -> Result<Side, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fio" => Ok(Side::Fio),
            "tokio" | "tokio-fs" => Ok(Side::Tokio),
            "tokio-pread" | "pread" => Ok(Side::TokioPread),
            "ringline" => Ok(Side::Ringline),
            "ringline-mio" => Ok(Side::RinglineMio),
            other => Err(format!(
                "unknown fs side {other:?}: expected ringline-mio, fio, tokio, tokio-pread (or ringline for an A/A control)"
            )),
        }
    }
}

/// What the sides do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Uniformly random, block-aligned reads of the data file.
    RandRead,
    /// Consecutive writes of each side's own file, wrapping at its end.
    SeqWrite,
}

impl Workload {
    /// Name on the command line and for the programs.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::RandRead => "randread",
            Workload::SeqWrite => "seqwrite",
        }
    }

    /// Parses `randread` / `seqwrite` (fio's `read`/`write` spellings too).
    pub fn parse(text: &str) -> Result<Workload, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "randread" | "read" => Ok(Workload::RandRead),
            "seqwrite" | "write" => Ok(Workload::SeqWrite),
            other => Err(format!(
                "unknown workload {other:?}: expected randread, seqwrite"
            )),
        }
    }

    /// What the verdict line calls its throughput.
    pub fn throughput_unit(self) -> &'static str {
        match self {
            Workload::RandRead => "IOPS",
            Workload::SeqWrite => "MB/s",
        }
    }
}

/// Page cache or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Io {
    /// Buffered I/O on a page-cached file: what the sides themselves cost.
    Buffered,
    /// `O_DIRECT`: the device's limit, and what each side spends per op.
    Direct,
}

impl Io {
    /// Name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Io::Buffered => "buffered",
            Io::Direct => "direct",
        }
    }

    /// Parses `buffered` / `direct`.
    pub fn parse(text: &str) -> Result<Io, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "buffered" | "cached" => Ok(Io::Buffered),
            "direct" | "o_direct" => Ok(Io::Direct),
            other => Err(format!(
                "unknown io mode {other:?}: expected buffered, direct"
            )),
        }
    }
}

/// How the two sides of a pair share the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairMode {
    /// Both at once on the same CPU.
    Concurrent,
    /// One after the other.
    Alternating,
}

impl PairMode {
    /// The default for `io`: concurrent when CPU-bound (buffered), one
    /// after the other with `O_DIRECT`.
    pub fn auto(io: Io) -> PairMode {
        match io {
            Io::Buffered => PairMode::Concurrent,
            Io::Direct => PairMode::Alternating,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PairMode::Concurrent => "concurrent",
            PairMode::Alternating => "alternating",
        }
    }
}

/// What `fs` runs.
#[derive(Debug, Clone)]
pub struct FsPlan {
    /// Where the files go (disk-backed, not tmpfs, for `O_DIRECT`).
    pub dir: PathBuf,
    /// Bytes per file.
    pub size: u64,
    /// Block of the random reads.
    pub read_bs: usize,
    /// Block of the sequential writes.
    pub write_bs: usize,
    /// Operations in flight on every side.
    pub qd: usize,
    /// Seconds of I/O per run.
    pub secs: f64,
    /// Pairs per comparison.
    pub pairs: usize,
    /// Workloads, in order.
    pub workloads: Vec<Workload>,
    /// I/O modes, in order.
    pub io: Vec<Io>,
    /// What ringline is compared with.
    pub opponents: Vec<Side>,
    /// `owned` (`read_into`/`write_from`) or `raw` (`read`/`write`).
    pub ringline_api: String,
    /// fio at its fastest (`gtod_reduce`, batched submit and reap) rather
    /// than its defaults.
    pub fio_tuned: bool,
    /// `None`: [`PairMode::auto`].
    pub mode: Option<PairMode>,
    /// Keep the files afterwards.
    pub keep_files: bool,
}

impl FsPlan {
    /// Pair runs in the whole plan (fio counted even if absent).
    pub fn runs(&self) -> usize {
        self.io.len() * self.workloads.len() * self.opponents.len() * self.pairs
    }

    /// A rough duration, builds and file setup excluded: per pair one
    /// window (two when alternating), ~0.5 s of start and stop, plus one
    /// calibration run per side and cell (sides that cannot run in a mode
    /// left out; fio assumed present).
    pub fn estimate(&self) -> Duration {
        let mut secs = 0.0;
        for &io in &self.io {
            let windows = match self.mode.unwrap_or(PairMode::auto(io)) {
                PairMode::Concurrent => 1.0,
                PairMode::Alternating => 2.0,
            };
            let per_pair = windows * (self.secs + 0.5);
            let opponents = self
                .opponents
                .iter()
                .filter(|&&s| skip_reason(s, io, true).is_none())
                .count();
            let calibration = (opponents + 1) as f64 * 0.8;
            secs += self.workloads.len() as f64
                * (per_pair * (opponents * self.pairs) as f64 + calibration);
        }
        Duration::from_secs_f64(secs)
    }

    fn block(&self, w: Workload) -> usize {
        match w {
            Workload::RandRead => self.read_bs,
            Workload::SeqWrite => self.write_bs,
        }
    }
}

/// The built programs (fio: `None` when not installed).
#[derive(Debug, Clone)]
pub struct Programs {
    /// `fs-ringline`.
    pub ringline: PathBuf,
    /// `fs-tokio`.
    pub tokio: PathBuf,
    /// `fio` and its version, when found.
    pub fio: Option<(PathBuf, String)>,
}
