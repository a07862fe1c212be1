//! Tasks: the slab that holds them, spawning, [`JoinHandle`] and [`TaskId`].
//!
//! Every slot is interior-mutable and the slot table never moves, so a
//! wake can mark a task scheduled through `&TaskSlab` even while another
//! task is being polled. A task's future is taken out of its slot while it
//! is polled or dropped, so nothing the future does (wake, spawn, cancel
//! itself, drop other futures) can find its own slot borrowed.
//!
//! A slot's task is told apart from earlier and later occupants by its
//! serial, the worker's spawn count at spawn time (64 bits, never reused
//! on a worker): a stale [`TaskId`] or a connection's task reference stays
//! inert however often its slot is reused. Wakers keep only part of it
//! (see [`super::waker`]).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::context;
use super::waker::{TaskRef, WakeRef};
use crate::slab::Key;
use crate::stats::task_registry::Wait;

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// What a task is for; decides what happens when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// From `spawn`, `spawn_with_handle` or `on_start`; counts against
    /// `standalone_task_capacity` (except the `on_start` task).
    Standalone { counted: bool },
    /// The `on_accept` task of an accepted connection; the connection is
    /// closed when the task ends, and the task dropped when it closes.
    Conn(Key),
}

struct TaskSlot {
    /// The serial of the task in the slot (or of the last one).
    serial: Cell<u64>,
    live: Cell<bool>,
    scheduled: Cell<bool>,
    /// Set when the task is cancelled while its future is out being polled.
    cancelled: Cell<bool>,
    kind: Cell<TaskKind>,
    future: RefCell<Option<BoxFuture>>,
}

/// Opaque handle of a spawned task (see [`spawn`]).
///
/// It names this one task for good: once the task has ended, the id is
/// inert, even after its slot holds other tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    gid: u16,
    index: u32,
    serial: u64,
}

impl TaskId {
    pub(crate) fn from_ref(task: TaskRef) -> TaskId {
        TaskId {
            gid: task.gid,
            index: task.index,
            serial: task.serial,
        }
    }

    fn task_ref(self) -> TaskRef {
        TaskRef {
            gid: self.gid,
            index: self.index,
            serial: self.serial,
        }
    }

    /// The task's number as `ringline::stats` and `ringline-top` show it
    /// (the op registry's `task` and the executor's `current_task`): the
    /// same for the task's whole life, and never given to another task of
    /// the process while its worker runs (its worker's id in the top 16
    /// bits, the worker's spawn count in the low 48).
    pub fn as_u64(&self) -> u64 {
        self.task_ref().stats_id()
    }

    /// Cancels the task: its future is dropped at once (or right after its
    /// current poll, if it cancels itself) and its slot freed. A no-op when
    /// the task already finished (whatever runs in its slot now), or when
    /// called on another worker's thread (a task can only be cancelled
    /// from its own worker).
    ///
    /// Dropping the future runs its destructors: timers are released,
    /// in-flight kernel operations are cancelled and their buffers parked
    /// until the kernel is done with them.
    pub fn cancel(self) {
        let task = self.task_ref();
        context::try_with(|worker| {
            if worker.handle.gid == task.gid {
                worker.cancel_task(task);
            }
        });
    }
}

/// The fixed-capacity table of a worker's tasks.
pub(crate) struct TaskSlab {
    slots: Box<[TaskSlot]>,
    free: RefCell<Vec<u32>>,
    gid: u16,
    /// The serial the next task gets.
    next_serial: Cell<u64>,
    standalone_live: Cell<u32>,
    standalone_capacity: u32,
    high_water: Cell<u32>,
    exhausted_total: Cell<u64>,
}

