//! What the filesystem benchmark programs (`fs-ringline`, `fs-tokio`)
//! share, so both sides of a comparison parse the same command line, pick
//! offsets the same way and report the same result line; and, in
//! [`blocks`], the protocol and file layout of `ringline-bench blocks`
//! (its servers and its client).

pub mod blocks;

use std::path::PathBuf;
use std::time::Duration;

/// Alignment of `O_DIRECT` buffers (covers 512 B and 4 KiB sectors).
pub const ALIGN: usize = 4096;

/// What to do with the file.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// Reads of `--bs` bytes at uniformly random block offsets.
    #[value(name = "randread")]
    RandRead,
    /// Sequential writes of `--bs` bytes, wrapping at the end of the file.
    #[value(name = "seqwrite")]
    SeqWrite,
}

/// The command line both programs share (each adds its own `--api`).
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// The file to read or write (created and filled by the harness).
    #[arg(long)]
    pub file: PathBuf,
    /// The workload.
    #[arg(long, value_enum, default_value_t = Workload::RandRead)]
    pub workload: Workload,
    /// Bytes per operation.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub bs: u32,
    /// Operations kept in flight.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub qd: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 3.0, value_parser = positive_secs)]
    pub secs: f64,
    /// Open the file with `O_DIRECT`.
    #[arg(long)]
    pub direct: bool,
}

fn positive_secs(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// xorshift64: a fast, dependency-free offset generator (not for secrets).
pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// CPU time of every thread of this process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: a zeroed timespec is valid; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Heap memory aligned to [`ALIGN`], filled with a recognisable pattern
/// (writes carry it; reads overwrite it).
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer owns its allocation exclusively (no aliasing), like a
// `Box<[u8]>`; moving it to another thread moves that ownership.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// `len` bytes (at least 1).
    pub fn new(len: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), ALIGN).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` is valid for `layout.size()` bytes, just allocated.
        unsafe { std::ptr::write_bytes(ptr, 0x5a, layout.size()) };
        AlignedBuf { ptr, layout }
    }

    /// The start of the buffer, for raw-pointer I/O calls.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: valid, initialised (written in `new`) and owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, borrowed mutably through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// What a run did, printed as the one JSON line the harness reads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Operations completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Seconds of I/O (the measured window).
    pub io_secs: f64,
    /// Process CPU seconds over that window.
    pub window_cpu_secs: f64,
}

impl Outcome {
    /// The result line, tagged with the side's `backend` name.
    pub fn line(&self, backend: &str) -> String {
        format!(
            "{{\"ops\":{},\"bytes\":{},\"io_secs\":{:.6},\"window_cpu_secs\":{:.6},\"backend\":\"{backend}\"}}",
            self.ops, self.bytes, self.io_secs, self.window_cpu_secs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn the_harness_command_line_parses_and_bad_values_are_refused() {
        let c = Cli::try_parse_from([
            "x",
            "--file",
            "/tmp/f",
            "--workload",
            "seqwrite",
            "--bs",
            "1048576",
            "--qd",
            "8",
            "--secs",
            "2.5",
            "--direct",
        ])
        .unwrap()
        .common;
        assert_eq!(c.workload, Workload::SeqWrite);
        assert_eq!((c.bs, c.qd, c.secs, c.direct), (1 << 20, 8, 2.5, true));
        for bad in [
            ["--bs", "0"],
            ["--qd", "0"],
            ["--secs", "-1"],
            ["--workload", "read"],
        ] {
            assert!(
                Cli::try_parse_from(["x", "--file", "f", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
        assert!(Cli::try_parse_from(["x"]).is_err(), "--file is required");
    }

    #[test]
    fn the_result_line_is_json_the_harness_reads() {
        let o = Outcome {
            ops: 3,
            bytes: 12288,
            io_secs: 1.5,
            window_cpu_secs: 0.25,
        };
        assert_eq!(
            o.line("io_uring"),
            r#"{"ops":3,"bytes":12288,"io_secs":1.500000,"window_cpu_secs":0.250000,"backend":"io_uring"}"#
        );
    }

    #[test]
    fn aligned_and_patterned() {
        let mut b = AlignedBuf::new(8192);
        assert_eq!(b.ptr() as usize % ALIGN, 0);
        assert!(b.as_slice().iter().all(|&x| x == 0x5a));
        b.as_mut_slice()[0] = 1;
        assert_eq!(b.as_slice()[0], 1);
        let mut s = 1;
        assert_ne!(xorshift(&mut s), xorshift(&mut s));
    }
}
