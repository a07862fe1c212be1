//! Load held while the process is watched: echo traffic runs alone, then
//! again while 64 `ringline-top --once`-style clients poll `snapshot` on
//! the inspect socket at 10 Hz and 200 scrapes at a time hit an embedded
//! exporter (`ringline_exporter::serve`). Echo p99 of both runs is printed
//! (measured, not asserted: timing belongs in benchmarks, and this box's
//! CPUs are shared). Asserted: every echo byte comes back, every poll and
//! scrape gets a well-formed answer or a refusal the protocol allows,
//! clients beyond the inspect cap get `busy` within a deadline, the
//! runtime loses nothing, and the process holds as many descriptors
//! afterwards as before.
//!
//! One test in its own binary: `/proc/self/fd` counts the whole process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline::inspect::{Client, MAX_CLIENTS};
use ringline_tests::{Echo, client, read_n, shutdown_and_join, test_config, wait_for};

const ECHO_CLIENTS: usize = 4;
const PHASE: Duration = Duration::from_secs(3);
const POLLERS: usize = 64;
const POLL_EVERY: Duration = Duration::from_millis(100);
const SCRAPERS: usize = 200;
/// How soon a client past the cap must read its `busy`.
const BUSY_DEADLINE: Duration = Duration::from_secs(1);

/// The process's open descriptors and what each one is.
fn open_fds() -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.display().to_string(),
            ))
        })
        .collect()
}

/// Round-trip times of `ECHO_CLIENTS` clients sending 64 bytes at a time
/// for `PHASE`, and the bytes echoed.
fn echo_load(addr: SocketAddr) -> (Vec<Duration>, u64) {
    let start = Instant::now();
    let clients: Vec<_> = (0..ECHO_CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = client(addr);
                let mut times = Vec::new();
                let mut bytes = 0u64;
                while start.elapsed() < PHASE {
                    let msg = [times.len() as u8 ^ i as u8; 64];
                    let t = Instant::now();
                    s.write_all(&msg).expect("echo write");
                    assert_eq!(read_n(&mut s, msg.len()), msg, "echo client {i}");
                    times.push(t.elapsed());
                    bytes += msg.len() as u64;
                }
                (times, bytes)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut bytes = 0;
    for c in clients {
        let (t, b) = c.join().expect("echo client");
        all.extend(t);
        bytes += b;
    }
    all.sort();
    (all, bytes)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[derive(Default)]
struct Watchers {
    snapshots: AtomicU64,
    poll_busy: AtomicU64,
    poll_closed: AtomicU64,
    scrapes_ok: AtomicU64,
    scrapes_503: AtomicU64,
    scrapes_closed: AtomicU64,
}

/// A `--once`-style poll: connect, one snapshot, disconnect.
fn poll_once(socket: &Path, w: &Watchers) {
    let mut c = match Client::connect_path(socket) {
        Ok(c) => c,
        Err(e) => panic!("inspect connect: {e}"),
    };
    match c.snapshot() {
        Ok(snap) => {
            assert!(!snap.runtimes.is_empty(), "a snapshot without the runtime");
            w.snapshots.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) if e.to_string().contains("(busy)") => {
            w.poll_busy.fetch_add(1, Ordering::Relaxed);
        }
        // Refused before our request went out: the server closed first.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            w.poll_closed.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => panic!("inspect poll: {e}"),
    }
}

/// One scrape: 200 with a body, 503, or closed unanswered (the exporter's
/// reject queue is full) — nothing else.
fn scrape_once(addr: SocketAddr, w: &Watchers) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        w.scrapes_closed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .is_err()
    {
        w.scrapes_closed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut reply = Vec::new();
    match s.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("scrape: {e}"),
    }
    if reply.is_empty() {
        w.scrapes_closed.fetch_add(1, Ordering::Relaxed);
    } else if reply.starts_with(b"HTTP/1.1 200 ") {
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.contains("\nringline_info{"),
            "a scrape without ringline_info"
        );
        w.scrapes_ok.fetch_add(1, Ordering::Relaxed);
    } else if reply.starts_with(b"HTTP/1.1 503 ") {
        w.scrapes_503.fetch_add(1, Ordering::Relaxed);
    } else {
        panic!(
            "scrape answered {:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(80)])
        );
    }
}

