//! Lock-free stats: what every worker holds, waits for and how long the
//! kernel takes — readable from any thread while the workers run.
//!
//! Each worker owns one `WorkerStats` block, written only by that worker
//! (see `worker.rs` for the single-writer rules), with seqlock tables
//! beside it: the op registry for stuck-op questions (files named through
//! `fd_paths.rs`) and the connection table behind [`connections`]. A
//! process-wide list holds
//! every live runtime, and [`snapshot`] copies all of it into a plain
//! [`Snapshot`]: the one schema the exporter, the inspector, tests and
//! benchmarks read.
//!
//! The read model — [`Snapshot`] and its parts, the [`histogram`] layout,
//! the metric [`catalog`], the op and pool names — is defined in the
//! `ringline-schema` crate, which tools that only read a process (the
//! inspector, the sidecar exporter) depend on instead of the runtime; it
//! is re-exported here at the paths it has always had. This module is the
//! writing side, and imports nothing above it but the op kinds
//! (`crate::op`) and the peer address type (`crate::peer`).
//!
//! With the `stats` feature off (it is on by default) the worker-side hooks
//! are empty inline functions of a mock with the same API, so measuring
//! their overhead is a rebuild away; snapshots then list the runtimes and
//! workers with every count zero and `stats_enabled: false`.
//!
//! [`tasks`], [`stuck_ops`] and [`connections`] answer "which line of code
//! waits, and why" from the same tables.
//!
//! ```no_run
//! let snap = ringline::stats::snapshot();
//! for rt in &snap.runtimes {
//!     for w in &rt.workers {
//!         println!("worker {}: {} tasks, {} polls", w.worker, w.executor.tasks, w.executor.polls_total);
//!     }
//! }
//! for op in snap.stuck_ops(std::time::Duration::from_secs(1)) {
//!     println!("{} in flight for {} ms on {:?}", op.op, op.age_ns / 1_000_000, op.target);
//! }
//! ```

/// Compiles the items it wraps only with the `stats` feature: the
/// writer-side pieces the mock does not need.
macro_rules! cfg_stats {
    ($($item:item)*) => {
        $( #[cfg(feature = "stats")] $item )*
    };
}

pub(crate) mod clock;
// Without the `stats` feature only the figures type is used.
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub(crate) mod conn_table;
pub(crate) mod fd_paths;
pub(crate) mod kinds;
// Without the `stats` feature only the layout and target types are used.
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub(crate) mod op_registry;
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
mod seqlock;
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub(crate) mod task_registry;
#[cfg_attr(not(feature = "stats"), allow(dead_code))]
pub(crate) mod ticks;

cfg_stats! {
    mod atomic_histogram;
    mod verdict;
    mod worker;
    pub(crate) use worker::{Publisher, StatsWriter, WorkerStats};
}

#[cfg(not(feature = "stats"))]
mod mock;
#[cfg(not(feature = "stats"))]
pub(crate) use mock::{Publisher, StatsWriter, WorkerStats};

#[doc(inline)]
pub use ringline_schema::stats::{
    ConnectionInfo, Site, TaskInfo, TaskKind, TaskState, Verdict, VerdictKind, WaitTarget,
};
#[doc(inline)]
pub use ringline_schema::stats::{
    ExecutorStats, GraveyardStats, Histogram, InFlightOp, Layout, NetStats, OpStats, OpTarget,
    RecorderStats, RingStats, RuntimeSnapshot, SCHEMA_VERSION, SlabStats, Snapshot, WorkerSnapshot,
};
#[doc(inline)]
pub use ringline_schema::stats::{catalog, histogram};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, Weak};

/// Whether the `stats` feature is on: bookkeeping done only for the stats
/// (outside this module's hooks) is skipped at compile time when it is off.
pub(crate) const ENABLED: bool = cfg!(feature = "stats");

/// The ring's own totals, published once per iteration.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingTotals {
    pub(crate) sqes_submitted: u64,
    pub(crate) enter_calls: u64,
    pub(crate) cqes_reaped: u64,
    pub(crate) sq_full: u64,
    pub(crate) cq_overflow: u64,
    /// Connections opened on a slot of the ring's registered file table.
    pub(crate) fixed_file_conns: u64,
    /// Connections opened on a plain descriptor (no table, table full or
    /// refused, mio backend).
    pub(crate) raw_fd_conns: u64,
}

