//! `fs-ringline`: the ringline side of `ringline-bench fs`. One worker on
//! io_uring keeps `--qd` file operations in flight for `--secs` seconds,
//! then prints one JSON line on stdout:
//!
//! ```text
//! fs-ringline --file PATH --workload randread|seqwrite --bs BYTES --qd N --secs S
//!             [--direct] [--api owned|raw]
//! {"ops":…,"bytes":…,"io_secs":…,"window_cpu_secs":…,"backend":"io_uring"}
//! ```
//!
//! - `randread`: each of `--qd` tasks reads `--bs` bytes at uniformly random
//!   `--bs`-aligned offsets of the file, one read in flight per task.
//! - `seqwrite`: the tasks write `--bs` bytes at consecutive offsets (one
//!   shared cursor, wrapping at the file's size), one write in flight per
//!   task: a sequential stream `--qd` deep, like fio's `rw=write`.
//! - `--api owned` (default): `fs::read_into` / `fs::write_from` with a
//!   `BytesMut` per task, passed to the op and handed back (what safe code
//!   writes); `--api raw`: the unsafe `fs::read` / `fs::write` on a buffer
//!   the task owns.
//! - `--direct`: `O_DIRECT` on the descriptor. `ringline::fs::OpenFlags`
//!   has no `O_DIRECT` yet, so the file is opened through ringline and the
//!   flag set afterwards with `fcntl(F_SETFL)` on its descriptor (found in
//!   `/proc/self/fd`); buffers are then 4096-aligned.
//!
//! The harness measures the process's CPU time itself (`wait4`, every
//! thread); `window_cpu_secs` is the process CPU clock over the I/O phase
//! only, for comparison.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::config::BackendChoice;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, RinglineBuilder};

/// Alignment of `O_DIRECT` buffers (covers 512 B and 4 KiB sectors).
const ALIGN: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    RandRead,
    SeqWrite,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Owned,
    Raw,
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

/// What one run did.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    ops: u64,
    bytes: u64,
    io_secs: f64,
    window_cpu_secs: f64,
}

static ARGS: OnceLock<Args> = OnceLock::new();
static OUTCOME: Mutex<Option<io::Result<Outcome>>> = Mutex::new(None);

struct Bench;

impl AsyncEventHandler for Bench {
    fn on_accept(&self, _conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async {}
    }

    fn on_start(&self) -> Option<Pin<Box<dyn std::future::Future<Output = ()> + 'static>>> {
        Some(Box::pin(async {
            let args = ARGS.get().expect("main sets the arguments");
            let outcome = run(args).await;
            *OUTCOME.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            let _ = ringline::request_shutdown();
        }))
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Bench
    }
}

/// State shared by the tasks of one run (one worker: `Rc` + `Cell`).
struct Shared {
    file: fs::File,
    args: Args,
    blocks: u64,
    stop: Cell<bool>,
    ops: Cell<u64>,
    bytes: Cell<u64>,
    /// `seqwrite`'s next block.
    cursor: Cell<u64>,
    error: Cell<Option<io::ErrorKind>>,
}

async fn run(args: &Args) -> io::Result<Outcome> {
    let size = std::fs::metadata(&args.file)?.len();
    let blocks = size / args.bs as u64;
    if blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is smaller than one block", args.file.display()),
        ));
    }
    let flags = match args.workload {
        Workload::RandRead => OpenFlags::READ,
        Workload::SeqWrite => OpenFlags::WRITE,
    };
    let file = fs::open(&args.file, flags, 0)?.await?;
    if args.direct {
        set_direct(&args.file)?;
    }
    let shared = Rc::new(Shared {
        file,
        args: args.clone(),
        blocks,
        stop: Cell::new(false),
        ops: Cell::new(0),
        bytes: Cell::new(0),
        cursor: Cell::new(0),
        error: Cell::new(None),
    });
    let cpu0 = process_cpu();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(args.qd);
    for i in 0..args.qd {
        let s = shared.clone();
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1;
        let task = match args.api {
            Api::Owned => ringline::spawn_with_handle(owned_task(s, seed))?,
            Api::Raw => ringline::spawn_with_handle(raw_task(s, seed))?,
        };
        tasks.push(task);
    }
    ringline::sleep(Duration::from_secs_f64(args.secs)).await;
    shared.stop.set(true);
    for t in tasks {
        t.await;
    }
    let io_secs = start.elapsed().as_secs_f64();
    let window_cpu_secs = (process_cpu() - cpu0).as_secs_f64();
    fs::close(shared.file)?;
    if let Some(kind) = shared.error.get() {
        return Err(io::Error::new(kind, "a file operation failed"));
    }
    Ok(Outcome {
        ops: shared.ops.get(),
        bytes: shared.bytes.get(),
        io_secs,
        window_cpu_secs,
    })
}

impl Shared {
    /// The next offset for this task's op.
    fn next_offset(&self, rng: &mut u64) -> u64 {
        let block = match self.args.workload {
            Workload::RandRead => xorshift(rng) % self.blocks,
            Workload::SeqWrite => {
                let b = self.cursor.get();
                self.cursor.set((b + 1) % self.blocks);
                b
            }
        };
        block * self.args.bs as u64
    }

    /// Counts a finished op; false (and the error kept) on failure.
    fn record(&self, result: io::Result<usize>) -> bool {
        match result {
            Ok(n) => {
                self.ops.set(self.ops.get() + 1);
                self.bytes.set(self.bytes.get() + n as u64);
                true
            }
            Err(e) => {
                eprintln!("fs-ringline: {e}");
                self.error.set(Some(e.kind()));
                self.stop.set(true);
                false
            }
        }
    }
}

