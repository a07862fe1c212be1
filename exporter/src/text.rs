//! Snapshots as Prometheus text (exposition format 0.0.4): every series
//! [`catalog::samples`] yields, under the catalog's names, `# HELP` and
//! `# TYPE`, and the latency histograms rendered exactly from their
//! buckets.
//!
//! Histogram series, in seconds:
//!
//! ```text
//! ringline_op_latency_seconds_bucket{runtime="1",worker="0",op="send",le="0.000000128"} 0
//! ringline_op_latency_seconds_bucket{runtime="1",worker="0",op="send",le="0.000000256"} 3
//! …                                        (one line per power of two up to 2^37 ns)
//! ringline_op_latency_seconds_bucket{runtime="1",worker="0",op="send",le="137.438953472"} 9
//! ringline_op_latency_seconds_bucket{runtime="1",worker="0",op="send",le="+Inf"} 9
//! ringline_op_latency_seconds_sum{runtime="1",worker="0",op="send"} 0.000009
//! ringline_op_latency_seconds_count{runtime="1",worker="0",op="send"} 9
//! ```
//!
//! - `le` values are layout boundaries written as exact decimals (integer
//!   arithmetic on nanoseconds, never a float rounding), and a count is
//!   that of samples *below* the boundary: the layout's buckets are
//!   `[lower, upper)`, so a sample of exactly 2^k ns counts from the next
//!   `le` on.
//! - [`Buckets::PowersOfTwo`] (the default) renders every eighth layout
//!   boundary, 128 ns to 2^37 ns ≈ 137 s: 31 finite `le` plus `+Inf`, so a
//!   histogram series costs 34 Prometheus series instead of 244, and
//!   `histogram_quantile` interpolates within a factor of two.
//!   [`Buckets::All`] renders all 241 finite boundaries (12.5 % steps).
//! - `+Inf` and `_count` are the sum of the buckets, so they always agree
//!   even in a snapshot torn by a concurrent record; `_sum` is the
//!   snapshot's `sum_ns`.
//!
//! Cost: one pass over each histogram's non-zero buckets and its boundaries
//! — O(buckets) per series, nothing that grows with the op rate.

use std::fmt::Write;
use std::time::Duration;

use ringline_schema::stats::catalog::{self, METRICS, MetricDef, MetricKind, Sample, Value};
use ringline_schema::stats::histogram::{BUCKETS, SUB_BUCKETS_PER_OCTAVE, bucket_upper_ns};
use ringline_schema::stats::{Histogram, Snapshot, TaskInfo};

use crate::Error;

/// Which latency-histogram boundaries become `le` buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Buckets {
    /// Every power of two from 128 ns to 2^37 ns: 31 finite `le`.
    #[default]
    PowersOfTwo,
    /// Every boundary of the layout: 241 finite `le`.
    All,
}

impl Buckets {
    /// Layout buckets per rendered boundary.
    fn step(self) -> usize {
        match self {
            Buckets::PowersOfTwo => SUB_BUCKETS_PER_OCTAVE,
            Buckets::All => 1,
        }
    }
}

/// How snapshots are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// In-flight ops at least this old count in `ringline_ops_stuck`.
    pub stuck_after: Duration,
    /// The histogram boundaries rendered.
    pub buckets: Buckets,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            stuck_after: catalog::DEFAULT_STUCK_AFTER,
            buckets: Buckets::default(),
        }
    }
}

/// One snapshot to render, with labels that tell its series apart from
/// other sources' in the same exposition (the sidecar's `pid` and
/// `process`).
#[derive(Debug, Clone)]
pub struct Source<'a> {
    snapshot: &'a Snapshot,
    tasks: Option<&'a [TaskInfo]>,
    labels: Vec<(String, String)>,
}