#[test]
fn echo_load_holds_while_watched_and_nothing_leaks() {
    if std::env::var("RINGLINE_INSPECT").is_ok_and(|v| v.trim() == "0") {
        eprintln!("SKIPPED: RINGLINE_INSPECT=0 turns the inspect socket off");
        return;
    }
    let config = test_config(BackendChoice::IoUring);
    // A first runtime starts what lives as long as the process (the
    // inspect server and its socket), so the baseline counts it.
    let Some((_, shutdown, workers)) = ringline_tests::launch::<Echo>(config.clone()) else {
        return;
    };
    shutdown_and_join(&shutdown, workers);
    // The handle keeps the runtime's worker handles (their eventfds).
    drop(shutdown);
    let socket = ringline::inspect::socket_path(std::process::id());
    wait_for("the inspect socket", Duration::from_secs(10), || {
        UnixStream::connect(&socket).ok()
    });
    std::thread::sleep(Duration::from_millis(300));
    let fds_before = open_fds();

    let (addr, shutdown, workers) =
        ringline_tests::launch::<Echo>(config).expect("the backend ran a moment ago");
    let exporter = ringline_exporter::serve("127.0.0.1:0").expect("serve /metrics");
    assert!(exporter.local_addr().ip().is_loopback());
    let (alone, bytes_alone) = echo_load(addr);

    let w = Arc::new(Watchers::default());
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<_> = (0..POLLERS)
        .map(|i| {
            let (w, stop, socket) = (w.clone(), stop.clone(), socket.clone());
            std::thread::spawn(move || {
                // Spread over the period, as independent pollers would be.
                std::thread::sleep(POLL_EVERY * i as u32 / POLLERS as u32);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    poll_once(&socket, &w);
                    std::thread::sleep(POLL_EVERY.saturating_sub(t.elapsed()));
                }
            })
        })
        .collect();
    let exporter_addr = exporter.local_addr();
    let barrier = Arc::new(Barrier::new(SCRAPERS));
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let (w, stop, barrier) = (w.clone(), stop.clone(), barrier.clone());
            std::thread::spawn(move || {
                // Each round starts all 200 together.
                loop {
                    barrier.wait();
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    scrape_once(exporter_addr, &w);
                }
            })
        })
        .collect();
    let (attached, bytes_attached) = echo_load(addr);
    stop.store(true, Ordering::Relaxed);
    for p in pollers {
        p.join().expect("poller");
    }
    for s in scrapers {
        s.join().expect("scraper");
    }

    // The cap: MAX_CLIENTS attached clients, then one more is refused.
    let held: Vec<Client> = (0..MAX_CLIENTS)
        .map(|_| {
            let mut c = Client::connect_path(&socket).expect("attach");
            c.hello().expect("admitted");
            c
        })
        .collect();
    let refused_at = Instant::now();
    let extra = UnixStream::connect(&socket).expect("connect past the cap");
    extra
        .set_read_timeout(Some(BUSY_DEADLINE))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&extra)
        .read_line(&mut line)
        .expect("busy within the deadline");
    let refused_in = refused_at.elapsed();
    assert!(line.contains("\"error\":\"busy\""), "{line}");
    assert!(refused_in < BUSY_DEADLINE, "busy after {refused_in:?}");
    drop((held, extra));

    shutdown_and_join(&shutdown, workers);
    let rt = shutdown.stats();
    let echoed: u64 = rt.workers.iter().map(|w| w.net.bytes_sent_total).sum();
    assert_eq!(
        echoed,
        bytes_alone + bytes_attached,
        "bytes sent == bytes echoed"
    );
    drop((exporter, shutdown));
    // Scrape threads and inspect clients close as they finish: wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    let fds_after = loop {
        let now = open_fds();
        if now.len() == fds_before.len() {
            break now.len();
        }
        if Instant::now() > deadline {
            let gone: Vec<_> = fds_before
                .iter()
                .filter(|(k, _)| !now.contains_key(*k))
                .collect();
            let new: Vec<_> = now
                .iter()
                .filter(|(k, _)| !fds_before.contains_key(*k))
                .collect();
            panic!("descriptors leaked: new {new:?}, gone {gone:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let fds_before = fds_before.len();

    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    assert!(
        get(&w.snapshots) > 0 && get(&w.scrapes_ok) > 0,
        "no watcher got through"
    );
    let (p99_alone, p99_attached) = (percentile(&alone, 0.99), percentile(&attached, 0.99));
    eprintln!(
        "RELIABILITY load echo_clients={ECHO_CLIENTS} round_trips_alone={} round_trips_attached={} \
         p50_alone_us={} p50_attached_us={} p99_alone_us={} p99_attached_us={} p99_ratio={:.2} \
         pollers={POLLERS} snapshots={} poll_busy={} poll_closed={} scrapers={SCRAPERS} \
         scrapes_ok={} scrapes_503={} scrapes_closed={} busy_ms={:.2} fds_before={fds_before} \
         fds_after={fds_after} bytes_sent={} bytes_echoed={echoed} lost=0",
        alone.len(),
        attached.len(),
        percentile(&alone, 0.5).as_micros(),
        percentile(&attached, 0.5).as_micros(),
        p99_alone.as_micros(),
        p99_attached.as_micros(),
        p99_attached.as_secs_f64() / p99_alone.as_secs_f64(),
        get(&w.snapshots),
        get(&w.poll_busy),
        get(&w.poll_closed),
        get(&w.scrapes_ok),
        get(&w.scrapes_503),
        get(&w.scrapes_closed),
        refused_in.as_secs_f64() * 1e3,
        bytes_alone + bytes_attached,
    );
}
