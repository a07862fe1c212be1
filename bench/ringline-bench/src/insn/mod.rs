//! `ringline-bench insn`: user-space instructions per echo round trip,
//! counted by callgrind — a number that does not swing with the machine
//! the way wall-clock rates do here, so a runtime change can be judged by
//! its count.
//!
//! **One measurement.** The server runs under
//! `valgrind --tool=callgrind` (every thread of the process, one worker),
//! its threads pinned to the last CPU; the client (`client.rs`, one
//! thread pinned to another CPU) opens the connections and runs phases of
//! an exact number of round trips per connection, each connection sending
//! its next message as soon as its echo is back:
//!
//! ```text
//! start ─ warm-up phase ─ zero counters ─ counted phase ─ dump ─ kill
//!                         (server idle)   N × conns RTs   (server idle)
//! ```
//!
//! Per round trip = the dump's instructions (all threads) / (N × conns).
//! Both control points fall where the server has nothing to do, so
//! nothing is cut in half; what the server does between them besides
//! echoing (its idle turns while `callgrind_control` connects) is counted
//! too: with one round trip per connection a whole ringline window came
//! to ~10⁵ instructions, against ~6 × 10⁸ for the default 10,000.
//!
//! **What still varies** is how many completions the server finds per
//! loop turn (its fixed per-turn work divided over them), which depends on
//! timing; a run is repeated (`runs`) and the median reported with its
//! range.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the servers, the plan and one measurement |
//! | `client.rs` | the phased load |
//! | `callgrind.rs` | valgrind: install, wrap, zero/dump, read the dumps |
//! | `report.rs` | medians, top functions, the JSON and the tables |

mod callgrind;
mod client;
mod report;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use self::callgrind::{Callgrind, ThreadProfile, parse as parse_callgrind};
pub use self::client::PhasedClient;
pub use self::report::{
    FunctionCost, InsnReport, InsnResult, InsnRun, InsnSettings, StatsCost, busiest_table,
    main_table, stats_costs, thousands, top_functions, top_table,
};

use super::cpu;
use super::server::{Server, build_example, build_workspace_bins};

/// A server `insn` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `runtime/examples/echo_server`, `stats` feature, io_uring.
    Ringline,
    /// The same server without the `stats` feature.
    RinglineNoStats,
    /// The `stats` build on the mio backend (`RINGLINE_BACKEND=mio`).
    RinglineMio,
    /// The build without `stats` on the mio backend.
    RinglineMioNoStats,
    /// `bench/tokio-echo --flavor current-thread`: `read` → `write_all`.
    Tokio,
    /// `bench/raw-uring-echo`: io_uring without a runtime.
    RawUring,
    /// The `stats` build plus the flight recorder (`recorder` feature),
    /// io_uring: its thread's snapshots counted with the rest.
    RinglineRecorder,
}

impl Variant {
    /// Every variant, in report order.
    pub const ALL: [Variant; 7] = [
        Variant::Ringline,
        Variant::RinglineRecorder,
        Variant::RinglineNoStats,
        Variant::RinglineMio,
        Variant::RinglineMioNoStats,
        Variant::Tokio,
        Variant::RawUring,
    ];

    /// The issue's rows: everything but mio without stats.
    pub const DEFAULT: [Variant; 6] = [
        Variant::Ringline,
        Variant::RinglineRecorder,
        Variant::RinglineNoStats,
        Variant::RinglineMio,
        Variant::Tokio,
        Variant::RawUring,
    ];

