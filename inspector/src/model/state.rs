//! The TUI's state and its transitions: which process, the kept
//! snapshots, the view state, and what keys ([`Action`]) and the socket
//! ([`Event`]) do to it. Derived rows and alerts are computed on demand
//! from the kept snapshots.

use std::collections::VecDeque;
use std::time::Duration;

use ringline_schema::inspect::wire::Hello;
use ringline_schema::stats::{ConnectionInfo, InFlightOp, Snapshot, TaskInfo};

use super::alerts::{self, Alert, Thresholds};
use super::rows::{self, OpRow, OpScope, SlabRow, Window, WorkerId, WorkerRow};
use super::table::{self, SortBy};
use super::tasks::{self, ConnKey, Fetched, Link, Needs, OpKey, TaskKey};
use super::timeline::{DiffPanel, Seek, Timeline};
use crate::kernel::KernelView;

/// Snapshots kept: the window of latency quantiles and of the graveyard
/// trend. Ten at the default 1 s interval smooths one slow second without
/// hiding a change for long.
pub const HISTORY: usize = 10;

/// The stuck-threshold steps `+` and `-` move between.
pub const THRESHOLD_STEPS_MS: [u64; 10] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000,
];

/// Follow steps Esc can go back.
const BACK_DEPTH: usize = 32;

/// A screen of the TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One row per worker.
    Overview,
    /// One row per op kind, with a latency chart.
    Ops,
    /// One row per pool.
    Slabs,
    /// In-flight ops older than the threshold.
    Stuck,
    /// Everything about one worker.
    Worker,
    /// One row per task: state, wait, verdict.
    Tasks,
    /// One row per connection.
    Connections,
    /// The kernel's view from `/proc`: rings, threads, TCP queues.
    Kernel,
}

impl View {
    /// Every view, in tab order (keys `1`–`8`).
    pub const ALL: [View; 8] = [
        View::Overview,
        View::Ops,
        View::Slabs,
        View::Stuck,
        View::Worker,
        View::Tasks,
        View::Connections,
        View::Kernel,
    ];

    /// Its tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Ops => "Ops",
            View::Slabs => "Slabs",
            View::Stuck => "Stuck",
            View::Worker => "Worker",
            View::Tasks => "Tasks",
            View::Connections => "Conns",
            View::Kernel => "Kernel",
        }
    }

    /// Its position in [`View::ALL`].
    pub fn index(self) -> usize {
        View::ALL
            .iter()
            .position(|&v| v == self)
            .expect("every view is in ALL")
    }

    /// The sort keys `s` cycles through, the default first.
    pub fn sorts(self) -> &'static [SortBy] {
        match self {
            View::Overview => &[
                SortBy::Worker,
                SortBy::Busy,
                SortBy::Heartbeat,
                SortBy::Tasks,
                SortBy::InFlight,
                SortBy::P99,
            ],
            View::Ops | View::Worker => {
                &[SortBy::Rate, SortBy::Name, SortBy::InFlight, SortBy::P99]
            }
            View::Slabs => &[SortBy::Usage, SortBy::Name, SortBy::Worker],
            View::Stuck => &[SortBy::Age, SortBy::Worker, SortBy::Name],
            View::Tasks => &[
                SortBy::Idle,
                SortBy::Busy,
                SortBy::Polls,
                SortBy::Wakes,
                SortBy::Worker,
                SortBy::Name,
            ],
            View::Connections => &[
                SortBy::Age,
                SortBy::BytesIn,
                SortBy::BytesOut,
                SortBy::Buffered,
                SortBy::Queued,
                SortBy::Worker,
            ],
            View::Kernel => &[SortBy::Name],
        }
    }
}

