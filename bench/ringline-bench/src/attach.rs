//! `ringline-bench attach-overhead`: what watching a ringline process
//! costs it. Two identical ringline echo servers (one build, `stats` and
//! `inspect` on: both run the inspect server thread) run at once on the
//! same CPU, each loaded by its own clients on the other CPU and measured
//! over the same window (the echo benchmark's concurrent pairs); one of
//! them is watched at 10 Hz by
//!
//! - `inspector`: an inspect client doing what `ringline-top --interval
//!   100` does (`hello`, then `subscribe` at 100 ms, reading every
//!   snapshot), from the harness on the client CPU; or
//! - `exporter`: the sidecar `ringline-exporter --pid PID --interval 100`
//!   (a separate process on the client CPU), scraped at 10 Hz.
//!
//! The snapshots are built and serialised by the inspect thread inside the
//! watched server, so their cost is in its CPU time: the overhead is
//! `1 − (ops per server-core-second watched ÷ unwatched)`. `none` (the A/A
//! control) watches neither and shows the method's own bias and noise.
//! Which server (first or second started) is watched alternates by pair.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cpu;
use super::loadgen::{self, Load, Wait};
use super::report::{Machine, RunReport, ServerCpu, Spread};
use super::server::Server;

/// Who watches the watched server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watcher {
    /// Nobody: the A/A control.
    None,
    /// An inspect client subscribed at the interval.
    Inspector,
    /// The sidecar exporter, scraped at the interval.
    Exporter,
}

impl Watcher {
    /// Name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Watcher::None => "none",
            Watcher::Inspector => "inspector",
            Watcher::Exporter => "exporter",
        }
    }

    /// Parses a watcher's name.
    pub fn parse(text: &str) -> Result<Watcher, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "inspector" | "inspect" | "ringline-top" | "top" => Ok(Watcher::Inspector),
            "exporter" | "ringline-exporter" => Ok(Watcher::Exporter),
            "none" | "control" => Ok(Watcher::None),
            other => Err(format!(
                "unknown watcher {other:?}: expected inspector, exporter, none"
            )),
        }
    }

    /// The verdict line: `inspector attached at 10 Hz overhead: 0.4%
    /// (median of 6 pairs; spread -0.3% .. 1.1%)`.
    pub fn verdict(self, hz: &str, overheads: &[f64]) -> String {
        let what = match self {
            Watcher::None => "A/A control (nobody attached)".to_string(),
            w => format!("{} attached at {hz} overhead", w.as_str()),
        };
        match Spread::of(overheads) {
            Some(s) => format!(
                "{what}: {:.1}% (median of {} pairs; spread {:.1}% .. {:.1}%)",
                s.median, s.n, s.min, s.max
            ),
            None => format!("{what}: no valid pairs"),
        }
    }
}

/// `10 Hz` for 100 ms, `2.5 Hz` for 400 ms.
pub fn hz_label(interval: Duration) -> String {
    let hz = 1.0 / interval.as_secs_f64().max(1e-9);
    if (hz - hz.round()).abs() < 1e-6 {
        format!("{hz:.0} Hz")
    } else {
        format!("{hz:.1} Hz")
    }
}

/// What `attach-overhead` runs.
#[derive(Debug, Clone)]
pub struct AttachPlan {
    /// The ringline echo server (`stats` + `inspect`).
    pub server: PathBuf,
    /// The sidecar, when an exporter comparison is planned.
    pub exporter: Option<PathBuf>,
    /// Comparisons, in order (`None` = A/A control).
    pub watchers: Vec<Watcher>,
    /// Pairs per comparison.
    pub pairs: usize,
    /// Measured window.
    pub secs: Duration,
    /// Connections per server.
    pub connections: usize,
    /// Client threads per server.
    pub threads: usize,
    /// Bytes per message.
    pub message_size: usize,
    /// Snapshot and scrape interval.
    pub interval: Duration,
}

impl AttachPlan {
    /// A rough duration: window, warm-up, attach and start/stop per pair.
    pub fn estimate(&self) -> Duration {
        let per = self.secs + loadgen::WARM_UP + Duration::from_millis(900);
        per * (self.pairs * self.watchers.len()) as u32
    }
}

