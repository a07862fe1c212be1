//! Per-worker stats with the `stats` feature: [`WorkerStats`], shared and
//! readable from any thread, and [`StatsWriter`], the worker's side.
//!
//! Single writer: only the worker stores into its `WorkerStats`, with a
//! relaxed `load` + `store` (a plain `mov` on x86) — never a lock-prefixed
//! read-modify-write. Hot counts (polls, bytes, connections) go into the
//! writer's plain `Cell`s and are published once per loop iteration, just
//! before the worker waits; op counters come from the driver's own
//! `OpCounters`, published for the kinds touched this iteration. Two
//! things are stored at once instead: the task being polled (so a wedged
//! worker shows what it is stuck in), histogram buckets (242 per op kind:
//! batching them would cost more than it saves) and the graveyard (rare
//! events an inspector must see at once, even on a worker that then
//! wedges).

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::atomic_histogram::AtomicHistogram;
use super::conn_table::{ConnFigures, ConnTable};
use super::kinds::{NetPressure, SlabKind, SlabUsage};
use super::op_registry::{OpRegistry, RegistryLayout, RegistryQueue, Target};
use super::task_registry::{Kind, RawTask, TaskRegistry, Wait, state_word};
use super::ticks;
use super::{
    ConnectionInfo, ExecutorStats, GraveyardStats, GraveyardTotals, InFlightOp, NetStats, OpStats,
    RingStats, RingTotals, SlabStats, TaskInfo, TaskState, WorkerSnapshot,
};
use crate::peer::PeerAddr;
use crate::op::{OpCounters, OpKind, UserData};

#[inline]
fn set(a: &AtomicU64, v: u64) {
    a.store(v, Relaxed);
}

#[inline]
fn get(a: &AtomicU64) -> u64 {
    a.load(Relaxed)
}

#[derive(Default)]
struct ExecutorCells {
    tasks: AtomicU64,
    polls: AtomicU64,
    busy_ns: AtomicU64,
    parked_ns: AtomicU64,
    iterations: AtomicU64,
    /// Start of the current (or last) iteration: the heartbeat.
    turn_start_ns: AtomicU64,
    parked: AtomicU64,
    /// The polled task's number (`TaskId::as_u64`) + 1, 0 when none.
    current_task: AtomicU64,
    /// When that poll started, in ticks.
    poll_started_ticks: AtomicU64,
    longest_turn_ns: AtomicU64,
    /// Deadline of the earliest pending timer, 0 when none.
    next_timer_ns: AtomicU64,
}

#[derive(Default)]
struct NetCells {
    accepted: AtomicU64,
    connected: AtomicU64,
    closed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    datagrams_in: AtomicU64,
    datagrams_out: AtomicU64,
    recv_paused: AtomicU64,
    recv_buffered: AtomicU64,
    recv_pauses: AtomicU64,
    linger_resets: AtomicU64,
    datagram_send_errors: AtomicU64,
}

#[derive(Default)]
struct SlabCells {
    used: AtomicU64,
    capacity: AtomicU64,
    high_water: AtomicU64,
    exhausted: AtomicU64,
}

#[derive(Default)]
struct OpCells {
    in_flight: AtomicU64,
    submitted: AtomicU64,
    ok: AtomicU64,
    err: AtomicU64,
    cancelled: AtomicU64,
    multishot_cqes: AtomicU64,
    latency: AtomicHistogram,
}

/// One worker's stats, readable from any thread. Aligned so two workers'
/// blocks never share a cache line.
#[repr(align(128))]
pub(crate) struct WorkerStats {
    worker: usize,
    executor: ExecutorCells,
    ring: [AtomicU64; 8],
    net: NetCells,
    graveyard: [AtomicU64; 6],
    slabs: [SlabCells; SlabKind::COUNT],
    ops: Box<[OpCells]>,
    registry: OpRegistry,
    tasks: TaskRegistry,
    /// Per connection slot, what it holds (see `conn_table.rs`).
    conns: ConnTable,
}

impl WorkerStats {
    pub(crate) fn new(worker: usize, layout: RegistryLayout) -> WorkerStats {
        WorkerStats {
            worker,
            executor: ExecutorCells::default(),
            ring: Default::default(),
            net: NetCells::default(),
            graveyard: Default::default(),
            slabs: Default::default(),
            ops: (0..OpKind::COUNT).map(|_| OpCells::default()).collect(),
            registry: OpRegistry::new(layout),
            conns: ConnTable::new(layout.conns as usize),
            tasks: TaskRegistry::new(layout.tasks),
        }
    }

    /// Task slots (the registry's size).
    fn tasks_len(&self) -> usize {
        self.tasks.len()
    }

