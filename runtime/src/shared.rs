//! What every worker of one runtime shares: the shutdown request, the
//! listeners and UDP sockets they take at setup, the pools, the stats
//! blocks, and the bookkeeping of the last worker out (which removes the
//! socket files, closes the listeners and stops the pools).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::blocking::{BlockingPool, ResolverPool};
use crate::config::Backend;
use crate::driver;
use crate::executor::shutdown::ShutdownLatch;
use crate::net::{SockKind, SocketFile};
use crate::stats::kinds::{SlabKind, SlabUsage};
use crate::stats::{
    ConnectionInfo, InFlightOp, RuntimeSnapshot, RuntimeSource, SlabStats, TaskInfo, WorkerStats,
};

/// State every worker of one runtime shares.
pub(crate) struct RuntimeShared {
    /// The shutdown request, shared with every worker's reactor.
    pub(crate) shutdown: Arc<ShutdownLatch>,
    /// `Config::shutdown_drain_timeout`: also how long the pools' threads
    /// get to finish their jobs at exit.
    pub(crate) drain_timeout: Duration,
    /// Workers launched.
    pub(crate) threads: usize,
    /// Workers that have not exited yet; the last one out releases the
    /// listeners, the socket files and the pools.
    pub(crate) alive: AtomicUsize,
    /// Workers that dropped their tasks at shutdown (and with them every
    /// pool job handle they held).
    pub(crate) tasks_dropped: AtomicUsize,
    /// Pool threads still running a job at the drain deadline, left
    /// behind by the last worker out.
    pub(crate) pool_threads_abandoned: AtomicU64,
    /// Per worker, its UDP sockets (taken by the worker at setup).
    pub(crate) udp_sockets: Mutex<Vec<Vec<OwnedFd>>>,
    /// Taken by the last worker; each driver holds its own clone meanwhile.
    pub(crate) listeners: Mutex<Vec<Arc<OwnedFd>>>,
    pub(crate) listener_kinds: Vec<SockKind>,
    /// The Unix listeners' socket files, removed by the last worker out
    /// (each only if it is still ours).
    pub(crate) socket_files: Mutex<Vec<SocketFile>>,
    pub(crate) blocking: Option<Arc<BlockingPool>>,
    pub(crate) resolver: Option<Arc<ResolverPool>>,
    /// Process-unique id, for stats.
    pub(crate) id: u64,
    /// The backend every worker of this runtime runs.
    pub(crate) backend: Backend,
    /// The mio backend's file I/O threads (none on io_uring).
    pub(crate) disk: Option<Arc<driver::mio::DiskPool>>,
    pub(crate) started_at_unix_ns: u64,
    /// One stats block per worker, by index (allocated before the threads
    /// start so a reader sees every worker from the first snapshot).
    pub(crate) worker_stats: Vec<Arc<WorkerStats>>,
    pub(crate) config_summary: std::collections::BTreeMap<String, String>,
    pub(crate) config_inspect: bool,
    /// The user's `launch` call: the spawn site of the handler's tasks.
    pub(crate) launch_site: &'static std::panic::Location<'static>,
}

impl RuntimeShared {
    /// The blocking and resolver pools, for the workers' threads.
    pub(crate) fn pools(&self) -> crate::blocking::Pools {
        (self.blocking.clone(), self.resolver.clone())
    }

    /// Flags shutdown and interrupts every worker's wait.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.request();
    }

    /// A worker dropped every task it had, at shutdown.
    pub(crate) fn tasks_dropped(&self) {
        self.tasks_dropped.fetch_add(1, Ordering::Release);
    }

    /// True once every worker dropped its tasks: a pool job handle still
    /// alive then is held outside the workers (a plain thread) and may
    /// never end. Pool job ends that workers posted while dropping their
    /// tasks are visible to whoever sees this return true.
    pub(crate) fn every_worker_dropped_its_tasks(&self) -> bool {
        self.tasks_dropped.load(Ordering::Acquire) >= self.threads
    }

    /// Worker `id`'s UDP sockets (empty after the first call).
    pub(crate) fn take_udp_sockets(&self, id: usize) -> Vec<OwnedFd> {
        let mut all = self.udp_sockets.lock().unwrap_or_else(|e| e.into_inner());
        all.get_mut(id).map(std::mem::take).unwrap_or_default()
    }

    pub(crate) fn is_shutdown_requested(&self) -> bool {
        self.shutdown.is_requested()
    }

    /// Worker `id`'s stats block.
    pub(crate) fn worker_stats(&self, id: usize) -> Arc<WorkerStats> {
        self.worker_stats[id].clone()
    }
}

