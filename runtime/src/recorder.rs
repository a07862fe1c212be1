//! The flight recorder: the process's last minute, kept in memory by a
//! thread of its own and written to a dump file by itself when something
//! goes wrong — so the evidence exists even when nobody was attached.
//!
//! ```text
//!  ringline-recorder thread, every 100 ms:
//!    stats::snapshot() (+ every second: tasks, connections, explained ops)
//!      ──▶ trimmed State ──▶ JSON bytes ──▶ fine series (last 5 s)
//!                                      └──▶ coarse series (every 1 s, last 60 s)
//!    a worker's heartbeat ≥ stall_after ──▶ dump (once per stall)
//!    the dump signal arrived            ──▶ dump
//!  a worker panics (panic hook, before unwinding) ──▶ final frame + dump
//!  inspect `dump` (ringline-top --pid P --dump)   ──▶ dump
//! ```
//!
//! Frames are stored as the JSON of a trimmed [`State`] (latency histograms
//! reduced to count and sum, in-flight ops, tasks and connections to the
//! oldest few), so memory is counted exactly and capped
//! (`RecorderConfig::max_bytes`, oldest frames first) whatever the process
//! holds. A dump turns each series into a whole first state and patches
//! (`ringline_schema::record`), writes it to a temporary file, syncs it
//! and renames it into place (0600), keeps at most `max_dumps` dump files
//! in the directory, and says so in one log line.
//!
//! The workers never wait for any of this: the recorder only reads the
//! lock-free stats tables. Its own cost is the snapshots it takes.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringline_schema::record::{
    FORMAT, FORMAT_VERSION, FrameLine, Header, Line, State, Trigger, TriggerKind, patch,
};
use serde_json::Value;

use crate::config::RecorderConfig;
use crate::stats::{self, RecorderStats, Snapshot};

/// Time between two frames of the fine series.
const TICK: Duration = Duration::from_millis(100);
/// Frames between two of the coarse series.
const COARSE_EVERY: u32 = 10;
/// In-flight ops kept per worker in a frame's snapshot.
const OPS_PER_WORKER: usize = 16;
/// Explained stuck ops, tasks and connections kept in a coarse frame.
const KEPT: usize = 64;
/// How long a panicking worker waits for the history (held briefly by the
/// recorder thread) before writing what it can.
const PANIC_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Starts the process's recorder once (the first launch's settings win),
/// unless it is disabled or `RINGLINE_RECORDER=0`.
pub(crate) fn start(config: &RecorderConfig) {
    static STARTED: OnceLock<()> = OnceLock::new();
    if !config.enabled || std::env::var("RINGLINE_RECORDER").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    STARTED.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder::new(config.clone())));
        stats::set_recorder(recorder);
        install_panic_hook(recorder);
        if let Some(signal) = config.dump_signal {
            let flag = recorder.signalled.clone();
            // SAFETY: the action only stores to an atomic, which is
            // async-signal-safe; the flag lives for the process (leaked).
            let registered = unsafe {
                signal_hook_registry::register(signal, move || flag.store(true, Ordering::Relaxed))
            };
            if let Err(e) = registered {
                eprintln!("ringline: recorder: cannot watch signal {signal} for dumps: {e}");
            }
        }
        let spawned = std::thread::Builder::new()
            .name("ringline-recorder".into())
            .spawn(move || recorder.run());
        if let Err(e) = spawned {
            eprintln!("ringline: recorder disabled: cannot start its thread: {e}");
        }
    });
}

/// One frame as kept in memory: the state itself (turned into JSON only
/// for a dump) and its size as JSON, measured on the coarse frames and
/// carried over to the fine ones in between (serializing ten frames a
/// second would be most of the recorder's cost).
struct Stored {
    unix_ns: u64,
    monotonic_ns: u64,
    state: std::sync::Arc<State>,
    bytes: usize,
}

/// Frames of one resolution, oldest first.
struct Series {
    res_ms: u32,
    keep: Duration,
    frames: VecDeque<Stored>,
}

impl Series {
    fn new(res_ms: u32, keep: Duration) -> Series {
        Series {
            res_ms,
            keep,
            frames: VecDeque::new(),
        }
    }

    fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.bytes).sum()
    }

    /// Drops frames older than the series keeps, as of `now_ns`.
    fn expire(&mut self, now_ns: u64) -> usize {
        let keep = u64::try_from(self.keep.as_nanos()).unwrap_or(u64::MAX);
        let mut freed = 0;
        while let Some(f) = self.frames.front() {
            if now_ns.saturating_sub(f.monotonic_ns) <= keep {
                break;
            }
            freed += f.bytes;
            self.frames.pop_front();
        }
        freed
    }

    /// The series as dump lines: a whole first state, then patches.
    fn lines(&self, out: &mut Vec<Line>) {
        let mut before: Option<Value> = None;
        for f in &self.frames {
            let Ok(value) = serde_json::to_value(&*f.state) else {
                continue;
            };
            // An unchanged state is an empty patch.
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
                res_ms: self.res_ms,
                full,
                patch: change,
            }));
            before = Some(value);
        }
    }
}

/// The history both series hold, under one cap.
struct History {
    coarse: Series,
    fine: Series,
    bytes: usize,
}

impl History {
    fn push(&mut self, coarse: bool, frame: Stored, cap: usize) {
        self.bytes += frame.bytes;
        let now = frame.monotonic_ns;
        if coarse {
            // Shared, but counted in both series: the cap is what a dump
            // of both would hold.
            self.bytes += frame.bytes;
            self.coarse.frames.push_back(Stored {
                unix_ns: frame.unix_ns,
                monotonic_ns: frame.monotonic_ns,
                state: frame.state.clone(),
                bytes: frame.bytes,
            });
        }
        self.fine.frames.push_back(frame);
        self.bytes -= self.fine.expire(now) + self.coarse.expire(now);
        // Over the cap: the oldest history goes first (the coarse series
        // reaches furthest back), but the newest frame of each stays.
        while self.bytes > cap {
            let series = if self.coarse.frames.len() > 1 {
                &mut self.coarse
            } else if self.fine.frames.len() > 1 {
                &mut self.fine
            } else {
                break;
            };
            if let Some(f) = series.frames.pop_front() {
                self.bytes -= f.bytes;
            }
        }
        debug_assert_eq!(self.bytes, self.coarse.bytes() + self.fine.bytes());
    }

    fn frames(&self) -> usize {
        self.coarse.frames.len() + self.fine.frames.len()
    }
}

/// See the module docs.
struct Recorder {
    config: RecorderConfig,
    history: Mutex<History>,
    /// Mirrors of the history's size, for snapshots (no lock).
    bytes: AtomicU64,
    frames: AtomicU64,
    dumps: [AtomicU64; TriggerKind::ALL.len()],
    /// Set by the dump signal's handler.
    signalled: Arc<AtomicBool>,
    /// The JSON size of the last measured frame, per series kind (fine
    /// frames have no tasks or connections): `[fine, coarse]`.
    measured: Mutex<[usize; 2]>,
}

impl Recorder {
    fn new(config: RecorderConfig) -> Recorder {
        Recorder {
            history: Mutex::new(History {
                coarse: Series::new(1000, config.history),
                fine: Series::new(100, config.fine_history),
                bytes: 0,
            }),
            config,
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            dumps: Default::default(),
            signalled: Arc::new(AtomicBool::new(false)),
            measured: Mutex::new([0; 2]),
        }
    }

