//! `--diff A B`, and the replay's diff panel: what grew or appeared from
//! one recorded moment to another — per worker graveyard depth and bytes,
//! in flight per op kind, per pool used and high water, tasks and
//! connections per worker (largest relative change first, zero and
//! shrinking figures left out), then the stuck ops present in B and not
//! in A, the tasks new in B or idle through the whole span, the
//! connections new in B, and, for two moments of one process, the op
//! rates between them.
//!
//! Tasks and connections come from the recorded lists, which a process
//! trims to the longest idle and oldest entries: "new" means new to the
//! list.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use ringline_schema::record::State;
use ringline_schema::stats::{InFlightOp, Snapshot, TaskState};
use serde::Serialize;

use crate::model::rows;
use crate::model::{tasks, units};

/// Most entries of each list the text shows (JSON has them all).
const TEXT_LIMIT: usize = 12;

/// One recorded moment.
#[derive(Debug, Clone)]
pub struct Moment {
    /// How to name it (`dump.jsonl at -10.0s`).
    pub label: String,
    /// The process.
    pub pid: u32,
    /// Wall-clock time, ns since 1970.
    pub unix_ns: u64,
    /// The process's stats clock.
    pub monotonic_ns: u64,
    /// What was recorded (with the tasks, connections and explained ops
    /// in effect then).
    pub state: State,
}

/// What grew or appeared from `from` to `to`.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Always `ringline-top/diff`.
    pub format: &'static str,
    /// The earlier moment's label.
    pub from: String,
    /// The later moment's label.
    pub to: String,
    /// Seconds from `from` to `to` (wall clock).
    pub span_s: f64,
    /// The threshold `new_stuck_ops` and `tasks` use, ms.
    pub stuck_threshold_ms: u64,
    /// Figures that grew, largest relative change first.
    pub changes: Vec<Change>,
    /// Ops in flight for at least the threshold in B and not in A.
    pub new_stuck_ops: Vec<StuckOp>,
    /// Tasks new in B, or idle through the whole span and stuck in B.
    pub tasks: Vec<TaskChange>,
    /// Connections new in B, newest first.
    pub new_connections: Vec<NewConn>,
    /// Per op kind, what completed between the moments (one process
    /// only), busiest first.
    pub rates: Vec<Rate>,
}

/// A figure that grew.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `graveyard_depth`, `graveyard_bytes`, `in_flight`, `slab_used`,
    /// `slab_high_water`, `tasks` or `connections`.
    pub what: &'static str,
    /// Runtime id.
    pub runtime: u64,
    /// The worker (`null`: the runtime's, or summed over its workers).
    pub worker: Option<usize>,
    /// The op kind or pool.
    pub name: Option<String>,
    /// In A.
    pub before: u64,
    /// In B.
    pub after: u64,
    /// `after - before`.
    pub delta: u64,
    /// What it is sorted by: the change relative to A (bytes in KiB).
    #[serde(skip)]
    pub score: f64,
}

/// A new stuck op.
#[derive(Debug, Clone, Serialize)]
pub struct StuckOp {
    /// Runtime id.
    pub runtime: u64,
    /// Worker.
    pub worker: usize,
    /// Op kind.
    pub op: String,
    /// Its target, as text.
    pub target: String,
    /// The submitting task.
    pub task: Option<u64>,
    /// Its age in B, ms.
    pub age_ms: u64,
    /// Why it has not completed, when recorded.
    pub verdict: Option<String>,
}

/// A task new in B or idle longer.
#[derive(Debug, Clone, Serialize)]
pub struct TaskChange {
    /// `new` or `idle_longer`.
    pub change: &'static str,
    /// Runtime id.
    pub runtime: u64,
    /// Worker.
    pub worker: usize,
    /// Task id.
    pub id: u64,
    /// `task 5 "stuck_read"`.
    pub label: String,
    /// Its state in B and for how long (`idle 37.0s`).
    pub state: String,
    /// In A, ms (`null` for a new task).
    pub state_for_ms_before: Option<u64>,
    /// In B, ms.
    pub state_for_ms: u64,
    /// What it waits on in B.
    pub waiting_on: String,
    /// Its verdict in B.
    pub verdict: String,
}

/// A connection new in B.
#[derive(Debug, Clone, Serialize)]
pub struct NewConn {
    /// Runtime id.
    pub runtime: u64,
    /// Worker.
    pub worker: usize,
    /// Slot index.
    pub index: u32,
    /// Peer address.
    pub peer: Option<String>,
    /// Age in B, ms.
    pub age_ms: u64,
    /// The task serving it.
    pub task: Option<u64>,
}

