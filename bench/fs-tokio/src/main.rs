//! `fs-tokio`: the tokio side of `ringline-bench fs`. A `current_thread`
//! runtime (one worker, like the ringline side) runs `--qd` tasks, each
//! with one file operation in flight, for `--secs` seconds, then prints one
//! JSON line on stdout (the same shape as `fs-ringline`):
//!
//! ```text
//! fs-tokio --file PATH --workload randread|seqwrite --bs BYTES --qd N --secs S
//!          [--direct] [--api fs|pread]
//! {"ops":…,"bytes":…,"io_secs":…,"window_cpu_secs":…,"backend":"tokio-fs"}
//! ```
//!
//! - `--api fs` (default): `tokio::fs::File`, one per task (a tokio `File`
//!   runs one operation at a time and has no positional I/O), `seek` then
//!   `read_exact` / `write_all`. Every call is a `spawn_blocking` round trip
//!   through tokio's internal buffer: this is `tokio::fs` as written.
//!   Writes are write-behind (`write_all` returns once the data is in the
//!   `File`'s buffer; the next call waits for it), so each task flushes at
//!   the end and the I/O phase ends after the flushes.
//! - `--api pread`: one shared `std::fs::File`, each op a
//!   `tokio::task::spawn_blocking` of `read_at` / `write_at` (`pread` /
//!   `pwrite`) on a buffer moved in and out: the fastest spelling of file
//!   I/O on tokio, one blocking-pool hop per op.
//! - `--direct`: `O_DIRECT`, 4096-aligned buffers; `--api pread` only
//!   (tokio's `File` reads into its own, unaligned buffer).

use std::io::{self, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use fs_common::{AlignedBuf, CommonArgs, Outcome, Workload, process_cpu, xorshift};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    /// `tokio::fs::File` per task: seek, then `read_exact` / `write_all`.
    Fs,
    /// `spawn_blocking` of `pread` / `pwrite` on a shared file.
    Pread,
}

/// The command line: the shared one plus `--api`.
#[derive(clap::Parser, Clone, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Which tokio spelling of file I/O the tasks use.
    #[arg(long, value_enum, default_value_t = Api::Fs)]
    api: Api,
}

/// State shared by the tasks of one run.
struct Shared {
    args: Args,
    blocks: u64,
    stop: AtomicBool,
    ops: AtomicU64,
    bytes: AtomicU64,
    cursor: AtomicU64,
}

impl Shared {
    fn next_offset(&self, rng: &mut u64) -> u64 {
        let block = match self.args.common.workload {
            Workload::RandRead => xorshift(rng) % self.blocks,
            Workload::SeqWrite => self.cursor.fetch_add(1, Ordering::Relaxed) % self.blocks,
        };
        block * u64::from(self.args.common.bs)
    }

    fn record(&self, n: usize) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// `tokio::fs::File` per task: seek, then read_exact / write_all.
async fn fs_task(s: Arc<Shared>, mut rng: u64) -> io::Result<()> {
    let bs = s.args.common.bs as usize;
    let mut file = match s.args.common.workload {
        Workload::RandRead => tokio::fs::File::open(&s.args.common.file).await?,
        Workload::SeqWrite => {
            tokio::fs::OpenOptions::new()
                .write(true)
                .open(&s.args.common.file)
                .await?
        }
    };
    let mut buf = vec![0x5au8; bs];
    while !s.stopped() {
        let offset = s.next_offset(&mut rng);
        file.seek(SeekFrom::Start(offset)).await?;
        match s.args.common.workload {
            Workload::RandRead => {
                file.read_exact(&mut buf).await?;
            }
            Workload::SeqWrite => file.write_all(&buf).await?,
        }
        s.record(bs);
    }
    file.flush().await
}

/// `spawn_blocking` of `read_at` / `write_at` on a shared `std::fs::File`.
async fn pread_task(s: Arc<Shared>, file: Arc<std::fs::File>, mut rng: u64) -> io::Result<()> {
    let bs = s.args.common.bs as usize;
    let mut buf = AlignedBuf::new(bs);
    while !s.stopped() {
        let offset = s.next_offset(&mut rng);
        let f = file.clone();
        let workload = s.args.common.workload;
        let (result, back) = tokio::task::spawn_blocking(move || {
            let r = match workload {
                Workload::RandRead => f.read_at(buf.as_mut_slice(), offset),
                Workload::SeqWrite => f.write_at(buf.as_slice(), offset),
            };
            (r, buf)
        })
        .await
        .map_err(io::Error::other)?;
        buf = back;
        s.record(result?);
    }
    Ok(())
}

async fn run(args: Args) -> io::Result<Outcome> {
    let size = std::fs::metadata(&args.common.file)?.len();
    let blocks = size / (args.common.bs as usize) as u64;
    if blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is smaller than one block", args.common.file.display()),
        ));
    }
    let std_file = if args.api == Api::Pread {
        let mut options = std::fs::OpenOptions::new();
        match args.common.workload {
            Workload::RandRead => options.read(true),
            Workload::SeqWrite => options.write(true),
        };
        if args.common.direct {
            options.custom_flags(libc::O_DIRECT);
        }
        Some(Arc::new(options.open(&args.common.file)?))
    } else {
        None
    };
    let shared = Arc::new(Shared {
        args: args.clone(),
        blocks,
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        cursor: AtomicU64::new(0),
    });
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(args.common.qd as usize);
    for i in 0..(args.common.qd as usize) {
        let s = shared.clone();
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1;
        tasks.push(match &std_file {
            Some(f) => tokio::spawn(pread_task(s, f.clone(), seed)),
            None => tokio::spawn(fs_task(s, seed)),
        });
    }
    let stopper = {
        let s = shared.clone();
        let secs = args.common.secs;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(secs));
            s.stop.store(true, Ordering::Relaxed);
        })
    };
    let mut first_error = None;
    for t in tasks {
        let result = t.await.map_err(io::Error::other).and_then(|r| r);
        if let Err(e) = result {
            shared.stop.store(true, Ordering::Relaxed);
            first_error.get_or_insert(e);
        }
    }
    let io_secs = start.elapsed().as_secs_f64();
    let window_cpu_secs = (process_cpu() - cpu0).as_secs_f64();
    let _ = stopper.join();
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Outcome {
        ops: shared.ops.load(Ordering::Relaxed),
        bytes: shared.bytes.load(Ordering::Relaxed),
        io_secs,
        window_cpu_secs,
    })
}

fn main() {
    let args = Args::parse();
    if args.common.direct && args.api == Api::Fs {
        eprintln!("fs-tokio: --direct needs --api pread (tokio::fs::File buffers are unaligned)");
        std::process::exit(3);
    }
    let api = args.api;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("fs-tokio: runtime: {e}");
            std::process::exit(1);
        });
    match rt.block_on(run(args)) {
        Ok(o) => println!(
            "{}",
            o.line(match api {
                Api::Fs => "tokio-fs",
                Api::Pread => "tokio-pread",
            })
        ),
        Err(e) => {
            eprintln!("fs-tokio: {e}");
            std::process::exit(1);
        }
    }
}
