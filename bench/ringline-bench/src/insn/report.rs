//! What `insn` reports: per-run counts, the median per server and size
//! with its range, the cost of the stats hooks, the top functions, the
//! JSON (`--json PATH`) and the markdown tables `BENCHMARKS.md` holds.
//!
//! JSON layout (`version` 1):
//!
//! ```text
//! InsnReport { benchmark: "insn", version, machine, settings: InsnSettings,
//!              started_unix_secs, wall_secs,
//!   results: [ InsnResult { server, description, message_size,
//!                           per_round_trip: Spread,
//!                           busiest_thread_per_round_trip: Spread,
//!     runs: [ InsnRun { round_trips, instructions,
//!                       busiest_thread_instructions, active_threads,
//!                       per_round_trip, counted_secs, wall_secs } ],
//!     top: [ FunctionCost { function, per_round_trip, share } ] } ],
//!   stats_cost: [ StatsCost { server, message_size, per_round_trip } ] }
//! InsnSettings { connections, warm_up_per_connection,
//!                round_trips_per_connection, runs, valgrind,
//!                server_cpus, client_cpus }
//! ```

use std::collections::HashMap;

use serde::Serialize;

use super::{Counted, Variant};
use crate::matrix::size_label;
use crate::report::{Machine, Spread};

/// The whole `insn` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsnReport {
    /// Always `insn`.
    pub benchmark: &'static str,
    /// Layout version (1).
    pub version: u32,
    /// Where it ran.
    pub machine: Machine,
    /// How.
    pub settings: InsnSettings,
    /// Start, seconds since the Unix epoch.
    pub started_unix_secs: u64,
    /// Wall time of the whole run, builds included.
    pub wall_secs: f64,
    /// One per server and message size.
    pub results: Vec<InsnResult>,
    /// Stats on minus off, where both builds ran.
    pub stats_cost: Vec<StatsCost>,
}

/// How the run was set up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsnSettings {
    /// Client connections, one message in flight on each.
    pub connections: usize,
    /// Round trips per connection before the counters were zeroed.
    pub warm_up_per_connection: u64,
    /// Round trips per connection counted.
    pub round_trips_per_connection: u64,
    /// Measurements per server and size.
    pub runs: usize,
    /// `valgrind --version`.
    pub valgrind: String,
    /// CPUs the server (all its threads) was pinned to.
    pub server_cpus: Vec<usize>,
    /// CPUs the client thread was pinned to.
    pub client_cpus: Vec<usize>,
}

/// One server at one message size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsnResult {
    /// `Variant::as_str`.
    pub server: String,
    /// `Variant::description`.
    pub description: String,
    /// Bytes per message.
    pub message_size: usize,
    /// Instructions per round trip, every thread: median and range over
    /// the runs.
    pub per_round_trip: Spread,
    /// The same, the busiest thread (the worker) alone.
    pub busiest_thread_per_round_trip: Spread,
    /// Each run.
    pub runs: Vec<InsnRun>,
    /// The functions with the most self instructions, in the median run.
    pub top: Vec<FunctionCost>,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsnRun {
    /// Round trips counted.
    pub round_trips: u64,
    /// Instructions of every thread over them.
    pub instructions: u64,
    /// Instructions of the busiest thread.
    pub busiest_thread_instructions: u64,
    /// Threads that ran any instruction in the counted phase.
    pub active_threads: usize,
    /// `instructions / round_trips`.
    pub per_round_trip: f64,
    /// Length of the counted phase (under callgrind).
    pub counted_secs: f64,
    /// Start of valgrind to the server's kill.
    pub wall_secs: f64,
}

/// One function's own instructions (its callees not included; code
/// inlined into it is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCost {
    /// As callgrind names it (demangled).
    pub function: String,
    /// Self instructions per round trip.
    pub per_round_trip: f64,
    /// Share of all instructions counted.
    pub share: f64,
}

/// What the stats hooks cost: the build with stats minus the one without.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsCost {
    /// The build with stats (`ringline` or `ringline-mio`).
    pub server: String,
    /// Bytes per message.
    pub message_size: usize,
    /// Median with stats minus median without, per round trip.
    pub per_round_trip: f64,
}