impl RuntimeSource for RuntimeShared {
    fn snapshot(&self, now_ns: u64) -> RuntimeSnapshot {
        let pool = |kind: SlabKind, usage: Option<SlabUsage>| {
            let u = usage.unwrap_or_default();
            SlabStats {
                slab: kind.as_str().to_owned(),
                used: u.used,
                capacity: u.capacity,
                high_water: u.high_water,
                exhausted_total: u.exhausted_total,
            }
        };
        RuntimeSnapshot {
            id: self.id,
            backend: self.backend.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_unix_ns: self.started_at_unix_ns,
            shutting_down: self.is_shutdown_requested(),
            pool_threads_abandoned: self.pool_threads_abandoned.load(Ordering::Relaxed),
            config: self.config_summary.clone(),
            slabs: vec![
                pool(
                    SlabKind::BlockingQueue,
                    self.blocking.as_ref().map(|p| p.stats().into()),
                ),
                pool(
                    SlabKind::ResolverQueue,
                    self.resolver.as_ref().map(|p| p.stats().into()),
                ),
            ],
            workers: self
                .worker_stats
                .iter()
                .map(|w| w.snapshot(self.id, now_ns))
                .collect(),
        }
    }

    fn is_running(&self) -> bool {
        self.alive.load(Ordering::Acquire) > 0
    }

    fn tasks(&self, _now_ns: u64, out: &mut Vec<TaskInfo>) {
        for w in &self.worker_stats {
            w.tasks(self.id, out, None);
        }
    }

    fn explained_ops(&self, _now_ns: u64, out: &mut Vec<InFlightOp>) {
        let mut tasks = Vec::new();
        for w in &self.worker_stats {
            w.tasks(self.id, &mut tasks, Some(out));
        }
    }

    fn connections(&self, now_ns: u64, out: &mut Vec<ConnectionInfo>) {
        for w in &self.worker_stats {
            w.connections(self.id, now_ns, out);
        }
    }
}

impl RuntimeShared {
    /// Called by every worker thread as it exits. The last one removes the
    /// socket files we created that are still ours (while the listeners
    /// still hold their inodes), closes the listeners (the drivers dropped
    /// their clones already) and stops the pools, so nothing outlives the
    /// workers even while the `ShutdownHandle` is still held — but a pool
    /// thread stuck in a job past the drain deadline (see `stop_pools`).
    pub(crate) fn worker_exited(&self) {
        if self.alive.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.socket_files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.stop_pools();
    }

    /// Stops the blocking and resolver pools: their threads get until the
    /// drain deadline to finish their jobs (shutdown was requested that
    /// long ago, or is taken as requested now); threads still in a job
    /// then are left behind, counted and named in one log line, so a
    /// closure or lookup that never returns cannot hold the exit up.
    fn stop_pools(&self) {
        let requested_at = self.shutdown.requested_at();
        let deadline = requested_at + self.drain_timeout;
        // Both stop taking jobs first, so both get the whole wait.
        if let Some(pool) = &self.blocking {
            pool.begin_shutdown();
        }
        if let Some(pool) = &self.resolver {
            pool.begin_shutdown();
        }
        let blocking = self
            .blocking
            .as_ref()
            .map_or(0, |p| p.finish_shutdown(deadline));
        let resolver = self
            .resolver
            .as_ref()
            .map_or(0, |p| p.finish_shutdown(deadline));
        let abandoned = blocking + resolver;
        if abandoned > 0 {
            self.pool_threads_abandoned
                .fetch_add(abandoned as u64, Ordering::Relaxed);
            eprintln!(
                "ringline: runtime {} left {abandoned} pool thread(s) running past the drain \
                 deadline ({blocking} in spawn_blocking closures, {resolver} in name lookups); \
                 they are detached, not joined, and exit when their call returns",
                self.id
            );
        }
    }
}

/// Runs `RuntimeShared::worker_exited` when a worker thread ends, however
/// it ends (return, error or panic).
pub(crate) struct ExitGuard(pub(crate) Arc<RuntimeShared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.worker_exited();
    }
}
