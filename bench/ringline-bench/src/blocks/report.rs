//! What `blocks` reports: the JSON document (`--json PATH`) and the
//! markdown table for BENCHMARKS.md. Pairs, ratios and spreads are the
//! echo benchmark's (`crate::report`).
//!
//! JSON layout (`version` 1):
//!
//! ```text
//! BlocksReport { benchmark: "blocks", version, machine, settings,
//!                started_unix_secs, wall_secs,
//!   cells: [ BlocksCell { label, io, connections, server_cpus,
//!                         client_cpus, skipped,
//!     comparisons: [ Comparison … as in echo's report ] } ] }
//! BlocksSettings { pairs, secs, warm_up_secs, connections, client_threads,
//!                  client_wait, file_size, block_size, dir, filesystem,
//!                  seed, ringline_features }
//! ```

use serde::Serialize;

use crate::report::{Comparison, Machine, PairReport, Spread};

/// How the run was set up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlocksSettings {
    /// Pairs per comparison.
    pub pairs: usize,
    /// Measured seconds per pair.
    pub secs: f64,
    /// Warm-up before each window.
    pub warm_up_secs: f64,
    /// Client connections per server.
    pub connections: usize,
    /// Client threads per server.
    pub client_threads: usize,
    /// How clients wait for answers (`block` or `spin`).
    pub client_wait: String,
    /// Bytes in the block file.
    pub file_size: u64,
    /// Bytes per block (and per answer).
    pub block_size: usize,
    /// Directory of the file.
    pub dir: String,
    /// Its filesystem (`ext4`, …).
    pub filesystem: String,
    /// Seed of the clients' block picks.
    pub seed: u64,
    /// Cargo features of the ringline server.
    pub ringline_features: Vec<String>,
}

/// One I/O mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlocksCell {
    /// `cached/64c`, `direct/64c`.
    pub label: String,
    /// `cached` / `direct`.
    pub io: String,
    /// Client connections per server.
    pub connections: usize,
    /// CPUs both servers were pinned to (empty: not pinned).
    pub server_cpus: Vec<usize>,
    /// CPUs the clients were pinned to (empty: not pinned).
    pub client_cpus: Vec<usize>,
    /// Opponents left out, with the reason.
    pub skipped: Vec<String>,
    /// One per opponent.
    pub comparisons: Vec<Comparison>,
}

/// The whole `blocks` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlocksReport {
    /// Always `blocks`.
    pub benchmark: &'static str,
    /// Layout version.
    pub version: u32,
    /// Where it ran.
    pub machine: Machine,
    /// How.
    pub settings: BlocksSettings,
    /// Start (Unix seconds).
    pub started_unix_secs: u64,
    /// Wall time so far.
    pub wall_secs: f64,
    /// Finished cells.
    pub cells: Vec<BlocksCell>,
}

/// The markdown table of a report: a row per cell and opponent, ratios as
/// median (min..max) of the pairs, each side's median ops per
/// server-core-second and ops/s beside them.
pub fn markdown_table(report: &BlocksReport) -> String {
    let mut out = String::from(
        "| cell | vs | ops/core-s ratio | ops/s ratio | ringline ops/core-s, ops/s | other ops/core-s, ops/s |\n\
         |---|---|---|---|---|---|\n",
    );
    let spread = |s: Option<Spread>| match s {
        Some(s) => format!("{:.2} ({:.2}..{:.2})", s.median, s.min, s.max),
        None => "–".into(),
    };
    for cell in &report.cells {
        // A comparison with no pair (its opponent failed) has no row; the
        // cell's `skipped` says why.
        for c in cell.comparisons.iter().filter(|c| !c.pairs.is_empty()) {
            let med = |f: &dyn Fn(&PairReport) -> f64| {
                crate::median(&c.pairs.iter().map(f).collect::<Vec<_>>()).unwrap_or(f64::NAN)
            };
            let side = |core: f64, rate: f64| format!("{:.0} k, {:.0} k", core / 1e3, rate / 1e3);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell.label,
                c.vs,
                spread(c.ops_per_core_sec_ratio),
                spread(c.ops_per_sec_ratio),
                side(
                    med(&|p| p.subject.ops_per_core_sec),
                    med(&|p| p.subject.ops_per_sec)
                ),
                side(
                    med(&|p| p.other.ops_per_core_sec),
                    med(&|p| p.other.ops_per_sec)
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::Outcome;
    use crate::report::{RunReport, ServerCpu};
    use std::time::Duration;

    fn run(server: &str, ops: u64, cpu_ms: u64) -> RunReport {
        let out = Outcome {
            ops,
            elapsed: Duration::from_secs(1),
            ..Outcome::default()
        };
        let cpu = ServerCpu {
            total: Duration::from_millis(cpu_ms),
            ..ServerCpu::default()
        };
        RunReport::new(server, &out, cpu, false)
    }

    #[test]
    fn the_table_has_a_row_per_comparison_with_medians() {
        let mut c = Comparison::new("ringline", "tokio-fs");
        for (i, theirs) in [40_000, 50_000, 45_000].into_iter().enumerate() {
            c.push(PairReport::new(
                i,
                i % 2 == 0,
                run("ringline", 90_000, 1000),
                run("tokio-fs", theirs, 1000),
            ));
        }
        let report = BlocksReport {
            benchmark: "blocks",
            version: 1,
            machine: Machine {
                cpus: 2,
                kernel: "6.18".into(),
            },
            settings: BlocksSettings {
                pairs: 3,
                secs: 1.0,
                warm_up_secs: 0.3,
                connections: 64,
                client_threads: 2,
                client_wait: "block".into(),
                file_size: 1 << 30,
                block_size: 4096,
                dir: "/var/tmp".into(),
                filesystem: "ext4".into(),
                seed: 1,
                ringline_features: vec!["stats".into()],
            },
            started_unix_secs: 0,
            wall_secs: 1.0,
            cells: vec![BlocksCell {
                label: "cached/64c".into(),
                io: "cached".into(),
                connections: 64,
                server_cpus: vec![1],
                client_cpus: vec![0],
                skipped: vec![],
                comparisons: vec![c.clone(), Comparison::new("ringline", "ringline-0.1.2")],
            }],
        };
        let table = markdown_table(&report);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 3, "{table}");
        assert_eq!(
            rows[2],
            "| cached/64c | tokio-fs | 2.00 (1.80..2.25) | 2.00 (1.80..2.25) | 90 k, 90 k | 45 k, 45 k |"
        );
        assert_eq!(
            c.summary_line_in("blocks", "cached/64c"),
            "blocks cached/64c ops-per-core-s ratio vs tokio-fs: 2.00 (min 1.80, max 2.25, 3 pairs)"
        );
        let v = serde_json::to_value(&report).expect("serializable");
        assert_eq!(v["cells"][0]["comparisons"][0]["vs"], "tokio-fs");
        assert_eq!(v["settings"]["block_size"], 4096);
    }
}
