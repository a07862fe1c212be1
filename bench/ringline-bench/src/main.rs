//! `ringline-bench`: paired, interleaved benchmarks of ringline builds and
//! servers (see `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p ringline-bench -- echo [--pairs 5] [--secs 3] [--json PATH]
//! cargo run --release -p ringline-bench -- load ADDR [--rate 20000] [--server-pid PID]
//! cargo run --release -p ringline-bench -- stats-overhead [--pairs 6] [--secs 3]
//! cargo run --release -p ringline-bench -- fs [--dir /var/tmp] [--io buffered,direct] [--json PATH]
//! cargo run --release -p ringline-bench -- attach-overhead [--pairs 6] [--control]
//! cargo run --release -p ringline-bench -- all [--json-dir DIR]
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::{Parser, Subcommand};
use ringline_bench::echo::{self, Binaries, EchoPlan};
use ringline_bench::matrix::{self, ServerKind};
use ringline_bench::report::{EchoReport, Machine, RunReport, ServerCpu, Settings};
use ringline_bench::server::build_workspace_bins;
use ringline_bench::{attach, cpu, fs, loadgen, median, server::Server, server::build_example};

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
    /// Everything above in one run (~13 min here): the echo matrix with
    /// 2.5 s windows, fs buffered, stats overhead and attach overhead, each
    /// with its verdict lines and, with `--json-dir`, its JSON file.
    All(AllArgs),
}

#[derive(clap::Args, Clone)]
struct AllArgs {
    /// Directory for echo.json, fs.json and attach.json.
    #[arg(long)]
    json_dir: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct FsArgs {
    /// Directory for the files; disk-backed, not tmpfs (default: the temp
    /// dir, or /var/tmp when the temp dir is tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of each file (`256m`, `1g`…).
    #[arg(long, default_value = "256m", value_parser = parse_file_size)]
    size: u64,
    /// Block of the random reads.
    #[arg(long, default_value = "4k", value_parser = matrix::parse_size)]
    read_bs: usize,
    /// Block of the sequential writes.
    #[arg(long, default_value = "1m", value_parser = matrix::parse_size)]
    write_bs: usize,
    /// Operations in flight on every side.
    #[arg(long, default_value_t = 32)]
    qd: usize,
    /// Seconds of I/O per run.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Pairs per comparison.
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    /// Workloads: randread, seqwrite.
    #[arg(long, default_value = "randread,seqwrite")]
    workloads: String,
    /// I/O modes: buffered (page-cached file: what each side costs),
    /// direct (O_DIRECT: the device).
    #[arg(long, default_value = "buffered")]
    io: String,
    /// What ringline is compared with: ringline-mio (the mio backend),
    /// fio, tokio (tokio::fs), tokio-pread (spawn_blocking pread);
    /// `ringline` adds an A/A control.
    #[arg(long, default_value = "ringline-mio,fio,tokio,tokio-pread")]
    against: String,
    /// ringline's fs calls: owned (read_into/write_from) or raw (the
    /// unsafe pointer calls).
    #[arg(long, default_value = "owned", value_parser = ["owned", "raw"])]
    ringline_api: String,
    /// Run fio with its defaults instead of tuned to its fastest
    /// (gtod_reduce, batched submit and reap).
    #[arg(long)]
    fio_defaults: bool,
    /// concurrent (both at once, same CPU), alternating, or auto
    /// (concurrent when buffered, alternating with O_DIRECT).
    #[arg(long, default_value = "auto", value_parser = ["auto", "concurrent", "alternating"])]
    mode: String,
    /// Keep the files afterwards.
    #[arg(long)]
    keep_files: bool,
    /// Write every result as JSON here (rewritten after each cell).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct AttachArgs {
    /// Pairs per comparison.
    #[arg(long, default_value_t = 6)]
    pairs: usize,
    /// Seconds measured per pair.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Client connections per server.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Client threads per server.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Message size (`64`, `4k`, …).
    #[arg(long, default_value = "64", value_parser = matrix::parse_size)]
    size: usize,
    /// Watchers: inspector (an inspect client subscribed at the
    /// interval), exporter (the sidecar at the interval, scraped as often).
    #[arg(long, default_value = "inspector,exporter")]
    watchers: String,
    /// Snapshot (and scrape) interval in milliseconds: 100 = 10 Hz.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Add an A/A control: the same pairs with nobody watching.
    #[arg(long)]
    control: bool,
    /// Write every result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
struct EchoArgs {
    /// A/B pairs (each pair runs both builds, alternating which goes first).
    #[arg(long, default_value_t = 6)]
    pairs: usize,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Client connections (one message in flight on each).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// `concurrent`: both servers run at once on the same CPU, each with
    /// its own clients, so machine noise hits both alike; `alternating`:
    /// one after the other.
    #[arg(long, value_enum, default_value_t = Mode::Concurrent)]
    mode: Mode,
    /// A/A control: run the same build (stats on) on both sides, to show
    /// the bias and noise of the method itself.
    #[arg(long)]
    control: bool,
}

#[derive(clap::Args, Clone)]
struct EchoMatrixArgs {
    /// Message sizes (`64`, `4k`, …), comma-separated.
    #[arg(long, default_value = "64,4k")]
    sizes: String,
    /// Connection counts, comma-separated (multi-worker cells use the
    /// largest).
    #[arg(long, default_value = "1,16,128")]
    conns: String,
    /// Worker counts, comma-separated.
    #[arg(long, default_value = "1,2")]
    workers: String,
    /// Servers to compare ringline with: ringline-mio (the same server on
    /// the mio backend), tokio, tokio-mt (multi-worker cells only),
    /// ringline-0.1.2, raw-uring; `ringline` adds an A/A control.
    #[arg(
        long,
        default_value = "ringline-mio,tokio,tokio-mt,ringline-0.1.2,raw-uring"
    )]
    servers: String,
    /// The server compared with the others (e.g. `raw-uring` with
    /// `--servers tokio` checks the ceiling against tokio directly).
    #[arg(long, default_value = "ringline", value_parser = ServerKind::parse)]
    baseline: ServerKind,
    /// Concurrent pairs per comparison.
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    /// Seconds measured per pair.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    #[command(flatten)]
    clients: ClientArgs,
    /// Write every result as JSON here (rewritten after each cell).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Cargo features of the ringline echo server (the default set).
    #[arg(long, default_value = "stats")]
    ringline_features: String,
}

