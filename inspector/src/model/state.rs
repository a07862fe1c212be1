//! The TUI's state and its transitions: which process, the kept
//! snapshots, the view state, and what keys ([`Action`]) and the socket
//! ([`Event`]) do to it. Derived rows and alerts are computed on demand
//! from the kept snapshots.

use std::collections::VecDeque;
use std::time::Duration;

use ringline_schema::inspect::wire::Hello;
use ringline_schema::stats::{InFlightOp, Snapshot};

use super::alerts::{self, Alert, Thresholds};
use super::rows::{self, OpRow, OpScope, SlabRow, Window, WorkerId, WorkerRow};
use super::table::{self, SortBy};

/// Snapshots kept: the window of latency quantiles and of the graveyard
/// trend. Ten at the default 1 s interval smooths one slow second without
/// hiding a change for long.
pub const HISTORY: usize = 10;

/// The stuck-threshold steps `+` and `-` move between.
pub const THRESHOLD_STEPS_MS: [u64; 10] = [
    100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000,
];

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
}

impl View {
    /// Every view, in tab order (keys `1`–`5`).
    pub const ALL: [View; 5] = [
        View::Overview,
        View::Ops,
        View::Slabs,
        View::Stuck,
        View::Worker,
    ];

    /// Its tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Ops => "Ops",
            View::Slabs => "Slabs",
            View::Stuck => "Stuck",
            View::Worker => "Worker",
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
    /// Open the Worker view for the selected row's worker.
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
    /// Close help, else clear the filter, else leave the Worker view.
    Back,
}

/// What the inspect socket reported (from the feed thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// (Re-)attached: the process's `hello`.
    Attached(Box<Hello>),
    /// A new snapshot.
    Snapshot(Box<Snapshot>),
    /// The connection is gone or could not be made; retrying.
    Disconnected(String),
}

/// What the app loop must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Keep running (redraw).
    Continue,
    /// Restore the terminal and exit.
    Quit,
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
            Event::Disconnected(reason) => {
                self.connection = Connection::Disconnected { reason };
            }
        }
    }

    /// Performs a user action.
    pub fn update(&mut self, action: Action) -> Effect {
        let v = self.view.index();
        match action {
            Action::Quit => return Effect::Quit,
            Action::NextView => self.view = View::ALL[(v + 1) % View::ALL.len()],
            Action::PrevView => {
                self.view = View::ALL[(v + View::ALL.len() - 1) % View::ALL.len()];
            }
            Action::Show(view) => self.view = view,
            Action::Up | Action::Down if self.view == View::Worker => {
                self.step_focus(action == Action::Down);
            }
            Action::Up => self.selected[v] = self.selected(self.view).saturating_sub(1),
            Action::Down => {
                let last = self.row_count(self.view).saturating_sub(1);
                self.selected[v] = (self.selected(self.view) + 1).min(last);
            }
            Action::Open => {
                let sel = self.selected(self.view);
                let worker = match self.view {
                    View::Overview => self.worker_rows().get(sel).map(|r| r.id),
                    View::Stuck => self.stuck_rows().get(sel).map(|op| WorkerId {
                        runtime: op.runtime,
                        worker: op.worker,
                    }),
                    View::Slabs => self.slab_rows().get(sel).and_then(|r| r.worker),
                    _ => None,
                };
                if let Some(id) = worker {
                    self.focus = Some(id);
                    self.view = View::Worker;
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
            Action::TogglePause => self.paused = !self.paused,
            Action::ToggleHelp => self.help = !self.help,
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                } else if self.view == View::Worker {
                    self.view = View::Overview;
                }
            }
        }
        Effect::Continue
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

    /// The selected row of `view`, within its rows.
    pub fn selected(&self, view: View) -> usize {
        self.selected[view.index()].min(self.row_count(view).saturating_sub(1))
    }

    fn row_count(&self, view: View) -> usize {
        match view {
            View::Overview => self.worker_rows().len(),
            View::Ops => self.op_rows().len(),
            View::Slabs => self.slab_rows().len(),
            View::Stuck => self.stuck_rows().len(),
            View::Worker => self.worker_op_rows().len(),
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
    /// (oldest first by default).
    pub fn stuck_rows(&self) -> Vec<InFlightOp> {
        let mut rows = self
            .latest()
            .map(|s| s.stuck_ops(self.thresholds.stuck_after))
            .unwrap_or_default();
        rows.retain(|op| table::matches(&self.filter, &table::stuck_text(op)));
        table::sort_stuck(&mut rows, self.sort_by(View::Stuck));
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
