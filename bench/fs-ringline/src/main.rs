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
//! - `--direct`: opened with `OpenFlags::DIRECT`; buffers are then
//!   4096-aligned.
//!
//! The harness measures the process's CPU time itself (`wait4`, every
//! thread); `window_cpu_secs` is the process CPU clock over the I/O phase
//! only, for comparison.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::Parser;
use fs_common::{ALIGN, AlignedBuf, CommonArgs, Outcome, Workload, process_cpu, xorshift};
use ringline::config::BackendChoice;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, RinglineBuilder};

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    /// `fs::read_into` / `fs::write_from` with a `BytesMut` per task.
    Owned,
    /// The unsafe `fs::read` / `fs::write` on a buffer the task owns.
    Raw,
}

/// The command line: the shared one plus `--api`.
#[derive(clap::Parser, Clone, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Which fs calls the tasks use.
    #[arg(long, value_enum, default_value_t = Api::Owned)]
    api: Api,
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
    let size = std::fs::metadata(&args.common.file)?.len();
    let blocks = size / (args.common.bs as usize) as u64;
    if blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is smaller than one block", args.common.file.display()),
        ));
    }
    let mut flags = match args.common.workload {
        Workload::RandRead => OpenFlags::READ,
        Workload::SeqWrite => OpenFlags::WRITE,
    };
    if args.common.direct {
        flags = flags | OpenFlags::DIRECT;
    }
    let file = fs::open(&args.common.file, flags, 0)?.await?;
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
    let mut tasks = Vec::with_capacity(args.common.qd as usize);
    for i in 0..(args.common.qd as usize) {
        let s = shared.clone();
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1) | 1;
        let task = match args.api {
            Api::Owned => ringline::spawn_with_handle(owned_task(s, seed))?,
            Api::Raw => ringline::spawn_with_handle(raw_task(s, seed))?,
        };
        tasks.push(task);
    }
    ringline::sleep(Duration::from_secs_f64(args.common.secs)).await;
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
        let block = match self.args.common.workload {
            Workload::RandRead => xorshift(rng) % self.blocks,
            Workload::SeqWrite => {
                let b = self.cursor.get();
                self.cursor.set((b + 1) % self.blocks);
                b
            }
        };
        block * u64::from(self.args.common.bs)
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
    let bs = s.args.common.bs as usize;
    let mut buf = if s.args.common.direct {
        aligned_bytes(bs)
    } else {
        BytesMut::with_capacity(bs)
    };
    if s.args.common.workload == Workload::SeqWrite {
        buf.resize(bs, 0x5a);
    }
    while !s.stop.get() {
        let offset = s.next_offset(&mut rng);
        let (result, back) = match s.args.common.workload {
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
    let bs = s.args.common.bs as usize;
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
            match s.args.common.workload {
                Workload::RandRead => fs::read(s.file, offset, buf.ptr(), len),
                Workload::SeqWrite => fs::write(s.file, offset, buf.ptr(), len),
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
    std::hint::black_box(buf.ptr());
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

fn main() {
    let args = Args::parse();
    let qd = args.common.qd as usize;
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
        Some(Ok(o)) => println!("{}", o.line(&ringline::backend().to_string())),
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