impl TaskSlab {
    /// `conn_capacity` connection tasks plus `standalone_capacity` spawned
    /// tasks plus one for `on_start`.
    pub(crate) fn new(gid: u16, conn_capacity: u32, standalone_capacity: u32) -> TaskSlab {
        let total = conn_capacity as usize + standalone_capacity as usize + 1;
        let slots = (0..total)
            .map(|_| TaskSlot {
                serial: Cell::new(0),
                live: Cell::new(false),
                scheduled: Cell::new(false),
                cancelled: Cell::new(false),
                kind: Cell::new(TaskKind::Standalone { counted: false }),
                future: RefCell::new(None),
            })
            .collect();
        TaskSlab {
            slots,
            free: RefCell::new((0..total as u32).rev().collect()),
            gid,
            next_serial: Cell::new(0),
            standalone_live: Cell::new(0),
            standalone_capacity,
            high_water: Cell::new(0),
            exhausted_total: Cell::new(0),
        }
    }

    /// Stores a new task and returns its reference; it is not scheduled yet.
    pub(crate) fn insert(&self, kind: TaskKind, future: BoxFuture) -> io::Result<TaskRef> {
        if let TaskKind::Standalone { counted: true } = kind
            && self.standalone_live.get() >= self.standalone_capacity
        {
            self.exhausted_total.set(self.exhausted_total.get() + 1);
            return Err(io::Error::other(format!(
                "standalone task slab exhausted (Config::standalone_task_capacity = {})",
                self.standalone_capacity
            )));
        }
        let Some(index) = self.free.borrow_mut().pop() else {
            self.exhausted_total.set(self.exhausted_total.get() + 1);
            return Err(io::Error::other("task slab exhausted"));
        };
        let slot = &self.slots[index as usize];
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        slot.serial.set(serial);
        slot.live.set(true);
        slot.scheduled.set(false);
        slot.cancelled.set(false);
        slot.kind.set(kind);
        *slot.future.borrow_mut() = Some(future);
        if let TaskKind::Standalone { counted: true } = kind {
            self.standalone_live.set(self.standalone_live.get() + 1);
        }
        self.high_water
            .set(self.high_water.get().max(self.len() as u32));
        Ok(TaskRef {
            gid: self.gid,
            index,
            serial,
        })
    }

    fn slot(&self, task: TaskRef) -> Option<&TaskSlot> {
        let slot = self.slots.get(task.index as usize)?;
        (slot.live.get() && slot.serial.get() == task.serial && task.gid == self.gid)
            .then_some(slot)
    }

    /// Marks `task` scheduled; true when the caller must queue it (it was
    /// live and not already queued).
    #[inline]
    pub(crate) fn mark_scheduled(&self, task: TaskRef) -> bool {
        match self.slot(task) {
            Some(slot) if !slot.scheduled.get() => {
                slot.scheduled.set(true);
                true
            }
            _ => false,
        }
    }

    /// Marks the task a waker names scheduled and returns it when the
    /// caller must queue it (live, not already queued). A waker keeps 16
    /// bits of the serial, so a stale one may reach a later task of the
    /// same slot: a spurious poll, which is harmless.
    #[inline]
    pub(crate) fn mark_woken(&self, wake: WakeRef) -> Option<TaskRef> {
        let slot = self.slots.get(wake.index as usize)?;
        let serial = slot.serial.get();
        let current = slot.live.get() && serial as u16 == wake.serial_low && wake.gid == self.gid;
        if !current || slot.scheduled.get() {
            return None;
        }
        slot.scheduled.set(true);
        Some(TaskRef {
            gid: self.gid,
            index: wake.index,
            serial,
        })
    }

    /// Takes the future out to poll it; `None` for a stale reference.
    #[inline]
    pub(crate) fn begin_poll(&self, task: TaskRef) -> Option<BoxFuture> {
        let slot = self.slot(task)?;
        slot.scheduled.set(false);
        slot.future.borrow_mut().take()
    }