    /// The recorder thread: a frame every tick, stalls and signals checked
    /// each time. Runs until the process exits.
    fn run(&self) {
        let mut tick = 0u32;
        let mut stalled: Vec<(u64, usize)> = Vec::new();
        let mut next = Instant::now();
        loop {
            let coarse = tick.is_multiple_of(COARSE_EVERY);
            let (state, stall) = capture(coarse, self.config.stall_after, &mut stalled);
            self.record(coarse, state);
            tick = tick.wrapping_add(1);
            if let Some((worker, message)) = stall {
                self.dump_logged(TriggerKind::Stall, Some(worker), message);
            }
            if self.signalled.swap(false, Ordering::Relaxed) {
                self.dump_logged(TriggerKind::Signal, None, "the dump signal arrived".into());
            }
            next += TICK;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                // Fell behind (a slow snapshot): start again from now.
                None => next = now,
            }
        }
    }

    /// Adds a frame of `state`; a coarse frame is measured (serialized)
    /// for the cap, a fine one counts as the last measured fine frame.
    fn record(&self, coarse: bool, state: State) {
        let bytes = {
            let mut measured = self.measured.lock().unwrap_or_else(|e| e.into_inner());
            if coarse || measured[0] == 0 {
                let (all, snapshot) = json_sizes(&state);
                *measured = [snapshot, all];
            }
            if coarse { measured[1] } else { measured[0] }
        };
        let frame = Stored {
            unix_ns: state.snapshot.taken_at_unix_ns,
            monotonic_ns: state.snapshot.monotonic_ns,
            state: std::sync::Arc::new(state),
            bytes,
        };
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.push(coarse, frame, self.config.max_bytes);
        self.bytes.store(history.bytes as u64, Ordering::Relaxed);
        self.frames
            .store(history.frames() as u64, Ordering::Relaxed);
    }

    fn dump_logged(&self, kind: TriggerKind, worker: Option<usize>, message: String) {
        if let Err(e) = self.write_dump(kind, worker, message, Duration::MAX) {
            eprintln!(
                "ringline: recorder: could not write a {} dump: {e}",
                kind.name()
            );
        }
    }

    /// Writes the history as one dump file; its path. `lock_wait` bounds how
    /// long to wait for the history (a panicking thread does not wait
    /// forever on a lock its own thread may hold).
    fn write_dump(
        &self,
        kind: TriggerKind,
        worker: Option<usize>,
        message: String,
        lock_wait: Duration,
    ) -> io::Result<PathBuf> {
        let at_monotonic_ns = stats::now_ns();
        let trigger = Trigger {
            kind,
            at_unix_ns: stats::unix_now_ns(),
            at_monotonic_ns,
            worker,
            message,
        };
        let snapshot = stats::snapshot();
        let header = Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            pid: std::process::id(),
            process: process_name(),
            ringline_version: env!("CARGO_PKG_VERSION").into(),
            trigger,
            config: snapshot
                .runtimes
                .iter()
                .map(|r| (r.id.to_string(), r.config.clone()))
                .collect(),
            recorder_bytes: self.bytes.load(Ordering::Relaxed),
        };
        let mut lines = vec![Line::Header(header)];
        {
            let Some(history) = lock_within(&self.history, lock_wait) else {
                return Err(io::Error::other("the recorder's history stayed locked"));
            };
            history.coarse.lines(&mut lines);
            history.fine.lines(&mut lines);
        }
        let dir = dump_dir(&self.config);
        let path = write_lines(&dir, kind, &lines)?;
        self.dumps[kind as usize].fetch_add(1, Ordering::Relaxed);
        prune(&dir, self.config.max_dumps.max(1));
        eprintln!(
            "ringline: wrote a {} dump of the last {} frames: {}",
            kind.name(),
            lines.len() - 1,
            path.display()
        );
        Ok(path)
    }
}