    /// Every live task, decoded, and the task being polled with its poll's
    /// start (ticks).
    fn raw_tasks(&self, out: &mut Vec<RawTask>) -> Option<(u64, u64)> {
        let e = &self.executor;
        let current = get(&e.current_task);
        let started = get(&e.poll_started_ticks);
        self.tasks.read(out);
        // Read again: a poll that ended meanwhile is not "running".
        (current != 0 && get(&e.current_task) == current).then(|| (current - 1, started))
    }

    /// Appends every task of this worker, judged (see `verdict`); with
    /// `ops`, fills in their await sites and verdicts too.
    pub(crate) fn tasks(
        &self,
        runtime: u64,
        out: &mut Vec<TaskInfo>,
        ops: Option<&mut Vec<InFlightOp>>,
    ) {
        let scale = super::ticks::Scale::now();
        let mut raw = Vec::new();
        let running = self.raw_tasks(&mut raw);
        let mut in_flight = Vec::new();
        self.registry
            .read_in_flight(runtime, self.worker, scale.now_ns(), &mut in_flight);
        let peer = |index| self.registry.peer(index);
        let view = super::verdict::WorkerView::new(
            runtime,
            self.worker,
            &raw,
            running,
            &in_flight,
            &peer,
            scale,
        );
        let first = out.len();
        super::verdict::tasks(&view, out);
        if let Some(ops) = ops {
            let mut explained = in_flight.clone();
            super::verdict::explain_ops(&view, &out[first..], &mut explained);
            ops.append(&mut explained);
        }
    }

    /// Appends every live connection record, with ages relative to
    /// `now_ns` and the peers from the op registry's peer table.
    pub(crate) fn connections(&self, runtime: u64, now_ns: u64, out: &mut Vec<ConnectionInfo>) {
        let first = out.len();
        self.conns.read(|index, figures| {
            let peer = self.registry.peer(index);
            out.push(figures.info(runtime, self.worker, index, peer, now_ns));
        });
        // Each connection's task state, from the task registry.
        let mut tasks = Vec::new();
        let running = self.raw_tasks(&mut tasks).map(|(id, _)| id);
        let states: std::collections::HashMap<u64, TaskState> =
            tasks.iter().map(|t| (t.id, t.state())).collect();
        for conn in &mut out[first..] {
            conn.task_state = conn.task.and_then(|id| match running {
                Some(r) if r == id => Some(TaskState::Running),
                _ => states.get(&id).copied(),
            });
        }
    }

    /// A plain copy, with ages relative to `now_ns`.
    pub(crate) fn snapshot(&self, runtime: u64, now_ns: u64) -> WorkerSnapshot {
        let e = &self.executor;
        let parked = get(&e.parked) != 0;
        let turn_start = get(&e.turn_start_ns);
        let current = get(&e.current_task);
        let turn_age = now_ns.saturating_sub(turn_start);
        let executor = ExecutorStats {
            tasks: get(&e.tasks),
            polls_total: get(&e.polls),
            busy_ns_total: get(&e.busy_ns),
            parked_ns_total: get(&e.parked_ns),
            loop_iterations_total: get(&e.iterations),
            parked,
            heartbeat_age_ns: if parked || turn_start == 0 {
                0
            } else {
                turn_age
            },
            current_task: (current != 0).then(|| current - 1),
            current_poll_age_ns: (current != 0).then_some(turn_age),
            longest_turn_ns: get(&e.longest_turn_ns),
            timer_overdue_ns: match get(&e.next_timer_ns) {
                0 => None,
                at => now_ns.checked_sub(at).filter(|&late| late > 0),
            },
        };
        let r = &self.ring;
        let ring = RingStats {
            sqes_submitted_total: get(&r[0]),
            enter_calls_total: get(&r[1]),
            cqes_reaped_total: get(&r[2]),
            cq_overflow_total: get(&r[3]),
            sq_full_total: get(&r[4]),
            unknown_cqes_total: get(&r[5]),
            fixed_file_conns_total: get(&r[6]),
            raw_fd_conns_total: get(&r[7]),
        };
        let n = &self.net;
        let (accepted, connected, closed) = (get(&n.accepted), get(&n.connected), get(&n.closed));
        let net = NetStats {
            connections_active: (accepted + connected).saturating_sub(closed),
            connections_accepted_total: accepted,
            connections_connected_total: connected,
            connections_closed_total: closed,
            bytes_received_total: get(&n.bytes_in),
            bytes_sent_total: get(&n.bytes_out),
            datagrams_received_total: get(&n.datagrams_in),
            datagrams_sent_total: get(&n.datagrams_out),
            connections_recv_paused: get(&n.recv_paused),
            recv_buffered_bytes: get(&n.recv_buffered),
            recv_pauses_total: get(&n.recv_pauses),
            linger_resets_total: get(&n.linger_resets),
            datagram_send_errors_total: get(&n.datagram_send_errors),
        };
        let g = &self.graveyard;
        let oldest = get(&g[4]);
        let graveyard = GraveyardStats {
            depth: get(&g[0]),
            bytes: get(&g[1]),
            parked_total: get(&g[2]),
            reaped_total: get(&g[3]),
            oldest_age_ns: (oldest != 0).then(|| now_ns.saturating_sub(oldest)),
            abandoned: get(&g[5]),
        };
        let slabs = SlabKind::ALL
            .iter()
            .zip(&self.slabs)
            .filter(|(k, _)| !k.is_runtime_wide())
            .map(|(k, s)| SlabStats {
                slab: k.as_str().to_owned(),
                used: get(&s.used),
                capacity: get(&s.capacity),
                high_water: get(&s.high_water),
                exhausted_total: get(&s.exhausted),
            })
            .collect();
        let ops = OpKind::ALL
            .iter()
            .zip(self.ops.iter())
            .map(|(k, o)| OpStats {
                op: k.as_str().to_owned(),
                multishot: k.is_multishot(),
                in_flight: get(&o.in_flight),
                submitted_total: get(&o.submitted),
                completed_ok_total: get(&o.ok),
                completed_error_total: get(&o.err),
                completed_cancelled_total: get(&o.cancelled),
                multishot_cqes_total: get(&o.multishot_cqes),
                latency: o.latency.snapshot(),
            })
            .collect();
        let mut in_flight = Vec::new();
        self.registry
            .read_in_flight(runtime, self.worker, now_ns, &mut in_flight);
        in_flight.sort_by_key(|op| std::cmp::Reverse(op.age_ns));
        WorkerSnapshot {
            worker: self.worker,
            executor,
            ring,
            net,
            graveyard,
            slabs,
            ops,
            in_flight,
        }
    }
}

