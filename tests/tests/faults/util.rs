//! Helpers of the fault tests: a seeded PRNG, FIFOs, a turn of the loop,
//! env overrides and the figures line.

// Each fault uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// xorshift64*: small and seeded, to pick test actions reproducibly.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift needs a set bit).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A seed from `RINGLINE_FAULT_SEED`, else from the clock (print it).
pub fn seed() -> u64 {
    env_u64("RINGLINE_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    })
}

/// An unsigned number from the environment, if set and valid.
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Prints the case's one line of figures (`reliability-report` reads it).
pub fn figures(case: &str, fields: &[(&str, String)]) {
    let mut line = format!("RELIABILITY faults case={case}");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    eprintln!("{line}");
}

/// Milliseconds of `d`, for figures.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// A file of `len` bytes of `ringline_tests::pattern` in `dir`.
pub fn pattern_file(dir: &Path, name: &str, len: usize) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let data = ringline_tests::pattern(len);
    std::fs::write(&path, &data).expect("write the data file");
    (path, data)
}

pub use ringline_tests::{Context, mkfifo, next_turn};
