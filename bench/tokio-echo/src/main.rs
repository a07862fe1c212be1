//! `tokio-echo ADDR [--workers N] [--flavor current-thread|multi-thread]`:
//! the benchmark's tokio baseline, echoing with `read` → `write_all`.
//!
//! - `current-thread` (default): N OS threads, each running its own
//!   `current_thread` runtime with its own `SO_REUSEPORT` listener on ADDR
//!   (the kernel spreads connections over the listeners by hash). This is
//!   the usual thread-per-core way to run tokio; one shared listener would
//!   wake every runtime's epoll on each connection instead.
//! - `multi-thread`: one `multi_thread` runtime with N worker threads and
//!   one listener.
//!
//! Every connection gets `TCP_NODELAY` and a 16 KiB buffer (ringline's
//! default receive buffer size). Prints nothing on stdout; exits with
//! status 0 on SIGTERM or SIGINT.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Per-connection buffer: one read takes a whole 4 KiB message.
const BUF_SIZE: usize = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

fn main() {
    let (addr, workers, flavor) = parse_args();
    // Blocked before any runtime thread exists, so all inherit the mask and
    // only `sigwait` below sees the signals.
    let signals = block_termination_signals();
    match flavor {
        Flavor::CurrentThread => {
            // Bind every listener here, so the port is served by all
            // workers before anyone can connect.
            let listeners =
                listen_all(addr, workers).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
            for (i, listener) in listeners.into_iter().enumerate() {
                std::thread::Builder::new()
                    .name(format!("tokio-echo-{i}"))
                    .spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_io()
                            .build()
                            .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
                        rt.block_on(serve(listener));
                    })
                    .unwrap_or_else(|e| fail(&format!("spawn worker {i}: {e}")));
            }
        }
        Flavor::MultiThread => {
            let listener =
                listen(addr, false).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_io()
                .build()
                .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
            std::thread::Builder::new()
                .name("tokio-echo-main".into())
                .spawn(move || rt.block_on(serve(listener)))
                .unwrap_or_else(|e| fail(&format!("spawn: {e}")));
        }
    }
    let mut sig = 0;
    // SAFETY: `signals` is an initialised set and `sig` a live out-param.
    unsafe { libc::sigwait(&signals, &mut sig) };
    // Connections go with the process: nothing to flush.
    std::process::exit(0);
}

/// Accepts forever, one task per connection.
async fn serve(listener: std::net::TcpListener) {
    let listener = TcpListener::from_std(listener).unwrap_or_else(|e| fail(&format!("{e}")));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            // EMFILE and friends: keep serving the connections we have.
            Err(e) => eprintln!("tokio-echo: accept: {e}"),
        }
    }
}

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `n` `SO_REUSEPORT` listeners on `addr`; port 0 is resolved by the first
/// bind and reused for the rest.
fn listen_all(mut addr: SocketAddr, n: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = listen(addr, true)?;
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn parse_args() -> (SocketAddr, usize, Flavor) {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut workers = 1usize;
    let mut flavor = Flavor::CurrentThread;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage("--workers needs a positive number"));
            }
            "--flavor" => {
                flavor = match args.next().as_deref() {
                    Some("current-thread") => Flavor::CurrentThread,
                    Some("multi-thread") => Flavor::MultiThread,
                    _ => usage("--flavor is current-thread or multi-thread"),
                }
            }
            "-h" | "--help" => usage(""),
            other => {
                addr = Some(
                    other
                        .parse()
                        .unwrap_or_else(|_| usage(&format!("not an address: {other}"))),
                )
            }
        }
    }
    (
        addr.unwrap_or_else(|| usage("missing ADDR")),
        workers,
        flavor,
    )
}

fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset and
    // pthread_sigmask read and write only that set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("tokio-echo: {problem}");
    }
    eprintln!("usage: tokio-echo ADDR [--workers N] [--flavor current-thread|multi-thread]");
    std::process::exit(2);
}

fn fail(message: &str) -> ! {
    eprintln!("tokio-echo: {message}");
    std::process::exit(1);
}
