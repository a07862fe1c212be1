//! Wakers that are a packed task reference, plus the cross-thread path.
//!
//! A task is named two ways. A [`TaskRef`] (in `TaskId`, `JoinHandle`,
//! the ready queue) carries the task's full 64-bit serial: the worker's
//! spawn count when it was spawned, never reused on that worker, so a
//! stale `TaskId::cancel` can never reach the task that took its slot
//! later. A waker carries a [`WakeRef`], one machine word:
//!
//! ```text
//!  63            48 47            32 31                             0
//! +----------------+----------------+-------------------------------+
//! | worker gid (16)| serial, low 16 |        task slot (32)         |
//! +----------------+----------------+-------------------------------+
//! ```
//!
//! The word keeps only 16 bits of the serial: a waker that outlived its
//! task may, after 65 536 tasks passed through the same slot, wake the
//! slot's current task. That is a spurious poll, which every future
//! tolerates, so a wake needs no more; a cancel does, and compares the
//! whole serial.
//!
//! Clone and drop are free (no refcount). `wake` on the owning worker's
//! thread pushes the task onto that worker's ready queue; anywhere else it
//! goes through [`WorkerHandle::wake_remote`], found by the worker's global
//! id in a process-wide table. A reference whose worker has exited, or
//! whose task slot has moved on, wakes nothing: wakeups are idempotent and
//! tasks tolerate spurious polls, so a stale wake is harmless.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{RawWaker, RawWakerVTable, Waker};

use crossbeam_queue::SegQueue;

use super::context;
use super::foreign::Foreign;
use crate::sys::WakeFd;

/// Bits of a task's serial in its stats number (the worker gid takes the
/// other 16): 2^48 spawns on one worker, 8 years at a million a second,
/// before a number repeats.
const STATS_SERIAL_BITS: u32 = 48;

/// A task of some worker, exactly: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TaskRef {
    pub(crate) gid: u16,
    pub(crate) index: u32,
    /// The worker's spawn count when the task was spawned.
    pub(crate) serial: u64,
}

impl TaskRef {
    /// What a waker of this task carries.
    #[inline]
    pub(crate) fn wake_ref(self) -> WakeRef {
        WakeRef {
            gid: self.gid,
            serial_low: self.serial as u16,
            index: self.index,
        }
    }

    /// The task's number in stats and the inspector: the worker gid over
    /// the low 48 bits of the serial, so unique per task (and stable for
    /// its life).
    #[inline]
    pub(crate) fn stats_id(self) -> u64 {
        (self.gid as u64) << STATS_SERIAL_BITS | self.serial & ((1 << STATS_SERIAL_BITS) - 1)
    }

    /// A waker for this task. Building one is free: nothing is allocated.
    #[inline]
    pub(crate) fn waker(self) -> Waker {
        // SAFETY: the vtable functions below uphold the RawWaker contract:
        // the data word is a plain integer (never dereferenced), so clone
        // copies it, drop does nothing, and wake may run on any thread.
        unsafe { Waker::from_raw(raw(self.wake_ref().pack())) }
    }
}

/// A task as its waker names it: the slot, and the low 16 bits of the
/// serial of the task it was made for (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WakeRef {
    pub(crate) gid: u16,
    pub(crate) serial_low: u16,
    pub(crate) index: u32,
}

impl WakeRef {
    #[inline]
    fn pack(self) -> usize {
        ((self.gid as u64) << 48 | (self.serial_low as u64) << 32 | self.index as u64) as usize
    }

    #[inline]
    fn unpack(data: usize) -> WakeRef {
        let v = data as u64;
        WakeRef {
            gid: (v >> 48) as u16,
            serial_low: (v >> 32) as u16,
            index: v as u32,
        }
    }
}

fn raw(data: usize) -> RawWaker {
    RawWaker::new(std::ptr::without_provenance(data), &VTABLE)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_raw, drop_raw);

fn clone_raw(data: *const ()) -> RawWaker {
    raw(data as usize)
}

fn wake_raw(data: *const ()) {
    wake(WakeRef::unpack(data as usize));
}

fn drop_raw(_: *const ()) {}

