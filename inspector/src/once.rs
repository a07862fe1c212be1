//! `--once`: one snapshot printed and exit, for scripts and tickets — a
//! text table, or with `--json` one JSON object whose schema is documented
//! in the crate's README ("`--once --json` schema") and versioned by its
//! `format_version` field.
//!
//! A single snapshot has no rates: busy shares and latency quantiles cover
//! the process's lifetime.
//!
//! Beside the snapshot it asks for every task and connection and for the
//! stuck ops' await sites and verdicts (inspect protocol 2); a process of
//! protocol 1 gets those sections empty, with a note saying why.

use std::fmt::Write as _;
use std::time::Duration;

use ringline_schema::inspect::Client;
use ringline_schema::inspect::wire::{Hello, RuntimeInfo};
use ringline_schema::stats::histogram::{BUCKETS, bucket_lower_ns, bucket_upper_ns};
use ringline_schema::stats::{
    ConnectionInfo, ExecutorStats, Histogram, InFlightOp, NetStats, OpTarget, RingStats, Site,
    Snapshot, TaskInfo, TaskKind, Verdict, WaitTarget,
};
use serde::Serialize;

use crate::feed::{self, Limits};
use crate::model::alerts::{self, Thresholds};
use crate::model::rows::{self, OpScope, Window, WorkerId};
use crate::model::tasks::{self, Fetched, NEEDS_NEWER, Needs};
use crate::model::{Event, table, units};
use crate::target::Target;

/// Most tasks, connections and ops `--once` asks for (the server's
/// ceiling).
const ONCE_LIMIT: usize = 10_000;

/// What `--once` fetched beside the snapshot.
#[derive(Debug, Clone)]
pub struct Extras {
    /// The `tasks` answer (every task).
    pub tasks: Fetched<Vec<TaskInfo>>,
    /// The `connections` answer.
    pub connections: Fetched<Vec<ConnectionInfo>>,
    /// The `ops` answer for the stuck threshold (await sites, verdicts).
    pub ops: Fetched<Vec<InFlightOp>>,
}

impl Extras {
    /// Nothing fetched.
    pub fn none() -> Extras {
        Extras {
            tasks: Fetched::Pending,
            connections: Fetched::Pending,
            ops: Fetched::Pending,
        }
    }

    /// Asks `client` (of a server speaking `protocol`) for everything.
    fn fetch(client: &mut Client, protocol: u32, stuck_after: Duration) -> Extras {
        let needs = Needs {
            tasks: Some(Duration::ZERO),
            connections: true,
            ops: Some(stuck_after),
        };
        let limits = Limits {
            tasks: ONCE_LIMIT,
            connections: ONCE_LIMIT,
            ops: ONCE_LIMIT,
        };
        let mut extras = Extras::none();
        for event in feed::ask(client, protocol, &needs, limits).0 {
            match event {
                Event::Tasks(t) => extras.tasks = t,
                Event::Connections(c) => extras.connections = c,
                Event::Ops(o) => extras.ops = o,
                _ => {}
            }
        }
        extras
    }

