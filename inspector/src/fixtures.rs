//! Snapshots built in code for the model and view tests: one runtime with
//! two workers, echo traffic, file I/O and one `fs_read` stuck for 37 s on
//! fd 23 — the demo's shape, with numbers chosen to be checked by hand.

use std::collections::BTreeMap;

use ringline_schema::inspect::wire::{Hello, RuntimeInfo};
use ringline_schema::stats::{
    ExecutorStats, GraveyardStats, Histogram, InFlightOp, Layout, NetStats, OpStats, OpTarget,
    RuntimeSnapshot, SCHEMA_VERSION, SlabStats, Snapshot, WorkerSnapshot,
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
