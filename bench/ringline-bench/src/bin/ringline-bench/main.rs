//! `ringline-bench`: paired, interleaved benchmarks of ringline builds and
//! servers (see `BENCHMARKS.md`). Each subcommand lives in its own
//! module here; the measuring itself is the `ringline_bench` library.
//!
//! ```text
//! cargo run --release -p ringline-bench -- echo [--pairs 5] [--secs 3] [--json PATH]
//! cargo run --release -p ringline-bench -- load ADDR [--rate 20000] [--server-pid PID]
//! cargo run --release -p ringline-bench -- stats-overhead [--pairs 6] [--secs 3]
//! cargo run --release -p ringline-bench -- fs [--dir /var/tmp] [--io buffered,direct] [--json PATH]
//! cargo run --release -p ringline-bench -- blocks [--io cached,direct] [--control] [--json PATH]
//! cargo run --release -p ringline-bench -- attach-overhead [--pairs 6] [--control]
//! cargo run --release -p ringline-bench -- insn [--servers ringline] [--sizes 64] [--runs 3] [--json PATH]
//! cargo run --release -p ringline-bench -- all [--json-dir DIR]
//! ```

mod attach_cmd;
mod blocks_cmd;
mod echo_cmd;
mod fs_cmd;
mod insn_cmd;
mod load_cmd;
mod stats_overhead;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use ringline_bench::loadgen;

use self::attach_cmd::{AttachArgs, attach_overhead};
use self::blocks_cmd::{BlocksArgs, blocks_bench};
use self::echo_cmd::{EchoMatrixArgs, echo_matrix};
use self::fs_cmd::{FsArgs, fs_bench};
use self::insn_cmd::{InsnArgs, insn_bench};
use self::load_cmd::{LoadArgs, load};
use self::stats_overhead::{EchoArgs, stats_overhead};

#[derive(Parser)]
#[command(about = "Paired, interleaved benchmarks of ringline")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// ringline against tokio, the published ringline 0.1.2 and a raw
    /// io_uring loop: the issue's echo matrix in concurrent pairs, a verdict
    /// line per comparison, everything as JSON with `--json`.
    Echo(EchoMatrixArgs),
    /// Offers load to one echo server already listening at ADDR and prints
    /// the run's numbers as JSON (for profiling a server by hand).
    Load(LoadArgs),
    /// Echo with the `stats` feature on vs off: per-pair ratios of ops per
    /// server-core-second and the overhead of the stats hooks.
    StatsOverhead(EchoArgs),
    /// File I/O: ringline fs (io_uring) against fio --ioengine=io_uring and
    /// tokio::fs at the same queue depth; 4 KiB random reads and 1 MiB
    /// sequential writes, interleaved pairs, throughput and CPU per op.
    Fs(FsArgs),
    /// Echo with one of two identical ringline servers watched at 10 Hz by
    /// an inspect client (what `ringline-top --interval 100` does) or by the
    /// sidecar exporter scraped at 10 Hz: the overhead on the watched one.
    AttachOverhead(AttachArgs),
    /// Random 4 KiB blocks of a 1 GiB file, read by the server with its
    /// runtime's file API and sent back: ringline (io_uring, mio) against
    /// tokio::fs, tokio spawn_blocking(pread) and ringline 0.1.2,
    /// page-cached and O_DIRECT, in concurrent pairs.
    Blocks(BlocksArgs),
    /// User-space instructions per echo round trip, counted by callgrind
    /// (installs valgrind if missing): ringline with stats on and off, on
    /// io_uring and mio, tokio and a raw io_uring loop, with ringline's top
    /// functions; deterministic where wall-clock rates are not.
    Insn(InsnArgs),
    /// Everything above in one run (~14 min here): the echo matrix with
    /// 2 s windows, fs buffered, blocks page-cached (3 pairs × 2 s), stats
    /// overhead, attach overhead and insn (3 runs of 3,000 round trips per
    /// connection), each with its verdict lines or table and, with
    /// `--json-dir`, its JSON file.
    All(AllArgs),
}

