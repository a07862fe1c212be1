//! `reliability-report`: runs the reliability tests — the inspect
//! server's structured fuzzer, the runtime fault tests and the load test —
//! collects the one-line figures each prints (`RELIABILITY <suite> k=v …`)
//! and prints the four figures of issue 9: load held, faults survived, bad
//! inputs tried, nothing lost.
//!
//! ```text
//! cargo run -p ringline-tests --bin reliability-report [-- --release] [-- --fuzz-secs 60]
//! ```
//!
//! It runs `cargo test` (the `CARGO` that runs it, else `cargo` on the
//! `PATH`) in the workspace, so the figures come from exactly the tests CI
//! runs; any failing test fails the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::Parser;

/// Runs the reliability tests and prints their figures.
#[derive(Parser, Debug)]
#[command(name = "reliability-report")]
struct Args {
    /// Build and run the tests in release mode.
    #[arg(long)]
    release: bool,
    /// Seconds the structured fuzzer runs (`RINGLINE_FUZZ_SECS`).
    #[arg(long, default_value_t = 20)]
    fuzz_secs: u64,
    /// fs futures the dropped-futures fault drops
    /// (`RINGLINE_FAULT_FUTURES`).
    #[arg(long, default_value_t = 1_000_000)]
    futures: u64,
}

/// One `RELIABILITY` line: the suite, then its fields.
#[derive(Debug, Clone)]
struct Figures {
    suite: String,
    fields: BTreeMap<String, String>,
}

impl Figures {
    fn parse(line: &str) -> Option<Figures> {
        let mut words = line.strip_prefix("RELIABILITY ")?.split_whitespace();
        let suite = words.next()?.to_owned();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(Figures { suite, fields })
    }

    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("?", String::as_str)
    }

    fn num(&self, key: &str) -> f64 {
        self.get(key).parse().unwrap_or(0.0)
    }
}

