//! The one list of ringline's metric names, and the series a [`Snapshot`]
//! gives for each: what the runtime's `metrics` publisher (its feature
//! `metrics`) pushes and what a Prometheus exporter renders, so they (and dashboards and
//! alert rules) name things alike.
//!
//! Names follow Prometheus conventions: prefix `ringline_`, base units
//! (seconds, bytes), counters end in `_total`. Labels are bounded:
//! `runtime` (id) and `worker` (index) on every per-worker series, plus
//! `op`, `slab` or `result` where the name says so, and `backend`/`version`
//! on `ringline_info`.
//!
//! Choices the series make:
//! - **Op kinds**: per-op series exist only for kinds submitted at least
//!   once (most processes use a handful of the ~20 kinds); the latency
//!   histogram and `ringline_ops_stuck` only for one-shot kinds (multishot
//!   ops have no latency and are never in the op registry).
//! - **Stuck ops**: `ringline_ops_stuck{op}` counts a worker's in-flight
//!   ops older than `stuck_after`, for every active one-shot kind (0 when
//!   none is stuck: the series set stays put, so an alert clears), plus any
//!   kind that has a stuck op before its submission count was published (a
//!   worker wedged right after submitting). `ringline_worker_ops_stuck` is
//!   the worker's total, always present, for alerts that must see every
//!   worker. A total under `op="all"` was rejected: `sum()` over `op`
//!   would count every stuck op twice.
//! - **Runtime-wide pools** (`blocking_queue`, `resolver_queue`) carry no
//!   `worker` label: the same `ringline_slab_*` names with `runtime` and
//!   `slab` only.
//! - **Optional gauges** (`current_poll_age`, `timer_overdue`, graveyard
//!   `oldest_age`) are 0 when there is nothing to measure, never missing.
//!
//! Series count: per runtime `3 + 4 × runtime-wide pools`; per worker
//! `36 + 4 × pools + 7 × active one-shot kinds + 6 × active multishot
//! kinds`. A 2-worker echo server (accept and recv multishot; send, close
//! and timer one-shot; 10 pools per worker, 2 runtime-wide) has
//! `11 + 2 × 109 = 229` series; an idle one (accept and the wake read
//! armed) `11 + 2 × 89 = 189`; with all 22 op kinds active,
//! `11 + 2 × 227 = 465`. The publisher turns each latency series into 6
//! (`_count`, `_sum`, 4 quantiles). The task series ([`task_samples`], from
//! the process's task list) add 13 per worker: 3 states and 10 stuck
//! verdicts, whatever the number of tasks. A process whose flight recorder
//! runs adds 6 (`ringline_recorder_bytes`, and
//! `ringline_recorder_dumps_total` for each of the 5 triggers).

use std::time::Duration;

use super::histogram::Histogram;
use super::snapshot::{SlabStats, Snapshot, WorkerSnapshot};
use super::tasks::{TaskInfo, TaskState, VerdictKind};

/// What a metric is, in Prometheus terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Only grows (restarts from 0 with the process).
    Counter,
    /// A value now; may go up and down.
    Gauge,
    /// A latency distribution in the fixed [`Histogram`] layout.
    Histogram,
}

/// The base unit a metric's name promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds (`_seconds`, `_seconds_total`).
    Seconds,
    /// Bytes.
    Bytes,
    /// A plain count.
    Count,
}

impl Unit {
    /// Raw units of a [`Value::Counter`] (or of a histogram's `ns`) per
    /// base unit: `1_000_000_000` for [`Unit::Seconds`], whose counters
    /// carry exact nanoseconds; `1` otherwise. Divide by it (as
    /// [`Unit::to_base`] does): multiplying by `1e-9` rounds twice.
    pub const fn raw_per_unit(self) -> u64 {
        match self {
            Unit::Seconds => 1_000_000_000,
            Unit::Bytes | Unit::Count => 1,
        }
    }

    /// A raw value in this base unit (nanoseconds to seconds).
    pub fn to_base(self, raw: u64) -> f64 {
        raw as f64 / self.raw_per_unit() as f64
    }
}

/// One metric name: its type, unit, help text and label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The full name, e.g. `ringline_ops_submitted_total`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The base unit of its values.
    pub unit: Unit,
    /// `# HELP` text: what it counts and what a high value means.
    pub help: &'static str,
    /// Its label names, in the order samples carry them. `worker` is absent
    /// on the `ringline_slab_*` series of runtime-wide pools.
    pub labels: &'static [&'static str],
}

/// The stuck-op threshold dashboards and alerts assume: an op in flight
/// this long counts in `ringline_ops_stuck`. One second is far above any
/// healthy disk or loopback latency, and short enough to page on.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(1);

const RT: &[&str] = &["runtime"];
const W: &[&str] = &["runtime", "worker"];
const OP: &[&str] = &["runtime", "worker", "op"];
const SLAB: &[&str] = &["runtime", "worker", "slab"];

const fn m(
    name: &'static str,
    kind: MetricKind,
    unit: Unit,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        unit,
        help,
        labels,
    }
}

use MetricKind::{Counter as C, Gauge as G, Histogram as H};
use Unit::{Bytes, Count, Seconds};

