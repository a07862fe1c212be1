//! An echo load generator on plain std sockets and libc: it shares no code
//! with any runtime under test (only the plain-data latency histogram of
//! `ringline::stats`).
//!
//! Two ways to offer load, chosen by [`Load::rate`]:
//!
//! - **closed loop** (`rate: None`, `closed.rs`): each client thread keeps
//!   exactly one message in flight on each of its connections (write to
//!   every connection, then read every echo back), so the offered
//!   concurrency is the connection count. Latency is write → echo.
//! - **open loop** (`rate: Some(r)`, `open.rs`): requests go out at `r` per
//!   second in total on a fixed schedule, whether or not earlier ones came
//!   back, and latency is measured from each request's *intended* send time
//!   (`schedule.rs`), so a server stall is charged to every request due
//!   during it (no coordinated omission).
//!
//! [`start_blocks`] runs the closed loop of `ringline-bench blocks`
//! instead (`blocks.rs`): 8-byte requests for random 4 KiB blocks.
//!
//! Each thread keeps its own histogram; [`Running::finish`] merges them.

pub mod blocks;
mod closed;
mod open;
pub mod schedule;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringline_schema::stats::Histogram;

/// What to offer.
#[derive(Debug, Clone)]
pub struct Load {
    /// Server address.
    pub addr: SocketAddr,
    /// Connections, spread over `threads`.
    pub connections: usize,
    /// Client threads (at most one per connection is used).
    pub threads: usize,
    /// Bytes per message (each way).
    pub message_size: usize,
    /// How long to measure (after a warm-up, see [`run`]).
    pub duration: Duration,
    /// CPUs to pin client threads to; empty leaves them to the scheduler.
    pub client_cpus: Vec<usize>,
    /// `None`: closed loop; `Some(r)`: open loop at `r` requests per second
    /// in total.
    pub rate: Option<f64>,
    /// How a closed-loop client waits for an echo.
    pub wait: Wait,
}

/// How a closed-loop client waits for an echo.
///
/// On loopback the sender's CPU runs the receiver's TCP input and wakes a
/// reader sleeping on it, so with blocking clients every echo sent to a
/// sleeping client bills a wake-up (≈ 10 % of a 64 B echo here) to the
/// *server*, in proportions that depend on timing rather than on the
/// server's own work. A spinning client is never asleep on its socket.
///
/// Blocking is the default: spinning clients on the one client CPU steal
/// time from each other, and in trials here they made throughput and the
/// ratios noisier without moving the ratios' medians beyond their spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Blocking reads and writes.
    #[default]
    Block,
    /// Non-blocking sockets, retried with `sched_yield` in between.
    Spin,
}

impl Wait {
    /// `block` or `spin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Block => "block",
            Wait::Spin => "spin",
        }
    }
}

/// What one run achieved in its measured window.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Round trips completed in the measured window.
    pub ops: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Round-trip latency of the ops counted (open loop: from the intended
    /// send time), merged over client threads.
    pub latency: Histogram,
    /// Exact largest latency (the histogram's buckets are up to 12.5 %
    /// wide).
    pub max_latency_ns: u64,
    /// Open loop: requests due in the window still unanswered when it
    /// closed (charged their latency so far).
    pub incomplete: u64,
    /// Open loop: requests due in the window.
    pub offered: u64,
    /// Open loop: how late the client noticed each due request (its own
    /// lag, which the latency includes).
    pub send_lag: Histogram,
}

impl Outcome {
    fn merge(&mut self, other: &Outcome) {
        self.ops += other.ops;
        self.latency.merge(&other.latency);
        self.max_latency_ns = self.max_latency_ns.max(other.max_latency_ns);
        self.incomplete += other.incomplete;
        self.offered += other.offered;
        self.send_lag.merge(&other.send_lag);
    }

    /// One completed, counted round trip of `ns`.
    fn record(&mut self, ns: u64) {
        self.ops += 1;
        self.record_latency(ns);
    }

    /// A latency sample without a completed op (a request still stuck
    /// when the window closed).
    fn record_latency(&mut self, ns: u64) {
        self.latency.record_n(ns, 1);
        self.max_latency_ns = self.max_latency_ns.max(ns);
    }
}

/// The flags a client thread watches.
#[derive(Debug, Default)]
struct Flags {
    /// Inside the measured window.
    counting: AtomicBool,
    /// Time to stop.
    stop: AtomicBool,
}

/// Load being offered: connections open, clients looping.
pub struct Running {
    flags: Arc<Flags>,
    handles: Vec<std::thread::JoinHandle<io::Result<Outcome>>>,
    started_counting: Option<Instant>,
    counted: Duration,
}

/// How many connections each of `threads` client threads gets.
fn split(connections: usize, threads: usize) -> Vec<usize> {
    let threads = threads.max(1).min(connections.max(1));
    (0..threads)
        .map(|t| connections / threads + usize::from(t < connections % threads))
        .collect()
}

/// Starts offering `load` to a server already listening.
pub fn start(load: &Load) -> Running {
    start_clients(load, Exchange::Echo)
}

/// Starts asking a `ringline-bench blocks` server already listening for
/// random blocks: closed loop, one request in flight per connection
/// (`load.rate` and `load.message_size` are not used; see
/// [`blocks::BlockRequests`]).
pub fn start_blocks(load: &Load, requests: blocks::BlockRequests) -> Running {
    start_clients(load, Exchange::Blocks(requests))
}

