//! `ringline-012-blocks --file PATH [--direct] [--workers N] ADDR`: the
//! server of `ringline-bench blocks` (see `bench/blocks-ringline`, which
//! this mirrors) written against the published ringline 0.1.2. Each
//! request names a 4 KiB block of the file; the server reads it and sends
//! it back.
//!
//! - Page-cached (default): each worker opens the file once with
//!   `fs::open`; per request `fs::read_into` a 4 KiB `BytesMut`, then
//!   `send_nowait` — the same calls as today's server.
//! - `--direct`: 0.1.2's `fs::OpenFlags` has no `O_DIRECT`; its
//!   `direct_io` module does (`open_direct_io_file` opens `O_RDWR |
//!   O_DIRECT` into the ring's fixed-file table), so the reads are the
//!   unsafe `direct_io_read` into a 4096-aligned block the task owns.
//!
//! The protocol (`fs_common::blocks` in the workspace, repeated here: this
//! crate builds outside it): a request is a little-endian u64 block index,
//! the answer the block. Prints nothing on stdout; exits with status 0 on
//! SIGTERM or SIGINT after a graceful shutdown.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use ringline::direct_io::{DirectIoConfig, DirectIoFile};
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};

/// Bytes per block and per answer.
const BLOCK_SIZE: usize = 4096;
/// Bytes per request.
const REQUEST_LEN: usize = 8;

/// What every worker needs to know about the file.
struct Served {
    path: PathBuf,
    direct: bool,
    len: u64,
}

static SERVED: OnceLock<Served> = OnceLock::new();

/// A worker's open handle on the file, by how it was opened.
#[derive(Clone, Copy)]
enum Handle {
    Cached(fs::File),
    Direct(DirectIoFile),
}

/// Where a worker is with opening the file.
#[derive(Clone, Copy)]
enum FileState {
    /// Nobody asked yet.
    Closed,
    /// A connection's task is opening it; the others wait.
    Opening,
    /// Open for every connection of the worker.
    Open(Handle),
}

thread_local! {
    /// This worker's file.
    static FILE: Cell<FileState> = const { Cell::new(FileState::Closed) };
}

/// Puts the worker's file state back to `Closed` if the task opening the
/// file is dropped before it finished (its connection went away), so the
/// next connection opens it instead of everyone waiting forever.
struct ResetIfStillOpening;

impl Drop for ResetIfStillOpening {
    fn drop(&mut self) {
        if let FileState::Opening = FILE.get() {
            FILE.set(FileState::Closed);
        }
    }
}

/// How often a connection accepted while its worker is still opening the
/// file looks again.
const OPEN_POLL: Duration = Duration::from_millis(1);

/// One block of memory on a 4096-byte boundary, for `O_DIRECT`.
#[repr(C, align(4096))]
struct AlignedBlock([u8; BLOCK_SIZE]);

struct Blocks;

impl AsyncEventHandler for Blocks {
    fn on_accept(&self, conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async move {
            if let Err(e) = serve(conn).await {
                eprintln!("ringline-012-blocks: connection {}: {e}", conn.index());
            }
            conn.close();
        }
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Blocks
    }
}

/// Answers the connection's requests until it closes.
async fn serve(conn: ConnCtx) -> io::Result<()> {
    let served = SERVED.get().expect("main sets what is served");
    let handle = worker_file(served).await?;
    let mut cached = BytesMut::with_capacity(BLOCK_SIZE);
    let mut direct = Some(Box::new(AlignedBlock([0; BLOCK_SIZE])));
    loop {
        let mut asked = None;
        conn.with_data(|data| match data.get(..REQUEST_LEN) {
            Some(bytes) => {
                let bytes: [u8; REQUEST_LEN] = bytes.try_into().expect("eight bytes");
                asked = Some(u64::from_le_bytes(bytes));
                ParseResult::Consumed(REQUEST_LEN)
            }
            None => ParseResult::NeedMore,
        })
        .await;
        let Some(index) = asked else { return Ok(()) };
        let offset = index
            .checked_mul(BLOCK_SIZE as u64)
            .filter(|start| start + BLOCK_SIZE as u64 <= served.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("block {index} is past the end of the file"),
                )
            })?;
        let read = match handle {
            Handle::Cached(file) => {
                cached.clear();
                let (result, back) = fs::read_into(file, offset, cached)?.await;
                cached = back;
                result?
            }
            Handle::Direct(file) => {
                let mut block = direct.take().expect("put back after every read");
                let ptr = block.0.as_mut_ptr();
                // Until the read completes the kernel may write the block:
                // if this task is dropped before then, leak it.
                let guard = LeakUnlessDone(Some(block));
                // SAFETY: `ptr` is the guard's 4096-aligned, 4096-byte
                // block, which stays allocated until the read completes
                // (awaited here) or forever (leaked by the guard if the
                // future is dropped first); nothing else touches it.
                let result =
                    unsafe { ringline::direct_io_read(file, offset, ptr, BLOCK_SIZE as u32) }?
                        .await;
                direct = guard.done();
                result? as usize
            }
        };
        if read != BLOCK_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read {read} of {BLOCK_SIZE} bytes of block {index}"),
            ));
        }
        let answer: &[u8] = match handle {
            Handle::Cached(_) => &cached,
            Handle::Direct(_) => &direct.as_ref().expect("put back above").0,
        };
        conn.send_nowait(answer)?;
    }
}

