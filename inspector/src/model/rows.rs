//! Table rows derived from snapshots: one per worker, per op kind, per
//! pool and per in-flight op. Rates come from [`Snapshot::delta`] between
//! the two latest snapshots; latency quantiles from the histograms' growth
//! over the whole kept window (smoother than one interval, still "now").
//! With a single snapshot (`--once`, or the first one after attaching)
//! rates are unknown and latencies cover the whole process lifetime.

use ringline_schema::stats::{Histogram, InFlightOp, OpStats, OpTarget, Snapshot, WorkerSnapshot};

/// The snapshots rows are derived from.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// The newest snapshot: every gauge comes from it.
    pub latest: &'a Snapshot,
    /// The one before it: the base of rates.
    pub prev: Option<&'a Snapshot>,
    /// The oldest one kept: the base of windowed latency histograms.
    pub first: Option<&'a Snapshot>,
}

impl<'a> Window<'a> {
    /// One snapshot alone: no rates, lifetime latencies.
    pub fn single(latest: &'a Snapshot) -> Window<'a> {
        Window {
            latest,
            prev: None,
            first: None,
        }
    }

    /// `latest` minus `prev`, and the seconds between them; `None` without
    /// a usable previous snapshot.
    fn rate_base(&self) -> Option<(Snapshot, f64)> {
        let prev = self.prev?;
        let secs = self.latest.interval(prev).as_secs_f64();
        (secs > 0.0).then(|| (self.latest.delta(prev), secs))
    }
}

/// A worker, by runtime id and index within that runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId {
    /// Process-unique runtime id.
    pub runtime: u64,
    /// Worker index within the runtime.
    pub worker: usize,
}

/// How a worker is named in tables: its index, prefixed by the runtime id
/// when the process runs more than one runtime.
pub fn worker_label(snapshot: &Snapshot, id: WorkerId) -> String {
    if snapshot.runtimes.len() > 1 {
        format!("{}/{}", id.runtime, id.worker)
    } else {
        id.worker.to_string()
    }
}

/// One row of the Overview: a worker's health at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// Which worker.
    pub id: WorkerId,
    /// Its table label (see [`worker_label`]).
    pub label: String,
    /// Event-loop iterations per second.
    pub loop_rate: Option<f64>,
    /// Share of time running rather than waiting for the kernel, over the
    /// last interval (over its lifetime with a single snapshot).
    pub busy: Option<f64>,
    /// Waiting for events now (healthy however long).
    pub parked: bool,
    /// Time since the worker last left its wait (0 while parked).
    pub heartbeat_age_ns: u64,
    /// Tasks alive.
    pub tasks: u64,
    /// One-shot ops in flight.
    pub in_flight: u64,
    /// Connections open.
    pub connections: u64,
    /// Ops parked in the graveyard.
    pub graveyard_depth: u64,
    /// The fullest configured pool: name and used/capacity.
    pub fullest_slab: Option<(String, f64)>,
    /// p99 of every one-shot op's latency over the window.
    pub p99_ns: Option<u64>,
}

/// Every worker of every runtime, in (runtime, index) order.
pub fn worker_rows(w: Window<'_>) -> Vec<WorkerRow> {
    let base = w.rate_base();
    let mut rows = Vec::new();
    for rt in &w.latest.runtimes {
        for ws in &rt.workers {
            let id = WorkerId {
                runtime: rt.id,
                worker: ws.worker,
            };
            let delta = base
                .as_ref()
                .and_then(|(d, secs)| find_worker(d, id).map(|dw| (dw, *secs)));
            rows.push(worker_row(w, id, ws, delta));
        }
    }
    rows
}

fn worker_row(
    w: Window<'_>,
    id: WorkerId,
    ws: &WorkerSnapshot,
    delta: Option<(&WorkerSnapshot, f64)>,
) -> WorkerRow {
    let e = &ws.executor;
    let busy = match delta {
        Some((d, secs)) => {
            let (b, p) = (d.executor.busy_ns_total, d.executor.parked_ns_total);
            if b + p > 0 {
                Some(b as f64 / (b + p) as f64)
            } else if !e.parked && e.heartbeat_age_ns as f64 >= secs * 1e9 {
                // A wedged worker publishes nothing: no busy time counted,
                // yet it has been running the whole interval.
                Some(1.0)
            } else {
                None
            }
        }
        None => {
            let (b, p) = (e.busy_ns_total, e.parked_ns_total);
            (b + p > 0).then(|| b as f64 / (b + p) as f64)
        }
    };
    let mut latency = Histogram::default();
    for op in ws.ops.iter().filter(|o| !o.multishot) {
        let before = w
            .first
            .and_then(|f| find_worker(f, id))
            .and_then(|fw| fw.op(&op.op));
        latency.merge(&windowed(&op.latency, before.map(|b| &b.latency)));
    }
    WorkerRow {
        id,
        label: worker_label(w.latest, id),
        loop_rate: delta.map(|(d, secs)| d.executor.loop_iterations_total as f64 / secs),
        busy,
        parked: e.parked,
        heartbeat_age_ns: e.heartbeat_age_ns,
        tasks: e.tasks,
        in_flight: ws
            .ops
            .iter()
            .filter(|o| !o.multishot)
            .map(|o| o.in_flight)
            .sum(),
        connections: ws.net.connections_active,
        graveyard_depth: ws.graveyard.depth,
        fullest_slab: ws
            .slabs
            .iter()
            .filter(|s| s.capacity > 0)
            .map(|s| (s.slab.clone(), s.used as f64 / s.capacity as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1)),
        p99_ns: latency.quantile_ns(0.99),
    }
}