#[derive(clap::Args, Clone)]
struct AllArgs {
    /// Directory for echo.json, fs.json, blocks.json, attach.json and
    /// insn.json.
    #[arg(long)]
    json_dir: Option<PathBuf>,
}

/// The load generator's clients, as `echo` and `load` take them.
#[derive(clap::Args, Clone)]
pub(crate) struct ClientArgs {
    /// Client threads (per server, in comparisons).
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Open loop at this many requests per second (per server, in
    /// comparisons; latency from intended send times) instead of the
    /// closed loop.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// How closed-loop clients wait for echoes: `spin` keeps client
    /// wake-ups off the server's CPU bill, at the price of noisier runs
    /// (see `loadgen::Wait`).
    #[arg(long, value_enum, default_value_t = ClientWait::Block)]
    pub(crate) client_wait: ClientWait,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ClientWait {
    Spin,
    Block,
}

impl ClientWait {
    pub(crate) fn wait(self) -> loadgen::Wait {
        match self {
            ClientWait::Spin => loadgen::Wait::Spin,
            ClientWait::Block => loadgen::Wait::Block,
        }
    }
}

/// Where the benchmark builds its servers: `target/bench/NAME` of the
/// workspace.
pub(crate) fn target_dir(name: &str) -> PathBuf {
    repo_root().join("target").join("bench").join(name)
}

/// The workspace root: this crate is `bench/ringline-bench`.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn bad_arg(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

/// Runs each benchmark as its own command line would, one after the
/// other (never two at once: they share the two CPUs).
fn all(args: &AllArgs) -> io::Result<()> {
    let started = Instant::now();
    let runs: [(&str, &[&str]); 6] = [
        // 1.75 s windows and 5 stats-overhead pairs keep the whole run
        // under 15 minutes (940 s measured with 2 s and 6).
        ("echo", &["--secs", "1.75"]),
        ("fs", &[]),
        ("blocks", &["--io", "cached", "--pairs", "3", "--secs", "2"]),
        ("stats-overhead", &["--pairs", "5", "--secs", "3"]),
        ("attach-overhead", &["--control"]),
        // Counts, not rates: 3,000 round trips per connection keep each
        // run near 2 s and the medians within their 10,000-trip values.
        ("insn", &["--runs", "3", "--round-trips", "3000"]),
    ];
    for (name, extra) in runs {
        let mut argv: Vec<String> = vec!["ringline-bench".into(), name.into()];
        argv.extend(extra.iter().map(|a| a.to_string()));
        // stats-overhead prints its verdict only (it has no JSON output).
        if let Some(dir) = &args.json_dir
            && name != "stats-overhead"
        {
            std::fs::create_dir_all(dir)?;
            let file = match name {
                "attach-overhead" => "attach.json".to_string(),
                other => format!("{other}.json"),
            };
            argv.push("--json".into());
            argv.push(dir.join(file).display().to_string());
        }
        println!("\n==== ringline-bench {}", argv[1..].join(" "));
        let cli = Cli::try_parse_from(&argv).map_err(io::Error::other)?;
        match &cli.command {
            Cmd::Echo(a) => echo_matrix(a),
            Cmd::Fs(a) => fs_bench(a),
            Cmd::Blocks(a) => blocks_bench(a),
            Cmd::StatsOverhead(a) => stats_overhead(a),
            Cmd::AttachOverhead(a) => attach_overhead(a),
            Cmd::Insn(a) => insn_bench(a),
            Cmd::Load(_) | Cmd::All(_) => unreachable!("not in the list"),
        }?;
    }
    println!(
        "\nall benchmarks: wall time {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Echo(args) => echo_matrix(args),
        Cmd::Load(args) => load(args),
        Cmd::StatsOverhead(args) => stats_overhead(args),
        Cmd::Fs(args) => fs_bench(args),
        Cmd::AttachOverhead(args) => attach_overhead(args),
        Cmd::Blocks(args) => blocks_bench(args),
        Cmd::Insn(args) => insn_bench(args),
        Cmd::All(args) => all(args),
    };
    if let Err(e) = result {
        eprintln!("ringline-bench: {e}");
        std::process::exit(1);
    }
}
