//! The one read model: a plain, serializable copy of every runtime's stats
//! at one instant. The exporter, the inspector, tests and benchmarks all
//! read these types; only the runtime's `stats/` module reads an atomic.
//!
//! Field names are stable: they are the inspect protocol's JSON fields and
//! map one-to-one onto the Prometheus metrics. Counters end in `_total`;
//! everything else is a gauge at `taken_at_unix_ns`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use super::tasks::{Site, Verdict};

/// Version of the snapshot schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Every runtime of the process at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SCHEMA_VERSION`] of the code that took it.
    pub schema_version: u32,
    /// The process it was taken in.
    pub pid: u32,
    /// Wall-clock time it was taken, nanoseconds since 1970.
    pub taken_at_unix_ns: u64,
    /// Monotonic time it was taken, nanoseconds since the process's stats
    /// epoch: the base of rates (see [`Snapshot::interval`]).
    pub monotonic_ns: u64,
    /// Whether the `stats` feature was on; off, every count is zero.
    pub stats_enabled: bool,
    /// Every live runtime, in launch order.
    pub runtimes: Vec<RuntimeSnapshot>,
    /// The process's flight recorder (zero when it is off).
    #[serde(default)]
    pub recorder: RecorderStats,
}

/// The flight recorder of a process: what it holds and the dumps it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecorderStats {
    /// Recording (false when disabled, or in a process with no runtime yet).
    pub enabled: bool,
    /// Bytes its history takes now.
    pub bytes: u64,
    /// The most it may take (`RecorderConfig::max_bytes`).
    pub max_bytes: u64,
    /// Frames held.
    pub frames: u64,
    /// Dumps written, by trigger name (`stall`, `panic`, `signal`,
    /// `request`).
    #[serde(default)]
    pub dumps_total: std::collections::BTreeMap<String, u64>,
}

/// One runtime (one `RinglineBuilder::launch`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeSnapshot {
    /// Process-unique id, in launch order from 1.
    pub id: u64,
    /// `io_uring` or `mio`.
    pub backend: String,
    /// The ringline version.
    pub version: String,
    /// Wall-clock launch time, nanoseconds since 1970.
    pub started_at_unix_ns: u64,
    /// True once shutdown was requested.
    pub shutting_down: bool,
    /// Blocking and resolver threads still running a job (a
    /// `spawn_blocking` closure, a name lookup) when the drain deadline
    /// passed at exit, left behind rather than joined. Set when the last
    /// worker exits, so only final counts (`ShutdownHandle::stats`) show
    /// it above 0.
    #[serde(default)]
    pub pool_threads_abandoned: u64,
    /// The runtime's main settings, as text (`worker_threads`,
    /// `max_connections`, `send_copy`, …).
    pub config: std::collections::BTreeMap<String, String>,
    /// Pools shared by every worker of the runtime (blocking and resolver
    /// queues).
    pub slabs: Vec<SlabStats>,
    /// One entry per worker thread, by index.
    pub workers: Vec<WorkerSnapshot>,
}

/// One worker thread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerSnapshot {
    /// Worker index within its runtime.
    pub worker: usize,
    /// Its event loop and tasks.
    pub executor: ExecutorStats,
    /// Its io_uring instance (or mio poll).
    pub ring: RingStats,
    /// Its connections and traffic.
    pub net: NetStats,
    /// Buffers parked for futures dropped before their op completed.
    pub graveyard: GraveyardStats,
    /// Every pool, by [`SlabStats::slab`] name.
    pub slabs: Vec<SlabStats>,
    /// Every op kind, by [`OpStats::op`] name.
    pub ops: Vec<OpStats>,
    /// One-shot ops in flight at this instant, oldest first.
    pub in_flight: Vec<InFlightOp>,
}