impl<'a> Source<'a> {
    /// A snapshot with no extra labels.
    pub fn new(snapshot: &'a Snapshot) -> Source<'a> {
        Source {
            snapshot,
            tasks: None,
            labels: Vec::new(),
        }
    }

    /// Adds the task series (`ringline_tasks`, `ringline_tasks_stuck`)
    /// counted from `tasks`, the same process's task list (the inspect
    /// socket's `tasks` answer, or `ringline::stats::tasks`). Without it
    /// those families are left out (a process too old to list its tasks).
    pub fn with_tasks(mut self, tasks: &'a [TaskInfo]) -> Self {
        self.tasks = Some(tasks);
        self
    }

    /// Adds label `name="value"` to every series of this source. The name
    /// must be a valid Prometheus label name, not reserved (`__*`), not
    /// `le`, not one the catalog uses and not already added.
    pub fn with_label(mut self, name: &str, value: impl Into<String>) -> Result<Self, Error> {
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let valid = first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let taken = name.starts_with("__")
            || name == "le"
            || METRICS.iter().any(|d| d.labels.contains(&name))
            || self.labels.iter().any(|(n, _)| n == name);
        if !valid || taken {
            return Err(Error::Label(name.to_owned()));
        }
        self.labels.push((name.to_owned(), value.into()));
        Ok(self)
    }
}

/// Appends every series of `sources` to `out`, one family per catalog
/// name (in catalog order, the sources' series together under one
/// `# HELP` / `# TYPE`); families without a series are left out.
pub fn render(sources: &[Source<'_>], options: &RenderOptions, out: &mut String) {
    let all: Vec<Vec<Sample<'_>>> = sources
        .iter()
        .map(|s| {
            let mut samples = catalog::samples(s.snapshot, options.stuck_after);
            if let Some(tasks) = s.tasks {
                samples.extend(catalog::task_samples(
                    s.snapshot,
                    tasks,
                    options.stuck_after,
                ));
            }
            samples
        })
        .collect();
    // Grouped by family without relying on the order `samples` promises:
    // a misordered sample would otherwise land in a second family.
    let mut families: Vec<Vec<Series<'_>>> = METRICS.iter().map(|_| Vec::new()).collect();
    for (source, samples) in sources.iter().zip(&all) {
        for s in samples {
            if let Some(rank) = METRICS.iter().position(|d| d.name == s.name) {
                families[rank].push((&source.labels, s));
            }
        }
    }
    for (def, family) in METRICS.iter().zip(&families) {
        if family.is_empty() {
            continue;
        }
        write_header(def, out);
        for (extra, sample) in family {
            write_sample(def, extra, sample, options.buckets, out);
        }
    }
}

/// A sample and the labels of the source it came from.
type Series<'s> = (&'s [(String, String)], &'s Sample<'s>);

fn write_header(def: &MetricDef, out: &mut String) {
    out.push_str("# HELP ");
    out.push_str(def.name);
    out.push(' ');
    for c in def.help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let kind = match def.kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
    };
    let _ = writeln!(out, "\n# TYPE {} {kind}", def.name);
}

fn write_sample(
    def: &MetricDef,
    extra: &[(String, String)],
    sample: &Sample<'_>,
    buckets: Buckets,
    out: &mut String,
) {
    let labels = Labels {
        extra,
        own: &sample.labels,
    };
    match &sample.value {
        Value::Counter(raw) => {
            labels.write_series(def.name, "", None, out);
            write_decimal(*raw, def.unit.raw_per_unit(), out);
        }
        Value::Gauge(v) => {
            labels.write_series(def.name, "", None, out);
            write_float(*v, out);
        }
        Value::Histogram(h) => write_histogram(def.name, &labels, h, buckets, out),
    }
    out.push('\n');
}

/// Cumulative `_bucket` lines, then `_sum` and `_count` (no final newline).
fn write_histogram(name: &str, labels: &Labels<'_>, h: &Histogram, b: Buckets, out: &mut String) {
    let mut rest = h.buckets.iter().peekable();
    let mut below = 0u64;
    let mut le = String::new();
    for i in (0..BUCKETS).step_by(b.step()) {
        let Some(upper_ns) = bucket_upper_ns(i) else {
            break; // the overflow bucket: only `+Inf` bounds it
        };
        while let Some(&&(_, c)) = rest.peek().filter(|(bucket, _)| usize::from(*bucket) <= i) {
            below = below.saturating_add(c);
            rest.next();
        }
        le.clear();
        write_decimal(upper_ns, NS_PER_SECOND, &mut le);
        labels.write_series(name, "_bucket", Some(&le), out);
        let _ = writeln!(out, "{below}");
    }
    let total = rest.fold(below, |n, &(_, c)| n.saturating_add(c));
    labels.write_series(name, "_bucket", Some("+Inf"), out);
    let _ = writeln!(out, "{total}");
    labels.write_series(name, "_sum", None, out);
    write_decimal(h.sum_ns, NS_PER_SECOND, out);
    out.push('\n');
    labels.write_series(name, "_count", None, out);
    let _ = write!(out, "{total}");
}

const NS_PER_SECOND: u64 = 1_000_000_000;

