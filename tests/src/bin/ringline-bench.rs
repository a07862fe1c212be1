//! `ringline-bench`: paired, interleaved benchmarks of ringline builds and
//! servers (see `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p ringline-tests --bin ringline-bench -- echo [--pairs 5] [--secs 3] [--json PATH]
//! cargo run --release -p ringline-tests --bin ringline-bench -- load ADDR [--rate 20000] [--server-pid PID]
//! cargo run --release -p ringline-tests --bin ringline-bench -- stats-overhead [--pairs 6] [--secs 3]
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::{Parser, Subcommand};
use ringline_tests::bench::echo::{self, Binaries, EchoPlan};
use ringline_tests::bench::matrix::{self, ServerKind};
use ringline_tests::bench::report::{EchoReport, Machine, RunReport, ServerCpu, Settings};
use ringline_tests::bench::{cpu, loadgen, median, server::Server, server::build_example};

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
    /// Servers to compare ringline with: tokio, tokio-mt (multi-worker
    /// cells only), ringline-0.1.2, raw-uring; `ringline` adds an A/A
    /// control.
    #[arg(long, default_value = "tokio,tokio-mt,ringline-0.1.2,raw-uring")]
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
    /// Client threads per server.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Open loop at this many requests per second per server (latency
    /// from intended send times) instead of the closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// How closed-loop clients wait for echoes: `spin` keeps client
    /// wake-ups off the server's CPU bill, at the price of noisier runs
    /// (see `loadgen::Wait`).
    #[arg(long, value_enum, default_value_t = ClientWait::Block)]
    client_wait: ClientWait,
    /// Write every result as JSON here (rewritten after each cell).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Cargo features of the ringline echo server (the default set).
    #[arg(long, default_value = "stats")]
    ringline_features: String,
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
    /// Client threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Open loop at this many requests per second; closed loop without.
    #[arg(long)]
    rate: Option<f64>,
    /// How closed-loop clients wait for echoes.
    #[arg(long, value_enum, default_value_t = ClientWait::Block)]
    client_wait: ClientWait,
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
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("bench")
        .join(name)
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

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
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
    if args.pairs == 0 || !positive(args.secs) || args.rate.is_some_and(|r| !positive(r)) {
        return Err(bad_arg(
            "--pairs, --secs and --rate must be positive".into(),
        ));
    }
    let plan = EchoPlan {
        subject: args.baseline,
        cells: matrix::cells(&sizes, &conns, &workers, &servers),
        pairs: args.pairs,
        secs: Duration::from_secs_f64(args.secs),
        threads: args.threads.max(1),
        rate: args.rate,
        wait: args.client_wait.wait(),
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
        threads: args.threads.max(1),
        message_size: args.size,
        duration: Duration::from_secs_f64(args.secs),
        client_cpus: args.client_cpus.clone(),
        rate: args.rate,
        wait: args.client_wait.wait(),
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
    let report = RunReport::new(&args.addr.to_string(), &outcome, cpu, args.rate.is_some());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(io::Error::other)?
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::Echo(args) => echo_matrix(args),
        Cmd::Load(args) => load(args),
        Cmd::StatsOverhead(args) => stats_overhead(args),
    };
    if let Err(e) = result {
        eprintln!("ringline-bench: {e}");
        std::process::exit(1);
    }
}