/// What the user asked for (from the key table in `input.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave.
    Quit,
    /// The next view.
    NextView,
    /// The previous view.
    PrevView,
    /// A given view.
    Show(View),
    /// Select the row above (in Worker: the previous worker).
    Up,
    /// Select the row below (in Worker: the next worker).
    Down,
    /// Follow the selected row: to its worker, task, op or connection.
    Open,
    /// The next sort key of this view.
    CycleSort,
    /// Start typing a filter.
    StartFilter,
    /// A character typed into the filter.
    FilterChar(char),
    /// Delete the filter's last character.
    FilterBackspace,
    /// Stop typing, keep the filter.
    FilterDone,
    /// Stop typing, clear the filter.
    FilterCancel,
    /// A longer stuck threshold.
    ThresholdUp,
    /// A shorter stuck threshold.
    ThresholdDown,
    /// Freeze or unfreeze the display.
    TogglePause,
    /// Show or hide the help screen.
    ToggleHelp,
    /// Close help, else close the replay's diff, else clear the filter,
    /// else go back where the last Enter came from, else leave the Worker
    /// view.
    Back,
    /// Replay only: move along the recording.
    Seek(Seek),
    /// Replay only: the current frame becomes the diff base.
    MarkDiffBase,
}

/// What the inspect socket reported (from the feed thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// (Re-)attached: the process's `hello`.
    Attached(Box<Hello>),
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// The answer to `tasks`.
    Tasks(Fetched<Vec<TaskInfo>>),
    /// The answer to `connections`.
    Connections(Fetched<Vec<ConnectionInfo>>),
    /// The answer to `ops` (with await sites and verdicts).
    Ops(Fetched<Vec<InFlightOp>>),
    /// The connection is gone or could not be made; retrying.
    Disconnected(String),
    /// Replay: a new position in the recording. Forgets the kept
    /// snapshots: the snapshots that follow are the frames up to it.
    Seeked(Box<Timeline>),
    /// Replay: the diff of the current frame against the marked base
    /// (`None`: no base).
    Diff(Option<Box<DiffPanel>>),
    /// The kernel's view of the process (from the kernel-view thread).
    Kernel(Result<Box<KernelView>, String>),
}

/// What the app loop must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Keep running (redraw).
    Continue,
    /// Restore the terminal and exit.
    Quit,
    /// Replay: move along the recording.
    Seek(Seek),
    /// Replay: mark the current frame as the diff base (`true`) or forget
    /// the base (`false`).
    DiffBase(bool),
}

/// The state of the link to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not attached yet.
    Attaching,
    /// Receiving snapshots.
    Connected,
    /// Lost (or never made); re-attaching.
    Disconnected {
        /// Why, as the client reported it.
        reason: String,
    },
}

/// Everything the TUI shows.
#[derive(Debug, Clone)]
pub struct Model {
    /// What we attach to, for the header (`pid 4242`, a socket path).
    pub target: String,
    /// Refresh interval asked of the server.
    pub interval: Duration,
    /// The target's `hello`, once attached.
    pub hello: Option<Hello>,
    /// The link's state.
    pub connection: Connection,
    history: VecDeque<Snapshot>,
    /// The view shown.
    pub view: View,
    selected: [usize; View::ALL.len()],
    sort: [usize; View::ALL.len()],
    /// The `/` filter.
    pub filter: String,
    /// True while the filter is being typed.
    pub editing_filter: bool,
    /// The alert thresholds; `stuck_after` is the Stuck view's threshold.
    pub thresholds: Thresholds,
    /// True while snapshots are ignored.
    pub paused: bool,
    /// True while the help screen is shown.
    pub help: bool,
    focus: Option<WorkerId>,
    /// The last `tasks` answer.
    pub tasks: Fetched<Vec<TaskInfo>>,
    /// The last `connections` answer.
    pub connections: Fetched<Vec<ConnectionInfo>>,
    /// The last `ops` answer (await sites and verdicts of stuck ops).
    pub explained_ops: Fetched<Vec<InFlightOp>>,
    /// The selected row of each view by identity, where rows have one: the
    /// selection stays on its task, connection or op while rows move.
    keys: [Option<RowKey>; View::ALL.len()],
    /// Where Esc goes back to, the latest last.
    back: Vec<Place>,
    /// Replaying a recording: where in it (`None` when live).
    pub replay: Option<Timeline>,
    /// Replay: the diff against the marked base, while one is marked.
    pub diff: Option<DiffPanel>,
    /// The last kernel view read (or why it could not be).
    pub kernel: Option<Result<Box<KernelView>, String>>,
}

