//! The servers' builds and command lines, and the pairs of a `blocks` run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use fs_common::blocks::BLOCK_SIZE;

use super::{BlockFile, BlocksCell, BlocksPlan, BlocksReport, BlocksServer, IoMode};
use crate::cpu;
use crate::echo::{measure_pair, placement};
use crate::loadgen::{self, Load, blocks::BlockRequests};
use crate::report::{Comparison, PairReport, RunReport, Spread};
use crate::server::{Server, build_standalone, build_workspace_bins};

/// Paths of the built servers.
#[derive(Debug, Default)]
pub struct Binaries {
    ringline: Option<PathBuf>,
    tokio: Option<PathBuf>,
    ringline_012: Option<PathBuf>,
}

impl Binaries {
    /// Builds what `servers` need (ringline's always: it is the subject).
    ///
    /// The workspace servers go to `target_root/fs`, beside `ringline-bench
    /// fs`'s programs: the same crates with the same features (ringline
    /// with `stats`, tokio with `fs`), so neither command rebuilds the
    /// runtime after the other. The 0.1.2 server shares
    /// `target_root/ringline-0.1.2` with the 0.1.2 echo server, which
    /// compiles the published crate once for both.
    pub fn build(
        servers: &[BlocksServer],
        repo_root: &Path,
        target_root: &Path,
    ) -> io::Result<Binaries> {
        let wants = |s: &[BlocksServer]| s.iter().any(|k| servers.contains(k));
        let mut workspace = vec![("blocks-ringline", "blocks-ringline")];
        if wants(&[BlocksServer::TokioFs, BlocksServer::TokioPread]) {
            workspace.push(("blocks-tokio", "blocks-tokio"));
        }
        let paths = build_workspace_bins(&workspace, &target_root.join("fs"))?;
        let mut bins = Binaries {
            ringline: paths.first().cloned(),
            tokio: paths.get(1).cloned(),
            ringline_012: None,
        };
        if wants(&[BlocksServer::Ringline012]) {
            bins.ringline_012 = Some(build_standalone(
                &repo_root.join("bench/ringline-0.1.2-blocks/Cargo.toml"),
                "ringline-012-blocks",
                &target_root.join("ringline-0.1.2"),
            )?);
        }
        Ok(bins)
    }

