//! `--replay FILE`: a flight-recorder dump as the source of the model,
//! instead of the live feed. Each position in the recording is fed to the
//! model as the live feed would have: the snapshots up to the current
//! frame (so rates are computed between consecutive frames and the
//! latency/graveyard windows cover the frames before it), then the tasks,
//! connections and explained stuck ops — the current frame's where it has
//! them, else the last ones recorded before it.
//!
//! Also where `--at` is parsed and resolved: seconds relative to the
//! trigger.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use ringline_schema::inspect::wire::{Hello, RuntimeInfo};
use ringline_schema::record::{Frame, Recording, State};
use ringline_schema::stats::{ConnectionInfo, InFlightOp, Layout, TaskInfo};

use crate::diff;
use crate::model::Event;
use crate::model::HISTORY;
use crate::model::tasks::Fetched;
use crate::model::timeline::{DiffPanel, Seek, Timeline, offset_text};

/// What a view shows for tasks, connections or explained ops when no
/// frame up to the current one recorded them.
pub const NOT_RECORDED: &str = "none recorded at or before this frame";

/// A recording being replayed, and where.
#[derive(Debug, Clone)]
pub struct Replay {
    file: String,
    recording: Recording,
    pos: usize,
    base: Option<usize>,
}

/// The tasks, connections and explained ops in effect at a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The tasks.
    pub tasks: Fetched<Vec<TaskInfo>>,
    /// The connections.
    pub connections: Fetched<Vec<ConnectionInfo>>,
    /// Every in-flight op with its await site and verdict.
    pub ops: Fetched<Vec<InFlightOp>>,
}

/// True when `frame` recorded tasks, connections and explained ops (the
/// 1 s series does; a 100 ms frame does on the ticks the two series
/// share, which the reader keeps in place of the 1 s frame).
fn carries_side(frame: &Frame) -> bool {
    frame.res_ms >= 1000
        || !frame.state.tasks.is_empty()
        || !frame.state.connections.is_empty()
        || !frame.state.stuck_ops.is_empty()
}

impl Replay {
    /// Reads the dump at `path`; positioned at its last frame.
    pub fn open(path: &Path) -> Result<Replay, String> {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let recording = Recording::read(BufReader::new(file))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Replay::new(path.display().to_string(), recording)
    }

    /// A replay of `recording` (named `file` on screen); positioned at its
    /// last frame. Fails on a recording without frames.
    pub fn new(file: String, recording: Recording) -> Result<Replay, String> {
        if recording.frames.is_empty() {
            return Err(format!("{file}: the recording has no frames"));
        }
        let pos = recording.frames.len() - 1;
        Ok(Replay {
            file,
            recording,
            pos,
            base: None,
        })
    }

    /// The recording.
    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The current frame's index.
    #[cfg(test)]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to frame `i` (clamped to the recording).
    pub fn go(&mut self, i: usize) {
        self.pos = i.min(self.recording.frames.len() - 1);
    }

    /// Moves as `seek` says.
    pub fn seek(&mut self, seek: Seek) {
        let last = self.recording.frames.len() - 1;
        self.pos = match seek {
            Seek::Prev => self.pos.saturating_sub(1),
            Seek::Next => (self.pos + 1).min(last),
            Seek::First => 0,
            Seek::Last => last,
        };
    }

    /// Marks the current frame as the diff base, or forgets the base.
    pub fn mark_base(&mut self, on: bool) {
        self.base = on.then_some(self.pos);
    }

