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
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Alignment of `O_DIRECT` buffers.
const ALIGN: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    RandRead,
    SeqWrite,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Fs,
    Pread,
}

#[derive(Clone, Debug)]
struct Args {
    file: PathBuf,
    workload: Workload,
    bs: usize,
    qd: usize,
    secs: f64,
    direct: bool,
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
        let block = match self.args.workload {
            Workload::RandRead => xorshift(rng) % self.blocks,
            Workload::SeqWrite => self.cursor.fetch_add(1, Ordering::Relaxed) % self.blocks,
        };
        block * self.args.bs as u64
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
    let bs = s.args.bs;
    let mut file = match s.args.workload {
        Workload::RandRead => tokio::fs::File::open(&s.args.file).await?,
        Workload::SeqWrite => {
            tokio::fs::OpenOptions::new()
                .write(true)
                .open(&s.args.file)
                .await?
        }
    };
    let mut buf = vec![0x5au8; bs];
    while !s.stopped() {
        let offset = s.next_offset(&mut rng);
        file.seek(SeekFrom::Start(offset)).await?;
        match s.args.workload {
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
    let bs = s.args.bs;
    let mut buf = AlignedBuf::new(bs);
    while !s.stopped() {
        let offset = s.next_offset(&mut rng);
        let f = file.clone();
        let workload = s.args.workload;
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

/// Heap memory aligned to `ALIGN`, movable across threads.
struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer owns its allocation exclusively (no aliasing), like a
// `Box<[u8]>`; moving it to another thread moves that ownership.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
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

    fn as_slice(&self) -> &[u8] {
        // SAFETY: valid, initialised (written in `new`) and owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
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

async fn run(args: Args) -> io::Result<(u64, u64, f64, f64)> {
    let size = std::fs::metadata(&args.file)?.len();
    let blocks = size / args.bs as u64;
    if blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is smaller than one block", args.file.display()),
        ));
    }
    let std_file = if args.api == Api::Pread {
        let mut options = std::fs::OpenOptions::new();
        match args.workload {
            Workload::RandRead => options.read(true),
            Workload::SeqWrite => options.write(true),
        };
        if args.direct {
            options.custom_flags(libc::O_DIRECT);
        }
        Some(Arc::new(options.open(&args.file)?))
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
    let mut tasks = Vec::with_capacity(args.qd);
    for i in 0..args.qd {
        let s = shared.clone();
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1;
        tasks.push(match &std_file {
            Some(f) => tokio::spawn(pread_task(s, f.clone(), seed)),
            None => tokio::spawn(fs_task(s, seed)),
        });
    }
    let stopper = {
        let s = shared.clone();
        let secs = args.secs;
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
    Ok((
        shared.ops.load(Ordering::Relaxed),
        shared.bytes.load(Ordering::Relaxed),
        io_secs,
        window_cpu_secs,
    ))
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn process_cpu() -> Duration {
    // SAFETY: a zeroed timespec is valid; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid clock id and pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn parse_args() -> Args {
    let mut file = None;
    let mut workload = Workload::RandRead;
    let mut bs = 4096usize;
    let mut qd = 32usize;
    let mut secs = 3.0f64;
    let mut direct = false;
    let mut api = Api::Fs;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--file" => file = Some(PathBuf::from(value("--file"))),
            "--workload" => {
                workload = match value("--workload").as_str() {
                    "randread" => Workload::RandRead,
                    "seqwrite" => Workload::SeqWrite,
                    other => usage(&format!("unknown workload {other:?}")),
                }
            }
            "--bs" => bs = number(&value("--bs")),
            "--qd" => qd = number(&value("--qd")),
            "--secs" => {
                secs = value("--secs")
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .unwrap_or_else(|| usage("--secs needs a positive number"))
            }
            "--direct" => direct = true,
            "--api" => {
                api = match value("--api").as_str() {
                    "fs" => Api::Fs,
                    "pread" => Api::Pread,
                    other => usage(&format!("unknown api {other:?}")),
                }
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if bs == 0 || qd == 0 {
        usage("--bs and --qd must be positive");
    }
    if direct && api == Api::Fs {
        eprintln!("fs-tokio: --direct needs --api pread (tokio::fs::File buffers are unaligned)");
        std::process::exit(3);
    }
    Args {
        file: file.unwrap_or_else(|| usage("--file is required")),
        workload,
        bs,
        qd,
        secs,
        direct,
        api,
    }
}

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("not a number: {text:?}")))
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("fs-tokio: {problem}");
    }
    eprintln!(
        "usage: fs-tokio --file PATH [--workload randread|seqwrite] [--bs BYTES] [--qd N] \
         [--secs S] [--direct] [--api fs|pread]"
    );
    std::process::exit(2);
}

fn main() {
    let args = parse_args();
    let api = args.api;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("fs-tokio: runtime: {e}");
            std::process::exit(1);
        });
    match rt.block_on(run(args)) {
        Ok((ops, bytes, io_secs, window_cpu_secs)) => println!(
            "{{\"ops\":{ops},\"bytes\":{bytes},\"io_secs\":{io_secs:.6},\"window_cpu_secs\":{window_cpu_secs:.6},\"backend\":\"{}\"}}",
            match api {
                Api::Fs => "tokio-fs",
                Api::Pread => "tokio-pread",
            }
        ),
        Err(e) => {
            eprintln!("fs-tokio: {e}");
            std::process::exit(1);
        }
    }
}
