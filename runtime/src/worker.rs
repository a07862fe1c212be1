//! One worker thread: its executor, its I/O driver and its event loop.
//!
//! ```text
//!   ┌──────────────────────────── loop ───────────────────────────────┐
//!   │ poll ready tasks (those queued at the start of the turn)        │
//!   │ submit ops + wait in the driver (until the nearest timer,       │
//!   │   the tick, a CQE, or the wake fd)                              │
//!   │ reap CQEs → one dispatcher keyed by OpKind → wake tasks         │
//!   │ accept new connections → on_accept tasks                        │
//!   │ fire due timers, take remote wakes, on_tick                     │
//!   └─────────────────────────────────────────────────────────────────┘
//! ```
//!
//! All state is interior-mutable behind `&Worker` so futures can reach it
//! through the thread-local context. No borrow is ever held across user
//! code (a poll, a parse closure, a future's drop).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::builder::RuntimeShared;
use crate::config::Config;
use crate::driver::Cqe;
use crate::driver::Driver;
use crate::driver::ops::{Completed, OpSlot, OpTable, Orphaned};
use crate::error::Error;
use crate::executor::context;
use crate::executor::foreign::{Foreign, ForeignWait};
use crate::executor::task::{BoxFuture, TaskKind, TaskSlab};
use crate::executor::timer::TimerQueue;
use crate::executor::waker::{self, TaskRef, WakeRef, WorkerHandle};
use crate::handler::{AsyncEventHandler, DriverCtx};
use crate::net::{ConnCtx, NetState, UdpCtx, UdpSocketState};
use crate::op::{OpKind, UserData};
use crate::slab::Key;
use crate::stats::kinds::SlabKind;
use crate::stats::{StatsWriter, clock};

/// Polls per turn before the loop goes back to the kernel, so a task that
/// keeps waking itself cannot starve I/O.
const MAX_POLLS_PER_TURN: usize = 1024;

/// Extra time, after the drain timeout, that a forced cancellation gets
/// before the worker gives up and leaks what the kernel may still hold.
const FORCED_CANCEL_GRACE: Duration = Duration::from_secs(1);

/// See the module docs.
pub(crate) struct Worker {
    pub(crate) id: usize,
    /// `handle.serial`, read on every worker-local handle's check.
    pub(crate) serial: u32,
    pub(crate) handle: Arc<WorkerHandle>,
    pub(crate) runtime: Arc<RuntimeShared>,
    pub(crate) config: Arc<Config>,
    pub(crate) tasks: TaskSlab,
    pub(crate) ready: RefCell<VecDeque<TaskRef>>,
    pub(crate) timers: RefCell<TimerQueue>,
    pub(crate) current_task: Cell<Option<TaskRef>>,
    now: Cell<Instant>,
    pub(crate) driver: RefCell<Driver>,
    /// This worker's side of its stats block (the driver holds a clone).
    pub(crate) stats: Rc<StatsWriter>,
    pub(crate) net: RefCell<NetState>,
    pub(crate) fs: RefCell<crate::fs::FsState>,
    shutting_down: Cell<bool>,
    /// Connections accepted during this turn, awaiting their tasks.
    pub(crate) accepted: RefCell<Vec<ConnCtx>>,
}

impl Worker {
    /// Sets up a worker on the calling thread (the ring's single issuer).
    pub(crate) fn new(
        id: usize,
        runtime: Arc<RuntimeShared>,
        config: Arc<Config>,
    ) -> Result<Worker, Error> {
        let handle = waker::register()?;
        let listeners = runtime
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let udp = runtime.take_udp_sockets(id);
        let stats = Rc::new(StatsWriter::new(runtime.worker_stats(id), clock::now_ns()));
        let driver = Driver::new(
            &config,
            runtime.backend,
            handle.wake_fd(),
            &listeners,
            !udp.is_empty(),
            stats.clone(),
            runtime.disk.clone(),
        );
        let driver = match driver {
            Ok(d) => d,
            Err(e) => {
                waker::unregister(handle.gid);
                return Err(e);
            }
        };
        runtime.add_worker(handle.clone());
        let mut net = NetState::new(&config);
        net.udp = udp
            .into_iter()
            .map(|fd| UdpSocketState::new(fd, config.udp_send_slots))
            .collect();
        Ok(Worker {
            id,
            serial: handle.serial,
            tasks: TaskSlab::new(
                handle.gid,
                config.max_connections,
                config.standalone_task_capacity,
            ),
            handle,
            runtime,
            ready: RefCell::new(VecDeque::with_capacity(256)),
            timers: RefCell::new(TimerQueue::new(config.timer_slots)),
            current_task: Cell::new(None),
            now: Cell::new(Instant::now()),
            driver: RefCell::new(driver),
            stats,
            net: RefCell::new(net),
            fs: RefCell::new(crate::fs::FsState::new(config.fs.as_ref())),
            shutting_down: Cell::new(false),
            accepted: RefCell::new(Vec::new()),
            config,
        })
    }