/// One pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachPair {
    /// Pair number.
    pub pair: usize,
    /// Whether the watched server was the first started.
    pub watched_first: bool,
    /// watched ÷ unwatched, ops per server-core-second.
    pub ratio: f64,
    /// `(1 − ratio) × 100`.
    pub overhead_pct: f64,
    /// Hypervisor steal over the window.
    pub steal_share: f64,
    /// Snapshots the watcher received (inspector) or scrapes answered
    /// (exporter) during the window.
    pub watcher_events: u64,
    /// The exporter process's CPU over the window (not server CPU).
    pub exporter_cpu_secs: Option<f64>,
    /// The watched server.
    pub watched: RunReport,
    /// The other one.
    pub unwatched: RunReport,
}

/// One watcher's pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachComparison {
    /// `inspector`, `exporter`, `none`.
    pub watcher: String,
    /// Overheads in percent.
    pub overhead_pct: Option<Spread>,
    /// Every pair, in run order.
    pub pairs: Vec<AttachPair>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachReport {
    /// Always `attach-overhead`.
    pub benchmark: &'static str,
    /// Layout version.
    pub version: u32,
    /// Where.
    pub machine: Machine,
    /// Interval of snapshots and scrapes, ms.
    pub interval_ms: u64,
    /// Connections per server.
    pub connections: usize,
    /// Bytes per message.
    pub message_size: usize,
    /// Measured seconds per pair.
    pub secs: f64,
    /// Wall time.
    pub wall_secs: f64,
    /// One per watcher.
    pub comparisons: Vec<AttachComparison>,
}

/// A watcher attached to one server; stops on drop.
struct Attached {
    stop: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    exporter: Option<Child>,
}

impl Attached {
    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    fn exporter_pid(&self) -> Option<u32> {
        self.exporter.as_ref().map(Child::id)
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut child) = self.exporter.take() {
            // SAFETY: plain syscall on our own, not yet reaped, child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Attaches `watcher` to process `pid`, with its threads (and the
/// exporter process) on `cpus`; returns once the first snapshot (or the
/// first scrape naming `pid`) came back.
fn attach(
    watcher: Watcher,
    pid: u32,
    interval: Duration,
    exporter: Option<&Path>,
    cpus: &[usize],
) -> io::Result<Option<Attached>> {
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    match watcher {
        Watcher::None => Ok(None),
        Watcher::Inspector => {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
            let (stop2, events2, cpus) = (stop.clone(), events.clone(), cpus.to_vec());
            let thread = std::thread::spawn(move || {
                if !cpus.is_empty() {
                    cpu::pin_current_thread_to(&cpus);
                }
                let mut sub = match subscribe(pid, interval) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut first = true;
                while !stop2.load(Ordering::Relaxed) {
                    match sub.next_snapshot() {
                        Ok(snapshot) => {
                            std::hint::black_box(&snapshot);
                            events2.fetch_add(1, Ordering::Relaxed);
                            if first {
                                first = false;
                                let _ = ready_tx.send(Ok(()));
                            }
                        }
                        Err(e) => {
                            if first {
                                let _ = ready_tx.send(Err(e));
                            }
                            return;
                        }
                    }
                }
            });
            let ready = ready_rx
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| io::Error::other("the inspect client got no snapshot in 10 s"))?;
            ready.map_err(|e| io::Error::new(e.kind(), format!("inspect client: {e}")))?;
            Ok(Some(Attached {
                stop,
                events,
                thread: Some(thread),
                exporter: None,
            }))
        }
        Watcher::Exporter => {
            let program = exporter.ok_or_else(|| io::Error::other("the exporter was not built"))?;
            let mut child = Command::new(program)
                .args(["--pid", &pid.to_string()])
                .args(["--interval", &interval.as_millis().to_string()])
                .args(["--listen", "127.0.0.1:0"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("starting the exporter: {e}")))?;
            if !cpus.is_empty() {
                cpu::pin_process_to(child.id(), cpus);
            }
            let mut line = String::new();
            let stdout = child.stdout.take().expect("piped");
            BufReader::new(stdout).read_line(&mut line)?;
            let Some(addr) = exporter_addr(&line) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "unexpected first line from the exporter: {line:?}"
                )));
            };
            let mut attached = Attached {
                stop: stop.clone(),
                events: events.clone(),
                thread: None,
                exporter: Some(child),
            };
            // Wait until its scrape shows the server's series.
            let needle = format!("pid=\"{pid}\"");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if scrape(&addr).is_ok_and(|body| body.contains(&needle)) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(
                        "the exporter did not serve the server's metrics within 10 s",
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let (stop2, events2, cpus) = (stop, events, cpus.to_vec());
            attached.thread = Some(std::thread::spawn(move || {
                if !cpus.is_empty() {
                    cpu::pin_current_thread_to(&cpus);
                }
                let mut next = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    if scrape(&addr).is_ok() {
                        events2.fetch_add(1, Ordering::Relaxed);
                    }
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    } else {
                        next = Instant::now();
                    }
                }
            }));
            Ok(Some(attached))
        }
    }
}

