//! `ringline-bench echo`: ringline (or another `--baseline` subject)
//! against each other echo server, cell by cell, in concurrent pairs.
//!
//! A pair runs both servers *at the same time*, pinned to the same CPU(s),
//! each loaded by its own clients on the other CPU(s) and measured over the
//! same window, so steal and frequency changes hit both alike. Which server
//! starts first alternates. Within a cell the pairs are interleaved over
//! the opponents (pair 0 vs every opponent, then pair 1, …) so slow drift
//! of the machine spreads over all comparisons.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cpu;
use super::loadgen::{self, Load, Wait};
use super::matrix::{Cell, ServerKind};
use super::report::{CellReport, Comparison, EchoReport, PairReport, RunReport, ServerCpu};
use super::server::{Server, build_example, build_standalone, build_workspace_bins};

/// Paths of the built servers.
#[derive(Debug, Default)]
pub struct Binaries {
    ringline: Option<PathBuf>,
    tokio: Option<PathBuf>,
    raw_uring: Option<PathBuf>,
    ringline_012: Option<PathBuf>,
}

impl Binaries {
    /// Builds every server in `servers` (ringline's echo example with
    /// `features`), each kind into its own directory under `target_root`
    /// so that builds never evict each other or the running harness.
    pub fn build(
        servers: &[ServerKind],
        features: &[&str],
        repo_root: &Path,
        target_root: &Path,
    ) -> io::Result<Binaries> {
        let mut bins = Binaries::default();
        if servers.contains(&ServerKind::Ringline) || servers.contains(&ServerKind::RinglineMio) {
            bins.ringline = Some(build_example(
                "echo_server",
                features,
                &target_root.join("echo-ringline"),
            )?);
        }
        let mut workspace: Vec<(&str, &str)> = Vec::new();
        if servers.contains(&ServerKind::Tokio) || servers.contains(&ServerKind::TokioMt) {
            workspace.push(("tokio-echo", "tokio-echo"));
        }
        if servers.contains(&ServerKind::RawUring) {
            workspace.push(("raw-uring-echo", "raw-uring-echo"));
        }
        if !workspace.is_empty() {
            let paths = build_workspace_bins(&workspace, &target_root.join("echo-servers"))?;
            for ((package, _), path) in workspace.iter().zip(paths) {
                match *package {
                    "tokio-echo" => bins.tokio = Some(path),
                    _ => bins.raw_uring = Some(path),
                }
            }
        }
        if servers.contains(&ServerKind::Ringline012) {
            bins.ringline_012 = Some(build_standalone(
                &repo_root.join("bench/ringline-0.1.2-echo/Cargo.toml"),
                "ringline-012-echo",
                &target_root.join("ringline-0.1.2"),
            )?);
        }
        Ok(bins)
    }

    /// How to start `kind` with `workers` workers.
    fn command(&self, kind: ServerKind, workers: usize) -> io::Result<Launch<'_>> {
        let workers = vec!["--workers".to_string(), workers.to_string()];
        let flavor = |f: &str| {
            let mut args = vec!["--flavor".to_string(), f.to_string()];
            args.extend(workers.iter().cloned());
            args
        };
        let (path, args, env) = match kind {
            // Force io_uring: the default `Auto` could fall back to mio.
            ServerKind::Ringline => (
                &self.ringline,
                workers.clone(),
                vec![("RINGLINE_BACKEND", "io_uring")],
            ),
            ServerKind::RinglineMio => (
                &self.ringline,
                workers.clone(),
                vec![("RINGLINE_BACKEND", "mio")],
            ),
            ServerKind::Tokio => (&self.tokio, flavor("current-thread"), vec![]),
            ServerKind::TokioMt => (&self.tokio, flavor("multi-thread"), vec![]),
            ServerKind::Ringline012 => (&self.ringline_012, workers.clone(), vec![]),
            ServerKind::RawUring => (&self.raw_uring, workers.clone(), vec![]),
        };
        let program = path
            .as_deref()
            .ok_or_else(|| io::Error::other(format!("{kind} was not built")))?;
        Ok(Launch { program, args, env })
    }
}

/// A server's command line (the address is appended by `Server::start`)
/// and extra environment.
struct Launch<'a> {
    program: &'a Path,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

