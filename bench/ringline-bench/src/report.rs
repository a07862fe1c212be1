//! What a benchmark run reports: per-run numbers, per-pair ratios, their
//! median and spread, the one-line verdict per comparison, and the JSON
//! document (`--json PATH`) holding all of it.
//!
//! JSON layout (`version` 1):
//!
//! ```text
//! EchoReport { benchmark: "echo", version, machine, settings,
//!              started_unix_secs, wall_secs,
//!   cells: [ CellReport { label, message_size, connections, workers,
//!                         server_cpus, client_cpus,
//!     comparisons: [ Comparison { subject, vs,
//!                                 ops_per_core_sec_ratio: Spread,
//!                                 ops_per_sec_ratio: Spread,
//!       pairs: [ PairReport { pair, subject_first, ratio,
//!                             ops_per_sec_ratio, steal_share,
//!                             subject: RunReport,
//!                             other: RunReport } ] } ] } ] }
//! RunReport { server, ops, elapsed_secs, ops_per_sec, server_cpu_secs,
//!             server_user_secs, server_system_secs, ops_per_core_sec,
//!             latency_us: LatencySummary, incomplete, offered,
//!             client_lag_p99_us }
//! LatencySummary { count, mean, p50, p90, p99, p999, max }  (µs)
//! Spread { median, min, max, n }
//! ```

use serde::Serialize;
use std::time::Duration;

use ringline_schema::stats::Histogram;

use super::loadgen::Outcome;

/// Latency percentiles in microseconds. Percentiles are histogram bucket
/// upper bounds (at most 12.5 % above the true value); `max` is exact.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl LatencySummary {
    /// Summarises `h`, whose largest sample was `max_ns`.
    pub fn from_histogram(h: &Histogram, max_ns: u64) -> LatencySummary {
        let us = |ns: Option<u64>| ns.map_or(0.0, |ns| ns as f64 / 1e3);
        LatencySummary {
            count: h.count,
            mean: us(h.mean_ns()),
            // A bucket bound may exceed the exact maximum; never report a
            // percentile above it.
            p50: us(h.quantile_ns(0.5).map(|v| v.min(max_ns))),
            p90: us(h.quantile_ns(0.9).map(|v| v.min(max_ns))),
            p99: us(h.quantile_ns(0.99).map(|v| v.min(max_ns))),
            p999: us(h.quantile_ns(0.999).map(|v| v.min(max_ns))),
            max: max_ns as f64 / 1e3,
        }
    }
}

/// One server's numbers over one measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Which server (`ServerKind::as_str`).
    pub server: String,
    /// Round trips in the window.
    pub ops: u64,
    /// Window length.
    pub elapsed_secs: f64,
    /// `ops / elapsed_secs`.
    pub ops_per_sec: f64,
    /// Server CPU time over the window (all threads, scheduler accounting).
    pub server_cpu_secs: f64,
    /// User part (`/proc/PID/stat`, clock-tick resolution).
    pub server_user_secs: f64,
    /// System part.
    pub server_system_secs: f64,
    /// `ops / server_cpu_secs`: the headline metric.
    pub ops_per_core_sec: f64,
    /// Round-trip latency.
    pub latency_us: LatencySummary,
    /// Open loop: requests still unanswered when the window closed.
    pub incomplete: u64,
    /// Open loop: requests due in the window (0 in closed loop).
    pub offered: u64,
    /// Open loop: the client's own lag behind its schedule, p99 (µs).
    pub client_lag_p99_us: Option<f64>,
}

/// Server CPU time over a window.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerCpu {
    /// Scheduler-accounted time of all threads (ns precision).
    pub total: Duration,
    /// User time (tick precision).
    pub user: Duration,
    /// System time (tick precision).
    pub system: Duration,
}