/// The worker `id` of `snapshot`.
pub fn find_worker(snapshot: &Snapshot, id: WorkerId) -> Option<&WorkerSnapshot> {
    snapshot
        .runtime(id.runtime)?
        .workers
        .iter()
        .find(|w| w.worker == id.worker)
}

/// `now` minus `before` when there is a `before`, else `now` itself.
fn windowed(now: &Histogram, before: Option<&Histogram>) -> Histogram {
    before.map_or_else(|| now.clone(), |b| now.delta(b))
}

/// Which ops an [`op_rows`] call sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpScope {
    /// Per runtime, summed over its workers.
    Runtimes,
    /// One worker's own.
    Worker(WorkerId),
}

/// One row of the Ops view: an op kind's traffic and latency.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRow {
    /// The runtime it belongs to.
    pub runtime: u64,
    /// Op name (`fs_read`, `send`, …).
    pub op: String,
    /// A multishot op (armed over many completions, no latency).
    pub multishot: bool,
    /// Completions per second (for multishot ops: intermediate
    /// completions per second).
    pub rate: Option<f64>,
    /// Submitted and not finished (multishot: armed).
    pub in_flight: u64,
    /// Lifetime totals, as in [`OpStats`].
    pub submitted_total: u64,
    /// Finished with success.
    pub completed_ok_total: u64,
    /// Finished with an error.
    pub completed_error_total: u64,
    /// Finished cancelled.
    pub completed_cancelled_total: u64,
    /// Intermediate completions of a multishot op.
    pub multishot_cqes_total: u64,
    /// Latency over the window (lifetime with a single snapshot).
    pub latency: Histogram,
    /// Quantiles of [`latency`](Self::latency), in ns.
    pub p50_ns: Option<u64>,
    /// 99th percentile.
    pub p99_ns: Option<u64>,
    /// 99.9th percentile.
    pub p999_ns: Option<u64>,
    /// The top of the highest non-empty bucket.
    pub max_ns: Option<u64>,
}

impl OpRow {
    /// Never used since the process started: hidden in the TUI.
    pub fn is_idle(&self) -> bool {
        self.submitted_total == 0 && self.in_flight == 0
    }
}

/// One row per op kind (per runtime for [`OpScope::Runtimes`]), in the
/// runtime's own op order; idle kinds included.
pub fn op_rows(w: Window<'_>, scope: OpScope) -> Vec<OpRow> {
    let base = w.rate_base();
    let mut rows = Vec::new();
    for rt in &w.latest.runtimes {
        if let OpScope::Worker(id) = scope
            && id.runtime != rt.id
        {
            continue;
        }
        for name in op_names(rt.workers.iter()) {
            let pick = |s: &Snapshot| -> Option<OpStats> {
                match scope {
                    OpScope::Runtimes => s.runtime(rt.id).map(|r| r.op_total(&name)),
                    OpScope::Worker(id) => find_worker(s, id)?.op(&name).cloned(),
                }
            };
            let Some(now) = pick(w.latest) else { continue };
            let delta = base
                .as_ref()
                .and_then(|(d, secs)| pick(d).map(|o| (o, *secs)));
            let rate = delta.map(|(d, secs)| {
                let n = if d.multishot {
                    d.multishot_cqes_total
                } else {
                    d.completed_total()
                };
                n as f64 / secs
            });
            let before = w.first.and_then(pick);
            let latency = windowed(&now.latency, before.as_ref().map(|b| &b.latency));
            rows.push(OpRow {
                runtime: rt.id,
                rate,
                in_flight: now.in_flight,
                submitted_total: now.submitted_total,
                completed_ok_total: now.completed_ok_total,
                completed_error_total: now.completed_error_total,
                completed_cancelled_total: now.completed_cancelled_total,
                multishot_cqes_total: now.multishot_cqes_total,
                p50_ns: latency.quantile_ns(0.5),
                p99_ns: latency.quantile_ns(0.99),
                p999_ns: latency.quantile_ns(0.999),
                max_ns: latency.quantile_ns(1.0),
                latency,
                multishot: now.multishot,
                op: name,
            });
        }
    }
    rows
}