/// An op kind's activity between the moments.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    /// Runtime id.
    pub runtime: u64,
    /// Op kind.
    pub op: String,
    /// Completions (or multishot completions) per second.
    pub completed_per_s: f64,
    /// Errors per second.
    pub errors_per_s: f64,
}

fn growth(
    out: &mut Vec<Change>,
    what: &'static str,
    runtime: u64,
    worker: Option<usize>,
    name: Option<&str>,
    before: u64,
    after: u64,
) {
    if after <= before {
        return;
    }
    let unit = if what == "graveyard_bytes" {
        1024.0
    } else {
        1.0
    };
    let delta = after - before;
    out.push(Change {
        what,
        runtime,
        worker,
        name: name.map(str::to_owned),
        before,
        after,
        delta,
        score: (delta as f64 / unit) / (before as f64 / unit).max(1.0),
    });
}

/// Every figure of a snapshot that a diff compares, by identity.
type Figures = BTreeMap<(&'static str, u64, Option<usize>, Option<String>), u64>;

fn figures(s: &Snapshot) -> Figures {
    let mut f = Figures::new();
    for rt in &s.runtimes {
        for slab in &rt.slabs {
            f.insert(
                ("slab_used", rt.id, None, Some(slab.slab.clone())),
                slab.used,
            );
            f.insert(
                ("slab_high_water", rt.id, None, Some(slab.slab.clone())),
                slab.high_water,
            );
        }
        for w in &rt.workers {
            let at = Some(w.worker);
            f.insert(("graveyard_depth", rt.id, at, None), w.graveyard.depth);
            f.insert(("graveyard_bytes", rt.id, at, None), w.graveyard.bytes);
            f.insert(("tasks", rt.id, at, None), w.executor.tasks);
            f.insert(("connections", rt.id, at, None), w.net.connections_active);
            for slab in &w.slabs {
                f.insert(("slab_used", rt.id, at, Some(slab.slab.clone())), slab.used);
                f.insert(
                    ("slab_high_water", rt.id, at, Some(slab.slab.clone())),
                    slab.high_water,
                );
            }
            for op in &w.ops {
                *f.entry(("in_flight", rt.id, None, Some(op.op.clone())))
                    .or_default() += op.in_flight;
            }
        }
    }
    f
}

fn op_key(op: &InFlightOp) -> (u64, usize, String, String, Option<u64>) {
    (
        op.runtime,
        op.worker,
        op.op.clone(),
        rows::target_text(&op.target),
        op.task,
    )
}

/// The ops of `state` in flight for at least `min`, explained from its
/// recorded op list.
fn stuck(state: &State, min: Duration) -> Vec<InFlightOp> {
    let mut ops = state.snapshot.stuck_ops(min);
    tasks::explain(&mut ops, &state.stuck_ops);
    ops
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// What grew or appeared from `a` to `b`; `stuck_after` decides which ops
/// and tasks count as stuck.
pub fn diff(a: &Moment, b: &Moment, stuck_after: Duration) -> Diff {
    let (sa, sb) = (&a.state.snapshot, &b.state.snapshot);
    let before = figures(sa);
    let mut changes = Vec::new();
    for ((what, runtime, worker, name), after) in figures(sb) {
        let was = before
            .get(&(what, runtime, worker, name.clone()))
            .copied()
            .unwrap_or(0);
        growth(
            &mut changes,
            what,
            runtime,
            worker,
            name.as_deref(),
            was,
            after,
        );
    }
    changes.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(y.delta.cmp(&x.delta))
            .then(x.what.cmp(y.what))
    });

    let was_stuck: HashSet<_> = stuck(&a.state, stuck_after).iter().map(op_key).collect();
    let new_stuck_ops = stuck(&b.state, stuck_after)
        .into_iter()
        .filter(|op| !was_stuck.contains(&op_key(op)))
        .map(|op| StuckOp {
            target: rows::target_text(&op.target),
            verdict: op
                .verdict
                .as_ref()
                .map(|v| format!("{}: {}", v.kind.name(), v.message)),
            runtime: op.runtime,
            worker: op.worker,
            age_ms: ms(op.age_ns),
            task: op.task,
            op: op.op,
        })
        .collect();

    let tasks_before: BTreeMap<(u64, u64), _> = a
        .state
        .tasks
        .iter()
        .map(|t| ((t.runtime, t.id), t))
        .collect();
    let mut task_changes: Vec<TaskChange> = Vec::new();
    if !a.state.tasks.is_empty() || !b.state.tasks.is_empty() {
        for t in &b.state.tasks {
            let old = tasks_before.get(&(t.runtime, t.id));
            let change = match old {
                None => "new",
                Some(o)
                    if o.state == TaskState::Idle
                        && t.state == TaskState::Idle
                        && t.state_for_ns > o.state_for_ns
                        && tasks::is_stuck(t, stuck_after) =>
                {
                    "idle_longer"
                }
                Some(_) => continue,
            };
            task_changes.push(TaskChange {
                change,
                runtime: t.runtime,
                worker: t.worker,
                id: t.id,
                label: tasks::task_label(t),
                state: tasks::state_text(t.state, t.state_for_ns),
                state_for_ms_before: old.map(|o| ms(o.state_for_ns)),
                state_for_ms: ms(t.state_for_ns),
                waiting_on: tasks::wait_text(&t.waiting_on),
                verdict: format!("{}: {}", t.verdict.kind.name(), t.verdict.message),
            });
        }
    }
    task_changes.sort_by(|x, y| {
        (x.change != "idle_longer")
            .cmp(&(y.change != "idle_longer"))
            .then(y.state_for_ms.cmp(&x.state_for_ms))
    });

    let conns_before: HashSet<_> = a
        .state
        .connections
        .iter()
        .map(|c| (c.runtime, c.worker, c.index, c.peer.clone()))
        .collect();
    let mut new_connections: Vec<NewConn> = b
        .state
        .connections
        .iter()
        .filter(|c| !conns_before.contains(&(c.runtime, c.worker, c.index, c.peer.clone())))
        .map(|c| NewConn {
            runtime: c.runtime,
            worker: c.worker,
            index: c.index,
            peer: c.peer.clone(),
            age_ms: ms(c.age_ns),
            task: c.task,
        })
        .collect();
    new_connections.sort_by_key(|c| c.age_ms);

    let span_ns = b.monotonic_ns.saturating_sub(a.monotonic_ns);
    let mut rates = Vec::new();
    if a.pid == b.pid && span_ns > 0 {
        let secs = span_ns as f64 / 1e9;
        for rt in &sb.runtimes {
            let Some(old) = sa.runtime(rt.id) else {
                continue;
            };
            let mut kinds: Vec<&str> = rt
                .workers
                .iter()
                .flat_map(|w| w.ops.iter().map(|o| o.op.as_str()))
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            for op in kinds {
                let sum = |r: &ringline_schema::stats::RuntimeSnapshot,
                           f: &dyn Fn(&ringline_schema::stats::OpStats) -> u64|
                 -> u64 {
                    r.workers
                        .iter()
                        .flat_map(|w| &w.ops)
                        .filter(|o| o.op == op)
                        .map(f)
                        .sum()
                };
                let done = |o: &ringline_schema::stats::OpStats| {
                    if o.multishot {
                        o.multishot_cqes_total
                    } else {
                        o.completed_total()
                    }
                };
                let errors = |o: &ringline_schema::stats::OpStats| o.completed_error_total;
                let completed = sum(rt, &done).saturating_sub(sum(old, &done));
                let failed = sum(rt, &errors).saturating_sub(sum(old, &errors));
                if completed > 0 || failed > 0 {
                    rates.push(Rate {
                        runtime: rt.id,
                        op: op.to_owned(),
                        completed_per_s: completed as f64 / secs,
                        errors_per_s: failed as f64 / secs,
                    });
                }
            }
        }
        rates.sort_by(|x, y| y.completed_per_s.total_cmp(&x.completed_per_s));
    }

    Diff {
        format: "ringline-top/diff",
        from: a.label.clone(),
        to: b.label.clone(),
        span_s: (i128::from(b.unix_ns) - i128::from(a.unix_ns)) as f64 / 1e9,
        stuck_threshold_ms: stuck_after.as_millis() as u64,
        changes,
        new_stuck_ops,
        tasks: task_changes,
        new_connections,
        rates,
    }
}

