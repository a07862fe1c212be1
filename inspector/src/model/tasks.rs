//! Tasks and connections, from the answers to the inspect `tasks`,
//! `connections` and `ops` requests (asked on the side of the snapshot
//! stream, only while a view shows them): their texts, the stuck-task rule,
//! and the links Enter follows — from a task to the op, connection or task
//! it waits on, from a connection to its task, from a stuck op to the task
//! waiting on it.

use std::time::Duration;

use ringline_schema::stats::{
    ConnectionInfo, InFlightOp, Site, TaskInfo, TaskKind, TaskState, VerdictKind, WaitTarget,
};

use super::rows::WorkerId;
use super::units;

/// What a view shows instead of tasks or connections when the process
/// speaks only inspect protocol 1.
pub const NEEDS_NEWER: &str = "needs a newer ringline: this process speaks inspect protocol 1 (tasks and connections came with 2)";

/// Most tasks asked for while the Tasks or Stuck view is shown (the
/// longest idle first).
pub const TASK_LIMIT: usize = 1_000;
/// Most connections asked for while the Connections view is shown (the
/// oldest first).
pub const CONNECTION_LIMIT: usize = 1_000;
/// Most stuck ops asked for (their await sites and verdicts) while the
/// Stuck view is shown.
pub const OPS_LIMIT: usize = 200;

/// An answer fetched beside the snapshot stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched<T> {
    /// Not asked yet (since attaching).
    Pending,
    /// The process speaks an inspect protocol without this request.
    Unsupported,
    /// The request failed, for this reason.
    Failed(String),
    /// The answer.
    Ready(T),
}

impl<T> Fetched<T> {
    /// The answer, if one arrived.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Fetched::Ready(v) => Some(v),
            _ => None,
        }
    }
}

/// The side requests the shown view needs, asked at the refresh rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `tasks`, with this minimum idle time.
    pub tasks: Option<Duration>,
    /// `connections`.
    pub connections: bool,
    /// `ops` (for await sites and verdicts), with this minimum age.
    pub ops: Option<Duration>,
}

impl Needs {
    /// True when anything is needed.
    pub fn any(&self) -> bool {
        self.tasks.is_some() || self.connections || self.ops.is_some()
    }
}

/// A task, by runtime and task id (unique within a runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskKey {
    /// Runtime id.
    pub runtime: u64,
    /// Task id.
    pub id: u64,
}

impl TaskKey {
    /// The key of `t`.
    pub fn of(t: &TaskInfo) -> TaskKey {
        TaskKey {
            runtime: t.runtime,
            id: t.id,
        }
    }
}

/// A connection, by runtime, worker and slot index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Runtime id.
    pub runtime: u64,
    /// Worker index.
    pub worker: usize,
    /// Slot index on that worker.
    pub index: u32,
}

impl ConnKey {
    /// The key of `c`.
    pub fn of(c: &ConnectionInfo) -> ConnKey {
        ConnKey {
            runtime: c.runtime,
            worker: c.worker,
            index: c.index,
        }
    }
}

/// An in-flight op, by where it runs, its kind and the task that
/// submitted it (a task waits on one op at a time).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpKey {
    /// Runtime id.
    pub runtime: u64,
    /// Worker index.
    pub worker: usize,
    /// Op name.
    pub op: String,
    /// The submitting task.
    pub task: Option<u64>,
}

impl OpKey {
    /// The key of `op`.
    pub fn of(op: &InFlightOp) -> OpKey {
        OpKey {
            runtime: op.runtime,
            worker: op.worker,
            op: op.op.clone(),
            task: op.task,
        }
    }
}

/// Where Enter on a row leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A task (Tasks view).
    Task(TaskKey),
    /// A connection (Connections view).
    Conn(ConnKey),
    /// An op in flight (Stuck view when it is stuck, else its kind in the
    /// Ops view).
    Op(OpKey),
    /// A worker (Worker view).
    Worker(WorkerId),
}

/// `conn 7`, `on_start`, `spawned`.
pub fn kind_text(kind: &TaskKind) -> String {
    match kind {
        TaskKind::Connection { connection } => format!("conn {connection}"),
        TaskKind::OnStart => "on_start".to_owned(),
        TaskKind::Spawned => "spawned".to_owned(),
    }
}

/// `runtime/examples/demo.rs:52:25`, or `-`.
pub fn site_text(site: Option<&Site>) -> String {
    site.map_or_else(|| "-".to_owned(), Site::to_string)
}