/// Op names in first-seen order over `workers`.
fn op_names<'a>(workers: impl Iterator<Item = &'a WorkerSnapshot>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for w in workers {
        for o in &w.ops {
            if !names.contains(&o.op) {
                names.push(o.op.clone());
            }
        }
    }
    names
}

/// One configured pool of one worker (or of a whole runtime).
#[derive(Debug, Clone, PartialEq)]
pub struct SlabRow {
    /// The runtime it belongs to.
    pub runtime: u64,
    /// The worker owning it; `None` for runtime-wide pools.
    pub worker: Option<WorkerId>,
    /// Its label: the worker's, or `rt` for runtime-wide pools.
    pub owner: String,
    /// Pool name.
    pub slab: String,
    /// Entries in use.
    pub used: u64,
    /// Fixed capacity.
    pub capacity: u64,
    /// Most ever in use at once.
    pub high_water: u64,
    /// Requests refused because it was full.
    pub exhausted_total: u64,
    /// `used / capacity`.
    pub ratio: f64,
}

/// Every configured pool (capacity > 0): each worker's, then the runtime's.
pub fn slab_rows(snapshot: &Snapshot) -> Vec<SlabRow> {
    let mut rows = Vec::new();
    for rt in &snapshot.runtimes {
        let owned = rt.workers.iter().flat_map(|ws| {
            let id = WorkerId {
                runtime: rt.id,
                worker: ws.worker,
            };
            ws.slabs.iter().map(move |s| (Some(id), s))
        });
        for (worker, s) in owned.chain(rt.slabs.iter().map(|s| (None, s))) {
            if s.capacity == 0 {
                continue;
            }
            rows.push(SlabRow {
                runtime: rt.id,
                worker,
                owner: worker.map_or_else(
                    || {
                        if snapshot.runtimes.len() > 1 {
                            format!("rt {}", rt.id)
                        } else {
                            "rt".to_owned()
                        }
                    },
                    |id| worker_label(snapshot, id),
                ),
                slab: s.slab.clone(),
                used: s.used,
                capacity: s.capacity,
                high_water: s.high_water,
                exhausted_total: s.exhausted_total,
                ratio: s.used as f64 / s.capacity as f64,
            });
        }
    }
    rows
}

/// What an in-flight op works on, in a few words: `conn #7 10.0.0.1:80`,
/// `fd 23 /var/log/app.log` (`fd 23` when its path is not known),
/// `/var/lib/…`, `-`.
pub fn target_text(target: &OpTarget) -> String {
    match target {
        OpTarget::None => "-".to_owned(),
        OpTarget::Connection { index, peer } => match peer {
            Some(p) => format!("conn #{index} {p}"),
            None => format!("conn #{index}"),
        },
        OpTarget::Fd { fd, path } => match path {
            Some(p) => format!("fd {fd} {p}"),
            None => format!("fd {fd}"),
        },
        OpTarget::Path { prefix, truncated } => {
            if *truncated {
                format!("{prefix}…")
            } else {
                prefix.clone()
            }
        }
    }
}

/// The flags of an in-flight op by name: `graveyard` (its future was
/// dropped), `cancel_submitted`.
pub fn flag_names(op: &InFlightOp) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if op.in_graveyard {
        flags.push("graveyard");
    }
    if op.cancel_submitted {
        flags.push("cancel_submitted");
    }
    flags
}

/// Everything the Worker view shows about one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerDetail {
    /// Its Overview row.
    pub row: WorkerRow,
    /// Its latest snapshot (gauges and lifetime totals).
    pub snapshot: WorkerSnapshot,
    /// Its runtime's backend.
    pub backend: String,
    /// Task polls per second.
    pub polls_rate: Option<f64>,
    /// SQEs submitted per second (mio: ops started).
    pub sqe_rate: Option<f64>,
    /// `io_uring_enter` (mio: `poll`) calls per second.
    pub enter_rate: Option<f64>,
    /// CQEs (mio: completions) per second.
    pub cqe_rate: Option<f64>,
    /// Stream bytes received per second.
    pub bytes_in_rate: Option<f64>,
    /// Stream bytes sent per second.
    pub bytes_out_rate: Option<f64>,
}

