//! `--once`: one snapshot printed and exit, for scripts and tickets — a
//! text table, or with `--json` one JSON object whose schema is documented
//! in the crate's README ("`--once --json` schema") and versioned by its
//! `format_version` field.
//!
//! A single snapshot has no rates: busy shares and latency quantiles cover
//! the process's lifetime.

use std::fmt::Write as _;
use std::time::Duration;

use ringline_schema::inspect::Client;
use ringline_schema::inspect::wire::{Hello, RuntimeInfo};
use ringline_schema::stats::histogram::{BUCKETS, bucket_lower_ns, bucket_upper_ns};
use ringline_schema::stats::{ExecutorStats, Histogram, NetStats, OpTarget, RingStats, Snapshot};
use serde::Serialize;

use crate::model::alerts::{self, Thresholds};
use crate::model::rows::{self, OpScope, Window, WorkerId};
use crate::model::{table, units};
use crate::target::Target;

/// Version of the JSON below; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The `--once --json` document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `ringline-top/once`.
    pub format: &'static str,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// When the snapshot was taken, ns since 1970.
    pub taken_at_unix_ns: u64,
    /// The stuck threshold `stuck` and `alerts` used, ms.
    pub stuck_threshold_ms: u64,
    /// The process.
    pub hello: HelloOut,
    /// Firing alerts, critical first.
    pub alerts: Vec<AlertOut>,
    /// One per worker.
    pub workers: Vec<WorkerOut>,
    /// One per runtime and op kind, summed over workers.
    pub ops: Vec<OpOut>,
    /// Every configured pool.
    pub slabs: Vec<SlabOut>,
    /// One per worker.
    pub graveyard: Vec<GraveyardOut>,
    /// Ops in flight for at least the threshold, oldest first.
    pub stuck: Vec<StuckOut>,
}

/// The process, from `hello` (without the histogram layout: every
/// histogram below carries its bucket bounds).
#[derive(Debug, Serialize)]
pub struct HelloOut {
    pub pid: u32,
    pub process: String,
    pub version: String,
    pub backend: String,
    pub workers: usize,
    pub protocol_version: u32,
    pub start_time_unix_ns: u64,
    pub runtimes: Vec<RuntimeInfo>,
}

/// A firing alert.
#[derive(Debug, Serialize)]
pub struct AlertOut {
    pub rule: &'static str,
    pub severity: &'static str,
    pub message: String,
}

/// A worker: the snapshot's own objects plus derived figures.
#[derive(Debug, Serialize)]
pub struct WorkerOut {
    pub runtime: u64,
    pub worker: usize,
    pub busy_ratio: Option<f64>,
    pub in_flight: u64,
    pub p99_ns: Option<u64>,
    pub executor: ExecutorStats,
    pub ring: RingStats,
    pub net: NetStats,
}

/// An op kind of a runtime.
#[derive(Debug, Serialize)]
pub struct OpOut {
    pub runtime: u64,
    pub op: String,
    pub multishot: bool,
    pub in_flight: u64,
    pub submitted_total: u64,
    pub completed_ok_total: u64,
    pub completed_error_total: u64,
    pub completed_cancelled_total: u64,
    pub multishot_cqes_total: u64,
    pub latency: LatencyOut,
}

/// A latency histogram with its quantiles.
#[derive(Debug, Serialize)]
pub struct LatencyOut {
    pub count: u64,
    pub sum_ns: u64,
    pub mean_ns: Option<u64>,
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub p999_ns: Option<u64>,
    pub max_ns: Option<u64>,
    pub buckets: Vec<BucketOut>,
}

/// A non-empty histogram bucket: `[lower_ns, upper_ns)`.
#[derive(Debug, Serialize)]
pub struct BucketOut {
    pub lower_ns: u64,
    /// `null` for the overflow bucket.
    pub upper_ns: Option<u64>,
    pub count: u64,
}

/// A pool.
#[derive(Debug, Serialize)]
pub struct SlabOut {
    pub runtime: u64,
    /// `null` for runtime-wide pools.
    pub worker: Option<usize>,
    pub slab: String,
    pub used: u64,
    pub capacity: u64,
    pub high_water: u64,
    pub exhausted_total: u64,
    pub used_ratio: f64,
}

/// A worker's graveyard.
#[derive(Debug, Serialize)]
pub struct GraveyardOut {
    pub runtime: u64,
    pub worker: usize,
    pub depth: u64,
    pub bytes: u64,
    pub parked_total: u64,
    pub reaped_total: u64,
    pub oldest_age_ms: Option<u64>,
    pub abandoned: u64,
}