/// `hello`, then `subscribe` (retrying the connect while the server's
/// inspect socket comes up).
fn subscribe(pid: u32, interval: Duration) -> io::Result<ringline_schema::inspect::Subscription> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ringline_schema::inspect::Client::connect(pid) {
            Ok(mut c) => {
                c.hello()?;
                return c.subscribe(interval);
            }
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `127.0.0.1:PORT` from `ringline-exporter: serving http://127.0.0.1:PORT/metrics`.
pub fn exporter_addr(line: &str) -> Option<String> {
    let url = line.split_whitespace().find(|w| w.starts_with("http://"))?;
    let rest = url.strip_prefix("http://")?;
    Some(rest.split('/').next()?.to_string()).filter(|a| !a.is_empty())
}

/// One `GET /metrics`: the body.
fn scrape(addr: &str) -> io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    if !text.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!(
            "scrape: {}",
            text.lines().next().unwrap_or("")
        )));
    }
    Ok(text)
}

struct CpuSample {
    total: Duration,
    user_system: (Duration, Duration),
}

fn sample(pid: u32) -> io::Result<CpuSample> {
    Ok(CpuSample {
        total: cpu::process_cpu(pid)?,
        user_system: cpu::user_system(pid)?,
    })
}

fn used(before: &CpuSample, after: &CpuSample) -> ServerCpu {
    ServerCpu {
        total: after.total.saturating_sub(before.total),
        user: after.user_system.0.saturating_sub(before.user_system.0),
        system: after.user_system.1.saturating_sub(before.user_system.1),
    }
}

/// One concurrent pair: two servers, the first or second one watched.
fn run_pair(
    plan: &AttachPlan,
    watcher: Watcher,
    pair: usize,
    watched_first: bool,
) -> io::Result<AttachPair> {
    let (server_cpus, client_cpus) = super::echo::placement(1, cpu::available_cpus());
    let args = ["--workers".to_string(), "1".to_string()];
    let env = [("RINGLINE_BACKEND", "io_uring")];
    let mut servers = Vec::with_capacity(2);
    for _ in 0..2 {
        let s = Server::start_with_env(&plan.server, &args, &env)?;
        if !server_cpus.is_empty() {
            // The inspect thread starts with the runtime, so it is pinned too.
            cpu::pin_process_to(s.pid(), &server_cpus);
        }
        servers.push(s);
    }
    let watched = if watched_first { 0 } else { 1 };
    let attached = attach(
        watcher,
        servers[watched].pid(),
        plan.interval,
        plan.exporter.as_deref(),
        &client_cpus,
    )?;
    let mut loads: Vec<loadgen::Running> = servers
        .iter()
        .map(|s| {
            loadgen::start(&Load {
                addr: s.addr,
                connections: plan.connections,
                threads: plan.threads,
                message_size: plan.message_size,
                duration: plan.secs,
                client_cpus: client_cpus.clone(),
                rate: None,
                wait: Wait::Block,
            })
        })
        .collect();
    std::thread::sleep(loadgen::WARM_UP);
    let steal0 = cpu::steal_ticks()?;
    let events0 = attached.as_ref().map_or(0, Attached::events);
    let exporter_pid = attached.as_ref().and_then(Attached::exporter_pid);
    let exp0 = exporter_pid.and_then(|p| cpu::process_cpu(p).ok());
    let before = [sample(servers[0].pid())?, sample(servers[1].pid())?];
    loads.iter_mut().for_each(loadgen::Running::begin);
    std::thread::sleep(plan.secs);
    loads.iter_mut().for_each(loadgen::Running::end);
    let after = [sample(servers[0].pid())?, sample(servers[1].pid())?];
    let exp1 = exporter_pid.and_then(|p| cpu::process_cpu(p).ok());
    let events1 = attached.as_ref().map_or(0, Attached::events);
    let steal1 = cpu::steal_ticks()?;
    let mut outcomes = Vec::with_capacity(2);
    for load in loads {
        outcomes.push(load.finish()?);
    }
    drop(attached);
    servers.iter_mut().for_each(Server::signal_stop);
    servers.iter_mut().for_each(Server::stop);
    let run = |i: usize, name: &str| {
        RunReport::new(name, &outcomes[i], used(&before[i], &after[i]), false)
    };
    let w = run(watched, "watched");
    let u = run(1 - watched, "unwatched");
    let ratio = w.ops_per_core_sec / u.ops_per_core_sec;
    Ok(AttachPair {
        pair,
        watched_first,
        ratio,
        overhead_pct: (1.0 - ratio) * 100.0,
        steal_share: (steal1.0 - steal0.0) as f64 / (steal1.1 - steal0.1).max(1) as f64,
        watcher_events: events1 - events0,
        exporter_cpu_secs: match (exp0, exp1) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
            _ => None,
        },
        watched: w,
        unwatched: u,
    })
}