/// Every metric ringline emits, in the order [`samples`] yields them.
// A table reads best one entry per line pair; rustfmt would split each.
#[rustfmt::skip]
pub const METRICS: &[MetricDef] = &[
    // ── Runtime ──
    m("ringline_info", G, Count, &["runtime", "backend", "version"],
        "Always 1 while the runtime runs; the labels name its I/O backend and ringline version. mio on Linux means io_uring could not be set up."),
    m("ringline_runtime_shutting_down", G, Count, RT,
        "1 once shutdown was requested. Staying 1 for long means a task or an op is holding the shutdown up."),
    m("ringline_pool_threads_abandoned_total", C, Count, RT,
        "Blocking and resolver threads still in a job at the drain deadline, left behind at exit (final counts only). Above 0 means a spawn_blocking closure or a name lookup hung."),
    // ── Worker event loop ──
    m("ringline_worker_loop_iterations_total", C, Count, W,
        "Event-loop iterations. A rate near 0 on a worker with work means it is stuck in one poll; a very high rate with little I/O means it spins."),
    m("ringline_worker_busy_seconds_total", C, Seconds, W,
        "Time the worker spent running rather than waiting for the kernel. A rate near 1 means the worker is saturated."),
    m("ringline_worker_parked_seconds_total", C, Seconds, W,
        "Time the worker spent waiting for events. A rate near 1 means the worker is idle."),
    m("ringline_worker_polls_total", C, Count, W,
        "Task polls. A high rate with little I/O means tasks wake each other without making progress."),
    m("ringline_worker_heartbeat_age_seconds", G, Seconds, W,
        "Time since the worker last left its wait (0 while it waits). Growing while requests hang means the worker is stuck running something."),
    m("ringline_worker_tasks", G, Count, W,
        "Tasks alive on the worker. Growing without bound means tasks never finish (a leak)."),
    m("ringline_worker_current_poll_age_seconds", G, Seconds, W,
        "How long the poll running now has taken (0 when none). High means a task blocks the worker: a blocking call or long computation in async code."),
    m("ringline_worker_longest_turn_seconds", G, Seconds, W,
        "Longest stretch of work between two waits so far. High means a poll once blocked the worker and every connection on it waited that long."),
    m("ringline_worker_timer_overdue_seconds", G, Seconds, W,
        "How late the earliest due timer is (0 when none is late). High means the worker is not getting back to its loop: timeouts fire late."),
    m("ringline_worker_ops_stuck", G, Count, W,
        "In-flight ops of any kind older than the stuck threshold (default 1 s). Above 0 means the kernel or a peer is not completing them; ringline-top shows which."),
    // ── Ops ──
    m("ringline_ops_in_flight", G, Count, OP,
        "Ops submitted and not finished (multishot ops: armed). Growing means completions are not keeping up: a slow disk or peer, or a leak."),
    m("ringline_ops_submitted_total", C, Count, OP,
        "Ops submitted (multishot ops: armed). The rate is the op's throughput; a high multishot rate means frequent re-arms."),
    m("ringline_ops_completed_total", C, Count, &["runtime", "worker", "op", "result"],
        "Ops finished, by result (ok, error, cancelled). A high error or cancelled rate means failing peers or files, or timeouts cancelling ops."),
    m("ringline_ops_multishot_cqes_total", C, Count, OP,
        "Completions of multishot ops (each accepted connection, each received buffer). The rate is the work those ops deliver."),
    m("ringline_op_latency_seconds", H, Seconds, OP,
        "Submit-to-completion time of one-shot ops. A high tail means a slow disk, peer or kernel path for that op."),
    m("ringline_ops_stuck", G, Count, OP,
        "In-flight ops of this kind older than the stuck threshold (default 1 s). Above 0 means that op hangs: a peer that stopped reading, a hung disk."),
    // ── Pools ──
    m("ringline_slab_used", G, Count, SLAB,
        "Entries of the pool in use. Close to ringline_slab_capacity means new requests will soon be refused."),
    m("ringline_slab_capacity", G, Count, SLAB,
        "Fixed capacity of the pool, from Config (0: not configured). A high value only costs memory reserved up front."),
    m("ringline_slab_high_water", G, Count, SLAB,
        "Most entries of the pool in use at once so far. Near capacity means the pool nearly ran out: raise it in Config."),
    m("ringline_slab_exhausted_total", C, Count, SLAB,
        "Requests refused because the pool was full. Any increase means the pool is too small for the load, or its entries leak."),
    // ── Graveyard ──
    m("ringline_graveyard_depth", G, Count, W,
        "Ops whose futures were dropped before the kernel finished them, buffers parked until it does. Growing means cancels are not completing."),
    m("ringline_graveyard_bytes", G, Bytes, W,
        "Buffer bytes parked in the graveyard. Growing means memory held by dropped ops the kernel has not finished."),
    m("ringline_graveyard_parked_total", C, Count, W,
        "Ops parked because their futures were dropped. A high rate means many timeouts or abandoned requests."),
    m("ringline_graveyard_reaped_total", C, Count, W,
        "Parked ops whose completion arrived and whose buffers were freed. Lagging the parked rate means parked ops pile up."),
    m("ringline_graveyard_oldest_age_seconds", G, Seconds, W,
        "Age of the oldest parked op (0 when none). Growing means the kernel is neither finishing nor cancelling it."),
    // ── Ring ──
    m("ringline_ring_sqes_submitted_total", C, Count, W,
        "SQEs the kernel accepted (mio: ops started). Per enter call, it is the submit batching: near 1 means a syscall per op."),
    m("ringline_ring_enter_calls_total", C, Count, W,
        "io_uring_enter calls (mio: poll calls). A high rate relative to ops means little batching: syscall overhead."),
    m("ringline_ring_cqes_reaped_total", C, Count, W,
        "CQEs reaped (mio: completions the backend produced). The rate is the completions the worker handles."),
    m("ringline_ring_cq_overflow_total", C, Count, W,
        "Loop iterations that found the completion queue overflowed. Any increase means the ring is too small for the load."),
    m("ringline_ring_sq_full_total", C, Count, W,
        "Submissions that found the submission queue full. A high rate means the ring is too small for the batches."),
    m("ringline_ring_unknown_cqes_total", C, Count, W,
        "Completions whose user_data named no op kind (dropped). Always 0 in a correct runtime: any increase is a ringline bug."),
    m("ringline_ring_fixed_file_conns_total", C, Count, W,
        "Connections opened on a slot of the ring's registered file table (io_uring direct descriptors: no per-op descriptor lookup)."),
    m("ringline_ring_raw_fd_conns_total", C, Count, W,
        "Connections opened on a plain descriptor. Rising on io_uring means the file table is off, full (Config::fixed_files) or was refused by the kernel."),
    // ── Network ──
    m("ringline_connections_active", G, Count, W,
        "Connections open now. Growing without bound means connections are never closed; near the connections pool's capacity, new ones are refused."),
    m("ringline_connections_accepted_total", C, Count, W,
        "Connections accepted. A spike means a reconnect storm."),
    m("ringline_connections_connected_total", C, Count, W,
        "Outbound connections established. A high rate means connections are opened per request instead of reused."),
    m("ringline_connections_closed_total", C, Count, W,
        "Connections closed. A rate close to the accept rate means short-lived connections."),
    m("ringline_bytes_received_total", C, Bytes, W,
        "Stream bytes received. The rate is inbound throughput."),
    m("ringline_bytes_sent_total", C, Bytes, W,
        "Stream bytes sent. The rate is outbound throughput."),
    m("ringline_datagrams_received_total", C, Count, W,
        "UDP datagrams received. The rate is inbound datagram throughput."),
    m("ringline_datagrams_sent_total", C, Count, W,
        "UDP datagrams sent. The rate is outbound datagram throughput."),
    m("ringline_connections_recv_paused", G, Count, W,
        "Connections not receiving because their handler left recv_buffer_limit bytes unconsumed; TCP pushes back on the peer. Staying above 0 means a handler stopped reading."),
    m("ringline_recv_buffered_bytes", G, Bytes, W,
        "Received bytes the worker holds that handlers have not consumed yet. Near connections x recv_buffer_limit means handlers fall behind."),
    m("ringline_recv_pauses_total", C, Count, W,
        "Times a connection reached recv_buffer_limit and stopped receiving. A high rate means handlers are slower than their peers."),
    m("ringline_linger_resets_total", C, Count, W,
        "Closed connections reset because the peer did not take the queued bytes within close_linger_timeout. Any increase means peers that stop reading."),
    m("ringline_datagram_send_errors_total", C, Count, W,
        "UDP sends the kernel failed after send_to returned Ok: datagrams lost on the way out. Any increase means a destination the socket may not send to (e.g. broadcast) or a local network error."),
    // ── The process's flight recorder (only while it records) ──
    m("ringline_recorder_bytes", G, Bytes, &[],
        "Bytes the flight recorder's history (the last minute of snapshots) takes; capped by RecorderConfig::max_bytes (default 8 MiB)."),
    m("ringline_recorder_dumps_total", C, Count, &["trigger"],
        "Dumps the flight recorder wrote, by trigger: stall (a worker stopped turning), panic, signal, request. Any stall or panic dump is an incident; its file is named in the process's log and ringline-top --replay FILE shows the minute before it."),
    // ── Tasks (from the task registry; see `task_samples`) ──
    m("ringline_tasks", G, Count, &["runtime", "worker", "state"],
        "Tasks by state: running (being polled), scheduled (woken, waiting for their poll), idle (waiting). Scheduled staying high means the worker cannot keep up or one task hogs it."),
    m("ringline_tasks_stuck", G, Count, &["runtime", "worker", "verdict"],
        "Tasks that have not moved for the stuck threshold (default 1 s), by verdict. Above 0 for deadlock, woken_not_polled, idle_on_unknown or completed_not_woken means tasks hang; ringline-top's Tasks view names them and the line they wait in. waiting_on_connection and waiting_on_timer are often just idle clients and sleeps."),
];