/// Where the servers and the clients of a cell run: with fewer workers
/// than CPUs, servers on the last `workers` CPUs and clients on the rest
/// (disjoint); otherwise nobody is pinned (2 workers on this 2-vCPU
/// machine share both CPUs with the clients).
pub fn placement(workers: usize, cpus: usize) -> (Vec<usize>, Vec<usize>) {
    if workers < cpus {
        (
            (cpus - workers..cpus).collect(),
            (0..cpus - workers).collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    }
}

/// What `echo` runs.
#[derive(Debug, Clone)]
pub struct EchoPlan {
    /// The server compared with each cell's opponents (ringline unless
    /// the command line says otherwise).
    pub subject: ServerKind,
    /// The cells, in order.
    pub cells: Vec<Cell>,
    /// Pairs per comparison.
    pub pairs: usize,
    /// Measured window per pair.
    pub secs: Duration,
    /// Client threads per server.
    pub threads: usize,
    /// Open loop at this many requests/s per server; `None`: closed loop.
    pub rate: Option<f64>,
    /// How closed-loop clients wait for echoes.
    pub wait: Wait,
}

impl EchoPlan {
    /// Pair runs in the whole plan.
    pub fn runs(&self) -> usize {
        self.cells.iter().map(|c| c.opponents.len()).sum::<usize>() * self.pairs
    }

    /// A rough duration: window, warm-up and about 0.6 s of start/stop per
    /// run (ringline 0.1.2 takes about a second to start).
    pub fn estimate(&self) -> Duration {
        let per_run = self.secs + loadgen::WARM_UP + Duration::from_millis(600);
        per_run * self.runs() as u32
    }
}

/// Runs `plan`, printing a line per pair and the verdict lines per cell,
/// and appending each finished cell to `report` (then calling `save`, so
/// an interrupted run keeps what it measured).
pub fn run(
    plan: &EchoPlan,
    bins: &Binaries,
    report: &mut EchoReport,
    started: Instant,
    mut save: impl FnMut(&EchoReport) -> io::Result<()>,
) -> io::Result<()> {
    let cpus = cpu::available_cpus();
    for cell in &plan.cells {
        let (server_cpus, client_cpus) = placement(cell.workers, cpus);
        println!(
            "\n== echo {}: {} B messages, {} connections, {} worker(s); servers on CPUs {:?}, clients on {:?}",
            cell.label(),
            cell.message_size,
            cell.connections,
            cell.workers,
            server_cpus,
            client_cpus
        );
        let mut comparisons: Vec<Comparison> = cell
            .opponents
            .iter()
            .map(|o| Comparison::new(plan.subject.as_str(), o.as_str()))
            .collect();
        for pair in 0..plan.pairs {
            for (i, &other) in cell.opponents.iter().enumerate() {
                let subject_first = (pair + i) % 2 == 0;
                let (first, second) = if subject_first {
                    (plan.subject, other)
                } else {
                    (other, plan.subject)
                };
                let ((r1, r2), steal_share) = run_pair(
                    bins,
                    [first, second],
                    cell,
                    plan,
                    &server_cpus,
                    &client_cpus,
                )?;
                let (ours, theirs) = if subject_first { (r1, r2) } else { (r2, r1) };
                let mut p = PairReport::new(pair, subject_first, ours, theirs);
                p.steal_share = steal_share;
                print_pair(cell, &p);
                comparisons[i].push(p);
            }
        }
        for c in &comparisons {
            println!("{}", c.summary_line(&cell.label()));
        }
        let steal: Vec<f64> = comparisons
            .iter()
            .flat_map(|c| c.pairs.iter().map(|p| p.steal_share * 100.0))
            .collect();
        if let Some(s) = super::report::Spread::of(&steal) {
            println!(
                "   (hypervisor steal during {}: median {:.0}%, max {:.0}%)",
                cell.label(),
                s.median,
                s.max
            );
        }
        report.cells.push(CellReport {
            label: cell.label(),
            message_size: cell.message_size,
            connections: cell.connections,
            workers: cell.workers,
            server_cpus,
            client_cpus,
            comparisons,
        });
        report.wall_secs = started.elapsed().as_secs_f64();
        save(report)?;
    }
    Ok(())
}

fn print_pair(cell: &Cell, p: &PairReport) {
    let side = |r: &RunReport| {
        format!(
            "{:>9.0} ops/core-s {:>8.0} ops/s usr {:>3.0}% p50 {:>6.1} p99 {:>7.1} µs",
            r.ops_per_core_sec,
            r.ops_per_sec,
            r.user_share() * 100.0,
            r.latency_us.p50,
            r.latency_us.p99
        )
    };
    println!(
        "{} pair {} vs {:<14} {} {} | {:<14} {} | ratio {:.3} (ops/s {:.3}) steal {:.0}%{}",
        cell.label(),
        p.pair,
        p.other.server,
        p.subject.server,
        side(&p.subject),
        p.other.server,
        side(&p.other),
        p.ratio,
        p.ops_per_sec_ratio,
        p.steal_share * 100.0,
        if p.subject_first {
            ""
        } else {
            " [other first]"
        }
    );
    let _ = io::stdout().flush();
}

/// CPU counters of a server at one instant.
pub(crate) struct CpuSample {
    total: Duration,
    user_system: (Duration, Duration),
}

pub(crate) fn sample(server: &Server) -> io::Result<CpuSample> {
    Ok(CpuSample {
        total: cpu::process_cpu(server.pid())?,
        user_system: cpu::user_system(server.pid())?,
    })
}

pub(crate) fn used(before: &CpuSample, after: &CpuSample) -> ServerCpu {
    ServerCpu {
        total: after.total.saturating_sub(before.total),
        user: after.user_system.0.saturating_sub(before.user_system.0),
        system: after.user_system.1.saturating_sub(before.user_system.1),
    }
}

/// Runs both `kinds` at once (started in that order) and measures each
/// over the same window; reports in the same order, with the machine's
/// steal share over the window.
fn run_pair(
    bins: &Binaries,
    kinds: [ServerKind; 2],
    cell: &Cell,
    plan: &EchoPlan,
    server_cpus: &[usize],
    client_cpus: &[usize],
) -> io::Result<((RunReport, RunReport), f64)> {
    let mut servers = Vec::with_capacity(2);
    for kind in kinds {
        let launch = bins.command(kind, cell.workers)?;
        let server = Server::start_with_env(launch.program, &launch.args, &launch.env)
            .map_err(|e| io::Error::new(e.kind(), format!("starting {kind}: {e}")))?;
        if !server_cpus.is_empty() {
            cpu::pin_process_to(server.pid(), server_cpus);
        }
        servers.push(server);
    }
    let loads: Vec<loadgen::Running> = servers
        .iter()
        .map(|s| {
            loadgen::start(&Load {
                addr: s.addr,
                connections: cell.connections,
                threads: plan.threads,
                message_size: cell.message_size,
                duration: plan.secs,
                client_cpus: client_cpus.to_vec(),
                rate: plan.rate,
                wait: plan.wait,
            })
        })
        .collect();
    let names = [kinds[0].as_str(), kinds[1].as_str()];
    measure_pair(servers, loads, names, plan.secs, plan.rate.is_some())
}

/// The measured window of a concurrent pair: after the warm-up, both
/// servers' CPU and the machine's steal are sampled around `secs` of load;
/// then the loads finish and the servers stop. Reports in `names` order,
/// with the steal share over the window (`open`: open-loop loads).
pub(crate) fn measure_pair(
    mut servers: Vec<Server>,
    mut loads: Vec<loadgen::Running>,
    names: [&str; 2],
    secs: Duration,
    open: bool,
) -> io::Result<((RunReport, RunReport), f64)> {
    std::thread::sleep(loadgen::WARM_UP);
    let steal_before = cpu::steal_ticks()?;
    let before = [sample(&servers[0])?, sample(&servers[1])?];
    loads.iter_mut().for_each(loadgen::Running::begin);
    std::thread::sleep(secs);
    loads.iter_mut().for_each(loadgen::Running::end);
    let after = [sample(&servers[0])?, sample(&servers[1])?];
    let steal_after = cpu::steal_ticks()?;
    let steal_share =
        (steal_after.0 - steal_before.0) as f64 / (steal_after.1 - steal_before.1).max(1) as f64;
    let mut outcomes = Vec::with_capacity(2);
    for (load, kind) in loads.into_iter().zip(names) {
        outcomes.push(
            load.finish()
                .map_err(|e| io::Error::new(e.kind(), format!("load on {kind}: {e}")))?,
        );
    }
    servers.iter_mut().for_each(Server::signal_stop);
    servers.iter_mut().for_each(Server::stop);
    let report =
        |i: usize| RunReport::new(names[i], &outcomes[i], used(&before[i], &after[i]), open);
    Ok(((report(0), report(1)), steal_share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_keeps_servers_and_clients_apart_when_it_can() {
        assert_eq!(placement(1, 2), (vec![1], vec![0]));
        assert_eq!(placement(1, 4), (vec![3], vec![0, 1, 2]));
        assert_eq!(placement(2, 4), (vec![2, 3], vec![0, 1]));
        assert_eq!(placement(2, 2), (vec![], vec![]));
        assert_eq!(placement(1, 1), (vec![], vec![]));
    }

    #[test]
    fn the_estimate_counts_every_pair_run() {
        let cell = |n| Cell {
            message_size: 64,
            connections: 1,
            workers: 1,
            opponents: vec![ServerKind::Tokio; n],
        };
        let plan = EchoPlan {
            subject: ServerKind::Ringline,
            cells: vec![cell(3), cell(4)],
            pairs: 5,
            secs: Duration::from_secs(3),
            threads: 2,
            rate: None,
            wait: Wait::Spin,
        };
        assert_eq!(plan.runs(), 35);
        assert_eq!(plan.estimate(), Duration::from_millis(35 * 3900));
    }
}
