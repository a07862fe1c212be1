//! The benchmark harness behind the `ringline-bench` binary (`main.rs`;
//! see `BENCHMARKS.md`): a load generator that does not use the runtime
//! under test, server processes measured by the CPU time they burn, and
//! paired, interleaved comparisons.
//!
//! The machines this runs on are small and noisy (2 shared vCPUs): one run
//! means little, so every comparison alternates its two sides (A B B A …)
//! within one invocation and reports per-pair ratios with their median and
//! spread, in ops per server-core-second (server CPU time from
//! `/proc/<pid>/task/*/schedstat`, which is steadier than ops/s when the
//! load generator shares the machine).
//!
//! - `loadgen`: closed- and open-loop echo clients (and the block
//!   client) on std sockets.
//! - `server`: server processes (start, pin, stop) and their builds.
//! - `cpu`: CPU time and pinning.
//! - `matrix`: the echo matrix and its command-line selection.
//! - `echo`: the `echo` subcommand's concurrent pairs.
//! - `fs`: the `fs` subcommand: ringline fs against fio and tokio::fs.
//! - `blocks`: the `blocks` subcommand: random 4 KiB blocks of a file,
//!   read by the server and sent back, ringline against tokio and 0.1.2.
//! - `attach`: the `attach-overhead` subcommand: inspector/exporter at 10 Hz.
//! - `insn`: the `insn` subcommand: instructions per round trip (callgrind).
//! - `report`: per-run numbers, ratios, verdict lines and the JSON.

pub mod attach;
pub mod blocks;
pub mod cpu;
pub mod echo;
pub mod fs;
pub mod insn;
pub mod loadgen;
pub mod matrix;
pub mod report;
pub mod server;

/// Median of `values` (sorted copy; the mean of the middle two for an
/// even count). `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    }
}