/// The worker's side: batches counts in plain cells and publishes them.
/// Not `Sync`: it lives on its worker thread.
pub(crate) struct StatsWriter {
    shared: Arc<WorkerStats>,
    turn_start_ns: Cell<u64>,
    park_start_ns: Cell<u64>,
    published_at_ns: Cell<u64>,
    /// When the connection records were last published.
    conns_published_at_ns: Cell<u64>,
    /// The polled task's number (`TaskId::as_u64`) + 1, 0 when none.
    current_task: Cell<u64>,
    polls: Cell<u64>,
    iterations: Cell<u64>,
    busy_ns: Cell<u64>,
    parked_ns: Cell<u64>,
    longest_turn_ns: Cell<u64>,
    accepted: Cell<u64>,
    connected: Cell<u64>,
    closed: Cell<u64>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    datagrams_in: Cell<u64>,
    datagrams_out: Cell<u64>,
    datagram_send_errors: Cell<u64>,
    queue: RefCell<RegistryQueue>,
    /// The first wait the current poll's futures reported, encoded (code
    /// 0: none yet) with the call that made its future.
    wait_code: Cell<u64>,
    wait_value: Cell<u64>,
    wait_extra: Cell<u64>,
    wait_site: Cell<u64>,
    /// When the current poll started, in ticks.
    poll_start: Cell<u64>,
    /// Per task slot, what its registry record holds: kept here so the
    /// hooks only store into the record, never read it back.
    task_shadow: Box<[TaskShadow]>,
}

/// A task's counts as the worker last wrote them to its record.
#[derive(Default)]
struct TaskShadow {
    polls: Cell<u64>,
    busy_ticks: Cell<u64>,
    self_wakes: Cell<u64>,
}

/// How often a busy worker publishes its batched counts. Publishing costs
/// ~100 stores plus reading every pool; at tens of thousands of short loop
/// iterations a second, doing it every iteration was the largest part of
/// the stats overhead. 250 µs keeps readers (10 Hz at most) current.
pub(crate) const PUBLISH_INTERVAL_NS: u64 = 250_000;

/// How often a busy worker publishes its connection records (the dirty
/// ones: on a busy server, every connection that moved). Each costs a
/// seqlock write of a cache line; at [`PUBLISH_INTERVAL_NS`] that was ~10 %
/// of an echo round trip. 10 ms is still ten times fresher than a 10 Hz
/// reader needs; a worker that may sleep indefinitely publishes them all
/// the same.
pub(crate) const CONN_PUBLISH_INTERVAL_NS: u64 = 10_000_000;

#[inline]
fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

