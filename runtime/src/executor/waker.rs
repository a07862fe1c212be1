//! Wakers that are a packed task reference, plus the cross-thread path.
//!
//! ```text
//!  63            48 47            32 31                             0
//! +----------------+----------------+-------------------------------+
//! | worker gid (16)| task gen (16)  |        task index (32)        |
//! +----------------+----------------+-------------------------------+
//! ```
//!
//! Clone and drop are free (no refcount). `wake` on the owning worker's
//! thread pushes the task onto that worker's ready queue; anywhere else it
//! goes through [`WorkerHandle::wake_remote`], found by the worker's global
//! id in a process-wide table. A reference whose worker has exited, or
//! whose task slot has moved on, wakes nothing: wakeups are idempotent and
//! tasks tolerate spurious polls, so a stale wake is harmless.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{RawWaker, RawWakerVTable, Waker};

use crossbeam_queue::SegQueue;

use super::context;
use crate::blocking::PoolJobEnd;
use crate::sys::WakeFd;

/// A task of some worker: the unit the ready queues hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TaskRef {
    pub(crate) gid: u16,
    pub(crate) generation: u16,
    pub(crate) index: u32,
}

impl TaskRef {
    #[inline]
    fn pack(self) -> usize {
        ((self.gid as u64) << 48 | (self.generation as u64) << 32 | self.index as u64) as usize
    }

    #[inline]
    fn unpack(data: usize) -> TaskRef {
        let v = data as u64;
        TaskRef {
            gid: (v >> 48) as u16,
            generation: (v >> 32) as u16,
            index: v as u32,
        }
    }

    /// The task's number in stats and the inspector (its packed form).
    #[inline]
    pub(crate) fn stats_id(self) -> u64 {
        self.pack() as u64
    }

    /// A waker for this task. Building one is free: nothing is allocated.
    #[inline]
    pub(crate) fn waker(self) -> Waker {
        // SAFETY: the vtable functions below uphold the RawWaker contract:
        // the data word is a plain integer (never dereferenced), so clone
        // copies it, drop does nothing, and wake may run on any thread.
        unsafe { Waker::from_raw(raw(self.pack())) }
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
    wake(TaskRef::unpack(data as usize));
}

fn drop_raw(_: *const ()) {}

/// Wakes `task` from whatever thread we are on.
pub(crate) fn wake(task: TaskRef) {
    let local = context::try_with(|worker| {
        if worker.handle.gid == task.gid {
            worker.schedule(task);
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
/// the ends of its pool jobs seen elsewhere, its wake fd (an eventfd on
/// Linux, a pipe elsewhere), and whether it was already signalled.
pub(crate) struct WorkerHandle {
    pub(crate) gid: u16,
    remote: SegQueue<TaskRef>,
    /// Pool jobs this worker queued whose handles ended on another thread;
    /// the worker counts them (its counters are its own to write).
    pool_job_ends: SegQueue<PoolJobEnd>,
    /// Set after a push to `pool_job_ends`, so the worker's check each
    /// turn is one plain load rather than a queue pop (a fence).
    pool_job_ends_queued: AtomicBool,
    /// True from the first wake-fd write until the worker consumes it, so a
    /// burst of remote wakes costs one `write(2)` (and a pipe never holds
    /// more than one word).
    signalled: AtomicBool,
    wake: WakeFd,
}

impl WorkerHandle {
    /// Queues `task` and makes sure the worker notices.
    pub(crate) fn wake_remote(&self, task: TaskRef) {
        self.remote.push(task);
        self.notify();
    }

    /// Queues the end of a pool job this worker queued, seen on another
    /// thread, for the worker to count; makes sure the worker notices.
    pub(crate) fn pool_job_ended(&self, end: PoolJobEnd) {
        self.pool_job_ends.push(end);
        // Release: whoever sees the flag set sees the push.
        self.pool_job_ends_queued.store(true, Ordering::Release);
        self.notify();
    }

    /// The worker's side of [`pool_job_ended`](Self::pool_job_ended):
    /// hands every queued end to `count`. One load when none is queued.
    #[inline]
    pub(crate) fn take_pool_job_ends(&self, mut count: impl FnMut(PoolJobEnd)) {
        // A plain load first: the swap (an RMW) only when something came.
        if !self.pool_job_ends_queued.load(Ordering::Acquire)
            || !self.pool_job_ends_queued.swap(false, Ordering::Acquire)
        {
            return;
        }
        // Cleared by an RMW, which reads the latest set: every end pushed
        // before that set is visible below; one pushed after it sets the
        // flag again for the next call.
        while let Some(end) = self.pool_job_ends.pop() {
            count(end);
        }
    }

    /// Interrupts the worker's wait (for shutdown or queued remote wakes).
    pub(crate) fn notify(&self) {
        if !self.signalled.swap(true, Ordering::AcqRel) {
            self.wake.signal();
        }
    }

    /// Called by the worker after its wake read completed: later wakes
    /// must signal again. Returns the queued remote wakes.
    pub(crate) fn take_remote(&self, out: &mut Vec<TaskRef>) {
        self.signalled.store(false, Ordering::Release);
        while let Some(task) = self.remote.pop() {
            out.push(task);
        }
    }

    /// Drains remote wakes without resetting the signal (polled each loop
    /// iteration; cheap when empty).
    pub(crate) fn drain_remote(&self, out: &mut Vec<TaskRef>) {
        while let Some(task) = self.remote.pop() {
            out.push(task);
        }
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
    let handle = Arc::new(WorkerHandle {
        gid,
        remote: SegQueue::new(),
        pool_job_ends: SegQueue::new(),
        pool_job_ends_queued: AtomicBool::new(false),
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
    fn task_ref_packs_and_unpacks_at_the_edges() {
        for gid in [0, 1, u16::MAX] {
            for generation in [0, 1, u16::MAX] {
                for index in [0, 1, u32::MAX] {
                    let t = TaskRef {
                        gid,
                        generation,
                        index,
                    };
                    assert_eq!(TaskRef::unpack(t.pack()), t);
                }
            }
        }
    }

    #[test]
    fn remote_wake_signals_once_per_burst_and_queues_every_task() {
        let handle = register().unwrap();
        let t = |i| TaskRef {
            gid: handle.gid,
            generation: 0,
            index: i,
        };
        handle.wake_remote(t(1));
        handle.wake_remote(t(2));
        let mut counter = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from our wake fd.
        let n = unsafe { libc::read(handle.wake_fd(), (&mut counter as *mut u64).cast(), 8) };
        assert_eq!(n, 8);
        assert_eq!(
            counter, 1,
            "two wakes in a burst must write the wake fd once"
        );
        // SAFETY: as above.
        let n = unsafe { libc::read(handle.wake_fd(), (&mut counter as *mut u64).cast(), 8) };
        assert_eq!(n, -1, "nothing more to read after one burst");
        let mut out = Vec::new();
        handle.take_remote(&mut out);
        assert_eq!(out, vec![t(1), t(2)]);
        handle.wake_remote(t(3));
        // SAFETY: as above.
        let n = unsafe { libc::read(handle.wake_fd(), (&mut counter as *mut u64).cast(), 8) };
        assert_eq!(n, 8, "after take_remote the next wake must signal again");
        unregister(handle.gid);
        assert!(lookup(handle.gid).is_none());
    }
}
