//! `--record FILE`: the flight recorder from outside the process, for
//! processes whose own recorder is off (or too old to have one). Same
//! format as the process's own dumps (`ringline_schema::record`), same two
//! series: the last 60 s at 1 s with tasks, connections and explained ops,
//! and the last 5 s at the subscription interval (100 ms by default) with
//! the snapshot alone.
//!
//! Snapshots come from a subscription; each second, the side lists come
//! over a second connection when the process speaks inspect protocol 2
//! (the explained ops with protocol 1 too). Snapshots are trimmed as the
//! runtime trims its own (latency histograms reduced to count and sum,
//! each worker's oldest 16 in-flight ops). The file is written when the
//! recording stops — Ctrl-C, SIGTERM, `--duration`, or the process
//! exiting — atomically (a 0600 temporary file, synced, renamed), with the
//! trigger `external`.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringline_schema::inspect::Client;
use ringline_schema::inspect::wire::Hello;
use ringline_schema::record::{
    FORMAT, FORMAT_VERSION, FrameLine, Header, Line, State, Trigger, TriggerKind, patch,
};
use ringline_schema::stats::Snapshot;
use serde_json::Value;

use crate::feed::{self, Limits};
use crate::model::Event;
use crate::model::tasks::Needs;
use crate::target::Target;
use crate::terminal::signals;

/// How long the 1 s series reaches back.
pub const COARSE_KEEP: Duration = Duration::from_secs(60);
/// How long the fine series reaches back.
pub const FINE_KEEP: Duration = Duration::from_secs(5);
/// The coarse series' resolution.
const COARSE: Duration = Duration::from_secs(1);
/// In-flight ops kept per worker in a snapshot (as the runtime keeps).
const OPS_PER_WORKER: usize = 16;
/// Tasks, connections and explained ops kept per coarse frame (as the
/// runtime keeps).
const KEPT: usize = 64;

/// One kept frame.
#[derive(Debug, Clone)]
struct Kept {
    unix_ns: u64,
    monotonic_ns: u64,
    state: State,
}

/// The two series, in memory.
#[derive(Debug, Clone)]
pub struct History {
    fine_ms: u32,
    coarse: VecDeque<Kept>,
    fine: VecDeque<Kept>,
    last_coarse_ns: Option<u64>,
}

impl History {
    /// An empty history whose fine series has the subscription's
    /// `interval` (none when it is 1 s or longer: every frame is coarse).
    pub fn new(interval: Duration) -> History {
        History {
            fine_ms: interval.as_millis().min(u128::from(u32::MAX)) as u32,
            coarse: VecDeque::new(),
            fine: VecDeque::new(),
            last_coarse_ns: None,
        }
    }

    /// Whether a frame taken at `monotonic_ns` belongs to the 1 s series
    /// too (and so should carry the side lists).
    pub fn coarse_due(&self, monotonic_ns: u64) -> bool {
        // Half a tick of slack: a tick a little early still counts, the
        // one before a whole second does not.
        let step = (COARSE.as_nanos() as u64).saturating_sub(u64::from(self.fine_ms) * 500_000);
        self.last_coarse_ns
            .is_none_or(|t| monotonic_ns.saturating_sub(t) >= step)
    }

    /// Adds a frame (trimmed); `coarse` as [`History::coarse_due`] said.
    pub fn push(&mut self, mut state: State, coarse: bool) {
        trim(&mut state.snapshot);
        let kept = Kept {
            unix_ns: state.snapshot.taken_at_unix_ns,
            monotonic_ns: state.snapshot.monotonic_ns,
            state,
        };
        let now = kept.monotonic_ns;
        if coarse {
            self.last_coarse_ns = Some(now);
            self.coarse.push_back(kept.clone());
        }
        if u64::from(self.fine_ms) < COARSE.as_millis() as u64 {
            self.fine.push_back(kept);
        }
        expire(&mut self.coarse, now, COARSE_KEEP);
        expire(&mut self.fine, now, FINE_KEEP);
    }

    /// Frames kept, over both series.
    pub fn frames(&self) -> usize {
        self.coarse.len() + self.fine.len()
    }

    /// The stats-clock time of the newest frame.
    pub fn newest_ns(&self) -> Option<u64> {
        self.fine
            .back()
            .or(self.coarse.back())
            .map(|k| k.monotonic_ns)
    }

    /// The dump's lines: `header`, then each series as a whole first state
    /// and patches.
    pub fn lines(&self, header: Header) -> Vec<Line> {
        let mut out = vec![Line::Header(header)];
        series(&self.coarse, 1000, &mut out);
        series(&self.fine, self.fine_ms, &mut out);
        out
    }
}

fn expire(frames: &mut VecDeque<Kept>, now: u64, keep: Duration) {
    let keep = keep.as_nanos() as u64;
    while frames
        .front()
        .is_some_and(|f| now.saturating_sub(f.monotonic_ns) > keep)
    {
        frames.pop_front();
    }
}