/// Holds a block the kernel may be writing; dropped before `done`, it
/// leaks the block rather than free memory under an in-flight read.
struct LeakUnlessDone(Option<Box<AlignedBlock>>);

impl LeakUnlessDone {
    /// The read completed: the block is ours again.
    fn done(mut self) -> Option<Box<AlignedBlock>> {
        self.0.take()
    }
}

impl Drop for LeakUnlessDone {
    fn drop(&mut self) {
        if let Some(block) = self.0.take() {
            Box::leak(block);
        }
    }
}

/// This worker's handle, opening the file on first use: one task opens
/// it while the others wait.
async fn worker_file(served: &Served) -> io::Result<Handle> {
    loop {
        match FILE.get() {
            FileState::Open(handle) => return Ok(handle),
            FileState::Opening => ringline::sleep(OPEN_POLL).await,
            FileState::Closed => {
                FILE.set(FileState::Opening);
                let _reset = ResetIfStillOpening;
                let opened = open(served).await;
                FILE.set(match opened {
                    Ok(handle) => FileState::Open(handle),
                    Err(_) => FileState::Closed,
                });
                return opened;
            }
        }
    }
}

async fn open(served: &Served) -> io::Result<Handle> {
    if served.direct {
        let path = served
            .path
            .to_str()
            .ok_or_else(|| io::Error::other("the file path is not UTF-8"))?;
        Ok(Handle::Direct(ringline::open_direct_io_file(path)?))
    } else {
        Ok(Handle::Cached(
            fs::open(&served.path, OpenFlags::READ, 0)?.await?,
        ))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr: Option<SocketAddr> = None;
    let mut file: Option<PathBuf> = None;
    let mut direct = false;
    let mut workers = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--file" => {
                file = Some(
                    args.next()
                        .unwrap_or_else(|| usage("--file needs a path"))
                        .into(),
                )
            }
            "--direct" => direct = true,
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .unwrap_or_else(|| usage("--workers needs a positive number"));
            }
            "-h" | "--help" => usage(""),
            other => {
                addr = Some(
                    other
                        .parse()
                        .unwrap_or_else(|_| usage(&format!("not an address: {other}"))),
                );
            }
        }
    }
    let addr = addr.unwrap_or_else(|| usage("missing ADDR"));
    let path = file.unwrap_or_else(|| usage("missing --file"));
    let len = std::fs::metadata(&path)
        .unwrap_or_else(|e| usage(&format!("{}: {e}", path.display())))
        .len();
    if SERVED.set(Served { path, direct, len }).is_err() {
        unreachable!("set once, here");
    }
    let mut config = Config::default();
    config.worker.threads = workers;
    config.worker.pin_to_core = false;
    // One read in flight per connection, as in today's server.
    config.fs = Some(FsConfig {
        max_files: 4,
        max_commands_in_flight: 1024,
    });
    if direct {
        config.direct_io = Some(DirectIoConfig {
            max_files: 4,
            max_commands_in_flight: 1024,
        });
    }
    let (shutdown, threads) = match RinglineBuilder::new(config).bind(addr).launch::<Blocks>() {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("ringline-012-blocks: cannot start: {e}");
            std::process::exit(1);
        }
    };
    // Shuts the workers down once SIGINT or SIGTERM arrives.
    shutdown.wait_on_signal();
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("ringline-012-blocks: worker failed: {e}"),
            Err(_) => eprintln!("ringline-012-blocks: worker panicked"),
        }
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("ringline-012-blocks: {problem}");
    }
    eprintln!("usage: ringline-012-blocks --file PATH [--direct] [--workers N] ADDR");
    std::process::exit(2);
}