impl StatsWriter {
    pub(crate) fn new(shared: Arc<WorkerStats>, now_ns: u64) -> StatsWriter {
        StatsWriter {
            turn_start_ns: Cell::new(now_ns),
            park_start_ns: Cell::new(now_ns),
            published_at_ns: Cell::new(0),
            conns_published_at_ns: Cell::new(0),
            current_task: Cell::new(0),
            polls: Cell::new(0),
            iterations: Cell::new(0),
            busy_ns: Cell::new(0),
            parked_ns: Cell::new(0),
            longest_turn_ns: Cell::new(0),
            accepted: Cell::new(0),
            connected: Cell::new(0),
            closed: Cell::new(0),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            datagrams_in: Cell::new(0),
            datagrams_out: Cell::new(0),
            datagram_send_errors: Cell::new(0),
            queue: RefCell::new(RegistryQueue::default()),
            wait_code: Cell::new(0),
            wait_value: Cell::new(0),
            wait_extra: Cell::new(0),
            wait_site: Cell::new(0),
            poll_start: Cell::new(0),
            task_shadow: (0..shared.tasks_len())
                .map(|_| TaskShadow::default())
                .collect(),
            shared,
        }
    }

    /// The worker left its wait at `now_ns` (the reap batch's time).
    #[inline]
    pub(crate) fn turn_started(&self, now_ns: u64) {
        bump(
            &self.parked_ns,
            now_ns.saturating_sub(self.park_start_ns.get()),
        );
        bump(&self.iterations, 1);
        self.turn_start_ns.set(now_ns);
        let e = &self.shared.executor;
        set(&e.turn_start_ns, now_ns);
        set(&e.parked, 0);
    }