    /// The name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Ringline => "ringline",
            Variant::RinglineNoStats => "ringline-nostats",
            Variant::RinglineMio => "ringline-mio",
            Variant::RinglineMioNoStats => "ringline-mio-nostats",
            Variant::Tokio => "tokio",
            Variant::RawUring => "raw-uring",
            Variant::RinglineRecorder => "ringline-recorder",
        }
    }

    /// The row heading in the tables.
    pub fn description(self) -> &'static str {
        match self {
            Variant::Ringline => "ringline (`echo_server`, stats on)",
            Variant::RinglineNoStats => "ringline, stats off (no `stats` feature)",
            Variant::RinglineMio => "ringline on mio (`RINGLINE_BACKEND=mio`), stats on",
            Variant::RinglineMioNoStats => "ringline on mio, stats off",
            Variant::Tokio => "tokio `current_thread`, `read` → `write_all`",
            Variant::RawUring => "a plain io_uring loop (`raw-uring-echo`)",
            Variant::RinglineRecorder => "ringline, stats on + flight recorder (`recorder`)",
        }
    }

    /// Parses a name or a short alias.
    pub fn parse(name: &str) -> Result<Variant, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ringline" | "uring" => Ok(Variant::Ringline),
            "ringline-nostats" | "nostats" => Ok(Variant::RinglineNoStats),
            "ringline-mio" | "mio" => Ok(Variant::RinglineMio),
            "ringline-mio-nostats" | "mio-nostats" => Ok(Variant::RinglineMioNoStats),
            "tokio" | "tokio-ct" => Ok(Variant::Tokio),
            "raw-uring" | "raw" => Ok(Variant::RawUring),
            "ringline-recorder" | "recorder" => Ok(Variant::RinglineRecorder),
            other => Err(format!(
                "unknown server {other:?}: expected one of {}",
                Variant::ALL.map(Variant::as_str).join(", ")
            )),
        }
    }

    /// The build without stats that this one is compared with, for the
    /// "stats on − off" row.
    pub fn without_stats(self) -> Option<Variant> {
        match self {
            Variant::Ringline => Some(Variant::RinglineNoStats),
            Variant::RinglineMio => Some(Variant::RinglineMioNoStats),
            _ => None,
        }
    }

    /// Whether this is ringline (its top functions are printed).
    pub fn is_ringline(self) -> bool {
        !matches!(self, Variant::Tokio | Variant::RawUring)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Paths of the servers to count.
#[derive(Debug, Default)]
pub struct Binaries {
    stats_on: Option<PathBuf>,
    stats_off: Option<PathBuf>,
    recorder: Option<PathBuf>,
    tokio: Option<PathBuf>,
    raw_uring: Option<PathBuf>,
}

impl Binaries {
    /// Builds what `variants` need under `target_root`, in the same
    /// directories `echo` (`echo-ringline`, `echo-servers`) and
    /// `stats-overhead` (`stats-off`) use, so `all` builds each once.
    pub fn build(variants: &[Variant], target_root: &Path) -> io::Result<Binaries> {
        use Variant::*;
        let wants = |set: &[Variant]| variants.iter().any(|v| set.contains(v));
        let mut bins = Binaries::default();
        if wants(&[Ringline, RinglineMio]) {
            bins.stats_on = Some(build_example(
                "echo_server",
                &["stats"],
                &target_root.join("echo-ringline"),
            )?);
        }
        if wants(&[RinglineRecorder]) {
            bins.recorder = Some(build_example(
                "echo_server",
                &["stats", "recorder"],
                &target_root.join("echo-recorder"),
            )?);
        }
        if wants(&[RinglineNoStats, RinglineMioNoStats]) {
            bins.stats_off = Some(build_example(
                "echo_server",
                &[],
                &target_root.join("stats-off"),
            )?);
        }
        let mut workspace: Vec<(&str, &str)> = Vec::new();
        if wants(&[Tokio]) {
            workspace.push(("tokio-echo", "tokio-echo"));
        }
        if wants(&[RawUring]) {
            workspace.push(("raw-uring-echo", "raw-uring-echo"));
        }
        if !workspace.is_empty() {
            let paths = build_workspace_bins(&workspace, &target_root.join("echo-servers"))?;
            for ((package, _), path) in workspace.iter().zip(paths) {
                match *package {
                    "tokio-echo" => bins.tokio = Some(path),
                    _ => bins.raw_uring = Some(path),
                }
            }
        }
        Ok(bins)
    }

    /// `variant`'s program, arguments (one worker; the address is
    /// appended) and environment.
    fn command(&self, variant: Variant) -> io::Result<Launch<'_>> {
        use Variant::*;
        let one_worker = vec!["--workers".to_string(), "1".to_string()];
        // Keep the inspect socket's thread out, and force the backend: the
        // default `auto` could fall back to mio.
        let ringline = |backend| vec![("RINGLINE_BACKEND", backend), ("RINGLINE_INSPECT", "0")];
        let (path, args, env) = match variant {
            Ringline => (&self.stats_on, one_worker, ringline("io_uring")),
            RinglineNoStats => (&self.stats_off, one_worker, ringline("io_uring")),
            RinglineMio => (&self.stats_on, one_worker, ringline("mio")),
            RinglineMioNoStats => (&self.stats_off, one_worker, ringline("mio")),
            RinglineRecorder => (&self.recorder, one_worker, ringline("io_uring")),
            Tokio => {
                let mut args = vec!["--flavor".to_string(), "current-thread".to_string()];
                args.extend(one_worker);
                (&self.tokio, args, vec![])
            }
            RawUring => (&self.raw_uring, one_worker, vec![]),
        };
        let program = path
            .as_deref()
            .ok_or_else(|| io::Error::other(format!("{variant} was not built")))?;
        Ok(Launch { program, args, env })
    }
}