impl InsnResult {
    /// Summarises `runs` of `variant` at `size`, listing the `top`
    /// functions of the median run.
    pub fn new(variant: Variant, size: usize, runs: &[Counted], top: usize) -> InsnResult {
        let per: Vec<f64> = runs.iter().map(Counted::per_round_trip).collect();
        let busiest: Vec<f64> = runs
            .iter()
            .map(|r| r.busiest_thread as f64 / r.round_trips.max(1) as f64)
            .collect();
        let nan = Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
            n: 0,
        };
        let median_run = median_index(&per).map(|i| &runs[i]);
        InsnResult {
            server: variant.as_str().to_string(),
            description: variant.description().to_string(),
            message_size: size,
            per_round_trip: Spread::of(&per).unwrap_or(nan),
            busiest_thread_per_round_trip: Spread::of(&busiest).unwrap_or(nan),
            runs: runs
                .iter()
                .map(|r| InsnRun {
                    round_trips: r.round_trips,
                    instructions: r.instructions,
                    busiest_thread_instructions: r.busiest_thread,
                    active_threads: r.active_threads,
                    per_round_trip: r.per_round_trip(),
                    counted_secs: r.counted.as_secs_f64(),
                    wall_secs: r.wall.as_secs_f64(),
                })
                .collect(),
            top: median_run.map_or_else(Vec::new, |r| {
                top_functions(&r.functions, r.round_trips, r.instructions, top)
            }),
        }
    }
}

/// The run holding the median (the lower middle for an even count), so
/// its profile goes with the reported number.
fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.get(values.len().saturating_sub(1) / 2).copied()
}

/// The `n` functions with the most self instructions, per round trip.
pub fn top_functions(
    functions: &HashMap<String, u64>,
    round_trips: u64,
    total: u64,
    n: usize,
) -> Vec<FunctionCost> {
    let mut all: Vec<(&String, &u64)> = functions.iter().filter(|(_, c)| **c > 0).collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    all.into_iter()
        .take(n)
        .map(|(name, &cost)| FunctionCost {
            function: name.clone(),
            per_round_trip: cost as f64 / round_trips.max(1) as f64,
            share: cost as f64 / total.max(1) as f64,
        })
        .collect()
}

/// Stats on minus off for every server and size where both ran.
pub fn stats_costs(results: &[InsnResult]) -> Vec<StatsCost> {
    let find = |v: Variant, size: usize| {
        results
            .iter()
            .find(|r| r.server == v.as_str() && r.message_size == size)
    };
    let mut out = Vec::new();
    for on in results {
        let Some(v) = Variant::parse(&on.server).ok() else {
            continue;
        };
        if let Some(off) = v.without_stats().and_then(|off| find(off, on.message_size)) {
            out.push(StatsCost {
                server: on.server.clone(),
                message_size: on.message_size,
                per_round_trip: on.per_round_trip.median - off.per_round_trip.median,
            });
        }
    }
    out
}

/// `1,943`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_string();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}

/// `1,943 (1,931–1,950)`, or the median alone for one run.
fn cell(s: &Spread) -> String {
    if s.n > 1 {
        format!(
            "{} ({}–{})",
            thousands(s.median),
            thousands(s.min),
            thousands(s.max)
        )
    } else {
        thousands(s.median)
    }
}

