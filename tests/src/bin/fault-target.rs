//! A process for the fault tests that must change process-wide limits.
//!
//! `fault-target fd-exhaustion SPARE BACKEND`: lowers its `RLIMIT_NOFILE`
//! so that a running runtime leaves exactly `SPARE` descriptor numbers
//! free, then serves echo on one worker: about `SPARE` clients fit at
//! once, and accepts beyond fail with `EMFILE`. `BACKEND` is `io_uring` or
//! `mio`.
//!
//! Prints `ready pid=<pid> echo=<addr> limit=<n>` once serving; when its
//! standard input closes (a signal handler would need descriptors it may
//! not get), shuts down and prints `done accepted=<n> accept_errors=<n>`
//! from the runtime's final stats, then exits 0.

use std::net::SocketAddr;

use ringline::RinglineBuilder;
use ringline::config::BackendChoice;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, spare, backend] = &args[..] else {
        eprintln!("usage: fault-target fd-exhaustion SPARE io_uring|mio");
        std::process::exit(2);
    };
    assert_eq!(mode, "fd-exhaustion", "the only mode");
    let spare: u64 = spare.parse().expect("SPARE is a number");
    let backend = match backend.as_str() {
        "io_uring" => BackendChoice::IoUring,
        "mio" => BackendChoice::Mio,
        other => panic!("unknown backend {other}"),
    };
    let mut config = ringline_tests::test_config(backend);
    config.max_connections = 1024;
    config.inspect = false;
    config.blocking_threads = 0;
    config.resolver_threads = 0;
    // The limit must be in place before launch: io_uring's accept takes
    // the descriptor limit when its SQE is prepared, so a multishot accept
    // armed earlier would go on under the old limit. A first launch tells
    // how many descriptors a running runtime holds.
    let (probe, probe_workers) = RinglineBuilder::new(config.clone())
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .launch::<ringline_tests::Echo>()
        .expect("launch the probe");
    let running = open_fds();
    probe.shutdown();
    for w in probe_workers {
        w.join().expect("probe worker").expect("probe worker");
    }
    let idle = open_fds();
    let needed = running.difference(&idle).count() as u64;
    // New descriptors take the lowest free number below the limit, and
    // some high numbers stay open: the limit is where exactly
    // needed + SPARE free numbers lie below it.
    let (mut below, mut free) = (0u64, 0u64);
    while free < needed + spare {
        free += u64::from(!idle.contains(&below));
        below += 1;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    limit.rlim_cur = below;
    // SAFETY: a valid rlimit, lowering only the soft limit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    let addr = SocketAddr::from(([127, 0, 0, 1], ringline_tests::free_port()));
    let (shutdown, workers) = RinglineBuilder::new(config)
        .bind(addr)
        .launch::<ringline_tests::Echo>()
        .expect("launch");
    println!(
        "ready pid={} echo={addr} limit={}",
        std::process::id(),
        limit.rlim_cur
    );
    // Blocks until the test closes our stdin (EOF; an error ends it too).
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    shutdown.shutdown();
    let mut clean = true;
    for w in workers {
        clean &= matches!(w.join(), Ok(Ok(())));
    }
    let rt = shutdown.stats();
    let accept = rt.op_total("accept");
    println!(
        "done accepted={} accept_errors={}",
        rt.workers
            .iter()
            .map(|w| w.net.connections_accepted_total)
            .sum::<u64>(),
        accept.completed_error_total
    );
    std::process::exit(if clean { 0 } else { 1 });
}

/// The descriptors open now.
fn open_fds() -> std::collections::BTreeSet<u64> {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .collect()
}