/// Wakes `task` from whatever thread we are on.
pub(crate) fn wake(task: WakeRef) {
    let local = context::try_with(|worker| {
        if worker.handle.gid == task.gid {
            worker.wake(task);
            true
        } else {
            false
        }
    });
    if local != Some(true)
        && let Some(handle) = lookup(task.gid)
    {
        handle.wake_remote(task);
    }
}

/// The part of a worker other threads may touch: its remote ready queue,
/// requests from other threads (see `foreign`), its wake fd (an eventfd on
/// Linux, a pipe elsewhere), and whether it was already signalled.
pub(crate) struct WorkerHandle {
    pub(crate) gid: u16,
    /// Never reused in the process (gids are): what worker-local handles
    /// carry to tell their worker from any other.
    pub(crate) serial: u32,
    remote: SegQueue<WakeRef>,
    /// Handles and futures of this worker dropped or polled elsewhere ask
    /// it, through here, to release what they hold (see `foreign`).
    foreign: SegQueue<Foreign>,
    /// Set after a push to `foreign`, so the worker's check each turn is
    /// one plain load rather than a queue pop (a fence).
    foreign_queued: AtomicBool,
    /// Set when the worker gave up on kernel ops at shutdown, then when it
    /// left its loop for good.
    gave_up: AtomicBool,
    exited: AtomicBool,
    /// True from the first wake-fd write until the worker consumes it, so a
    /// burst of remote wakes costs one `write(2)` (and a pipe never holds
    /// more than one word).
    signalled: AtomicBool,
    wake: WakeFd,
}

impl WorkerHandle {
    /// Queues `task` and makes sure the worker notices.
    pub(crate) fn wake_remote(&self, task: WakeRef) {
        self.remote.push(task);
        self.notify();
    }

    /// Interrupts the worker's wait (for shutdown or queued remote wakes).
    pub(crate) fn notify(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            self.wake.signal();
        }
    }

    /// Called by the worker after its wake read completed: later wakes
    /// must signal again. Returns the queued remote wakes.
    pub(crate) fn take_remote(&self, out: &mut Vec<WakeRef>) {
        self.signalled.store(false, Ordering::Release);
        while let Some(task) = self.remote.pop() {
            out.push(task);
        }
    }

    /// Drains remote wakes without resetting the signal (polled each loop
    /// iteration; cheap when empty).
    pub(crate) fn drain_remote(&self, out: &mut Vec<WakeRef>) {
        while let Some(task) = self.remote.pop() {
            out.push(task);
        }
    }

    /// Asks the worker to release or count something of its own that
    /// another thread dropped, polled or finished (see `foreign`).
    pub(crate) fn request(&self, request: Foreign) {
        self.foreign.push(request);
        // Release: whoever sees the flag set sees the push.
        self.foreign_queued.store(true, Ordering::Release);
        self.notify();
    }

    /// The worker's side of [`request`](Self::request): hands every queued
    /// request to `serve`. One load when none is queued.
    #[inline]
    pub(crate) fn take_requests(&self, mut serve: impl FnMut(Foreign)) {
        // A plain load first: the swap (an RMW) only when something came.
        if !self.foreign_queued.load(Ordering::Acquire)
            || !self.foreign_queued.swap(false, Ordering::Acquire)
        {
            return;
        }
        // Cleared by an RMW, which reads the latest set: every request
        // pushed before that set is visible below; one pushed after it
        // sets the flag again for the next call.
        while let Some(request) = self.foreign.pop() {
            serve(request);
        }
    }

    /// The worker gave up waiting for kernel ops at shutdown: memory they
    /// point to may still be written.
    pub(crate) fn set_gave_up(&self) {
        self.gave_up.store(true, Ordering::SeqCst);
    }

    /// The worker left its loop; requests queued after its last
    /// `take_requests` are never answered.
    pub(crate) fn set_exited(&self) {
        self.exited.store(true, Ordering::SeqCst);
    }

    /// True once the worker exited having finished every kernel op: what
    /// its ops pointed to is no longer touched.
    pub(crate) fn exited_clean(&self) -> bool {
        self.exited.load(Ordering::SeqCst) && !self.gave_up.load(Ordering::SeqCst)
    }

    /// The fd the worker keeps an 8-byte read armed on.
    pub(crate) fn wake_fd(&self) -> i32 {
        self.wake.read_fd()
    }
}