/// A worker's event loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorStats {
    /// Tasks alive (connection and standalone).
    pub tasks: u64,
    /// Task polls.
    pub polls_total: u64,
    /// Time spent running (between leaving one wait and entering the next).
    pub busy_ns_total: u64,
    /// Time spent waiting for the kernel.
    pub parked_ns_total: u64,
    /// Event-loop iterations.
    pub loop_iterations_total: u64,
    /// True while the worker waits for events (an idle worker is healthy
    /// however long it waits).
    pub parked: bool,
    /// Time since the worker last left its wait, 0 while parked: a growing
    /// value means the worker is stuck running something.
    pub heartbeat_age_ns: u64,
    /// The task being polled now (its `TaskId` value), if any.
    pub current_task: Option<u64>,
    /// How long the current poll has run, measured from the start of its
    /// loop iteration (the stats clock is read twice per iteration, not per
    /// poll, so this may include earlier polls of the same iteration).
    pub current_poll_age_ns: Option<u64>,
    /// The longest stretch of work between two waits: an upper bound on
    /// the longest single poll, exact when an iteration polled one task.
    pub longest_turn_ns: u64,
    /// How late the earliest pending timer is (`None` while no timer is
    /// past its deadline): a late timer means the worker is busy or stuck
    /// and not getting back to its loop.
    pub timer_overdue_ns: Option<u64>,
}

/// A worker's ring (io_uring) or poll (mio) activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingStats {
    /// SQEs the kernel accepted.
    pub sqes_submitted_total: u64,
    /// `io_uring_enter` calls (mio: `poll` calls).
    pub enter_calls_total: u64,
    /// CQEs reaped (mio: readiness events).
    pub cqes_reaped_total: u64,
    /// Loop iterations that found the completion queue overflowed (the
    /// kernel kept the completions, `NODROP`, but the ring is too small).
    pub cq_overflow_total: u64,
    /// Submissions that found the submission queue full.
    pub sq_full_total: u64,
    /// Completions whose `user_data` named no op kind and were dropped.
    /// Always 0 in a correct runtime: any is a bug worth a report.
    /// (Absent from older snapshots, read as 0.)
    #[serde(default)]
    pub unknown_cqes_total: u64,
    /// Connections opened on a slot of the ring's registered file table
    /// (io_uring direct descriptors, `Config::fixed_files`).
    /// (Absent from older snapshots, read as 0.)
    #[serde(default)]
    pub fixed_file_conns_total: u64,
    /// Connections opened on a plain descriptor: file table off, full or
    /// refused by the kernel, or the mio backend.
    /// (Absent from older snapshots, read as 0.)
    #[serde(default)]
    pub raw_fd_conns_total: u64,
}

/// A worker's connections and traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Connections open now (accepted or connected).
    pub connections_active: u64,
    /// Connections accepted.
    pub connections_accepted_total: u64,
    /// Outbound connections established.
    pub connections_connected_total: u64,
    /// Connections closed.
    pub connections_closed_total: u64,
    /// Stream bytes received.
    pub bytes_received_total: u64,
    /// Stream bytes sent.
    pub bytes_sent_total: u64,
    /// UDP datagrams received.
    pub datagrams_received_total: u64,
    /// UDP datagrams sent.
    pub datagrams_sent_total: u64,
    /// Connections not receiving now because their handler left
    /// `recv_buffer_limit` bytes unconsumed (TCP pushes back on the peer).
    #[serde(default)]
    pub connections_recv_paused: u64,
    /// Received bytes every connection holds that its handler has not
    /// consumed yet.
    #[serde(default)]
    pub recv_buffered_bytes: u64,
    /// Times a connection reached `recv_buffer_limit` and paused.
    #[serde(default)]
    pub recv_pauses_total: u64,
    /// Closing connections reset because their peer did not take the
    /// queued bytes within `close_linger_timeout`.
    #[serde(default)]
    pub linger_resets_total: u64,
    /// UDP sends the kernel failed after `send_to` returned `Ok` (e.g. a
    /// broadcast address without `SO_BROADCAST`): datagrams lost on the
    /// way out. Cancelled sends (a forced shutdown) are not counted.
    // Absent from the snapshots of processes built before it was added.
    #[serde(default)]
    pub datagram_send_errors_total: u64,
}

