//! The stats hooks with the `stats` feature off: the same API as
//! `worker.rs` with empty bodies, so the worker's code carries no `#[cfg]`
//! and the optimizer removes every call (and every `gather` closure).

use std::panic::Location;
use std::sync::Arc;

use super::conn_table::ConnFigures;
use super::kinds::{NetPressure, SlabKind, SlabUsage};
use super::op_registry::{RegistryLayout, Target};
use super::task_registry::{Kind, Wait};
use super::{ConnectionInfo, InFlightOp, OpStats, SlabStats, TaskInfo, WorkerSnapshot};
use super::{GraveyardTotals, RingTotals};
use crate::op::{OpCounters, OpKind, UserData};
use crate::peer::PeerAddr;

/// Stands in for the shared block: remembers only the worker index.
pub(crate) struct WorkerStats {
    worker: usize,
}

impl WorkerStats {
    pub(crate) fn new(worker: usize, _layout: RegistryLayout) -> WorkerStats {
        WorkerStats { worker }
    }

    /// No tasks are recorded without the `stats` feature.
    pub(crate) fn tasks(
        &self,
        _runtime: u64,
        _out: &mut Vec<TaskInfo>,
        _ops: Option<&mut Vec<InFlightOp>>,
    ) {
    }

    /// No connections are recorded.
    pub(crate) fn connections(&self, _runtime: u64, _now_ns: u64, _out: &mut Vec<ConnectionInfo>) {}

    /// Every op kind and pool, all zero: the schema stays the same.
    pub(crate) fn snapshot(&self, _runtime: u64, _now_ns: u64) -> WorkerSnapshot {
        WorkerSnapshot {
            worker: self.worker,
            slabs: SlabKind::ALL
                .iter()
                .filter(|k| !k.is_runtime_wide())
                .map(|k| SlabStats {
                    slab: k.as_str().to_owned(),
                    ..SlabStats::default()
                })
                .collect(),
            ops: OpKind::ALL
                .iter()
                .map(|k| OpStats {
                    op: k.as_str().to_owned(),
                    multishot: k.is_multishot(),
                    ..OpStats::default()
                })
                .collect(),
            ..WorkerSnapshot::default()
        }
    }
}

/// Stands in for the writer: every hook does nothing.
pub(crate) struct StatsWriter;

impl StatsWriter {
    pub(crate) fn new(_shared: Arc<WorkerStats>, _now_ns: u64) -> StatsWriter {
        StatsWriter
    }
    #[inline]
    pub(crate) fn turn_started(&self, _now_ns: u64) {}
    #[inline]
    pub(crate) fn turn_ended(
        &self,
        _now_ns: u64,
        _force: bool,
        _gather: impl FnOnce(&Publisher<'_>),
    ) {
    }
    #[inline]
    pub(crate) fn publish(&self, _gather: impl FnOnce(&Publisher<'_>)) {}
    #[inline]
    pub(crate) fn stamp(&self, _now_ns: u64) {}
    #[inline]
    pub(crate) fn poll_started(&self, _index: u32, _task: u64) {}
    #[inline]
    pub(crate) fn poll_ended(&self) {}
    #[inline]
    pub(crate) fn poll_pending(&self, _index: u32, _woken: bool) {}
    #[inline]
    pub(crate) fn parked(&self, _wait: Wait, _site: &'static Location<'static>) {}
    #[inline]
    pub(crate) fn task_spawned(
        &self,
        _index: u32,
        _id: u64,
        _kind: Kind,
        _site: Option<&'static Location<'static>>,
        _name: Option<&'static str>,
    ) {
    }
    #[inline]
    pub(crate) fn task_woken(&self, _index: u32) {}
    #[inline]
    pub(crate) fn task_ended(&self, _index: u32) {}
    #[inline]
    pub(crate) fn op_submitted(&self, _kind: OpKind, _ud: UserData, _target: Target<'_>) {}
    #[inline]
    pub(crate) fn op_completed(&self, _kind: OpKind, _ud: UserData) {}
    #[inline]
    pub(crate) fn op_latency(&self, _kind: OpKind, _latency_ns: u64) {}
    #[inline]
    pub(crate) fn op_orphaned(&self, _kind: OpKind, _ud: UserData) {}
    #[inline]
    pub(crate) fn op_cancel_submitted(&self, _ud: UserData) {}
    #[inline]
    pub(crate) fn conn_opened(
        &self,
        _index: u32,
        _accepted: bool,
        _peer: impl FnOnce() -> Option<PeerAddr>,
    ) -> Option<PeerAddr> {
        None
    }
    #[inline]
    pub(crate) fn graveyard(&self, _t: &GraveyardTotals) {}
    #[inline]
    pub(crate) fn graveyard_parked(&self, _bytes: u64, _now_ns: u64) {}
    #[inline]
    pub(crate) fn conn_closed(&self, _index: u32) {}
    #[inline]
    pub(crate) fn bytes_received(&self, _n: u64) {}
    #[inline]
    pub(crate) fn bytes_sent(&self, _n: u64) {}
    #[inline]
    pub(crate) fn datagram_received(&self) {}
    #[inline]
    pub(crate) fn datagram_sent(&self) {}
    #[inline]
    pub(crate) fn datagram_send_failed(&self) {}
}

/// Never handed out: `turn_ended` does not call its closure.
pub(crate) struct Publisher<'a> {
    _never: std::marker::PhantomData<&'a ()>,
}

impl Publisher<'_> {
    #[inline]
    pub(crate) fn conns_due(&self) -> bool {
        false
    }
    #[inline]
    pub(crate) fn conn(&self, _index: u32, _figures: &ConnFigures) {}
    #[inline]
    pub(crate) fn net_pressure(&self, _p: NetPressure) {}
    #[inline]
    pub(crate) fn ops(&self, counters: &mut OpCounters) {
        counters.take_dirty();
    }
    #[inline]
    pub(crate) fn op_totals(
        &self,
        _kind: OpKind,
        _in_flight: u64,
        _submitted: u64,
        _ok: u64,
        _cancelled: u64,
    ) {
    }
    #[inline]
    pub(crate) fn slab(&self, _kind: SlabKind, _usage: SlabUsage) {}
    #[inline]
    pub(crate) fn ring(&self, _t: &RingTotals, _unknown_cqes: u64) {}
    #[inline]
    pub(crate) fn executor(&self, _tasks: u64, _next_timer_ns: Option<u64>) {}
}