impl RunReport {
    /// The report of `server` for load `outcome` and server CPU `cpu`.
    pub fn new(server: &str, outcome: &Outcome, cpu: ServerCpu, open_loop: bool) -> RunReport {
        let ops = outcome.ops as f64;
        let elapsed = outcome.elapsed.as_secs_f64();
        let core_secs = cpu.total.as_secs_f64();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        RunReport {
            server: server.to_string(),
            ops: outcome.ops,
            elapsed_secs: elapsed,
            ops_per_sec: ratio(ops, elapsed),
            server_cpu_secs: core_secs,
            server_user_secs: cpu.user.as_secs_f64(),
            server_system_secs: cpu.system.as_secs_f64(),
            ops_per_core_sec: ratio(ops, core_secs),
            latency_us: LatencySummary::from_histogram(&outcome.latency, outcome.max_latency_ns),
            incomplete: outcome.incomplete,
            offered: outcome.offered,
            client_lag_p99_us: open_loop
                .then(|| outcome.send_lag.quantile_ns(0.99).unwrap_or(0) as f64 / 1e3),
        }
    }

    /// Share of the server's CPU time spent in user space.
    pub fn user_share(&self) -> f64 {
        let all = self.server_user_secs + self.server_system_secs;
        if all > 0.0 {
            self.server_user_secs / all
        } else {
            f64::NAN
        }
    }
}

/// Median and range of per-pair ratios.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Median (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Finite values it was computed from.
    pub n: usize,
}

impl Spread {
    /// Of the finite `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        Some(Spread {
            median: super::median(&finite)?,
            min: finite.iter().copied().fold(f64::INFINITY, f64::min),
            max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: finite.len(),
        })
    }
}

/// Both servers of one concurrent pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairReport {
    /// Pair number within the comparison.
    pub pair: usize,
    /// Whether the subject (ringline unless `--baseline` says otherwise)
    /// was started first.
    pub subject_first: bool,
    /// subject / other, in ops per server-core-second.
    pub ratio: f64,
    /// subject / other, in ops per second.
    pub ops_per_sec_ratio: f64,
    /// Share of the machine's CPU time stolen by the hypervisor during the
    /// window (`/proc/stat`): above a few percent, distrust the pair.
    pub steal_share: f64,
    /// The subject's run.
    pub subject: RunReport,
    /// The other server's run.
    pub other: RunReport,
}

impl PairReport {
    /// Pairs `subject` with `other` (steal share unknown until set).
    pub fn new(pair: usize, subject_first: bool, subject: RunReport, other: RunReport) -> Self {
        PairReport {
            pair,
            subject_first,
            steal_share: f64::NAN,
            ratio: subject.ops_per_core_sec / other.ops_per_core_sec,
            ops_per_sec_ratio: subject.ops_per_sec / other.ops_per_sec,
            subject,
            other,
        }
    }
}

/// The subject (ringline by default) against one other server in one
/// cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The server measured against the others (`ringline` by default).
    pub subject: String,
    /// The other server.
    pub vs: String,
    /// Ratios in ops per server-core-second (`None` before any pair).
    pub ops_per_core_sec_ratio: Option<Spread>,
    /// Ratios in ops per second.
    pub ops_per_sec_ratio: Option<Spread>,
    /// Every pair, in run order.
    pub pairs: Vec<PairReport>,
}

impl Comparison {
    /// An empty comparison of `subject` with `vs`.
    pub fn new(subject: &str, vs: &str) -> Comparison {
        Comparison {
            subject: subject.to_string(),
            vs: vs.to_string(),
            ops_per_core_sec_ratio: None,
            ops_per_sec_ratio: None,
            pairs: Vec::new(),
        }
    }

    /// Adds a pair and refreshes the spreads.
    pub fn push(&mut self, pair: PairReport) {
        self.pairs.push(pair);
        let core: Vec<f64> = self.pairs.iter().map(|p| p.ratio).collect();
        let rate: Vec<f64> = self.pairs.iter().map(|p| p.ops_per_sec_ratio).collect();
        self.ops_per_core_sec_ratio = Spread::of(&core);
        self.ops_per_sec_ratio = Spread::of(&rate);
    }

    /// The verdict line of this comparison in cell `label`:
    /// `echo 64B/128c ops-per-core-s ratio vs tokio: 1.34 (min 1.21, max 1.40, 5 pairs)`
    /// (with `raw-uring vs tokio` when the subject is not ringline).
    pub fn summary_line(&self, label: &str) -> String {
        self.summary_line_in("echo", label)
    }

