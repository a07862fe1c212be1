//! `ringline-bench echo`: the echo matrix, ringline against the other
//! servers in concurrent pairs.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use ringline_bench::echo::{self, Binaries, EchoPlan};
use ringline_bench::matrix::{self, ServerKind};
use ringline_bench::report::{EchoReport, Machine, Settings};
use ringline_bench::{cpu, loadgen};

use crate::{ClientArgs, bad_arg, repo_root, target_dir, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct EchoMatrixArgs {
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

pub(crate) fn echo_matrix(args: &EchoMatrixArgs) -> io::Result<()> {
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
