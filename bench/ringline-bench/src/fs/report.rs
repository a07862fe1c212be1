//! What a run yields: rates, per-pair ratios, comparisons, the JSON and
//! the markdown table.

use std::io::{self, Write};

use serde::Serialize;

use super::Side;
use super::Workload;
use super::commands::Parsed;
use crate::report::{Machine, Spread};

/// One run of one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsRun {
    /// `ringline`, `fio`, `tokio`, `tokio-pread`.
    pub side: String,
    /// Operations completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// The program's own I/O phase.
    pub io_secs: f64,
    /// `ops / io_secs`.
    pub iops: f64,
    /// `bytes / io_secs / 1e6`.
    pub mb_per_sec: f64,
    /// Process CPU time (all threads) from file open to file close.
    pub cpu_secs: f64,
    /// Process CPU time over the whole life of the process (`wait4`).
    pub lifetime_cpu_secs: f64,
    /// The program's own CPU clock over its I/O phase (ours only).
    pub self_cpu_secs: Option<f64>,
    /// Spawn to file open.
    pub startup_secs: f64,
    /// `cpu_secs / ops`, in microseconds.
    pub cpu_us_per_op: f64,
    /// `ops / cpu_secs`: the CPU-efficiency metric.
    pub ops_per_core_sec: f64,
}

impl FsRun {
    pub(super) fn new(
        side: Side,
        parsed: Parsed,
        cpu_secs: f64,
        lifetime: f64,
        startup: f64,
    ) -> FsRun {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let ops = parsed.ops as f64;
        FsRun {
            side: side.as_str().to_string(),
            ops: parsed.ops,
            bytes: parsed.bytes,
            io_secs: parsed.io_secs,
            iops: ratio(ops, parsed.io_secs),
            mb_per_sec: ratio(parsed.bytes as f64 / 1e6, parsed.io_secs),
            cpu_secs,
            lifetime_cpu_secs: lifetime,
            self_cpu_secs: parsed.self_cpu_secs,
            startup_secs: startup,
            cpu_us_per_op: ratio(cpu_secs * 1e6, ops),
            ops_per_core_sec: ratio(ops, cpu_secs),
        }
    }
}

/// Both sides of one pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsPair {
    /// Pair number.
    pub pair: usize,
    /// Whether ringline started (or, concurrent, was launched) first.
    pub subject_first: bool,
    /// ringline ÷ other, operations per second.
    pub throughput_ratio: f64,
    /// ringline ÷ other, operations per CPU-second.
    pub ops_per_core_sec_ratio: f64,
    /// Hypervisor steal over the pair (share of machine time).
    pub steal_share: f64,
    /// ringline's run.
    pub subject: FsRun,
    /// The other side's run.
    pub other: FsRun,
}

/// ringline against one side in one cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsComparison {
    /// The other side.
    pub vs: String,
    /// Throughput ratios (IOPS or MB/s: same thing at one block size).
    pub throughput_ratio: Option<Spread>,
    /// CPU-efficiency ratios.
    pub ops_per_core_sec_ratio: Option<Spread>,
    /// Every pair, in run order.
    pub pairs: Vec<FsPair>,
}

impl FsComparison {
    /// An empty comparison with `vs`.
    pub fn new(vs: &str) -> FsComparison {
        FsComparison {
            vs: vs.to_string(),
            throughput_ratio: None,
            ops_per_core_sec_ratio: None,
            pairs: Vec::new(),
        }
    }

    /// Adds a pair and refreshes the spreads.
    pub fn push(&mut self, pair: FsPair) {
        self.pairs.push(pair);
        let t: Vec<f64> = self.pairs.iter().map(|p| p.throughput_ratio).collect();
        let c: Vec<f64> = self
            .pairs
            .iter()
            .map(|p| p.ops_per_core_sec_ratio)
            .collect();
        self.throughput_ratio = Spread::of(&t);
        self.ops_per_core_sec_ratio = Spread::of(&c);
    }

    /// The two verdict lines:
    /// `fs 4KiB randread IOPS ratio vs fio: 0.87 (min 0.80, max 0.91, 5 pairs)`
    /// and the same in ops per core-second.
    pub fn summary_lines(&self, label: &str, unit: &str) -> [String; 2] {
        let line = |what: &str, s: Option<Spread>| match s {
            Some(s) => format!(
                "fs {label} {what} ratio vs {}: {:.2} (min {:.2}, max {:.2}, {} pairs)",
                self.vs, s.median, s.min, s.max, s.n
            ),
            None => format!("fs {label} {what} ratio vs {}: no valid pairs", self.vs),
        };
        [
            line(unit, self.throughput_ratio),
            line("ops-per-core-s", self.ops_per_core_sec_ratio),
        ]
    }
}