/// One op in flight at a time through the owned-buffer calls.
async fn owned_task(s: Rc<Shared>, mut rng: u64) {
    let bs = s.args.bs;
    let mut buf = if s.args.direct {
        aligned_bytes(bs)
    } else {
        BytesMut::with_capacity(bs)
    };
    if s.args.workload == Workload::SeqWrite {
        buf.resize(bs, 0x5a);
    }
    while !s.stop.get() {
        let offset = s.next_offset(&mut rng);
        let (result, back) = match s.args.workload {
            Workload::RandRead => {
                buf.clear();
                match fs::read_into(s.file, offset, buf) {
                    Ok(f) => f.await,
                    Err(e) => {
                        s.record(Err(e));
                        return;
                    }
                }
            }
            Workload::SeqWrite => match fs::write_from(s.file, offset, buf) {
                Ok(f) => f.await,
                Err(e) => {
                    s.record(Err(e));
                    return;
                }
            },
        };
        buf = back;
        if !s.record(result) {
            return;
        }
    }
}

/// One op in flight at a time through the raw-pointer calls.
async fn raw_task(s: Rc<Shared>, mut rng: u64) {
    let bs = s.args.bs;
    let buf = AlignedBuf::new(bs);
    while !s.stop.get() {
        let offset = s.next_offset(&mut rng);
        let len = bs as u32;
        // SAFETY: `buf` lives in this task for the whole loop and nothing
        // else touches it; every future is awaited to completion before
        // the next op or the end of the task, and the runtime shuts down
        // only after every task has ended, so the kernel is done with the
        // memory before it is reused or freed.
        let submitted = unsafe {
            match s.args.workload {
                Workload::RandRead => fs::read(s.file, offset, buf.ptr, len),
                Workload::SeqWrite => fs::write(s.file, offset, buf.ptr, len),
            }
        };
        let result = match submitted {
            Ok(f) => f.await.map(|n| n as usize),
            Err(e) => Err(e),
        };
        if !s.record(result) {
            return;
        }
    }
    buf.touch();
}

/// A `BytesMut` of capacity `bs` whose storage starts `ALIGN`-aligned:
/// over-allocate, then split off the aligned part (its spare capacity is
/// exactly `bs`, so `read_into` reads `bs` bytes there).
fn aligned_bytes(bs: usize) -> BytesMut {
    let mut whole = BytesMut::with_capacity(bs + ALIGN);
    let pad = whole.as_ptr().align_offset(ALIGN);
    whole.resize(pad, 0);
    let mut aligned = whole.split_off(pad);
    let _rest = aligned.split_off(bs);
    debug_assert_eq!(aligned.as_ptr() as usize % ALIGN, 0);
    debug_assert_eq!(aligned.capacity(), bs);
    aligned
}

/// Zeroed heap memory aligned to `ALIGN`, for the raw calls.
struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), ALIGN).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // Writes carry a recognisable pattern rather than zeros.
        // SAFETY: `ptr` is valid for `layout.size()` bytes, just allocated.
        unsafe { std::ptr::write_bytes(ptr, 0x5a, layout.size()) };
        AlignedBuf { ptr, layout }
    }

    /// Keeps the buffer observably used until the end of the task.
    fn touch(&self) {
        std::hint::black_box(self.ptr);
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Sets `O_DIRECT` on this process's descriptor of `path` (the only one:
/// the file was just opened through ringline).
fn set_direct(path: &Path) -> io::Result<()> {
    let target = std::fs::canonicalize(path)?;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if link != target {
            continue;
        }
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: plain fcntl calls on a descriptor this process owns.
        let ok = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) == 0
        };
        return if ok {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no descriptor of {} in /proc/self/fd", target.display()),
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

/// CPU time of every thread of this process so far.
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
    let mut api = Api::Owned;
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
                    "owned" => Api::Owned,
                    "raw" => Api::Raw,
                    other => usage(&format!("unknown api {other:?}")),
                }
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if bs == 0 || qd == 0 || bs > u32::MAX as usize {
        usage("--bs and --qd must be positive (and --bs below 4 GiB)");
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
        eprintln!("fs-ringline: {problem}");
    }
    eprintln!(
        "usage: fs-ringline --file PATH [--workload randread|seqwrite] [--bs BYTES] [--qd N] \
         [--secs S] [--direct] [--api owned|raw]"
    );
    std::process::exit(2);
}

fn main() {
    let args = parse_args();
    let qd = args.qd;
    ARGS.set(args).expect("set once");
    let mut config = Config::default();
    config.worker.threads = 1;
    // The harness pins the whole process; the runtime must not re-pin.
    config.worker.pin_to_core = false;
    config.backend = BackendChoice::IoUring;
    config.inspect = false;
    let commands = u16::try_from(qd.max(256)).unwrap_or(u16::MAX);
    config.fs = Some(FsConfig {
        max_files: 4,
        max_commands_in_flight: commands,
    });
    config.sq_entries = (qd as u32).next_power_of_two().clamp(256, 4096);
    let (_shutdown, workers) = RinglineBuilder::new(config)
        .launch::<Bench>()
        .unwrap_or_else(|e| {
            eprintln!("fs-ringline: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("fs-ringline: worker failed: {e}"),
            Err(_) => eprintln!("fs-ringline: worker panicked"),
        }
    }
    match OUTCOME.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(Ok(o)) => println!(
            "{{\"ops\":{},\"bytes\":{},\"io_secs\":{:.6},\"window_cpu_secs\":{:.6},\"backend\":\"{}\"}}",
            o.ops,
            o.bytes,
            o.io_secs,
            o.window_cpu_secs,
            ringline::backend()
        ),
        Some(Err(e)) => {
            eprintln!("fs-ringline: {e}");
            std::process::exit(1);
        }
        None => {
            eprintln!("fs-ringline: the benchmark never ran");
            std::process::exit(1);
        }
    }
}