    /// The loop turn's clock (read once per turn, after the wait).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// True once this worker started shutting down.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.get()
    }

    /// Queues a local task to be polled (idempotent).
    #[inline]
    pub(crate) fn schedule(&self, task: TaskRef) {
        if self.tasks.mark_scheduled(task) {
            self.ready.borrow_mut().push_back(task);
        }
    }

    /// Queues the local task a waker names (idempotent; a stale waker
    /// queues nothing, or the slot's current task: a spurious poll).
    #[inline]
    pub(crate) fn wake(&self, task: WakeRef) {
        if let Some(task) = self.tasks.mark_woken(task) {
            self.ready.borrow_mut().push_back(task);
        }
    }

    /// Stores and schedules a new task.
    pub(crate) fn spawn_task(&self, kind: TaskKind, future: BoxFuture) -> io::Result<TaskRef> {
        if self.shutting_down.get() {
            return Err(io::Error::other("the ringline runtime is shutting down"));
        }
        let task = self.tasks.insert(kind, future)?;
        self.schedule(task);
        Ok(task)
    }

    /// Cancels a task of this worker (see `TaskId::cancel`).
    pub(crate) fn cancel_task(&self, task: TaskRef) {
        if self.current_task.get() == Some(task) {
            self.tasks.mark_cancelled(task);
            return;
        }
        if let Some((kind, future)) = self.tasks.remove(task) {
            drop(future);
            self.task_ended(kind);
        }
    }

    /// What happens after any task ends (finished, cancelled or dropped).
    fn task_ended(&self, kind: TaskKind) {
        if let TaskKind::Conn(conn) = kind {
            self.conn_task_ended(conn);
        }
    }

    /// Polls the tasks that were ready at the start of this turn.
    fn run_ready_tasks(&self) {
        let budget = self.ready.borrow().len().min(MAX_POLLS_PER_TURN);
        for _ in 0..budget {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            let Some(mut future) = self.tasks.begin_poll(task) else {
                continue;
            };
            let waker = task.waker();
            let mut cx = std::task::Context::from_waker(&waker);
            self.current_task.set(Some(task));
            self.stats.poll_started(task.stats_id());
            let poll = future.as_mut().poll(&mut cx);
            self.stats.poll_ended();
            self.current_task.set(None);
            match poll {
                std::task::Poll::Ready(()) => {
                    drop(future);
                    if let Some(kind) = self.tasks.finish(task) {
                        self.task_ended(kind);
                    }
                }
                std::task::Poll::Pending => {
                    if let Some(cancelled) = self.tasks.end_poll(task, future) {
                        drop(cancelled);
                        if let Some(kind) = self.tasks.finish(task) {
                            self.task_ended(kind);
                        }
                    }
                }
            }
        }
    }

    /// Runs the event loop until shutdown completes.
    pub(crate) fn run<H: AsyncEventHandler>(&self, mut handler: H) -> Result<(), Error> {
        let _enter = context::enter(self);
        // The first turn starts here: `on_start` tasks run before the first
        // wait.
        self.stats.turn_started(clock::now_ns());
        {
            let mut driver = self.driver.borrow_mut();
            driver.arm_wake();
            driver.arm_accepts();
        }
        let udp_sockets = self.net.borrow().udp.len();
        for index in 0..udp_sockets {
            self.arm_udp_recv(index);
            if let Some(task) = handler.on_udp_bind(UdpCtx::new(self, index)) {
                self.spawn_task(TaskKind::Standalone { counted: false }, task)?;
            }
        }
        if let Some(start) = handler.on_start() {
            self.spawn_task(TaskKind::Standalone { counted: false }, start)?;
        }
        let mut cqes: Vec<Cqe> = Vec::with_capacity(1024);
        let mut remote: Vec<WakeRef> = Vec::new();
        let mut forced_at: Option<Instant> = None;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            self.run_ready_tasks();

            if !self.shutting_down.get() && self.runtime.is_shutdown_requested() {
                self.begin_shutdown();
                drain_deadline = Some(self.now() + self.config.shutdown_drain_timeout);
            }
            // The turn's second clock read: the submit batch's time, the
            // base of the wait timeout and of the shutdown deadlines.
            let now = Instant::now();
            if self.shutting_down.get() {
                if self.is_drained(drain_deadline.is_some_and(|d| now >= d)) {
                    break;
                }
                match (drain_deadline, forced_at) {
                    (Some(d), None) if now >= d => {
                        self.driver.borrow_mut().cancel_everything();
                        forced_at = Some(now);
                    }
                    (_, Some(f)) if now >= f + FORCED_CANCEL_GRACE => {
                        self.abandon_in_flight();
                        break;
                    }
                    _ => {}
                }
            }

            let timeout = self.wait_timeout(now);
            self.publish_stats(now, timeout.is_none());
            self.driver.borrow_mut().wait(timeout, now)?;
            cqes.clear();
            self.driver.borrow_mut().reap(&mut cqes);
            // The turn's first clock read: the reap batch's time.
            let now = Instant::now();
            self.now.set(now);
            self.stats.turn_started(clock::ns_at(now));
            for cqe in &cqes {
                self.dispatch(*cqe);
            }
            self.after_dispatch();
            self.start_accepted(&handler);

            let now = self.now.get();
            self.timers.borrow_mut().fire_expired(now, |w| w.wake());
            self.expire_lingering(now);
            remote.clear();
            self.handle.drain_remote(&mut remote);
            for task in remote.drain(..) {
                self.wake(task);
            }
            self.serve_foreign();
            let mut ctx = DriverCtx::new(self);
            handler.on_tick(&mut ctx);
        }
        self.finish_shutdown();
        Ok(())
    }

    /// How long the next wait may block: not at all with tasks ready, else
    /// until the nearest timer or the tick, whichever is first.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.borrow().is_empty() {
            return Some(Duration::ZERO);
        }
        let tick = match self.config.tick_timeout_us {
            0 => None,
            us => Some(Duration::from_micros(us)),
        };
        let timer = self.timers.borrow_mut().next_deadline();
        let linger = self.net.borrow().linger.next_deadline();
        let shutdown_poll = self
            .shutting_down
            .get()
            .then_some(Duration::from_millis(10));
        let timer = timer.map(|d| d.saturating_duration_since(now));
        let linger = linger.map(|d| d.saturating_duration_since(now));
        [tick, timer, linger, shutdown_poll]
            .into_iter()
            .flatten()
            .min()
    }

    /// The one dispatcher: every CQE is routed by its op kind.
    fn dispatch(&self, cqe: Cqe) {
        let ud = UserData::from_raw(cqe.user_data);
        let Some(kind) = ud.kind() else {
            self.driver.borrow_mut().counters.unknown_cqes += 1;
            debug_assert!(false, "CQE with unknown tag: {ud:?}");
            return;
        };
        let more = cqe.more();
        self.driver
            .borrow_mut()
            .counters
            .completed(kind, more, cqe.result);
        if !more {
            self.stats.op_completed(kind, ud);
        }
        match kind {
            OpKind::Accept => self.on_accept_cqe(ud, cqe),
            OpKind::Recv => self.on_recv_cqe(ud, cqe),
            OpKind::Send => self.on_send_cqe(ud, cqe),
            OpKind::Close | OpKind::Shutdown => self.on_conn_op_cqe(ud, cqe),
            OpKind::Connect => self.on_one_shot_cqe(ud, cqe),
            OpKind::LinkTimeout => {
                let done = self
                    .driver
                    .borrow_mut()
                    .ops
                    .complete_link_timeout(ud, cqe.result);
                self.after_one_shot(done);
            }
            OpKind::Wake => self.on_wake_cqe(),
            OpKind::Cancel => {}
            OpKind::UdpRecv => self.on_udp_recv_cqe(ud, cqe),
            OpKind::UdpSend => self.on_udp_send_cqe(ud, cqe.result),
            // File ops and anything else with a future wait in the op table.
            _ => self.on_one_shot_cqe(ud, cqe),
        }
    }

    fn on_one_shot_cqe(&self, ud: UserData, cqe: Cqe) {
        let done = self.driver.borrow_mut().ops.complete(ud, cqe.result);
        self.after_one_shot(done);
    }

    fn after_one_shot(&self, done: Completed) {
        if let Completed::Orphan(slot, result) = done {
            self.reap_orphan(slot, result);
        }
    }

    /// Cleans up after an op whose future was dropped, once the kernel is
    /// done with it: whatever the op produced (a connected socket, an open
    /// file) is closed, then its held memory is freed.
    pub(crate) fn reap_orphan(&self, mut slot: OpSlot, result: i32) {
        self.stats
            .graveyard(&self.driver.borrow_mut().ops.graveyard_totals());
        let notify = slot.notify.take();
        match slot.kind {
            OpKind::Connect => self.reap_connect_orphan(slot, result),
            kind if kind.is_fs() => crate::fs::reap_orphan(self, slot, result),
            _ => drop(slot),
        }
        if let Some(n) = notify {
            n.finish();
        }
    }

    /// Releases what other threads dropped or polled of this worker's
    /// (see `executor::foreign`).
    fn serve_foreign(&self) {
        self.handle.take_requests(|request| match request {
            Foreign::AbandonOp { op, notify } => self.orphan_op_notify(op, notify),
            Foreign::RemoveTimer(key) => self.timers.borrow_mut().remove(key),
            Foreign::PoolJobEnded(end) => self.count_pool_job_end(end),
        });
    }

    fn on_wake_cqe(&self) {
        let mut remote = Vec::new();
        self.handle.take_remote(&mut remote);
        for task in remote {
            self.wake(task);
        }
        let mut driver = self.driver.borrow_mut();
        driver.wake_armed = false;
        if !self.shutting_down.get() || !driver.quiescing {
            driver.arm_wake();
        }
    }

    /// Work deferred to the end of a dispatch batch: publish recycled
    /// buffers, then re-arm receives that ran out of them.
    fn after_dispatch(&self) {
        self.driver.borrow_mut().publish_buffers();
        self.rearm_receives();
        self.rearm_udp();
        self.driver
            .borrow_mut()
            .rearm_accepts(self.now.get(), self.shutting_down.get());
    }

    /// Creates the task of every connection accepted this turn.
    fn start_accepted<H: AsyncEventHandler>(&self, handler: &H) {
        let accepted = std::mem::take(&mut *self.accepted.borrow_mut());
        for conn in accepted {
            let future = handler.on_accept(conn);
            match self.spawn_task(TaskKind::Conn(conn.key()), Box::pin(future)) {
                Ok(task) => self.set_conn_task(conn.key(), task),
                Err(_) => self.close_conn(conn.key()),
            }
        }
    }

    /// Stops accepting, drops every task and closes every connection; the
    /// loop then waits for the kernel to finish what is in flight.
    fn begin_shutdown(&self) {
        self.shutting_down.set(true);
        self.driver.borrow_mut().cancel_accepts();
        self.cancel_udp();
        // Dropping a task may drop futures that hold other tasks' handles;
        // loop until nothing is left.
        loop {
            let live = self.tasks.live();
            if live.is_empty() {
                break;
            }
            for task in live {
                if let Some((kind, future)) = self.tasks.remove(task) {
                    drop(future);
                    self.task_ended(kind);
                }
            }
        }
        self.ready.borrow_mut().clear();
        self.close_all_conns();
        self.runtime.tasks_dropped();
    }

    /// True when nothing but the wake read is in flight. Pool jobs are
    /// waited for only while another worker may still drop their handles
    /// (it does in its `begin_shutdown`), and never past the drain
    /// deadline: a handle held by a plain thread may never end, and no
    /// memory is at stake.
    fn is_drained(&self, deadline_passed: bool) -> bool {
        // Read before counting the ends posted from elsewhere, so that
        // every end another worker posted before it dropped its tasks is
        // counted below.
        let tasks_all_dropped = self.runtime.every_worker_dropped_its_tasks();
        self.serve_foreign();
        let net_idle = self.net.borrow().conns_is_empty();
        let mut driver = self.driver.borrow_mut();
        if !net_idle || driver.in_flight_except_wake() > 0 {
            return false;
        }
        if driver.counters.pool_jobs_in_flight() > 0 && !deadline_passed && !tasks_all_dropped {
            return false;
        }
        if driver.wake_armed {
            if !driver.quiescing {
                driver.quiescing = true;
                driver.cancel_wake();
            }
            return false;
        }
        true
    }

    /// The forced path: the kernel did not finish in time. Memory it may
    /// still write is leaked on purpose, never freed.
    fn abandon_in_flight(&self) {
        let driver = self.driver.borrow();
        let in_flight = driver.counters.kernel_in_flight();
        let (depth, bytes) = driver.ops.graveyard();
        eprintln!(
            "ringline: worker {} gave up waiting for {in_flight} kernel operations at shutdown; \
             leaking their buffers ({depth} parked futures, {bytes} bytes) rather than freeing \
             memory the kernel may still write",
            self.id
        );
        drop(driver);
        let mut driver = self.driver.borrow_mut();
        driver.leak_on_drop = true;
        let mut totals = driver.ops.graveyard_totals();
        totals.abandoned = in_flight;
        self.stats.graveyard(&totals);
        drop(driver);
        self.net.borrow_mut().leak_on_drop = true;
        self.handle.set_gave_up();
    }

    fn finish_shutdown(&self) {
        // Orphans reaped during the drain may have queued nothing new;
        // whatever remains is handled by Driver's drop.
        self.ready.borrow_mut().clear();
        // Files the application left open are closed here rather than
        // when the worker is dropped, so the final counts show them closed.
        self.fs.borrow_mut().close_all();
        // Requests that came in during the last turn, then never again:
        // a later one is answered by its sender (see `exited_clean`).
        self.handle.set_exited();
        self.serve_foreign();
        // The final counts: what the last turn reaped was not published.
        self.publish_stats(Instant::now(), true);
    }

    /// The future waiting on op `op` was dropped: a finished op is cleaned
    /// up now; a running one is parked in the graveyard (its buffers kept
    /// until its CQE) and a cancel is submitted.
    pub(crate) fn orphan_op(&self, op: Key) {
        self.orphan_op_notify(op, None);
    }

    /// [`orphan_op`](Self::orphan_op), finishing `notify` once the kernel
    /// is done with the op (at once if it already is).
    fn orphan_op_notify(&self, op: Key, notify: Option<Arc<ForeignWait>>) {
        let now_ns = clock::ns_at(self.now());
        match self.with_ops(|ops| ops.orphan(op, now_ns)) {
            Orphaned::Gone => {}
            Orphaned::Finished(slot, result) => self.reap_orphan(slot, result),
            Orphaned::Parked(ud) => {
                if let Some(kind) = ud.kind() {
                    self.stats.op_orphaned(kind, ud);
                }
                let mut driver = self.driver.borrow_mut();
                self.stats.graveyard(&driver.ops.graveyard_totals());
                driver.cancel(ud);
                if let Some(slot) = driver.ops.get_mut(op) {
                    slot.notify = notify;
                }
                return;
            }
        }
        if let Some(n) = notify {
            n.finish();
        }
    }

    /// Publishes this turn's stats (pool occupancy, op counters, ring and
    /// graveyard totals) right before the wait at `now`. With the `stats`
    /// feature off, `turn_ended` never calls the closure.
    /// With `force` (the worker may park indefinitely, or is exiting)
    /// everything is published; otherwise the counts are published at most
    /// every `PUBLISH_INTERVAL` of a busy loop (see `StatsWriter`).
    fn publish_stats(&self, now: Instant, force: bool) {
        self.stats
            .turn_ended(clock::ns_at(now), force, |p| self.gather_stats(p));
    }

    /// Publishes this worker's counts now (for `stats::this_runtime`).
    pub(crate) fn publish_stats_now(&self) {
        self.stats.publish(|p| self.gather_stats(p));
    }

    /// Reports what the worker's pools, driver and timers hold.
    fn gather_stats(&self, p: &crate::stats::Publisher<'_>) {
        {
            {
                let mut driver = self.driver.borrow_mut();
                let driver = &mut *driver;
                p.ops(&mut driver.counters);
                p.ring(driver.ring_totals());
                p.slab(SlabKind::OpSlots, driver.ops.usage());
                let (recv, udp_recv) = driver.buffer_usage();
                p.slab(SlabKind::RecvBuffers, recv);
                p.slab(SlabKind::UdpRecvBuffers, udp_recv);
            }
            {
                let net = self.net.borrow();
                p.slab(SlabKind::Connections, net.conns.usage());
                p.slab(SlabKind::SendCopy, net.pool.usage());
                p.slab(SlabKind::UdpSend, net.udp_send_usage());
                p.net_pressure(net.pressure());
            }
            let (files, commands) = self.fs.borrow().usage();
            p.slab(SlabKind::FsFiles, files);
            p.slab(SlabKind::FsCommands, commands);
            p.slab(SlabKind::Tasks, self.tasks.usage());
            let mut timers = self.timers.borrow_mut();
            p.slab(SlabKind::Timers, timers.usage());
            let (pending, armed, fired, removed) = timers.op_totals();
            p.op_totals(OpKind::Timer, pending, armed, fired, removed);
            let next_timer = timers.next_deadline().map(clock::ns_at);
            p.executor(self.tasks.len() as u64, next_timer);
        }
    }

    /// The op table (for the connect/fs futures).
    pub(crate) fn with_ops<R>(&self, f: impl FnOnce(&mut OpTable) -> R) -> R {
        f(&mut self.driver.borrow_mut().ops)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // After a clean shutdown nothing is in flight and this returns at
        // once. After a panic unwound out of the loop, cancel and reap what
        // we can; whatever the kernel still holds is leaked, never freed.
        let drained = self.driver.get_mut().drain_for_drop(FORCED_CANCEL_GRACE);
        if !drained {
            self.net.get_mut().leak_on_drop = true;
            self.handle.set_gave_up();
        }
        self.handle.set_exited();
        waker::unregister(self.handle.gid);
    }
}

