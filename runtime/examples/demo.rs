//! A demo workload to watch with `ringline-top`: echo traffic between its
//! own clients and server, file I/O, one operation stuck on purpose from
//! its first second on, and a task pool that slowly fills.
//!
//! ```text
//! cargo run --release -p ringline --example demo
//! ringline-top --pid <printed pid>
//! ```
//!
//! Honours `RINGLINE_INSPECT_DIR` / `RINGLINE_INSPECT`; prints its pid and
//! inspect socket; exits cleanly (socket removed) on SIGINT or SIGTERM.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::BytesMut;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};

/// Where the demo keeps its files (a FIFO for the stuck read, a data file).
static DIR: OnceLock<PathBuf> = OnceLock::new();
static ADDR: OnceLock<SocketAddr> = OnceLock::new();

struct Demo {
    worker: usize,
}

impl AsyncEventHandler for Demo {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async move {
            while conn
                .with_data(|data| match conn.send_nowait(data) {
                    Ok(()) => ParseResult::Consumed(data.len()),
                    Err(_) => ParseResult::NeedMore,
                })
                .await
                > 0
            {}
        }
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        let worker = self.worker;
        Some(Box::pin(async move {
            for i in 0..4 {
                let _ = ringline::spawn(echo_client(i));
            }
            if worker == 0 {
                // Named, so `ringline-top`'s Tasks and Stuck views (and
                // `--once`) show which task the stuck read belongs to.
                let _ = ringline::spawn_named("stuck_read", stuck_read());
                let _ = ringline::spawn_named("file_io", file_io());
                let _ = ringline::spawn(filling_pool());
            }
        }))
    }

    fn create_for_worker(worker: usize) -> Self {
        Demo { worker }
    }
}

/// One client connection sending a message every few milliseconds.
async fn echo_client(i: usize) {
    let Some(addr) = ADDR.get().copied() else {
        return;
    };
    let Ok(connecting) = ringline::connect(addr) else {
        return;
    };
    let Ok(conn) = connecting.await else { return };
    let msg = format!("hello from demo client {i}\n").into_bytes();
    loop {
        if conn.send_nowait(&msg).is_err() {
            return;
        }
        let got = conn
            .with_data(|d| {
                if d.len() >= msg.len() {
                    ParseResult::Consumed(msg.len())
                } else {
                    ParseResult::NeedMore
                }
            })
            .await;
        if got == 0 {
            return;
        }
        ringline::sleep(Duration::from_millis(2 + i as u64)).await;
    }
}

/// A read on a FIFO nobody writes: in flight forever, for the Stuck view.
async fn stuck_read() {
    let Some(dir) = DIR.get() else { return };
    let fifo = dir.join("stuck.fifo");
    let Ok(opening) = fs::open(&fifo, OpenFlags::READ_WRITE, 0) else {
        return;
    };
    let Ok(f) = opening.await else { return };
    if let Ok(read) = fs::read_into(f, 0, BytesMut::with_capacity(4096)) {
        let _ = read.await;
    }
}

/// Writes and reads a file in a loop.
async fn file_io() {
    let Some(dir) = DIR.get() else { return };
    let path = dir.join("data.bin");
    let flags = OpenFlags::READ_WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let Ok(opening) = fs::open(&path, flags, 0o600) else {
        return;
    };
    let Ok(f) = opening.await else { return };
    let mut offset = 0u64;
    loop {
        let buf = BytesMut::from(&[0x42u8; 4096][..]);
        if let Ok(w) = fs::write_from(f, offset, buf) {
            let _ = w.await;
        }
        if let Ok(r) = fs::read_into(f, offset, BytesMut::with_capacity(4096)) {
            let _ = r.await;
        }
        offset = (offset + 4096) % (1 << 20);
        ringline::sleep(Duration::from_millis(10)).await;
    }
}

/// Parks one more task every second until the standalone task pool is
/// nearly full: a slab to watch fill.
async fn filling_pool() {
    for _ in 0..58 {
        ringline::sleep(Duration::from_secs(1)).await;
        let _ = ringline::spawn(async {
            ringline::sleep(Duration::from_secs(86_400)).await;
        });
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("ringline-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the demo's temp dir");
    let fifo = dir.join("stuck.fifo");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("no NUL in temp dir");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        eprintln!(
            "demo: mkfifo {}: {}",
            fifo.display(),
            std::io::Error::last_os_error()
        );
    }
    let _ = DIR.set(dir.clone());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("pick a port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    let _ = ADDR.set(addr);

    let mut config = Config::default();
    config.worker.threads = 2;
    config.standalone_task_capacity = 64;
    config.fs = Some(FsConfig::default());
    // Before the socket and the pid line show we are up: a SIGTERM from
    // then on is kept for wait_on_signal instead of killing us.
    ringline::signal::install().expect("install the signal handlers");
    let (shutdown, workers) = RinglineBuilder::new(config)
        .bind(addr)
        .launch::<Demo>()
        .unwrap_or_else(|e| {
            eprintln!("demo: launch failed: {e}");
            std::process::exit(1);
        });
    println!("demo: pid {} serving echo on {addr}", std::process::id());
    #[cfg(feature = "inspect")]
    println!(
        "demo: inspect socket {}",
        ringline::inspect::socket_path(std::process::id()).display()
    );
    println!(
        "demo: watch it with: ringline-top --pid {}",
        std::process::id()
    );
    let signal = shutdown.wait_on_signal();
    eprintln!("demo: {signal:?}, shutting down");
    for w in workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