/// The metric named `name`.
pub fn def(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|d| d.name == name)
}

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// A name from [`METRICS`].
    pub name: &'static str,
    /// Label names and values, in [`MetricDef::labels`] order.
    pub labels: Vec<(&'static str, String)>,
    /// The value now.
    pub value: Value<'a>,
}

/// A sample's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A counter's total, exact: nanoseconds for [`Unit::Seconds`]
    /// counters ([`Unit::to_base`] converts).
    Counter(u64),
    /// A gauge, in the base unit (seconds, not nanoseconds).
    Gauge(f64),
    /// A latency histogram with nanosecond buckets; consumers convert
    /// bounds and sum to seconds.
    Histogram(&'a Histogram),
}

/// Every series of `snapshot`, in [`METRICS`] order (runtimes, then
/// workers, in snapshot order within a name). `stuck_after` is the
/// stuck-op threshold, normally [`DEFAULT_STUCK_AFTER`].
///
/// O(series + in-flight ops): nothing here grows with the op rate.
pub fn samples(snapshot: &Snapshot, stuck_after: Duration) -> Vec<Sample<'_>> {
    let stuck_ns = u64::try_from(stuck_after.as_nanos()).unwrap_or(u64::MAX);
    let mut out = Out(Vec::new());
    for rt in &snapshot.runtimes {
        let base = [("runtime", rt.id.to_string())];
        let mut info = base.to_vec();
        info.extend([
            ("backend", rt.backend.clone()),
            ("version", rt.version.clone()),
        ]);
        out.gauge("ringline_info", &info, 1.0);
        let shutting_down = f64::from(u8::from(rt.shutting_down));
        out.gauge("ringline_runtime_shutting_down", &base, shutting_down);
        let abandoned = rt.pool_threads_abandoned;
        out.counter("ringline_pool_threads_abandoned_total", &base, abandoned);
        for slab in &rt.slabs {
            out.slab(&base, slab);
        }
        for w in &rt.workers {
            out.worker(&with(&base, "worker", &w.worker.to_string()), w, stuck_ns);
        }
    }
    if snapshot.recorder.enabled {
        let r = &snapshot.recorder;
        out.gauge("ringline_recorder_bytes", &[], r.bytes as f64);
        for kind in crate::record::TriggerKind::ALL {
            let n = r.dumps_total.get(kind.name()).copied().unwrap_or(0);
            out.counter(
                "ringline_recorder_dumps_total",
                &[("trigger", kind.name().to_owned())],
                n,
            );
        }
    }
    // Emitted runtime by runtime; a stable sort groups each name's series
    // (as Prometheus wants them) and keeps runtime and worker order.
    let rank = |s: &Sample<'_>| METRICS.iter().position(|d| d.name == s.name);
    out.0.sort_by_cached_key(rank);
    out.0
}

