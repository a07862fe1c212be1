//! Snapshots built in code for the model and view tests: one runtime with
//! two workers, echo traffic, file I/O and one `fs_read` stuck for 37 s on
//! fd 23 — the demo's shape, with numbers chosen to be checked by hand —
//! and the tasks, connections and explained ops of that process.

use std::collections::BTreeMap;

use ringline_schema::inspect::wire::{Hello, RuntimeInfo};
use ringline_schema::stats::{
    ConnectionInfo, ExecutorStats, GraveyardStats, Histogram, InFlightOp, Layout, NetStats,
    OpStats, OpTarget, RuntimeSnapshot, SCHEMA_VERSION, Site, SlabStats, Snapshot, TaskInfo,
    TaskKind, TaskState, Verdict, VerdictKind, WaitTarget, WorkerSnapshot,
};

/// 1 s in ns.
pub const SEC: u64 = 1_000_000_000;

/// A pool.
pub fn slab(name: &str, used: u64, capacity: u64) -> SlabStats {
    SlabStats {
        slab: name.into(),
        used,
        capacity,
        high_water: used,
        exhausted_total: 0,
    }
}

/// A one-shot op kind with `n` completions of `ns` each.
pub fn one_shot(name: &str, n: u64, ns: u64, in_flight: u64) -> OpStats {
    let mut latency = Histogram::default();
    latency.record_n(ns, n);
    OpStats {
        op: name.into(),
        in_flight,
        submitted_total: n + in_flight,
        completed_ok_total: n,
        latency,
        ..OpStats::default()
    }
}

/// A multishot op kind armed `armed` times with `cqes` completions.
pub fn multishot(name: &str, armed: u64, cqes: u64) -> OpStats {
    OpStats {
        op: name.into(),
        multishot: true,
        in_flight: armed,
        submitted_total: armed,
        multishot_cqes_total: cqes,
        ..OpStats::default()
    }
}

/// The stuck read of the demo: worker 0, fd 23, task 5, 37 s.
pub fn stuck_read() -> InFlightOp {
    InFlightOp {
        runtime: 1,
        worker: 0,
        op: "fs_read".into(),
        age_ns: 37 * SEC,
        task: Some(5),
        target: OpTarget::Fd { fd: 23, path: None },
        in_graveyard: false,
        cancel_submitted: false,
        await_site: None,
        verdict: None,
    }
}

/// A young send on worker 1: 200 ms on connection 7, future dropped.
pub fn young_send() -> InFlightOp {
    InFlightOp {
        runtime: 1,
        worker: 1,
        op: "send".into(),
        age_ns: 200_000_000,
        task: Some(9),
        target: OpTarget::Connection {
            index: 7,
            peer: Some("127.0.0.1:9".into()),
        },
        in_graveyard: true,
        cancel_submitted: true,
        await_site: None,
        verdict: None,
    }
}

/// Worker `i` after `t` seconds of a steady load: `1000·t` loop
/// iterations, busy a quarter of the time, `500·t` sends of 20 µs and
/// `300·t` received buffers.
pub fn worker(i: usize, t: u64) -> WorkerSnapshot {
    WorkerSnapshot {
        worker: i,
        executor: ExecutorStats {
            tasks: 12,
            polls_total: 2_000 * t,
            busy_ns_total: t * SEC / 4,
            parked_ns_total: 3 * t * SEC / 4,
            loop_iterations_total: 1_000 * t,
            parked: true,
            ..ExecutorStats::default()
        },
        net: NetStats {
            connections_active: 4,
            connections_recv_paused: 1,
            recv_buffered_bytes: 3 << 20,
            recv_pauses_total: 2 * t,
            ..NetStats::default()
        },
        graveyard: GraveyardStats::default(),
        slabs: vec![
            slab("connections", 4, 16_000),
            slab("tasks", 12, 64),
            slab("timers", 11, 256),
            slab("udp_send", 0, 0),
        ],
        ops: vec![
            multishot("recv", 4, 300 * t),
            one_shot("send", 500 * t, 20_000, 0),
            one_shot("fs_read", 10 * t, 80_000, u64::from(i == 0)),
            one_shot("fs_fsync", 0, 0, 0),
        ],
        in_flight: Vec::new(),
        ..WorkerSnapshot::default()
    }
}

