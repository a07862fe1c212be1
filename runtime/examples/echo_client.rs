//! An echo load client written on ringline itself (outbound connections).
//!
//! ```text
//! cargo run --release -p ringline --example echo_client -- 127.0.0.1:7878 \
//!     [--conns 16] [--size 64] [--requests 10000]
//! ```
//!
//! Each connection sends `size` bytes, waits for all of them to come back,
//! and repeats; the client checks every byte and prints round trips per
//! second. Pair it with `echo_server`.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};

struct Args {
    addr: SocketAddr,
    conns: usize,
    size: usize,
    requests: usize,
}

static ARGS: OnceLock<Args> = OnceLock::new();

struct Client;

impl AsyncEventHandler for Client {
    fn on_accept(&self, _conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async {}
    }

    fn on_start(&self) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> {
        Some(Box::pin(run()))
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Client
    }
}

async fn run() {
    let args = ARGS.get().expect("set before launch");
    let started = Instant::now();
    let failures = Rc::new(Cell::new(0usize));
    let mut handles = Vec::new();
    for _ in 0..args.conns {
        let failures = failures.clone();
        let spawned = ringline::spawn_with_handle(async move {
            if let Err(e) = one_connection(args).await {
                eprintln!("echo_client: {e}");
                failures.set(failures.get() + 1);
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => eprintln!("echo_client: cannot spawn: {e}"),
        }
    }
    for h in handles {
        h.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let total = args.conns * args.requests;
    println!(
        "echo_client: {total} round trips of {} B over {} connections in {secs:.2} s: {:.0}/s ({} failed connections)",
        args.size,
        args.conns,
        total as f64 / secs,
        failures.get()
    );
    let _ = ringline::request_shutdown();
}

async fn one_connection(args: &Args) -> std::io::Result<()> {
    let conn = ringline::connect(args.addr)?.await?;
    let message: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    for _ in 0..args.requests {
        conn.send_nowait(&message)?;
        let mut seen = 0;
        while seen < message.len() {
            let mut mismatch = false;
            let n = conn
                .with_data(|data| {
                    let take = data.len().min(message.len() - seen);
                    mismatch |= data[..take] != message[seen..seen + take];
                    ParseResult::Consumed(take)
                })
                .await;
            if n == 0 {
                return Err(std::io::Error::other("server closed the connection"));
            }
            if mismatch {
                return Err(std::io::Error::other("echoed bytes differ"));
            }
            seen += n;
        }
    }
    conn.close();
    Ok(())
}

fn main() {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        addr: "127.0.0.1:7878".parse().expect("literal address"),
        conns: 16,
        size: 64,
        requests: 10_000,
    };
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match a.as_str() {
            "--conns" => args.conns = number("--conns"),
            "--size" => args.size = number("--size").max(1),
            "--requests" => args.requests = number("--requests"),
            "-h" | "--help" => usage(""),
            other => {
                args.addr = other
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("not an address: {other}")))
            }
        }
    }
    let mut config = Config::default();
    config.worker.threads = 1;
    config.worker.pin_to_core = false;
    config.standalone_task_capacity = args.conns as u32 + 1;
    ARGS.set(args).ok().expect("set once");
    let (_shutdown, threads) = match RinglineBuilder::new(config).launch::<Client>() {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("echo_client: cannot start: {e}");
            std::process::exit(1);
        }
    };
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            eprintln!("echo_client: worker failed: {e}");
        }
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("echo_client: {problem}");
    }
    eprintln!("usage: echo_client [ADDR] [--conns N] [--size BYTES] [--requests N]");
    std::process::exit(2);
}
