//! Receive backpressure: a peer that sends and never reads costs the server
//! at most `recv_buffer_limit` (plus a small constant) of memory, not
//! everything it sends; the worker keeps serving other connections; and
//! once the peer reads, every byte comes back in order.
//!
//! One test in its own binary: it measures the process's resident memory,
//! which other tests running in parallel would disturb. It runs each
//! backend in turn.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline_tests::{AwaitedEcho, echo_round_trip, launch, shutdown_and_join, test_config};

/// What the non-reading client tries to send.
const TOTAL: u64 = 512 << 20;
/// The server's per-connection limit in this test.
const LIMIT: usize = 1 << 20;
/// Memory the server may use beyond the limit: the receive ring's buffers
/// already filled when the pause took effect, allocator slack.
const SLACK: u64 = 8 << 20;

/// The byte at stream offset `i`: a pattern that shows loss or reordering.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("resident pages in statm");
    // SAFETY: sysconf has no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// Writes the pattern until `TOTAL` bytes are out, counting them in
/// `written`; then half-closes.
fn write_pattern(mut stream: TcpStream, written: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    while offset < TOTAL {
        let len = buf.len().min((TOTAL - offset) as usize);
        for (i, b) in buf[..len].iter_mut().enumerate() {
            *b = pattern(offset + i as u64);
        }
        stream.write_all(&buf[..len]).expect("write the pattern");
        offset += len as u64;
        written.store(offset, Ordering::Relaxed);
    }
    stream.shutdown(Shutdown::Write).expect("half-close");
}

/// Waits until `written` has not moved for `quiet`, or reached `TOTAL`.
fn wait_until_stalled(written: &AtomicU64, quiet: Duration) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = written.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = written.load(Ordering::Relaxed);
        if now >= TOTAL {
            return now;
        }
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the writer neither stalled nor finished"
        );
    }
}

fn non_reading_peer(backend: BackendChoice) {
    let mut config = test_config(backend);
    config.recv_buffer_limit = LIMIT;
    let Some((addr, shutdown, workers)) = launch::<AwaitedEcho>(config) else {
        return;
    };
    // Warm the server up (first connection, first allocations) before the
    // baseline.
    let warm = [7u8; 64 * 1024];
    assert_eq!(echo_round_trip(addr, &warm), warm);
    let stats = |shutdown: &ringline::ShutdownHandle| shutdown.stats().workers[0].net.clone();

    let mut flood = TcpStream::connect(addr).expect("connect");
    flood
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut read_buf = vec![0u8; 256 * 1024];
    let baseline = resident_bytes();

    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let stream = flood.try_clone().expect("clone");
        let written = written.clone();
        std::thread::spawn(move || write_pattern(stream, written))
    };
    let stalled_at = wait_until_stalled(&written, Duration::from_millis(500));
    let grown = resident_bytes().saturating_sub(baseline);
    println!(
        "{backend:?}: the writer stalled after {} KiB; server RSS grew {} KiB (limit {} KiB)",
        stalled_at >> 10,
        grown >> 10,
        LIMIT >> 10
    );
    assert!(
        stalled_at < TOTAL,
        "the server took all {TOTAL} bytes from a peer that never reads"
    );
    assert!(
        grown <= LIMIT as u64 + SLACK,
        "RSS grew {grown} bytes for a non-reading peer, limit {LIMIT} + slack {SLACK}"
    );
    let net = ringline_tests::wait_for("the pause in the stats", Duration::from_secs(5), || {
        let net = stats(&shutdown);
        (net.connections_recv_paused == 1).then_some(net)
    });
    assert!(
        net.recv_buffered_bytes >= LIMIT as u64,
        "paused below the limit: {net:?}"
    );
    assert!(net.recv_pauses_total >= 1, "{net:?}");

    // The worker still serves everyone else.
    let msg = vec![9u8; 256 * 1024];
    assert!(
        echo_round_trip(addr, &msg) == msg,
        "a second client was not served"
    );

    // Now the flood's client reads: every byte comes back, in order, and
    // the writer finishes its TOTAL.
    let mut offset = 0u64;
    loop {
        let n = match flood.read(&mut read_buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => panic!("reading the echo at {offset}: {e}"),
        };
        for (i, &b) in read_buf[..n].iter().enumerate() {
            let at = offset + i as u64;
            assert_eq!(b, pattern(at), "byte {at} lost or reordered");
        }
        offset += n as u64;
    }
    writer.join().expect("the writer finished");
    assert_eq!(offset, TOTAL, "every byte sent came back");
    let net = stats(&shutdown);
    assert_eq!(net.connections_recv_paused, 0, "{net:?}");
    shutdown_and_join(&shutdown, workers);
}

#[test]
fn non_reading_peer_costs_at_most_the_limit_and_loses_nothing() {
    for backend in [BackendChoice::IoUring, BackendChoice::Mio] {
        non_reading_peer(backend);
    }
}