impl stats::Recorder for Recorder {
    fn stats(&self) -> RecorderStats {
        RecorderStats {
            enabled: true,
            bytes: self.bytes.load(Ordering::Relaxed),
            max_bytes: self.config.max_bytes as u64,
            frames: self.frames.load(Ordering::Relaxed),
            dumps_total: TriggerKind::ALL
                .iter()
                .map(|k| {
                    (
                        k.name().to_owned(),
                        self.dumps[*k as usize].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }

    fn dump(
        &self,
        trigger: TriggerKind,
        worker: Option<usize>,
        message: String,
    ) -> io::Result<PathBuf> {
        self.write_dump(trigger, worker, message, Duration::from_secs(5))
    }
}

/// One frame of the process now, trimmed; with `coarse`, its tasks,
/// connections and explained stuck ops too. Also checks for a worker that
/// started stalling: `stalled` holds the (runtime, worker) pairs already
/// dumped for, so each stall is dumped once.
fn capture(
    coarse: bool,
    stall_after: Duration,
    stalled: &mut Vec<(u64, usize)>,
) -> (State, Option<(usize, String)>) {
    let mut snapshot = stats::snapshot();
    let stall = if stall_after.is_zero() {
        None
    } else {
        check_stalls(&snapshot, stall_after, stalled)
    };
    trim(&mut snapshot);
    let mut state = State {
        snapshot,
        ..State::default()
    };
    if coarse {
        let mut ops = stats::stuck_ops(Duration::ZERO);
        ops.truncate(KEPT);
        state.stuck_ops = ops;
        let mut tasks = stats::tasks(Duration::ZERO);
        tasks.truncate(KEPT);
        state.tasks = tasks;
        let mut connections = stats::connections();
        connections.truncate(KEPT);
        state.connections = connections;
    }
    (state, stall)
}

/// The first worker whose heartbeat passed `stall_after` and was not
/// dumped for yet; forgets workers that recovered.
fn check_stalls(
    snapshot: &Snapshot,
    stall_after: Duration,
    stalled: &mut Vec<(u64, usize)>,
) -> Option<(usize, String)> {
    let after = u64::try_from(stall_after.as_nanos()).unwrap_or(u64::MAX);
    let mut found = None;
    let mut still = Vec::new();
    for rt in &snapshot.runtimes {
        for w in &rt.workers {
            let age = w.executor.heartbeat_age_ns;
            if age < after {
                continue;
            }
            if stalled.contains(&(rt.id, w.worker)) {
                still.push((rt.id, w.worker));
            } else if found.is_none() {
                // One dump per tick; another worker stalled at the same
                // time is found on the next.
                still.push((rt.id, w.worker));
                let task = match w.executor.current_task {
                    Some(t) => format!(", polling task {t}"),
                    None => String::new(),
                };
                found = Some((
                    w.worker,
                    format!(
                        "worker {} of runtime {} has not finished a loop turn for {} ms{task}",
                        w.worker,
                        rt.id,
                        age / 1_000_000
                    ),
                ));
            }
        }
    }
    *stalled = still;
    found
}

/// Makes a snapshot cheap to keep: histograms reduced to count and sum, the
/// in-flight lists to each worker's oldest ops.
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

/// A writer that only counts: the size of a value as JSON, unwritten.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of `state` as JSON, and of its snapshot alone.
fn json_sizes(state: &State) -> (usize, usize) {
    let mut all = Counter(0);
    let _ = serde_json::to_writer(&mut all, state);
    let mut snapshot = Counter(0);
    let _ = serde_json::to_writer(&mut snapshot, &state.snapshot);
    (all.0, snapshot.0)
}

/// `mutex` locked, waiting at most `wait` (polling: std has no timed lock).
fn lock_within<T>(mutex: &Mutex<T>, wait: Duration) -> Option<std::sync::MutexGuard<'_, T>> {
    let deadline = Instant::now().checked_add(wait);
    loop {
        match mutex.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where dumps go: the config's directory, else `RINGLINE_DUMP_DIR`, else
/// the inspect socket directory.
fn dump_dir(config: &RecorderConfig) -> PathBuf {
    if let Some(dir) = &config.dump_dir {
        return dir.clone();
    }
    match std::env::var_os("RINGLINE_DUMP_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => ringline_schema::inspect::socket_dir(),
    }
}

/// The prefix of every dump file's name.
const DUMP_PREFIX: &str = "ringline-dump-";

/// Writes `lines` as a new dump file in `dir` (created 0700 if missing),
/// atomically: a temporary file, synced, then renamed into place.
fn write_lines(dir: &Path, kind: TriggerKind, lines: &[Line]) -> io::Result<PathBuf> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let unix_ms = stats::unix_now_ns() / 1_000_000;
    let name = format!(
        "{DUMP_PREFIX}{}-{unix_ms}-{}.jsonl",
        std::process::id(),
        kind.name()
    );
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = (|| {
        let mut out = io::BufWriter::new(&mut file);
        for line in lines {
            serde_json::to_writer(&mut out, line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        drop(out);
        file.sync_all()
    })();
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

/// Removes the oldest dump files of `dir` beyond `keep`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dumps: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(DUMP_PREFIX) && name.ends_with(".jsonl")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if dumps.len() <= keep {
        return;
    }
    dumps.sort();
    for (_, path) in &dumps[..dumps.len() - keep] {
        let _ = fs::remove_file(path);
    }
}

/// Writes a dump from a panicking worker before it unwinds: the history
/// plus what the process looks like now, then the previous panic hook runs.
fn install_panic_hook(recorder: &'static Recorder) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let worker = std::thread::current()
            .name()
            .and_then(|n| n.strip_prefix("ringline-worker-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(worker) = worker {
            let (state, _) = capture(true, Duration::ZERO, &mut Vec::new());
            recorder.record(true, state);
            let message = format!("worker {worker} panicked: {info}");
            if let Err(e) =
                recorder.write_dump(TriggerKind::Panic, Some(worker), message, PANIC_LOCK_WAIT)
            {
                eprintln!("ringline: recorder: could not write the panic dump: {e}");
            }
        }
        previous(info);
    }));
}

/// This process's name, from `/proc/self/comm` where there is one.
fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().to_owned())
        .ok()
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(t: u64, bytes: usize) -> Stored {
        Stored {
            unix_ns: t,
            monotonic_ns: t,
            state: std::sync::Arc::new(State::default()),
            bytes,
        }
    }

    fn history() -> History {
        History {
            coarse: Series::new(1000, Duration::from_secs(60)),
            fine: Series::new(100, Duration::from_secs(5)),
            bytes: 0,
        }
    }

    #[test]
    fn the_history_keeps_its_windows_and_its_cap() {
        let mut h = history();
        let s = 1_000_000_000;
        for i in 0..200u64 {
            h.push(i % 10 == 0, stored(i * s / 10, 100), usize::MAX);
        }
        // 5 s of fine frames at 100 ms, 60 s... but only 20 s recorded.
        assert_eq!(h.fine.frames.len(), 51);
        assert_eq!(h.coarse.frames.len(), 20);
        assert_eq!(h.bytes, h.coarse.bytes() + h.fine.bytes());
        let mut h = history();
        for i in 0..200u64 {
            h.push(i % 10 == 0, stored(i * s / 10, 1000), 10_000);
        }
        assert!(h.bytes <= 10_000, "{}", h.bytes);
        assert!(!h.fine.frames.is_empty() && !h.coarse.frames.is_empty());
        assert_eq!(
            h.fine.frames.back().unwrap().monotonic_ns,
            199 * s / 10,
            "the newest stays"
        );
    }

    #[test]
    fn each_stall_is_dumped_once_even_when_two_begin_together() {
        use crate::stats::{RuntimeSnapshot, WorkerSnapshot};
        let worker = |age: u64| {
            let mut w = WorkerSnapshot::default();
            w.executor.heartbeat_age_ns = age;
            w
        };
        let snapshot = |a: u64, b: u64| Snapshot {
            runtimes: [(1, a), (2, b)]
                .into_iter()
                .map(|(id, age)| RuntimeSnapshot {
                    id,
                    workers: vec![worker(age)],
                    ..RuntimeSnapshot::default()
                })
                .collect(),
            ..Snapshot::default()
        };
        let after = Duration::from_secs(2);
        let mut stalled = Vec::new();
        let s = 1_000_000_000;
        let first = check_stalls(&snapshot(3 * s, 3 * s), after, &mut stalled).unwrap();
        assert!(first.1.contains("of runtime 1 "), "{first:?}");
        let second = check_stalls(&snapshot(3 * s, 3 * s), after, &mut stalled).unwrap();
        assert!(second.1.contains("of runtime 2 "), "{second:?}");
        assert!(check_stalls(&snapshot(4 * s, 4 * s), after, &mut stalled).is_none());
        // Runtime 1 recovers, then stalls again: a new dump.
        assert!(check_stalls(&snapshot(0, 4 * s), after, &mut stalled).is_none());
        let again = check_stalls(&snapshot(3 * s, 5 * s), after, &mut stalled).unwrap();
        assert!(again.1.contains("of runtime 1 "), "{again:?}");
    }

    #[test]
    fn dumps_are_written_whole_private_and_pruned() {
        let dir = std::env::temp_dir().join(format!("ringline-rec-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let header = Line::Header(Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            pid: 1,
            process: "t".into(),
            ringline_version: "0".into(),
            trigger: Trigger {
                kind: TriggerKind::Request,
                at_unix_ns: 0,
                at_monotonic_ns: 0,
                worker: None,
                message: String::new(),
            },
            config: Default::default(),
            recorder_bytes: 0,
        });
        let mut paths = Vec::new();
        for _ in 0..4 {
            let p = write_lines(&dir, TriggerKind::Request, std::slice::from_ref(&header)).unwrap();
            paths.push(p);
            std::thread::sleep(Duration::from_millis(5));
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&paths[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        prune(&dir, 2);
        let left: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(Result::ok).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(paths[3].exists() && !paths[0].exists(), "the newest kept");
        let r = ringline_schema::record::Recording::read(io::BufReader::new(
            fs::File::open(&paths[3]).unwrap(),
        ))
        .unwrap();
        assert_eq!(r.header.trigger.kind, TriggerKind::Request);
        // A directory that cannot be made (under a regular file): an error,
        // and nothing written.
        let file = dir.join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let err = write_lines(&file.join("dumps"), TriggerKind::Request, &[header]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory, "{err}");
        assert_eq!(fs::read(&file).unwrap(), b"x");
        fs::remove_dir_all(&dir).unwrap();
    }
}
