//! Copies a file with `ringline::fs` (owned buffers: `read_into` /
//! `write_from`) and reports the throughput.
//!
//! ```text
//! cargo run --release -p ringline --example file_copy -- SRC DST
//! ```
//!
//! The runtime binds nothing: one worker runs the copy in `on_start`, then
//! asks the runtime to shut down.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use ringline::fs::{self, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, RinglineBuilder};

/// Bytes per read: large enough that per-op overhead does not dominate.
const CHUNK: usize = 256 * 1024;

/// Source and destination, set by `main` before launch.
static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
/// The copy's outcome: bytes copied and time taken.
static OUTCOME: Mutex<Option<io::Result<(u64, Duration)>>> = Mutex::new(None);

struct Copier;

impl AsyncEventHandler for Copier {
    fn on_accept(&self, _conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async {}
    }

    fn on_start(&self) -> Option<Pin<Box<dyn std::future::Future<Output = ()> + 'static>>> {
        Some(Box::pin(async {
            let (src, dst) = PATHS.get().expect("main sets the paths");
            let outcome = copy(src, dst).await;
            *OUTCOME.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            let _ = ringline::request_shutdown();
        }))
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Copier
    }
}

/// Copies `src` to `dst` chunk by chunk; returns the byte count and time.
async fn copy(src: &Path, dst: &Path) -> io::Result<(u64, Duration)> {
    let start = Instant::now();
    let input = fs::open(src, OpenFlags::READ, 0)?
        .await
        .map_err(|e| annotate(e, "open", src))?;
    let output = fs::create(dst)?
        .await
        .map_err(|e| annotate(e, "create", dst))?;
    let mut offset = 0u64;
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        buf.clear();
        buf.reserve(CHUNK);
        let (n, filled) = fs::read_into(input, offset, buf)?.await;
        buf = filled;
        if n.map_err(|e| annotate(e, "read", src))? == 0 {
            break;
        }
        // Write the chunk, resuming after short writes.
        let mut at = offset;
        while !buf.is_empty() {
            let (n, rest) = fs::write_from(output, at, buf)?.await;
            buf = rest;
            let n = n.map_err(|e| annotate(e, "write", dst))?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("write to {} made no progress", dst.display()),
                ));
            }
            buf.advance(n);
            at += n as u64;
        }
        offset = at;
    }
    fs::fsync(output)?
        .await
        .map_err(|e| annotate(e, "fsync", dst))?;
    fs::close(input)?;
    fs::close(output)?;
    Ok((offset, start.elapsed()))
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: file_copy SRC DST");
        std::process::exit(2);
    };
    PATHS
        .set((PathBuf::from(src), PathBuf::from(dst)))
        .expect("set once");

    let mut config = Config::default();
    config.worker.threads = 1;
    let (_shutdown, workers) = RinglineBuilder::new(config)
        .launch::<Copier>()
        .unwrap_or_else(|e| {
            eprintln!("file_copy: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("file_copy: worker failed: {e}"),
            Err(_) => eprintln!("file_copy: worker panicked"),
        }
    }
    match OUTCOME.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(Ok((bytes, took))) => {
            let mb_s = bytes as f64 / 1e6 / took.as_secs_f64().max(1e-9);
            println!(
                "copied {bytes} bytes in {:.3} s ({mb_s:.1} MB/s)",
                took.as_secs_f64()
            );
        }
        Some(Err(e)) => {
            eprintln!("file_copy: {e}");
            std::process::exit(1);
        }
        None => {
            eprintln!("file_copy: the copy never ran");
            std::process::exit(1);
        }
    }
}