/// Buffers parked for futures dropped before their op completed; each
/// leaves once the kernel reports the op done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraveyardStats {
    /// Parked ops now.
    pub depth: u64,
    /// Buffer bytes they hold.
    pub bytes: u64,
    /// Ops ever parked.
    pub parked_total: u64,
    /// Ops whose completion arrived and whose buffers were freed.
    pub reaped_total: u64,
    /// Age of the oldest parked op: growing means the kernel is not
    /// finishing (or not cancelling) it.
    pub oldest_age_ns: Option<u64>,
    /// Ops still in flight when shutdown gave up waiting for the kernel:
    /// their memory is leaked on purpose, never freed while the kernel may
    /// write it. Non-zero means the kernel never finished (or cancelled)
    /// them.
    pub abandoned: u64,
}

/// A fixed-capacity pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlabStats {
    /// Pool name (`connections`, `tasks`, `timers`, `send_copy`,
    /// `recv_buffers`, `fs_files`, `fs_commands`, `udp_send`, …).
    pub slab: String,
    /// Entries in use now.
    pub used: u64,
    /// Fixed capacity (0: the pool is not configured).
    pub capacity: u64,
    /// Most entries ever in use at once.
    pub high_water: u64,
    /// Requests refused because the pool was full.
    pub exhausted_total: u64,
}

/// One op kind's counts and latency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpStats {
    /// Op name (`accept`, `recv`, `send`, `connect`, `close`, `fs_read`, …).
    pub op: String,
    /// Multishot ops stay armed over many completions: they count
    /// completions (`multishot_cqes_total`) and armed state (`in_flight`),
    /// and have no latency.
    pub multishot: bool,
    /// Submitted and not finished (for multishot ops: armed).
    pub in_flight: u64,
    /// Submitted (for multishot ops: armed).
    pub submitted_total: u64,
    /// Finished with success.
    pub completed_ok_total: u64,
    /// Finished with an error other than cancellation.
    pub completed_error_total: u64,
    /// Finished cancelled.
    pub completed_cancelled_total: u64,
    /// Intermediate completions of a multishot op (each accepted
    /// connection, each received buffer).
    pub multishot_cqes_total: u64,
    /// Submit → completion time of finished one-shot ops.
    pub latency: Histogram,
}

impl OpStats {
    /// Finished ops, whatever the result.
    pub fn completed_total(&self) -> u64 {
        self.completed_ok_total + self.completed_error_total + self.completed_cancelled_total
    }
}

/// What an in-flight op works on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpTarget {
    /// Nothing worth naming.
    #[default]
    None,
    /// A connection of the worker.
    Connection {
        /// Its slot index.
        index: u32,
        /// Its peer, when known (`ip:port`, or `unix`).
        peer: Option<String>,
    },
    /// An open file, by descriptor.
    Fd {
        /// The descriptor.
        fd: i32,
        /// The file's path: as given to `ringline::fs::open` for a file
        /// opened through ringline, else what `/proc/self/fd` named when
        /// the snapshot was read off the workers (Linux); `None` when
        /// neither is known. Older processes never send it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// A path (open, stat, rename, remove, mkdir): its first bytes.
    Path {
        /// The first bytes of the path, lossily decoded.
        prefix: String,
        /// True when the path was longer than `prefix`.
        truncated: bool,
    },
}

/// One op in flight, from the op registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightOp {
    /// Runtime id.
    pub runtime: u64,
    /// Worker index.
    pub worker: usize,
    /// Op name.
    pub op: String,
    /// Time since it was submitted.
    pub age_ns: u64,
    /// The task that submitted it (its `TaskId` value), if one did.
    pub task: Option<u64>,
    /// What it works on.
    pub target: OpTarget,
    /// Its future was dropped: its buffers are parked in the graveyard.
    pub in_graveyard: bool,
    /// An `ASYNC_CANCEL` was submitted for it.
    pub cancel_submitted: bool,
    /// The user-code call the task waiting on it is parked in (the `ops`
    /// answer fills it in; snapshots leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_site: Option<Site>,
    /// Why it has not completed (the `ops` answer fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

