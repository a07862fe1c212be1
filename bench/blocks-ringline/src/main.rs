//! `blocks-ringline`: the ringline server of `ringline-bench blocks`. Each
//! request names a 4 KiB block of one file (`fs_common::blocks`); the
//! server reads it with `ringline::fs` and sends it back.
//!
//! ```text
//! blocks-ringline --file PATH [--direct] [--workers N] ADDR
//! ```
//!
//! Each worker opens the file once (on its first connection) and keeps it.
//! A connection's task owns one 4 KiB `BytesMut`: per request,
//! `fs::read_into` at the block's offset, then `send_nowait` (a copy into
//! the send pool, so the buffer is free again at once; the closed-loop
//! client sends its next request only after this answer). `--direct`
//! opens with `OpenFlags::DIRECT` and makes that buffer 4096-aligned.
//! The backend is the runtime's choice, `RINGLINE_BACKEND=io_uring|mio`
//! forcing one (the harness always sets it). Prints nothing on stdout;
//! exits with status 0 on SIGTERM or SIGINT after a graceful shutdown.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use clap::Parser;
use fs_common::ALIGN;
use fs_common::blocks::{self, BLOCK_SIZE, REQUEST_LEN};
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};

/// The command line.
#[derive(clap::Parser, Debug)]
struct Args {
    /// The block file (made by the harness).
    #[arg(long)]
    file: PathBuf,
    /// Open it with `O_DIRECT`.
    #[arg(long)]
    direct: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// Where to listen.
    addr: SocketAddr,
}

/// What every worker needs to know about the file.
struct Served {
    path: PathBuf,
    direct: bool,
    len: u64,
}

static SERVED: OnceLock<Served> = OnceLock::new();

/// Where a worker is with opening the file.
#[derive(Clone, Copy)]
enum FileState {
    /// Nobody asked yet.
    Closed,
    /// A connection's task is opening it; the others wait.
    Opening,
    /// Open: every connection of the worker reads through this handle.
    Open(fs::File),
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
/// file looks again (only the first connections of a run ever wait).
const OPEN_POLL: Duration = Duration::from_millis(1);

struct Blocks;

impl AsyncEventHandler for Blocks {
    fn on_accept(&self, conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async move {
            if let Err(e) = serve(conn).await {
                eprintln!("blocks-ringline: connection {}: {e}", conn.index());
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
    let file = worker_file(served).await?;
    let mut buf = if served.direct {
        aligned_block()
    } else {
        BytesMut::with_capacity(BLOCK_SIZE)
    };
    loop {
        let mut asked = None;
        conn.with_data(|data| match blocks::parse_request(data) {
            Some(index) => {
                asked = Some(index);
                ParseResult::Consumed(REQUEST_LEN)
            }
            None => ParseResult::NeedMore,
        })
        .await;
        // Nothing parsed: the peer closed.
        let Some(index) = asked else { return Ok(()) };
        let offset = blocks::block_offset(index, served.len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("block {index} is past the end of the file"),
            )
        })?;
        buf.clear();
        let (result, back) = fs::read_into(file, offset, buf)?.await;
        buf = back;
        match result? {
            BLOCK_SIZE => conn.send_nowait(&buf)?,
            short => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("read {short} of {BLOCK_SIZE} bytes of block {index}"),
                ));
            }
        }
    }
}

/// This worker's file handle, opening the file on first use: one task
/// opens it while the others wait (a connection burst would otherwise
/// open it once per connection and run out of file slots).
async fn worker_file(served: &Served) -> io::Result<fs::File> {
    loop {
        match FILE.get() {
            FileState::Open(file) => return Ok(file),
            FileState::Opening => ringline::sleep(OPEN_POLL).await,
            FileState::Closed => {
                FILE.set(FileState::Opening);
                let _reset = ResetIfStillOpening;
                let mut flags = OpenFlags::READ;
                if served.direct {
                    flags = flags | OpenFlags::DIRECT;
                }
                let opened = match fs::open(&served.path, flags, 0) {
                    Ok(opening) => opening.await,
                    Err(e) => Err(e),
                };
                FILE.set(match opened {
                    Ok(file) => FileState::Open(file),
                    Err(_) => FileState::Closed,
                });
                return opened;
            }
        }
    }
}

/// An empty `BytesMut` with exactly one block of spare capacity starting
/// on an `ALIGN` boundary (what `O_DIRECT` needs): over-allocate, then
/// split the aligned block out.
fn aligned_block() -> BytesMut {
    let mut whole = BytesMut::with_capacity(BLOCK_SIZE + ALIGN);
    let pad = whole.as_ptr().align_offset(ALIGN);
    whole.resize(pad, 0);
    let mut aligned = whole.split_off(pad);
    drop(aligned.split_off(BLOCK_SIZE));
    debug_assert_eq!(aligned.as_ptr() as usize % ALIGN, 0);
    debug_assert_eq!(aligned.capacity(), BLOCK_SIZE);
    aligned
}

fn main() {
    let args = Args::parse();
    let len = std::fs::metadata(&args.file)
        .unwrap_or_else(|e| {
            eprintln!("blocks-ringline: {}: {e}", args.file.display());
            std::process::exit(1);
        })
        .len();
    let served = Served {
        path: args.file.clone(),
        direct: args.direct,
        len,
    };
    if SERVED.set(served).is_err() {
        unreachable!("set once, here");
    }
    let mut config = Config::default();
    config.worker.threads = usize::from(args.workers);
    // The harness pins the whole process; the runtime must not re-pin.
    config.worker.pin_to_core = false;
    // One read in flight per connection: room for 1,024 connections per
    // worker (the default 256 would cap the benchmark's `--conns`).
    config.fs = Some(FsConfig {
        max_files: 4,
        max_commands_in_flight: 1024,
    });
    let (shutdown, threads) = match RinglineBuilder::new(config)
        .bind(args.addr)
        .launch::<Blocks>()
    {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("blocks-ringline: cannot start: {e}");
            std::process::exit(1);
        }
    };
    shutdown.wait_on_signal();
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("blocks-ringline: worker failed: {e}"),
            Err(_) => eprintln!("blocks-ringline: worker panicked"),
        }
    }
}
