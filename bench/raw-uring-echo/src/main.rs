//! `raw-uring-echo ADDR [--workers N]`: the benchmark's ceiling, a TCP echo
//! server written straight on io_uring with no runtime (see `worker.rs`
//! for the techniques). Every worker keeps a multishot accept armed on one
//! shared listener, as ringline does. Prints nothing on stdout; exits with
//! status 0 on SIGTERM or SIGINT.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod buf_ring;
mod user_data;
mod worker;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};

fn main() {
    let (addr, workers) = parse_args();
    // Blocked here, before any worker exists, so every thread inherits the
    // mask and only `sigwait` below sees the signals.
    let signals = block_termination_signals();
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
    let fd = listener.as_raw_fd();
    tune_listener(fd);
    for i in 0..workers {
        std::thread::Builder::new()
            .name(format!("raw-echo-{i}"))
            .spawn(move || {
                if let Err(e) = worker::run(fd) {
                    fail(&format!("worker {i}: {e}"));
                }
            })
            .unwrap_or_else(|e| fail(&format!("spawn worker {i}: {e}")));
    }
    let mut sig = 0;
    // SAFETY: `signals` is an initialised set and `sig` a live out-param.
    unsafe { libc::sigwait(&signals, &mut sig) };
    // Connections and rings go with the process: nothing to flush.
    std::process::exit(0);
}

fn parse_args() -> (SocketAddr, usize) {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    let mut workers = 1usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage("--workers needs a positive number"));
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
    (addr.unwrap_or_else(|| usage("missing ADDR")), workers)
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

/// A deep backlog (128 connections arrive at once) and `TCP_NODELAY`, which
/// accepted sockets inherit: direct descriptors cannot be `setsockopt`ed.
fn tune_listener(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: plain syscalls on our own listening socket; setsockopt reads
    // a live c_int of the size given.
    unsafe {
        libc::listen(fd, 1024);
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("raw-uring-echo: {problem}");
    }
    eprintln!("usage: raw-uring-echo ADDR [--workers N]");
    std::process::exit(2);
}

fn fail(message: &str) -> ! {
    eprintln!("raw-uring-echo: {message}");
    std::process::exit(1);
}