impl Snapshot {
    /// Time between `prev` and this snapshot (zero if `prev` is newer).
    pub fn interval(&self, prev: &Snapshot) -> Duration {
        Duration::from_nanos(self.monotonic_ns.saturating_sub(prev.monotonic_ns))
    }

    /// This snapshot with every counter (`*_total`, latency histograms)
    /// replaced by its increase since `prev`, for rates over
    /// [`interval`](Self::interval). Gauges keep their current values. A
    /// runtime, worker, op or pool missing from `prev` counts from zero; a
    /// counter that went backwards (a different process) gives zero.
    pub fn delta(&self, prev: &Snapshot) -> Snapshot {
        let mut out = self.clone();
        for rt in &mut out.runtimes {
            let Some(p) = prev.runtimes.iter().find(|p| p.id == rt.id) else {
                continue;
            };
            delta_slabs(&mut rt.slabs, &p.slabs);
            for w in &mut rt.workers {
                if let Some(pw) = p.workers.iter().find(|pw| pw.worker == w.worker) {
                    w.delta_from(pw);
                }
            }
        }
        out
    }

    /// Every op in flight for at least `min_age`, oldest first.
    pub fn stuck_ops(&self, min_age: Duration) -> Vec<InFlightOp> {
        let min = min_age.as_nanos().min(u64::MAX as u128) as u64;
        let mut ops: Vec<InFlightOp> = self
            .runtimes
            .iter()
            .flat_map(|r| &r.workers)
            .flat_map(|w| &w.in_flight)
            .filter(|op| op.age_ns >= min)
            .cloned()
            .collect();
        ops.sort_by_key(|op| std::cmp::Reverse(op.age_ns));
        ops
    }

    /// The runtime with process-unique `id`.
    pub fn runtime(&self, id: u64) -> Option<&RuntimeSnapshot> {
        self.runtimes.iter().find(|r| r.id == id)
    }
}

impl RuntimeSnapshot {
    /// One op kind summed over every worker (latency histograms merged).
    pub fn op_total(&self, op: &str) -> OpStats {
        let mut sum = OpStats {
            op: op.to_owned(),
            ..OpStats::default()
        };
        for o in self.workers.iter().filter_map(|w| w.op(op)) {
            sum.multishot = o.multishot;
            sum.in_flight += o.in_flight;
            sum.submitted_total += o.submitted_total;
            sum.completed_ok_total += o.completed_ok_total;
            sum.completed_error_total += o.completed_error_total;
            sum.completed_cancelled_total += o.completed_cancelled_total;
            sum.multishot_cqes_total += o.multishot_cqes_total;
            sum.latency.merge(&o.latency);
        }
        sum
    }
}

impl WorkerSnapshot {
    /// The op kind named `op`.
    pub fn op(&self, op: &str) -> Option<&OpStats> {
        self.ops.iter().find(|o| o.op == op)
    }

    /// The pool named `slab`.
    pub fn slab(&self, slab: &str) -> Option<&SlabStats> {
        self.slabs.iter().find(|s| s.slab == slab)
    }

