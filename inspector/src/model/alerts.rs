//! Alert rules, evaluated over the kept snapshots. They mirror the
//! conditions the Prometheus alert rules page on, so the TUI and the
//! dashboards agree on what "wrong" means:
//!
//! | rule                | fires when                                                       |
//! |---------------------|------------------------------------------------------------------|
//! | `worker_stalled`    | a worker not parked has not finished a loop iteration for ≥ 1 s  |
//! | `op_stuck`          | an op has been in flight ≥ the stuck threshold (default 1 s)     |
//! | `graveyard_growing` | a worker's graveyard depth rose over the last N snapshots, or its oldest entry is ≥ the stuck threshold old |
//! | `slab_near_full`    | a pool is ≥ 90 % used                                            |
//! | `cq_overflow`       | a worker's CQ overflow counter rose since the previous snapshot  |

use std::time::Duration;

use ringline_schema::stats::Snapshot;

use super::rows::{WorkerId, find_worker, slab_rows, target_text, worker_label};
use super::units;

/// Which rule an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// A worker is running something and not getting back to its loop.
    WorkerStalled,
    /// An op has been in flight longer than the threshold.
    OpStuck,
    /// The graveyard is filling or holding old entries.
    GraveyardGrowing,
    /// A pool is nearly full.
    SlabNearFull,
    /// The completion queue overflowed.
    CqOverflow,
}

impl Rule {
    /// The stable name (`--once --json` field, Prometheus alert name's stem).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::WorkerStalled => "worker_stalled",
            Rule::OpStuck => "op_stuck",
            Rule::GraveyardGrowing => "graveyard_growing",
            Rule::SlabNearFull => "slab_near_full",
            Rule::CqOverflow => "cq_overflow",
        }
    }

    /// Stalls and stuck ops stop requests; the rest warn of trouble ahead.
    pub fn is_critical(self) -> bool {
        matches!(self, Rule::WorkerStalled | Rule::OpStuck)
    }
}

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The rule that fired.
    pub rule: Rule,
    /// What it is about, for a human.
    pub message: String,
}

/// The rules' thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Heartbeat age of a running worker that counts as stalled.
    pub stall_after: Duration,
    /// In-flight age that counts as stuck (also the graveyard age limit).
    pub stuck_after: Duration,
    /// Snapshots over which a rising graveyard depth fires.
    pub graveyard_window: usize,
    /// Used share of a pool that counts as nearly full.
    pub slab_full_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            // One second: the same as `ringline_schema::stats::catalog::DEFAULT_STUCK_AFTER`,
            // far above any healthy loop iteration.
            stall_after: Duration::from_secs(1),
            stuck_after: ringline_schema::stats::catalog::DEFAULT_STUCK_AFTER,
            // Five snapshots (5 s at the default interval): long enough that
            // a burst of drops followed by reaping does not fire.
            graveyard_window: 5,
            slab_full_ratio: 0.9,
        }
    }
}

/// Every alert firing over `history` (oldest first, newest last).
pub fn evaluate(history: &[&Snapshot], t: &Thresholds) -> Vec<Alert> {
    let Some(&latest) = history.last() else {
        return Vec::new();
    };
    let mut alerts = Vec::new();
    let stall_ns = t.stall_after.as_nanos() as u64;
    let stuck_ns = t.stuck_after.as_nanos() as u64;
    for rt in &latest.runtimes {
        for ws in &rt.workers {
            let id = WorkerId {
                runtime: rt.id,
                worker: ws.worker,
            };
            let label = worker_label(latest, id);
            let e = &ws.executor;
            if !e.parked && e.heartbeat_age_ns >= stall_ns {
                let task = match (e.current_task, e.current_poll_age_ns) {
                    (Some(task), Some(age)) => {
                        format!(" (task {task} polled for {})", units::duration_ns(age))
                    }
                    (Some(task), None) => format!(" (in task {task})"),
                    _ => String::new(),
                };
                alerts.push(Alert {
                    rule: Rule::WorkerStalled,
                    message: format!(
                        "worker {label} stalled: no loop iteration for {}{task}",
                        units::duration_ns(e.heartbeat_age_ns)
                    ),
                });
            }
            if let Some(message) = graveyard_growth(history, id, &label, t, stuck_ns) {
                alerts.push(Alert {
                    rule: Rule::GraveyardGrowing,
                    message,
                });
            }
            let prev = history
                .len()
                .checked_sub(2)
                .and_then(|i| find_worker(history[i], id));
            if let Some(p) = prev {
                let rose = ws
                    .ring
                    .cq_overflow_total
                    .saturating_sub(p.ring.cq_overflow_total);
                if rose > 0 {
                    alerts.push(Alert {
                        rule: Rule::CqOverflow,
                        message: format!(
                            "worker {label}: completion queue overflowed {rose}× since the last refresh (ring too small)"
                        ),
                    });
                }
            }
        }
    }
    let stuck = latest.stuck_ops(t.stuck_after);
    if let Some(oldest) = stuck.first() {
        let id = WorkerId {
            runtime: oldest.runtime,
            worker: oldest.worker,
        };
        alerts.push(Alert {
            rule: Rule::OpStuck,
            message: format!(
                "{} op{} in flight ≥ {}; oldest: {} on worker {} ({}) for {}",
                stuck.len(),
                if stuck.len() == 1 { "" } else { "s" },
                units::duration_ns(stuck_ns),
                oldest.op,
                worker_label(latest, id),
                target_text(&oldest.target),
                units::duration_ns(oldest.age_ns)
            ),
        });
    }
    for s in slab_rows(latest) {
        if s.ratio >= t.slab_full_ratio {
            alerts.push(Alert {
                rule: Rule::SlabNearFull,
                message: format!(
                    "slab {} of {} at {} ({}/{})",
                    s.slab,
                    if s.worker.is_some() {
                        format!("worker {}", s.owner)
                    } else {
                        "the runtime".to_owned()
                    },
                    units::percent(s.ratio),
                    s.used,
                    s.capacity
                ),
            });
        }
    }
    // Critical first, then by rule; stable within a rule.
    alerts.sort_by_key(|a| (!a.rule.is_critical(), a.rule));
    alerts
}

/// The graveyard rule for one worker: depth rising monotonically over the
/// last `graveyard_window` snapshots, or an entry older than the stuck
/// threshold.
fn graveyard_growth(
    history: &[&Snapshot],
    id: WorkerId,
    label: &str,
    t: &Thresholds,
    stuck_ns: u64,
) -> Option<String> {
    let latest = find_worker(history.last()?, id)?;
    let g = &latest.graveyard;
    if let Some(age) = g.oldest_age_ns.filter(|&a| a >= stuck_ns) {
        return Some(format!(
            "worker {label}: graveyard holds {} op{} for {} (kernel not finishing them)",
            g.depth,
            if g.depth == 1 { "" } else { "s" },
            units::duration_ns(age)
        ));
    }
    let n = t.graveyard_window;
    if n == 0 || history.len() <= n {
        return None;
    }
    let depths: Option<Vec<u64>> = history[history.len() - 1 - n..]
        .iter()
        .map(|s| find_worker(s, id).map(|w| w.graveyard.depth))
        .collect();
    let depths = depths?;
    let rising = depths.windows(2).all(|p| p[1] >= p[0]);
    let (first, last) = (depths[0], depths[n]);
    (rising && last > first).then(|| {
        format!("worker {label}: graveyard grew from {first} to {last} over the last {n} refreshes")
    })
}
