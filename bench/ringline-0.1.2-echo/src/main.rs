//! `ringline-012-echo ADDR [--workers N]`: the echo server of today's
//! `runtime/examples/echo_server.rs`, written against the published
//! ringline 0.1.2 (same handler, same `Config::default()` apart from the
//! worker count and pinning). Prints nothing on stdout; exits with status 0
//! on SIGTERM or SIGINT after a graceful shutdown.

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
                        // when more arrive.
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
    let mut addr: Option<SocketAddr> = None;
    let mut workers = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
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
    let mut config = Config::default();
    config.worker.threads = workers;
    config.worker.pin_to_core = false;
    let (shutdown, threads) = match RinglineBuilder::new(config).bind(addr).launch::<Echo>() {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("ringline-0.1.2-echo: cannot start: {e}");
            std::process::exit(1);
        }
    };
    // Shuts the workers down once SIGINT or SIGTERM arrives.
    shutdown.wait_on_signal();
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("ringline-0.1.2-echo: worker failed: {e}"),
            Err(_) => eprintln!("ringline-0.1.2-echo: worker panicked"),
        }
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("ringline-0.1.2-echo: {problem}");
    }
    eprintln!("usage: ringline-0.1.2-echo ADDR [--workers N]");
    std::process::exit(2);
}