    fn delta_from(&mut self, p: &WorkerSnapshot) {
        let e = &mut self.executor;
        let pe = &p.executor;
        e.polls_total = e.polls_total.saturating_sub(pe.polls_total);
        e.busy_ns_total = e.busy_ns_total.saturating_sub(pe.busy_ns_total);
        e.parked_ns_total = e.parked_ns_total.saturating_sub(pe.parked_ns_total);
        e.loop_iterations_total = e
            .loop_iterations_total
            .saturating_sub(pe.loop_iterations_total);
        let r = &mut self.ring;
        let pr = &p.ring;
        r.sqes_submitted_total = r
            .sqes_submitted_total
            .saturating_sub(pr.sqes_submitted_total);
        r.enter_calls_total = r.enter_calls_total.saturating_sub(pr.enter_calls_total);
        r.cqes_reaped_total = r.cqes_reaped_total.saturating_sub(pr.cqes_reaped_total);
        r.cq_overflow_total = r.cq_overflow_total.saturating_sub(pr.cq_overflow_total);
        r.sq_full_total = r.sq_full_total.saturating_sub(pr.sq_full_total);
        r.unknown_cqes_total = r.unknown_cqes_total.saturating_sub(pr.unknown_cqes_total);
        r.fixed_file_conns_total = r
            .fixed_file_conns_total
            .saturating_sub(pr.fixed_file_conns_total);
        r.raw_fd_conns_total = r.raw_fd_conns_total.saturating_sub(pr.raw_fd_conns_total);
        let n = &mut self.net;
        let pn = &p.net;
        n.connections_accepted_total = n
            .connections_accepted_total
            .saturating_sub(pn.connections_accepted_total);
        n.connections_connected_total = n
            .connections_connected_total
            .saturating_sub(pn.connections_connected_total);
        n.connections_closed_total = n
            .connections_closed_total
            .saturating_sub(pn.connections_closed_total);
        n.bytes_received_total = n
            .bytes_received_total
            .saturating_sub(pn.bytes_received_total);
        n.bytes_sent_total = n.bytes_sent_total.saturating_sub(pn.bytes_sent_total);
        n.datagrams_received_total = n
            .datagrams_received_total
            .saturating_sub(pn.datagrams_received_total);
        n.datagrams_sent_total = n
            .datagrams_sent_total
            .saturating_sub(pn.datagrams_sent_total);
        n.recv_pauses_total = n.recv_pauses_total.saturating_sub(pn.recv_pauses_total);
        n.linger_resets_total = n.linger_resets_total.saturating_sub(pn.linger_resets_total);
        n.datagram_send_errors_total = n
            .datagram_send_errors_total
            .saturating_sub(pn.datagram_send_errors_total);
        let g = &mut self.graveyard;
        g.parked_total = g.parked_total.saturating_sub(p.graveyard.parked_total);
        g.reaped_total = g.reaped_total.saturating_sub(p.graveyard.reaped_total);
        delta_slabs(&mut self.slabs, &p.slabs);
        for o in &mut self.ops {
            if let Some(po) = p.op(&o.op) {
                o.submitted_total = o.submitted_total.saturating_sub(po.submitted_total);
                o.completed_ok_total = o.completed_ok_total.saturating_sub(po.completed_ok_total);
                o.completed_error_total = o
                    .completed_error_total
                    .saturating_sub(po.completed_error_total);
                o.completed_cancelled_total = o
                    .completed_cancelled_total
                    .saturating_sub(po.completed_cancelled_total);
                o.multishot_cqes_total = o
                    .multishot_cqes_total
                    .saturating_sub(po.multishot_cqes_total);
                o.latency = o.latency.delta(&po.latency);
            }
        }
    }
}

