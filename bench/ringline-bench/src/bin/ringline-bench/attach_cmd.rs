//! `ringline-bench attach-overhead`: the cost of being watched by the
//! inspector or the sidecar exporter.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ringline_bench::report::Machine;
use ringline_bench::server::{build_example, build_workspace_bins};
use ringline_bench::{attach, cpu, matrix};

use crate::{bad_arg, target_dir, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct AttachArgs {
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

pub(crate) fn attach_overhead(args: &AttachArgs) -> io::Result<()> {
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
                &[("ringline-exporter-sidecar", "ringline-exporter")],
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
