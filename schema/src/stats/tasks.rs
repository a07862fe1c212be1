//! Causal debugging data: every task of a worker with where it was spawned,
//! where it waits and on what, a verdict on why it has not moved, and every
//! connection with who serves it. Read over the inspect socket (`tasks`,
//! `connections`) or in-process; the runtime fills these in from its task
//! and connection registries.

use serde::{Deserialize, Serialize};

/// A place in the program's source, as `#[track_caller]` saw it: the
/// user's own call of a ringline function, never a line inside ringline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Site {
    /// Source file, as the compiler named it (relative to the crate's
    /// workspace, or absolute for files outside it).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What a task is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskKind {
    /// The `on_accept` task of a connection.
    Connection {
        /// The connection's slot index on its worker.
        connection: u32,
    },
    /// The handler's `on_start` task.
    OnStart,
    /// A task from `spawn` or `spawn_with_handle`.
    Spawned,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Being polled now.
    Running,
    /// Woken, waiting in the ready queue for its poll.
    Scheduled,
    /// Returned `Pending` and was not woken since.
    Idle,
}

impl TaskState {
    /// The name used on the wire and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
        }
    }
}

/// What a task's last poll registered a wait on (the wait of its most
/// recent `Pending`); ringline knows of these only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum WaitTarget {
    /// Nothing ringline registered: the task waits on a future woken from
    /// outside the runtime (or was never woken again).
    #[default]
    Nothing,
    /// Bytes (or EOF) on a connection: `with_data`, `with_bytes`,
    /// `recv_ready`.
    Recv {
        /// The connection's slot index.
        connection: u32,
    },
    /// Its bytes being handed to the kernel: a `send` future.
    Send {
        /// The connection's slot index.
        connection: u32,
    },
    /// A datagram on a UDP socket.
    UdpRecv {
        /// The socket's index in `Config::udp_bind`.
        socket: u32,
    },
    /// A kernel op of its own (connect, every `fs` call): see the `ops`
    /// answer for it.
    Op {
        /// The op's name (`connect`, `fs_read`, …).
        op: String,
    },
    /// A timer (`sleep`, `timeout`, `sleep_until`).
    Timer {
        /// Time left until it fires, in nanoseconds (negative: overdue).
        fires_in_ns: i64,
    },
    /// A message on a ringline channel (`mpsc` or `oneshot` receive).
    ChannelRecv {
        /// The channel's id (unique within its worker).
        channel: u64,
        /// The tasks that last used its sending side (created, cloned or
        /// sent on it), which are what it waits for.
        senders: Vec<u64>,
    },
    /// Room on a full `mpsc` channel.
    ChannelSend {
        /// The channel's id (unique within its worker).
        channel: u64,
        /// The task that last used its receiving side.
        receiver: Option<u64>,
    },
    /// The end of another task (a `JoinHandle`).
    Join {
        /// The joined task's id.
        task: u64,
    },
    /// A blocking-pool job or a name lookup.
    Pool,
}

/// Why a task (or an op) has not moved, judged when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Machine-readable kind (see [`VerdictKind`]).
    pub kind: VerdictKind,
    /// One line for a human, naming the other side.
    pub message: String,
    /// Tasks the verdict names: the task the worker is busy polling, the
    /// tasks holding the other side, or the members of a cycle in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<u64>,
}

/// The kinds of [`Verdict`]; a bounded set, used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// Being polled.
    Running,
    /// Its op is in the kernel with no completion yet.
    InKernel,
    /// The kernel may have completed its op, but the worker has not reaped
    /// completions for a while (it is busy polling another task).
    CompletedNotWoken,
    /// Woken but not polled for a while; the worker is busy elsewhere.
    WokenNotPolled,
    /// Waiting on a connection (bytes to arrive, or to be sent).
    WaitingOnConnection,
    /// Waiting on a ringline channel; the other side is named.
    WaitingOnChannel,
    /// Waiting for another task to end.
    WaitingOnJoin,
    /// Waiting on a timer.
    WaitingOnTimer,
    /// Waiting on a blocking-pool job or a name lookup.
    WaitingOnPool,
    /// Idle with no wait ringline knows of: a future woken from outside
    /// the runtime, or a lost wake-up.
    IdleOnUnknown,
    /// Part of a cycle of tasks each waiting on the next (channels or join
    /// handles): a deadlock.
    Deadlock,
}