    /// Frame `i`'s time relative to the trigger, ns.
    pub fn offset_ns(&self, i: usize) -> i64 {
        let at = self.recording.header.trigger.at_monotonic_ns;
        let t = self.recording.frames[i].monotonic_ns;
        (i128::from(t) - i128::from(at)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The frame at or just before `offset_ns` after the trigger (the
    /// first one when all are later).
    pub fn index_at(&self, offset_ns: i64) -> usize {
        let at = i128::from(self.recording.header.trigger.at_monotonic_ns) + i128::from(offset_ns);
        let i = self
            .recording
            .frames
            .partition_point(|f| i128::from(f.monotonic_ns) <= at);
        i.saturating_sub(1)
    }

    /// The process as a `hello` would have described it, from the header
    /// and frame `i`'s snapshot.
    pub fn hello(&self, i: usize) -> Hello {
        let header = &self.recording.header;
        let snapshot = &self.recording.frames[i].state.snapshot;
        let recorded_side = self
            .recording
            .frames
            .iter()
            .any(|f| !f.state.tasks.is_empty() || !f.state.connections.is_empty());
        Hello {
            protocol_version: if recorded_side { 2 } else { 1 },
            pid: header.pid,
            process: header.process.clone(),
            version: header.ringline_version.clone(),
            backend: snapshot
                .runtimes
                .last()
                .map_or_else(|| "?".to_owned(), |r| r.backend.clone()),
            workers: snapshot.runtimes.iter().map(|r| r.workers.len()).sum(),
            start_time_unix_ns: snapshot
                .runtimes
                .iter()
                .map(|r| r.started_at_unix_ns)
                .min()
                .unwrap_or(snapshot.taken_at_unix_ns),
            runtimes: snapshot
                .runtimes
                .iter()
                .map(|r| RuntimeInfo {
                    id: r.id,
                    backend: r.backend.clone(),
                    workers: r.workers.len(),
                    started_at_unix_ns: r.started_at_unix_ns,
                    config: r.config.clone(),
                })
                .collect(),
            histogram: Layout::current(),
        }
    }

    /// The tasks, connections and explained ops in effect at frame `i`:
    /// its own, else the last recorded before it.
    pub fn side(&self, i: usize) -> Side {
        let frames = &self.recording.frames[..=i];
        match frames.iter().rev().find(|f| carries_side(f)) {
            Some(f) => Side {
                tasks: Fetched::Ready(f.state.tasks.clone()),
                connections: Fetched::Ready(f.state.connections.clone()),
                ops: Fetched::Ready(f.state.stuck_ops.clone()),
            },
            None => Side {
                tasks: Fetched::Failed(NOT_RECORDED.into()),
                connections: Fetched::Failed(NOT_RECORDED.into()),
                ops: Fetched::Failed(NOT_RECORDED.into()),
            },
        }
    }

    /// Frame `i` as a whole state: its snapshot with the side lists in
    /// effect there.
    pub fn state(&self, i: usize) -> State {
        let side = self.side(i);
        State {
            snapshot: self.recording.frames[i].state.snapshot.clone(),
            stuck_ops: side.ops.ready().cloned().unwrap_or_default(),
            tasks: side.tasks.ready().cloned().unwrap_or_default(),
            connections: side.connections.ready().cloned().unwrap_or_default(),
        }
    }

    /// Where the replay is, for the screen.
    pub fn timeline(&self) -> Timeline {
        let trigger = &self.recording.header.trigger;
        let last = self.recording.frames.len() - 1;
        Timeline {
            file: self.file.clone(),
            trigger: trigger.kind,
            message: trigger.message.clone(),
            index: self.pos,
            frames: self.recording.frames.len(),
            res_ms: self.recording.frames[self.pos].res_ms,
            at_ns: self.offset_ns(self.pos),
            first_ns: self.offset_ns(0),
            last_ns: self.offset_ns(last),
            base_ns: self.base.map(|b| self.offset_ns(b)),
        }
    }

    /// The moment of frame `i`, for a diff.
    pub fn moment(&self, i: usize) -> diff::Moment {
        let f = &self.recording.frames[i];
        diff::Moment {
            label: format!("{} at {}", self.file, offset_text(self.offset_ns(i))),
            pid: self.recording.header.pid,
            unix_ns: f.unix_ns,
            monotonic_ns: f.monotonic_ns,
            state: self.state(i),
        }
    }

    /// What the model needs to show the current position: the first call
    /// also attaches (`hello`). `stuck_after` is the threshold the diff
    /// uses.
    pub fn events(&self, attach: bool, stuck_after: Duration) -> Vec<Event> {
        let mut events = Vec::new();
        if attach {
            events.push(Event::Attached(Box::new(self.hello(self.pos))));
        }
        events.push(Event::Seeked(Box::new(self.timeline())));
        let from = (self.pos + 1).saturating_sub(HISTORY);
        for f in &self.recording.frames[from..=self.pos] {
            events.push(Event::Snapshot(Box::new(f.state.snapshot.clone())));
        }
        let side = self.side(self.pos);
        events.push(Event::Tasks(side.tasks));
        events.push(Event::Connections(side.connections));
        events.push(Event::Ops(side.ops));
        let panel = self.base.map(|b| {
            let d = diff::diff(&self.moment(b), &self.moment(self.pos), stuck_after);
            Box::new(DiffPanel {
                title: format!(
                    "diff: {} → {} (Esc closes)",
                    offset_text(self.offset_ns(b)),
                    offset_text(self.offset_ns(self.pos))
                ),
                lines: diff::text(&d).lines().map(str::to_owned).collect(),
            })
        });
        events.push(Event::Diff(panel));
        events
    }
}

/// Parses `--at`'s time: seconds relative to the trigger, signed, with an
/// optional unit — `-10`, `-2.5`, `0`, `+1`, `-10s`, `-500ms`, `-1m` —
/// as nanoseconds.
pub fn parse_at(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "bad time {text:?}: seconds relative to the trigger, like -10, -2.5, 0, +1, -500ms or -1m"
        )
    };
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60e9)
    } else {
        (t, 1e9)
    };
    if number.is_empty() || !number.chars().any(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let ns = value * scale;
    if !ns.is_finite() || ns.abs() > 1e18 {
        return Err(bad());
    }
    Ok(ns.round() as i64)
}