fn table(
    heading: &str,
    results: &[InsnResult],
    sizes: &[usize],
    value: impl Fn(&InsnResult) -> &Spread,
) -> String {
    let mut out = format!("| {heading} |");
    for &s in sizes {
        out.push_str(&format!(" {} |", size_label(s)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(sizes.len()));
    out.push('\n');
    for v in Variant::ALL {
        let row: Vec<Option<&InsnResult>> = sizes
            .iter()
            .map(|&s| {
                results
                    .iter()
                    .find(|r| r.server == v.as_str() && r.message_size == s)
            })
            .collect();
        if row.iter().all(Option::is_none) {
            continue;
        }
        out.push_str(&format!("| {} |", v.description()));
        for r in row {
            out.push_str(&format!(
                " {} |",
                r.map_or("–".to_string(), |r| cell(value(r)))
            ));
        }
        out.push('\n');
    }
    out
}

/// The issue's table: instructions per round trip (all threads), median
/// (min–max), a row per server, a column per size, then stats on − off.
pub fn main_table(results: &[InsnResult], sizes: &[usize], runs: usize) -> String {
    let mut out = table(
        &format!(
            "user-space instructions per echo round trip, all threads (median of {runs}, min–max)"
        ),
        results,
        sizes,
        |r| &r.per_round_trip,
    );
    let costs = stats_costs(results);
    for server in ["ringline", "ringline-mio"] {
        if !costs.iter().any(|c| c.server == server) {
            continue;
        }
        out.push_str(&format!("| {server}: stats on − off |"));
        for &s in sizes {
            let c = costs
                .iter()
                .find(|c| c.server == server && c.message_size == s);
            out.push_str(&format!(
                " {} |",
                c.map_or("–".to_string(), |c| thousands(c.per_round_trip))
            ));
        }
        out.push('\n');
    }
    out
}

/// The same for the busiest thread alone (the worker).
pub fn busiest_table(results: &[InsnResult], sizes: &[usize]) -> String {
    table("the worker (busiest) thread alone", results, sizes, |r| {
        &r.busiest_thread_per_round_trip
    })
}

/// The top functions of one result as a markdown table.
pub fn top_table(r: &InsnResult) -> String {
    let mut out = format!(
        "| {} {}: function (self) | insn / round trip | share |\n|---|---|---|\n",
        r.server,
        size_label(r.message_size)
    );
    for f in &r.top {
        out.push_str(&format!(
            "| `{}` | {:.0} | {:.1} % |\n",
            shorten(&f.function, 100),
            f.per_round_trip,
            f.share * 100.0
        ));
    }
    let listed: f64 = r.top.iter().map(|f| f.share).sum();
    out.push_str(&format!(
        "| (these {} together) | {:.0} | {:.1} % |\n",
        r.top.len(),
        r.top.iter().map(|f| f.per_round_trip).sum::<f64>(),
        listed * 100.0
    ));
    out
}

/// `name` cut to `max` characters with an ellipsis.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let mut s: String = name.chars().take(max - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counted(instructions: u64, round_trips: u64, fns: &[(&str, u64)]) -> Counted {
        Counted {
            round_trips,
            instructions,
            busiest_thread: instructions - 1_000,
            active_threads: 2,
            functions: fns.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
            counted: Duration::from_secs(2),
            wall: Duration::from_secs(4),
        }
    }

    #[test]
    fn results_take_the_median_run_and_its_profile() {
        let runs = [
            counted(2_100_000, 1_000, &[("slow", 2_100_000)]),
            counted(2_000_000, 1_000, &[("median", 1_500_000), ("b", 500_000)]),
            counted(1_900_000, 1_000, &[("fast", 1_900_000)]),
        ];
        let r = InsnResult::new(Variant::Ringline, 64, &runs, 15);
        assert_eq!(r.per_round_trip.median, 2_000.0);
        assert_eq!(
            (r.per_round_trip.min, r.per_round_trip.max),
            (1_900.0, 2_100.0)
        );
        assert_eq!(r.busiest_thread_per_round_trip.median, 1_999.0);
        assert_eq!(r.top.len(), 2);
        assert_eq!(r.top[0].function, "median");
        assert_eq!(r.top[0].per_round_trip, 1_500.0);
        assert_eq!(r.top[0].share, 0.75);
        assert_eq!(median_index(&[3.0, 1.0]), Some(1));
        assert_eq!(median_index(&[]), None);
    }

    #[test]
    fn stats_cost_is_on_minus_off_where_both_ran() {
        let on = InsnResult::new(Variant::Ringline, 64, &[counted(2_000, 1, &[])], 0);
        let off = InsnResult::new(Variant::RinglineNoStats, 64, &[counted(1_760, 1, &[])], 0);
        let mio = InsnResult::new(Variant::RinglineMio, 64, &[counted(3_000, 1, &[])], 0);
        let costs = stats_costs(&[on.clone(), off.clone(), mio.clone()]);
        assert_eq!(
            costs,
            [StatsCost {
                server: "ringline".into(),
                message_size: 64,
                per_round_trip: 240.0
            }]
        );
        let table = main_table(&[on, off, mio], &[64, 4096], 1);
        assert!(table.contains("| ringline (`echo_server`, stats on) | 2,000 | – |"));
        assert!(
            table.contains("| ringline: stats on − off | 240 | – |"),
            "{table}"
        );
        assert!(!table.contains("tokio"));
    }

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(1_943.4), "1,943");
        assert_eq!(thousands(999.5), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(-240.0), "−240");
        assert_eq!(thousands(f64::NAN), "–");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
