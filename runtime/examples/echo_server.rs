//! A TCP echo server.
//!
//! ```text
//! cargo run --release -p ringline --example echo_server -- 127.0.0.1:7878 [--workers N]
//! ```
//!
//! Runs until Ctrl-C or SIGTERM, then shuts down gracefully.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::net::SocketAddr;

use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder};

struct Echo;

impl AsyncEventHandler for Echo {
    fn on_accept(&self, conn: ConnCtx) -> impl std::future::Future<Output = ()> + 'static {
        async move {
            loop {
                let n = conn
                    .with_data(|data| match conn.send_nowait(data) {
                        Ok(()) => ParseResult::Consumed(data.len()),
                        // The send pool is full: keep the bytes and retry
                        // when more arrive (or the pool drains).
                        Err(_) => ParseResult::NeedMore,
                    })
                    .await;
                if n == 0 {
                    break;
                }
            }
        }
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Echo
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr: SocketAddr = "127.0.0.1:7878".parse().expect("literal address");
    let mut workers = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage("--workers needs a number"));
            }
            "-h" | "--help" => usage(""),
            other => {
                addr = other
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("not an address: {other}")));
            }
        }
    }
    let mut config = Config::default();
    config.worker.threads = workers;
    config.worker.pin_to_core = false;

    let (shutdown, threads) = match RinglineBuilder::new(config).bind(addr).launch::<Echo>() {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("echo_server: cannot start: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "echo_server: listening on {addr} with {workers} worker(s) ({})",
        ringline::backend()
    );
    let signal = shutdown.wait_on_signal();
    eprintln!("echo_server: {signal}, shutting down");
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("echo_server: worker failed: {e}"),
            Err(_) => eprintln!("echo_server: worker panicked"),
        }
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("echo_server: {problem}");
    }
    eprintln!("usage: echo_server [ADDR] [--workers N]   (default 127.0.0.1:7878, 1 worker)");
    std::process::exit(2);
}
