//! Publishes ringline's stats to whatever `metrics` recorder the
//! application installed (Prometheus, StatsD, …), from a background thread:
//! the workers never touch the `metrics` facade.
//!
//! ```no_run
//! // Before or after the application installs its recorder ("Recorders").
//! let _publisher = ringline::metrics::MetricsPublisher::start()?;
//! // … launch runtimes; every second their stats reach the recorder.
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Each tick takes [`stats::snapshot`], turns it
//! into the series of [`catalog`] (names, help and units from there) and
//! pushes them:
//!
//! | catalog kind | what the recorder sees |
//! |---|---|
//! | counter | `counter.increment(change since the last tick)` |
//! | gauge | `gauge.set(value)` |
//! | histogram | `<name>_count` counter, `<name>_sum` gauge, and `<name>{quantile="0.5"\|"0.9"\|"0.99"\|"0.999"}` gauges |
//!
//! Choices:
//! - **Counters** increment by the change since the previous tick of the
//!   same series; the first tick sends the whole total, and a total that
//!   went backwards counts as a reset (the new total is sent, nothing
//!   wraps). `metrics` counters are integers, so
//!   `*_seconds_total` counters count whole seconds: the published total is
//!   the exact total rounded down (the remainder carries over to later
//!   ticks, never lost), which is exact enough for `rate()` over a minute.
//! - **Latency** never goes through `Histogram::record_many`, which costs
//!   O(samples) on the Prometheus recorder. `<name>_count` is a counter;
//!   `<name>_sum` is a *gauge* of the cumulative seconds, because an
//!   integer counter would round sub-millisecond latencies away (it only
//!   grows, so `rate()` still works). The quantile gauges cover the last
//!   interval only (bucket upper bounds, ≤ 12.5 % high) and are NaN when
//!   no op of that kind completed in it: a stale value would keep a
//!   latency alert firing forever after one slow op, and 0 would claim
//!   ops are fast. For exact buckets use the exporter, which renders the
//!   histograms from snapshots.
//! - **Vanished series** (a runtime that exited) are set once to 0 (their
//!   quantiles to NaN; counters and `_sum` keep their totals) and then
//!   forgotten, so sums over runtimes stay right.
//! - **Recorders**: handles are registered once per series and kept (each
//!   `counter!()` is a registry lookup), described once per name. They
//!   belong to the recorder in place at the tick that registered them, so
//!   each tick checks which recorder is current and starts over (as at the
//!   first tick) when it changed, e.g. when the application installs its
//!   recorder after starting the publisher.
//!
//! Cost per tick grows with the number of series (see [`catalog`]; for
//! each latency series, a pass over its ≤ 242 buckets) and in-flight ops,
//! never with the op rate.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Label};

use crate::stats::catalog::{self, MetricDef, MetricKind, Sample, Unit, Value};
use crate::stats::{self, Histogram};

/// A second: frequent enough for dashboards, rare enough to cost nothing.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Interval quantiles published per latency series, with their labels.
const QUANTILES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

/// Pushes ringline's stats to the `metrics` recorder from a background
/// thread named `ringline-metrics`; the thread stops when this is dropped.
///
/// One per process is enough: every tick covers every runtime.
pub struct MetricsPublisher {
    state: Arc<Mutex<State>>,
    interval: Duration,
    /// Dropping it wakes the thread at once, which then exits.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsPublisher {
    /// Starts publishing every second (the first tick at once).
    ///
    /// # Errors
    /// If the thread cannot be spawned.
    pub fn start() -> io::Result<MetricsPublisher> {
        Self::with_interval(DEFAULT_INTERVAL)
    }

