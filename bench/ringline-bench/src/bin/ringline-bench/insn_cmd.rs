//! `ringline-bench insn`: user-space instructions per echo round trip
//! under callgrind, per server and message size, with ringline's top
//! functions (see `ringline_bench::insn`).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use ringline_bench::cpu;
use ringline_bench::echo::placement;
use ringline_bench::insn::{
    self, Binaries, Callgrind, Counted, InsnReport, InsnResult, InsnSettings, Plan, Variant,
    thousands,
};
use ringline_bench::matrix::{self, size_label};
use ringline_bench::report::Machine;

use crate::{bad_arg, target_dir, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct InsnArgs {
    /// Servers, comma-separated: ringline, ringline-nostats, ringline-mio,
    /// ringline-mio-nostats, tokio, raw-uring.
    #[arg(
        long,
        default_value = "ringline,ringline-nostats,ringline-mio,tokio,raw-uring"
    )]
    servers: String,
    /// Message sizes (`64`, `4k`, …), comma-separated.
    #[arg(long, default_value = "64,4k")]
    sizes: String,
    /// Client connections, one message in flight on each.
    #[arg(long, default_value_t = 32)]
    conns: usize,
    /// Round trips per connection before the counters are zeroed.
    #[arg(long, default_value_t = 300)]
    warm_up: u64,
    /// Round trips per connection counted.
    #[arg(long, default_value_t = 10_000)]
    round_trips: u64,
    /// Measurements per server and size; the median is reported with the
    /// range.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Functions listed for ringline (and ringline-mio), by self
    /// instructions per round trip; 0 lists none.
    #[arg(long, default_value_t = 15)]
    top: usize,
    /// Write every result as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where callgrind's dumps go (the last run of each server and size is
    /// kept: `DIR/SERVER-SIZE/callgrind.out.1-TT`).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

pub(crate) fn insn_bench(args: &InsnArgs) -> io::Result<()> {
    let started = Instant::now();
    let variants = matrix::parse_list(&args.servers, Variant::parse).map_err(bad_arg)?;
    let sizes = matrix::parse_list(&args.sizes, matrix::parse_size).map_err(bad_arg)?;
    if args.conns == 0 || args.round_trips == 0 || args.runs == 0 {
        return Err(bad_arg(
            "--conns, --round-trips and --runs must be positive".into(),
        ));
    }
    let callgrind = Callgrind::find_or_install()?;
    eprintln!("building the echo servers…");
    let bins = Binaries::build(&variants, &target_dir(""))?;
    let plan = Plan {
        variants: Variant::ALL
            .into_iter()
            .filter(|v| variants.contains(v))
            .collect(),
        sizes: sizes.clone(),
        connections: args.conns,
        warm_up: args.warm_up,
        round_trips: args.round_trips,
        runs: args.runs,
        top: args.top,
        out_dir: args.out_dir.clone().unwrap_or_else(|| target_dir("insn")),
    };
    let (server_cpus, client_cpus) = placement(1, cpu::available_cpus());
    println!(
        "insn: {} server(s) × {} size(s) × {} run(s) under {}; {} connections, {} warm-up + {} counted round trips each; server on CPUs {:?}, client on {:?} ({:.0} s so far)",
        plan.variants.len(),
        plan.sizes.len(),
        plan.runs,
        callgrind.version,
        plan.connections,
        plan.warm_up,
        plan.round_trips,
        server_cpus,
        client_cpus,
        started.elapsed().as_secs_f64()
    );
    let mut counted: HashMap<(Variant, usize), Vec<Counted>> = HashMap::new();
    // Runs interleaved (every server and size once, then again) so that a
    // change in the machine over the minutes spreads over all of them.
    for run in 0..plan.runs {
        for &size in &plan.sizes {
            for &variant in &plan.variants {
                let c = insn::count_once(
                    &plan,
                    variant,
                    size,
                    &bins,
                    &callgrind,
                    &server_cpus,
                    &client_cpus,
                )
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("{variant} {}: {e}", size_label(size)))
                })?;
                let listed: u64 = c.functions.values().sum();
                println!(
                    "{variant} {} run {}/{}: {} insn per round trip ({} on the busiest of {} active thread(s)); {} round trips counted in {:.1} s, {:.1} s in all{}",
                    size_label(size),
                    run + 1,
                    plan.runs,
                    thousands(c.per_round_trip()),
                    thousands(c.busiest_thread as f64 / c.round_trips.max(1) as f64),
                    c.active_threads,
                    thousands(c.round_trips as f64),
                    c.counted.as_secs_f64(),
                    c.wall.as_secs_f64(),
                    // Every instruction sits in some function: a gap means
                    // the dump was read wrong.
                    if listed == c.instructions {
                        String::new()
                    } else {
                        format!(
                            " (WARNING: functions add up to {listed}, not {})",
                            c.instructions
                        )
                    }
                );
                counted.entry((variant, size)).or_default().push(c);
            }
        }
    }
    let mut results = Vec::new();
    for &variant in &plan.variants {
        for &size in &plan.sizes {
            if let Some(runs) = counted.get(&(variant, size)) {
                results.push(InsnResult::new(variant, size, runs, plan.top));
            }
        }
    }
    println!(
        "\n== instructions per round trip ({} connections, 1 worker; {} round trips per connection counted)\n\n{}",
        plan.connections,
        plan.round_trips,
        insn::main_table(&results, &plan.sizes, plan.runs)
    );
    let same = results
        .iter()
        .all(|r| (r.per_round_trip.median - r.busiest_thread_per_round_trip.median).abs() < 1.0);
    if same {
        println!(
            "The worker (busiest) thread alone: within 1 instruction of all threads everywhere.\n"
        );
    } else {
        println!("{}", insn::busiest_table(&results, &plan.sizes));
    }
    for r in &results {
        let ringline_with_stats = [Variant::Ringline.as_str(), Variant::RinglineMio.as_str()];
        if !r.top.is_empty() && ringline_with_stats.contains(&r.server.as_str()) {
            println!("{}", insn::top_table(r));
        }
    }
    let report = InsnReport {
        benchmark: "insn",
        version: 1,
        machine: Machine::current(),
        settings: InsnSettings {
            connections: plan.connections,
            warm_up_per_connection: plan.warm_up,
            round_trips_per_connection: plan.round_trips,
            runs: plan.runs,
            valgrind: callgrind.version.clone(),
            server_cpus,
            client_cpus,
        },
        started_unix_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(started.elapsed().as_secs()),
        wall_secs: started.elapsed().as_secs_f64(),
        stats_cost: insn::stats_costs(&results),
        results,
    };
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    println!(
        "callgrind dumps of each last run: {} (see BENCHMARKS.md before feeding them to callgrind_annotate)\nwall time {:.0} s",
        plan.out_dir
            .canonicalize()
            .unwrap_or(plan.out_dir.clone())
            .display(),
        report.wall_secs
    );
    Ok(())
}
