//! One worker thread: the event loop that composes its layers.
//!
//! A `Worker` is a [`Reactor`] (identity, executor, driver, stats), the
//! connection layer's state and the file layer's state, and the runtime it
//! belongs to. It owns nothing else: connections and files complete, orphan
//! and reap their own ops (`net::Net`, `fs::Fs`); the shutdown sequence is
//! the driver's lifecycle; the worker routes each CQE to its layer and
//! drives the turn.
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
//! All state is interior-mutable behind shared references, so futures can
//! reach their layer through its thread-local (which holds that layer and
//! the reactor, never the worker). No borrow is ever held across user code
//! (a poll, a parse closure, a future's drop).

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blocking;
use crate::config::Config;
use crate::driver::Cqe;
use crate::driver::Driver;
use crate::driver::lifecycle::{FORCED_CANCEL_GRACE, Step};
use crate::driver::ops;
use crate::error::Error;
use crate::executor::context;
use crate::executor::foreign::Foreign;
use crate::executor::task::{BoxFuture, TaskKind};
use crate::executor::waker::{self, TaskRef, WakeRef};
use crate::fs::{self, Fs, FsState};
use crate::handler::{AsyncEventHandler, DriverCtx};
use crate::net::{self, ConnCtx, Net, NetState, UdpCtx, UdpSocketState};
use crate::op::{OpKind, UserData};
use crate::reactor::{self, Reactor};
use crate::shared::RuntimeShared;
use crate::stats::{StatsWriter, clock};

mod one_shot;
mod publish;

pub(crate) use publish::this_runtime;

/// Polls per turn before the loop goes back to the kernel, so a task that
/// keeps waking itself cannot starve I/O.
const MAX_POLLS_PER_TURN: usize = 1024;

/// See the module docs.
pub(crate) struct Worker {
    /// Identity, executor, driver and stats: what every layer runs on.
    pub(crate) core: Reactor,
    pub(crate) runtime: Arc<RuntimeShared>,
    /// The connection layer's state (see [`Worker::net`]).
    net_state: RefCell<NetState>,
    /// Connections accepted during this turn, awaiting their tasks.
    accepted: RefCell<Vec<ConnCtx>>,
    /// The file layer's state (see [`Worker::fs`]).
    fs_state: RefCell<FsState>,
}

impl Worker {
    /// Sets up a worker on the calling thread (the ring's single issuer).
    pub(crate) fn new(
        id: usize,
        runtime: Arc<RuntimeShared>,
        config: Arc<Config>,
    ) -> Result<Worker, Error> {
        let handle = waker::register()?;
        // Stats read on this thread must not resolve fds through /proc.
        crate::stats::fd_paths::on_worker_thread();
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
        runtime.shutdown.add_worker(handle.clone());
        let mut net = NetState::new(&config);
        net.listener_kinds = runtime.listener_kinds.clone();
        net.udp = udp
            .into_iter()
            .map(|fd| UdpSocketState::new(fd, config.udp_send_slots))
            .collect();
        let fs = FsState::new(config.fs.as_ref(), ops::net_op_slots(&config));
        Ok(Worker {
            core: Reactor::new(
                id,
                handle,
                config,
                driver,
                stats,
                runtime.shutdown.clone(),
                runtime.clone(),
            ),
            runtime,
            net_state: RefCell::new(net),
            accepted: RefCell::new(Vec::new()),
            fs_state: RefCell::new(fs),
        })
    }

