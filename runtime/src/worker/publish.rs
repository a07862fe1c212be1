//! Publishing a worker's counts into its stats block: once per loop turn
//! (throttled on a busy loop, see `StatsWriter`), at exit, and on demand
//! for [`this_runtime`]. It reads the layers through their handles
//! (`Net`, `Fs`, each with the reactor), so `this_runtime` finds them
//! through the same thread-locals the futures use.

use std::time::Instant;

use crate::fs::{self, Fs};
use crate::net::{self, Net};
use crate::op::OpKind;
use crate::stats::kinds::{SlabKind, SlabUsage};
use crate::stats::{GraveyardTotals, Publisher, RuntimeSnapshot, clock};

/// Publishes the turn's stats right before the wait at `now`. With the
/// `stats` feature off, `turn_ended` never calls the closure. With `force`
/// (the worker may park indefinitely, or is exiting) everything is
/// published; otherwise the counts are published at most every
/// `PUBLISH_INTERVAL` of a busy loop.
pub(super) fn turn(net: &Net<'_>, fs: &Fs<'_>, now: Instant, force: bool) {
    graveyard_if_changed(net, fs);
    net.core
        .stats
        .turn_ended(clock::ns_at(now), force, |p| gather(net, fs, p));
}

/// What `stats::this_runtime` answers, installed by launch (stats cannot
/// reach the worker itself): the runtime the calling thread works for,
/// with this worker's counts published first; `None` off a worker thread.
pub(crate) fn this_runtime() -> Option<RuntimeSnapshot> {
    net::try_with(|net| {
        fs::try_with(|fs| {
            graveyard_if_changed(net, fs);
            net.core.stats.publish(|p| gather(net, fs, p));
            net.core.runtime.snapshot(clock::now_ns())
        })
    })
    .flatten()
}

/// Publishes the graveyard gauges if an op was parked or reaped since the
/// last time.
pub(super) fn graveyard_if_changed(net: &Net<'_>, fs: &Fs<'_>) {
    if net.core.take_graveyard_changed() {
        net.core.stats.graveyard(&graveyard_totals(net, fs));
    }
}

/// The graveyard of both one-shot tables (connects, file ops).
pub(super) fn graveyard_totals(net: &Net<'_>, fs: &Fs<'_>) -> GraveyardTotals {
    let n = net.net.borrow_mut().connects.graveyard_totals();
    let f = fs.fs.borrow_mut().ops.graveyard_totals();
    let oldest = match (n.oldest_parked_at_ns, f.oldest_parked_at_ns) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    GraveyardTotals {
        depth: n.depth + f.depth,
        bytes: n.bytes + f.bytes,
        parked_total: n.parked_total + f.parked_total,
        reaped_total: n.reaped_total + f.reaped_total,
        oldest_parked_at_ns: oldest,
        abandoned: net.core.driver.borrow().lifecycle.abandoned_ops(),
    }
}

/// Occupancy of both one-shot op tables, as one pool of op slots.
fn op_slot_usage(net: &Net<'_>, fs: &Fs<'_>) -> SlabUsage {
    let n = net.net.borrow().connects.usage();
    let f = fs.fs.borrow().ops.usage();
    SlabUsage {
        used: n.used + f.used,
        capacity: n.capacity + f.capacity,
        high_water: n.high_water + f.high_water,
        exhausted_total: n.exhausted_total + f.exhausted_total,
    }
}

/// Reports what the worker's pools, driver, tables and timers hold.
fn gather(net: &Net<'_>, fs: &Fs<'_>, p: &Publisher<'_>) {
    let core = net.core;
    {
        let mut driver = core.driver.borrow_mut();
        let driver = &mut *driver;
        p.ops(&mut driver.counters);
        p.ring(driver.ring_totals(), driver.counters.unknown_cqes);
        let (recv, udp_recv) = driver.buffer_usage();
        p.slab(SlabKind::RecvBuffers, recv);
        p.slab(SlabKind::UdpRecvBuffers, udp_recv);
    }
    {
        let mut state = net.net.borrow_mut();
        if p.conns_due() {
            state.publish_dirty(|index, figures| p.conn(index, &figures));
        }
        p.slab(SlabKind::Connections, state.conns.usage());
        p.slab(SlabKind::SendCopy, state.pool.usage());
        p.slab(SlabKind::UdpSend, state.udp_send_usage());
        p.net_pressure(state.pressure());
    }
    p.slab(SlabKind::OpSlots, op_slot_usage(net, fs));
    let (files, commands) = fs.fs.borrow().usage();
    p.slab(SlabKind::FsFiles, files);
    p.slab(SlabKind::FsCommands, commands);
    p.slab(SlabKind::Tasks, core.exec.tasks.usage());
    let mut timers = core.exec.timers.borrow_mut();
    p.slab(SlabKind::Timers, timers.usage());
    let (pending, armed, fired, removed) = timers.op_totals();
    p.op_totals(OpKind::Timer, pending, armed, fired, removed);
    let next_timer = timers.next_deadline().map(clock::ns_at);
    p.executor(core.exec.tasks.len() as u64, next_timer);
}
