//! `ringline-bench`: paired, interleaved benchmarks of ringline builds and
//! servers (see `BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p ringline-tests --bin ringline-bench -- stats-overhead [--pairs 6] [--secs 3]
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringline_tests::bench::{cpu, loadgen, median, server::Server, server::build_example};

#[derive(Parser)]
#[command(about = "Paired, interleaved benchmarks of ringline")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
}

/// One measured run of one server.
struct Run {
    ops_per_sec: f64,
    ops_per_core_sec: f64,
}

fn target_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("bench")
        .join(name)
}

/// Starts `binary`, pins it and the clients to disjoint CPUs when there are
/// two, offers the load and measures ops and server CPU time.
fn run_echo(binary: &Path, args: &EchoArgs) -> io::Result<Run> {
    let mut server = Server::start(binary, &["--workers".into(), "1".into()])?;
    let two_cpus = cpu::available_cpus() >= 2;
    if two_cpus {
        cpu::pin_process(server.pid(), 1);
    }
    let load = loadgen::Load {
        addr: server.addr,
        connections: args.connections,
        threads: args.threads,
        message_size: args.size,
        duration: Duration::from_secs_f64(args.secs),
        client_cpu: two_cpus.then_some(0),
    };
    let pid = server.pid();
    let mut samples = Vec::new();
    let outcome = loadgen::run(&load, || samples.push(cpu::process_cpu(pid)))?;
    server.stop();
    let (Some(Ok(before)), Some(Ok(after))) = (samples.first(), samples.get(1)) else {
        return Err(io::Error::other("could not sample the server's CPU time"));
    };
    let core_secs = after.saturating_sub(*before).as_secs_f64();
    let ops = outcome.ops as f64;
    Ok(Run {
        ops_per_sec: ops / outcome.elapsed.as_secs_f64(),
        ops_per_core_sec: if core_secs > 0.0 {
            ops / core_secs
        } else {
            f64::NAN
        },
    })
}

fn stats_overhead(args: &EchoArgs) -> io::Result<()> {
    eprintln!("building echo_server with and without the `stats` feature…");
    let on = build_example("echo_server", &["stats"], &target_dir("stats-on"))?;
    let off = build_example("echo_server", &[], &target_dir("stats-off"))?;
    println!(
        "echo, 1 worker, {} connections × {} B, {} client threads, {} s per run, {} pairs, {} CPUs",
        args.connections,
        args.size,
        args.threads,
        args.secs,
        args.pairs,
        cpu::available_cpus()
    );
    println!("pair  order    on ops/core-s   off ops/core-s   on ops/s   off ops/s   on/off");
    let mut overheads = Vec::new();
    for pair in 0..args.pairs {
        let on_first = pair % 2 == 0;
        let (a, b) = if on_first { (&on, &off) } else { (&off, &on) };
        let first = run_echo(a, args)?;
        let second = run_echo(b, args)?;
        let (r_on, r_off) = if on_first {
            (first, second)
        } else {
            (second, first)
        };
        let ratio = r_on.ops_per_core_sec / r_off.ops_per_core_sec;
        overheads.push((1.0 - ratio) * 100.0);
        println!(
            "{pair:>4}  {:<7}  {:>14.0}  {:>15.0}  {:>9.0}  {:>10.0}   {ratio:.4}",
            if on_first { "on,off" } else { "off,on" },
            r_on.ops_per_core_sec,
            r_off.ops_per_core_sec,
            r_on.ops_per_sec,
            r_off.ops_per_sec,
        );
    }
    let med = median(&overheads).unwrap_or(f64::NAN);
    let min = overheads.iter().copied().fold(f64::INFINITY, f64::min);
    let max = overheads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "stats overhead: {med:.1}% (median of {} pairs; spread {min:.1}% .. {max:.1}%)",
        overheads.len()
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Cmd::StatsOverhead(args) => stats_overhead(args),
    };
    if let Err(e) = result {
        eprintln!("ringline-bench: {e}");
        std::process::exit(1);
    }
}