    /// [`summary_line`](Self::summary_line) for benchmark `bench`
    /// (`blocks cached/64c ops-per-core-s ratio vs tokio-fs: …`).
    pub fn summary_line_in(&self, bench: &str, label: &str) -> String {
        let who = if self.subject == "ringline" {
            format!("vs {}", self.vs)
        } else {
            format!("{} vs {}", self.subject, self.vs)
        };
        match self.ops_per_core_sec_ratio {
            Some(s) => format!(
                "{bench} {label} ops-per-core-s ratio {who}: {:.2} (min {:.2}, max {:.2}, {} pairs)",
                s.median, s.min, s.max, s.n
            ),
            None => format!("{bench} {label} ops-per-core-s ratio {who}: no valid pairs"),
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellReport {
    /// `64B/128c`, `64B/128c/2w`.
    pub label: String,
    /// Bytes per message.
    pub message_size: usize,
    /// Client connections.
    pub connections: usize,
    /// Server workers.
    pub workers: usize,
    /// CPUs both servers were pinned to (empty: not pinned).
    pub server_cpus: Vec<usize>,
    /// CPUs the clients were pinned to (empty: not pinned).
    pub client_cpus: Vec<usize>,
    /// One per opponent.
    pub comparisons: Vec<Comparison>,
}

/// The machine the run was on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// CPUs available to the harness.
    pub cpus: usize,
    /// `uname -r`.
    pub kernel: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Machine {
        Machine {
            cpus: super::cpu::available_cpus(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        }
    }
}

/// How the run was set up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Pairs per comparison.
    pub pairs: usize,
    /// Measured seconds per pair.
    pub secs: f64,
    /// Warm-up before each window.
    pub warm_up_secs: f64,
    /// Client threads per server.
    pub client_threads: usize,
    /// `closed` or `open`.
    pub load: String,
    /// Closed loop: how clients wait for echoes (`spin` or `block`).
    pub client_wait: String,
    /// Open loop: requests per second offered to each server.
    pub rate: Option<f64>,
    /// Cargo features the ringline server was built with.
    pub ringline_features: Vec<String>,
}

/// The whole `echo` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchoReport {
    /// Always `echo`.
    pub benchmark: &'static str,
    /// Layout version of this document.
    pub version: u32,
    /// Where it ran.
    pub machine: Machine,
    /// How.
    pub settings: Settings,
    /// Start time (Unix seconds).
    pub started_unix_secs: u64,
    /// Wall time so far (the whole run once finished, builds included).
    pub wall_secs: f64,
    /// Cells finished so far.
    pub cells: Vec<CellReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(server: &str, ops: u64, cpu_ms: u64) -> RunReport {
        let mut out = Outcome {
            elapsed: Duration::from_secs(2),
            ..Outcome::default()
        };
        for i in 0..ops {
            out.latency.record_n(10_000 + i, 1);
            out.ops += 1;
            out.max_latency_ns = out.max_latency_ns.max(10_000 + i);
        }
        let cpu = ServerCpu {
            total: Duration::from_millis(cpu_ms),
            user: Duration::from_millis(cpu_ms / 4),
            system: Duration::from_millis(cpu_ms * 3 / 4),
        };
        RunReport::new(server, &out, cpu, false)
    }

    #[test]
    fn rates_and_ratios_come_from_ops_and_cpu_time() {
        let a = run("ringline", 1000, 500);
        let b = run("tokio", 800, 500);
        assert_eq!(a.ops_per_sec, 500.0);
        assert_eq!(a.ops_per_core_sec, 2000.0);
        assert_eq!(a.user_share(), 0.25);
        let p = PairReport::new(0, true, a, b);
        assert_eq!(p.ratio, 1.25);
        assert_eq!(p.ops_per_sec_ratio, 1.25);
        // No CPU time: NaN, which the spread skips instead of averaging.
        let idle = run("raw-uring", 10, 0);
        assert!(idle.ops_per_core_sec.is_nan());
    }

    #[test]
    fn latency_summary_is_in_microseconds_and_capped_by_the_max() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record_n(us * 1000, 1);
        }
        let s = LatencySummary::from_histogram(&h, 1_000_000);
        assert_eq!(s.count, 1000);
        assert!((s.mean - 500.5).abs() < 0.01, "{s:?}");
        // Bucket upper bounds: within 12.5 % above the exact rank.
        for (got, exact) in [(s.p50, 500.0), (s.p90, 900.0), (s.p99, 990.0)] {
            assert!(got >= exact && got <= exact * 1.125, "{got} vs {exact}");
        }
        assert_eq!(s.p999, 1000.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(
            LatencySummary::from_histogram(&Histogram::default(), 0).p99,
            0.0
        );
    }