    /// The worker is about to wait at `now_ns` (the submit batch's time):
    /// stamps this batch's ops, then publishes the counts and whatever
    /// `gather` reports — every iteration when `force` (the worker may
    /// sleep indefinitely) or when [`PUBLISH_INTERVAL_NS`] has passed;
    /// a busy loop of short iterations skips the rest.
    #[inline]
    pub(crate) fn turn_ended(&self, now_ns: u64, force: bool, gather: impl FnOnce(&Publisher<'_>)) {
        let turn = now_ns.saturating_sub(self.turn_start_ns.get());
        bump(&self.busy_ns, turn);
        if turn > self.longest_turn_ns.get() {
            self.longest_turn_ns.set(turn);
        }
        self.stamp(now_ns);
        if force || now_ns.saturating_sub(self.published_at_ns.get()) >= PUBLISH_INTERVAL_NS {
            self.published_at_ns.set(now_ns);
            let conns = force
                || now_ns.saturating_sub(self.conns_published_at_ns.get())
                    >= CONN_PUBLISH_INTERVAL_NS;
            if conns {
                self.conns_published_at_ns.set(now_ns);
            }
            self.publish_with(conns, gather);
        }
        self.park_start_ns.set(now_ns);
        set(&self.shared.executor.parked, 1);
    }

    /// Publishes the batched counts and whatever `gather` reports, the
    /// connection records included.
    pub(crate) fn publish(&self, gather: impl FnOnce(&Publisher<'_>)) {
        self.publish_with(true, gather);
    }

    /// [`publish`](Self::publish); `conns`: the connection records are due.
    fn publish_with(&self, conns: bool, gather: impl FnOnce(&Publisher<'_>)) {
        let s = &*self.shared;
        let e = &s.executor;
        set(&e.polls, self.polls.get());
        set(&e.iterations, self.iterations.get());
        set(&e.busy_ns, self.busy_ns.get());
        set(&e.parked_ns, self.parked_ns.get());
        set(&e.longest_turn_ns, self.longest_turn_ns.get());
        let n = &s.net;
        set(&n.accepted, self.accepted.get());
        set(&n.connected, self.connected.get());
        set(&n.closed, self.closed.get());
        set(&n.bytes_in, self.bytes_in.get());
        set(&n.bytes_out, self.bytes_out.get());
        set(&n.datagrams_in, self.datagrams_in.get());
        set(&n.datagrams_out, self.datagrams_out.get());
        set(&n.datagram_send_errors, self.datagram_send_errors.get());
        gather(&Publisher { stats: s, conns });
    }

    /// Publishes queued op records with their submit time `now_ns`.
    #[inline]
    pub(crate) fn stamp(&self, now_ns: u64) {
        self.shared
            .registry
            .stamp(&mut self.queue.borrow_mut(), now_ns);
    }

    /// A poll of task `task` (its number) in slot `index` begins.
    #[inline]
    pub(crate) fn poll_started(&self, index: u32, task: u64) {
        let _ = index;
        bump(&self.polls, 1);
        let now = ticks::now();
        self.poll_start.set(now);
        self.wait_code.set(0);
        let e = &self.shared.executor;
        set(&e.poll_started_ticks, now);
        // Stored + 1 so that 0 means "no task".
        self.current_task.set(task.wrapping_add(1));
        set(&e.current_task, task.wrapping_add(1));
    }

    /// The poll returned, and its task ended (finished or cancelled).
    #[inline]
    pub(crate) fn poll_ended(&self) {
        self.current_task.set(0);
        set(&self.shared.executor.current_task, 0);
    }

    /// The poll of the task in slot `index` returned `Pending`: it waits on
    /// what its futures reported, or (`woken`) was woken during the poll
    /// and is queued again.
    #[inline]
    pub(crate) fn poll_pending(&self, index: u32, woken: bool) {
        self.poll_ended();
        let Some(shadow) = self.task_shadow.get(index as usize) else {
            return;
        };
        let end = ticks::now();
        let polls = shadow.polls.get() + 1;
        let busy = shadow.busy_ticks.get() + end.saturating_sub(self.poll_start.get());
        let self_wakes = shadow.self_wakes.get() + u64::from(woken);
        shadow.polls.set(polls);
        shadow.busy_ticks.set(busy);
        shadow.self_wakes.set(self_wakes);
        self.shared.tasks.polled(
            index,
            state_word(woken, end),
            [polls, busy, self_wakes],
            [
                self.wait_site.get(),
                self.wait_code.get(),
                self.wait_value.get(),
                self.wait_extra.get(),
            ],
        );
    }

    /// A future of the task being polled returns `Pending`, waiting on
    /// `wait`, made by the user's call at `site`. The poll's first report
    /// is what its task waits on.
    #[inline]
    pub(crate) fn parked(&self, wait: Wait, site: &'static Location<'static>) {
        if self.wait_code.get() == 0 && self.current_task.get() != 0 {
            let (code, value, extra) = wait.encode();
            self.wait_code.set(code);
            self.wait_value.set(value);
            self.wait_extra.set(extra);
            self.wait_site.set(site as *const Location<'static> as u64);
        }
    }

    /// A task took slot `index`: number `id`, spawned by the user's call at
    /// `site`.
    pub(crate) fn task_spawned(
        &self,
        index: u32,
        id: u64,
        kind: Kind,
        site: Option<&'static Location<'static>>,
        name: Option<&'static str>,
    ) {
        if let Some(shadow) = self.task_shadow.get(index as usize) {
            shadow.polls.set(0);
            shadow.busy_ticks.set(0);
            shadow.self_wakes.set(0);
        }
        self.shared
            .tasks
            .spawned(index, id, kind, site, name, ticks::now());
    }

    /// The live task in slot `index` was queued by a wake: its record says
    /// so at once (one store).
    #[inline]
    pub(crate) fn task_woken(&self, index: u32) {
        self.shared
            .tasks
            .set_state(index, state_word(true, ticks::now()));
    }

    /// The task in slot `index` ended.
    #[inline]
    pub(crate) fn task_ended(&self, index: u32) {
        self.shared.tasks.ended(index);
    }


    /// An SQE of `kind` carrying `ud` was pushed.
    #[inline]
    pub(crate) fn op_submitted(&self, kind: OpKind, ud: UserData, target: Target<'_>) {
        let registry = &self.shared.registry;
        if let Some(slot) = registry.slot(kind, ud) {
            let task = self.current_task.get().checked_sub(1);
            registry.registered(&mut self.queue.borrow_mut(), slot, kind, task, target);
        }
    }

    /// The final CQE of an op arrived (in this iteration's reap batch).
    #[inline]
    pub(crate) fn op_completed(&self, kind: OpKind, ud: UserData) {
        let registry = &self.shared.registry;
        if let Some(slot) = registry.slot(kind, ud)
            && let Some(submitted_at) = registry.completed(slot.at)
        {
            let latency = self.turn_start_ns.get().saturating_sub(submitted_at);
            self.shared.ops[kind as usize].latency.record(latency);
        }
    }

    /// An op timed by its owner (pool jobs) finished after `latency_ns`.
    #[inline]
    pub(crate) fn op_latency(&self, kind: OpKind, latency_ns: u64) {
        self.shared.ops[kind as usize].latency.record(latency_ns);
    }

    /// The future waiting on the op was dropped; it sits in the graveyard.
    pub(crate) fn op_orphaned(&self, kind: OpKind, ud: UserData) {
        let registry = &self.shared.registry;
        if let Some(slot) = registry.slot(kind, ud) {
            registry.orphaned(slot.at);
        }
    }

    /// An `ASYNC_CANCEL` was pushed for the op carrying `ud`.
    pub(crate) fn op_cancel_submitted(&self, ud: UserData) {
        let registry = &self.shared.registry;
        if let Some(kind) = ud.kind()
            && let Some(slot) = registry.slot(kind, ud)
        {
            registry.cancel_submitted(slot.at);
        }
    }

    /// The graveyard changed (an op parked or reaped): stored at once.
    /// An op was parked holding `bytes`, at `now_ns`: the gauges grow at
    /// once (the turn's end publishes the exact totals again).
    pub(crate) fn graveyard_parked(&self, bytes: u64, now_ns: u64) {
        let g = &self.shared.graveyard;
        set(&g[0], get(&g[0]) + 1);
        set(&g[1], get(&g[1]) + bytes);
        set(&g[2], get(&g[2]) + 1);
        if get(&g[4]) == 0 {
            set(&g[4], now_ns);
        }
    }

    pub(crate) fn graveyard(&self, t: &GraveyardTotals) {
        let g = &self.shared.graveyard;
        set(&g[0], t.depth);
        set(&g[1], t.bytes);
        set(&g[2], t.parked_total);
        set(&g[3], t.reaped_total);
        set(&g[4], t.oldest_parked_at_ns.unwrap_or(0));
        set(&g[5], t.abandoned);
    }

    #[inline]
    /// A connection took slot `index` (accepted, or an outbound connect
    /// started). `peer` looks its address up for the op registry; the
    /// address is handed back so the connection can cache it.
    pub(crate) fn conn_opened(
        &self,
        index: u32,
        accepted: bool,
        peer: impl FnOnce() -> Option<PeerAddr>,
    ) -> Option<PeerAddr> {
        bump(
            if accepted {
                &self.accepted
            } else {
                &self.connected
            },
            1,
        );
        let peer = peer();
        self.shared.registry.set_peer(index, peer.as_ref());
        peer
    }

    /// Connection slot `index` was released: its record is cleared now.
    #[inline]
    pub(crate) fn conn_closed(&self, index: u32) {
        bump(&self.closed, 1);
        self.shared.conns.clear(index);
    }

    #[inline]
    pub(crate) fn bytes_received(&self, n: u64) {
        bump(&self.bytes_in, n);
    }

    #[inline]
    pub(crate) fn bytes_sent(&self, n: u64) {
        bump(&self.bytes_out, n);
    }

    #[inline]
    pub(crate) fn datagram_received(&self) {
        bump(&self.datagrams_in, 1);
    }

    #[inline]
    pub(crate) fn datagram_sent(&self) {
        bump(&self.datagrams_out, 1);
    }

    /// A UDP send completed with an error (not a cancel).
    #[inline]
    pub(crate) fn datagram_send_failed(&self) {
        bump(&self.datagram_send_errors, 1);
    }
}

/// What `turn_ended`'s gather closure reports through.
pub(crate) struct Publisher<'a> {
    stats: &'a WorkerStats,
    /// The connection records are due (see [`CONN_PUBLISH_INTERVAL_NS`]).
    conns: bool,
}

impl Publisher<'_> {
    /// True when the dirty connection records are to be published now.
    #[inline]
    pub(crate) fn conns_due(&self) -> bool {
        self.conns
    }

    /// Publishes the op kinds touched since the last call.
    #[inline]
    pub(crate) fn ops(&self, counters: &mut OpCounters) {
        let mut dirty = counters.take_dirty();
        while dirty != 0 {
            let k = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            let o = &self.stats.ops[k];
            set(&o.in_flight, counters.in_flight[k]);
            set(&o.submitted, counters.submitted[k]);
            set(&o.ok, counters.completed_ok[k]);
            set(&o.err, counters.completed_err[k]);
            set(&o.cancelled, counters.completed_cancelled[k]);
            set(&o.multishot_cqes, counters.multishot_cqes[k]);
        }
    }

    /// Publishes one kind's totals kept outside `OpCounters` (timers).
    pub(crate) fn op_totals(
        &self,
        kind: OpKind,
        in_flight: u64,
        submitted: u64,
        ok: u64,
        cancelled: u64,
    ) {
        let o = &self.stats.ops[kind as usize];
        set(&o.in_flight, in_flight);
        set(&o.submitted, submitted);
        set(&o.ok, ok);
        set(&o.cancelled, cancelled);
    }

    /// Publishes the figures of connection slot `index` (a dirty one).
    #[inline]
    pub(crate) fn conn(&self, index: u32, figures: &ConnFigures) {
        self.stats.conns.write(index, figures);
    }

    #[inline]
    pub(crate) fn net_pressure(&self, p: NetPressure) {
        let n = &self.stats.net;
        set(&n.recv_paused, p.recv_paused);
        set(&n.recv_buffered, p.recv_buffered_bytes);
        set(&n.recv_pauses, p.recv_pauses_total);
        set(&n.linger_resets, p.linger_resets_total);
    }

    #[inline]
    pub(crate) fn slab(&self, kind: SlabKind, usage: SlabUsage) {
        let s = &self.stats.slabs[kind as usize];
        set(&s.used, usage.used);
        set(&s.capacity, usage.capacity);
        set(&s.high_water, usage.high_water);
        set(&s.exhausted, usage.exhausted_total);
    }

    #[inline]
    pub(crate) fn ring(&self, t: &RingTotals, unknown_cqes: u64) {
        let r = &self.stats.ring;
        set(&r[5], unknown_cqes);
        set(&r[0], t.sqes_submitted);
        set(&r[1], t.enter_calls);
        set(&r[2], t.cqes_reaped);
        set(&r[3], t.cq_overflow);
        set(&r[4], t.sq_full);
        set(&r[6], t.fixed_file_conns);
        set(&r[7], t.raw_fd_conns);
    }

    /// Tasks alive and the deadline of the earliest pending timer: a reader
    /// seeing that deadline pass knows the worker is not getting back to
    /// its loop.
    pub(crate) fn executor(&self, tasks: u64, next_timer_ns: Option<u64>) {
        let e = &self.stats.executor;
        set(&e.tasks, tasks);
        set(&e.next_timer_ns, next_timer_ns.unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> StatsWriter {
        let layout = RegistryLayout {
            op_slots: 4,
            conns: 4,
            udp_sockets: 0,
            udp_slots: 0,
            tasks: 4,
        };
        StatsWriter::new(Arc::new(WorkerStats::new(3, layout)), 1_000)
    }

    #[test]
    fn an_iteration_publishes_busy_parked_and_counts() {
        let w = writer();
        w.turn_started(5_000);
        w.poll_started(0, 41);
        let mid = w.shared.snapshot(1, 6_000);
        assert_eq!(mid.executor.current_task, Some(41), "visible while polling");
        assert_eq!(mid.executor.current_poll_age_ns, Some(1_000));
        assert_eq!(mid.executor.heartbeat_age_ns, 1_000);
        assert_eq!(mid.executor.polls_total, 0, "batched until the turn ends");
        w.poll_pending(0, false);
        w.bytes_received(10);
        w.turn_ended(8_000, true, |p| p.executor(2, Some(15_000)));
        let s = w.shared.snapshot(1, 20_000);
        assert_eq!(s.worker, 3);
        assert_eq!(s.executor.polls_total, 1);
        assert_eq!(s.executor.busy_ns_total, 3_000);
        assert_eq!(s.executor.parked_ns_total, 4_000);
        assert_eq!(s.executor.loop_iterations_total, 1);
        assert!(s.executor.parked);
        assert_eq!(
            s.executor.heartbeat_age_ns, 0,
            "a parked worker is not stalled"
        );
        assert_eq!(s.executor.current_task, None);
        assert_eq!(s.executor.tasks, 2);
        assert_eq!(s.net.bytes_received_total, 10);
        assert_eq!(
            s.executor.timer_overdue_ns,
            Some(5_000),
            "deadline 15 µs, read at 20 µs"
        );
        assert_eq!(w.shared.snapshot(1, 14_000).executor.timer_overdue_ns, None);
    }

    #[test]
    fn a_busy_loop_publishes_at_most_every_interval_unless_forced() {
        let w = writer();
        let polls = |w: &StatsWriter, now| w.shared.snapshot(1, now).executor.polls_total;
        w.turn_started(PUBLISH_INTERVAL_NS);
        w.poll_started(0, 1);
        w.poll_pending(0, false);
        w.turn_ended(PUBLISH_INTERVAL_NS + 10, false, |_| {});
        assert_eq!(polls(&w, 0), 1, "first publish is due");
        w.turn_started(PUBLISH_INTERVAL_NS + 20);
        w.poll_started(0, 1);
        w.poll_pending(0, false);
        w.turn_ended(PUBLISH_INTERVAL_NS + 30, false, |_| {});
        assert_eq!(polls(&w, 0), 1, "within the interval: batched");
        w.turn_ended(PUBLISH_INTERVAL_NS + 40, true, |_| {});
        assert_eq!(polls(&w, 0), 2, "forced before a long sleep");
        w.turn_started(3 * PUBLISH_INTERVAL_NS);
        w.poll_started(0, 1);
        w.poll_pending(0, false);
        w.turn_ended(3 * PUBLISH_INTERVAL_NS, false, |_| {});
        assert_eq!(polls(&w, 0), 3, "the interval passed");
    }

    #[test]
    fn one_shot_latency_runs_from_submit_batch_to_reap_batch() {
        let w = writer();
        w.turn_started(1_000);
        let ud = UserData::new(OpKind::FsRead, 0, 2);
        w.op_submitted(OpKind::FsRead, ud, Target::Fd(9));
        w.turn_ended(2_000, true, |_| {});
        let s = w.shared.snapshot(1, 2_500);
        assert_eq!(s.in_flight.len(), 1);
        assert_eq!(s.in_flight[0].age_ns, 500);
        w.turn_started(7_000);
        w.op_completed(OpKind::FsRead, ud);
        w.turn_ended(7_100, true, |_| {});
        let s = w.shared.snapshot(1, 8_000);
        assert!(s.in_flight.is_empty());
        let h = &s.op("fs_read").unwrap().latency;
        assert_eq!((h.count, h.sum_ns), (1, 5_000));
    }

    #[test]
    fn op_counters_publish_only_dirty_kinds_but_all_of_them() {
        let w = writer();
        let mut c = OpCounters::default();
        c.submitted(OpKind::Send);
        c.submitted(OpKind::FsOpen);
        c.completed(OpKind::Send, false, 5);
        c.completed(OpKind::FsOpen, false, -libc::ECANCELED);
        w.turn_ended(1, true, |p| p.ops(&mut c));
        let s = w.shared.snapshot(1, 1);
        let send = s.op("send").unwrap();
        assert_eq!(
            (
                send.submitted_total,
                send.completed_ok_total,
                send.in_flight
            ),
            (1, 1, 0)
        );
        assert_eq!(s.op("fs_open").unwrap().completed_cancelled_total, 1);
        assert_eq!(c.take_dirty(), 0, "publishing clears the dirty set");
    }

    #[test]
    fn connection_records_publish_with_the_turn_and_clear_at_release() {
        let w = writer();
        let figures = ConnFigures {
            opened_at_ns: 500,
            bytes_in: 9,
            ops_in_flight: 1,
            task: Some(4),
            ..ConnFigures::default()
        };
        w.shared
            .registry
            .set_peer(2, Some(&PeerAddr::Tcp("127.0.0.1:9".parse().unwrap())));
        w.turn_ended(1_000, true, |p| p.conn(2, &figures));
        let mut out = Vec::new();
        w.shared.connections(7, 2_000, &mut out);
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert_eq!((c.runtime, c.worker, c.index), (7, 3, 2));
        assert_eq!((c.age_ns, c.bytes_in, c.task), (1_500, 9, Some(4)));
        assert_eq!(c.peer.as_deref(), Some("127.0.0.1:9"));
        w.conn_closed(2);
        out.clear();
        w.shared.connections(7, 2_000, &mut out);
        assert!(out.is_empty(), "released: gone at once");
    }

    #[test]
    fn a_busy_loop_publishes_connection_records_at_their_own_interval() {
        let w = writer();
        let seen = |w: &StatsWriter| {
            let mut out = Vec::new();
            w.shared.connections(1, 0, &mut out);
            out.first().map(|c| c.bytes_in)
        };
        let publish = |w: &StatsWriter, now, force, bytes_in| {
            let f = ConnFigures {
                bytes_in,
                ..ConnFigures::default()
            };
            w.turn_ended(now, force, |p| {
                if p.conns_due() {
                    p.conn(0, &f)
                }
            });
        };
        let t0 = CONN_PUBLISH_INTERVAL_NS;
        publish(&w, t0, false, 1);
        assert_eq!(seen(&w), Some(1), "first publish is due");
        publish(&w, t0 + PUBLISH_INTERVAL_NS, false, 2);
        assert_eq!(seen(&w), Some(1), "counts due, connections not yet");
        publish(&w, t0 + 2 * PUBLISH_INTERVAL_NS, true, 3);
        assert_eq!(seen(&w), Some(3), "forced before a long sleep");
        publish(&w, 2 * t0 + 2 * PUBLISH_INTERVAL_NS, false, 4);
        assert_eq!(seen(&w), Some(4), "the interval passed");
        w.publish(|p| p.conn(0, &ConnFigures::default()));
        assert_eq!(seen(&w), Some(0), "an on-demand publish includes them");
    }

    #[test]
    fn ring_totals_and_unknown_completions_are_published() {
        let w = writer();
        let t = RingTotals {
            sqes_submitted: 5,
            sq_full: 2,
            ..Default::default()
        };
        w.turn_ended(1, true, |p| p.ring(&t, 3));
        let r = w.shared.snapshot(1, 1).ring;
        assert_eq!(
            (r.sqes_submitted_total, r.sq_full_total, r.unknown_cqes_total),
            (5, 2, 3)
        );
    }
}
