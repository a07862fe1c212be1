//! The stats read model: [`Snapshot`] (a plain copy of every runtime of a
//! process at one instant), the latency [`histogram`] layout its op
//! latencies use, the metric [`catalog`] that names their Prometheus
//! series, and the op and pool [`kinds`] that index them.
//!
//! The runtime fills these in (`ringline::stats::snapshot()`); the
//! exporter, the inspector, tests and benchmarks read them, in-process or
//! over the inspect socket.

pub mod catalog;
pub mod histogram;
pub mod kinds;
mod snapshot;
mod tasks;

pub use histogram::{Histogram, Layout};
pub use snapshot::{
    ExecutorStats, GraveyardStats, InFlightOp, NetStats, OpStats, OpTarget, RecorderStats,
    RingStats, RuntimeSnapshot, SCHEMA_VERSION, SlabStats, Snapshot, WorkerSnapshot,
};
pub use tasks::{
    ConnectionInfo, Site, TaskInfo, TaskKind, TaskState, Verdict, VerdictKind, WaitTarget,
};
