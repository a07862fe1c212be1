//! `ringline-bench stats-overhead`: the echo server with the `stats`
//! feature on against off, in pairs.

use std::io;
use std::path::Path;
use std::time::Duration;

use ringline_bench::server::{Server, build_example};
use ringline_bench::{cpu, loadgen, median};

use crate::target_dir;

#[derive(clap::Args, Clone)]
pub(crate) struct EchoArgs {
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

pub(crate) fn stats_overhead(args: &EchoArgs) -> io::Result<()> {
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