/// The load generator's clients, as `echo` and `load` take them.
#[derive(clap::Args, Clone)]
struct ClientArgs {
    /// Client threads (per server, in comparisons).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Open loop at this many requests per second (per server, in
    /// comparisons; latency from intended send times) instead of the
    /// closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// How closed-loop clients wait for echoes: `spin` keeps client
    /// wake-ups off the server's CPU bill, at the price of noisier runs
    /// (see `loadgen::Wait`).
    #[arg(long, value_enum, default_value_t = ClientWait::Block)]
    client_wait: ClientWait,
}

#[derive(clap::Args, Clone)]
struct LoadArgs {
    /// The echo server's address.
    addr: std::net::SocketAddr,
    /// Connections.
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Message size (`64`, `4k`, …).
    #[arg(long, default_value = "64", value_parser = matrix::parse_size)]
    size: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    #[command(flatten)]
    clients: ClientArgs,
    /// The server's pid, to report its CPU time and ops per core-second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// CPUs to pin the client threads to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    client_cpus: Vec<usize>,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum ClientWait {
    Spin,
    Block,
}

impl ClientWait {
    fn wait(self) -> loadgen::Wait {
        match self {
            ClientWait::Spin => loadgen::Wait::Spin,
            ClientWait::Block => loadgen::Wait::Block,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Concurrent,
    Alternating,
}

/// One measured run of one server.
struct Run {
    ops_per_sec: f64,
    ops_per_core_sec: f64,
    /// Share of the server's CPU time spent in user space.
    user_share: f64,
}

fn target_dir(name: &str) -> PathBuf {
    repo_root().join("target").join("bench").join(name)
}

fn load_for(
    addr: std::net::SocketAddr,
    args: &EchoArgs,
    client_cpu: Option<usize>,
) -> loadgen::Load {
    loadgen::Load {
        addr,
        connections: args.connections,
        threads: args.threads,
        message_size: args.size,
        duration: Duration::from_secs_f64(args.secs),
        client_cpus: client_cpu.into_iter().collect(),
        rate: None,
        // The method BENCHMARKS.md documents for this comparison.
        wait: loadgen::Wait::Block,
    }
}

fn rates(ops: u64, elapsed: Duration, cpu: Duration, user_sys: (Duration, Duration)) -> Run {
    let ops = ops as f64;
    let core_secs = cpu.as_secs_f64();
    let (u, s) = (user_sys.0.as_secs_f64(), user_sys.1.as_secs_f64());
    Run {
        ops_per_sec: ops / elapsed.as_secs_f64(),
        ops_per_core_sec: if core_secs > 0.0 {
            ops / core_secs
        } else {
            f64::NAN
        },
        user_share: if u + s > 0.0 { u / (u + s) } else { f64::NAN },
    }
}

fn user_sys_delta(
    before: (Duration, Duration),
    after: (Duration, Duration),
) -> (Duration, Duration) {
    (
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    )
}

/// Runs `a` and `b` at the same time, both pinned to the same CPU (when
/// there are two), each loaded by its own clients on the other CPU, and
/// measures each over the same window.
fn run_pair_concurrently(a: &Path, b: &Path, args: &EchoArgs) -> io::Result<(Run, Run)> {
    let workers = ["--workers".to_string(), "1".to_string()];
    let mut sa = Server::start(a, &workers)?;
    let mut sb = Server::start(b, &workers)?;
    let two_cpus = cpu::available_cpus() >= 2;
    if two_cpus {
        cpu::pin_process(sa.pid(), 1);
        cpu::pin_process(sb.pid(), 1);
    }
    let client_cpu = two_cpus.then_some(0);
    let mut la = loadgen::start(&load_for(sa.addr, args, client_cpu));
    let mut lb = loadgen::start(&load_for(sb.addr, args, client_cpu));
    std::thread::sleep(Duration::from_millis(300));
    let (a0, b0) = (cpu::process_cpu(sa.pid())?, cpu::process_cpu(sb.pid())?);
    let (ua0, ub0) = (cpu::user_system(sa.pid())?, cpu::user_system(sb.pid())?);
    la.begin();
    lb.begin();
    std::thread::sleep(Duration::from_secs_f64(args.secs));
    la.end();
    lb.end();
    let (a1, b1) = (cpu::process_cpu(sa.pid())?, cpu::process_cpu(sb.pid())?);
    let (ua1, ub1) = (cpu::user_system(sa.pid())?, cpu::user_system(sb.pid())?);
    let (oa, ob) = (la.finish()?, lb.finish()?);
    sa.stop();
    sb.stop();
    Ok((
        rates(
            oa.ops,
            oa.elapsed,
            a1.saturating_sub(a0),
            user_sys_delta(ua0, ua1),
        ),
        rates(
            ob.ops,
            ob.elapsed,
            b1.saturating_sub(b0),
            user_sys_delta(ub0, ub1),
        ),
    ))
}

/// Starts `binary`, pins it and the clients to disjoint CPUs when there are
/// two, offers the load and measures ops and server CPU time.
fn run_echo(binary: &Path, args: &EchoArgs) -> io::Result<Run> {
    let mut server = Server::start(binary, &["--workers".into(), "1".into()])?;
    let two_cpus = cpu::available_cpus() >= 2;
    if two_cpus {
        cpu::pin_process(server.pid(), 1);
    }
    let load = load_for(server.addr, args, two_cpus.then_some(0));
    let pid = server.pid();
    let mut samples = Vec::new();
    let outcome = loadgen::run(&load, || {
        samples.push((cpu::process_cpu(pid), cpu::user_system(pid)))
    })?;
    server.stop();
    let (Some((Ok(before), Ok(ub))), Some((Ok(after), Ok(ua)))) = (samples.first(), samples.get(1))
    else {
        return Err(io::Error::other("could not sample the server's CPU time"));
    };
    Ok(rates(
        outcome.ops,
        outcome.elapsed,
        after.saturating_sub(*before),
        user_sys_delta(*ub, *ua),
    ))
}

fn stats_overhead(args: &EchoArgs) -> io::Result<()> {
    eprintln!("building echo_server with and without the `stats` feature…");
    let on = build_example("echo_server", &["stats"], &target_dir("stats-on"))?;
    let off = if args.control {
        on.clone()
    } else {
        build_example("echo_server", &[], &target_dir("stats-off"))?
    };
    println!(
        "echo, 1 worker, {} connections × {} B, {} client threads, {} s per run, {} pairs, {:?}, {} CPUs",
        args.connections,
        args.size,
        args.threads,
        args.secs,
        args.pairs,
        args.mode,
        cpu::available_cpus()
    );
    println!(
        "pair  order    on ops/core-s   off ops/core-s   on ops/s   off ops/s   on usr  off usr   on/off"
    );
    let mut overheads = Vec::new();
    for pair in 0..args.pairs {
        let on_first = pair % 2 == 0;
        let (a, b) = if on_first { (&on, &off) } else { (&off, &on) };
        let (first, second) = match args.mode {
            Mode::Concurrent => run_pair_concurrently(a, b, args)?,
            Mode::Alternating => (run_echo(a, args)?, run_echo(b, args)?),
        };
        let (r_on, r_off) = if on_first {
            (first, second)
        } else {
            (second, first)
        };
        let ratio = r_on.ops_per_core_sec / r_off.ops_per_core_sec;
        overheads.push((1.0 - ratio) * 100.0);
        println!(
            "{pair:>4}  {:<7}  {:>14.0}  {:>15.0}  {:>9.0}  {:>10.0}   {:>5.1}%  {:>6.1}%   {ratio:.4}",
            if on_first { "on,off" } else { "off,on" },
            r_on.ops_per_core_sec,
            r_off.ops_per_core_sec,
            r_on.ops_per_sec,
            r_off.ops_per_sec,
            r_on.user_share * 100.0,
            r_off.user_share * 100.0,
        );
    }
    let med = median(&overheads).unwrap_or(f64::NAN);
    let min = overheads.iter().copied().fold(f64::INFINITY, f64::min);
    let max = overheads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let what = if args.control {
        "A/A control (same build both sides)"
    } else {
        "stats overhead"
    };
    println!(
        "{what}: {med:.1}% (median of {} pairs; spread {min:.1}% .. {max:.1}%)",
        overheads.len()
    );
    Ok(())
}

/// The workspace root: this crate is `bench/ringline-bench`.
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bad_arg(e: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

fn echo_matrix(args: &EchoMatrixArgs) -> io::Result<()> {
    let started = Instant::now();
    let sizes = matrix::parse_list(&args.sizes, matrix::parse_size).map_err(bad_arg)?;
    let conns = matrix::parse_list(&args.conns, matrix::parse_count).map_err(bad_arg)?;
    let workers = matrix::parse_list(&args.workers, matrix::parse_count).map_err(bad_arg)?;
    let servers = matrix::parse_list(&args.servers, ServerKind::parse).map_err(bad_arg)?;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.pairs == 0 || !positive(args.secs) || args.clients.rate.is_some_and(|r| !positive(r)) {
        return Err(bad_arg(
            "--pairs, --secs and --rate must be positive".into(),
        ));
    }
    let plan = EchoPlan {
        subject: args.baseline,
        cells: matrix::cells(&sizes, &conns, &workers, &servers),
        pairs: args.pairs,
        secs: Duration::from_secs_f64(args.secs),
        threads: args.clients.threads.max(1),
        rate: args.clients.rate,
        wait: args.clients.client_wait.wait(),
    };
    if plan.cells.is_empty() {
        return Err(bad_arg("the selection leaves no cell to run".into()));
    }
    let features: Vec<&str> = args
        .ringline_features
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    eprintln!("building the echo servers…");
    let mut to_build = servers.clone();
    to_build.push(args.baseline);
    let bins = Binaries::build(&to_build, &features, &repo_root(), &target_dir(""))?;
    println!(
        "echo: {} cells, {} pair runs of {} s ({} pairs per comparison), {} load ({} clients), {} client threads per server, {} CPUs; about {:.0} s after the builds ({:.0} s so far)",
        plan.cells.len(),
        plan.runs(),
        args.secs,
        plan.pairs,
        match plan.rate {
            None => "closed-loop".to_string(),
            Some(r) => format!("open-loop {r} req/s"),
        },
        plan.wait.as_str(),
        plan.threads,
        cpu::available_cpus(),
        plan.estimate().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let mut report = EchoReport {
        benchmark: "echo",
        version: 1,
        machine: Machine::current(),
        settings: Settings {
            pairs: plan.pairs,
            secs: args.secs,
            warm_up_secs: loadgen::WARM_UP.as_secs_f64(),
            client_threads: plan.threads,
            load: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            client_wait: plan.wait.as_str().into(),
            rate: plan.rate,
            ringline_features: features.iter().map(|f| f.to_string()).collect(),
        },
        started_unix_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        wall_secs: 0.0,
        cells: Vec::new(),
    };
    let save = |r: &EchoReport| -> io::Result<()> {
        match &args.json {
            Some(path) => write_json(path, r),
            None => Ok(()),
        }
    };
    echo::run(&plan, &bins, &mut report, started, save)?;
    report.wall_secs = started.elapsed().as_secs_f64();
    save(&report)?;
    println!(
        "\n== summary (ops per server-core-second, {} / other, median of pairs)",
        args.baseline
    );
    for cell in &report.cells {
        for c in &cell.comparisons {
            println!("{}", c.summary_line(&cell.label));
        }
    }
    println!("wall time {:.0} s", report.wall_secs);
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

fn load(args: &LoadArgs) -> io::Result<()> {
    let load = loadgen::Load {
        addr: args.addr,
        connections: args.conns,
        threads: args.clients.threads.max(1),
        message_size: args.size,
        duration: Duration::from_secs_f64(args.secs),
        client_cpus: args.client_cpus.clone(),
        rate: args.clients.rate,
        wait: args.clients.client_wait.wait(),
    };
    let mut samples = Vec::new();
    let outcome = loadgen::run(&load, || {
        if let Some(pid) = args.server_pid {
            samples.push(cpu::process_cpu(pid).and_then(|t| Ok((t, cpu::user_system(pid)?))));
        }
    })?;
    let cpu = match samples.as_slice() {
        [Ok((t0, (u0, s0))), Ok((t1, (u1, s1)))] => ServerCpu {
            total: t1.saturating_sub(*t0),
            user: u1.saturating_sub(*u0),
            system: s1.saturating_sub(*s0),
        },
        [] => ServerCpu::default(),
        _ => return Err(io::Error::other("could not sample the server's CPU time")),
    };
    let report = RunReport::new(
        &args.addr.to_string(),
        &outcome,
        cpu,
        args.clients.rate.is_some(),
    );
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(io::Error::other)?
    );
    Ok(())
}

/// `256m`, `1g`, `4096`: binary units up to GiB.
fn parse_file_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let (n, scale) = match t.strip_suffix("gib").or_else(|| t.strip_suffix('g')) {
        Some(n) => (n, 1u64 << 30),
        None => return matrix::parse_size(text).map(|b| b as u64),
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("not a size: {text:?}"))
}

fn fs_bench(args: &FsArgs) -> io::Result<()> {
    let started = Instant::now();
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.pairs == 0 || args.qd == 0 || !positive(args.secs) {
        return Err(bad_arg("--pairs, --qd and --secs must be positive".into()));
    }
    let block = args.read_bs.max(args.write_bs) as u64;
    if args.size < block
        || !args.size.is_multiple_of(args.read_bs as u64)
        || !args.size.is_multiple_of(args.write_bs as u64)
    {
        return Err(bad_arg(
            "--size must be a multiple of both block sizes (and at least one block)".into(),
        ));
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let tmp = std::env::temp_dir();
            let var_tmp = PathBuf::from("/var/tmp");
            if fs::filesystem_type(&tmp) == "tmpfs"
                && var_tmp.is_dir()
                && fs::filesystem_type(&var_tmp) != "tmpfs"
            {
                println!(
                    "{} is tmpfs (page cache only, no device behind it): using /var/tmp instead",
                    tmp.display()
                );
                var_tmp
            } else {
                tmp
            }
        }
    };
    let filesystem = fs::filesystem_type(&dir);
    if filesystem == "tmpfs" {
        println!(
            "warning: {} is tmpfs: reads never reach a device and O_DIRECT means nothing; \
             pass --dir on a disk-backed filesystem",
            dir.display()
        );
    }
    let mode = match args.mode.as_str() {
        "concurrent" => Some(fs::PairMode::Concurrent),
        "alternating" => Some(fs::PairMode::Alternating),
        _ => None,
    };
    let plan = fs::FsPlan {
        dir: dir.clone(),
        size: args.size,
        read_bs: args.read_bs,
        write_bs: args.write_bs,
        qd: args.qd,
        secs: args.secs,
        pairs: args.pairs,
        workloads: matrix::parse_list(&args.workloads, fs::Workload::parse).map_err(bad_arg)?,
        io: matrix::parse_list(&args.io, fs::Io::parse).map_err(bad_arg)?,
        opponents: matrix::parse_list(&args.against, fs::Side::parse).map_err(bad_arg)?,
        ringline_api: args.ringline_api.clone(),
        fio_tuned: !args.fio_defaults,
        mode,
        keep_files: args.keep_files,
    };
    let fio = fs::find_fio();
    if fio.is_none() && plan.opponents.contains(&fs::Side::Fio) {
        println!("fio not found on PATH (Debian package `fio`): the fio comparison is skipped");
    }
    eprintln!("building fs-ringline and fs-tokio…");
    let bins = build_workspace_bins(
        &[("fs-ringline", "fs-ringline"), ("fs-tokio", "fs-tokio")],
        &target_dir("fs"),
    )?;
    let programs = fs::Programs {
        ringline: bins[0].clone(),
        tokio: bins[1].clone(),
        fio: fio.clone(),
    };
    println!(
        "fs: {} on {} ({filesystem}), {} pair runs of {} s, QD {}, ringline api {}, fio {} ({}), {} CPUs; mio backend not measured (not available yet); about {:.0} s after the builds ({:.0} s so far)",
        fs_size_label(plan.size),
        dir.display(),
        plan.runs(),
        plan.secs,
        plan.qd,
        plan.ringline_api,
        fio.as_ref().map_or("absent", |f| f.1.as_str()),
        if plan.fio_tuned { "tuned" } else { "defaults" },
        cpu::available_cpus(),
        plan.estimate().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if fio.is_some() {
        println!(
            "fio options: {}",
            fs::fio_common_options(plan.qd, plan.fio_tuned).join(" ")
        );
    }
    let mut report = fs::FsReport {
        benchmark: "fs",
        version: 1,
        machine: Machine::current(),
        settings: fs::FsSettings {
            pairs: plan.pairs,
            secs: plan.secs,
            queue_depth: plan.qd,
            file_size: plan.size,
            dir: dir.display().to_string(),
            filesystem,
            ringline_api: plan.ringline_api.clone(),
            fio_options: fs::fio_common_options(plan.qd, plan.fio_tuned),
            fio_version: fio.map(|f| f.1),
        },
        started_unix_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        wall_secs: 0.0,
        cells: Vec::new(),
    };
    let save = |r: &fs::FsReport| -> io::Result<()> {
        match &args.json {
            Some(path) => write_json(path, r),
            None => Ok(()),
        }
    };
    fs::run(&plan, &programs, &mut report, started, save)?;
    report.wall_secs = started.elapsed().as_secs_f64();
    save(&report)?;
    println!("\n== summary (ringline ÷ other, median of pairs)");
    for cell in &report.cells {
        let unit = if cell.workload == "randread" {
            "IOPS"
        } else {
            "MB/s"
        };
        for c in &cell.comparisons {
            for line in c.summary_lines(&cell.label, unit) {
                println!("{line}");
            }
        }
    }
    println!("\n{}", fs::markdown_table(&report));
    println!("wall time {:.0} s", report.wall_secs);
    Ok(())
}

fn attach_overhead(args: &AttachArgs) -> io::Result<()> {
    let started = Instant::now();
    if args.pairs == 0 || !(args.secs.is_finite() && args.secs > 0.0) || args.interval_ms < 50 {
        return Err(bad_arg(
            "--pairs and --secs must be positive, --interval-ms at least 50 (the inspect floor)"
                .into(),
        ));
    }
    let mut watchers =
        matrix::parse_list(&args.watchers, attach::Watcher::parse).map_err(bad_arg)?;
    if args.control && !watchers.contains(&attach::Watcher::None) {
        watchers.push(attach::Watcher::None);
    }
    eprintln!("building echo_server (stats, inspect) and ringline-exporter…");
    let server = build_example(
        "echo_server",
        &["stats", "inspect"],
        &target_dir("echo-ringline-inspect"),
    )?;
    let exporter = if watchers.contains(&attach::Watcher::Exporter) {
        Some(
            build_workspace_bins(
                &[("ringline-exporter", "ringline-exporter")],
                &target_dir("exporter"),
            )?
            .remove(0),
        )
    } else {
        None
    };
    let plan = attach::AttachPlan {
        server,
        exporter,
        watchers,
        pairs: args.pairs,
        secs: Duration::from_secs_f64(args.secs),
        connections: args.connections,
        threads: args.threads.max(1),
        message_size: args.size,
        interval: Duration::from_millis(args.interval_ms),
    };
    println!(
        "attach-overhead: echo, 1 worker, {} connections × {} B per server, {} client threads, two servers (same build, stats+inspect) at once on one CPU, one watched every {} ms; {} pairs × {} s per watcher ({}), {} CPUs; about {:.0} s after the builds ({:.0} s so far)",
        plan.connections,
        plan.message_size,
        plan.threads,
        args.interval_ms,
        plan.pairs,
        args.secs,
        plan.watchers
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cpu::available_cpus(),
        plan.estimate().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let comparisons = attach::run(&plan)?;
    let report = attach::AttachReport {
        benchmark: "attach-overhead",
        version: 1,
        machine: Machine::current(),
        interval_ms: args.interval_ms,
        connections: plan.connections,
        message_size: plan.message_size,
        secs: args.secs,
        wall_secs: started.elapsed().as_secs_f64(),
        comparisons,
    };
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    println!("wall time {:.0} s", report.wall_secs);
    Ok(())
}

fn fs_size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{}GiB", bytes >> 30)
    } else {
        matrix::size_label(bytes as usize)
    }
}

/// Runs each benchmark as its own command line would, one after the
/// other (never two at once: they share the two CPUs).
fn all(args: &AllArgs) -> io::Result<()> {
    let started = Instant::now();
    let runs: [(&str, &[&str]); 4] = [
        ("echo", &["--secs", "2.5"]),
        ("fs", &[]),
        ("stats-overhead", &["--pairs", "6", "--secs", "3"]),
        ("attach-overhead", &["--control"]),
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
            Cmd::StatsOverhead(a) => stats_overhead(a),
            Cmd::AttachOverhead(a) => attach_overhead(a),
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
        Cmd::All(args) => all(args),
    };
    if let Err(e) = result {
        eprintln!("ringline-bench: {e}");
        std::process::exit(1);
    }
}
