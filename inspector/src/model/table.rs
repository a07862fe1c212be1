//! Sorting and filtering of the views' rows. Each view offers a few sort
//! keys that `s` cycles through; numbers sort largest first (the worst row
//! on top), names alphabetically. The `/` filter keeps rows whose text
//! contains the filter, ignoring case.

use std::cmp::Ordering;

use ringline_schema::stats::{ConnectionInfo, InFlightOp, TaskInfo};

use super::rows::{OpRow, SlabRow, WorkerRow, target_text};
use super::tasks::site_text;

/// A column rows can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Worker index (runtime first).
    Worker,
    /// Busy share.
    Busy,
    /// Heartbeat age.
    Heartbeat,
    /// Tasks alive.
    Tasks,
    /// Ops in flight.
    InFlight,
    /// p99 latency.
    P99,
    /// Completions per second.
    Rate,
    /// Op or pool name.
    Name,
    /// Used share of a pool.
    Usage,
    /// In-flight age; a connection's age.
    Age,
    /// A task's time in its state (idle, queued or running).
    Idle,
    /// A task's polls.
    Polls,
    /// A task's wakes.
    Wakes,
    /// A connection's bytes received.
    BytesIn,
    /// A connection's bytes sent.
    BytesOut,
    /// A connection's received bytes not consumed yet.
    Buffered,
    /// A connection's bytes queued to send.
    Queued,
}

impl SortBy {
    /// The column name shown in the footer.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Worker => "worker",
            SortBy::Busy => "busy",
            SortBy::Heartbeat => "heartbeat",
            SortBy::Tasks => "tasks",
            SortBy::InFlight => "in-flight",
            SortBy::P99 => "p99",
            SortBy::Rate => "rate",
            SortBy::Name => "name",
            SortBy::Usage => "usage",
            SortBy::Age => "age",
            SortBy::Idle => "idle",
            SortBy::Polls => "polls",
            SortBy::Wakes => "wakes",
            SortBy::BytesIn => "bytes in",
            SortBy::BytesOut => "bytes out",
            SortBy::Buffered => "buffered",
            SortBy::Queued => "queued",
        }
    }
}

/// Largest first, `None` last.
fn desc<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sorts Overview rows; ties keep worker order.
pub fn sort_workers(rows: &mut [WorkerRow], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Busy => desc(a.busy, b.busy),
            SortBy::Heartbeat => desc(Some(a.heartbeat_age_ns), Some(b.heartbeat_age_ns)),
            SortBy::Tasks => desc(Some(a.tasks), Some(b.tasks)),
            SortBy::InFlight => desc(Some(a.in_flight), Some(b.in_flight)),
            SortBy::P99 => desc(a.p99_ns, b.p99_ns),
            _ => Ordering::Equal,
        };
        primary.then(a.id.cmp(&b.id))
    });
}

/// Sorts op rows; ties keep name order.
pub fn sort_ops(rows: &mut [OpRow], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Rate => desc(a.rate, b.rate),
            SortBy::InFlight => desc(Some(a.in_flight), Some(b.in_flight)),
            SortBy::P99 => desc(a.p99_ns, b.p99_ns),
            _ => Ordering::Equal,
        };
        primary
            .then_with(|| a.op.cmp(&b.op))
            .then(a.runtime.cmp(&b.runtime))
    });
}

/// Sorts pool rows; ties keep (pool, owner) order.
pub fn sort_slabs(rows: &mut [SlabRow], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Usage => desc(Some(a.ratio), Some(b.ratio)),
            SortBy::Worker => (a.runtime, a.worker).cmp(&(b.runtime, b.worker)),
            _ => Ordering::Equal,
        };
        primary
            .then_with(|| a.slab.cmp(&b.slab))
            .then((a.runtime, a.worker).cmp(&(b.runtime, b.worker)))
    });
}

/// Sorts stuck ops; ties oldest first.
pub fn sort_stuck(rows: &mut [InFlightOp], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Worker => (a.runtime, a.worker).cmp(&(b.runtime, b.worker)),
            SortBy::Name => a.op.cmp(&b.op),
            _ => Ordering::Equal,
        };
        primary.then(b.age_ns.cmp(&a.age_ns))
    });
}

/// Sorts tasks: by time in their state (the server's order), busy time,
/// polls or wakes, largest first; by worker; or by name (unnamed last,
/// then spawn site). Ties keep task id order.
pub fn sort_tasks(rows: &mut [TaskInfo], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Idle => b.state_for_ns.cmp(&a.state_for_ns),
            SortBy::Busy => b.busy_ns.cmp(&a.busy_ns),
            SortBy::Polls => b.polls.cmp(&a.polls),
            SortBy::Wakes => b.wakes.cmp(&a.wakes),
            SortBy::Worker => (a.runtime, a.worker).cmp(&(b.runtime, b.worker)),
            SortBy::Name => by_name(a, b),
            _ => Ordering::Equal,
        };
        primary.then((a.runtime, a.id).cmp(&(b.runtime, b.id)))
    });
}

/// Sorts stuck tasks (already in verdict order): by worker or name when
/// asked, else as they are.
pub fn sort_stuck_tasks(rows: &mut [TaskInfo], by: SortBy) {
    // Stable sorts: the verdict order stays within a worker or a name.
    match by {
        SortBy::Worker => rows.sort_by_key(|t| (t.runtime, t.worker)),
        SortBy::Name => rows.sort_by(by_name),
        _ => {}
    }
}

/// Named tasks first, by name, then by spawn site.
fn by_name(a: &TaskInfo, b: &TaskInfo) -> Ordering {
    match (&a.name, &b.name) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| site_text(a.spawn_site.as_ref()).cmp(&site_text(b.spawn_site.as_ref())))
}

/// Sorts connections: oldest first, or the most bytes in, out, buffered or
/// queued first, or by worker; ties by (worker, index).
pub fn sort_conns(rows: &mut [ConnectionInfo], by: SortBy) {
    rows.sort_by(|a, b| {
        let primary = match by {
            SortBy::Age => b.age_ns.cmp(&a.age_ns),
            SortBy::BytesIn => b.bytes_in.cmp(&a.bytes_in),
            SortBy::BytesOut => b.bytes_out.cmp(&a.bytes_out),
            SortBy::Buffered => b.buffered_bytes.cmp(&a.buffered_bytes),
            SortBy::Queued => b.queued_bytes.cmp(&a.queued_bytes),
            _ => Ordering::Equal,
        };
        primary.then((a.runtime, a.worker, a.index).cmp(&(b.runtime, b.worker, b.index)))
    });
}

/// True when `filter` is empty or `text` contains it, ignoring case.
pub fn matches(filter: &str, text: &str) -> bool {
    filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
}

/// The text the filter searches in a worker row.
pub fn worker_text(r: &WorkerRow) -> String {
    format!("worker {}", r.label)
}

/// The text the filter searches in a pool row.
pub fn slab_text(r: &SlabRow) -> String {
    format!("{} {}", r.slab, r.owner)
}

/// The text the filter searches in a stuck op: op name and target.
pub fn stuck_text(op: &InFlightOp) -> String {
    format!("{} {}", op.op, target_text(&op.target))
}