/// The process after `t` seconds: two workers, the stuck read on worker 0
/// and the young send on worker 1.
pub fn snapshot(t: u64) -> Snapshot {
    let mut w0 = worker(0, t);
    w0.in_flight.push(stuck_read());
    let mut w1 = worker(1, t);
    w1.in_flight.push(young_send());
    Snapshot {
        recorder: Default::default(),
        schema_version: SCHEMA_VERSION,
        pid: 4242,
        taken_at_unix_ns: 1_700_000_000 * SEC + t * SEC,
        monotonic_ns: t * SEC,
        stats_enabled: true,
        runtimes: vec![RuntimeSnapshot {
            id: 1,
            backend: "io_uring".into(),
            version: "0.2.0".into(),
            started_at_unix_ns: 1_700_000_000 * SEC,
            shutting_down: false,
            pool_threads_abandoned: 0,
            config: BTreeMap::new(),
            slabs: vec![slab("blocking_queue", 0, 4096)],
            workers: vec![w0, w1],
        }],
    }
}

/// The `hello` of the fixture process.
pub fn hello() -> Hello {
    Hello {
        protocol_version: 1,
        pid: 4242,
        process: "api".into(),
        version: "0.2.0".into(),
        backend: "io_uring".into(),
        workers: 2,
        start_time_unix_ns: 1_700_000_000 * SEC,
        runtimes: vec![RuntimeInfo {
            id: 1,
            backend: "io_uring".into(),
            workers: 2,
            started_at_unix_ns: 1_700_000_000 * SEC,
            config: BTreeMap::new(),
        }],
        histogram: Layout::current(),
    }
}

/// Mutable access to worker `i` of the only runtime.
pub fn w(s: &mut Snapshot, i: usize) -> &mut WorkerSnapshot {
    &mut s.runtimes[0].workers[i]
}

/// A source site in the demo.
pub fn site(line: u32, column: u32) -> Site {
    Site {
        file: "runtime/examples/demo.rs".into(),
        line,
        column,
    }
}

/// A task with everything but its identity, state and wait at defaults.
fn task(
    worker: usize,
    id: u64,
    kind: TaskKind,
    state: TaskState,
    state_for_ns: u64,
    waiting_on: WaitTarget,
    verdict: (VerdictKind, &str, Vec<u64>),
) -> TaskInfo {
    TaskInfo {
        runtime: 1,
        worker,
        id,
        kind,
        name: None,
        spawn_site: Some(site(40 + id as u32, 25)),
        state,
        state_for_ns,
        polls: id * 10,
        busy_ns: (100 - id) * 1_000,
        wakes: id * 2,
        self_wakes: id / 2,
        await_site: None,
        waiting_on,
        verdict: Verdict {
            kind: verdict.0,
            message: verdict.1.into(),
            tasks: verdict.2,
        },
    }
}