    /// Starts publishing every `interval` (the first tick at once).
    ///
    /// # Errors
    /// `InvalidInput` for a zero interval; any error spawning the thread.
    pub fn with_interval(interval: Duration) -> io::Result<MetricsPublisher> {
        if interval.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the metrics publish interval must be above zero",
            ));
        }
        let state = Arc::new(Mutex::new(State::default()));
        let (stop, stopped) = mpsc::channel();
        let shared = Arc::clone(&state);
        let thread = thread::Builder::new()
            .name("ringline-metrics".into())
            .spawn(move || run(&shared, &stopped, interval))?;
        Ok(MetricsPublisher {
            state,
            interval,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Publishes now, on the calling thread: the same work as a tick (for
    /// a final push before exit, or right before a scrape). It uses the
    /// calling thread's recorder, normally the global one.
    pub fn publish(&self) {
        lock(&self.state).tick();
    }
}

impl fmt::Debug for MetricsPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsPublisher")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsPublisher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A recorder that panicked already reported it; a second panic
            // here (possibly while unwinding) would abort the process.
            let _ = thread.join();
        }
    }
}

/// The publisher thread: a tick, then wait for the next one or for stop.
fn run(state: &Mutex<State>, stopped: &mpsc::Receiver<()>, interval: Duration) {
    let mut next = Instant::now();
    loop {
        lock(state).tick();
        next += interval;
        let now = Instant::now();
        if next < now {
            // A tick overran (a slow recorder): skip, rather than burst.
            next = now + interval;
        }
        match stopped.recv_timeout(next - now) {
            Err(RecvTimeoutError::Timeout) => {}
            // Nothing is ever sent: the publisher dropped its sender.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A panic in a recorder mid-tick leaves nothing half-updated that the
/// next tick would not overwrite, so a poisoned lock is still usable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

type Labels = Vec<(&'static str, String)>;

/// The publisher's memory: handles, previous totals, what was described.
#[derive(Default)]
struct State {
    /// Address of the recorder the handles belong to.
    recorder: Option<usize>,
    /// Names already described to that recorder.
    described: HashSet<&'static str>,
    /// Every live series by name, then labels.
    series: HashMap<&'static str, HashMap<Labels, Series>>,
    /// Ticks so far; a series not seen in the current one has vanished.
    tick: u64,
}

/// One series' handles and what the previous tick sent.
struct Series {
    seen: u64,
    handles: Handles,
}

enum Handles {
    Counter {
        counter: Counter,
        /// The raw total (ns for seconds counters) at the last tick.
        last: u64,
        /// Raw units per published unit (1e9 for seconds counters).
        per: u64,
    },
    Gauge(Gauge),
    Latency(Box<Latency>),
}

struct Latency {
    count: Counter,
    sum: Gauge,
    quantiles: [Gauge; QUANTILES.len()],
    /// The histogram at the last tick: the base of the interval.
    last: Histogram,
}

impl State {
    fn tick(&mut self) {
        let snapshot = stats::snapshot();
        self.publish_samples(catalog::samples(&snapshot, catalog::DEFAULT_STUCK_AFTER));
    }

    /// Pushes `samples` to the current recorder and forgets series that
    /// are gone.
    fn publish_samples(&mut self, samples: Vec<Sample<'_>>) {
        // The recorder's address identifies it: comparing vtables is not
        // reliable, and recorders are not `Any`.
        let recorder = metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize);
        if self.recorder != Some(recorder) {
            // The old handles feed a recorder nobody reads; the new one has
            // seen nothing, so first-tick semantics are exactly right.
            *self = State {
                recorder: Some(recorder),
                ..State::default()
            };
        }
        self.tick += 1;
        let tick = self.tick;
        for Sample {
            name,
            labels,
            value,
        } in samples
        {
            let Some(def) = catalog::def(name) else {
                debug_assert!(false, "{name} is not in the catalog");
                continue;
            };
            if self.described.insert(def.name) {
                describe(def);
            }
            // `labels` is ours: a known series costs one lookup, no copy.
            let family = self.series.entry(def.name).or_default();
            let series = family.entry(labels).or_insert_with_key(|labels| Series {
                seen: 0,
                handles: Handles::register(def, labels),
            });
            series.seen = tick;
            series.handles.update(&value);
        }
        for family in self.series.values_mut() {
            family.retain(|_, series| {
                let alive = series.seen == tick;
                if !alive {
                    series.handles.retire();
                }
                alive
            });
        }
    }

    /// Series with registered handles.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.series.values().map(HashMap::len).sum()
    }
}

fn unit(unit: Unit) -> metrics::Unit {
    match unit {
        Unit::Seconds => metrics::Unit::Seconds,
        Unit::Bytes => metrics::Unit::Bytes,
        Unit::Count => metrics::Unit::Count,
    }
}

/// Describes `def` (and a histogram's three derived names) to the recorder.
fn describe(def: &'static MetricDef) {
    let u = unit(def.unit);
    match def.kind {
        MetricKind::Counter => metrics::describe_counter!(def.name, u, def.help),
        MetricKind::Gauge => metrics::describe_gauge!(def.name, u, def.help),
        MetricKind::Histogram => {
            let quantiles = format!(
                "{} Quantiles over the last publish interval; NaN when none completed in it.",
                def.help
            );
            metrics::describe_gauge!(def.name, u, quantiles);
            let sum = format!(
                "Total seconds of {} so far (a gauge: metrics counters are integers). \
                 Its rate over the _count rate is the mean; a high mean means slow ops.",
                def.name
            );
            metrics::describe_gauge!(format!("{}_sum", def.name), u, sum);
            let count = format!(
                "Samples of {} so far. Its rate is the completion rate; high means busy.",
                def.name
            );
            metrics::describe_counter!(format!("{}_count", def.name), metrics::Unit::Count, count);
        }
    }
}

fn facade_labels(labels: &[(&'static str, String)]) -> Vec<Label> {
    labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect()
}

impl Handles {
    /// Registers `def`'s handles for one label set, once.
    fn register(def: &'static MetricDef, labels: &[(&'static str, String)]) -> Handles {
        let l = facade_labels(labels);
        match def.kind {
            MetricKind::Counter => Handles::Counter {
                counter: metrics::counter!(def.name, l),
                last: 0,
                // Raw nanoseconds to whole seconds.
                per: if def.unit == Unit::Seconds {
                    1_000_000_000
                } else {
                    1
                },
            },
            MetricKind::Gauge => Handles::Gauge(metrics::gauge!(def.name, l)),
            MetricKind::Histogram => {
                let quantile = |(_, q): (f64, &'static str)| {
                    let mut l = l.clone();
                    l.push(Label::new("quantile", q));
                    metrics::gauge!(def.name, l)
                };
                Handles::Latency(Box::new(Latency {
                    count: metrics::counter!(format!("{}_count", def.name), l.clone()),
                    sum: metrics::gauge!(format!("{}_sum", def.name), l.clone()),
                    quantiles: QUANTILES.map(quantile),
                    last: Histogram::default(),
                }))
            }
        }
    }

    /// Sends `value`'s change since the last tick.
    fn update(&mut self, value: &Value<'_>) {
        match (self, value) {
            (Handles::Counter { counter, last, per }, &Value::Counter(now)) => {
                counter.increment(increment(*last, now, *per));
                *last = now;
            }
            (Handles::Gauge(gauge), &Value::Gauge(v)) => gauge.set(v),
            (Handles::Latency(h), Value::Histogram(now)) => {
                h.count.increment(increment(h.last.count, now.count, 1));
                h.sum.set(Unit::Seconds.to_base(now.sum_ns));
                let interval = if now.count >= h.last.count {
                    now.delta(&h.last)
                } else {
                    (*now).clone() // a reset: everything is new
                };
                for (gauge, (q, _)) in h.quantiles.iter().zip(QUANTILES) {
                    let ns = interval.quantile_ns(q);
                    gauge.set(ns.map_or(f64::NAN, |ns| Unit::Seconds.to_base(ns)));
                }
                h.last = (*now).clone();
            }
            // The catalog's tests pin every sample's value to its kind.
            _ => debug_assert!(false, "sample value does not match its metric kind"),
        }
    }

    /// The series vanished: gauges to 0 so sums stay right, quantiles to
    /// "no data"; totals stay.
    fn retire(&self) {
        match self {
            Handles::Counter { .. } => {}
            Handles::Gauge(gauge) => gauge.set(0.0),
            Handles::Latency(h) => h.quantiles.iter().for_each(|g| g.set(f64::NAN)),
        }
    }
}

/// What to add to a counter whose raw total went from `last` to `now`,
/// published in units of `per` raw units (rounded down, so the remainder
/// carries to later ticks). A total that went backwards is a reset.
fn increment(last: u64, now: u64, per: u64) -> u64 {
    if now >= last {
        now / per - last / per
    } else {
        now / per
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{OpStats, RuntimeSnapshot, Snapshot, WorkerSnapshot};
    use metrics::{Key, KeyName, Metadata, Recorder, SharedString};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// A `DebuggingRecorder` that also counts describes and registrations.
    #[derive(Default)]
    struct Counting {
        inner: DebuggingRecorder,
        describes: AtomicUsize,
        registers: AtomicUsize,
    }

    impl Recorder for Counting {
        fn describe_counter(&self, k: KeyName, u: Option<metrics::Unit>, d: SharedString) {
            self.describes.fetch_add(1, Relaxed);
            self.inner.describe_counter(k, u, d);
        }
        fn describe_gauge(&self, k: KeyName, u: Option<metrics::Unit>, d: SharedString) {
            self.describes.fetch_add(1, Relaxed);
            self.inner.describe_gauge(k, u, d);
        }
        fn describe_histogram(&self, k: KeyName, u: Option<metrics::Unit>, d: SharedString) {
            self.describes.fetch_add(1, Relaxed);
            self.inner.describe_histogram(k, u, d);
        }
        fn register_counter(&self, key: &Key, m: &Metadata<'_>) -> Counter {
            self.registers.fetch_add(1, Relaxed);
            self.inner.register_counter(key, m)
        }
        fn register_gauge(&self, key: &Key, m: &Metadata<'_>) -> Gauge {
            self.registers.fetch_add(1, Relaxed);
            self.inner.register_gauge(key, m)
        }
        fn register_histogram(&self, key: &Key, m: &Metadata<'_>) -> metrics::Histogram {
            self.registers.fetch_add(1, Relaxed);
            self.inner.register_histogram(key, m)
        }
    }

    /// One runtime with one worker: `polls`, `busy_ns`, 4 tasks, and a
    /// `send` op kind with `latency`.
    fn snapshot(polls: u64, busy_ns: u64, latency: &Histogram) -> Snapshot {
        let mut w = WorkerSnapshot::default();
        let e = &mut w.executor;
        (e.polls_total, e.busy_ns_total, e.tasks) = (polls, busy_ns, 4);
        let mut send = OpStats {
            op: "send".into(),
            latency: latency.clone(),
            ..Default::default()
        };
        (send.submitted_total, send.completed_ok_total) = (latency.count, latency.count);
        w.ops.push(send);
        let runtime = RuntimeSnapshot {
            id: 1,
            workers: vec![w],
            ..Default::default()
        };
        Snapshot {
            runtimes: vec![runtime],
            ..Default::default()
        }
    }

    /// One tick of `snap` into `rec`; returns what the recorder saw since
    /// the last read (counters as increments, gauges as set).
    fn tick(state: &mut State, rec: &Counting, snap: &Snapshot) -> Seen {
        let samples = catalog::samples(snap, catalog::DEFAULT_STUCK_AFTER);
        metrics::with_local_recorder(rec, || state.publish_samples(samples));
        Seen::read(&rec.inner.snapshotter())
    }

    /// One series as the recorder holds it.
    struct Entry {
        name: String,
        labels: Vec<(String, String)>,
        unit: Option<metrics::Unit>,
        help: Option<String>,
        value: DebugValue,
    }

    /// The recorder's contents.
    struct Seen(Vec<Entry>);

    impl Seen {
        fn read(s: &Snapshotter) -> Seen {
            let all = s
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(k, unit, help, value)| {
                    let key = k.key();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()));
                    Entry {
                        name: key.name().to_owned(),
                        labels: labels.collect(),
                        unit,
                        help: help.map(|h| h.to_string()),
                        value,
                    }
                });
            Seen(all.collect())
        }

        /// The one series named `name` whose labels include `labels`.
        fn get(&self, name: &str, labels: &[(&str, &str)]) -> &Entry {
            let has = |e: &&Entry| {
                let has = |&(k, v): &(&str, &str)| e.labels.iter().any(|x| x.0 == k && x.1 == v);
                e.name == name && labels.iter().all(has)
            };
            let found: Vec<_> = self.0.iter().filter(has).collect();
            assert_eq!(found.len(), 1, "{name} {labels:?}");
            found[0]
        }

        fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
            match self.get(name, labels).value {
                DebugValue::Counter(v) => v,
                ref v => panic!("{name}: {v:?}"),
            }
        }

        fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
            match self.get(name, labels).value {
                DebugValue::Gauge(v) => v.into_inner(),
                ref v => panic!("{name}: {v:?}"),
            }
        }
    }

    fn latency(samples: &[(u64, u64)]) -> Histogram {
        let mut h = Histogram::default();
        samples.iter().for_each(|&(ns, n)| h.record_n(ns, n));
        h
    }

    const SEND: &[(&str, &str)] = &[("op", "send")];
    const POLLS: &str = "ringline_worker_polls_total";
    const BUSY: &str = "ringline_worker_busy_seconds_total";
    const LATENCY: &str = "ringline_op_latency_seconds";

    #[test]
    fn counters_send_changes_and_survive_resets() {
        let (mut state, rec) = (State::default(), Counting::default());
        let h = Histogram::default();
        let seen = tick(&mut state, &rec, &snapshot(100, 1_500_000_000, &h));
        assert_eq!(seen.counter(POLLS, &[]), 100, "first tick: the total");
        assert_eq!(seen.counter(BUSY, &[]), 1, "whole seconds");
        let seen = tick(&mut state, &rec, &snapshot(250, 3_200_000_000, &h));
        assert_eq!(seen.counter(POLLS, &[]), 150);
        assert_eq!(seen.counter(BUSY, &[]), 2, "1 → 3, the 0.2 s carried");
        let seen = tick(&mut state, &rec, &snapshot(40, 500_000_000, &h));
        assert_eq!(seen.counter(POLLS, &[]), 40, "reset: the new total");
        assert_eq!(seen.counter(BUSY, &[]), 0);
        let worker = [("runtime", "1"), ("worker", "0")];
        assert_eq!(seen.gauge("ringline_worker_tasks", &worker), 4.0);
        assert_eq!(seen.gauge("ringline_info", &[]), 1.0);
    }

    #[test]
    fn latency_becomes_count_sum_and_interval_quantiles() {
        let (mut state, rec) = (State::default(), Counting::default());
        let (count, sum) = (
            "ringline_op_latency_seconds_count",
            "ringline_op_latency_seconds_sum",
        );
        let q = |q| [("op", "send"), ("quantile", q)];
        let first = latency(&[(1_000, 9)]);
        let seen = tick(&mut state, &rec, &snapshot(0, 0, &first));
        assert_eq!(
            (seen.counter(count, SEND), seen.gauge(sum, SEND)),
            (9, 9e-6)
        );
        for p in ["0.5", "0.999"] {
            assert_eq!(
                seen.gauge(LATENCY, &q(p)),
                1_024e-9,
                "upper bound of 1 µs's bucket"
            );
        }
        // One slow op: the interval holds it alone.
        let second = latency(&[(1_000, 9), (1_000_000, 1)]);
        let seen = tick(&mut state, &rec, &snapshot(0, 0, &second));
        assert_eq!(
            (seen.counter(count, SEND), seen.gauge(sum, SEND)),
            (1, 1_009_000e-9)
        );
        let slow = latency(&[(1_000_000, 1)])
            .quantile_ns(0.5)
            .map(|ns| ns as f64 / 1e9);
        assert_eq!(Some(seen.gauge(LATENCY, &q("0.5"))), slow);
        // Nothing completed: no data, not a stale value.
        let seen = tick(&mut state, &rec, &snapshot(0, 0, &second));
        assert_eq!(seen.counter(count, SEND), 0);
        assert!(seen.gauge(LATENCY, &q("0.99")).is_nan());
        let entry = seen.get(LATENCY, &q("0.9"));
        assert_eq!(entry.unit, Some(metrics::Unit::Seconds));
        let help = entry.help.as_deref().unwrap_or_default();
        assert!(help.contains("publish interval"), "{help}");
    }

    #[test]
    fn handles_and_descriptions_are_registered_once() {
        let (mut state, rec) = (State::default(), Counting::default());
        let snap = snapshot(1, 2, &latency(&[(500, 3)]));
        tick(&mut state, &rec, &snap);
        let (series, registers) = (state.len(), rec.registers.load(Relaxed));
        let describes = rec.describes.load(Relaxed);
        let samples = catalog::samples(&snap, catalog::DEFAULT_STUCK_AFTER);
        let names: HashSet<_> = samples.iter().map(|s| s.name).collect();
        // A latency histogram is described as three names, and registered
        // as count, sum and four quantile gauges.
        assert_eq!((describes, registers), (names.len() + 2, series + 5));
        let seen = tick(&mut state, &rec, &snap);
        assert_eq!(state.len(), series, "the cache does not grow");
        assert_eq!(
            rec.registers.load(Relaxed),
            registers,
            "no registry lookups"
        );
        assert_eq!(rec.describes.load(Relaxed), describes, "described once");
        let busy = seen.get(BUSY, &[]);
        assert_eq!(busy.unit, Some(metrics::Unit::Seconds));
        assert_eq!(busy.help.as_deref(), catalog::def(BUSY).map(|d| d.help));
    }

    #[test]
    fn vanished_series_are_zeroed_and_forgotten() {
        let (mut state, rec) = (State::default(), Counting::default());
        tick(&mut state, &rec, &snapshot(7, 0, &latency(&[(500, 3)])));
        let seen = tick(&mut state, &rec, &Snapshot::default());
        assert_eq!(state.len(), 0);
        assert_eq!(seen.gauge("ringline_worker_tasks", &[]), 0.0);
        assert_eq!(seen.gauge("ringline_info", &[]), 0.0);
        assert!(seen.gauge(LATENCY, &[("quantile", "0.5")]).is_nan());
        assert_eq!(seen.counter(POLLS, &[]), 0, "totals stay");
    }

    #[test]
    fn a_new_recorder_starts_over() {
        let mut state = State::default();
        let (early, late) = (Counting::default(), Counting::default());
        tick(&mut state, &early, &snapshot(5, 0, &Histogram::default()));
        // As when the application installs its recorder after `start`.
        let seen = tick(&mut state, &late, &snapshot(8, 0, &Histogram::default()));
        assert_eq!(seen.counter(POLLS, &[]), 8, "the whole total");
        assert_eq!(late.describes.load(Relaxed), early.describes.load(Relaxed));
    }

    #[test]
    fn increments_round_seconds_down_and_carry() {
        let s = 1_000_000_000;
        assert_eq!(increment(0, 2 * s - 1, s), 1);
        assert_eq!(increment(2 * s - 1, 2 * s, s), 1);
        assert_eq!(increment(2 * s, 2 * s + 5, s), 0);
        assert_eq!((increment(10, 3, 1), increment(3, 10, 1)), (3, 7));
    }

    #[test]
    fn publisher_thread_starts_and_stops_promptly() {
        assert!(MetricsPublisher::with_interval(Duration::ZERO).is_err());
        let publisher = MetricsPublisher::with_interval(Duration::from_millis(10)).expect("spawn");
        let thread = publisher.thread.as_ref().map(|t| t.thread().clone());
        assert_eq!(
            thread.as_ref().and_then(|t| t.name()),
            Some("ringline-metrics")
        );
        thread::sleep(Duration::from_millis(30));
        publisher.publish();
        // Generous bounds: the stop is a channel disconnect, not a timeout.
        let started = Instant::now();
        drop(publisher);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let hourly = MetricsPublisher::with_interval(Duration::from_secs(3600)).expect("spawn");
        let started = Instant::now();
        drop(hourly);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken, not waited out"
        );
    }
}