/// What a change is about, in words: `worker 0 graveyard depth`,
/// `fs_read in flight`, `pool send_buffers used (worker 1)`.
pub fn change_label(c: &Change, runtimes: usize) -> String {
    let worker = |w: usize| {
        if runtimes > 1 {
            format!("worker {}/{w}", c.runtime)
        } else {
            format!("worker {w}")
        }
    };
    let name = c.name.as_deref().unwrap_or("?");
    let owner = c.worker.map_or_else(
        || {
            if runtimes > 1 {
                format!("runtime {}", c.runtime)
            } else {
                "runtime".to_owned()
            }
        },
        worker,
    );
    match c.what {
        "graveyard_depth" => format!("{owner} graveyard depth"),
        "graveyard_bytes" => format!("{owner} graveyard bytes"),
        "in_flight" if runtimes > 1 => format!("{name} in flight (runtime {})", c.runtime),
        "in_flight" => format!("{name} in flight"),
        "slab_used" => format!("pool {name} used ({owner})"),
        "slab_high_water" => format!("pool {name} high water ({owner})"),
        "tasks" => format!("{owner} tasks"),
        "connections" => format!("{owner} connections"),
        other => format!("{owner} {other}"),
    }
}

/// The diff as text, most telling first.
pub fn text(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "from {} to {} ({}{}):",
        d.from,
        d.to,
        if d.span_s < 0.0 { "-" } else { "" },
        units::duration_ns((d.span_s.abs() * 1e9) as u64)
    );
    let runtimes: HashSet<u64> = d.changes.iter().map(|c| c.runtime).collect();
    let more = |out: &mut String, n: usize| {
        if n > TEXT_LIMIT {
            let _ = writeln!(out, "    … and {} more", n - TEXT_LIMIT);
        }
    };
    if d.changes.is_empty() {
        let _ = writeln!(out, "  nothing grew");
    } else {
        let _ = writeln!(out, "  grew (largest relative change first):");
        for c in d.changes.iter().take(TEXT_LIMIT) {
            let bytes = c.what == "graveyard_bytes";
            let fmt = |v: u64| {
                if bytes {
                    units::bytes(v)
                } else {
                    v.to_string()
                }
            };
            let _ = writeln!(
                out,
                "    {:<40} {:>9} → {:<9} +{}",
                change_label(c, runtimes.len()),
                fmt(c.before),
                fmt(c.after),
                fmt(c.delta)
            );
        }
        more(&mut out, d.changes.len());
    }
    let threshold = units::duration_ns(d.stuck_threshold_ms * 1_000_000);
    if !d.new_stuck_ops.is_empty() {
        let _ = writeln!(out, "  new stuck ops (in flight ≥ {threshold}):");
        for op in d.new_stuck_ops.iter().take(TEXT_LIMIT) {
            let _ = writeln!(
                out,
                "    worker {}  {}  {}  age {}  task {}{}",
                op.worker,
                op.op,
                op.target,
                units::duration_ns(op.age_ms * 1_000_000),
                op.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                op.verdict
                    .as_ref()
                    .map_or_else(String::new, |v| format!("  {v}"))
            );
        }
        more(&mut out, d.new_stuck_ops.len());
    }
    if !d.tasks.is_empty() {
        let _ = writeln!(out, "  tasks new or idle longer:");
        for t in d.tasks.iter().take(TEXT_LIMIT) {
            let _ = writeln!(
                out,
                "    {:<11} worker {}  {}  {}  on {}  {}",
                t.change, t.worker, t.label, t.state, t.waiting_on, t.verdict
            );
        }
        more(&mut out, d.tasks.len());
    }
    if !d.new_connections.is_empty() {
        let _ = writeln!(out, "  new connections:");
        for c in d.new_connections.iter().take(TEXT_LIMIT) {
            let _ = writeln!(
                out,
                "    worker {}  conn #{}  {}  age {}  task {}",
                c.worker,
                c.index,
                c.peer.as_deref().unwrap_or("-"),
                units::duration_ns(c.age_ms * 1_000_000),
                c.task.map_or_else(|| "-".to_owned(), |t| t.to_string())
            );
        }
        more(&mut out, d.new_connections.len());
    }
    if !d.rates.is_empty() {
        let _ = writeln!(out, "  op rates between them (per second):");
        for r in d.rates.iter().take(TEXT_LIMIT) {
            let _ = writeln!(
                out,
                "    {:<16} {:>8} completed  {:>8} errors",
                r.op,
                units::rate(r.completed_per_s),
                units::rate(r.errors_per_s)
            );
        }
        more(&mut out, d.rates.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    const SEC: u64 = 1_000_000_000;

    fn moment(label: &str, t: u64, state: State) -> Moment {
        Moment {
            label: label.into(),
            pid: 4242,
            unix_ns: 1_700_000_000 * SEC + t * SEC,
            monotonic_ns: t * SEC,
            state,
        }
    }

    fn base() -> State {
        State {
            snapshot: fixtures::snapshot(2),
            stuck_ops: fixtures::explained_ops(),
            tasks: fixtures::tasks(),
            connections: fixtures::connections(),
        }
    }

    /// B: worker 0 leaks into its graveyard and piles up `fs_read`s; a new
    /// `send` is stuck; a connection opened.
    fn leaked() -> State {
        let mut s = base();
        let w0 = fixtures::w(&mut s.snapshot, 0);
        w0.graveyard.depth = 22;
        w0.graveyard.bytes = 22 * 4096;
        w0.graveyard.parked_total = 40;
        w0.executor.tasks += 1;
        w0.ops
            .iter_mut()
            .find(|o| o.op == "fs_read")
            .unwrap()
            .in_flight = 21;
        let mut send = fixtures::young_send();
        send.age_ns = 3 * SEC;
        send.worker = 0;
        w0.in_flight.push(send);
        let mut conn = s.connections[0].clone();
        conn.index = 99;
        conn.age_ns = SEC;
        s.connections.push(conn);
        s
    }

    #[test]
    fn a_graveyard_leak_is_attributed_to_fs_read_and_the_graveyard_first() {
        let mut a = base();
        fixtures::w(&mut a.snapshot, 0).graveyard.depth = 2;
        fixtures::w(&mut a.snapshot, 0).graveyard.bytes = 2 * 4096;
        let d = diff(
            &moment("A", 2, a),
            &moment("B", 12, leaked()),
            Duration::from_secs(1),
        );
        let top: Vec<(&str, Option<&str>, Option<usize>)> = d
            .changes
            .iter()
            .take(3)
            .map(|c| (c.what, c.name.as_deref(), c.worker))
            .collect();
        assert_eq!(
            top,
            [
                ("in_flight", Some("fs_read"), None),
                ("graveyard_bytes", None, Some(0)),
                ("graveyard_depth", None, Some(0)),
            ],
            "{:#?}",
            d.changes
        );
        assert_eq!((d.changes[0].before, d.changes[0].after), (1, 21));
        assert!(d.changes.iter().all(|c| c.delta > 0), "no zero changes");
        assert!(
            !d.changes
                .iter()
                .any(|c| c.what == "graveyard_depth" && c.worker == Some(1)),
            "worker 1 did not change"
        );
        assert_eq!(d.new_stuck_ops.len(), 1, "{:#?}", d.new_stuck_ops);
        assert_eq!(d.new_stuck_ops[0].op, "send");
        assert_eq!(d.new_stuck_ops[0].age_ms, 3000);
        assert_eq!(d.new_connections.len(), 1);
        assert_eq!(d.new_connections[0].index, 99);
        assert!((d.span_s - 10.0).abs() < 1e-9);
        let t = text(&d);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "from A to B (10.0s):");
        assert!(
            lines[2].trim_start().starts_with("fs_read in flight"),
            "{t}"
        );
        assert!(lines[3].contains("worker 0 graveyard bytes"), "{t}");
        assert!(
            t.contains("new stuck ops (in flight ≥ 1.00s):\n    worker 0  send"),
            "{t}"
        );
    }

    #[test]
    fn the_same_moment_has_no_change_and_idle_tasks_count_when_still_idle() {
        let d = diff(
            &moment("A", 2, base()),
            &moment("A", 2, base()),
            Duration::from_secs(1),
        );
        assert!(d.changes.is_empty() && d.new_stuck_ops.is_empty() && d.tasks.is_empty());
        assert!(d.new_connections.is_empty() && d.rates.is_empty());
        assert!(text(&d).contains("nothing grew"));

        let mut b = base();
        for t in &mut b.tasks {
            t.state_for_ns += 10 * SEC;
        }
        let mut done = b.snapshot.clone();
        fixtures::w(&mut done, 0)
            .ops
            .iter_mut()
            .find(|o| o.op == "fs_read")
            .unwrap()
            .completed_ok_total += 50;
        b.snapshot = done;
        let d = diff(
            &moment("A", 2, base()),
            &moment("B", 12, b),
            Duration::from_secs(1),
        );
        let idle: Vec<u64> = d.tasks.iter().map(|t| t.id).collect();
        assert!(idle.contains(&5), "the stuck read's task: {idle:?}");
        assert!(!idle.contains(&20), "a quiet peer is not stuck: {idle:?}");
        assert!(d.tasks.iter().all(|t| t.change == "idle_longer"));
        let read = d.rates.iter().find(|r| r.op == "fs_read").unwrap();
        assert!((read.completed_per_s - 5.0).abs() < 1e-9);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["format"], "ringline-top/diff");
        assert!(json["changes"][0].get("score").is_none());
    }
}