#[cfg(test)]
// `on_accept` must return a `'static` future, which an `async fn` cannot.
#[allow(clippy::manual_async_fn)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::time::{Duration, Instant};

    use crate::driver::test_hooks::SUPPRESS_CANCELS;
    use crate::fs::{self, FsConfig, OpenFlags};
    use crate::{AsyncEventHandler, Config, ConnCtx, RinglineBuilder};

    /// Runs on a worker whose cancels are suppressed: a read on a FIFO
    /// that nobody writes never completes, whatever shutdown does.
    struct NeverCompletes;

    static FIFO: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

    impl AsyncEventHandler for NeverCompletes {
        fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
            async {}
        }

        fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
            Some(Box::pin(async {
                SUPPRESS_CANCELS.with(|c| c.set(true));
                let path = FIFO.lock().unwrap().clone().expect("fifo set");
                let f = fs::open(&path, OpenFlags::READ_WRITE, 0)
                    .expect("open")
                    .await
                    .expect("open");
                let read = fs::read_into(f, 0, bytes::BytesMut::with_capacity(4096)).expect("read");
                crate::spawn(async move {
                    let _ = read.await;
                })
                .expect("spawn");
                crate::sleep(Duration::from_millis(20)).await;
                crate::request_shutdown().expect("on a worker");
            }))
        }

        fn create_for_worker(_worker: usize) -> Self {
            NeverCompletes
        }
    }

    #[test]
    fn shutdown_gives_up_on_ops_the_kernel_never_finishes_and_leaks_them() {
        let dir = std::env::temp_dir().join(format!("ringline-abandon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let fifo = dir.join("fifo");
        crate::sys::mkfifo(&fifo, 0o600).expect("mkfifo");
        *FIFO.lock().unwrap() = Some(fifo);
        // The FIFO's directory goes when the test ends, whatever it asserts.
        struct RemoveDir(std::path::PathBuf);
        impl Drop for RemoveDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _cleanup = RemoveDir(dir.clone());

        let mut config = Config::default();
        config.worker.threads = 1;
        config.max_connections = 16;
        config.blocking_threads = 0;
        config.resolver_threads = 0;
        config.shutdown_drain_timeout = Duration::from_millis(200);
        config.fs = Some(FsConfig {
            max_files: 4,
            max_commands_in_flight: 4,
        });
        let started = Instant::now();
        let (handle, workers) = RinglineBuilder::new(config)
            .launch::<NeverCompletes>()
            .expect("launch");
        for w in workers {
            w.join()
                .expect("no panic")
                .expect("a clean exit, even when giving up");
        }
        let took = started.elapsed();
        // Drain timeout, then the forced-cancel grace, then give up.
        assert!(
            took >= Duration::from_millis(1200),
            "gave up too early: {took:?}"
        );
        assert!(
            took < Duration::from_secs(4),
            "shutdown unbounded: {took:?}"
        );
        if !cfg!(feature = "stats") {
            return;
        }
        let rt = handle.stats();
        let w = &rt.workers[0];
        let read = w.op("fs_read").expect("fs_read");
        assert_eq!(read.in_flight, 1, "the read never completed: {read:?}");
        assert!(w.graveyard.abandoned >= 1, "{:?}", w.graveyard);
        assert_eq!(
            w.graveyard.depth, 1,
            "its buffer is still parked: {:?}",
            w.graveyard
        );
        assert!(
            w.in_flight
                .iter()
                .any(|op| op.op == "fs_read" && op.in_graveyard),
            "{:?}",
            w.in_flight
        );
    }
}