/// The task series of `snapshot`'s workers, from `tasks` (what the
/// inspect socket's `tasks` answer or `ringline::stats::tasks` lists):
/// per worker, the tasks in each state and, per verdict, the tasks that
/// have not moved for `stuck_after` — every state and verdict, 0 when none,
/// so the series set stays put and alerts clear. Bounded: three plus one
/// per verdict kind per worker, never a series per task.
pub fn task_samples(
    snapshot: &Snapshot,
    tasks: &[TaskInfo],
    stuck_after: Duration,
) -> Vec<Sample<'static>> {
    let stuck_ns = u64::try_from(stuck_after.as_nanos()).unwrap_or(u64::MAX);
    let states = [TaskState::Running, TaskState::Scheduled, TaskState::Idle];
    let stuck_kinds = || {
        VerdictKind::ALL
            .into_iter()
            .filter(|k| *k != VerdictKind::Running)
    };
    let mut out = Out(Vec::new());
    for rt in &snapshot.runtimes {
        for w in &rt.workers {
            let mine = || {
                tasks
                    .iter()
                    .filter(|t| t.runtime == rt.id && t.worker == w.worker)
            };
            let base = [
                ("runtime", rt.id.to_string()),
                ("worker", w.worker.to_string()),
            ];
            for state in states {
                let n = mine().filter(|t| t.state == state).count();
                out.gauge(
                    "ringline_tasks",
                    &with(&base, "state", state.name()),
                    n as f64,
                );
            }
            for kind in stuck_kinds() {
                let n = mine()
                    .filter(|t| t.verdict.kind == kind && t.state_for_ns >= stuck_ns)
                    .count();
                out.gauge(
                    "ringline_tasks_stuck",
                    &with(&base, "verdict", kind.name()),
                    n as f64,
                );
            }
        }
    }
    // Each name's series together, as `samples` gives them.
    let rank = |s: &Sample<'_>| METRICS.iter().position(|d| d.name == s.name);
    out.0.sort_by_cached_key(rank);
    out.0
}

fn secs(ns: u64) -> f64 {
    Unit::Seconds.to_base(ns)
}