fn delta_slabs(slabs: &mut [SlabStats], prev: &[SlabStats]) {
    for s in slabs {
        if let Some(p) = prev.iter().find(|p| p.slab == s.slab) {
            s.exhausted_total = s.exhausted_total.saturating_sub(p.exhausted_total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(monotonic_ns: u64, scale: u64) -> Snapshot {
        let mut latency = Histogram::default();
        latency.record_n(1_000, scale);
        let op = OpStats {
            op: "send".into(),
            in_flight: 3,
            submitted_total: 10 * scale,
            completed_ok_total: 7 * scale,
            latency,
            ..OpStats::default()
        };
        let worker = WorkerSnapshot {
            worker: 0,
            executor: ExecutorStats {
                polls_total: 100 * scale,
                tasks: 5,
                ..ExecutorStats::default()
            },
            net: NetStats {
                bytes_received_total: 1000 * scale,
                connections_active: 2,
                ..NetStats::default()
            },
            slabs: vec![SlabStats {
                slab: "connections".into(),
                used: 2,
                capacity: 8,
                high_water: 4,
                exhausted_total: scale,
            }],
            ops: vec![op],
            in_flight: vec![
                InFlightOp {
                    op: "fs_read".into(),
                    age_ns: 5_000_000_000,
                    ..InFlightOp::default()
                },
                InFlightOp {
                    op: "send".into(),
                    age_ns: 2_000_000_000,
                    ..InFlightOp::default()
                },
            ],
            ..WorkerSnapshot::default()
        };
        Snapshot {
            schema_version: SCHEMA_VERSION,
            monotonic_ns,
            runtimes: vec![RuntimeSnapshot {
                id: 1,
                workers: vec![worker],
                ..RuntimeSnapshot::default()
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn delta_subtracts_counters_and_keeps_gauges() {
        let prev = sample(1_000, 1);
        let now = sample(3_000, 3);
        let d = now.delta(&prev);
        assert_eq!(d.interval(&prev), Duration::from_nanos(2_000));
        let w = &d.runtimes[0].workers[0];
        assert_eq!(w.executor.polls_total, 200);
        assert_eq!(w.executor.tasks, 5, "gauge kept");
        assert_eq!(w.net.bytes_received_total, 2000);
        assert_eq!(w.net.connections_active, 2);
        let send = w.op("send").unwrap();
        assert_eq!(send.submitted_total, 20);
        assert_eq!(send.completed_ok_total, 14);
        assert_eq!(send.in_flight, 3);
        assert_eq!(send.latency.count, 2);
        let conns = w.slab("connections").unwrap();
        assert_eq!(
            (conns.used, conns.high_water, conns.exhausted_total),
            (2, 4, 2)
        );
    }

    #[test]
    fn delta_against_an_unrelated_or_newer_snapshot_never_wraps() {
        let prev = sample(9_000, 5);
        let now = sample(3_000, 1);
        let d = now.delta(&prev);
        assert_eq!(d.interval(&prev), Duration::ZERO);
        let w = &d.runtimes[0].workers[0];
        assert_eq!(w.executor.polls_total, 0);
        assert_eq!(w.op("send").unwrap().latency.count, 0);
        let other = Snapshot::default();
        assert_eq!(
            now.delta(&other),
            now,
            "nothing to subtract: counts from zero"
        );
    }

    #[test]
    fn stuck_ops_filters_by_age_oldest_first() {
        let s = sample(0, 1);
        let all = s.stuck_ops(Duration::ZERO);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].op, "fs_read");
        let old = s.stuck_ops(Duration::from_secs(3));
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].age_ns, 5_000_000_000);
        assert!(s.stuck_ops(Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn serde_round_trip_with_tagged_targets() {
        let mut s = sample(1, 1);
        s.runtimes[0].workers[0].in_flight[0].target = OpTarget::Connection {
            index: 7,
            peer: Some("127.0.0.1:9".into()),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""type":"connection""#), "{json}");
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn fd_targets_carry_their_path_only_when_known() {
        let named = OpTarget::Fd {
            fd: 9,
            path: Some("/var/log/app.log".into()),
        };
        let json = serde_json::to_string(&named).unwrap();
        assert_eq!(json, r#"{"type":"fd","fd":9,"path":"/var/log/app.log"}"#);
        assert_eq!(serde_json::from_str::<OpTarget>(&json).unwrap(), named);
        let unnamed = OpTarget::Fd { fd: 9, path: None };
        let json = serde_json::to_string(&unnamed).unwrap();
        assert_eq!(json, r#"{"type":"fd","fd":9}"#, "no path key");
        // What a process from before paths sends.
        assert_eq!(serde_json::from_str::<OpTarget>(&json).unwrap(), unnamed);
    }

    #[test]
    fn op_total_sums_workers() {
        let mut s = sample(1, 1);
        let mut w1 = s.runtimes[0].workers[0].clone();
        w1.worker = 1;
        s.runtimes[0].workers.push(w1);
        let total = s.runtimes[0].op_total("send");
        assert_eq!(total.submitted_total, 20);
        assert_eq!(total.latency.count, 2);
        assert_eq!(s.runtimes[0].op_total("nope").submitted_total, 0);
    }
}