/// Runs `plan`: pairs interleaved over the watchers, a line per pair, the
/// verdict line per watcher; returns the comparisons.
pub fn run(plan: &AttachPlan) -> io::Result<Vec<AttachComparison>> {
    let hz = hz_label(plan.interval);
    let mut comparisons: Vec<AttachComparison> = plan
        .watchers
        .iter()
        .map(|w| AttachComparison {
            watcher: w.as_str().into(),
            overhead_pct: None,
            pairs: Vec::new(),
        })
        .collect();
    println!(
        "pair  watcher     order      watched ops/core-s  unwatched ops/core-s  watched ops/s  usr    events  exporter CPU  overhead  steal"
    );
    for pair in 0..plan.pairs {
        for (i, &watcher) in plan.watchers.iter().enumerate() {
            let watched_first = (pair + i) % 2 == 0;
            let p = run_pair(plan, watcher, pair, watched_first)?;
            println!(
                "{pair:>4}  {:<10}  {:<9}  {:>19.0}  {:>20.0}  {:>13.0}  {:>3.0}%  {:>6}  {:>12}  {:>7.2}%  {:>4.0}%",
                watcher.as_str(),
                if watched_first {
                    "watched,o"
                } else {
                    "o,watched"
                },
                p.watched.ops_per_core_sec,
                p.unwatched.ops_per_core_sec,
                p.watched.ops_per_sec,
                p.watched.user_share() * 100.0,
                p.watcher_events,
                p.exporter_cpu_secs
                    .map_or("–".to_string(), |c| format!("{:.3} s", c)),
                p.overhead_pct,
                p.steal_share * 100.0
            );
            let _ = io::stdout().flush();
            let c = &mut comparisons[i];
            c.pairs.push(p);
            let o: Vec<f64> = c.pairs.iter().map(|p| p.overhead_pct).collect();
            c.overhead_pct = Spread::of(&o);
        }
    }
    println!();
    for (c, &w) in comparisons.iter().zip(&plan.watchers) {
        let o: Vec<f64> = c.pairs.iter().map(|p| p.overhead_pct).collect();
        println!("{}", w.verdict(&hz, &o));
    }
    Ok(comparisons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines_and_labels() {
        assert_eq!(hz_label(Duration::from_millis(100)), "10 Hz");
        assert_eq!(hz_label(Duration::from_millis(400)), "2.5 Hz");
        assert_eq!(
            Watcher::Inspector.verdict("10 Hz", &[0.5, -0.25, 1.25, 0.75, 0.0]),
            "inspector attached at 10 Hz overhead: 0.5% (median of 5 pairs; spread -0.2% .. 1.2%)"
        );
        assert_eq!(
            Watcher::Exporter.verdict("10 Hz", &[]),
            "exporter attached at 10 Hz overhead: no valid pairs"
        );
        assert!(
            Watcher::None
                .verdict("10 Hz", &[0.1])
                .starts_with("A/A control (nobody attached): 0.1%")
        );
        assert_eq!(Watcher::parse("ringline-top"), Ok(Watcher::Inspector));
        assert_eq!(Watcher::parse("control"), Ok(Watcher::None));
        assert!(Watcher::parse("prometheus").is_err());
    }

    #[test]
    fn the_exporters_address_comes_from_its_first_line() {
        assert_eq!(
            exporter_addr("ringline-exporter: serving http://127.0.0.1:40123/metrics\n"),
            Some("127.0.0.1:40123".to_string())
        );
        assert_eq!(exporter_addr("something else"), None);
    }

    #[test]
    fn the_estimate_counts_every_pair() {
        let plan = AttachPlan {
            server: PathBuf::new(),
            exporter: None,
            watchers: vec![Watcher::Inspector, Watcher::Exporter, Watcher::None],
            pairs: 6,
            secs: Duration::from_secs(3),
            connections: 16,
            threads: 2,
            message_size: 64,
            interval: Duration::from_millis(100),
        };
        assert_eq!(plan.estimate(), Duration::from_millis(18 * 4200));
    }
}