    /// Puts a pending future back and says whether the task was woken
    /// during its poll (it is queued again), unless the task was cancelled
    /// during the poll; then the future is handed back for the caller to
    /// drop.
    #[inline]
    pub(crate) fn end_poll(&self, task: TaskRef, future: BoxFuture) -> Result<bool, BoxFuture> {
        match self.slot(task) {
            Some(slot) if !slot.cancelled.get() => {
                *slot.future.borrow_mut() = Some(future);
                Ok(slot.scheduled.get())
            }
            _ => Err(future),
        }
    }

    /// Frees the slot of a task that is not being polled and returns what
    /// it was plus its future (the caller drops it, with no borrow held).
    pub(crate) fn remove(&self, task: TaskRef) -> Option<(TaskKind, Option<BoxFuture>)> {
        let slot = self.slot(task)?;
        let future = slot.future.borrow_mut().take();
        Some((self.release(task.index), future))
    }

    /// Marks a task whose future is out being polled as cancelled;
    /// `end_poll` hands the future back to be dropped.
    pub(crate) fn mark_cancelled(&self, task: TaskRef) {
        if let Some(slot) = self.slot(task) {
            slot.cancelled.set(true);
        }
    }

    /// Frees a slot whose future the caller already holds (a task that
    /// returned `Ready`, or was cancelled during its poll).
    pub(crate) fn finish(&self, task: TaskRef) -> Option<TaskKind> {
        self.slot(task)?;
        Some(self.release(task.index))
    }

    fn release(&self, index: u32) -> TaskKind {
        let slot = &self.slots[index as usize];
        let kind = slot.kind.get();
        slot.live.set(false);
        slot.scheduled.set(false);
        slot.cancelled.set(false);
        if let TaskKind::Standalone { counted: true } = kind {
            self.standalone_live.set(self.standalone_live.get() - 1);
        }
        self.free.borrow_mut().push(index);
        kind
    }

    /// Live tasks.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.borrow().len()
    }

    /// Occupancy for the stats layer.
    pub(crate) fn usage(&self) -> crate::stats::kinds::SlabUsage {
        crate::stats::kinds::SlabUsage {
            used: self.len() as u64,
            capacity: self.slots.len() as u64,
            high_water: u64::from(self.high_water.get()),
            exhausted_total: self.exhausted_total.get(),
        }
    }

    /// References to every live task (for shutdown).
    pub(crate) fn live(&self) -> Vec<TaskRef> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live.get())
            .map(|(i, s)| TaskRef {
                gid: self.gid,
                index: i as u32,
                serial: s.serial.get(),
            })
            .collect()
    }
}

/// Spawns a standalone task on the current worker.
///
/// The task runs on this worker's single-threaded executor, interleaved
/// with every other task here; it is first polled on the next turn of the
/// event loop, not inside this call.
///
/// # Errors
///
/// Returns an error when called outside a ringline worker, or when
/// `Config::standalone_task_capacity` tasks are already alive.
#[track_caller]
pub fn spawn(future: impl Future<Output = ()> + 'static) -> io::Result<TaskId> {
    spawn_at(None, Location::caller(), Box::pin(future))
}

/// Spawns a standalone task (as [`spawn`]) with a name, which
/// `ringline-top` and [`stats::tasks`](crate::stats::tasks) show beside
/// its id and spawn site.
///
/// # Errors
///
/// As [`spawn`].
#[track_caller]
pub fn spawn_named(
    name: &'static str,
    future: impl Future<Output = ()> + 'static,
) -> io::Result<TaskId> {
    spawn_at(Some(name), Location::caller(), Box::pin(future))
}

fn spawn_at(
    name: Option<&'static str>,
    site: &'static Location<'static>,
    future: BoxFuture,
) -> io::Result<TaskId> {
    context::try_with(|worker| {
        worker
            .spawn(
                TaskKind::Standalone { counted: true },
                future,
                Some(site),
                name,
            )
            .map(TaskId::from_ref)
    })
    .unwrap_or_else(|| Err(context::outside_error()))
}