/// The tasks of the fixture process: the stuck read's task 5 ("stuck_read",
/// in the kernel for 37 s), the young send's task 9 (connection 7 of
/// worker 1, waiting 200 ms for its bytes to go), tasks 11 and 12 in a
/// channel deadlock for 5 s, task 20 serving connection 3 and waiting 10 s
/// for bytes, task 21 ("ticker") sleeping for 30 s, and task 22 running.
pub fn tasks() -> Vec<TaskInfo> {
    let mut read = task(
        0,
        5,
        TaskKind::Spawned,
        TaskState::Idle,
        37 * SEC,
        WaitTarget::Op {
            op: "fs_read".into(),
        },
        (
            VerdictKind::InKernel,
            "its fs_read has been in the kernel for 37.0s with no completion yet",
            Vec::new(),
        ),
    );
    read.name = Some("stuck_read".into());
    read.await_site = Some(site(92, 20));
    let mut send = task(
        1,
        9,
        TaskKind::Connection { connection: 7 },
        TaskState::Idle,
        200_000_000,
        WaitTarget::Send { connection: 7 },
        (
            VerdictKind::WaitingOnConnection,
            "waiting 200ms for its bytes to be sent on connection 7: the peer is not reading",
            Vec::new(),
        ),
    );
    send.await_site = Some(site(70, 9));
    let deadlocked = |id: u64, other: u64| {
        let mut t = task(
            1,
            id,
            TaskKind::Spawned,
            TaskState::Idle,
            5 * SEC,
            WaitTarget::ChannelRecv {
                channel: id,
                senders: vec![other],
            },
            (
                VerdictKind::Deadlock,
                &format!("waits on task {other}, which waits on task {id}: a cycle"),
                vec![id, other],
            ),
        );
        t.await_site = Some(site(200 + id as u32, 13));
        t
    };
    let mut serving = task(
        0,
        20,
        TaskKind::Connection { connection: 3 },
        TaskState::Idle,
        10 * SEC,
        WaitTarget::Recv { connection: 3 },
        (
            VerdictKind::WaitingOnConnection,
            "waiting 10.0s for bytes from the peer of connection 3 (10.0.0.7:4242)",
            Vec::new(),
        ),
    );
    serving.await_site = Some(site(36, 18));
    let mut ticker = task(
        0,
        21,
        TaskKind::Spawned,
        TaskState::Idle,
        30 * SEC,
        WaitTarget::Timer {
            fires_in_ns: 60 * SEC as i64,
        },
        (
            VerdictKind::WaitingOnTimer,
            "sleeping: its timer fires in 60.0s",
            Vec::new(),
        ),
    );
    ticker.name = Some("ticker".into());
    ticker.busy_ns = 9 * SEC;
    let running = task(
        0,
        22,
        TaskKind::OnStart,
        TaskState::Running,
        2_000_000,
        WaitTarget::Nothing,
        (VerdictKind::Running, "being polled for 2.00ms", Vec::new()),
    );
    vec![
        read,
        ticker,
        serving,
        deadlocked(11, 12),
        deadlocked(12, 11),
        send,
        running,
    ]
}

/// The connections of the fixture process: connection 3 of worker 0
/// (inbound, 60 s old, served by task 20), connection 7 of worker 1
/// (outbound, 64 KiB queued, task 9), and connection 4 of worker 0
/// (paused and closing, no task).
pub fn connections() -> Vec<ConnectionInfo> {
    vec![
        ConnectionInfo {
            runtime: 1,
            worker: 0,
            index: 3,
            peer: Some("10.0.0.7:4242".into()),
            outbound: false,
            age_ns: 60 * SEC,
            bytes_in: 1 << 20,
            bytes_out: 2 << 20,
            buffered_bytes: 0,
            queued_bytes: 0,
            recv_paused: false,
            closing: false,
            ops_in_flight: 1,
            task: Some(20),
            task_state: Some(TaskState::Idle),
        },
        ConnectionInfo {
            runtime: 1,
            worker: 0,
            index: 4,
            peer: Some("10.0.0.8:5000".into()),
            age_ns: 20 * SEC,
            bytes_in: 3 << 20,
            buffered_bytes: 256 << 10,
            recv_paused: true,
            closing: true,
            ops_in_flight: 2,
            ..ConnectionInfo::default()
        },
        ConnectionInfo {
            runtime: 1,
            worker: 1,
            index: 7,
            peer: Some("127.0.0.1:9".into()),
            outbound: true,
            age_ns: 5 * SEC,
            bytes_in: 10,
            bytes_out: 4 << 20,
            queued_bytes: 64 << 10,
            ops_in_flight: 1,
            task: Some(9),
            task_state: Some(TaskState::Idle),
            ..ConnectionInfo::default()
        },
    ]
}

/// The `ops` answer for the fixture's in-flight ops: each with the await
/// site of its task and a verdict naming it.
pub fn explained_ops() -> Vec<InFlightOp> {
    let mut read = stuck_read();
    read.await_site = Some(site(92, 20));
    read.verdict = Some(Verdict {
        kind: VerdictKind::InKernel,
        message:
            "in the kernel for 37.0s with no completion yet; task 5 \"stuck_read\" waits on it"
                .into(),
        tasks: vec![5],
    });
    let mut send = young_send();
    send.await_site = Some(site(70, 9));
    send.verdict = Some(Verdict {
        kind: VerdictKind::InKernel,
        message: "in the kernel for 200ms with no completion yet; task 9 waits on it".into(),
        tasks: vec![9],
    });
    vec![read, send]
}