/// The graveyard's totals, published once per iteration.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GraveyardTotals {
    pub(crate) depth: u64,
    pub(crate) bytes: u64,
    pub(crate) parked_total: u64,
    pub(crate) reaped_total: u64,
    pub(crate) oldest_parked_at_ns: Option<u64>,
    /// Ops given up on at shutdown (their memory leaked on purpose).
    pub(crate) abandoned: u64,
}

/// Something that can describe one runtime (the runtime's shared state).
pub(crate) trait RuntimeSource: Send + Sync {
    /// A plain copy with ages relative to `now_ns`.
    fn snapshot(&self, now_ns: u64) -> RuntimeSnapshot;

    /// False once every worker exited: the runtime leaves process
    /// snapshots (its handle can still report final counts).
    fn is_running(&self) -> bool;

    /// Appends every task of every worker, as of `now_ns`.
    fn tasks(&self, _now_ns: u64, _out: &mut Vec<TaskInfo>) {}

    /// Appends every connection of every worker, as of `now_ns`.
    fn connections(&self, _now_ns: u64, _out: &mut Vec<ConnectionInfo>) {}

    /// Appends every op in flight on every worker, each with the await
    /// site and verdict of the task waiting on it.
    fn explained_ops(&self, _now_ns: u64, _out: &mut Vec<InFlightOp>) {}
}

/// Every live runtime, in launch order.
fn live_runtimes() -> Vec<std::sync::Arc<dyn RuntimeSource>> {
    RUNTIMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|r| r.is_running())
        .collect()
}

/// Every runtime launched in this process that is still alive. Workers
/// never touch this lock: only launch and readers do.
static RUNTIMES: Mutex<Vec<Weak<dyn RuntimeSource>>> = Mutex::new(Vec::new());

/// Adds a runtime to the process-wide list (it leaves when dropped).
pub(crate) fn register(runtime: Weak<dyn RuntimeSource>) {
    let mut list = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|r| r.strong_count() > 0);
    list.push(runtime);
}

/// A process-unique runtime id, from 1.
pub(crate) fn next_runtime_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A copy of every live runtime's stats at this instant.
///
/// Cheap enough to call at 10 Hz (it reads atomics and the op registry
/// tables; it never makes a worker wait), and it answers even while every
/// worker is wedged inside user code. A busy worker publishes its counts at
/// most every 250 µs and always before it may sleep indefinitely; the op
/// registry, the graveyard and the task being polled are live.
pub fn snapshot() -> Snapshot {
    let now_ns = clock::now_ns();
    let live = live_runtimes();
    Snapshot {
        schema_version: SCHEMA_VERSION,
        pid: std::process::id(),
        taken_at_unix_ns: clock::unix_ns_at(now_ns),
        monotonic_ns: now_ns,
        stats_enabled: cfg!(feature = "stats"),
        runtimes: live.iter().map(|r| r.snapshot(now_ns)).collect(),
        recorder: RECORDER.get().map(|r| r.stats()).unwrap_or_default(),
    }
}

/// The flight recorder, as the layers below it reach it (it sits above
/// stats and the inspect socket, which ask it for dumps).
#[cfg_attr(not(feature = "recorder"), allow(dead_code))]
pub(crate) trait Recorder: Send + Sync {
    /// What it holds and the dumps it wrote.
    fn stats(&self) -> RecorderStats;

    /// Writes a dump now, for `trigger`; the file's path.
    fn dump(
        &self,
        trigger: ringline_schema::record::TriggerKind,
        worker: Option<usize>,
        message: String,
    ) -> std::io::Result<std::path::PathBuf>;
}

/// The process's recorder, once one was started.
static RECORDER: OnceLock<&'static dyn Recorder> = OnceLock::new();

/// Installs the process's recorder (the first call wins).
#[cfg_attr(not(feature = "recorder"), allow(dead_code))]
pub(crate) fn set_recorder(recorder: &'static dyn Recorder) {
    let _ = RECORDER.set(recorder);
}

