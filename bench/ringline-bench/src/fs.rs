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

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu;
use super::matrix::size_label;
use super::report::{Machine, Spread};

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

/// `fio --version` when fio is on the PATH.
pub fn find_fio() -> Option<(PathBuf, String)> {
    let out = Command::new("fio").arg("--version").output().ok()?;
    out.status.success().then(|| {
        (
            PathBuf::from("fio"),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    })
}

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
    fn new(side: Side, parsed: Parsed, cpu_secs: f64, lifetime: f64, startup: f64) -> FsRun {
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

/// What a side's program reported.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Parsed {
    /// Operations completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// I/O phase.
    pub io_secs: f64,
    /// Own CPU clock over the I/O phase (not fio).
    pub self_cpu_secs: Option<f64>,
}

/// Parses the JSON line of `fs-ringline` / `fs-tokio`.
pub fn parse_program_output(text: &str) -> Result<Parsed, String> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON line in {text:?}"))?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("no {k:?} in {line}"));
    Ok(Parsed {
        ops: v["ops"]
            .as_u64()
            .ok_or_else(|| format!("no ops in {line}"))?,
        bytes: v["bytes"]
            .as_u64()
            .ok_or_else(|| format!("no bytes in {line}"))?,
        io_secs: num("io_secs")?,
        self_cpu_secs: v["window_cpu_secs"].as_f64(),
    })
}

/// Parses fio's `--output-format=json` (first job, the workload's
/// direction): `total_ios`, `io_bytes`, `runtime` (ms).
pub fn parse_fio_output(text: &str, workload: Workload) -> Result<Parsed, String> {
    // fio may print warnings before the document.
    let start = text
        .find("{\n")
        .or_else(|| text.find('{'))
        .ok_or("no JSON in fio's output")?;
    let v: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(|e| format!("fio's JSON: {e}"))?;
    let job = &v["jobs"][0];
    if job.is_null() {
        return Err("fio's JSON has no job".into());
    }
    if let Some(err) = job["error"].as_i64().filter(|&e| e != 0) {
        return Err(format!("fio job error {err}"));
    }
    let dir = match workload {
        Workload::RandRead => &job["read"],
        Workload::SeqWrite => &job["write"],
    };
    let runtime_ms = dir["runtime"]
        .as_f64()
        .filter(|&r| r > 0.0)
        .ok_or("fio's JSON has no runtime for the workload's direction")?;
    Ok(Parsed {
        ops: dir["total_ios"].as_u64().ok_or("fio: no total_ios")?,
        bytes: dir["io_bytes"].as_u64().ok_or("fio: no io_bytes")?,
        io_secs: runtime_ms / 1e3,
        self_cpu_secs: None,
    })
}

/// fio's options besides the per-run ones; `tuned` adds what makes fio
/// fastest here (no per-I/O clock reads, batched submission and reaping).
pub fn fio_common_options(qd: usize, tuned: bool) -> Vec<String> {
    let mut o: Vec<String> = [
        "--ioengine=io_uring",
        "--thread",
        "--time_based",
        "--invalidate=0",
        "--norandommap",
        "--randrepeat=0",
        "--disk_util=0",
        "--fallocate=none",
        "--allow_file_create=0",
        "--output-format=json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if tuned {
        o.push("--gtod_reduce=1".into());
        o.push(format!("--iodepth_batch_submit={qd}"));
        o.push(format!("--iodepth_batch_complete_max={qd}"));
    }
    o
}

/// One fio run.
#[derive(Debug, Clone, Copy)]
pub struct FioJob<'a> {
    /// The file (it exists, at `size`).
    pub file: &'a Path,
    /// Bytes of it to use.
    pub size: u64,
    /// `randread` or `write`.
    pub workload: Workload,
    /// Bytes per I/O.
    pub bs: usize,
    /// `iodepth`.
    pub qd: usize,
    /// `O_DIRECT`.
    pub direct: bool,
    /// Seconds of I/O.
    pub secs: f64,
    /// See [`fio_common_options`].
    pub tuned: bool,
}