/// A row of the Tasks, Connections or Stuck view, by identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    /// A task.
    Task(TaskKey),
    /// A connection.
    Conn(ConnKey),
    /// An op in flight.
    Op(OpKey),
}

/// A view and its selection, to go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    view: View,
    selected: usize,
    key: Option<RowKey>,
    focus: Option<WorkerId>,
    filter: String,
}

impl StuckRow {
    /// Its identity.
    pub fn key(&self) -> RowKey {
        match self {
            StuckRow::Op(op) => RowKey::Op(OpKey::of(op)),
            StuckRow::Task(t) => RowKey::Task(TaskKey::of(t)),
        }
    }
}

/// A row of the Stuck view: a stuck op (listed first) or a stuck task.
#[derive(Debug, Clone, PartialEq)]
pub enum StuckRow {
    /// An op in flight for at least the threshold.
    Op(InFlightOp),
    /// A task stuck for at least the threshold.
    Task(TaskInfo),
}

impl Model {
    /// A model not yet attached to `target`.
    pub fn new(target: impl Into<String>, interval: Duration, stuck_after: Duration) -> Model {
        Model {
            target: target.into(),
            interval,
            hello: None,
            connection: Connection::Attaching,
            history: VecDeque::with_capacity(HISTORY),
            view: View::Overview,
            selected: [0; View::ALL.len()],
            sort: [0; View::ALL.len()],
            filter: String::new(),
            editing_filter: false,
            thresholds: Thresholds {
                stuck_after,
                ..Thresholds::default()
            },
            paused: false,
            help: false,
            focus: None,
            tasks: Fetched::Pending,
            connections: Fetched::Pending,
            explained_ops: Fetched::Pending,
            keys: Default::default(),
            back: Vec::new(),
            replay: None,
            diff: None,
            kernel: None,
        }
    }