/// Asks the flight recorder for a dump (the inspect `dump` command); an
/// error when no recorder runs.
#[cfg_attr(not(feature = "inspect"), allow(dead_code))]
pub(crate) fn request_dump(message: String) -> std::io::Result<std::path::PathBuf> {
    match RECORDER.get() {
        Some(r) => r.dump(ringline_schema::record::TriggerKind::Request, None, message),
        None => Err(std::io::Error::other(
            "the flight recorder is off in this process (Config::recorder, RINGLINE_RECORDER=0)",
        )),
    }
}

/// Every task of every live runtime that has not been polled for at least
/// `min_idle` (running tasks always), longest idle first: where each was
/// spawned, where and on what it waits, and a verdict on why it has not
/// moved. Like [`snapshot`], it reads the workers' registries without
/// making them wait, and answers while they are wedged.
pub fn tasks(min_idle: std::time::Duration) -> Vec<TaskInfo> {
    let now_ns = clock::now_ns();
    let mut out = Vec::new();
    for rt in live_runtimes() {
        rt.tasks(now_ns, &mut out);
    }
    let min_idle = min_idle.as_nanos().min(u64::MAX as u128) as u64;
    out.retain(|t| t.state == TaskState::Running || t.state_for_ns >= min_idle);
    out.sort_by_key(|t| std::cmp::Reverse(t.state_for_ns));
    out
}

/// The ops in flight for at least `min_age`, oldest first, each with the
/// user-code call its task waits in and a verdict: what the inspect
/// socket's `ops` answer carries (the snapshot's `in_flight` lists leave
/// those two fields out, to stay cheap).
pub fn stuck_ops(min_age: std::time::Duration) -> Vec<InFlightOp> {
    let now_ns = clock::now_ns();
    let mut out = Vec::new();
    for rt in live_runtimes() {
        rt.explained_ops(now_ns, &mut out);
    }
    let min_age = min_age.as_nanos().min(u64::MAX as u128) as u64;
    out.retain(|op| op.age_ns >= min_age);
    out.sort_by_key(|op| std::cmp::Reverse(op.age_ns));
    out
}

/// Every connection of every live runtime, oldest first, as of each
/// worker's last stats publish (at most a few hundred microseconds old on
/// a busy worker; a wedged worker's last).
pub fn connections() -> Vec<ConnectionInfo> {
    let now_ns = clock::now_ns();
    let mut out = Vec::new();
    for rt in live_runtimes() {
        rt.connections(now_ns, &mut out);
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.age_ns));
    out
}

/// The runtime the calling thread works for, when called on a worker
/// thread (`None` elsewhere): the same data as its entry in [`snapshot`],
/// without the other runtimes of the process.
///
/// The calling worker's counts are published first, so they include what
/// the current task just did — except ops it submitted in this loop
/// iteration, which appear in the op registry once the worker enters the
/// kernel. Other workers' counts are at most a few hundred microseconds
/// old (see [`snapshot`]).
pub fn this_runtime() -> Option<RuntimeSnapshot> {
    THIS_RUNTIME
        .get()
        .and_then(|of_this_thread| of_this_thread())
}

/// How [`this_runtime`] finds the calling thread's worker: stats sits below
/// the worker and cannot look it up, so launch installs the worker layer's
/// lookup here. Unset until the first launch, when no thread is a worker.
static THIS_RUNTIME: OnceLock<fn() -> Option<RuntimeSnapshot>> = OnceLock::new();

/// Installs the lookup behind [`this_runtime`]: publishes the calling
/// worker's counts and snapshots its runtime, `None` off a worker thread.
/// Every launch installs the same function; the first call wins.
pub(crate) fn set_this_runtime(of_this_thread: fn() -> Option<RuntimeSnapshot>) {
    let _ = THIS_RUNTIME.set(of_this_thread);
}

/// The current stats clock reading, for snapshots taken elsewhere.
pub(crate) fn now_ns() -> u64 {
    clock::now_ns()
}

/// Wall-clock nanoseconds since 1970.
pub(crate) fn unix_now_ns() -> u64 {
    clock::unix_now_ns()
}