/// The detail of worker `id`, if the latest snapshot has it.
pub fn worker_detail(w: Window<'_>, id: WorkerId) -> Option<WorkerDetail> {
    let snapshot = find_worker(w.latest, id)?.clone();
    let row = worker_rows(w).into_iter().find(|r| r.id == id)?;
    let base = w.rate_base();
    let delta = base
        .as_ref()
        .and_then(|(d, secs)| find_worker(d, id).map(|dw| (dw, *secs)));
    let per_s = |f: fn(&WorkerSnapshot) -> u64| delta.map(|(d, secs)| f(d) as f64 / secs);
    Some(WorkerDetail {
        row,
        backend: w
            .latest
            .runtime(id.runtime)
            .map(|r| r.backend.clone())
            .unwrap_or_default(),
        polls_rate: per_s(|d| d.executor.polls_total),
        sqe_rate: per_s(|d| d.ring.sqes_submitted_total),
        enter_rate: per_s(|d| d.ring.enter_calls_total),
        cqe_rate: per_s(|d| d.ring.cqes_reaped_total),
        bytes_in_rate: per_s(|d| d.net.bytes_received_total),
        bytes_out_rate: per_s(|d| d.net.bytes_sent_total),
        snapshot,
    })
}

/// One power of two of a latency histogram, for distribution charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Octave {
    /// Lower bound in ns (inclusive).
    pub lower_ns: u64,
    /// Upper bound in ns (exclusive); `None` for the overflow bucket.
    pub upper_ns: Option<u64>,
    /// Samples in it.
    pub count: u64,
}

/// `h` summed per power of two (the layout's 8 sub-buckets merged), from
/// the lowest to the highest non-empty octave, empty ones between kept so
/// the chart's scale stays logarithmic. Empty histogram: no octaves.
pub fn octaves(h: &Histogram) -> Vec<Octave> {
    use ringline_schema::stats::histogram::{BUCKETS, SUB_BUCKETS_PER_OCTAVE, bucket_lower_ns};
    // Group 0 is bucket 0 (below the first octave), the last group the
    // overflow bucket; the rest are 8 sub-buckets each.
    let group_of = |i: usize| -> usize {
        match i {
            0 => 0,
            _ if i == BUCKETS - 1 => (BUCKETS - 2) / SUB_BUCKETS_PER_OCTAVE + 1,
            _ => (i - 1) / SUB_BUCKETS_PER_OCTAVE + 1,
        }
    };
    let groups = group_of(BUCKETS - 1) + 1;
    let mut counts = vec![0u64; groups];
    for &(i, c) in &h.buckets {
        counts[group_of(usize::from(i))] += c;
    }
    let (Some(lo), Some(hi)) = (
        counts.iter().position(|&c| c > 0),
        counts.iter().rposition(|&c| c > 0),
    ) else {
        return Vec::new();
    };
    (lo..=hi)
        .map(|g| {
            let first_bucket = match g {
                0 => 0,
                _ if g == groups - 1 => BUCKETS - 1,
                _ => 1 + (g - 1) * SUB_BUCKETS_PER_OCTAVE,
            };
            let upper_ns = match g {
                _ if g == groups - 1 => None,
                0 => Some(bucket_lower_ns(1)),
                _ => Some(bucket_lower_ns(first_bucket) * 2),
            };
            Octave {
                lower_ns: bucket_lower_ns(first_bucket),
                upper_ns,
                count: counts[g],
            }
        })
        .collect()
}

#[cfg(test)]
mod octave_tests {
    use super::*;

    #[test]
    fn octaves_merge_sub_buckets_and_keep_gaps() {
        let mut h = Histogram::default();
        h.record_n(20_000, 3); // [16384, 32768)
        h.record_n(30_000, 2); // same octave
        h.record_n(80_000, 1); // [65536, 131072)
        let o = octaves(&h);
        assert_eq!(
            o,
            [
                Octave {
                    lower_ns: 16_384,
                    upper_ns: Some(32_768),
                    count: 5
                },
                Octave {
                    lower_ns: 32_768,
                    upper_ns: Some(65_536),
                    count: 0
                },
                Octave {
                    lower_ns: 65_536,
                    upper_ns: Some(131_072),
                    count: 1
                },
            ]
        );
        assert!(octaves(&Histogram::default()).is_empty());
        let mut edges = Histogram::default();
        edges.record_n(5, 1);
        edges.record_n(u64::MAX, 1);
        let o = octaves(&edges);
        assert_eq!(
            o.first().map(|x| (x.lower_ns, x.upper_ns)),
            Some((0, Some(128)))
        );
        assert_eq!(o.last().map(|x| x.upper_ns), Some(None));
        assert_eq!(o.iter().map(|x| x.count).sum::<u64>(), 2);
    }
}