impl VerdictKind {
    /// Every kind, for bounded metric labels.
    pub const ALL: [VerdictKind; 11] = [
        VerdictKind::Running,
        VerdictKind::InKernel,
        VerdictKind::CompletedNotWoken,
        VerdictKind::WokenNotPolled,
        VerdictKind::WaitingOnConnection,
        VerdictKind::WaitingOnChannel,
        VerdictKind::WaitingOnJoin,
        VerdictKind::WaitingOnTimer,
        VerdictKind::WaitingOnPool,
        VerdictKind::IdleOnUnknown,
        VerdictKind::Deadlock,
    ];

    /// The name used on the wire and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Running => "running",
            VerdictKind::InKernel => "in_kernel",
            VerdictKind::CompletedNotWoken => "completed_not_woken",
            VerdictKind::WokenNotPolled => "woken_not_polled",
            VerdictKind::WaitingOnConnection => "waiting_on_connection",
            VerdictKind::WaitingOnChannel => "waiting_on_channel",
            VerdictKind::WaitingOnJoin => "waiting_on_join",
            VerdictKind::WaitingOnTimer => "waiting_on_timer",
            VerdictKind::WaitingOnPool => "waiting_on_pool",
            VerdictKind::IdleOnUnknown => "idle_on_unknown",
            VerdictKind::Deadlock => "deadlock",
        }
    }
}

/// One task, from its worker's task registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Runtime id.
    pub runtime: u64,
    /// Worker index.
    pub worker: usize,
    /// The task's id (`TaskId::as_u64`; the op registry's `task`).
    pub id: u64,
    /// What it is.
    #[serde(flatten)]
    pub kind: TaskKind,
    /// Its name, if it was spawned with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it was spawned: the user's `spawn` call, or the handler's
    /// method for `on_accept`/`on_start` tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_site: Option<Site>,
    /// Where it is.
    pub state: TaskState,
    /// For how long it has been in that state, in nanoseconds.
    pub state_for_ns: u64,
    /// Polls so far.
    pub polls: u64,
    /// Time spent being polled, in nanoseconds.
    pub busy_ns: u64,
    /// Wakes (each one that queued it, and the ones while queued).
    pub wakes: u64,
    /// Of those, wakes from within its own poll.
    pub self_wakes: u64,
    /// The user-code call its last `Pending` waits in (`send`,
    /// `with_data`, `sleep`, an `fs` call, a channel `recv`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_site: Option<Site>,
    /// What that wait is on.
    #[serde(default)]
    pub waiting_on: WaitTarget,
    /// Why it has not moved.
    pub verdict: Verdict,
}

/// One connection, from its worker's connection registry (as of the
/// worker's last stats publish).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// Runtime id.
    pub runtime: u64,
    /// Worker index.
    pub worker: usize,
    /// Slot index on its worker (the ops' and tasks' `connection`).
    pub index: u32,
    /// Peer address (`ip:port`, or `unix`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Opened by `connect` rather than accepted.
    pub outbound: bool,
    /// Time since it was accepted or connected, in nanoseconds.
    pub age_ns: u64,
    /// Bytes received so far.
    pub bytes_in: u64,
    /// Bytes handed to the kernel so far.
    pub bytes_out: u64,
    /// Received bytes the handler has not consumed yet.
    pub buffered_bytes: u64,
    /// Bytes queued to send, not yet handed to the kernel.
    pub queued_bytes: u64,
    /// Receiving is paused: the handler holds `recv_buffer_limit` bytes.
    pub recv_paused: bool,
    /// Closing (queued bytes drain first), or closed and waiting for its
    /// last completions.
    pub closing: bool,
    /// Kernel ops in flight on it (receive, send, shutdown, close).
    pub ops_in_flight: u32,
    /// The task serving it (`on_accept`'s), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<u64>,
    /// That task's state, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_state: Option<TaskState>,
}