/// `demo.rs:52` (file name and line), or `-`: for narrow columns.
pub fn short_site(site: Option<&Site>) -> String {
    site.map_or_else(
        || "-".to_owned(),
        |s| {
            let file = s.file.rsplit('/').next().unwrap_or(&s.file);
            format!("{file}:{}", s.line)
        },
    )
}

/// What a task waits on, in a few words: `op fs_read`, `recv conn 3`,
/// `timer in 1.00s`, `channel 4 (senders 5, 6)`, `join task 9`, `-`.
pub fn wait_text(w: &WaitTarget) -> String {
    let list = |ids: &[u64]| {
        ids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match w {
        WaitTarget::Nothing => "-".to_owned(),
        WaitTarget::Recv { connection } => format!("recv conn {connection}"),
        WaitTarget::Send { connection } => format!("send conn {connection}"),
        WaitTarget::UdpRecv { socket } => format!("udp socket {socket}"),
        WaitTarget::Op { op } => format!("op {op}"),
        WaitTarget::Timer { fires_in_ns } => {
            let ns = fires_in_ns.unsigned_abs();
            if *fires_in_ns >= 0 {
                format!("timer in {}", units::duration_ns(ns))
            } else {
                format!("timer overdue {}", units::duration_ns(ns))
            }
        }
        WaitTarget::ChannelRecv { channel, senders } if senders.is_empty() => {
            format!("channel {channel}")
        }
        WaitTarget::ChannelRecv { channel, senders } => {
            format!("channel {channel} (senders {})", list(senders))
        }
        WaitTarget::ChannelSend { channel, receiver } => match receiver {
            Some(r) => format!("room on channel {channel} (receiver {r})"),
            None => format!("room on channel {channel}"),
        },
        WaitTarget::Join { task } => format!("join task {task}"),
        WaitTarget::Pool => "pool".to_owned(),
    }
}

/// The state and for how long: `idle 37.0s`, `sched 2.00ms`, `run 5.00µs`.
pub fn state_text(state: TaskState, for_ns: u64) -> String {
    let s = match state {
        TaskState::Running => "run",
        TaskState::Scheduled => "sched",
        TaskState::Idle => "idle",
    };
    format!("{s} {}", units::duration_ns(for_ns))
}

/// `task 5 "stuck_read"`, or `task 5`.
pub fn task_label(t: &TaskInfo) -> String {
    match &t.name {
        Some(n) => format!("task {} \"{n}\"", t.id),
        None => format!("task {}", t.id),
    }
}

/// The text the filter searches in a task: id, name, kind, sites, what it
/// waits on, the verdict, and `state:<state>`, `verdict:<kind>`,
/// `worker <n>` tokens to filter by them.
pub fn task_text(t: &TaskInfo) -> String {
    format!(
        "task {} {} {} worker {} state:{} verdict:{} spawned {} await {} {} {}",
        t.id,
        t.name.as_deref().unwrap_or(""),
        kind_text(&t.kind),
        t.worker,
        t.state.name(),
        t.verdict.kind.name(),
        site_text(t.spawn_site.as_ref()),
        site_text(t.await_site.as_ref()),
        wait_text(&t.waiting_on),
        t.verdict.message
    )
}

/// `paused`, `closing`, both, or nothing.
pub fn conn_flags(c: &ConnectionInfo) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if c.recv_paused {
        flags.push("paused");
    }
    if c.closing {
        flags.push("closing");
    }
    flags
}

/// The text the filter searches in a connection: index, peer, direction,
/// flags, its task and `state:<task state>`.
pub fn conn_text(c: &ConnectionInfo) -> String {
    format!(
        "conn #{} {} {} worker {} {} task {} state:{}",
        c.index,
        c.peer.as_deref().unwrap_or(""),
        if c.outbound { "out" } else { "in" },
        c.worker,
        conn_flags(c).join(" "),
        c.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
        c.task_state.map_or("-", TaskState::name)
    )
}

/// How alarming a verdict is: 0 first. Deadlocks, lost wake-ups and a
/// busy worker starving its tasks before waits on something that may
/// still come.
pub fn severity(kind: VerdictKind) -> u8 {
    match kind {
        VerdictKind::Deadlock => 0,
        VerdictKind::WokenNotPolled => 1,
        VerdictKind::CompletedNotWoken => 2,
        VerdictKind::IdleOnUnknown => 3,
        VerdictKind::InKernel => 4,
        VerdictKind::WaitingOnChannel => 5,
        VerdictKind::WaitingOnJoin => 6,
        VerdictKind::WaitingOnPool => 7,
        VerdictKind::WaitingOnConnection => 8,
        VerdictKind::WaitingOnTimer => 9,
        VerdictKind::Running => 10,
    }
}