struct JoinState<T> {
    result: Option<T>,
    waiter: Option<Waker>,
    aborted: bool,
}

/// Awaits the output of a task spawned with [`spawn_with_handle`].
///
/// Dropping the handle detaches the task: it keeps running and its output
/// is dropped. After [`abort`](Self::abort), awaiting the handle never
/// resolves (as in ringline 0.1); race it against a signal of your own
/// with [`select`](crate::select) if you need to observe the abort.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
    id: TaskId,
    /// The `spawn_with_handle` call that made it: where a task awaiting it
    /// waits, as far as ringline can tell.
    site: &'static Location<'static>,
}

impl<T> JoinHandle<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Cancels the task (see [`TaskId::cancel`]).
    pub fn abort(&self) {
        self.state.borrow_mut().aborted = true;
        self.id.cancel();
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.borrow_mut();
        if state.aborted {
            return Poll::Pending;
        }
        match state.result.take() {
            Some(value) => Poll::Ready(value),
            None => {
                state.waiter = Some(cx.waker().clone());
                let joined = self.id.as_u64();
                context::try_with(|worker| worker.parked(Wait::Join(joined), self.site));
                Poll::Pending
            }
        }
    }
}

/// Spawns a standalone task and returns a handle that resolves to its
/// output. Same placement and limits as [`spawn`].
///
/// # Errors
///
/// As [`spawn`].
#[track_caller]
pub fn spawn_with_handle<T: 'static>(
    future: impl Future<Output = T> + 'static,
) -> io::Result<JoinHandle<T>> {
    let state = Rc::new(RefCell::new(JoinState {
        result: None,
        waiter: None,
        aborted: false,
    }));
    let shared = state.clone();
    let wrapper = async move {
        let value = future.await;
        let waiter = {
            let mut s = shared.borrow_mut();
            s.result = Some(value);
            s.waiter.take()
        };
        if let Some(waker) = waiter {
            waker.wake();
        }
    };
    let site = Location::caller();
    let id = spawn_at(None, site, Box::pin(wrapper))?;
    Ok(JoinHandle { state, id, site })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> BoxFuture {
        Box::pin(async {})
    }

    const STANDALONE: TaskKind = TaskKind::Standalone { counted: true };

    #[test]
    fn a_stale_reference_never_reaches_a_later_task_of_its_slot() {
        let slab = TaskSlab::new(1, 0, 1);
        let stale = slab.insert(STANDALONE, noop()).unwrap();
        slab.remove(stale).unwrap();
        // Past the 16-bit generations of ringline 0.1, which wrapped here.
        for _ in 0..(1 << 16) + 1 {
            let task = slab.insert(STANDALONE, noop()).unwrap();
            assert_eq!(task.index, stale.index, "one slot, reused each time");
            assert!(slab.remove(stale).is_none(), "stale remove hit {task:?}");
            assert!(slab.finish(stale).is_none());
            assert!(slab.begin_poll(stale).is_none());
            assert!(!slab.mark_scheduled(stale));
            slab.remove(task).unwrap();
        }
    }

    #[test]
    fn a_waker_queues_its_task_once_and_a_stale_one_nothing() {
        let slab = TaskSlab::new(1, 0, 1);
        let old = slab.insert(STANDALONE, noop()).unwrap();
        slab.remove(old).unwrap();
        let task = slab.insert(STANDALONE, noop()).unwrap();
        assert_eq!(slab.mark_woken(old.wake_ref()), None, "stale waker");
        assert_eq!(slab.mark_woken(task.wake_ref()), Some(task));
        assert_eq!(slab.mark_woken(task.wake_ref()), None, "already queued");
        let future = slab.begin_poll(task).unwrap();
        assert_eq!(slab.end_poll(task, future).ok(), Some(false));
        assert_eq!(slab.mark_woken(task.wake_ref()), Some(task), "queued again");
    }
}