    /// How to start `kind` on `file` in mode `io`.
    fn launch(&self, kind: BlocksServer, file: &Path, io: IoMode) -> io::Result<Launch<'_>> {
        let mut args = vec!["--file".to_string(), file.display().to_string()];
        if io == IoMode::Direct {
            args.push("--direct".into());
        }
        let (path, env) = match kind {
            // Force io_uring: the default `Auto` could fall back to mio.
            BlocksServer::Ringline => (&self.ringline, vec![("RINGLINE_BACKEND", "io_uring")]),
            BlocksServer::RinglineMio => (&self.ringline, vec![("RINGLINE_BACKEND", "mio")]),
            BlocksServer::TokioFs | BlocksServer::TokioPread => {
                let api = if kind == BlocksServer::TokioFs {
                    "fs"
                } else {
                    "pread"
                };
                args.extend(["--api".to_string(), api.to_string()]);
                (&self.tokio, vec![])
            }
            BlocksServer::Ringline012 => (&self.ringline_012, vec![]),
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

/// Failed pairs after which a comparison is given up.
const MAX_FAILED_PAIRS: usize = 2;

/// Runs `plan` on `file`, printing a line per pair and the verdict lines
/// per cell, appending each finished cell to `report` (then calling
/// `save`, so an interrupted run keeps what it measured).
pub fn run(
    plan: &BlocksPlan,
    bins: &Binaries,
    file: &BlockFile,
    report: &mut BlocksReport,
    started: Instant,
    mut save: impl FnMut(&BlocksReport) -> io::Result<()>,
) -> io::Result<()> {
    let (server_cpus, client_cpus) = placement(1, cpu::available_cpus());
    for &io in &plan.io {
        let label = plan.label(io);
        let mut skipped = Vec::new();
        match io {
            IoMode::Cached => file.warm()?,
            IoMode::Direct => {
                if let Some(why) = super::direct_io_refusal(&file.path) {
                    let line = format!(
                        "O_DIRECT does not work on {} ({why}): the direct cell is skipped; \
                         pass --dir on a disk-backed filesystem",
                        file.path.display()
                    );
                    println!("\n== blocks {label}: {line}");
                    skipped.push(line);
                    report.cells.push(cell(
                        &label,
                        io,
                        plan,
                        &server_cpus,
                        &client_cpus,
                        skipped,
                        Vec::new(),
                    ));
                    save(report)?;
                    continue;
                }
            }
        }
        let opponents = plan.opponents_in(io);
        println!(
            "\n== blocks {label}: random {BLOCK_SIZE} B blocks of {} MiB, {} connections, 1 worker; servers on CPUs {server_cpus:?}, clients on {client_cpus:?}",
            file.len >> 20,
            plan.connections,
        );
        for o in &plan.opponents {
            if let Some(why) = o.skip_reason(io) {
                println!("   {o} skipped: {why}");
                skipped.push(format!("{o}: {why}"));
            }
        }
        let mut comparisons: Vec<Comparison> = opponents
            .iter()
            .map(|o| Comparison::new(BlocksServer::Ringline.as_str(), o.as_str()))
            .collect();
        // A pair that fails (a server that will not start, stalls, or
        // answers with the wrong block) is reported and left out; after
        // `MAX_FAILED_PAIRS` of them its comparison ends (a stall costs the
        // client's 10 s timeout each time), never the run.
        let mut failed = vec![0usize; opponents.len()];
        for pair in 0..plan.pairs {
            for (i, &other) in opponents.iter().enumerate() {
                if failed[i] == MAX_FAILED_PAIRS {
                    continue;
                }
                let subject_first = (pair + i) % 2 == 0;
                let kinds = if subject_first {
                    [BlocksServer::Ringline, other]
                } else {
                    [other, BlocksServer::Ringline]
                };
                let ((r1, r2), steal_share) =
                    match run_pair(bins, kinds, io, file, plan, &server_cpus, &client_cpus) {
                        Ok(done) => done,
                        Err(e) => {
                            failed[i] += 1;
                            let then = if failed[i] == MAX_FAILED_PAIRS {
                                "; its other pairs are skipped"
                            } else {
                                ""
                            };
                            let line = format!("{other}: pair {pair} failed ({e}){then}");
                            println!("{label} {line}");
                            skipped.push(line);
                            continue;
                        }
                    };
                let (ours, theirs) = if subject_first { (r1, r2) } else { (r2, r1) };
                let mut p = PairReport::new(pair, subject_first, ours, theirs);
                p.steal_share = steal_share;
                print_pair(&label, &p);
                comparisons[i].push(p);
            }
        }
        for c in &comparisons {
            println!("{}", c.summary_line_in("blocks", &label));
        }
        let steal: Vec<f64> = comparisons
            .iter()
            .flat_map(|c| c.pairs.iter().map(|p| p.steal_share * 100.0))
            .collect();
        if let Some(s) = Spread::of(&steal) {
            println!(
                "   (hypervisor steal during {label}: median {:.0}%, max {:.0}%)",
                s.median, s.max
            );
        }
        report.cells.push(cell(
            &label,
            io,
            plan,
            &server_cpus,
            &client_cpus,
            skipped,
            comparisons,
        ));
        report.wall_secs = started.elapsed().as_secs_f64();
        save(report)?;
    }
    Ok(())
}

fn cell(
    label: &str,
    io: IoMode,
    plan: &BlocksPlan,
    server_cpus: &[usize],
    client_cpus: &[usize],
    skipped: Vec<String>,
    comparisons: Vec<Comparison>,
) -> BlocksCell {
    BlocksCell {
        label: label.to_string(),
        io: io.as_str().to_string(),
        connections: plan.connections,
        server_cpus: server_cpus.to_vec(),
        client_cpus: client_cpus.to_vec(),
        skipped,
        comparisons,
    }
}

fn print_pair(label: &str, p: &PairReport) {
    let side = |r: &RunReport| {
        format!(
            "{:>8.0} ops/core-s {:>7.0} ops/s usr {:>3.0}% p50 {:>6.1} p99 {:>7.1} µs",
            r.ops_per_core_sec,
            r.ops_per_sec,
            r.user_share() * 100.0,
            r.latency_us.p50,
            r.latency_us.p99
        )
    };
    println!(
        "{label} pair {} vs {:<14} {} {} | {:<14} {} | ratio {:.3} (ops/s {:.3}) steal {:.0}%{}",
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

/// Runs both `kinds` at once (started in that order) on `file` and
/// measures each over the same window; reports in the same order, with
/// the machine's steal share over the window.
fn run_pair(
    bins: &Binaries,
    kinds: [BlocksServer; 2],
    io: IoMode,
    file: &BlockFile,
    plan: &BlocksPlan,
    server_cpus: &[usize],
    client_cpus: &[usize],
) -> io::Result<((RunReport, RunReport), f64)> {
    let mut servers = Vec::with_capacity(2);
    for kind in kinds {
        let launch = bins.launch(kind, &file.path, io)?;
        let server = Server::start_with_env(launch.program, &launch.args, &launch.env)
            .map_err(|e| io::Error::new(e.kind(), format!("starting {kind}: {e}")))?;
        if !server_cpus.is_empty() {
            cpu::pin_process_to(server.pid(), server_cpus);
        }
        servers.push(server);
    }
    let requests = BlockRequests {
        blocks: file.blocks(),
        seed: plan.seed,
    };
    let loads: Vec<loadgen::Running> = servers
        .iter()
        .map(|s| {
            loadgen::start_blocks(
                &Load {
                    addr: s.addr,
                    connections: plan.connections,
                    threads: plan.threads,
                    message_size: BLOCK_SIZE,
                    duration: plan.secs,
                    client_cpus: client_cpus.to_vec(),
                    rate: None,
                    wait: plan.wait,
                },
                requests,
            )
        })
        .collect();
    let names = [kinds[0].as_str(), kinds[1].as_str()];
    measure_pair(servers, loads, names, plan.secs, false)
}