/// A stuck task: not running, in its state for at least `threshold`, with
/// a verdict other than a wait that is normal however long it lasts —
/// a timer (it fires when due) or a quiet peer (a receive). A send that
/// does not drain does count.
pub fn is_stuck(t: &TaskInfo, threshold: Duration) -> bool {
    let min = threshold.as_nanos().min(u128::from(u64::MAX)) as u64;
    if t.state == TaskState::Running || t.state_for_ns < min {
        return false;
    }
    match t.verdict.kind {
        VerdictKind::Running | VerdictKind::WaitingOnTimer => false,
        VerdictKind::WaitingOnConnection => !matches!(
            t.waiting_on,
            WaitTarget::Recv { .. } | WaitTarget::UdpRecv { .. }
        ),
        _ => true,
    }
}

/// The stuck tasks of `tasks`, the most alarming verdict first, then the
/// longest in its state.
pub fn stuck_tasks(tasks: &[TaskInfo], threshold: Duration) -> Vec<TaskInfo> {
    let mut out: Vec<TaskInfo> = tasks
        .iter()
        .filter(|t| is_stuck(t, threshold))
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        severity(a.verdict.kind)
            .cmp(&severity(b.verdict.kind))
            .then(b.state_for_ns.cmp(&a.state_for_ns))
            .then((a.runtime, a.id).cmp(&(b.runtime, b.id)))
    });
    out
}

/// Fills in the await site and verdict of each of `ops` (from a snapshot,
/// which leaves them out) from the `ops` answer's entry for the same op.
pub fn explain(ops: &mut [InFlightOp], explained: &[InFlightOp]) {
    for op in ops.iter_mut() {
        if let Some(e) = explained.iter().find(|e| {
            e.runtime == op.runtime
                && e.worker == op.worker
                && e.op == op.op
                && e.task == op.task
                && e.target == op.target
        }) {
            op.await_site = e.await_site.clone();
            op.verdict = e.verdict.clone();
        }
    }
}

/// Where Enter leads from task `t`: to what it waits on — its op, its
/// connection, the task it joins or the other side of its channel — else
/// to a task its verdict names, else to its own connection.
pub fn task_link(t: &TaskInfo) -> Option<Link> {
    let task = |id: u64| {
        Link::Task(TaskKey {
            runtime: t.runtime,
            id,
        })
    };
    let conn = |index: u32| {
        Link::Conn(ConnKey {
            runtime: t.runtime,
            worker: t.worker,
            index,
        })
    };
    let other = |ids: &[u64]| ids.iter().copied().find(|&i| i != t.id).map(task);
    let direct = match &t.waiting_on {
        WaitTarget::Op { op } => Some(Link::Op(OpKey {
            runtime: t.runtime,
            worker: t.worker,
            op: op.clone(),
            task: Some(t.id),
        })),
        WaitTarget::Recv { connection } | WaitTarget::Send { connection } => {
            Some(conn(*connection))
        }
        WaitTarget::Join { task: j } if *j != t.id => Some(task(*j)),
        WaitTarget::ChannelRecv { senders, .. } => other(senders),
        WaitTarget::ChannelSend {
            receiver: Some(r), ..
        } if *r != t.id => Some(task(*r)),
        _ => None,
    };
    direct.or_else(|| other(&t.verdict.tasks)).or(match t.kind {
        TaskKind::Connection { connection } => Some(conn(connection)),
        _ => None,
    })
}

/// Where Enter leads from a stuck op: the task its verdict names first
/// (the one waiting on it), else the task that submitted it, else its
/// worker.
pub fn op_link(op: &InFlightOp) -> Link {
    let id = op
        .verdict
        .as_ref()
        .and_then(|v| v.tasks.first().copied())
        .or(op.task);
    match id {
        Some(id) => Link::Task(TaskKey {
            runtime: op.runtime,
            id,
        }),
        None => Link::Worker(WorkerId {
            runtime: op.runtime,
            worker: op.worker,
        }),
    }
}

/// Where Enter leads from a connection: the task serving it.
pub fn conn_link(c: &ConnectionInfo) -> Option<Link> {
    c.task.map(|id| {
        Link::Task(TaskKey {
            runtime: c.runtime,
            id,
        })
    })
}