    /// The connection layer, on this worker's reactor.
    pub(crate) fn net(&self) -> Net<'_> {
        Net {
            core: &self.core,
            net: &self.net_state,
            accepted: &self.accepted,
        }
    }

    /// The file layer, on this worker's reactor.
    pub(crate) fn fs(&self) -> Fs<'_> {
        Fs {
            core: &self.core,
            fs: &self.fs_state,
        }
    }

    /// The loop turn's clock (read once per turn, after the wait).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.core.now()
    }

    /// True once this worker started shutting down.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.core.is_shutting_down()
    }

    /// Stores and schedules a new task of the handler's (its spawn site
    /// is the user's `launch` call).
    pub(crate) fn spawn_task(&self, kind: TaskKind, future: BoxFuture) -> io::Result<TaskRef> {
        let site = Some(self.runtime.launch_site);
        self.core.exec.spawn(kind, future, site, None)
    }

    /// Closes the connections whose task ended.
    fn settle_ended_tasks(&self) {
        let mut ended = Vec::new();
        self.core.exec.take_ended_conn_tasks(&mut ended);
        for conn in ended {
            self.net().conn_task_ended(conn);
        }
    }

    /// Polls the tasks that were ready at the start of this turn, then
    /// closes the connections whose task ended.
    fn run_ready_tasks(&self) {
        self.core.exec.run_ready(MAX_POLLS_PER_TURN);
        self.settle_ended_tasks();
    }

    /// Runs the event loop until shutdown completes.
    pub(crate) fn run<H: AsyncEventHandler>(&self, mut handler: H) -> Result<(), Error> {
        let _executor = context::enter(&self.core.exec);
        let _net = net::enter(self.net());
        let _fs = fs::enter(self.fs());
        let _reactor = reactor::enter(&self.core);
        let _pools = blocking::enter(self.runtime.pools());
        // The first turn starts here: `on_start` tasks run before the first
        // wait.
        self.core.stats.turn_started(clock::now_ns());
        {
            let mut driver = self.core.driver.borrow_mut();
            driver.arm_wake();
            driver.arm_accepts();
        }
        let udp_sockets = self.net_state.borrow().udp.len();
        for index in 0..udp_sockets {
            self.net().arm_udp_recv(index);
            if let Some(task) = handler.on_udp_bind(UdpCtx::new(&self.net(), index)) {
                self.spawn_task(TaskKind::Standalone { counted: false }, task)?;
            }
        }
        if let Some(start) = handler.on_start() {
            self.spawn_task(TaskKind::Standalone { counted: false }, start)?;
        }
        let mut cqes: Vec<Cqe> = Vec::with_capacity(1024);
        let mut remote: Vec<WakeRef> = Vec::new();
        loop {
            self.run_ready_tasks();

            if self.runtime.is_shutdown_requested() {
                self.begin_shutdown();
            }
            // The turn's second clock read: the submit batch's time, the
            // base of the wait timeout and of the shutdown deadlines.
            let now = Instant::now();
            if self.is_shutting_down() {
                let work_done = self.work_done(now);
                let step = self.core.driver.borrow_mut().lifecycle.step(now, work_done);
                match step {
                    Step::Continue => {}
                    Step::CancelWake => self.core.driver.borrow_mut().cancel_wake(),
                    Step::CancelEverything => self.core.driver.borrow_mut().cancel_everything(),
                    Step::Abandon => {
                        self.abandon_in_flight();
                        break;
                    }
                    Step::Exit => break,
                }
            }

            let timeout = self.wait_timeout(now);
            self.publish_stats(now, timeout.is_none());
            self.core.driver.borrow_mut().wait(timeout, now)?;
            cqes.clear();
            self.core.driver.borrow_mut().reap(&mut cqes);
            // The turn's first clock read: the reap batch's time.
            let now = Instant::now();
            self.core.exec.set_now(now);
            self.core.stats.turn_started(clock::ns_at(now));
            for cqe in &cqes {
                self.dispatch(*cqe);
            }
            self.after_dispatch();
            self.start_accepted(&handler);

            let now = self.now();
            self.core
                .exec
                .timers
                .borrow_mut()
                .fire_expired(now, |w| w.wake());
            self.net().expire_lingering(now);
            self.core.handle.drain_remote(&mut remote);
            for &task in &remote {
                self.core.exec.wake(task);
            }
            remote.clear();
            self.serve_foreign();
            let mut ctx = DriverCtx::new(self.net());
            handler.on_tick(&mut ctx);
            // `on_tick` may have cancelled a connection's task.
            self.settle_ended_tasks();
        }
        self.finish_shutdown();
        Ok(())
    }

    /// How long the next wait may block: not at all with tasks ready, else
    /// until the nearest timer or the tick, whichever is first.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        if self.core.exec.has_ready() {
            return Some(Duration::ZERO);
        }
        let tick = match self.core.config.tick_timeout_us {
            0 => None,
            us => Some(Duration::from_micros(us)),
        };
        let timer = self.core.exec.timers.borrow_mut().next_deadline();
        let linger = self.net_state.borrow().linger.next_deadline();
        let shutdown_poll = self.is_shutting_down().then_some(Duration::from_millis(10));
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
            self.core.driver.borrow_mut().counters.unknown_cqes += 1;
            debug_assert!(false, "CQE with unknown tag: {ud:?}");
            return;
        };
        let more = cqe.more();
        self.core
            .driver
            .borrow_mut()
            .counters
            .completed(kind, more, cqe.result);
        if !more {
            self.core.stats.op_completed(kind, ud);
        }
        match kind {
            OpKind::Accept => self.net().on_accept_cqe(ud, cqe),
            OpKind::Recv => self.net().on_recv_cqe(ud, cqe),
            OpKind::Send => self.net().on_send_cqe(ud, cqe),
            OpKind::Close | OpKind::Shutdown => self.net().on_conn_op_cqe(ud, cqe),
            OpKind::Connect => self.net().on_connect_cqe(ud, cqe.result, false),
            // Only connects carry a linked timeout.
            OpKind::LinkTimeout => self.net().on_connect_cqe(ud, cqe.result, true),
            OpKind::Wake => self.on_wake_cqe(),
            OpKind::Cancel => {}
            OpKind::UdpRecv => self.net().on_udp_recv_cqe(ud, cqe),
            OpKind::UdpSend => self.net().on_udp_send_cqe(ud, cqe.result),
            // File ops.
            _ => self.fs().on_fs_cqe(ud, cqe.result),
        }
    }

    /// Releases what other threads dropped or polled of this worker's
    /// (see `executor::foreign`).
    fn serve_foreign(&self) {
        self.core.handle.take_requests(|request| match request {
            Foreign::AbandonOp { owner, op, notify } => self.orphan_op_notify(owner, op, notify),
            Foreign::RemoveTimer(key) => self.core.exec.timers.borrow_mut().remove(key),
            Foreign::PoolJobEnded(end) => self.core.count_pool_job_end(end),
        });
    }

    fn on_wake_cqe(&self) {
        let mut remote = Vec::new();
        self.core.handle.take_remote(&mut remote);
        for task in remote {
            self.core.exec.wake(task);
        }
        let mut driver = self.core.driver.borrow_mut();
        driver.lifecycle.wake_read_ended();
        driver.arm_wake();
    }

    /// Work deferred to the end of a dispatch batch: publish recycled
    /// buffers, then re-arm receives that ran out of them.
    fn after_dispatch(&self) {
        self.core.driver.borrow_mut().publish_buffers();
        self.net().rearm_receives();
        self.net().rearm_udp();
        self.core.driver.borrow_mut().rearm_accepts(self.now());
    }

    /// Creates the task of every connection accepted this turn.
    fn start_accepted<H: AsyncEventHandler>(&self, handler: &H) {
        let accepted = std::mem::take(&mut *self.accepted.borrow_mut());
        for conn in accepted {
            let future = handler.on_accept(conn);
            match self.spawn_task(TaskKind::Conn(conn.key()), Box::pin(future)) {
                Ok(task) => self.net().set_conn_task(conn.key(), task),
                Err(_) => self.net().close_conn(conn.key()),
            }
        }
    }

    /// Stops accepting, drops every task and closes every connection; the
    /// loop then waits for the kernel to finish what is in flight. Once.
    fn begin_shutdown(&self) {
        {
            let mut driver = self.core.driver.borrow_mut();
            let timeout = self.core.config.shutdown_drain_timeout;
            if !driver.lifecycle.begin_drain(self.now(), timeout) {
                return;
            }
            driver.cancel_accepts();
        }
        self.net().cancel_udp();
        self.core.exec.close();
        self.settle_ended_tasks();
        self.net().close_all_conns();
        self.runtime.tasks_dropped();
    }

    /// True when nothing but the wake read is in flight. Pool jobs are
    /// waited for only while another worker may still drop their handles
    /// (it does in its `begin_shutdown`), and never past the drain
    /// deadline: a handle held by a plain thread may never end, and no
    /// memory is at stake.
    fn work_done(&self, now: Instant) -> bool {
        // Read before counting the ends posted from elsewhere, so that
        // every end another worker posted before it dropped its tasks is
        // counted below.
        let tasks_all_dropped = self.runtime.every_worker_dropped_its_tasks();
        self.serve_foreign();
        let net_idle = self.net_state.borrow().conns_is_empty();
        let driver = self.core.driver.borrow();
        if !net_idle || driver.in_flight_except_wake() > 0 {
            return false;
        }
        let deadline_passed = driver.lifecycle.deadline_passed(now);
        driver.counters.pool_jobs_in_flight() == 0 || deadline_passed || tasks_all_dropped
    }

    /// The forced path: the kernel did not finish in time. Memory it may
    /// still write is leaked on purpose, never freed.
    fn abandon_in_flight(&self) {
        let in_flight = self.core.driver.borrow().counters.kernel_in_flight();
        self.core
            .driver
            .borrow_mut()
            .lifecycle
            .record_abandoned(in_flight);
        let totals = publish::graveyard_totals(&self.net(), &self.fs());
        let (depth, bytes) = (totals.depth, totals.bytes);
        eprintln!(
            "ringline: worker {} gave up waiting for {in_flight} kernel operations at shutdown; \
             leaking their buffers ({depth} parked futures, {bytes} bytes) rather than freeing \
             memory the kernel may still write",
            self.core.id
        );
        self.core.take_graveyard_changed();
        self.core.stats.graveyard(&totals);
        self.core.handle.set_gave_up();
    }

    fn finish_shutdown(&self) {
        // Orphans reaped during the drain may have queued nothing new;
        // whatever remains is handled by Driver's drop.
        self.core.exec.clear_ready();
        // Files the application left open are closed here rather than
        // when the worker is dropped, so the final counts show them closed.
        self.fs_state.borrow_mut().close_all();
        // Requests that came in during the last turn, then never again:
        // a later one is answered by its sender (see `exited_clean`).
        self.core.handle.set_exited();
        self.serve_foreign();
        // The final counts: what the last turn reaped was not published.
        self.publish_stats(Instant::now(), true);
    }

    /// Publishes this turn's stats right before the wait at `now` (see
    /// `publish::turn`).
    fn publish_stats(&self, now: Instant, force: bool) {
        publish::turn(&self.net(), &self.fs(), now, force);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // After a clean shutdown nothing is in flight and this returns at
        // once. After a panic unwound out of the loop, cancel and reap what
        // we can; whatever the kernel still holds is leaked, never freed.
        let drained = self
            .core
            .driver
            .get_mut()
            .drain_for_drop(FORCED_CANCEL_GRACE);
        if !drained {
            // What the kernel may still write stays allocated for good.
            self.net_state.get_mut().leak();
            self.fs_state.get_mut().ops.leak();
            self.core.handle.set_gave_up();
        }
        self.core.handle.set_exited();
        waker::unregister(self.core.handle.gid);
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