/// A series' label set: the source's labels, then the sample's own.
struct Labels<'a> {
    extra: &'a [(String, String)],
    own: &'a [(&'static str, String)],
}

impl Labels<'_> {
    /// `name{labels,le="…"} ` (the value follows).
    fn write_series(&self, name: &str, suffix: &str, le: Option<&str>, out: &mut String) {
        out.push_str(name);
        out.push_str(suffix);
        let extra = self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let own = self.own.iter().map(|(k, v)| (*k, v.as_str()));
        let mut all = extra.chain(own).chain(le.map(|v| ("le", v))).peekable();
        if all.peek().is_some() {
            out.push('{');
            for (n, (k, v)) in all.enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                escape_label_value(v, out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
    }
}

/// A label value as the text format wants it: `\`, `"` and newline
/// escaped, everything else (any UTF-8) as is.
pub(crate) fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `raw / per` as an exact decimal, `per` a power of ten (1 or 10^9):
/// integer arithmetic, so 1 ns is `0.000000001`, never `1.0000000000000001e-9`.
fn write_decimal(raw: u64, per: u64, out: &mut String) {
    debug_assert!(per > 0 && 10u64.pow(per.ilog10()) == per, "{per}");
    let (whole, frac) = (raw / per, raw % per);
    let _ = write!(out, "{whole}");
    if frac != 0 {
        let digits = per.ilog10() as usize;
        let frac = format!("{frac:0digits$}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

/// A float as Prometheus reads it (`+Inf`, `-Inf`, `NaN` spelled its way).
fn write_float(v: f64, out: &mut String) {
    let _ = match v {
        v if v.is_nan() => write!(out, "NaN"),
        f64::INFINITY => write!(out, "+Inf"),
        f64::NEG_INFINITY => write!(out, "-Inf"),
        v => write!(out, "{v}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringline_schema::stats::histogram::OVERFLOW_NS;
    use ringline_schema::stats::{OpStats, RuntimeSnapshot, SlabStats, WorkerSnapshot};

    /// The pools of one worker and of the runtime, as the runtime lists
    /// them (`stats/kinds.rs`).
    const WORKER_POOLS: [&str; 10] = [
        "connections",
        "tasks",
        "timers",
        "send_copy",
        "recv_buffers",
        "udp_recv_buffers",
        "udp_send",
        "op_slots",
        "fs_files",
        "fs_commands",
    ];
    const RUNTIME_POOLS: [&str; 2] = ["blocking_queue", "resolver_queue"];

    fn slabs(names: &[&str]) -> Vec<SlabStats> {
        let slab = |n: &&str| SlabStats {
            slab: (*n).into(),
            capacity: 64,
            ..Default::default()
        };
        names.iter().map(slab).collect()
    }

    fn op(name: &str, multishot: bool) -> OpStats {
        OpStats {
            op: name.into(),
            multishot,
            submitted_total: 1,
            ..Default::default()
        }
    }

    /// A worker of an echo server: accept and recv multishot; send, close
    /// and timer one-shot.
    fn echo_worker(worker: usize) -> WorkerSnapshot {
        let ops = [
            ("accept", true),
            ("recv", true),
            ("send", false),
            ("close", false),
            ("timer", false),
        ];
        WorkerSnapshot {
            worker,
            slabs: slabs(&WORKER_POOLS),
            ops: ops.iter().map(|&(n, m)| op(n, m)).collect(),
            ..Default::default()
        }
    }

    fn echo_snapshot(workers: usize) -> Snapshot {
        let rt = RuntimeSnapshot {
            id: 3,
            backend: "io_uring".into(),
            version: "0.2.0".into(),
            slabs: slabs(&RUNTIME_POOLS),
            workers: (0..workers).map(echo_worker).collect(),
            ..Default::default()
        };
        Snapshot {
            runtimes: vec![rt],
            ..Default::default()
        }
    }

    fn render_one(snap: &Snapshot, options: &RenderOptions) -> String {
        let mut out = String::new();
        render(&[Source::new(snap)], options, &mut out);
        out
    }

    fn lines_of<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn counter_gauge_and_histogram_lines_are_exact() {
        let mut snap = echo_snapshot(1);
        let w = &mut snap.runtimes[0].workers[0];
        w.executor.polls_total = 42;
        w.executor.busy_ns_total = 1_500_000_001;
        w.executor.tasks = 4;
        w.executor.heartbeat_age_ns = 250_000_000;
        let send = w.ops.iter_mut().find(|o| o.op == "send").unwrap();
        send.latency.record_n(1_000, 2);
        send.latency.record_n(300, 1);
        send.latency.record_n(200 * NS_PER_SECOND, 1);
        let text = render_one(&snap, &RenderOptions::default());

        let polls = lines_of(&text, "ringline_worker_polls_total");
        assert_eq!(
            polls,
            [r#"ringline_worker_polls_total{runtime="3",worker="0"} 42"#]
        );
        let busy = lines_of(&text, "ringline_worker_busy_seconds_total");
        assert_eq!(
            busy,
            [r#"ringline_worker_busy_seconds_total{runtime="3",worker="0"} 1.500000001"#]
        );
        let tasks = lines_of(&text, "ringline_worker_tasks");
        assert_eq!(
            tasks,
            [r#"ringline_worker_tasks{runtime="3",worker="0"} 4"#]
        );
        let age = lines_of(&text, "ringline_worker_heartbeat_age_seconds");
        assert_eq!(
            age,
            [r#"ringline_worker_heartbeat_age_seconds{runtime="3",worker="0"} 0.25"#]
        );
        assert!(text.contains(
            "# HELP ringline_worker_polls_total Task polls. A high rate with little I/O \
             means tasks wake each other without making progress.\n\
             # TYPE ringline_worker_polls_total counter\n\
             ringline_worker_polls_total{"
        ));
        assert!(text.contains("# TYPE ringline_worker_tasks gauge\n"));
        assert!(text.contains("# TYPE ringline_op_latency_seconds histogram\n"));

        let send: Vec<_> = lines_of(&text, "ringline_op_latency_seconds")
            .into_iter()
            .filter(|l| l.contains(r#"op="send""#))
            .collect();
        let s = r#"runtime="3",worker="0",op="send""#;
        let head = [
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="0.000000128"}} 0"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="0.000000256"}} 0"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="0.000000512"}} 1"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="0.000001024"}} 3"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="0.000002048"}} 3"#),
        ];
        assert_eq!(send[..5], head);
        let tail = [
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="68.719476736"}} 3"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="137.438953472"}} 3"#),
            format!(r#"ringline_op_latency_seconds_bucket{{{s},le="+Inf"}} 4"#),
            format!(r#"ringline_op_latency_seconds_sum{{{s}}} 200.0000023"#),
            format!(r#"ringline_op_latency_seconds_count{{{s}}} 4"#),
        ];
        assert_eq!(send[send.len() - 5..], tail);
        assert_eq!(send.len(), 31 + 1 + 2, "31 finite le, +Inf, _sum, _count");
    }

    #[test]
    fn histogram_buckets_are_cumulative_counts_below_each_boundary() {
        let mut h = Histogram::default();
        for (i, ns) in [
            0,
            127,
            128,
            255,
            256,
            1_000,
            5_000,
            1 << 20,
            1 << 33,
            OVERFLOW_NS,
        ]
        .into_iter()
        .enumerate()
        {
            h.record_n(ns, i as u64 + 1);
        }
        for buckets in [Buckets::PowersOfTwo, Buckets::All] {
            let mut out = String::new();
            let labels = Labels {
                extra: &[],
                own: &[],
            };
            write_histogram("h", &labels, &h, buckets, &mut out);
            let mut finite = 0;
            for line in out.lines().filter(|l| l.starts_with("h_bucket")) {
                let le = line.split('"').nth(1).unwrap();
                let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                if le == "+Inf" {
                    assert_eq!(n, h.count);
                    continue;
                }
                finite += 1;
                let (s, frac) = le.split_once('.').unwrap();
                let ns: u64 = format!("{s}{frac:0<9}").parse().unwrap();
                assert_eq!(Some(n), h.count_below(ns), "le={le}");
                if buckets == Buckets::PowersOfTwo {
                    assert!(ns.is_power_of_two(), "le={le}");
                }
            }
            let want = if buckets == Buckets::All { 241 } else { 31 };
            assert_eq!(finite, want, "{buckets:?}");
            assert!(out.ends_with(&format!("h_count {}", h.count)), "{out}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value("a\\b\"c\nd é", &mut out);
        assert_eq!(out, r#"a\\b\"c\nd é"#);

        let mut snap = echo_snapshot(1);
        snap.runtimes[0].backend = "io\"uring\\\n".into();
        let src = Source::new(&snap)
            .with_label("process", "my \"app\"\\x\ny")
            .unwrap();
        let mut text = String::new();
        render(&[src], &RenderOptions::default(), &mut text);
        let info = lines_of(&text, "ringline_info");
        assert_eq!(
            info,
            [
                r#"ringline_info{process="my \"app\"\\x\ny",runtime="3",backend="io\"uring\\\n",version="0.2.0"} 1"#
            ]
        );
        // Every line is a comment or `name{…} value`: no raw newline leaked.
        for line in text.lines() {
            assert!(line.starts_with('#') || line.contains("} "), "{line}");
        }
    }

    #[test]
    fn source_labels_must_be_valid_and_free() {
        let snap = Snapshot::default();
        let ok = Source::new(&snap).with_label("pid", "1").unwrap();
        assert!(ok.clone().with_label("process", "x").is_ok());
        for bad in [
            "", "1pid", "a-b", "__x", "le", "worker", "op", "runtime", "pid",
        ] {
            let err = ok.clone().with_label(bad, "v").unwrap_err();
            assert!(matches!(err, Error::Label(_)), "{bad}");
            assert!(err.to_string().starts_with("invalid label name"), "{err}");
        }
    }

    #[test]
    fn sources_share_one_family_each() {
        let (mut a, mut b) = (echo_snapshot(1), echo_snapshot(2));
        // Processes whose recorder runs, with task lists (empty ones): the
        // recorder and task families are there too.
        a.recorder.enabled = true;
        b.recorder.enabled = true;
        let sources = [
            Source::new(&a)
                .with_tasks(&[])
                .with_label("pid", "10")
                .unwrap(),
            Source::new(&b)
                .with_tasks(&[])
                .with_label("pid", "20")
                .unwrap(),
        ];
        let mut text = String::new();
        render(&sources, &RenderOptions::default(), &mut text);
        for def in METRICS {
            let types = lines_of(&text, &format!("# TYPE {} ", def.name));
            assert_eq!(types.len(), 1, "{}", def.name);
        }
        let polls = lines_of(&text, "ringline_worker_polls_total");
        assert_eq!(
            polls,
            [
                r#"ringline_worker_polls_total{pid="10",runtime="3",worker="0"} 0"#,
                r#"ringline_worker_polls_total{pid="20",runtime="3",worker="0"} 0"#,
                r#"ringline_worker_polls_total{pid="20",runtime="3",worker="1"} 0"#,
            ]
        );
        // Within a family, lines follow each other: no family is split.
        let mut seen = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| *f == "ringline_op_latency_seconds")
                .unwrap_or(name);
            if seen.last() != Some(&family) {
                assert!(!seen.contains(&family), "{family} split");
                seen.push(family);
            }
        }
        let mut empty = String::new();
        render(&[], &RenderOptions::default(), &mut empty);
        assert_eq!(empty, "");
    }

    /// The number the crate docs state: a 2-worker echo server.
    #[test]
    fn series_count_of_a_two_worker_echo_server() {
        let snap = echo_snapshot(2);
        let catalog_series = catalog::samples(&snap, catalog::DEFAULT_STUCK_AFTER).len();
        assert_eq!(catalog_series, 229, "the runtime's documented count");
        let count = |buckets| {
            let text = render_one(
                &snap,
                &RenderOptions {
                    buckets,
                    ..Default::default()
                },
            );
            text.lines().filter(|l| !l.starts_with('#')).count()
        };
        // 6 histogram series (3 one-shot kinds × 2 workers) become 34 each.
        assert_eq!(count(Buckets::PowersOfTwo), 229 - 6 + 6 * 34);
        assert_eq!(count(Buckets::PowersOfTwo), 427);
        assert_eq!(count(Buckets::All), 229 - 6 + 6 * 244);
    }

    #[test]
    fn numbers_are_written_exactly() {
        let dec = |raw, per| {
            let mut s = String::new();
            write_decimal(raw, per, &mut s);
            s
        };
        assert_eq!(dec(0, NS_PER_SECOND), "0");
        assert_eq!(dec(1, NS_PER_SECOND), "0.000000001");
        assert_eq!(dec(3_000_000_000, NS_PER_SECOND), "3");
        assert_eq!(dec(u64::MAX, NS_PER_SECOND), "18446744073.709551615");
        assert_eq!(dec(u64::MAX, 1), "18446744073709551615");
        let float = |v| {
            let mut s = String::new();
            write_float(v, &mut s);
            s
        };
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(0.002), "0.002");
        assert_eq!(float(1.0), "1");
    }
}