/// A stuck op.
#[derive(Debug, Serialize)]
pub struct StuckOut {
    pub runtime: u64,
    pub worker: usize,
    pub op: String,
    pub age_ms: u64,
    pub task: Option<u64>,
    pub target: OpTarget,
    pub target_text: String,
    pub flags: Vec<&'static str>,
}

/// Connects to `target`, takes one snapshot and prints it.
pub fn run(target: &Target, json: bool, stuck_after: Duration) -> Result<String, String> {
    let context = |what: &str, e: std::io::Error| {
        format!(
            "{what} {}: {e} (is the process running? `ringline-top --list` shows attachable ones)",
            target.label
        )
    };
    let mut client =
        Client::connect_path(&target.socket).map_err(|e| context("cannot attach to", e))?;
    let hello = client.hello().map_err(|e| context("no hello from", e))?;
    let snapshot = client
        .snapshot()
        .map_err(|e| context("no snapshot from", e))?;
    if json {
        let report = report(&hello, &snapshot, stuck_after);
        serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot encode the report: {e}"))
    } else {
        Ok(text(&hello, &snapshot, stuck_after))
    }
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// The JSON document for one snapshot.
pub fn report(hello: &Hello, snapshot: &Snapshot, stuck_after: Duration) -> Report {
    let thresholds = Thresholds {
        stuck_after,
        ..Thresholds::default()
    };
    let win = Window::single(snapshot);
    let worker_rows = rows::worker_rows(win);
    let mut workers = Vec::new();
    let mut graveyard = Vec::new();
    for rt in &snapshot.runtimes {
        for w in &rt.workers {
            let id = WorkerId {
                runtime: rt.id,
                worker: w.worker,
            };
            let row = worker_rows.iter().find(|r| r.id == id);
            workers.push(WorkerOut {
                runtime: rt.id,
                worker: w.worker,
                busy_ratio: row.and_then(|r| r.busy),
                in_flight: row.map_or(0, |r| r.in_flight),
                p99_ns: row.and_then(|r| r.p99_ns),
                executor: w.executor.clone(),
                ring: w.ring.clone(),
                net: w.net.clone(),
            });
            let g = &w.graveyard;
            graveyard.push(GraveyardOut {
                runtime: rt.id,
                worker: w.worker,
                depth: g.depth,
                bytes: g.bytes,
                parked_total: g.parked_total,
                reaped_total: g.reaped_total,
                oldest_age_ms: g.oldest_age_ns.map(ms),
                abandoned: g.abandoned,
            });
        }
    }
    Report {
        format: "ringline-top/once",
        format_version: FORMAT_VERSION,
        taken_at_unix_ns: snapshot.taken_at_unix_ns,
        stuck_threshold_ms: stuck_after.as_millis() as u64,
        hello: HelloOut {
            pid: hello.pid,
            process: hello.process.clone(),
            version: hello.version.clone(),
            backend: hello.backend.clone(),
            workers: hello.workers,
            protocol_version: hello.protocol_version,
            start_time_unix_ns: hello.start_time_unix_ns,
            runtimes: hello.runtimes.clone(),
        },
        alerts: alerts::evaluate(&[snapshot], &thresholds)
            .into_iter()
            .map(|a| AlertOut {
                rule: a.rule.as_str(),
                severity: if a.rule.is_critical() {
                    "critical"
                } else {
                    "warning"
                },
                message: a.message,
            })
            .collect(),
        workers,
        ops: rows::op_rows(win, OpScope::Runtimes)
            .into_iter()
            .map(|o| OpOut {
                runtime: o.runtime,
                latency: latency(&o.latency),
                op: o.op,
                multishot: o.multishot,
                in_flight: o.in_flight,
                submitted_total: o.submitted_total,
                completed_ok_total: o.completed_ok_total,
                completed_error_total: o.completed_error_total,
                completed_cancelled_total: o.completed_cancelled_total,
                multishot_cqes_total: o.multishot_cqes_total,
            })
            .collect(),
        slabs: rows::slab_rows(snapshot)
            .into_iter()
            .map(|s| SlabOut {
                runtime: s.runtime,
                worker: s.worker.map(|w| w.worker),
                slab: s.slab,
                used: s.used,
                capacity: s.capacity,
                high_water: s.high_water,
                exhausted_total: s.exhausted_total,
                used_ratio: s.ratio,
            })
            .collect(),
        graveyard,
        stuck: snapshot
            .stuck_ops(stuck_after)
            .into_iter()
            .map(|op| StuckOut {
                runtime: op.runtime,
                worker: op.worker,
                age_ms: ms(op.age_ns),
                task: op.task,
                target_text: rows::target_text(&op.target),
                flags: rows::flag_names(&op),
                target: op.target,
                op: op.op,
            })
            .collect(),
    }
}

fn latency(h: &Histogram) -> LatencyOut {
    LatencyOut {
        count: h.count,
        sum_ns: h.sum_ns,
        mean_ns: h.mean_ns(),
        p50_ns: h.quantile_ns(0.5),
        p99_ns: h.quantile_ns(0.99),
        p999_ns: h.quantile_ns(0.999),
        max_ns: h.quantile_ns(1.0),
        buckets: h
            .buckets
            .iter()
            .filter(|&&(i, _)| usize::from(i) < BUCKETS)
            .map(|&(i, count)| BucketOut {
                lower_ns: bucket_lower_ns(usize::from(i)),
                upper_ns: bucket_upper_ns(usize::from(i)),
                count,
            })
            .collect(),
    }
}

/// The text table for one snapshot.
pub fn text(hello: &Hello, snapshot: &Snapshot, stuck_after: Duration) -> String {
    let thresholds = Thresholds {
        stuck_after,
        ..Thresholds::default()
    };
    let win = Window::single(snapshot);
    let mut out = String::new();
    let up = snapshot
        .taken_at_unix_ns
        .saturating_sub(hello.start_time_unix_ns);
    let _ = writeln!(
        out,
        "{} (pid {}): {}, {} worker{}, ringline {}, up {}",
        hello.process,
        hello.pid,
        hello.backend,
        hello.workers,
        if hello.workers == 1 { "" } else { "s" },
        hello.version,
        units::duration_ns(up)
    );
    let alerts = alerts::evaluate(&[snapshot], &thresholds);
    let _ = writeln!(out, "\nalerts:");
    if alerts.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for a in &alerts {
        let mark = if a.rule.is_critical() { "✗" } else { "!" };
        let _ = writeln!(out, "  {mark} {}", a.message);
    }

    let _ = writeln!(out, "\nworkers (busy share and p99 since start):");
    let _ = writeln!(
        out,
        "  {:<6} {:>5} {:>9} {:>6} {:>9} {:>6} {:>9} {:>8}  FULLEST SLAB",
        "WORKER", "BUSY", "HEARTBEAT", "TASKS", "IN-FLIGHT", "CONNS", "GRAVEYARD", "P99"
    );
    for r in rows::worker_rows(win) {
        let heartbeat = if r.parked {
            "parked".to_owned()
        } else {
            units::duration_ns(r.heartbeat_age_ns)
        };
        let slab = r.fullest_slab.map_or_else(
            || "-".to_owned(),
            |(name, ratio)| format!("{name} {}", units::percent(ratio)),
        );
        let _ = writeln!(
            out,
            "  {:<6} {:>5} {:>9} {:>6} {:>9} {:>6} {:>9} {:>8}  {slab}",
            r.label,
            units::opt_percent(r.busy),
            heartbeat,
            r.tasks,
            r.in_flight,
            r.connections,
            r.graveyard_depth,
            units::opt_duration_ns(r.p99_ns)
        );
    }

    let _ = writeln!(out, "\nops (used since start; latency since start):");
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "OP", "COMPLETED", "IN-FLIGHT", "P50", "P99", "P99.9", "MAX", "ERRORS", "CANCELLED"
    );
    let mut ops = rows::op_rows(win, OpScope::Runtimes);
    ops.retain(|o| !o.is_idle());
    table::sort_ops(&mut ops, table::SortBy::Name);
    for o in ops {
        let completed = if o.multishot {
            o.multishot_cqes_total
        } else {
            o.completed_ok_total + o.completed_error_total + o.completed_cancelled_total
        };
        let lat = |ns| {
            if o.multishot {
                "-".to_owned()
            } else {
                units::opt_duration_ns(ns)
            }
        };
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            o.op,
            completed,
            o.in_flight,
            lat(o.p50_ns),
            lat(o.p99_ns),
            lat(o.p999_ns),
            lat(o.max_ns),
            o.completed_error_total,
            o.completed_cancelled_total
        );
    }

    let _ = writeln!(out, "\nslabs:");
    let _ = writeln!(
        out,
        "  {:<6} {:<16} {:>8} {:>8} {:>8} {:>9} {:>5}",
        "WORKER", "SLAB", "USED", "CAPACITY", "HIGH", "EXHAUSTED", "USAGE"
    );
    for s in rows::slab_rows(snapshot) {
        let _ = writeln!(
            out,
            "  {:<6} {:<16} {:>8} {:>8} {:>8} {:>9} {:>5}",
            s.owner,
            s.slab,
            s.used,
            s.capacity,
            s.high_water,
            s.exhausted_total,
            units::percent(s.ratio)
        );
    }

    let stuck = snapshot.stuck_ops(stuck_after);
    let _ = writeln!(
        out,
        "\nstuck (in flight ≥ {}, oldest first):{}",
        units::duration_ns(stuck_after.as_nanos() as u64),
        if stuck.is_empty() { " none" } else { "" }
    );
    if !stuck.is_empty() {
        let _ = writeln!(
            out,
            "  {:<6} {:<12} {:<24} {:>8} {:>16}  FLAGS",
            "WORKER", "OP", "TARGET", "AGE", "TASK"
        );
    }
    for op in &stuck {
        let id = WorkerId {
            runtime: op.runtime,
            worker: op.worker,
        };
        let _ = writeln!(
            out,
            "  {:<6} {:<12} {:<24} {:>8} {:>16}  {}",
            rows::worker_label(snapshot, id),
            op.op,
            rows::target_text(&op.target),
            units::duration_ns(op.age_ns),
            op.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
            rows::flag_names(op).join(",")
        );
    }
    // Empty last columns leave trailing blanks; tickets do not need them.
    out.lines()
        .map(|l| l.trim_end().to_owned() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn json_carries_every_documented_section() {
        let s = fixtures::snapshot(2);
        let v =
            serde_json::to_value(report(&fixtures::hello(), &s, Duration::from_secs(1))).unwrap();
        assert_eq!(v["format"], "ringline-top/once");
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["stuck_threshold_ms"], 1000);
        assert_eq!(v["hello"]["pid"], 4242);
        assert_eq!(v["hello"]["process"], "api");
        assert!(v["hello"].get("histogram").is_none());
        assert_eq!(v["workers"].as_array().unwrap().len(), 2);
        assert_eq!(v["workers"][0]["executor"]["tasks"], 12);
        assert_eq!(v["workers"][0]["busy_ratio"], 0.25);
        let send = v["ops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"] == "send")
            .unwrap();
        assert_eq!(send["latency"]["count"], 2000);
        assert_eq!(send["latency"]["p50_ns"], 20_480);
        assert_eq!(
            send["latency"]["buckets"],
            serde_json::json!([{"lower_ns": 18_432, "upper_ns": 20_480, "count": 2000}])
        );
        assert_eq!(v["graveyard"][1]["oldest_age_ms"], serde_json::Value::Null);
        assert!(
            v["slabs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["capacity"] != 0)
        );
        assert_eq!(
            v["stuck"],
            serde_json::json!([{
                "runtime": 1, "worker": 0, "op": "fs_read", "age_ms": 37_000,
                "task": 5, "target": {"type": "fd", "fd": 23}, "target_text": "fd 23",
                "flags": []
            }])
        );
        assert_eq!(v["alerts"][0]["rule"], "op_stuck");
        assert_eq!(v["alerts"][0]["severity"], "critical");
    }

    #[test]
    fn stuck_threshold_and_flags_in_json() {
        let s = fixtures::snapshot(2);
        let v = serde_json::to_value(report(&fixtures::hello(), &s, Duration::from_millis(100)))
            .unwrap();
        let stuck = v["stuck"].as_array().unwrap();
        assert_eq!(stuck.len(), 2);
        assert_eq!(stuck[1]["op"], "send");
        assert_eq!(stuck[1]["age_ms"], 200);
        assert_eq!(
            stuck[1]["flags"],
            serde_json::json!(["graveyard", "cancel_submitted"])
        );
        assert_eq!(stuck[1]["target_text"], "conn #7 127.0.0.1:9");
    }

    #[test]
    fn text_table_lists_workers_ops_and_the_stuck_read() {
        let s = fixtures::snapshot(2);
        let t = text(&fixtures::hello(), &s, Duration::from_secs(1));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "api (pid 4242): io_uring, 2 workers, ringline 0.2.0, up 2.00s"
        );
        assert!(lines.contains(
            &"  ✗ 1 op in flight ≥ 1.00s; oldest: fs_read on worker 0 (fd 23) for 37.0s"
        ));
        assert!(
            lines.contains(
                &"  0        25%    parked     12         1      4         0   81.9µs  tasks 19%"
            ),
            "{t}"
        );
        assert!(
            lines.contains(
                &"  0      fs_read      fd 23                       37.0s                5"
            ),
            "{t}"
        );
        assert!(!t.contains("fs_fsync"), "idle op kinds are left out");
    }
}