/// The per-run fio arguments.
pub fn fio_args(job: &FioJob<'_>) -> Vec<String> {
    let FioJob {
        file,
        size,
        workload,
        bs,
        qd,
        direct,
        secs,
        tuned,
    } = *job;
    let mut a = vec![
        "--name=ringline-bench".to_string(),
        format!("--filename={}", file.display()),
        format!("--size={size}"),
        format!(
            "--rw={}",
            match workload {
                Workload::RandRead => "randread",
                Workload::SeqWrite => "write",
            }
        ),
        format!("--bs={bs}"),
        format!("--iodepth={qd}"),
        format!("--direct={}", u8::from(direct)),
        format!("--runtime={}ms", (secs * 1e3).round() as u64),
    ];
    a.extend(fio_common_options(qd, tuned));
    a
}

/// `Some(true)` when process `pid` has `path` (canonical) open, `None`
/// when the process is gone.
pub fn has_open(pid: u32, path: &Path) -> Option<bool> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.flatten().any(|e| {
        std::fs::read_link(e.path())
            .map(|l| l == path)
            .unwrap_or(false)
    }))
}

/// Whether `pid` is a zombie or gone (its `/proc` CPU times then no
/// longer describe a live process).
fn finished(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn stat_cpu(pid: u32) -> Option<f64> {
    let (u, s) = cpu::user_system(pid).ok()?;
    Some((u + s).as_secs_f64())
}

/// A command and the file whose opening starts its I/O phase.
#[derive(Debug, Clone)]
struct SideCommand {
    side: Side,
    program: PathBuf,
    args: Vec<String>,
    /// Extra environment (the ringline sides name their backend).
    env: Vec<(&'static str, &'static str)>,
    file: PathBuf,
    workload: Workload,
}

/// What watching one process gave.
struct Watched {
    parsed: Parsed,
    cpu_secs: f64,
    lifetime_cpu_secs: f64,
    startup_secs: f64,
}

/// Starts `cmd` pinned to `cpus` after `delay`, watches its I/O phase,
/// reaps it. Runs on its own thread in concurrent pairs.
fn run_side(cmd: &SideCommand, cpus: &[usize], delay: Duration, secs: f64) -> io::Result<Watched> {
    std::thread::sleep(delay);
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .envs(cmd.env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET writes one bit inside `set`; `c` comes from
        // `available_cpus`, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    let pin = !cpus.is_empty();
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes two syscalls on a set copied into it (async-signal-safe, no
    // allocation).
    unsafe {
        command.pre_exec(move || {
            // A session of its own is an autogroup of its own: the
            // scheduler then shares the CPU fairly between the two
            // processes of a pair, however many threads each runs (tokio's
            // blocking pool would otherwise take a share per thread).
            libc::setsid();
            if pin && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", cmd.side.as_str())))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // The I/O phase starts when the file is open.
    let poll = Duration::from_millis(1);
    let mut start: Option<(Instant, f64)> = None;
    while spawned.elapsed() < Duration::from_secs(20) {
        match has_open(pid, &cmd.file) {
            Some(true) => {
                if let Some(c) = stat_cpu(pid) {
                    start = Some((Instant::now(), c));
                }
                break;
            }
            Some(false) if !finished(pid) => std::thread::sleep(poll),
            _ => break,
        }
    }
    // …and ends when it is closed again.
    let mut end_cpu = None;
    if let Some((t0, _)) = start {
        let near_end = t0 + Duration::from_secs_f64((secs - 0.05).max(0.0));
        if let Some(wait) = near_end.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let give_up = t0 + Duration::from_secs_f64(secs + 20.0);
        while Instant::now() < give_up {
            if finished(pid) {
                break;
            }
            match has_open(pid, &cmd.file) {
                Some(true) => std::thread::sleep(poll),
                Some(false) => {
                    end_cpu = stat_cpu(pid).filter(|_| !finished(pid));
                    break;
                }
                None => break,
            }
        }
    }
    let (status, lifetime) = wait4(pid)?;
    // std's handle would reap again; the child is already reaped.
    drop(child);
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status_ok(status) {
        return Err(io::Error::other(format!(
            "{} failed (wait status {status:#x}): {}",
            cmd.side.as_str(),
            err.trim()
        )));
    }
    let parsed = match cmd.side {
        Side::Fio => parse_fio_output(&out, cmd.workload),
        _ => parse_program_output(&out),
    }
    .map_err(|e| {
        io::Error::other(format!(
            "{}: {e}; stderr: {}",
            cmd.side.as_str(),
            err.trim()
        ))
    })?;
    let (startup, cpu_secs) = match start {
        Some((t0, c0)) => (
            t0.duration_since(spawned).as_secs_f64(),
            end_cpu.unwrap_or(lifetime) - c0,
        ),
        None => (f64::NAN, lifetime),
    };
    Ok(Watched {
        parsed,
        cpu_secs,
        lifetime_cpu_secs: lifetime,
        startup_secs: startup,
    })
}

fn status_ok(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Reaps `pid`: its wait status and total CPU seconds (every thread).
fn wait4(pid: u32) -> io::Result<(i32, f64)> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: plain syscall on our own child with valid pointers.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
        if r == pid as i32 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((status, tv(ru.ru_utime) + tv(ru.ru_stime)))
}

/// Delays before launching each of two sides so that their I/O phases
/// start together: the slower starter goes first.
pub fn launch_delays(startup_a: f64, startup_b: f64) -> (Duration, Duration) {
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    let (a, b) = (clean(startup_a), clean(startup_b));
    let d = Duration::from_secs_f64((a - b).abs().min(5.0));
    if a >= b {
        (Duration::ZERO, d)
    } else {
        (d, Duration::ZERO)
    }
}

/// Filesystem type of `dir` (`statfs` magic), for the report.
pub fn filesystem_type(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: a zeroed statfs is valid; statfs fills it.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return "unknown".into();
    }
    match s.f_type as i64 {
        0x0102_1994 => "tmpfs".into(),
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("0x{other:x}"),
    }
}

/// The benchmark's files; removed on drop unless kept.
struct Files {
    dir: PathBuf,
    data: PathBuf,
    writes: [PathBuf; 2],
    keep: bool,
}

impl Files {
    fn create(parent: &Path, size: u64, keep: bool) -> io::Result<Files> {
        let dir = parent.join(format!("ringline-bench-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut files = Files {
            data: dir.join("read.dat"),
            writes: [dir.join("write-0.dat"), dir.join("write-1.dat")],
            dir,
            keep,
        };
        for path in [&files.data, &files.writes[0], &files.writes[1]] {
            fill(path, size)?;
        }
        // Canonical paths: what /proc/<pid>/fd links show.
        files.data = std::fs::canonicalize(&files.data)?;
        for w in &mut files.writes {
            *w = std::fs::canonicalize(&*w)?;
        }
        Ok(files)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `size` bytes of a non-repeating pattern to `path` and syncs.
fn fill(path: &Path, size: u64) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut left = size;
    while left > 0 {
        for b in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Reads `path` once so that buffered runs find it in the page cache.
fn warm(path: &Path) -> io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// The command of `side` on `file`.
fn command(
    plan: &FsPlan,
    programs: &Programs,
    side: Side,
    workload: Workload,
    io: Io,
    file: &Path,
    secs: f64,
) -> Option<SideCommand> {
    let bs = plan.block(workload);
    let ours = |program: &Path, api: &str| {
        let mut args = vec![
            "--file".to_string(),
            file.display().to_string(),
            "--workload".into(),
            workload.as_str().into(),
            "--bs".into(),
            bs.to_string(),
            "--qd".into(),
            plan.qd.to_string(),
            "--secs".into(),
            format!("{secs}"),
            "--api".into(),
            api.into(),
        ];
        if io == Io::Direct {
            args.push("--direct".into());
        }
        (program.to_path_buf(), args)
    };
    let env = match side {
        Side::Ringline => vec![("RINGLINE_BACKEND", "io_uring")],
        Side::RinglineMio => vec![("RINGLINE_BACKEND", "mio")],
        _ => vec![],
    };
    let (program, args) = match side {
        Side::Ringline | Side::RinglineMio => ours(&programs.ringline, &plan.ringline_api),
        Side::Tokio => ours(&programs.tokio, "fs"),
        Side::TokioPread => ours(&programs.tokio, "pread"),
        Side::Fio => (
            programs.fio.as_ref()?.0.clone(),
            fio_args(&FioJob {
                file,
                size: plan.size,
                workload,
                bs,
                qd: plan.qd,
                direct: io == Io::Direct,
                secs,
                tuned: plan.fio_tuned,
            }),
        ),
    };
    Some(SideCommand {
        side,
        program,
        args,
        env,
        file: file.to_path_buf(),
        workload,
    })
}

/// Why `side` cannot run in `io` mode with these programs, if it cannot.
pub fn skip_reason(side: Side, io: Io, fio_present: bool) -> Option<String> {
    match (side, io) {
        (Side::Fio, _) if !fio_present => {
            Some("fio: not installed (Debian package `fio`: apt-get install fio), skipped".into())
        }
        (Side::Tokio, Io::Direct) => Some(
            "tokio: tokio::fs::File reads into its own unaligned buffer, so no O_DIRECT; \
             see tokio-pread"
                .into(),
        ),
        _ => None,
    }
}

/// Runs `plan`, printing a line per pair and the verdict lines per cell,
/// appending each finished cell to `report` and calling `save`.
pub fn run(
    plan: &FsPlan,
    programs: &Programs,
    report: &mut FsReport,
    started: Instant,
    mut save: impl FnMut(&FsReport) -> io::Result<()>,
) -> io::Result<()> {
    let cpus = cpu::available_cpus();
    let (server_cpus, harness_cpus) = super::echo::placement(1, cpus);
    if !harness_cpus.is_empty() {
        cpu::pin_current_thread_to(&harness_cpus);
    }
    eprintln!(
        "writing 3 × {} files in {}…",
        size_label(plan.size as usize),
        plan.dir.display()
    );
    let files = Files::create(&plan.dir, plan.size, plan.keep_files)?;
    let mut startup: HashMap<(Side, Workload, Io), f64> = HashMap::new();
    for &io in &plan.io {
        let mode = plan.mode.unwrap_or(PairMode::auto(io));
        for &workload in &plan.workloads {
            let bs = plan.block(workload);
            let mut label = format!("{} {}", size_label(bs), workload.as_str());
            if io == Io::Direct {
                label.push_str(" O_DIRECT");
            }
            let mut skipped = Vec::new();
            let opponents: Vec<Side> = plan
                .opponents
                .iter()
                .copied()
                .filter(|&s| match skip_reason(s, io, programs.fio.is_some()) {
                    Some(why) => {
                        println!("   skipping {why}");
                        skipped.push(why);
                        false
                    }
                    None => true,
                })
                .collect();
            println!(
                "\n== fs {label}: {} B blocks, QD {}, {} file, {} pairs × {} s, {} ({}); servers on CPUs {:?}",
                bs,
                plan.qd,
                size_label(plan.size as usize),
                plan.pairs,
                plan.secs,
                io.as_str(),
                mode.as_str(),
                server_cpus
            );
            if io == Io::Buffered && workload == Workload::RandRead {
                warm(&files.data)?;
            }
            let file_of = |slot: usize| match workload {
                Workload::RandRead => files.data.clone(),
                Workload::SeqWrite => files.writes[slot].clone(),
            };
            // Calibration: each side once, briefly, alone: warms binaries
            // and caches and measures how long each takes to start.
            let mut sides = vec![Side::Ringline];
            sides.extend(opponents.iter().copied().filter(|&s| s != Side::Ringline));
            for &side in &sides {
                if let Some(cmd) = command(plan, programs, side, workload, io, &file_of(0), 0.3) {
                    let w = run_side(&cmd, &server_cpus, Duration::ZERO, 0.3)?;
                    startup.insert((side, workload, io), w.startup_secs);
                }
            }
            let mut comparisons: Vec<FsComparison> = opponents
                .iter()
                .map(|o| FsComparison::new(o.as_str()))
                .collect();
            for pair in 0..plan.pairs {
                for (i, &other) in opponents.iter().enumerate() {
                    let subject_first = (pair + i) % 2 == 0;
                    let (first, second) = if subject_first {
                        (Side::Ringline, other)
                    } else {
                        (other, Side::Ringline)
                    };
                    let cmds = [
                        command(plan, programs, first, workload, io, &file_of(0), plan.secs),
                        command(plan, programs, second, workload, io, &file_of(1), plan.secs),
                    ];
                    let [Some(a), Some(b)] = cmds else {
                        continue;
                    };
                    let steal0 = cpu::steal_ticks()?;
                    let (ra, rb) = match mode {
                        PairMode::Alternating => (
                            run_side(&a, &server_cpus, Duration::ZERO, plan.secs)?,
                            run_side(&b, &server_cpus, Duration::ZERO, plan.secs)?,
                        ),
                        PairMode::Concurrent => {
                            let get =
                                |s: Side| startup.get(&(s, workload, io)).copied().unwrap_or(0.0);
                            let (da, db) = launch_delays(get(first), get(second));
                            let secs = plan.secs;
                            let cpus_a = server_cpus.clone();
                            let cpus_b = server_cpus.clone();
                            let ta = std::thread::spawn(move || run_side(&a, &cpus_a, da, secs));
                            let tb = std::thread::spawn(move || run_side(&b, &cpus_b, db, secs));
                            let ra = ta.join().map_err(|_| io::Error::other("side panicked"))?;
                            let rb = tb.join().map_err(|_| io::Error::other("side panicked"))?;
                            (ra?, rb?)
                        }
                    };
                    let steal1 = cpu::steal_ticks()?;
                    let steal_share =
                        (steal1.0 - steal0.0) as f64 / (steal1.1 - steal0.1).max(1) as f64;
                    for (side, w) in [(first, &ra), (second, &rb)] {
                        if w.startup_secs.is_finite() {
                            startup.insert((side, workload, io), w.startup_secs);
                        }
                    }
                    let to_run = |side: Side, w: Watched| {
                        FsRun::new(
                            side,
                            w.parsed,
                            w.cpu_secs,
                            w.lifetime_cpu_secs,
                            w.startup_secs,
                        )
                    };
                    let (r1, r2) = (to_run(first, ra), to_run(second, rb));
                    let (ours, theirs) = if subject_first { (r1, r2) } else { (r2, r1) };
                    let p = FsPair {
                        pair,
                        subject_first,
                        throughput_ratio: ours.iops / theirs.iops,
                        ops_per_core_sec_ratio: ours.ops_per_core_sec / theirs.ops_per_core_sec,
                        steal_share,
                        subject: ours,
                        other: theirs,
                    };
                    print_pair(&label, workload, &p);
                    comparisons[i].push(p);
                }
            }
            for c in &comparisons {
                for line in c.summary_lines(&label, workload.throughput_unit()) {
                    println!("{line}");
                }
            }
            report.cells.push(FsCell {
                label,
                workload: workload.as_str().into(),
                io: io.as_str().into(),
                mode: mode.as_str().into(),
                block_size: bs,
                queue_depth: plan.qd,
                file_size: plan.size,
                skipped,
                comparisons,
            });
            report.wall_secs = started.elapsed().as_secs_f64();
            save(report)?;
        }
    }
    Ok(())
}

fn print_pair(label: &str, workload: Workload, p: &FsPair) {
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
                super::median(&c.pairs.iter().map(f).collect::<Vec<_>>()).unwrap_or(f64::NAN)
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

#[cfg(test)]
mod tests {
    use super::*;

    const FIO_JSON: &str = r#"note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "timestamp" : 1795494912,
  "jobs" : [
    {
      "jobname" : "ringline-bench",
      "error" : 0,
      "read" : { "io_bytes" : 5890109440, "total_ios" : 1438016, "runtime" : 3000, "iops" : 479338.6 },
      "write" : { "io_bytes" : 0, "total_ios" : 0, "runtime" : 0, "iops" : 0.0 },
      "usr_cpu" : 24.8, "sys_cpu" : 55.2
    }
  ]
}
"#;

    #[test]
    fn fio_json_gives_ops_bytes_and_runtime_of_the_workloads_direction() {
        let p = parse_fio_output(FIO_JSON, Workload::RandRead).expect("parses");
        assert_eq!(p.ops, 1_438_016);
        assert_eq!(p.bytes, 5_890_109_440);
        assert_eq!(p.io_secs, 3.0);
        assert_eq!(p.self_cpu_secs, None);
        // No write phase: an error, not a division by zero.
        assert!(parse_fio_output(FIO_JSON, Workload::SeqWrite).is_err());
        assert!(parse_fio_output("fio: command not found", Workload::RandRead).is_err());
        let failed = FIO_JSON.replace("\"error\" : 0", "\"error\" : 5");
        assert!(parse_fio_output(&failed, Workload::RandRead).is_err());
    }

    #[test]
    fn program_json_is_the_last_json_line() {
        let out = "warming up\n{\"ops\":10,\"bytes\":40960,\"io_secs\":0.5,\"window_cpu_secs\":0.25,\"backend\":\"io_uring\"}\n";
        let p = parse_program_output(out).expect("parses");
        assert_eq!(
            p,
            Parsed {
                ops: 10,
                bytes: 40960,
                io_secs: 0.5,
                self_cpu_secs: Some(0.25)
            }
        );
        assert!(parse_program_output("no json").is_err());
        assert!(parse_program_output("{\"ops\":1}").is_err());
    }

    #[test]
    fn runs_derive_rates_and_cpu_per_op() {
        let parsed = Parsed {
            ops: 1_000_000,
            bytes: 4_096_000_000,
            io_secs: 2.0,
            self_cpu_secs: None,
        };
        let r = FsRun::new(Side::Ringline, parsed, 1.6, 1.7, 0.01);
        assert_eq!(r.iops, 500_000.0);
        assert_eq!(r.mb_per_sec, 2048.0);
        assert!((r.cpu_us_per_op - 1.6).abs() < 1e-9);
        assert_eq!(r.ops_per_core_sec, 625_000.0);
        let idle = FsRun::new(Side::Fio, Parsed::default(), 0.0, 0.0, 0.0);
        assert!(idle.iops.is_nan() && idle.ops_per_core_sec.is_nan());
    }

    fn run_with(side: Side, ops: u64, cpu: f64) -> FsRun {
        let parsed = Parsed {
            ops,
            bytes: ops * 4096,
            io_secs: 1.0,
            self_cpu_secs: None,
        };
        FsRun::new(side, parsed, cpu, cpu, 0.0)
    }

    #[test]
    fn verdict_lines_have_the_issues_shape() {
        let mut c = FsComparison::new("fio");
        assert_eq!(
            c.summary_lines("4KiB randread", "IOPS")[0],
            "fs 4KiB randread IOPS ratio vs fio: no valid pairs"
        );
        for (i, (ours, theirs)) in [(87, 100), (80, 100), (91, 100), (85, 100), (90, 100)]
            .into_iter()
            .enumerate()
        {
            let (a, b) = (
                run_with(Side::Ringline, ours, 1.0),
                run_with(Side::Fio, theirs, 2.0),
            );
            c.push(FsPair {
                pair: i,
                subject_first: i % 2 == 0,
                throughput_ratio: a.iops / b.iops,
                ops_per_core_sec_ratio: a.ops_per_core_sec / b.ops_per_core_sec,
                steal_share: 0.0,
                subject: a,
                other: b,
            });
        }
        let [iops, core] = c.summary_lines("4KiB randread", "IOPS");
        assert_eq!(
            iops,
            "fs 4KiB randread IOPS ratio vs fio: 0.87 (min 0.80, max 0.91, 5 pairs)"
        );
        assert_eq!(
            core,
            "fs 4KiB randread ops-per-core-s ratio vs fio: 1.74 (min 1.60, max 1.82, 5 pairs)"
        );
        let report = FsReport {
            benchmark: "fs",
            version: 1,
            machine: Machine {
                cpus: 2,
                kernel: "6.18".into(),
            },
            settings: FsSettings {
                pairs: 5,
                secs: 1.0,
                queue_depth: 32,
                file_size: 1 << 28,
                dir: "/var/tmp".into(),
                filesystem: "ext4".into(),
                ringline_api: "owned".into(),
                fio_options: fio_common_options(32, true),
                fio_version: Some("fio-3.33".into()),
            },
            started_unix_secs: 0,
            wall_secs: 1.0,
            cells: vec![FsCell {
                label: "4KiB randread".into(),
                workload: "randread".into(),
                io: "buffered".into(),
                mode: "concurrent".into(),
                block_size: 4096,
                queue_depth: 32,
                file_size: 1 << 28,
                skipped: vec![],
                comparisons: vec![c],
            }],
        };
        let table = markdown_table(&report);
        assert!(
            table.contains("| 4KiB randread | fio | 0.87 (0.80..0.91) | 1.74 (1.60..1.82) |"),
            "{table}"
        );
        let v = serde_json::to_value(&report).expect("serializable");
        assert_eq!(v["cells"][0]["comparisons"][0]["vs"], "fio");
        assert_eq!(v["cells"][0]["comparisons"][0]["throughput_ratio"]["n"], 5);
    }

    #[test]
    fn fio_gets_the_same_depth_block_and_mode() {
        let a = fio_args(&FioJob {
            file: Path::new("/d/read.dat"),
            size: 1 << 28,
            workload: Workload::RandRead,
            bs: 4096,
            qd: 32,
            direct: false,
            secs: 3.0,
            tuned: true,
        });
        for want in [
            "--filename=/d/read.dat",
            "--size=268435456",
            "--rw=randread",
            "--bs=4096",
            "--iodepth=32",
            "--direct=0",
            "--runtime=3000ms",
            "--ioengine=io_uring",
            "--invalidate=0",
            "--thread",
            "--iodepth_batch_submit=32",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
        let w = fio_args(&FioJob {
            file: Path::new("/d/w"),
            size: 1 << 28,
            workload: Workload::SeqWrite,
            bs: 1 << 20,
            qd: 8,
            direct: true,
            secs: 0.3,
            tuned: false,
        });
        assert!(w.iter().any(|x| x == "--rw=write"));
        assert!(w.iter().any(|x| x == "--direct=1"));
        assert!(w.iter().any(|x| x == "--runtime=300ms"));
        assert!(!w.iter().any(|x| x.starts_with("--gtod_reduce")));
    }

    #[test]
    fn the_slower_starter_is_launched_first() {
        assert_eq!(
            launch_delays(0.25, 0.01),
            (Duration::ZERO, Duration::from_secs_f64(0.24))
        );
        assert_eq!(
            launch_delays(0.01, 0.25),
            (Duration::from_secs_f64(0.24), Duration::ZERO)
        );
        assert_eq!(
            launch_delays(f64::NAN, 0.0),
            (Duration::ZERO, Duration::ZERO)
        );
    }

    #[test]
    fn names_parse_and_skips_are_explained() {
        assert_eq!(Side::parse("tokio-fs"), Ok(Side::Tokio));
        assert_eq!(Side::parse("FIO"), Ok(Side::Fio));
        assert_eq!(Side::parse("ringline-mio"), Ok(Side::RinglineMio));
        assert!(Side::parse("mio").is_err());
        assert_eq!(Workload::parse("write"), Ok(Workload::SeqWrite));
        assert_eq!(Io::parse("direct"), Ok(Io::Direct));
        assert!(skip_reason(Side::Fio, Io::Buffered, false).is_some());
        assert!(skip_reason(Side::Fio, Io::Buffered, true).is_none());
        assert!(skip_reason(Side::Tokio, Io::Direct, true).is_some());
        assert!(skip_reason(Side::TokioPread, Io::Direct, true).is_none());
        assert_eq!(PairMode::auto(Io::Direct), PairMode::Alternating);
    }

    #[test]
    fn an_open_file_shows_in_proc_fd() {
        let path =
            std::env::temp_dir().join(format!("ringline-bench-fs-open-{}", std::process::id()));
        let f = std::fs::File::create(&path).expect("create");
        let canonical = std::fs::canonicalize(&path).expect("canonical");
        assert_eq!(has_open(std::process::id(), &canonical), Some(true));
        drop(f);
        assert_eq!(has_open(std::process::id(), &canonical), Some(false));
        let _ = std::fs::remove_file(&path);
    }
}
