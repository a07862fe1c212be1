//! A worker's executor: its tasks, ready queue, timers and turn clock.
//!
//! It knows nothing of I/O. The worker drives it (`run_ready`, the timer
//! firing, remote wakes) and learns from it which connection tasks ended
//! ([`take_ended_conn_tasks`](Executor::take_ended_conn_tasks)), so that
//! the connection layer can close their connections.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::task::{BoxFuture, TaskKind, TaskSlab};
use super::timer::TimerQueue;
use super::waker::{TaskRef, WakeRef, WorkerHandle};
use crate::slab::Key;
use crate::stats::StatsWriter;
use crate::stats::task_registry::{Kind, Wait};

/// See the module docs.
pub(crate) struct Executor {
    /// The part of the worker other threads may touch (wakes, requests).
    pub(crate) handle: Arc<WorkerHandle>,
    /// `handle.serial`, read on every worker-local handle's check.
    pub(crate) serial: u32,
    pub(crate) tasks: TaskSlab,
    ready: RefCell<VecDeque<TaskRef>>,
    pub(crate) timers: RefCell<TimerQueue>,
    current_task: Cell<Option<TaskRef>>,
    now: Cell<Instant>,
    stats: Rc<StatsWriter>,
    /// Set at shutdown: no new task may start.
    closed: Cell<bool>,
    /// Connections whose task ended since the worker last asked.
    ended_conn_tasks: RefCell<Vec<Key>>,
}

impl Executor {
    /// An executor of `conn_capacity` connection tasks and
    /// `standalone_capacity` other ones, with `timer_slots` bounded timers.
    pub(crate) fn new(
        handle: Arc<WorkerHandle>,
        stats: Rc<StatsWriter>,
        conn_capacity: u32,
        standalone_capacity: u32,
        timer_slots: u32,
    ) -> Executor {
        Executor {
            serial: handle.serial,
            tasks: TaskSlab::new(handle.gid, conn_capacity, standalone_capacity),
            handle,
            ready: RefCell::new(VecDeque::with_capacity(256)),
            timers: RefCell::new(TimerQueue::new(timer_slots)),
            current_task: Cell::new(None),
            now: Cell::new(Instant::now()),
            stats,
            closed: Cell::new(false),
            ended_conn_tasks: RefCell::new(Vec::new()),
        }
    }

    /// The loop turn's clock (read once per turn, after the wait).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// Sets the turn's clock.
    pub(crate) fn set_now(&self, now: Instant) {
        self.now.set(now);
    }

    /// Queues a local task to be polled (idempotent).
    #[inline]
    pub(crate) fn schedule(&self, task: TaskRef) {
        if self.tasks.mark_scheduled(task) {
            self.queue(task);
        }
    }

    /// Queues the local task a waker names (idempotent; a stale waker
    /// queues nothing, or the slot's current task: a spurious poll).
    #[inline]
    pub(crate) fn wake(&self, task: WakeRef) {
        if let Some(task) = self.tasks.mark_woken(task) {
            self.queue(task);
        }
    }

    /// Puts a task just marked scheduled on the ready queue.
    #[inline]
    fn queue(&self, task: TaskRef) {
        self.ready.borrow_mut().push_back(task);
        self.stats.task_woken(task.index);
    }

    /// The task being polled, if any.
    pub(crate) fn current_task(&self) -> Option<TaskRef> {
        self.current_task.get()
    }

    /// A future of the task being polled returns `Pending` on `wait`,
    /// made by the user's call at `site` (see `StatsWriter::parked`).
    #[inline]
    pub(crate) fn parked(&self, wait: Wait, site: &'static Location<'static>) {
        self.stats.parked(wait, site);
    }

    /// True when a task waits to be polled.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    /// Stores and schedules a new task, spawned by the user's call at
    /// `site`; refused once closed.
    pub(crate) fn spawn(
        &self,
        kind: TaskKind,
        future: BoxFuture,
        site: Option<&'static Location<'static>>,
        name: Option<&'static str>,
    ) -> io::Result<TaskRef> {
        if self.closed.get() {
            return Err(io::Error::other("the ringline runtime is shutting down"));
        }
        let task = self.tasks.insert(kind, future)?;
        let registered = match kind {
            TaskKind::Conn(conn) => Kind::Conn(conn.index),
            TaskKind::Standalone { counted: true } => Kind::Spawned,
            TaskKind::Standalone { counted: false } => Kind::OnStart,
        };
        self.stats
            .task_spawned(task.index, task.stats_id(), registered, site, name);
        self.schedule(task);
        Ok(task)
    }

    /// Cancels a task of this executor (see `TaskId::cancel`): dropped now,
    /// or right after its poll if it is the one running.
    pub(crate) fn cancel_task(&self, task: TaskRef) {
        if self.current_task.get() == Some(task) {
            self.tasks.mark_cancelled(task);
            return;
        }
        if let Some((kind, future)) = self.tasks.remove(task) {
            drop(future);
            self.task_ended(task, kind);
        }
    }

    /// What happens after any task ends (finished, cancelled or dropped).
    fn task_ended(&self, task: TaskRef, kind: TaskKind) {
        self.stats.task_ended(task.index);
        if let TaskKind::Conn(conn) = kind {
            self.ended_conn_tasks.borrow_mut().push(conn);
        }
    }

    /// Takes the connections whose task ended since the last call.
    pub(crate) fn take_ended_conn_tasks(&self, out: &mut Vec<Key>) {
        out.append(&mut self.ended_conn_tasks.borrow_mut());
    }

    /// Polls the tasks that were ready at the start of this call, at most
    /// `budget` of them.
    pub(crate) fn run_ready(&self, budget: usize) {
        let budget = self.ready.borrow().len().min(budget);
        for _ in 0..budget {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            let Some(mut future) = self.tasks.begin_poll(task) else {
                continue;
            };
            let waker = task.waker();
            let mut cx = Context::from_waker(&waker);
            self.current_task.set(Some(task));
            self.stats.poll_started(task.index, task.stats_id());
            let poll = future.as_mut().poll(&mut cx);
            self.current_task.set(None);
            match poll {
                Poll::Ready(()) => {
                    self.stats.poll_ended();
                    drop(future);
                    if let Some(kind) = self.tasks.finish(task) {
                        self.task_ended(task, kind);
                    }
                }
                Poll::Pending => match self.tasks.end_poll(task, future) {
                    Ok(woken) => self.stats.poll_pending(task.index, woken),
                    Err(cancelled) => {
                        self.stats.poll_ended();
                        drop(cancelled);
                        if let Some(kind) = self.tasks.finish(task) {
                            self.task_ended(task, kind);
                        }
                    }
                },
            }
        }
    }

    /// Shutdown: refuses new tasks, then drops every task (dropping one
    /// may drop futures holding other tasks' handles: loops until none is
    /// left) and empties the ready queue.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        loop {
            let live = self.tasks.live();
            if live.is_empty() {
                break;
            }
            for task in live {
                if let Some((kind, future)) = self.tasks.remove(task) {
                    drop(future);
                    self.task_ended(task, kind);
                }
            }
        }
        self.ready.borrow_mut().clear();
    }

    /// Empties the ready queue (at exit).
    pub(crate) fn clear_ready(&self) {
        self.ready.borrow_mut().clear();
    }
}