/// A server's program, arguments and extra environment.
struct Launch<'a> {
    program: &'a Path,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

/// What `insn` runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Servers, in report order.
    pub variants: Vec<Variant>,
    /// Message sizes in bytes.
    pub sizes: Vec<usize>,
    /// Client connections.
    pub connections: usize,
    /// Round trips per connection before the counters are zeroed.
    pub warm_up: u64,
    /// Round trips per connection counted.
    pub round_trips: u64,
    /// Measurements per server and size (the median is reported).
    pub runs: usize,
    /// Functions listed per ringline server (by self instructions).
    pub top: usize,
    /// Where the dumps go (`DIR/SERVER-SIZE/callgrind.out.1-TT`, the last
    /// run's kept for `callgrind_annotate` or KCachegrind).
    pub out_dir: PathBuf,
}

/// One counted run.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// Round trips in the counted phase.
    pub round_trips: u64,
    /// Instructions of every thread in the counted phase.
    pub instructions: u64,
    /// Instructions of the busiest thread (the worker).
    pub busiest_thread: u64,
    /// Threads that executed anything in the counted phase.
    pub active_threads: usize,
    /// Self instructions per function, all threads.
    pub functions: HashMap<String, u64>,
    /// Length of the counted phase.
    pub counted: Duration,
    /// Start to kill, valgrind's start-up included.
    pub wall: Duration,
}

impl Counted {
    /// Instructions per round trip, all threads.
    pub fn per_round_trip(&self) -> f64 {
        self.instructions as f64 / self.round_trips.max(1) as f64
    }
}

/// The nice value of the server and the client thread while counting
/// (when allowed: root or `CAP_SYS_NICE`). The count depends a little on
/// timing — a client kept off its CPU lets the server run dry and turn
/// its loop for fewer completions each, and ringline publishes its stats
/// by the clock — so other work on the machine pushes it up: ringline
/// 64 B counted 1,970–1,984 at a load average of ~4 against 1,958–1,965
/// quiet, and 1,960 (three runs of four) at the same load with both
/// reniced.
const NICE: i32 = -10;

/// Runs one measurement of `variant` at `size`: see the module doc.
/// `server_cpus` / `client_cpus` may be empty (nobody pinned).
pub fn count_once(
    plan: &Plan,
    variant: Variant,
    size: usize,
    bins: &Binaries,
    callgrind: &Callgrind,
    server_cpus: &[usize],
    client_cpus: &[usize],
) -> io::Result<Counted> {
    let started = Instant::now();
    let dir = plan
        .out_dir
        .join(format!("{variant}-{}", super::matrix::size_label(size)));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let prefix = dir.join("callgrind.out");
    let launch = bins.command(variant)?;
    let argv = callgrind.wrap(&prefix, launch.program, &launch.args);
    let mut server = Server::start_with_env(Path::new("valgrind"), &argv, &launch.env)?;
    if !server_cpus.is_empty() {
        cpu::pin_process_to(server.pid(), server_cpus);
    }
    cpu::renice_process(server.pid(), NICE);
    let pid = server.pid();
    let addr = server.addr;
    // The client runs on a thread of its own so that pinning it leaves the
    // harness's main thread (and what `all` runs next) unpinned.
    let phases = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<(u64, Duration)> {
            if !client_cpus.is_empty() {
                cpu::pin_current_thread_to(client_cpus);
            }
            cpu::renice_current_thread(NICE);
            let mut client = PhasedClient::connect(addr, plan.connections, size)?;
            client.phase(plan.warm_up)?;
            callgrind.zero(pid)?;
            let t = Instant::now();
            let done = client.phase(plan.round_trips)?;
            let counted = t.elapsed();
            callgrind.dump(pid)?;
            Ok((done, counted))
        })
        .join()
        .map_err(|_| io::Error::other("client thread panicked"))?
    });
    server.kill();
    let (round_trips, counted) = phases?;
    let threads = callgrind::read_dump(&prefix, 1)?;
    let mut out = Counted {
        round_trips,
        counted,
        ..Counted::default()
    };
    for t in &threads {
        out.instructions += t.total;
        out.busiest_thread = out.busiest_thread.max(t.total);
        out.active_threads += usize::from(t.total > 0);
        for (name, cost) in &t.functions {
            *out.functions.entry(name.clone()).or_default() += cost;
        }
    }
    out.wall = started.elapsed();
    Ok(out)
}