/// What the client threads send and expect back.
#[derive(Debug, Clone, Copy)]
enum Exchange {
    /// Messages of `load.message_size` bytes, echoed.
    Echo,
    /// Block requests, answered with blocks.
    Blocks(blocks::BlockRequests),
}

fn start_clients(load: &Load, exchange: Exchange) -> Running {
    let flags = Arc::new(Flags::default());
    let per_thread = split(load.connections, load.threads);
    let threads = per_thread.len();
    let handles = per_thread
        .into_iter()
        .enumerate()
        .map(|(thread, n)| {
            let load = load.clone();
            let flags = flags.clone();
            std::thread::spawn(move || -> io::Result<Outcome> {
                if !load.client_cpus.is_empty() {
                    super::cpu::pin_current_thread_to(&load.client_cpus);
                }
                match (exchange, load.rate) {
                    (Exchange::Echo, None) => closed::client(&load, n, &flags),
                    (Exchange::Echo, Some(rate)) => {
                        open::client(&load, n, rate / threads as f64, &flags)
                    }
                    (Exchange::Blocks(requests), _) => {
                        blocks::client(&load, n, requests.for_thread(thread), &flags)
                    }
                }
            })
        })
        .collect();
    Running {
        flags,
        handles,
        started_counting: None,
        counted: Duration::ZERO,
    }
}

impl Running {
    /// Starts the measured window.
    pub fn begin(&mut self) {
        self.started_counting = Some(Instant::now());
        self.flags.counting.store(true, Ordering::Relaxed);
    }

    /// Ends the measured window.
    pub fn end(&mut self) {
        self.flags.counting.store(false, Ordering::Relaxed);
        if let Some(t) = self.started_counting.take() {
            self.counted += t.elapsed();
        }
    }

    /// Stops the clients and returns what the measured window achieved.
    pub fn finish(self) -> io::Result<Outcome> {
        self.flags.stop.store(true, Ordering::Relaxed);
        let mut total = Outcome {
            elapsed: self.counted,
            ..Outcome::default()
        };
        for h in self.handles {
            let part = h
                .join()
                .map_err(|_| io::Error::other("client thread panicked"))??;
            total.merge(&part);
        }
        Ok(total)
    }
}

/// How long clients run before the measured window: connections set up,
/// caches, rings and pools warm.
pub const WARM_UP: Duration = Duration::from_millis(300);

/// Runs `load` against a server already listening; `measure` is called at
/// the start and end of the measured window (to sample server CPU).
pub fn run(load: &Load, mut measure: impl FnMut()) -> io::Result<Outcome> {
    let mut running = start(load);
    std::thread::sleep(WARM_UP);
    measure();
    running.begin();
    std::thread::sleep(load.duration);
    running.end();
    measure();
    running.finish()
}

/// `n` connections to `addr` with `TCP_NODELAY`.
fn connect(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            Ok(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_spread_evenly_and_threads_never_idle() {
        assert_eq!(split(128, 2), vec![64, 64]);
        assert_eq!(split(5, 2), vec![3, 2]);
        assert_eq!(split(1, 4), vec![1]);
        assert_eq!(split(16, 3).iter().sum::<usize>(), 16);
    }

    /// A thread-per-connection std echo server on a free port: no runtime.
    fn std_echo_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = io::Read::read(&mut stream, &mut buf) {
                        if io::Write::write_all(&mut stream, &buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn load(addr: SocketAddr, rate: Option<f64>, wait: Wait) -> Load {
        Load {
            addr,
            connections: 4,
            threads: 2,
            message_size: 100,
            duration: Duration::from_millis(400),
            client_cpus: Vec::new(),
            rate,
            wait,
        }
    }

    #[test]
    fn closed_loops_count_round_trips_with_their_latency() {
        let addr = std_echo_server();
        for wait in [Wait::Block, Wait::Spin] {
            let out = run(&load(addr, None, wait), || {}).expect("closed loop runs");
            assert!(out.ops > 100, "{wait:?}: only {} ops", out.ops);
            assert_eq!(out.latency.count, out.ops, "{wait:?}");
            assert!(out.max_latency_ns > 0 && out.offered == 0 && out.incomplete == 0);
            assert!(out.elapsed >= Duration::from_millis(400));
        }
    }

    #[test]
    fn the_open_loop_offers_its_rate_and_gets_it_back() {
        let addr = std_echo_server();
        let out = run(&load(addr, Some(2_000.0), Wait::Block), || {}).expect("open loop runs");
        // 2,000/s for 0.4 s: 800 due (the schedule is exact; the window's
        // edges are seen by the client threads a little late on a busy box).
        assert!(
            (700..=900).contains(&out.offered),
            "offered {}",
            out.offered
        );
        // Every request due in the window is either answered or charged.
        assert_eq!(out.ops + out.incomplete, out.offered, "{out:?}");
        assert_eq!(out.latency.count, out.offered);
        assert_eq!(out.send_lag.count, out.offered);
    }

    #[test]
    fn outcomes_merge_counts_histograms_and_max() {
        let mut a = Outcome::default();
        a.record(1_000);
        a.record(3_000);
        let mut b = Outcome::default();
        b.record(50_000);
        b.incomplete = 2;
        a.merge(&b);
        assert_eq!(a.ops, 3);
        assert_eq!(a.latency.count, 3);
        assert_eq!(a.max_latency_ns, 50_000);
        assert_eq!(a.incomplete, 2);
    }
}