/// Process-wide table of live workers by global id.
static HANDLES: RwLock<Vec<Option<Arc<WorkerHandle>>>> = RwLock::new(Vec::new());
/// Global ids freed by exited workers, reused first.
static FREE_GIDS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn lookup(gid: u16) -> Option<Arc<WorkerHandle>> {
    let table = HANDLES.read().unwrap_or_else(|e| e.into_inner());
    table.get(gid as usize).and_then(|h| h.clone())
}

/// Sends `request` to worker `gid` if it is still the worker `serial`
/// (a gid is reused once its worker exits; a serial never is).
pub(crate) fn request(gid: u16, serial: u32, request: Foreign) {
    if let Some(handle) = lookup(gid)
        && handle.serial == serial
    {
        handle.request(request);
    }
}

/// Registers a new worker handle with a fresh wake fd.
pub(crate) fn register() -> std::io::Result<Arc<WorkerHandle>> {
    let wake = WakeFd::new()?;
    let mut table = HANDLES.write().unwrap_or_else(|e| e.into_inner());
    let gid = match FREE_GIDS.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        Some(gid) => gid,
        None => {
            if table.len() > u16::MAX as usize {
                return Err(std::io::Error::other(
                    "more than 65536 ringline workers alive in one process",
                ));
            }
            table.push(None);
            (table.len() - 1) as u16
        }
    };
    static NEXT_SERIAL: AtomicU32 = AtomicU32::new(1);
    let handle = Arc::new(WorkerHandle {
        gid,
        serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
        remote: SegQueue::new(),
        foreign: SegQueue::new(),
        foreign_queued: AtomicBool::new(false),
        gave_up: AtomicBool::new(false),
        exited: AtomicBool::new(false),
        signalled: AtomicBool::new(false),
        wake,
    });
    table[gid as usize] = Some(handle.clone());
    Ok(handle)
}

/// Removes a worker from the table; its global id becomes reusable.
pub(crate) fn unregister(gid: u16) {
    let mut table = HANDLES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(slot) = table.get_mut(gid as usize)
        && slot.take().is_some()
    {
        FREE_GIDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ref_packs_and_unpacks_at_the_edges() {
        for gid in [0, 1, u16::MAX] {
            for serial_low in [0, 1, u16::MAX] {
                for index in [0, 1, u32::MAX] {
                    let w = WakeRef {
                        gid,
                        serial_low,
                        index,
                    };
                    assert_eq!(WakeRef::unpack(w.pack()), w);
                }
            }
        }
    }

    #[test]
    fn stats_numbers_differ_past_the_waker_words_serial_bits() {
        let task = |gid, serial| TaskRef {
            gid,
            index: 7,
            serial,
        };
        let first = task(3, 5);
        let wrapped = task(3, 5 + (1 << 16));
        assert_eq!(
            first.wake_ref(),
            wrapped.wake_ref(),
            "a waker keeps 16 bits"
        );
        assert_ne!(first.stats_id(), wrapped.stats_id());
        assert_eq!(first.stats_id(), 3 << 48 | 5);
        assert_ne!(task(1, 5).stats_id(), task(2, 5).stats_id());
    }

    #[test]
    fn remote_wake_signals_once_per_burst_and_queues_every_task() {
        let handle = register().unwrap();
        let t = |i| WakeRef {
            gid: handle.gid,
            serial_low: 0,
            index: i,
        };
        handle.wake_remote(t(1));
        handle.wake_remote(t(2));
        let mut counter = [0u8; 8];
        let n = crate::sys::read(handle.wake_fd(), &mut counter);
        assert_eq!(n.ok(), Some(8));
        assert_eq!(
            u64::from_ne_bytes(counter),
            1,
            "two wakes in a burst must write the wake fd once"
        );
        let n = crate::sys::read(handle.wake_fd(), &mut counter);
        assert!(n.is_err(), "nothing more to read after one burst");
        let mut out = Vec::new();
        handle.take_remote(&mut out);
        assert_eq!(out, vec![t(1), t(2)]);
        handle.wake_remote(t(3));
        let n = crate::sys::read(handle.wake_fd(), &mut counter);
        assert_eq!(
            n.ok(),
            Some(8),
            "after take_remote the next wake must signal again"
        );
        unregister(handle.gid);
        assert!(lookup(handle.gid).is_none());
    }
}