type Labels = [(&'static str, String)];

fn with(base: &Labels, key: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut labels = base.to_vec();
    labels.push((key, value.to_owned()));
    labels
}

/// The samples being collected.
struct Out<'a>(Vec<Sample<'a>>);

impl<'a> Out<'a> {
    fn push(&mut self, name: &'static str, labels: &Labels, value: Value<'a>) {
        debug_assert!(def(name).is_some(), "{name} is not in METRICS");
        let labels = labels.to_vec();
        self.0.push(Sample {
            name,
            labels,
            value,
        });
    }

    fn counter(&mut self, name: &'static str, labels: &Labels, v: u64) {
        self.push(name, labels, Value::Counter(v));
    }

    fn gauge(&mut self, name: &'static str, labels: &Labels, v: f64) {
        self.push(name, labels, Value::Gauge(v));
    }

    fn slab(&mut self, base: &Labels, s: &SlabStats) {
        let l = with(base, "slab", &s.slab);
        self.gauge("ringline_slab_used", &l, s.used as f64);
        self.gauge("ringline_slab_capacity", &l, s.capacity as f64);
        self.gauge("ringline_slab_high_water", &l, s.high_water as f64);
        self.counter("ringline_slab_exhausted_total", &l, s.exhausted_total);
    }

    fn worker(&mut self, l: &Labels, w: &'a WorkerSnapshot, stuck_ns: u64) {
        let (e, r, n, g) = (&w.executor, &w.ring, &w.net, &w.graveyard);
        // Any order: `samples` sorts by catalog position.
        let counters = [
            (
                "ringline_worker_loop_iterations_total",
                e.loop_iterations_total,
            ),
            ("ringline_worker_busy_seconds_total", e.busy_ns_total),
            ("ringline_worker_parked_seconds_total", e.parked_ns_total),
            ("ringline_worker_polls_total", e.polls_total),
            ("ringline_graveyard_parked_total", g.parked_total),
            ("ringline_graveyard_reaped_total", g.reaped_total),
            ("ringline_ring_sqes_submitted_total", r.sqes_submitted_total),
            ("ringline_ring_enter_calls_total", r.enter_calls_total),
            ("ringline_ring_cqes_reaped_total", r.cqes_reaped_total),
            ("ringline_ring_cq_overflow_total", r.cq_overflow_total),
            ("ringline_ring_sq_full_total", r.sq_full_total),
            ("ringline_ring_unknown_cqes_total", r.unknown_cqes_total),
            (
                "ringline_ring_fixed_file_conns_total",
                r.fixed_file_conns_total,
            ),
            ("ringline_ring_raw_fd_conns_total", r.raw_fd_conns_total),
            (
                "ringline_connections_accepted_total",
                n.connections_accepted_total,
            ),
            (
                "ringline_connections_connected_total",
                n.connections_connected_total,
            ),
            (
                "ringline_connections_closed_total",
                n.connections_closed_total,
            ),
            ("ringline_bytes_received_total", n.bytes_received_total),
            ("ringline_bytes_sent_total", n.bytes_sent_total),
            (
                "ringline_datagrams_received_total",
                n.datagrams_received_total,
            ),
            ("ringline_datagrams_sent_total", n.datagrams_sent_total),
            ("ringline_recv_pauses_total", n.recv_pauses_total),
            ("ringline_linger_resets_total", n.linger_resets_total),
            (
                "ringline_datagram_send_errors_total",
                n.datagram_send_errors_total,
            ),
        ];
        for (name, v) in counters {
            self.counter(name, l, v);
        }
        // Absent optional values are 0, never a missing series.
        let poll_age = secs(e.current_poll_age_ns.unwrap_or(0));
        let overdue = secs(e.timer_overdue_ns.unwrap_or(0));
        let oldest = secs(g.oldest_age_ns.unwrap_or(0));
        let gauges = [
            (
                "ringline_worker_heartbeat_age_seconds",
                secs(e.heartbeat_age_ns),
            ),
            ("ringline_worker_tasks", e.tasks as f64),
            ("ringline_worker_current_poll_age_seconds", poll_age),
            (
                "ringline_worker_longest_turn_seconds",
                secs(e.longest_turn_ns),
            ),
            ("ringline_worker_timer_overdue_seconds", overdue),
            ("ringline_graveyard_depth", g.depth as f64),
            ("ringline_graveyard_bytes", g.bytes as f64),
            ("ringline_graveyard_oldest_age_seconds", oldest),
            ("ringline_connections_active", n.connections_active as f64),
            (
                "ringline_connections_recv_paused",
                n.connections_recv_paused as f64,
            ),
            ("ringline_recv_buffered_bytes", n.recv_buffered_bytes as f64),
        ];
        for (name, v) in gauges {
            self.gauge(name, l, v);
        }
        self.ops(l, w, stuck_ns);
        for slab in &w.slabs {
            self.slab(l, slab);
        }
    }

    fn ops(&mut self, l: &Labels, w: &'a WorkerSnapshot, stuck_ns: u64) {
        // Stuck ops by kind: a handful of kinds, so a list beats a map.
        let mut stuck: Vec<(&str, u64)> = Vec::new();
        for op in w.in_flight.iter().filter(|op| op.age_ns >= stuck_ns) {
            match stuck.iter_mut().find(|(name, _)| *name == op.op) {
                Some((_, n)) => *n += 1,
                None => stuck.push((&op.op, 1)),
            }
        }
        let total: u64 = stuck.iter().map(|s| s.1).sum();
        self.gauge("ringline_worker_ops_stuck", l, total as f64);

        for o in &w.ops {
            let stuck_here = stuck.iter().find(|s| s.0 == o.op).map_or(0, |s| s.1);
            // Never-used kinds would multiply the series count with zeros.
            if o.submitted_total == 0 && o.in_flight == 0 && stuck_here == 0 {
                continue;
            }
            let ol = with(l, "op", &o.op);
            self.gauge("ringline_ops_in_flight", &ol, o.in_flight as f64);
            self.counter("ringline_ops_submitted_total", &ol, o.submitted_total);
            let results = [
                ("ok", o.completed_ok_total),
                ("error", o.completed_error_total),
                ("cancelled", o.completed_cancelled_total),
            ];
            for (result, v) in results {
                let rl = with(&ol, "result", result);
                self.counter("ringline_ops_completed_total", &rl, v);
            }
            if o.multishot {
                let cqes = o.multishot_cqes_total;
                self.counter("ringline_ops_multishot_cqes_total", &ol, cqes);
            } else {
                let latency = Value::Histogram(&o.latency);
                self.push("ringline_op_latency_seconds", &ol, latency);
                self.gauge("ringline_ops_stuck", &ol, stuck_here as f64);
            }
        }
        // A stuck op of a kind with no published counts: the worker wedged
        // in the very iteration that submitted it — exactly when it matters.
        for &(op, n) in stuck.iter().filter(|(op, _)| w.op(op).is_none()) {
            self.gauge("ringline_ops_stuck", &with(l, "op", op), n as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::kinds::{OpKind, SlabKind};
    use crate::stats::snapshot::{InFlightOp, OpStats, RuntimeSnapshot};
    use std::collections::HashSet;

    #[test]
    fn task_series_are_bounded_and_count_states_and_stuck_verdicts() {
        use crate::stats::tasks::{TaskKind, Verdict, WaitTarget};
        let snap = Snapshot {
            runtimes: vec![RuntimeSnapshot {
                id: 1,
                workers: vec![WorkerSnapshot::default()],
                ..RuntimeSnapshot::default()
            }],
            ..Snapshot::default()
        };
        let task = |id, state, kind, for_ns| TaskInfo {
            runtime: 1,
            worker: 0,
            id,
            kind: TaskKind::Spawned,
            name: None,
            spawn_site: None,
            state,
            state_for_ns: for_ns,
            polls: 1,
            busy_ns: 0,
            wakes: 0,
            self_wakes: 0,
            await_site: None,
            waiting_on: WaitTarget::Nothing,
            verdict: Verdict {
                kind,
                message: String::new(),
                tasks: Vec::new(),
            },
        };
        let second = 1_000_000_000;
        let tasks = [
            task(1, TaskState::Running, VerdictKind::Running, 5 * second),
            task(2, TaskState::Idle, VerdictKind::Deadlock, 3 * second),
            task(3, TaskState::Idle, VerdictKind::Deadlock, 3 * second),
            task(4, TaskState::Idle, VerdictKind::IdleOnUnknown, second / 2),
            task(
                5,
                TaskState::Scheduled,
                VerdictKind::WokenNotPolled,
                2 * second,
            ),
        ];
        let samples = task_samples(&snap, &tasks, DEFAULT_STUCK_AFTER);
        // 3 states + 10 stuck verdicts, whatever the number of tasks.
        assert_eq!(samples.len(), 13);
        let value = |name: &str, label: &str| {
            samples
                .iter()
                .find(|s| s.name == name && s.labels.iter().any(|(_, v)| v == label))
                .map(|s| s.value.clone())
        };
        assert_eq!(value("ringline_tasks", "idle"), Some(Value::Gauge(3.0)));
        assert_eq!(value("ringline_tasks", "running"), Some(Value::Gauge(1.0)));
        assert_eq!(
            value("ringline_tasks_stuck", "deadlock"),
            Some(Value::Gauge(2.0))
        );
        assert_eq!(
            value("ringline_tasks_stuck", "woken_not_polled"),
            Some(Value::Gauge(1.0))
        );
        // Not idle long enough yet.
        assert_eq!(
            value("ringline_tasks_stuck", "idle_on_unknown"),
            Some(Value::Gauge(0.0))
        );
        assert_eq!(value("ringline_tasks_stuck", "running"), None);
    }

    /// DESIGN.md's core names (dashboards and alerts use them), copied so
    /// that a rename here fails loudly.
    const DESIGN_CORE: &str = "ringline_info ringline_worker_loop_iterations_total
        ringline_worker_busy_seconds_total ringline_worker_polls_total
        ringline_worker_heartbeat_age_seconds ringline_worker_tasks ringline_slab_used
        ringline_slab_capacity ringline_slab_high_water ringline_slab_exhausted_total
        ringline_ops_in_flight ringline_ops_submitted_total ringline_ops_completed_total
        ringline_op_latency_seconds ringline_ops_stuck ringline_graveyard_depth
        ringline_graveyard_bytes ringline_graveyard_oldest_age_seconds
        ringline_ring_sqes_submitted_total ringline_ring_enter_calls_total
        ringline_ring_cq_overflow_total ringline_connections_active
        ringline_connections_accepted_total ringline_bytes_received_total
        ringline_bytes_sent_total";

    /// Labels with a bounded set of values (DESIGN.md).
    // `state`, `verdict` and `trigger` take the values of small enums
    // (`TaskState`, `VerdictKind`, `TriggerKind`).
    const BOUNDED: &[&str] = &[
        "runtime", "worker", "op", "slab", "result", "backend", "version", "state", "verdict",
        "trigger",
    ];

    /// Labels a test looks a series up by.
    type Sel = &'static [(&'static str, &'static str)];

    /// An echo server's op kinds: 2 multishot, 3 one-shot.
    const ACTIVE: &[&str] = &["accept", "recv", "send", "close", "timer"];

    /// A worker as real snapshots list it: every pool and every op kind.
    fn worker(worker: usize) -> WorkerSnapshot {
        let pools = SlabKind::ALL.iter().filter(|k| !k.is_runtime_wide());
        let slabs = pools.map(|k| SlabStats {
            slab: k.as_str().into(),
            capacity: 64,
            ..Default::default()
        });
        let ops = OpKind::ALL.iter().map(|k| OpStats {
            op: k.as_str().into(),
            multishot: k.is_multishot(),
            submitted_total: u64::from(ACTIVE.contains(&k.as_str())),
            ..OpStats::default()
        });
        WorkerSnapshot {
            worker,
            slabs: slabs.collect(),
            ops: ops.collect(),
            ..Default::default()
        }
    }

    /// One runtime, two workers; worker 0 has distinct values.
    fn fixture() -> Snapshot {
        let mut w0 = worker(0);
        let e = &mut w0.executor;
        (e.loop_iterations_total, e.busy_ns_total, e.heartbeat_age_ns) =
            (100, 1_500_000_000, 250_000_000);
        (e.tasks, e.current_poll_age_ns, e.longest_turn_ns) = (4, Some(2_000_000), 3_000_000);
        let send = w0.ops.iter_mut().find(|o| o.op == "send").unwrap();
        (
            send.submitted_total,
            send.in_flight,
            send.completed_ok_total,
        ) = (10, 1, 7);
        (send.completed_error_total, send.completed_cancelled_total) = (1, 1);
        send.latency.record_n(1_000, 9);
        w0.ops[OpKind::Accept as usize].multishot_cqes_total = 5;
        let op = |op: &str, age_ns| InFlightOp {
            op: op.into(),
            age_ns,
            ..Default::default()
        };
        w0.in_flight = vec![op("send", 2_000_000_000), op("close", 500_000_000)];
        (w0.graveyard.oldest_age_ns, w0.net.bytes_sent_total) = (Some(1_250_000_000), 4096);
        w0.slabs[SlabKind::Connections as usize].used = 3;
        let shared = SlabKind::ALL.iter().filter(|k| k.is_runtime_wide());
        let slabs = shared.map(|k| SlabStats {
            slab: k.as_str().into(),
            ..Default::default()
        });
        let rt = RuntimeSnapshot {
            id: 7,
            backend: "io_uring".into(),
            version: "0.2.0".into(),
            pool_threads_abandoned: 2,
            slabs: slabs.collect(),
            workers: vec![w0, worker(1)],
            ..Default::default()
        };
        Snapshot {
            runtimes: vec![rt],
            ..Default::default()
        }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    fn get<'s>(samples: &'s [Sample<'s>], name: &str, labels: &[(&str, &str)]) -> Value<'s> {
        let has =
            |s: &Sample<'_>, (k, v): (&str, &str)| s.labels.iter().any(|l| l.0 == k && l.1 == v);
        let matches = |s: &&Sample<'_>| labels.iter().all(|&kv| has(s, kv));
        let found: Vec<_> = samples
            .iter()
            .filter(|s| s.name == name)
            .filter(matches)
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value.clone()
    }

    #[test]
    fn names_follow_prometheus_conventions_and_design() {
        let mut seen = HashSet::new();
        let snake = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        for d in METRICS {
            let n = d.name;
            let base = n.strip_suffix("_total").unwrap_or(n);
            let rules = [
                (seen.insert(n), "listed once"),
                (def(n) == Some(d), "found by def"),
                (
                    n.starts_with("ringline_") && n.bytes().all(snake),
                    "prefixed snake_case",
                ),
                (!n.contains("__") && !n.ends_with('_'), "no empty word"),
                (
                    (d.kind == MetricKind::Counter) == n.ends_with("_total"),
                    "_total iff counter",
                ),
                (
                    (d.unit == Unit::Seconds) == base.ends_with("_seconds"),
                    "_seconds iff seconds",
                ),
                (
                    d.unit != Unit::Bytes || n.contains("bytes"),
                    "bytes in the name",
                ),
                (
                    d.help.len() > 40 && d.help.ends_with('.'),
                    "a sentence of help",
                ),
                (
                    d.labels.iter().all(|l| BOUNDED.contains(l)),
                    "bounded labels",
                ),
            ];
            for (ok, rule) in rules {
                assert!(ok, "{n}: {rule}");
            }
        }
        for name in DESIGN_CORE.split_whitespace() {
            assert!(def(name).is_some(), "{name}: in DESIGN.md, not in METRICS");
        }
        let latency = def("ringline_op_latency_seconds").map(|d| d.kind);
        assert_eq!(latency, Some(MetricKind::Histogram));
        assert_eq!(def("ringline_nope"), None);
    }

    #[test]
    fn samples_match_their_definitions_and_cover_every_name() {
        let mut snap = fixture();
        // A process whose recorder runs, and its (empty) task list: every
        // family has series.
        snap.recorder.enabled = true;
        let mut samples = samples(&snap, DEFAULT_STUCK_AFTER);
        samples.extend(task_samples(&snap, &[], DEFAULT_STUCK_AFTER));
        let rank = |name| METRICS.iter().position(|m| m.name == name).expect("listed");
        let unsorted = samples
            .windows(2)
            .find(|w| rank(w[0].name) > rank(w[1].name));
        assert!(unsorted.is_none(), "catalog order: {unsorted:?}");
        for s in &samples {
            let d = def(s.name).expect("listed");
            let kind = match s.value {
                Value::Counter(_) => MetricKind::Counter,
                Value::Gauge(_) => MetricKind::Gauge,
                Value::Histogram(_) => MetricKind::Histogram,
            };
            assert_eq!(kind, d.kind, "{}", s.name);
            let keys: Vec<_> = s.labels.iter().map(|l| l.0).collect();
            let shared_pool = s.name.starts_with("ringline_slab_") && !keys.contains(&"worker");
            let want: Vec<_> = d
                .labels
                .iter()
                .filter(|&&l| !(shared_pool && l == "worker"))
                .collect();
            assert_eq!(keys.iter().collect::<Vec<_>>(), want, "{}", s.name);
        }
        // Both ways: a listed name nothing emits is a stale entry.
        for d in METRICS {
            let emitted = samples.iter().any(|s| s.name == d.name);
            assert!(emitted, "{} never emitted", d.name);
        }
    }

    #[test]
    fn samples_carry_exact_values_in_base_units() {
        const W0: &[(&str, &str)] = &[("runtime", "7"), ("worker", "0")];
        const CONNS: &[(&str, &str)] = &[("worker", "0"), ("slab", "connections")];
        const SEND: &[(&str, &str)] = &[("worker", "0"), ("op", "send")];
        const ACCEPT: &[(&str, &str)] = &[("worker", "0"), ("op", "accept")];
        let (c, g) = (Value::Counter, Value::Gauge);
        // Seconds counters stay exact nanoseconds; gauges are in seconds.
        let want: &[(&str, Sel, Value<'_>)] = &[
            (
                "ringline_info",
                &[("backend", "io_uring"), ("version", "0.2.0")],
                g(1.0),
            ),
            (
                "ringline_pool_threads_abandoned_total",
                &[("runtime", "7")],
                c(2),
            ),
            ("ringline_worker_loop_iterations_total", W0, c(100)),
            ("ringline_worker_busy_seconds_total", W0, c(1_500_000_000)),
            ("ringline_worker_heartbeat_age_seconds", W0, g(0.25)),
            ("ringline_worker_current_poll_age_seconds", W0, g(0.002)),
            ("ringline_worker_longest_turn_seconds", W0, g(0.003)),
            ("ringline_worker_timer_overdue_seconds", W0, g(0.0)),
            ("ringline_graveyard_oldest_age_seconds", W0, g(1.25)),
            ("ringline_worker_tasks", W0, g(4.0)),
            ("ringline_bytes_sent_total", W0, c(4096)),
            ("ringline_slab_used", CONNS, g(3.0)),
            ("ringline_slab_capacity", CONNS, g(64.0)),
            // A runtime-wide pool: no worker label (`get` wants one match).
            ("ringline_slab_used", &[("slab", "blocking_queue")], g(0.0)),
            ("ringline_ops_submitted_total", SEND, c(10)),
            ("ringline_ops_in_flight", SEND, g(1.0)),
            (
                "ringline_ops_completed_total",
                &[("worker", "0"), ("op", "send"), ("result", "ok")],
                c(7),
            ),
            (
                "ringline_ops_completed_total",
                &[("worker", "0"), ("op", "send"), ("result", "error")],
                c(1),
            ),
            (
                "ringline_ops_completed_total",
                &[("worker", "0"), ("op", "send"), ("result", "cancelled")],
                c(1),
            ),
            ("ringline_ops_multishot_cqes_total", ACCEPT, c(5)),
        ];
        let snap = fixture();
        let s = samples(&snap, DEFAULT_STUCK_AFTER);
        for (name, labels, value) in want {
            assert_eq!(get(&s, name, labels), *value, "{name} {labels:?}");
        }
        assert_eq!(Unit::Seconds.to_base(1_500_000_000), 1.5);
        let Value::Histogram(h) = get(&s, "ringline_op_latency_seconds", SEND) else {
            panic!("not a histogram")
        };
        assert_eq!((h.count, h.sum_ns), (9, 9_000));
    }

    #[test]
    fn stuck_ops_and_multishot_latency() {
        let snap = fixture();
        let s = samples(&snap, DEFAULT_STUCK_AFTER);
        for op in ["accept", "recv"] {
            let of_op = |x: &&Sample<'_>| x.labels.iter().any(|l| l.1 == op);
            let names: Vec<_> = s.iter().filter(of_op).map(|x| x.name).collect();
            assert!(
                !names.contains(&"ringline_op_latency_seconds"),
                "{op}: no latency"
            );
            assert!(
                !names.contains(&"ringline_ops_stuck"),
                "{op}: never in the registry"
            );
        }
        let stuck = |s, w, op| get(s, "ringline_ops_stuck", &[("worker", w), ("op", op)]);
        let total = |s, w| get(s, "ringline_worker_ops_stuck", &[("worker", w)]);
        assert_eq!(stuck(&s, "0", "send"), Value::Gauge(1.0));
        assert_eq!(
            stuck(&s, "0", "close"),
            Value::Gauge(0.0),
            "0.5 s: not stuck"
        );
        assert_eq!(stuck(&s, "1", "send"), Value::Gauge(0.0), "present at zero");
        let totals = [total(&s, "0"), total(&s, "1")];
        assert_eq!(totals, [Value::Gauge(1.0), Value::Gauge(0.0)]);
        let low = samples(&snap, Duration::from_millis(100));
        assert_eq!(stuck(&low, "0", "close"), Value::Gauge(1.0));
        assert_eq!(total(&low, "0"), Value::Gauge(2.0));
        // Wedged right after submitting: no counts for the kind, yet shown.
        let mut wedged = fixture();
        let w1 = &mut wedged.runtimes[0].workers[1];
        w1.ops.retain(|o| o.op != "fs_read");
        let fs_read = InFlightOp {
            op: "fs_read".into(),
            age_ns: 9_000_000_000,
            ..Default::default()
        };
        w1.in_flight.push(fs_read);
        let s = samples(&wedged, DEFAULT_STUCK_AFTER);
        assert_eq!(stuck(&s, "1", "fs_read"), Value::Gauge(1.0));
    }

    #[test]
    fn series_count_is_bounded_as_documented() {
        let snap = fixture();
        let s = samples(&snap, DEFAULT_STUCK_AFTER);
        // Per runtime 3 + 4 × 2 shared pools; per worker 36 + 4 × 10
        // pools + 7 × 3 one-shot kinds + 6 × 2 multishot kinds.
        assert_eq!(s.len(), 11 + 2 * (36 + 40 + 21 + 12));
        assert_eq!(s.len(), 229, "the number the module docs state");
        let keys: HashSet<_> = s.iter().map(|x| (x.name, x.labels.clone())).collect();
        assert_eq!(keys.len(), s.len(), "no duplicate series");
        let mut all = fixture();
        let ops = all.runtimes[0].workers.iter_mut().flat_map(|w| &mut w.ops);
        ops.for_each(|o| o.submitted_total = 1);
        let every_kind = samples(&all, DEFAULT_STUCK_AFTER).len();
        assert_eq!(every_kind, 11 + 2 * (76 + 3 * 6 + 19 * 7));
        assert_eq!(every_kind, 465);
        assert_eq!(samples(&Snapshot::default(), DEFAULT_STUCK_AFTER), []);
    }
}
