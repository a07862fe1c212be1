//! An echo server that first makes `io_uring_setup` fail with `EPERM`, as
//! Docker's default seccomp profile does, then launches ringline with the
//! backend named by its one argument (`auto`, `io_uring` or `mio`).
//!
//! Prints `ready backend=<backend> echo=<addr>` once serving and exits
//! cleanly on SIGTERM; if launch fails it prints `launch-error <message>`
//! and exits with status 2.

use std::net::SocketAddr;

use ringline::RinglineBuilder;
use ringline::config::BackendChoice;
use ringline_tests::Echo;

/// `AUDIT_ARCH_*` of the architecture this is built for: the filter only
/// trusts syscall numbers of its own architecture.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Installs a seccomp filter, for this thread and every thread it starts
/// later, that fails `io_uring_setup` with `EPERM` and allows the rest.
/// No privilege needed: `PR_SET_NO_NEW_PRIVS` comes first.
fn block_io_uring() {
    const NR: u32 = 0; // offsetof(struct seccomp_data, nr)
    const ARCH: u32 = 4; // offsetof(struct seccomp_data, arch)
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let mut program = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH),
        // Another architecture's numbers mean other syscalls: allow.
        jeq(AUDIT_ARCH, 0, 3),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: plain prctl calls; `prog` and the program it points to live
    // on this stack frame for the duration of the call (the kernel copies
    // the filter).
    unsafe {
        assert_eq!(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            0,
            "PR_SET_NO_NEW_PRIVS: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "PR_SET_SECCOMP: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn main() {
    let backend = match std::env::args().nth(1).as_deref() {
        Some("auto") => BackendChoice::Auto,
        Some("io_uring") => BackendChoice::IoUring,
        Some("mio") => BackendChoice::Mio,
        other => {
            eprintln!("usage: seccomp-echo auto|io_uring|mio (got {other:?})");
            std::process::exit(64);
        }
    };
    block_io_uring();
    let addr = SocketAddr::from(([127, 0, 0, 1], ringline_tests::free_port()));
    // Before anything shows we are up (the inspect socket, the ready
    // line): a SIGTERM from then on is kept for wait_on_signal.
    ringline::signal::install().expect("install the signal handlers");
    let launched = RinglineBuilder::new(ringline_tests::test_config(backend))
        .bind(addr)
        .launch::<Echo>();
    let (shutdown, workers) = match launched {
        Ok(running) => running,
        Err(e) => {
            println!("launch-error {e}");
            std::process::exit(2);
        }
    };
    println!("ready backend={} echo={addr}", ringline::backend());
    shutdown.wait_on_signal();
    for w in workers {
        let _ = w.join();
    }
}
