//! A runtime's shutdown request, shared by its workers and its handle:
//! the flag, when it was first raised, and the workers to wake so they
//! see it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::waker::WorkerHandle;

/// See the module docs.
#[derive(Default)]
pub(crate) struct ShutdownLatch {
    requested: AtomicBool,
    /// When shutdown was first requested: the drain deadline's base.
    requested_at: OnceLock<Instant>,
    workers: Mutex<Vec<Arc<WorkerHandle>>>,
}

impl ShutdownLatch {
    /// Registers a started worker; a request made while it was starting
    /// reaches it.
    pub(crate) fn add_worker(&self, handle: Arc<WorkerHandle>) {
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
        if self.is_requested() {
            self.notify_all();
        }
    }

    /// Raises the flag (the first request sets the time; later ones move
    /// no deadline) and interrupts every worker's wait.
    pub(crate) fn request(&self) {
        let _ = self.requested_at.set(Instant::now());
        self.requested.store(true, Ordering::Release);
        self.notify_all();
    }

    /// True once shutdown was requested.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// When shutdown was first requested, or now (taken as the request's
    /// time from here on) if it never was.
    pub(crate) fn requested_at(&self) -> Instant {
        *self.requested_at.get_or_init(Instant::now)
    }

    fn notify_all(&self) {
        for handle in self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            handle.notify();
        }
    }
}