fn series(frames: &VecDeque<Kept>, res_ms: u32, out: &mut Vec<Line>) {
    let mut before: Option<Value> = None;
    for f in frames {
        let Ok(value) = serde_json::to_value(&f.state) else {
            continue;
        };
        let (full, change) = match &before {
            None => (Some(value.clone()), None),
            Some(b) => (
                None,
                Some(patch(b, &value).unwrap_or_else(|| Value::Object(Default::default()))),
            ),
        };
        out.push(Line::Frame(FrameLine {
            unix_ns: f.unix_ns,
            monotonic_ns: f.monotonic_ns,
            res_ms,
            full,
            patch: change,
        }));
        before = Some(value);
    }
}

/// A snapshot made cheap to keep, as the runtime's recorder makes it.
fn trim(snapshot: &mut Snapshot) {
    for rt in &mut snapshot.runtimes {
        for w in &mut rt.workers {
            for op in &mut w.ops {
                op.latency.buckets.clear();
            }
            w.in_flight.truncate(OPS_PER_WORKER);
        }
    }
}

/// Writes `lines` to `path` atomically: a 0600 temporary file next to it,
/// synced, then renamed over it. Returns the bytes written.
pub fn write_atomic(path: &Path, lines: &[Line]) -> io::Result<u64> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let mut bytes = 0u64;
    let written = (|| {
        let mut out = io::BufWriter::new(&mut file);
        for line in lines {
            let text = serde_json::to_vec(line)?;
            out.write_all(&text)?;
            out.write_all(b"\n")?;
            bytes += text.len() as u64 + 1;
        }
        out.flush()?;
        drop(out);
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(bytes)
}

/// The dump header for a recording of `hello`'s process stopped for
/// `why`, at stats-clock time `at_monotonic_ns`.
pub fn header(hello: &Hello, last: Option<&Snapshot>, at_monotonic_ns: u64, why: String) -> Header {
    let at_unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Header {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        pid: hello.pid,
        process: hello.process.clone(),
        ringline_version: hello.version.clone(),
        trigger: Trigger {
            kind: TriggerKind::External,
            at_unix_ns,
            at_monotonic_ns,
            worker: None,
            message: why,
        },
        config: last
            .map(|s| {
                s.runtimes
                    .iter()
                    .map(|r| (r.id.to_string(), r.config.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        recorder_bytes: 0,
    }
}

/// The side lists of a coarse frame, asked over `side` (reconnected when
/// broken); left empty when they cannot be had.
fn fill_side(state: &mut State, side: &mut Option<(Client, u32)>, socket: &Path) {
    if side.is_none() {
        *side = Client::connect_path(socket)
            .and_then(|mut c| {
                let hello = c.hello()?;
                Ok((c, hello.protocol_version))
            })
            .ok();
    }
    let Some((client, protocol)) = side.as_mut() else {
        return;
    };
    let needs = Needs {
        tasks: Some(Duration::ZERO),
        connections: true,
        ops: Some(Duration::ZERO),
    };
    let limits = Limits {
        tasks: KEPT,
        connections: KEPT,
        ops: KEPT,
    };
    let (events, broken) = feed::ask(client, *protocol, &needs, limits);
    if broken {
        *side = None;
    }
    for event in events {
        match event {
            Event::Tasks(t) => state.tasks = t.ready().cloned().unwrap_or_default(),
            Event::Connections(c) => state.connections = c.ready().cloned().unwrap_or_default(),
            Event::Ops(o) => state.stuck_ops = o.ready().cloned().unwrap_or_default(),
            _ => {}
        }
    }
}

/// Records `target` into `file` until stopped; what to print.
pub fn run(
    target: &Target,
    file: &Path,
    interval: Duration,
    duration: Option<Duration>,
) -> Result<String, String> {
    let context = |what: &str, e: io::Error| format!("{what} {}: {e}", target.label);
    let mut client =
        Client::connect_path(&target.socket).map_err(|e| context("cannot attach to", e))?;
    let hello = client.hello().map_err(|e| context("no hello from", e))?;
    let mut subscription = client
        .subscribe(interval)
        .map_err(|e| context("cannot subscribe to", e))?;
    let mut side: Option<(Client, u32)> = None;
    let mut history = History::new(interval);
    let mut last: Option<Snapshot> = None;
    let mut received_at = Instant::now();
    let started = Instant::now();
    eprintln!(
        "ringline-top: recording {} ({} pid {}) every {} into {}; Ctrl-C stops",
        target.label,
        hello.process,
        hello.pid,
        crate::model::units::duration_ns(interval.as_nanos() as u64),
        file.display()
    );
    let why = loop {
        if signals::requested() {
            break "stopped by a signal".to_owned();
        }
        if let Some(d) = duration
            && started.elapsed() >= d
        {
            break format!("stopped after --duration {}s", d.as_secs_f64());
        }
        let snapshot = match subscription.next_snapshot() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break format!("the process went away ({e})"),
        };
        received_at = Instant::now();
        let coarse = history.coarse_due(snapshot.monotonic_ns);
        let mut state = State {
            snapshot: snapshot.clone(),
            ..State::default()
        };
        if coarse {
            fill_side(&mut state, &mut side, &target.socket);
        }
        history.push(state, coarse);
        last = Some(snapshot);
    };
    let Some(newest) = history.newest_ns() else {
        return Err(format!(
            "nothing recorded from {} ({why}); no file written",
            target.label
        ));
    };
    let at = newest + received_at.elapsed().as_nanos() as u64;
    let message = format!(
        "recorded from outside by ringline-top for {}; {why}",
        crate::model::units::duration_ns(started.elapsed().as_nanos() as u64)
    );
    let lines = history.lines(header(&hello, last.as_ref(), at, message));
    let bytes =
        write_atomic(file, &lines).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    eprintln!(
        "ringline-top: wrote {} frames ({}) to {} ({why})",
        history.frames(),
        crate::model::units::bytes(bytes),
        file.display()
    );
    Ok(format!("{}\n", file.display()))
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;
    use std::os::unix::fs::PermissionsExt;

    use ringline_schema::record::Recording;

    use super::*;
    use crate::fixtures;

    const SEC: u64 = 1_000_000_000;

    /// A private directory removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "rtop-rec-{}-{tag}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            Dir(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A snapshot `tenths` × 100 ms after start.
    fn at(tenths: u64) -> Snapshot {
        let mut s = fixtures::snapshot(2);
        s.monotonic_ns = tenths * SEC / 10;
        s.taken_at_unix_ns = 1_700_000_000 * SEC + s.monotonic_ns;
        fixtures::w(&mut s, 0).executor.polls_total = tenths;
        s
    }

    fn record(history: &mut History, tenths: u64) {
        let s = at(tenths);
        let coarse = history.coarse_due(s.monotonic_ns);
        let mut state = State {
            snapshot: s,
            ..State::default()
        };
        if coarse {
            state.tasks = fixtures::tasks();
            state.connections = fixtures::connections();
            state.stuck_ops = fixtures::explained_ops();
        }
        history.push(state, coarse);
    }

    #[test]
    fn the_series_keep_their_windows() {
        let mut h = History::new(Duration::from_millis(100));
        for t in 0..=700 {
            record(&mut h, t);
        }
        // 70 s: the coarse series keeps 60 s (61 frames at 1 s), the fine
        // one 5 s (51 frames at 100 ms).
        assert_eq!(h.coarse.len(), 61);
        assert_eq!(h.fine.len(), 51);
        assert_eq!(h.coarse.front().unwrap().monotonic_ns, 10 * SEC);
        assert!(h.coarse.iter().all(|k| !k.state.tasks.is_empty()));
        assert_eq!(
            h.fine.iter().filter(|k| !k.state.tasks.is_empty()).count(),
            6,
            "the fine frames on whole seconds carry the lists"
        );
        let slow = {
            let mut h = History::new(Duration::from_secs(1));
            for t in (0..=50).step_by(10) {
                record(&mut h, t);
            }
            h
        };
        assert_eq!((slow.coarse.len(), slow.fine.len()), (6, 0));
    }

    #[test]
    fn the_dump_reads_back_whole_and_private() {
        let dir = Dir::new("dump");
        let mut h = History::new(Duration::from_millis(100));
        for t in 0..=25 {
            record(&mut h, t);
        }
        let hello = fixtures::hello();
        let newest = h.newest_ns().unwrap();
        let header = header(&hello, Some(&at(25)), newest, "stopped".into());
        let path = dir.0.join("rec.jsonl");
        write_atomic(&path, &h.lines(header.clone())).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        let r = Recording::read(BufReader::new(fs::File::open(&path).unwrap())).unwrap();
        assert_eq!(r.header, header);
        assert_eq!(r.header.trigger.kind, TriggerKind::External);
        assert_eq!(
            r.frames.len(),
            26,
            "every 100 ms frame; coarse duplicates merged"
        );
        let polls: Vec<u64> = r
            .frames
            .iter()
            .map(|f| f.state.snapshot.runtimes[0].workers[0].executor.polls_total)
            .collect();
        assert_eq!(polls, (0..=25).collect::<Vec<_>>());
        let last = &r.frames[25].state;
        assert!(last.tasks.is_empty(), "2.5 s: a fine frame alone");
        assert_eq!(r.frames[20].state.tasks, fixtures::tasks());
        assert!(
            last.snapshot.runtimes[0].workers[0]
                .ops
                .iter()
                .all(|o| o.latency.buckets.is_empty()),
            "trimmed"
        );
        // Written again: replaced whole.
        write_atomic(&path, &h.lines(r.header.clone())).unwrap();
        assert!(Recording::read(BufReader::new(fs::File::open(&path).unwrap())).is_ok());
        assert!(write_atomic(&dir.0.join("no/such/dir.jsonl"), &[]).is_err());
    }
}