    #[test]
    fn the_summary_line_has_the_issues_shape() {
        let mut c = Comparison::new("ringline", "tokio");
        assert_eq!(
            c.summary_line("64B/128c"),
            "echo 64B/128c ops-per-core-s ratio vs tokio: no valid pairs"
        );
        for (i, (a, b)) in [
            (1340, 1000),
            (1210, 1000),
            (1400, 1000),
            (1300, 1000),
            (1380, 1000),
        ]
        .into_iter()
        .enumerate()
        {
            c.push(PairReport::new(
                i,
                i % 2 == 0,
                run("ringline", a, 500),
                run("tokio", b, 500),
            ));
        }
        assert_eq!(
            c.summary_line("64B/128c"),
            "echo 64B/128c ops-per-core-s ratio vs tokio: 1.34 (min 1.21, max 1.40, 5 pairs)"
        );
        c.subject = "raw-uring".into();
        assert!(
            c.summary_line("4KiB/1c")
                .starts_with("echo 4KiB/1c ops-per-core-s ratio raw-uring vs tokio: 1.34 ")
        );
    }

    #[test]
    fn json_has_every_documented_field() {
        let mut c = Comparison::new("ringline", "raw-uring");
        c.push(PairReport::new(
            0,
            true,
            run("ringline", 10, 5),
            run("raw-uring", 12, 5),
        ));
        let report = EchoReport {
            benchmark: "echo",
            version: 1,
            machine: Machine {
                cpus: 2,
                kernel: "6.18".into(),
            },
            settings: Settings {
                pairs: 1,
                secs: 2.0,
                warm_up_secs: 0.3,
                client_threads: 2,
                load: "closed".into(),
                client_wait: "spin".into(),
                rate: None,
                ringline_features: vec!["stats".into()],
            },
            started_unix_secs: 1,
            wall_secs: 3.5,
            cells: vec![CellReport {
                label: "64B/128c".into(),
                message_size: 64,
                connections: 128,
                workers: 1,
                server_cpus: vec![1],
                client_cpus: vec![0],
                comparisons: vec![c],
            }],
        };
        let v = serde_json::to_value(&report).expect("serializable");
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&v),
            [
                "benchmark",
                "cells",
                "machine",
                "settings",
                "started_unix_secs",
                "version",
                "wall_secs"
            ]
        );
        let cmp = &v["cells"][0]["comparisons"][0];
        assert_eq!(cmp["vs"], "raw-uring");
        assert_eq!(cmp["subject"], "ringline");
        assert_eq!(
            keys(&cmp["pairs"][0]),
            [
                "ops_per_sec_ratio",
                "other",
                "pair",
                "ratio",
                "steal_share",
                "subject",
                "subject_first"
            ]
        );
        assert_eq!(
            keys(&cmp["ops_per_core_sec_ratio"]),
            ["max", "median", "min", "n"]
        );
        let run = &cmp["pairs"][0]["other"];
        assert_eq!(
            keys(run),
            [
                "client_lag_p99_us",
                "elapsed_secs",
                "incomplete",
                "latency_us",
                "offered",
                "ops",
                "ops_per_core_sec",
                "ops_per_sec",
                "server",
                "server_cpu_secs",
                "server_system_secs",
                "server_user_secs"
            ]
        );
        assert_eq!(
            keys(&run["latency_us"]),
            ["count", "max", "mean", "p50", "p90", "p99", "p999"]
        );
        assert_eq!(run["ops_per_core_sec"], 2400.0);
        assert_eq!(run["client_lag_p99_us"], serde_json::Value::Null);
    }
}
