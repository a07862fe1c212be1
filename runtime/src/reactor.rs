//! What every layer above the executor and the driver shares on one
//! worker: its identity, its executor, its driver and its stats writer.
//!
//! The connection (`net`) and file (`fs`) layers each own their state and
//! run on a `&Reactor`; the worker composes the three. Nothing here knows
//! of connections, files or the runtime around the worker.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::driver::Driver;
use crate::driver::ops::{OpSlot, OpTable, Orphaned};
use crate::executor::foreign::ForeignWait;
use crate::executor::local::Executor;
use crate::executor::waker::WorkerHandle;
use crate::slab::Key;
use crate::stats::{StatsWriter, clock};

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
            Orphaned::Parked(ud) => {
                if let Some(kind) = ud.kind() {
                    self.stats.op_orphaned(kind, ud);
                }
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