    /// Takes in what the socket reported.
    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Attached(hello) => {
                if self.hello.as_ref().is_some_and(|h| h.pid != hello.pid) {
                    // A different process: its counters are no base for ours.
                    self.history.clear();
                    self.focus = None;
                    self.tasks = Fetched::Pending;
                    self.connections = Fetched::Pending;
                    self.explained_ops = Fetched::Pending;
                }
                self.hello = Some(*hello);
                self.connection = Connection::Connected;
            }
            Event::Snapshot(snapshot) => {
                self.connection = Connection::Connected;
                if self.paused {
                    return;
                }
                if self.history.len() == HISTORY {
                    self.history.pop_front();
                }
                self.history.push_back(*snapshot);
            }
            Event::Tasks(t) if !self.paused => self.tasks = t,
            Event::Connections(c) if !self.paused => self.connections = c,
            Event::Ops(o) if !self.paused => self.explained_ops = o,
            Event::Tasks(_) | Event::Connections(_) | Event::Ops(_) => {}
            Event::Disconnected(reason) => {
                self.connection = Connection::Disconnected { reason };
            }
            Event::Seeked(timeline) => {
                self.history.clear();
                self.replay = Some(*timeline);
            }
            Event::Diff(diff) => self.diff = diff.map(|d| *d),
            Event::Kernel(k) if !self.paused => self.kernel = Some(k),
            Event::Kernel(_) => {}
        }
    }

    /// The side requests the shown view needs (none while paused or on
    /// the help screen).
    pub fn needs(&self) -> Needs {
        if self.paused || self.help || self.replay.is_some() {
            return Needs::default();
        }
        let threshold = self.thresholds.stuck_after;
        match self.view {
            View::Tasks => Needs {
                tasks: Some(Duration::ZERO),
                ..Needs::default()
            },
            View::Connections => Needs {
                connections: true,
                ..Needs::default()
            },
            View::Stuck => Needs {
                tasks: Some(threshold),
                ops: Some(threshold),
                connections: false,
            },
            _ => Needs::default(),
        }
    }

    /// True when no agent answers: nothing received and the link is down.
    /// The screen then shows the kernel view in place of the others.
    pub fn agent_missing(&self) -> bool {
        self.latest().is_none() && matches!(self.connection, Connection::Disconnected { .. })
    }

    /// Whether the kernel view must be read: shown, or standing in for a
    /// missing agent (not while paused or on the help screen).
    pub fn wants_kernel(&self) -> bool {
        !self.paused && !self.help && (self.view == View::Kernel || self.agent_missing())
    }

    /// Performs a user action.
    pub fn update(&mut self, action: Action) -> Effect {
        let v = self.view.index();
        match action {
            Action::Quit => return Effect::Quit,
            Action::NextView => self.switch(View::ALL[(v + 1) % View::ALL.len()]),
            Action::PrevView => {
                self.switch(View::ALL[(v + View::ALL.len() - 1) % View::ALL.len()]);
            }
            Action::Show(view) => self.switch(view),
            Action::Up | Action::Down if self.view == View::Worker => {
                self.step_focus(action == Action::Down);
            }
            Action::Up => self.select(self.view, self.selected(self.view).saturating_sub(1)),
            Action::Down => {
                let last = self.row_count(self.view).saturating_sub(1);
                self.select(self.view, (self.selected(self.view) + 1).min(last));
            }
            Action::Open => {
                if let Some(link) = self.link() {
                    self.follow(link);
                }
            }
            Action::CycleSort => self.sort[v] = (self.sort[v] + 1) % self.view.sorts().len(),
            Action::StartFilter => self.editing_filter = true,
            Action::FilterChar(c) => self.filter.push(c),
            Action::FilterBackspace => {
                self.filter.pop();
            }
            Action::FilterDone => self.editing_filter = false,
            Action::FilterCancel => {
                self.editing_filter = false;
                self.filter.clear();
            }
            Action::ThresholdUp | Action::ThresholdDown => {
                self.step_threshold(action == Action::ThresholdUp);
            }
            // Nothing to pause in a recording.
            Action::TogglePause if self.replay.is_some() => {}
            Action::TogglePause => self.paused = !self.paused,
            Action::ToggleHelp => self.help = !self.help,
            // Keys of the replay do nothing live.
            Action::Seek(seek) if self.replay.is_some() => return Effect::Seek(seek),
            Action::MarkDiffBase if self.replay.is_some() => return Effect::DiffBase(true),
            Action::Seek(_) | Action::MarkDiffBase => {}
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.diff.is_some() {
                    self.diff = None;
                    return Effect::DiffBase(false);
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                } else if let Some(place) = self.back.pop() {
                    let v = place.view.index();
                    self.view = place.view;
                    self.filter = place.filter;
                    self.selected[v] = place.selected;
                    self.keys[v] = place.key;
                    if place.focus.is_some() {
                        self.focus = place.focus;
                    }
                } else if self.view == View::Worker {
                    self.view = View::Overview;
                }
            }
        }
        Effect::Continue
    }

    /// Shows `view` as the user asked: the way back is forgotten.
    fn switch(&mut self, view: View) {
        self.view = view;
        self.back.clear();
    }

    /// Selects row `i` of `view` (and remembers which row it is).
    fn select(&mut self, view: View, i: usize) {
        self.selected[view.index()] = i;
        self.keys[view.index()] = self.key_at(view, i);
    }

    /// The identity of row `i` of `view`, where its rows have one.
    fn key_at(&self, view: View, i: usize) -> Option<RowKey> {
        match view {
            View::Tasks => self
                .task_rows()
                .get(i)
                .map(|t| RowKey::Task(TaskKey::of(t))),
            View::Connections => self
                .conn_rows()
                .get(i)
                .map(|c| RowKey::Conn(ConnKey::of(c))),
            View::Stuck => self.stuck_view_rows().get(i).map(StuckRow::key),
            _ => None,
        }
    }

    /// Where row `key` is in `view`'s rows now.
    fn position(&self, view: View, key: &RowKey) -> Option<usize> {
        match (view, key) {
            (View::Tasks, RowKey::Task(k)) => {
                self.task_rows().iter().position(|t| TaskKey::of(t) == *k)
            }
            (View::Connections, RowKey::Conn(k)) => {
                self.conn_rows().iter().position(|c| ConnKey::of(c) == *k)
            }
            (View::Stuck, k) => self.stuck_view_rows().iter().position(|r| r.key() == *k),
            _ => None,
        }
    }

    /// Where Enter on the selected row leads.
    fn link(&self) -> Option<Link> {
        let sel = self.selected(self.view);
        match self.view {
            View::Overview => self.worker_rows().get(sel).map(|r| Link::Worker(r.id)),
            View::Slabs => self
                .slab_rows()
                .get(sel)
                .and_then(|r| r.worker)
                .map(Link::Worker),
            View::Stuck => match self.stuck_view_rows().get(sel)? {
                // Without a task list (an older process) the op's worker is
                // the most there is to see.
                StuckRow::Op(op) if matches!(self.tasks, Fetched::Unsupported) => {
                    Some(Link::Worker(WorkerId {
                        runtime: op.runtime,
                        worker: op.worker,
                    }))
                }
                StuckRow::Op(op) => Some(tasks::op_link(op)),
                StuckRow::Task(t) => {
                    tasks::task_link(t).or_else(|| Some(Link::Task(TaskKey::of(t))))
                }
            },
            View::Tasks => self.task_rows().get(sel).and_then(tasks::task_link),
            View::Connections => self.conn_rows().get(sel).and_then(tasks::conn_link),
            View::Ops | View::Worker | View::Kernel => None,
        }
    }

    /// Goes where `link` leads, selecting its row, and remembers the way
    /// back. The filter is put aside (it would likely hide the row) and
    /// comes back with Esc.
    fn follow(&mut self, link: Link) {
        let v = self.view.index();
        let here = Place {
            view: self.view,
            selected: self.selected(self.view),
            key: self.keys[v].clone(),
            focus: self.focus,
            filter: std::mem::take(&mut self.filter),
        };
        let (view, key, index) = match link {
            Link::Worker(id) => {
                self.focus = Some(id);
                (View::Worker, None, None)
            }
            Link::Task(k) => (View::Tasks, Some(RowKey::Task(k)), None),
            Link::Conn(k) => (View::Connections, Some(RowKey::Conn(k)), None),
            Link::Op(k) => {
                let stuck = self
                    .stuck_view_rows()
                    .iter()
                    .position(|r| matches!(r, StuckRow::Op(op) if OpKey::of(op) == k));
                match stuck {
                    Some(i) => (View::Stuck, Some(RowKey::Op(k)), Some(i)),
                    // Not stuck: its kind in the Ops view.
                    None => {
                        let i = self
                            .op_rows()
                            .iter()
                            .position(|r| r.runtime == k.runtime && r.op == k.op);
                        (View::Ops, None, i)
                    }
                }
            }
        };
        if self.back.len() == BACK_DEPTH {
            self.back.remove(0);
        }
        self.back.push(here);
        self.view = view;
        self.keys[view.index()] = key;
        if let Some(i) = index {
            self.selected[view.index()] = i;
        }
    }

    /// The row `view` was sent to by Enter, while it is not among the
    /// view's rows (not fetched yet, finished, or beyond the limit).
    pub fn missing(&self, view: View) -> Option<&RowKey> {
        let key = self.keys[view.index()].as_ref()?;
        self.position(view, key).is_none().then_some(key)
    }

    /// Steps Esc can go back.
    pub fn back_depth(&self) -> usize {
        self.back.len()
    }

    fn step_threshold(&mut self, up: bool) {
        let now = self.thresholds.stuck_after.as_millis() as u64;
        let next = if up {
            THRESHOLD_STEPS_MS.iter().copied().find(|&s| s > now)
        } else {
            THRESHOLD_STEPS_MS.iter().rev().copied().find(|&s| s < now)
        };
        if let Some(ms) = next {
            self.thresholds.stuck_after = Duration::from_millis(ms);
        }
    }

    fn step_focus(&mut self, forward: bool) {
        let mut ids: Vec<WorkerId> = self.worker_rows_unfiltered().iter().map(|r| r.id).collect();
        ids.sort();
        let Some(current) = self.focused_worker() else {
            return;
        };
        let pos = ids.iter().position(|&i| i == current).unwrap_or(0);
        let next = if forward {
            (pos + 1).min(ids.len().saturating_sub(1))
        } else {
            pos.saturating_sub(1)
        };
        self.focus = ids.get(next).copied();
    }

    /// The newest snapshot, if any arrived.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.history.back()
    }

    /// Snapshots kept, oldest first.
    #[cfg(test)]
    pub fn history(&self) -> impl Iterator<Item = &Snapshot> {
        self.history.iter()
    }

    /// The window rows are derived from.
    pub fn window(&self) -> Option<Window<'_>> {
        let n = self.history.len();
        Some(Window {
            latest: self.history.back()?,
            prev: n.checked_sub(2).map(|i| &self.history[i]),
            first: (n > 1).then(|| &self.history[0]),
        })
    }

    /// The active sort key of `view`.
    pub fn sort_by(&self, view: View) -> SortBy {
        view.sorts()[self.sort[view.index()] % view.sorts().len()]
    }

    /// The selected row of `view`, within its rows: where its remembered
    /// row is now, else the same position.
    pub fn selected(&self, view: View) -> usize {
        if let Some(key) = &self.keys[view.index()]
            && let Some(i) = self.position(view, key)
        {
            return i;
        }
        self.selected[view.index()].min(self.row_count(view).saturating_sub(1))
    }

    fn row_count(&self, view: View) -> usize {
        match view {
            View::Overview => self.worker_rows().len(),
            View::Ops => self.op_rows().len(),
            View::Slabs => self.slab_rows().len(),
            View::Worker => self.worker_op_rows().len(),
            View::Tasks => self.task_rows().len(),
            View::Connections => self.conn_rows().len(),
            View::Stuck => self.stuck_view_rows().len(),
            View::Kernel => 0,
        }
    }

    fn worker_rows_unfiltered(&self) -> Vec<WorkerRow> {
        self.window().map(rows::worker_rows).unwrap_or_default()
    }

    /// Overview rows, filtered and sorted.
    pub fn worker_rows(&self) -> Vec<WorkerRow> {
        let mut rows = self.worker_rows_unfiltered();
        rows.retain(|r| table::matches(&self.filter, &table::worker_text(r)));
        table::sort_workers(&mut rows, self.sort_by(View::Overview));
        rows
    }

    /// Ops rows (kinds used at least once), filtered and sorted.
    pub fn op_rows(&self) -> Vec<OpRow> {
        let mut rows = self
            .window()
            .map(|w| rows::op_rows(w, OpScope::Runtimes))
            .unwrap_or_default();
        rows.retain(|r| !r.is_idle() && table::matches(&self.filter, &r.op));
        table::sort_ops(&mut rows, self.sort_by(View::Ops));
        rows
    }

    /// Pools, filtered and sorted.
    pub fn slab_rows(&self) -> Vec<SlabRow> {
        let mut rows = self.latest().map(rows::slab_rows).unwrap_or_default();
        rows.retain(|r| table::matches(&self.filter, &table::slab_text(r)));
        table::sort_slabs(&mut rows, self.sort_by(View::Slabs));
        rows
    }

    /// Ops in flight for at least the threshold, filtered and sorted
    /// (oldest first by default), with their await sites and verdicts
    /// when the `ops` answer has them.
    pub fn stuck_rows(&self) -> Vec<InFlightOp> {
        let mut rows = self
            .latest()
            .map(|s| s.stuck_ops(self.thresholds.stuck_after))
            .unwrap_or_default();
        if let Some(explained) = self.explained_ops.ready() {
            tasks::explain(&mut rows, explained);
        }
        rows.retain(|op| table::matches(&self.filter, &table::stuck_text(op)));
        table::sort_stuck(&mut rows, self.sort_by(View::Stuck));
        rows
    }

    /// Tasks stuck for at least the threshold (see [`tasks::is_stuck`]),
    /// filtered and sorted (the most alarming verdict first by default).
    pub fn stuck_task_rows(&self) -> Vec<TaskInfo> {
        let mut rows = self
            .tasks
            .ready()
            .map(|t| tasks::stuck_tasks(t, self.thresholds.stuck_after))
            .unwrap_or_default();
        rows.retain(|t| table::matches(&self.filter, &tasks::task_text(t)));
        table::sort_stuck_tasks(&mut rows, self.sort_by(View::Stuck));
        rows
    }

    /// The Stuck view's rows: stuck ops, then stuck tasks.
    pub fn stuck_view_rows(&self) -> Vec<StuckRow> {
        let ops = self.stuck_rows().into_iter().map(StuckRow::Op);
        ops.chain(self.stuck_task_rows().into_iter().map(StuckRow::Task))
            .collect()
    }

    /// Tasks view rows, filtered and sorted.
    pub fn task_rows(&self) -> Vec<TaskInfo> {
        let mut rows = self.tasks.ready().cloned().unwrap_or_default();
        rows.retain(|t| table::matches(&self.filter, &tasks::task_text(t)));
        table::sort_tasks(&mut rows, self.sort_by(View::Tasks));
        rows
    }

    /// Connections view rows, filtered and sorted.
    pub fn conn_rows(&self) -> Vec<ConnectionInfo> {
        let mut rows = self.connections.ready().cloned().unwrap_or_default();
        rows.retain(|c| table::matches(&self.filter, &tasks::conn_text(c)));
        table::sort_conns(&mut rows, self.sort_by(View::Connections));
        rows
    }

    /// The worker the Worker view shows: the one opened, else the first.
    pub fn focused_worker(&self) -> Option<WorkerId> {
        let latest = self.latest()?;
        if let Some(id) = self.focus
            && rows::find_worker(latest, id).is_some()
        {
            return Some(id);
        }
        let rt = latest.runtimes.first()?;
        Some(WorkerId {
            runtime: rt.id,
            worker: rt.workers.first()?.worker,
        })
    }

    /// The focused worker's ops (kinds used at least once), filtered and
    /// sorted.
    pub fn worker_op_rows(&self) -> Vec<OpRow> {
        let (Some(w), Some(id)) = (self.window(), self.focused_worker()) else {
            return Vec::new();
        };
        let mut rows = rows::op_rows(w, OpScope::Worker(id));
        rows.retain(|r| !r.is_idle() && table::matches(&self.filter, &r.op));
        table::sort_ops(&mut rows, self.sort_by(View::Worker));
        rows
    }

    /// Every alert firing now.
    pub fn alerts(&self) -> Vec<Alert> {
        let history: Vec<&Snapshot> = self.history.iter().collect();
        alerts::evaluate(&history, &self.thresholds)
    }
}
