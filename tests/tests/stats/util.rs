//! Helpers of the stats tests.

use std::time::Duration;

use ringline::fs::FsConfig;
use ringline::stats::{InFlightOp, OpStats, RuntimeSnapshot, WorkerSnapshot};

/// This worker's runtime, as the stats see it now.
pub fn this_runtime() -> Result<RuntimeSnapshot, String> {
    ringline::stats::this_runtime().ok_or_else(|| "this_runtime() is None on a worker".into())
}

/// Worker 0 of `rt`.
pub fn worker0(rt: &RuntimeSnapshot) -> Result<&WorkerSnapshot, String> {
    rt.workers.first().ok_or_else(|| "no worker".into())
}

/// Op `name` of worker 0.
pub fn op<'a>(rt: &'a RuntimeSnapshot, name: &str) -> &'a OpStats {
    rt.workers[0]
        .op(name)
        .unwrap_or_else(|| panic!("op {name} missing"))
}

/// In-flight ops of runtime `id` older than `min_age`, from a process-wide
/// snapshot (other tests' runtimes filtered out).
pub fn stuck_ops_of(id: u64, min_age: Duration) -> Vec<InFlightOp> {
    ringline::stats::snapshot()
        .stuck_ops(min_age)
        .into_iter()
        .filter(|op| op.runtime == id)
        .collect()
}

/// The fs layer with room for a few files and commands.
pub fn fs_config() -> Option<FsConfig> {
    Some(FsConfig {
        max_files: 16,
        max_commands_in_flight: 16,
    })
}

/// True when `measured` is within 10 % of `truth`.
pub fn within_10_percent(measured: Duration, truth: Duration) -> bool {
    let (m, t) = (measured.as_secs_f64(), truth.as_secs_f64());
    (m - t).abs() <= 0.1 * t
}

/// A FIFO in a fresh temporary directory (the directory is returned to be
/// kept alive).
pub fn fifo(tag: &str) -> (ringline_tests::TempDir, std::path::PathBuf) {
    let dir = ringline_tests::TempDir::new(tag);
    let path = dir.path().join("fifo");
    ringline_tests::mkfifo(&path);
    (dir, path)
}

pub use ringline_tests::next_turn;
