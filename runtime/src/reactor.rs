//! What every layer above the executor and the driver shares on one
//! worker: its identity, its executor, its driver and its stats writer.
//!
//! The connection (`net`) and file (`fs`) layers each own their state and
//! run on a `&Reactor`; the worker composes the three. Nothing here knows
//! of connections, files or the runtime around the worker.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::driver::Driver;
use crate::driver::ops::{OpSlot, OpTable, Orphaned};
use crate::executor::foreign::ForeignWait;
use crate::executor::local::Executor;
use crate::executor::shutdown::ShutdownLatch;
use crate::executor::waker::WorkerHandle;
use crate::slab::Key;
use crate::stats::{RuntimeSource, StatsWriter, clock};

/// See the module docs.
pub(crate) struct Reactor {
    /// The worker's index in its runtime (`create_for_worker`'s id).
    pub(crate) id: usize,
    /// `handle.serial`, read on every worker-local handle's check.
    pub(crate) serial: u32,
    /// The part of the worker other threads may touch.
    pub(crate) handle: Arc<WorkerHandle>,
    pub(crate) config: Arc<Config>,
    /// Tasks, wakers, timers and the turn clock (no I/O).
    pub(crate) exec: Executor,
    pub(crate) driver: RefCell<Driver>,
    /// This worker's side of its stats block (the driver holds a clone).
    pub(crate) stats: Rc<StatsWriter>,
    /// The runtime's shutdown request.
    pub(crate) shutdown: Arc<ShutdownLatch>,
    /// The runtime, as the stats see it (`stats::this_runtime`).
    pub(crate) runtime: Arc<dyn RuntimeSource>,
    /// Set when an op was parked in or reaped from a graveyard, so the
    /// worker republishes the graveyard gauges at the end of its batch.
    graveyard_changed: Cell<bool>,
}

impl Reactor {
    /// Composes a worker's core.
    pub(crate) fn new(
        id: usize,
        handle: Arc<WorkerHandle>,
        config: Arc<Config>,
        driver: Driver,
        stats: Rc<StatsWriter>,
        shutdown: Arc<ShutdownLatch>,
        runtime: Arc<dyn RuntimeSource>,
    ) -> Reactor {
        Reactor {
            id,
            serial: handle.serial,
            exec: Executor::new(
                handle.clone(),
                stats.clone(),
                config.max_connections,
                config.standalone_task_capacity,
                config.timer_slots,
            ),
            handle,
            config,
            driver: RefCell::new(driver),
            stats,
            shutdown,
            runtime,
            graveyard_changed: Cell::new(false),
        }
    }

    /// The loop turn's clock (read once per turn, after the wait).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.exec.now()
    }

    /// True once this worker started shutting down.
    pub(crate) fn is_shutting_down(&self) -> bool {
        !self.driver.borrow().lifecycle.is_running()
    }

    /// A graveyard changed (see the field).
    pub(crate) fn graveyard_changed(&self) {
        self.graveyard_changed.set(true);
    }

    /// Whether a graveyard changed since the last call.
    pub(crate) fn take_graveyard_changed(&self) -> bool {
        self.graveyard_changed.replace(false)
    }

    /// The future waiting on op `op` of `table` was dropped, or polled on
    /// another thread, which waits on `notify` for the kernel to be done.
    /// A running op is parked in the graveyard (its hold kept until its
    /// CQE) and a cancel is submitted; a finished one is handed back, with
    /// `notify` in its slot, for its layer to reap now.
    pub(crate) fn orphan_op<H>(
        &self,
        table: &mut OpTable<H>,
        op: Key,
        notify: Option<Arc<ForeignWait>>,
    ) -> Option<(OpSlot<H>, i32)> {
        match table.orphan(op, clock::ns_at(self.now())) {
            Orphaned::Gone => {
                if let Some(n) = notify {
                    n.finish();
                }
                None
            }
            Orphaned::Finished(mut slot, result) => {
                slot.notify = notify;
                Some((slot, result))
            }
            Orphaned::Parked(ud, held_bytes) => {
                if let Some(kind) = ud.kind() {
                    self.stats.op_orphaned(kind, ud);
                }
                // Published now, not at the turn's end: a worker that wedges
                // right after dropping ops still shows their buffers.
                self.stats
                    .graveyard_parked(held_bytes as u64, clock::ns_at(self.now()));
                self.graveyard_changed();
                self.driver.borrow_mut().cancel(ud);
                if let Some(slot) = table.get_mut(op) {
                    slot.notify = notify;
                }
                None
            }
        }
    }

    /// An orphaned op is being reaped (the kernel is done with it): notes
    /// the graveyard change and takes the waiter to finish once its layer
    /// cleaned up.
    pub(crate) fn reaped<H>(&self, slot: &mut OpSlot<H>) -> Option<Arc<ForeignWait>> {
        self.graveyard_changed();
        slot.notify.take()
    }
}

thread_local! {
    static CURRENT: Cell<*const Reactor> = const { Cell::new(std::ptr::null()) };
}

/// Restores the thread's previous reactor when dropped (including on
/// unwind).
pub(crate) struct EnterGuard {
    previous: *const Reactor,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `reactor` the current one of this thread until the guard drops.
///
/// The caller keeps `reactor` alive, at a fixed address, for the guard's
/// whole life: the worker's run loop borrows it for the loop's duration
/// and drops the guard before the worker.
pub(crate) fn enter(reactor: &Reactor) -> EnterGuard {
    let previous = CURRENT.with(|c| c.replace(reactor as *const Reactor));
    EnterGuard { previous }
}

/// Runs `f` with the current reactor, or returns `None` off a worker
/// thread (for the pools, which need no connection or file state).
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `enter` set this pointer from a live `&Reactor`, and its
    // guard resets it before that reactor is dropped or moved; only this
    // thread reads its own thread-local, and we hand out a shared
    // reference only.
    let reactor = unsafe { &*ptr };
    Some(f(reactor))
}

/// Asks every worker of the current runtime to shut down gracefully.
///
/// Workers stop accepting, drop their tasks, close their connections, wait
/// (bounded by `Config::shutdown_drain_timeout`) for in-flight kernel
/// operations, and return `Ok(())` from their threads.
///
/// # Errors
///
/// Returns an error when called outside a ringline worker.
pub fn request_shutdown() -> io::Result<()> {
    try_with(|reactor| reactor.shutdown.request())
        .ok_or_else(crate::executor::context::outside_error)
}