/// The test runs whose figures make the report.
fn runs() -> [(&'static str, Vec<&'static str>); 3] {
    [
        (
            "inspect structured fuzzer",
            vec!["-p", "ringline", "--lib", "inspect::structured_fuzz"],
        ),
        (
            "runtime faults",
            vec!["-p", "ringline-tests", "--test", "faults"],
        ),
        (
            "load and exposure",
            vec!["-p", "ringline-tests", "--test", "load_exposure"],
        ),
    ]
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf();
    let mut all = Vec::new();
    let mut failed = Vec::new();
    for (what, selection) in runs() {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root).arg("test").args(&selection);
        if args.release {
            cmd.arg("--release");
        }
        cmd.args(["--", "--nocapture"])
            .env("RINGLINE_FUZZ_SECS", args.fuzz_secs.to_string())
            .env("RINGLINE_FAULT_FUTURES", args.futures.to_string());
        eprintln!("reliability-report: {what}: {cmd:?}");
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) => {
                eprintln!("reliability-report: cannot run {cargo}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        all.extend(text.lines().filter_map(Figures::parse));
        if !out.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("reliability-report: {what} FAILED:");
            for line in tail.iter().rev() {
                eprintln!("  {line}");
            }
            failed.push(what);
        }
    }
    print_report(&all);
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("reliability-report: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

fn print_report(all: &[Figures]) {
    fn of<'a>(all: &'a [Figures], suite: &'a str) -> impl Iterator<Item = &'a Figures> {
        all.iter().filter(move |f| f.suite == suite)
    }
    let faults: Vec<&Figures> = of(all, "faults").collect();
    let fault = |case: &str| faults.iter().find(|f| f.get("case") == case).copied();

    let load = match of(all, "load").next() {
        Some(l) => format!(
            "echo p99 {} µs watched vs {} µs alone (x{}; p50 {} vs {} µs), {} + {} round trips; \
             {} pollers: {} snapshots, {} busy; {} scrapers: {} ok, {} 503, {} closed; \
             busy past the cap in {} ms",
            l.get("p99_attached_us"),
            l.get("p99_alone_us"),
            l.get("p99_ratio"),
            l.get("p50_attached_us"),
            l.get("p50_alone_us"),
            l.get("round_trips_alone"),
            l.get("round_trips_attached"),
            l.get("pollers"),
            l.get("snapshots"),
            l.get("poll_busy"),
            l.get("scrapers"),
            l.get("scrapes_ok"),
            l.get("scrapes_503"),
            l.get("scrapes_closed"),
            l.get("busy_ms"),
        ),
        None => "not measured (the load test printed no figures)".into(),
    };

    let mut survived = Vec::new();
    if let Some(f) = fault("cq_overflow") {
        survived.push(format!(
            "CQ overflow ({} overflowed turns)",
            f.get("cq_overflow_turns")
        ));
    }
    if let Some(f) = fault("enobufs") {
        survived.push(format!("ENOBUFS ({} times)", f.get("enobufs")));
    }
    if let Some(f) = fault("signal_storm") {
        survived.push(format!(
            "EINTR storm ({} signals delivered)",
            f.get("signals_delivered")
        ));
    }
    if let Some(f) = fault("fd_exhaustion") {
        survived.push(format!(
            "fd exhaustion ({} EMFILE, {:.1} % CPU while exhausted)",
            f.get("accept_errors"),
            f.num("cpu_share") * 100.0
        ));
    }
    if let Some(f) = fault("dropped_fs_futures") {
        survived.push(format!(
            "{} fs futures dropped at random points",
            f.get("futures")
        ));
    }
    if let Some(f) = fault("shutdown_in_flight") {
        survived.push(format!(
            "shutdown with {} ops in flight ({} ms)",
            f.num("reads_in_flight") + f.num("connections"),
            f.get("shutdown_ms")
        ));
    }
    let survived = format!("{} of 6 cases: {}", survived.len(), survived.join("; "));

    let bad = match of(all, "fuzz").next() {
        Some(f) => format!(
            "{} bad lines among {} request lines ({} bytes) in {} fuzz episodes over {} s, \
             + {} corpus files; {} responses checked, 0 panics, well-behaved client answered \
             {} times (slowest {} ms)",
            f.get("bad_lines"),
            f.get("lines"),
            f.get("bytes"),
            f.get("episodes"),
            f.get("secs"),
            f.get("corpus_files"),
            f.get("responses"),
            f.get("sentinel_round_trips"),
            f.get("sentinel_slowest_ms"),
        ),
        None => "not measured (the fuzzer printed no figures)".into(),
    };

    let sum = |key: &str| -> f64 { all.iter().map(|f| f.num(key)).sum() };
    let every_case_lost_nothing = all
        .iter()
        .filter(|f| f.suite != "fuzz")
        .all(|f| f.get("lost") == "0");
    let load_fds = of(all, "load")
        .next()
        .map(|l| {
            format!(
                "fds {} before == {} after",
                l.get("fds_before"),
                l.get("fds_after")
            )
        })
        .unwrap_or_else(|| "fds not measured".into());
    let nothing_lost = format!(
        "{}: submitted == completed and graveyard drained in every runtime; bytes sent == \
         echoed ({} bytes); {load_fds}; provided buffers held at end: {}; late kernel writes: \
         {} (guard blocks checked: {})",
        if every_case_lost_nothing && !all.is_empty() {
            "held"
        } else {
            "NOT SHOWN"
        },
        sum("bytes_echoed"),
        fault("enobufs").map_or("?", |f| f.get("buffers_held_at_end")),
        sum("late_writes"),
        fault("dropped_fs_futures").map_or("?", |f| f.get("guard_blocks_checked")),
    );

    println!();
    println!("{:<18} value", "figure");
    println!("{:<18} -----", "------");
    for (name, value) in [
        ("load held", load),
        ("faults survived", survived),
        ("bad inputs tried", bad),
        ("nothing lost", nothing_lost),
    ] {
        println!("{name:<18} {value}");
    }
}