    /// Why a section is empty, one note each.
    fn notes(&self) -> Vec<String> {
        fn note<T>(what: &str, f: &Fetched<T>) -> Option<String> {
            match f {
                Fetched::Ready(_) => None,
                Fetched::Pending => Some(format!("{what}: not asked")),
                Fetched::Unsupported => Some(format!("{what}: {NEEDS_NEWER}")),
                Fetched::Failed(e) => Some(format!("{what}: cannot list them: {e}")),
            }
        }
        [
            note("tasks", &self.tasks),
            note("connections", &self.connections),
            note("stuck op verdicts", &self.ops),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The snapshot's stuck ops with their await sites and verdicts.
    fn stuck_ops(&self, snapshot: &Snapshot, stuck_after: Duration) -> Vec<InFlightOp> {
        let mut ops = snapshot.stuck_ops(stuck_after);
        if let Some(explained) = self.ops.ready() {
            tasks::explain(&mut ops, explained);
        }
        ops
    }
}

/// Version of the JSON below; bumped on any incompatible change (fields
/// may be added without a bump).
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
    /// Every task, longest in its state first (empty with a note when the
    /// process cannot list them).
    pub tasks: Vec<TaskOut>,
    /// Every connection, oldest first (empty with a note likewise).
    pub connections: Vec<ConnOut>,
    /// Why a section is empty or incomplete: an older process, a failure.
    pub notes: Vec<String>,
    /// With `--replay`: which recorded frame this is (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayOut>,
}

/// The recorded frame a `--replay --once` report shows.
#[derive(Debug, Serialize)]
pub struct ReplayOut {
    /// The dump file.
    pub file: String,
    /// What made the process write it: `stall`, `panic`, `signal`,
    /// `request` or `external`.
    pub trigger: &'static str,
    /// The trigger's message.
    pub message: String,
    /// When the trigger fired, ns since 1970.
    pub trigger_at_unix_ns: u64,
    /// The worker the trigger concerns.
    pub trigger_worker: Option<usize>,
    /// The frame's time relative to the trigger, seconds.
    pub at_s: f64,
    /// The frame's index, from 0.
    pub frame: usize,
    /// Frames in the recording.
    pub frames: usize,
    /// The frame's series resolution, ms.
    pub res_ms: u32,
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
    /// Where the task waiting on it waits (`null` when unknown).
    pub await_site: Option<Site>,
    /// Why it has not completed (`null` when the process does not say).
    pub verdict: Option<VerdictOut>,
}

/// A verdict: why a task or an op has not moved.
#[derive(Debug, Serialize)]
pub struct VerdictOut {
    pub kind: &'static str,
    pub message: String,
    pub tasks: Vec<u64>,
}

impl VerdictOut {
    fn of(v: &Verdict) -> VerdictOut {
        VerdictOut {
            kind: v.kind.name(),
            message: v.message.clone(),
            tasks: v.tasks.clone(),
        }
    }
}

/// A task.
#[derive(Debug, Serialize)]
pub struct TaskOut {
    pub runtime: u64,
    pub worker: usize,
    pub id: u64,
    pub name: Option<String>,
    /// `connection`, `on_start` or `spawned`.
    pub kind: &'static str,
    /// The connection of a `connection` task.
    pub connection: Option<u32>,
    pub state: &'static str,
    pub state_for_ms: u64,
    pub polls: u64,
    pub busy_ns: u64,
    pub wakes: u64,
    pub self_wakes: u64,
    pub spawn_site: Option<Site>,
    pub await_site: Option<Site>,
    pub waiting_on: WaitTarget,
    pub waiting_on_text: String,
    pub verdict: VerdictOut,
    /// Stuck by the Stuck view's rule at `stuck_threshold_ms`.
    pub stuck: bool,
}

/// A connection.
#[derive(Debug, Serialize)]
pub struct ConnOut {
    pub runtime: u64,
    pub worker: usize,
    pub index: u32,
    pub peer: Option<String>,
    pub outbound: bool,
    pub age_ms: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub buffered_bytes: u64,
    pub queued_bytes: u64,
    pub recv_paused: bool,
    pub closing: bool,
    pub ops_in_flight: u32,
    pub task: Option<u64>,
    pub task_state: Option<&'static str>,
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
    let extras = Extras::fetch(&mut client, hello.protocol_version, stuck_after);
    if json {
        let report = report(&hello, &snapshot, &extras, stuck_after);
        serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot encode the report: {e}"))
    } else {
        Ok(text(&hello, &snapshot, &extras, stuck_after))
    }
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// The JSON document for one snapshot and what was fetched beside it.
pub fn report(
    hello: &Hello,
    snapshot: &Snapshot,
    extras: &Extras,
    stuck_after: Duration,
) -> Report {
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
        stuck: extras
            .stuck_ops(snapshot, stuck_after)
            .into_iter()
            .map(|op| StuckOut {
                runtime: op.runtime,
                worker: op.worker,
                age_ms: ms(op.age_ns),
                task: op.task,
                target_text: rows::target_text(&op.target),
                flags: rows::flag_names(&op),
                verdict: op.verdict.as_ref().map(VerdictOut::of),
                await_site: op.await_site,
                target: op.target,
                op: op.op,
            })
            .collect(),
        tasks: extras
            .tasks
            .ready()
            .map(|ts| ts.iter().map(|t| task_out(t, stuck_after)).collect())
            .unwrap_or_default(),
        connections: extras
            .connections
            .ready()
            .map(|cs| cs.iter().map(conn_out).collect())
            .unwrap_or_default(),
        notes: extras.notes(),
        replay: None,
    }
}

/// `--replay FILE --once`: the frame at `at_ns` after the trigger (the
/// last one without), as `--once` prints a live snapshot.
pub fn replay(
    replay: &mut crate::replay::Replay,
    at_ns: Option<i64>,
    json: bool,
    stuck_after: Duration,
) -> Result<String, String> {
    let last = replay.recording().frames.len() - 1;
    let i = at_ns.map_or(last, |ns| replay.index_at(ns));
    replay.go(i);
    let hello = replay.hello(i);
    let side = replay.side(i);
    let extras = Extras {
        tasks: side.tasks,
        connections: side.connections,
        ops: side.ops,
    };
    let timeline = replay.timeline();
    let header = &replay.recording().header;
    let snapshot = &replay.recording().frames[i].state.snapshot;
    if json {
        let mut r = report(&hello, snapshot, &extras, stuck_after);
        r.replay = Some(ReplayOut {
            file: timeline.file.clone(),
            trigger: header.trigger.kind.name(),
            message: header.trigger.message.clone(),
            trigger_at_unix_ns: header.trigger.at_unix_ns,
            trigger_worker: header.trigger.worker,
            at_s: timeline.at_ns as f64 / 1e9,
            frame: i,
            frames: timeline.frames,
            res_ms: timeline.res_ms,
        });
        serde_json::to_string_pretty(&r)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot encode the report: {e}"))
    } else {
        let mut out = format!(
            "replay of {}: frame {}/{} at {} from the {} trigger ({})\n",
            timeline.file,
            i + 1,
            timeline.frames,
            crate::model::timeline::offset_text(timeline.at_ns),
            header.trigger.kind.name(),
            header.trigger.message
        );
        out.push_str(&text(&hello, snapshot, &extras, stuck_after));
        Ok(out)
    }
}

fn task_out(t: &TaskInfo, stuck_after: Duration) -> TaskOut {
    let (kind, connection) = match t.kind {
        TaskKind::Connection { connection } => ("connection", Some(connection)),
        TaskKind::OnStart => ("on_start", None),
        TaskKind::Spawned => ("spawned", None),
    };
    TaskOut {
        runtime: t.runtime,
        worker: t.worker,
        id: t.id,
        name: t.name.clone(),
        kind,
        connection,
        state: t.state.name(),
        state_for_ms: ms(t.state_for_ns),
        polls: t.polls,
        busy_ns: t.busy_ns,
        wakes: t.wakes,
        self_wakes: t.self_wakes,
        spawn_site: t.spawn_site.clone(),
        await_site: t.await_site.clone(),
        waiting_on: t.waiting_on.clone(),
        waiting_on_text: tasks::wait_text(&t.waiting_on),
        verdict: VerdictOut::of(&t.verdict),
        stuck: tasks::is_stuck(t, stuck_after),
    }
}

fn conn_out(c: &ConnectionInfo) -> ConnOut {
    ConnOut {
        runtime: c.runtime,
        worker: c.worker,
        index: c.index,
        peer: c.peer.clone(),
        outbound: c.outbound,
        age_ms: ms(c.age_ns),
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
        buffered_bytes: c.buffered_bytes,
        queued_bytes: c.queued_bytes,
        recv_paused: c.recv_paused,
        closing: c.closing,
        ops_in_flight: c.ops_in_flight,
        task: c.task,
        task_state: c.task_state.map(|s| s.name()),
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

/// The text table for one snapshot and what was fetched beside it.
pub fn text(hello: &Hello, snapshot: &Snapshot, extras: &Extras, stuck_after: Duration) -> String {
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

    let stuck = extras.stuck_ops(snapshot, stuck_after);
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
        if let Some(v) = &op.verdict {
            let _ = writeln!(
                out,
                "    waited on at {}; {}: {}",
                tasks::site_text(op.await_site.as_ref()),
                v.kind.name(),
                v.message
            );
        }
    }

    let threshold = units::duration_ns(stuck_after.as_nanos() as u64);
    match &extras.tasks {
        Fetched::Ready(all) => {
            let stuck = tasks::stuck_tasks(all, stuck_after);
            let _ = writeln!(
                out,
                "\nstuck tasks (not running for ≥ {threshold}; sleeps and quiet peers left out; {} task{} in all):{}",
                all.len(),
                if all.len() == 1 { "" } else { "s" },
                if stuck.is_empty() { " none" } else { "" }
            );
            for t in &stuck {
                let id = WorkerId {
                    runtime: t.runtime,
                    worker: t.worker,
                };
                let _ = writeln!(
                    out,
                    "  worker {}  {}  {}  {}: {}",
                    rows::worker_label(snapshot, id),
                    tasks::task_label(t),
                    tasks::state_text(t.state, t.state_for_ns),
                    t.verdict.kind.name(),
                    t.verdict.message
                );
                let _ = writeln!(
                    out,
                    "    spawned at {}; waits at {} on {}",
                    tasks::site_text(t.spawn_site.as_ref()),
                    tasks::site_text(t.await_site.as_ref()),
                    tasks::wait_text(&t.waiting_on)
                );
            }
        }
        Fetched::Unsupported => {
            let _ = writeln!(out, "\ntasks: {NEEDS_NEWER}");
        }
        Fetched::Failed(e) => {
            let _ = writeln!(out, "\ntasks: cannot list them: {e}");
        }
        Fetched::Pending => {}
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
        let v = serde_json::to_value(report(
            &fixtures::hello(),
            &s,
            &Extras::none(),
            Duration::from_secs(1),
        ))
        .unwrap();
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
                "flags": [], "await_site": null, "verdict": null
            }])
        );
        assert_eq!(v["alerts"][0]["rule"], "op_stuck");
        assert_eq!(v["alerts"][0]["severity"], "critical");
    }

    #[test]
    fn stuck_threshold_and_flags_in_json() {
        let s = fixtures::snapshot(2);
        let v = serde_json::to_value(report(
            &fixtures::hello(),
            &s,
            &Extras::none(),
            Duration::from_millis(100),
        ))
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
        let t = text(
            &fixtures::hello(),
            &s,
            &Extras::none(),
            Duration::from_secs(1),
        );
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

    fn extras() -> Extras {
        Extras {
            tasks: Fetched::Ready(fixtures::tasks()),
            connections: Fetched::Ready(fixtures::connections()),
            ops: Fetched::Ready(fixtures::explained_ops()),
        }
    }

    #[test]
    fn json_carries_tasks_connections_and_explained_stuck_ops() {
        let s = fixtures::snapshot(2);
        let v = serde_json::to_value(report(
            &fixtures::hello(),
            &s,
            &extras(),
            Duration::from_secs(1),
        ))
        .unwrap();
        assert_eq!(v["format_version"], 1, "fields added: no bump");
        assert_eq!(v["notes"], serde_json::json!([]));
        let stuck = &v["stuck"][0];
        assert_eq!(
            stuck["await_site"],
            serde_json::json!({"file": "runtime/examples/demo.rs", "line": 92, "column": 20})
        );
        assert_eq!(stuck["verdict"]["kind"], "in_kernel");
        assert_eq!(stuck["verdict"]["tasks"], serde_json::json!([5]));
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 7);
        assert_eq!(
            tasks[0],
            serde_json::json!({
                "runtime": 1, "worker": 0, "id": 5, "name": "stuck_read", "kind": "spawned",
                "connection": null, "state": "idle", "state_for_ms": 37_000, "polls": 50,
                "busy_ns": 95_000, "wakes": 10, "self_wakes": 2,
                "spawn_site": {"file": "runtime/examples/demo.rs", "line": 45, "column": 25},
                "await_site": {"file": "runtime/examples/demo.rs", "line": 92, "column": 20},
                "waiting_on": {"on": "op", "op": "fs_read"},
                "waiting_on_text": "op fs_read",
                "verdict": {
                    "kind": "in_kernel",
                    "message": "its fs_read has been in the kernel for 37.0s with no completion yet",
                    "tasks": []
                },
                "stuck": true
            })
        );
        let by_id = |id: u64| tasks.iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(by_id(11)["verdict"]["tasks"], serde_json::json!([11, 12]));
        assert_eq!(by_id(20)["kind"], "connection");
        assert_eq!(by_id(20)["connection"], 3);
        assert_eq!(by_id(20)["stuck"], false, "a quiet peer is no stuck task");
        assert_eq!(by_id(22)["state"], "running");
        let conns = v["connections"].as_array().unwrap();
        assert_eq!(conns.len(), 3);
        assert_eq!(conns[0]["peer"], "10.0.0.7:4242");
        assert_eq!(conns[0]["age_ms"], 60_000);
        assert_eq!(conns[0]["task"], 20);
        assert_eq!(conns[0]["task_state"], "idle");
        assert_eq!(conns[1]["recv_paused"], true);
        assert_eq!(conns[1]["task"], serde_json::Value::Null);
    }

    #[test]
    fn an_older_process_gets_empty_sections_and_notes() {
        let s = fixtures::snapshot(2);
        let old = Extras {
            tasks: Fetched::Unsupported,
            connections: Fetched::Unsupported,
            ops: Fetched::Ready(vec![fixtures::stuck_read()]),
        };
        let v = serde_json::to_value(report(&fixtures::hello(), &s, &old, Duration::from_secs(1)))
            .unwrap();
        assert_eq!(v["tasks"], serde_json::json!([]));
        assert_eq!(v["connections"], serde_json::json!([]));
        let notes = v["notes"].as_array().unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0]
                .as_str()
                .unwrap()
                .starts_with("tasks: needs a newer ringline")
        );
        assert_eq!(v["stuck"][0]["verdict"], serde_json::Value::Null);
        let t = text(&fixtures::hello(), &s, &old, Duration::from_secs(1));
        assert!(t.contains("\ntasks: needs a newer ringline"), "{t}");
        assert!(!t.contains("stuck tasks"), "{t}");
    }

    #[test]
    fn text_lists_stuck_tasks_with_verdicts_and_sites() {
        let s = fixtures::snapshot(2);
        let t = text(&fixtures::hello(), &s, &extras(), Duration::from_secs(1));
        let lines: Vec<&str> = t.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("stuck tasks (not running for ≥ 1.00s"))
            .unwrap_or_else(|| panic!("{t}"));
        assert_eq!(
            &lines[at + 1..],
            [
                "  worker 1  task 11  idle 5.00s  deadlock: waits on task 12, which waits on task 11: a cycle",
                "    spawned at runtime/examples/demo.rs:51:25; waits at runtime/examples/demo.rs:211:13 on channel 11 (senders 12)",
                "  worker 1  task 12  idle 5.00s  deadlock: waits on task 11, which waits on task 12: a cycle",
                "    spawned at runtime/examples/demo.rs:52:25; waits at runtime/examples/demo.rs:212:13 on channel 12 (senders 11)",
                "  worker 0  task 5 \"stuck_read\"  idle 37.0s  in_kernel: its fs_read has been in the kernel for 37.0s with no completion yet",
                "    spawned at runtime/examples/demo.rs:45:25; waits at runtime/examples/demo.rs:92:20 on op fs_read",
            ],
            "{t}"
        );
        assert!(
            lines.contains(&"    waited on at runtime/examples/demo.rs:92:20; in_kernel: in the kernel for 37.0s with no completion yet; task 5 \"stuck_read\" waits on it"),
            "{t}"
        );
    }
}