/// A dump and a moment in it: `FILE` (its last frame) or `FILE@T` (`T` as
/// [`parse_at`] reads it), as `--diff` takes them.
pub fn parse_moment(text: &str) -> Result<(String, Option<i64>), String> {
    if let Some((file, at)) = text.rsplit_once('@')
        && !file.is_empty()
        && let Ok(ns) = parse_at(at)
    {
        return Ok((file.to_owned(), Some(ns)));
    }
    if text.is_empty() {
        return Err("an empty dump name".into());
    }
    Ok((text.to_owned(), None))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ringline_schema::record::{FORMAT, FORMAT_VERSION, Header, Trigger, TriggerKind};

    use super::*;
    use crate::fixtures;
    use crate::model::{Model, View};

    const SEC: u64 = 1_000_000_000;

    /// Frames at 1..=5 s (1 s series, with tasks) then 5.1..=5.5 s (100 ms,
    /// without); `fs_read` completes 10 per second until 5 s, then 100 per
    /// 100 ms. Trigger at 5.5 s.
    pub fn recording() -> Recording {
        let mut frames = Vec::new();
        let mut reads = 0;
        for tenth in (10..=50).step_by(10).chain(51..=55) {
            let fine = tenth > 50;
            reads += if fine { 100 } else { 10 };
            let mut s = fixtures::snapshot(1);
            s.monotonic_ns = tenth * SEC / 10;
            s.taken_at_unix_ns = 1_700_000_000 * SEC + s.monotonic_ns;
            let op = s.runtimes[0].workers[0]
                .ops
                .iter_mut()
                .find(|o| o.op == "fs_read")
                .unwrap();
            op.completed_ok_total = reads;
            let mut state = State {
                snapshot: s,
                ..State::default()
            };
            if !fine {
                state.tasks = fixtures::tasks();
                state.tasks[0].polls = tenth;
                state.connections = fixtures::connections();
                state.stuck_ops = fixtures::explained_ops();
            }
            frames.push(Frame {
                unix_ns: state.snapshot.taken_at_unix_ns,
                monotonic_ns: state.snapshot.monotonic_ns,
                res_ms: if fine { 100 } else { 1000 },
                state,
            });
        }
        Recording {
            header: Header {
                format: FORMAT.into(),
                version: FORMAT_VERSION,
                pid: 4242,
                process: "api".into(),
                ringline_version: "0.2.0".into(),
                trigger: Trigger {
                    kind: TriggerKind::Stall,
                    at_unix_ns: 1_700_000_000 * SEC + 55 * SEC / 10,
                    at_monotonic_ns: 55 * SEC / 10,
                    worker: Some(0),
                    message: "worker 0 stalled for 2.00s".into(),
                },
                config: BTreeMap::new(),
                recorder_bytes: 0,
            },
            frames,
        }
    }

    fn replay() -> Replay {
        Replay::new("dump.jsonl".into(), recording()).unwrap()
    }

    fn model_at(r: &Replay) -> Model {
        let mut m = Model::new("replay", Duration::from_millis(100), Duration::from_secs(1));
        for e in r.events(true, Duration::from_secs(1)) {
            m.apply(e);
        }
        m
    }

    fn read_rate(m: &Model) -> Option<f64> {
        m.op_rows().into_iter().find(|o| o.op == "fs_read")?.rate
    }

    #[test]
    fn stepping_moves_one_frame_and_stops_at_the_ends() {
        let mut r = replay();
        assert_eq!(r.position(), 9, "starts at the last frame");
        r.seek(Seek::Next);
        assert_eq!(r.position(), 9);
        r.seek(Seek::Prev);
        r.seek(Seek::Prev);
        assert_eq!(r.position(), 7);
        r.seek(Seek::First);
        assert_eq!(r.position(), 0);
        r.seek(Seek::Prev);
        assert_eq!(r.position(), 0);
        r.seek(Seek::Next);
        assert_eq!(r.position(), 1);
        r.seek(Seek::Last);
        assert_eq!(r.position(), 9);
        let t = r.timeline();
        assert_eq!(
            (t.at_ns, t.first_ns, t.last_ns),
            (0, -45 * SEC as i64 / 10, 0)
        );
    }

    #[test]
    fn at_selects_the_frame_at_or_before_a_time_relative_to_the_trigger() {
        let r = replay();
        assert_eq!(r.index_at(0), 9);
        assert_eq!(r.index_at(-(SEC as i64) / 2), 4, "5.0 s exactly");
        assert_eq!(
            r.index_at(-(SEC as i64) / 2 + 50_000_000),
            4,
            "5.05 s: the one before"
        );
        assert_eq!(r.index_at(-2 * SEC as i64), 2, "3.5 s: the 3 s frame");
        assert_eq!(
            r.index_at(-100 * SEC as i64),
            0,
            "before the start: the first"
        );
        assert_eq!(r.index_at(100 * SEC as i64), 9, "after the end: the last");
    }

    #[test]
    fn rates_are_computed_between_consecutive_frames() {
        let mut r = replay();
        // 100 reads in 100 ms.
        let m = model_at(&r);
        assert!((read_rate(&m).unwrap() - 1000.0).abs() < 1e-6);
        assert_eq!(m.history().count(), HISTORY);
        // 10 reads in 1 s.
        r.go(3);
        let m = model_at(&r);
        assert!((read_rate(&m).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(m.history().count(), 4, "only the frames up to it");
        // The first frame has nothing before it.
        r.seek(Seek::First);
        assert_eq!(read_rate(&model_at(&r)), None);
    }

    #[test]
    fn frames_without_tasks_keep_the_last_ones_recorded() {
        let mut r = replay();
        let m = model_at(&r);
        let polls = |m: &Model| m.tasks.ready().map(|t| t[0].polls);
        assert_eq!(polls(&m), Some(50), "from the 5 s frame");
        assert_eq!(m.connections.ready().map(Vec::len), Some(3));
        assert!(
            m.stuck_rows()[0].verdict.is_some(),
            "explained from the 5 s frame"
        );
        r.go(1);
        assert_eq!(polls(&model_at(&r)), Some(20));
        // A tick both series shared reads back as the 100 ms frame alone,
        // with the lists.
        let mut shared = recording();
        shared.frames[4].res_ms = 100;
        let r = Replay::new("x".into(), shared).unwrap();
        assert_eq!(polls(&model_at(&r)), Some(50));
        let mut bare = recording();
        for f in &mut bare.frames {
            f.res_ms = 100;
            f.state.tasks.clear();
            f.state.connections.clear();
            f.state.stuck_ops.clear();
        }
        let r = Replay::new("x".into(), bare).unwrap();
        assert_eq!(r.side(9).tasks, Fetched::Failed(NOT_RECORDED.into()));
        assert_eq!(r.hello(9).protocol_version, 1);
    }

    #[test]
    fn the_model_knows_where_it_is_and_the_keys_of_live_mode_that_do_not_apply_are_ignored() {
        use crate::model::{Action, Effect};
        let r = replay();
        let mut m = model_at(&r);
        let t = m.replay.clone().unwrap();
        assert_eq!((t.index, t.frames), (9, 10));
        assert_eq!(m.hello.as_ref().unwrap().pid, 4242);
        assert_eq!(m.update(Action::TogglePause), Effect::Continue);
        assert!(!m.paused, "nothing to pause in a replay");
        assert_eq!(m.update(Action::Seek(Seek::Prev)), Effect::Seek(Seek::Prev));
        assert_eq!(m.update(Action::MarkDiffBase), Effect::DiffBase(true));
        m.update(Action::Show(View::Stuck));
        assert_eq!(
            m.needs(),
            Default::default(),
            "nothing is asked of a process"
        );
        // Live, the replay keys do nothing.
        let mut live = Model::new("t", Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(live.update(Action::Seek(Seek::First)), Effect::Continue);
        assert_eq!(live.update(Action::MarkDiffBase), Effect::Continue);
    }

    #[test]
    fn a_marked_base_gives_a_diff_that_esc_closes() {
        use crate::model::{Action, Effect};
        let mut r = replay();
        r.go(2);
        r.mark_base(true);
        r.seek(Seek::Last);
        let mut m = model_at(&r);
        let panel = m.diff.clone().expect("a diff");
        assert!(
            panel.title.starts_with("diff: -2.50s → 0s"),
            "{}",
            panel.title
        );
        assert!(m.replay.as_ref().unwrap().base_ns.is_some());
        assert_eq!(m.update(Action::Back), Effect::DiffBase(false));
        assert!(m.diff.is_none());
        r.mark_base(false);
        assert!(
            r.events(false, Duration::from_secs(1))
                .contains(&Event::Diff(None))
        );
    }

    #[test]
    fn at_parses_signed_seconds_with_optional_units() {
        assert_eq!(parse_at("-10"), Ok(-10 * SEC as i64));
        assert_eq!(parse_at("0"), Ok(0));
        assert_eq!(parse_at("+1"), Ok(SEC as i64));
        assert_eq!(parse_at("-2.5"), Ok(-2_500_000_000));
        assert_eq!(parse_at("-10s"), Ok(-10 * SEC as i64));
        assert_eq!(parse_at("-500ms"), Ok(-500_000_000));
        assert_eq!(parse_at("-1m"), Ok(-60 * SEC as i64));
        for bad in ["", "-", "ten", "-10h", "1e30", "nan", "s"] {
            assert!(parse_at(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_moment("a.jsonl"), Ok(("a.jsonl".into(), None)));
        assert_eq!(
            parse_moment("a.jsonl@-10"),
            Ok(("a.jsonl".into(), Some(-10 * SEC as i64)))
        );
        assert_eq!(
            parse_moment("dir@x/a.jsonl"),
            Ok(("dir@x/a.jsonl".into(), None)),
            "an @ that is not followed by a time is part of the name"
        );
    }
}