/// One workload × I/O mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsCell {
    /// `4KiB randread`, `1MiB seqwrite O_DIRECT`.
    pub label: String,
    /// `randread` / `seqwrite`.
    pub workload: String,
    /// `buffered` / `direct`.
    pub io: String,
    /// `concurrent` / `alternating`.
    pub mode: String,
    /// Bytes per operation.
    pub block_size: usize,
    /// Operations in flight.
    pub queue_depth: usize,
    /// Bytes per file.
    pub file_size: u64,
    /// Sides left out, with the reason.
    pub skipped: Vec<String>,
    /// One per opponent.
    pub comparisons: Vec<FsComparison>,
}

/// Settings of the run, for the JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsSettings {
    /// Pairs per comparison.
    pub pairs: usize,
    /// Seconds of I/O per run.
    pub secs: f64,
    /// Operations in flight.
    pub queue_depth: usize,
    /// Bytes per file.
    pub file_size: u64,
    /// Directory of the files, and its filesystem.
    pub dir: String,
    /// Filesystem type of `dir` (`ext4`, `tmpfs`, …).
    pub filesystem: String,
    /// ringline's fs calls: `owned` or `raw`.
    pub ringline_api: String,
    /// The fio options every fio run had (besides file, size, rw, bs,
    /// iodepth, direct, runtime).
    pub fio_options: Vec<String>,
    /// `fio --version`, if present.
    pub fio_version: Option<String>,
}

/// The whole `fs` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FsReport {
    /// Always `fs`.
    pub benchmark: &'static str,
    /// Layout version.
    pub version: u32,
    /// Where it ran.
    pub machine: Machine,
    /// How.
    pub settings: FsSettings,
    /// Start (Unix seconds).
    pub started_unix_secs: u64,
    /// Wall time so far.
    pub wall_secs: f64,
    /// Finished cells.
    pub cells: Vec<FsCell>,
}

pub(super) fn print_pair(label: &str, workload: Workload, p: &FsPair) {
    let side = |r: &FsRun| {
        let rate = match workload {
            Workload::RandRead => format!("{:>8.0} IOPS", r.iops),
            Workload::SeqWrite => format!("{:>6.0} MB/s", r.mb_per_sec),
        };
        format!(
            "{rate} {:>6.2} µs CPU/op ({:.2} CPU-s)",
            r.cpu_us_per_op, r.cpu_secs
        )
    };
    println!(
        "{label} pair {} vs {:<11} ringline {} | {:<11} {} | ratio {:.3} (per core-s {:.3}) steal {:.0}%{}",
        p.pair,
        p.other.side,
        side(&p.subject),
        p.other.side,
        side(&p.other),
        p.throughput_ratio,
        p.ops_per_core_sec_ratio,
        p.steal_share * 100.0,
        if p.subject_first {
            ""
        } else {
            " [other first]"
        }
    );
    let _ = io::stdout().flush();
}

/// The markdown table of a finished report: one row per cell and
/// opponent, ratios as median (min..max), absolute medians beside.
pub fn markdown_table(report: &FsReport) -> String {
    let mut out = String::from(
        "| cell | vs | throughput ratio | ops/core-s ratio | ringline | other |\n|---|---|---|---|---|---|\n",
    );
    let spread = |s: Option<Spread>| match s {
        Some(s) => format!("{:.2} ({:.2}..{:.2})", s.median, s.min, s.max),
        None => "–".into(),
    };
    for cell in &report.cells {
        for c in &cell.comparisons {
            let med = |f: &dyn Fn(&FsPair) -> f64| {
                crate::median(&c.pairs.iter().map(f).collect::<Vec<_>>()).unwrap_or(f64::NAN)
            };
            let abs = |rate: f64, us: f64| {
                if cell.workload == "randread" {
                    format!("{:.0} k IOPS, {us:.2} µs/op", rate / 1e3)
                } else {
                    format!("{rate:.0} MB/s, {us:.0} µs/op")
                }
            };
            let (ours, theirs) = if cell.workload == "randread" {
                (med(&|p| p.subject.iops), med(&|p| p.other.iops))
            } else {
                (med(&|p| p.subject.mb_per_sec), med(&|p| p.other.mb_per_sec))
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell.label,
                c.vs,
                spread(c.throughput_ratio),
                spread(c.ops_per_core_sec_ratio),
                abs(ours, med(&|p| p.subject.cpu_us_per_op)),
                abs(theirs, med(&|p| p.other.cpu_us_per_op)),
            ));
        }
    }
    out
}
