//! Running the plan: every cell's pairs, in order, with their skips.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use super::commands::command;
use super::files::{Files, warm};
use super::process::{Watched, launch_delays, run_side};
use super::report::{FsCell, FsComparison, FsPair, FsReport, FsRun, print_pair};
use super::{FsPlan, Io, PairMode, Programs, Side, Workload};
use crate::cpu;
use crate::matrix::size_label;

/// Why `side` cannot run in `io` mode with these programs, if it cannot.
pub fn skip_reason(side: Side, io: Io, fio_present: bool) -> Option<String> {
    match (side, io) {
        (Side::Fio, _) if !fio_present => {
            Some("fio: not installed (Debian package `fio`: apt-get install fio), skipped".into())
        }
        (Side::Tokio, Io::Direct) => Some(
            "tokio: tokio::fs::File reads into its own unaligned buffer, so no O_DIRECT; \
             see tokio-pread"
                .into(),
        ),
        _ => None,
    }
}

/// Runs `plan`, printing a line per pair and the verdict lines per cell,
/// appending each finished cell to `report` and calling `save`.
pub fn run(
    plan: &FsPlan,
    programs: &Programs,
    report: &mut FsReport,
    started: Instant,
    mut save: impl FnMut(&FsReport) -> io::Result<()>,
) -> io::Result<()> {
    let cpus = cpu::available_cpus();
    let (server_cpus, harness_cpus) = crate::echo::placement(1, cpus);
    if !harness_cpus.is_empty() {
        cpu::pin_current_thread_to(&harness_cpus);
    }
    eprintln!(
        "writing 3 × {} files in {}…",
        size_label(plan.size as usize),
        plan.dir.display()
    );
    let files = Files::create(&plan.dir, plan.size, plan.keep_files)?;
    let mut startup: HashMap<(Side, Workload, Io), f64> = HashMap::new();
    for &io in &plan.io {
        let mode = plan.mode.unwrap_or(PairMode::auto(io));
        for &workload in &plan.workloads {
            let bs = plan.block(workload);
            let mut label = format!("{} {}", size_label(bs), workload.as_str());
            if io == Io::Direct {
                label.push_str(" O_DIRECT");
            }
            let mut skipped = Vec::new();
            let opponents: Vec<Side> = plan
                .opponents
                .iter()
                .copied()
                .filter(|&s| match skip_reason(s, io, programs.fio.is_some()) {
                    Some(why) => {
                        println!("   skipping {why}");
                        skipped.push(why);
                        false
                    }
                    None => true,
                })
                .collect();
            println!(
                "\n== fs {label}: {} B blocks, QD {}, {} file, {} pairs × {} s, {} ({}); servers on CPUs {:?}",
                bs,
                plan.qd,
                size_label(plan.size as usize),
                plan.pairs,
                plan.secs,
                io.as_str(),
                mode.as_str(),
                server_cpus
            );
            if io == Io::Buffered && workload == Workload::RandRead {
                warm(&files.data)?;
            }
            let file_of = |slot: usize| match workload {
                Workload::RandRead => files.data.clone(),
                Workload::SeqWrite => files.writes[slot].clone(),
            };
            // Calibration: each side once, briefly, alone: warms binaries
            // and caches and measures how long each takes to start.
            let mut sides = vec![Side::Ringline];
            sides.extend(opponents.iter().copied().filter(|&s| s != Side::Ringline));
            for &side in &sides {
                if let Some(cmd) = command(plan, programs, side, workload, io, &file_of(0), 0.3) {
                    let w = run_side(&cmd, &server_cpus, Duration::ZERO, 0.3)?;
                    startup.insert((side, workload, io), w.startup_secs);
                }
            }
            let mut comparisons: Vec<FsComparison> = opponents
                .iter()
                .map(|o| FsComparison::new(o.as_str()))
                .collect();
            for pair in 0..plan.pairs {
                for (i, &other) in opponents.iter().enumerate() {
                    let subject_first = (pair + i) % 2 == 0;
                    let (first, second) = if subject_first {
                        (Side::Ringline, other)
                    } else {
                        (other, Side::Ringline)
                    };
                    let cmds = [
                        command(plan, programs, first, workload, io, &file_of(0), plan.secs),
                        command(plan, programs, second, workload, io, &file_of(1), plan.secs),
                    ];
                    let [Some(a), Some(b)] = cmds else {
                        continue;
                    };
                    let steal0 = cpu::steal_ticks()?;
                    let (ra, rb) = match mode {
                        PairMode::Alternating => (
                            run_side(&a, &server_cpus, Duration::ZERO, plan.secs)?,
                            run_side(&b, &server_cpus, Duration::ZERO, plan.secs)?,
                        ),
                        PairMode::Concurrent => {
                            let get =
                                |s: Side| startup.get(&(s, workload, io)).copied().unwrap_or(0.0);
                            let (da, db) = launch_delays(get(first), get(second));
                            let secs = plan.secs;
                            let cpus_a = server_cpus.clone();
                            let cpus_b = server_cpus.clone();
                            let ta = std::thread::spawn(move || run_side(&a, &cpus_a, da, secs));
                            let tb = std::thread::spawn(move || run_side(&b, &cpus_b, db, secs));
                            let ra = ta.join().map_err(|_| io::Error::other("side panicked"))?;
                            let rb = tb.join().map_err(|_| io::Error::other("side panicked"))?;
                            (ra?, rb?)
                        }
                    };
                    let steal1 = cpu::steal_ticks()?;
                    let steal_share =
                        (steal1.0 - steal0.0) as f64 / (steal1.1 - steal0.1).max(1) as f64;
                    for (side, w) in [(first, &ra), (second, &rb)] {
                        if w.startup_secs.is_finite() {
                            startup.insert((side, workload, io), w.startup_secs);
                        }
                    }
                    let to_run = |side: Side, w: Watched| {
                        FsRun::new(
                            side,
                            w.parsed,
                            w.cpu_secs,
                            w.lifetime_cpu_secs,
                            w.startup_secs,
                        )
                    };
                    let (r1, r2) = (to_run(first, ra), to_run(second, rb));
                    let (ours, theirs) = if subject_first { (r1, r2) } else { (r2, r1) };
                    let p = FsPair {
                        pair,
                        subject_first,
                        throughput_ratio: ours.iops / theirs.iops,
                        ops_per_core_sec_ratio: ours.ops_per_core_sec / theirs.ops_per_core_sec,
                        steal_share,
                        subject: ours,
                        other: theirs,
                    };
                    print_pair(&label, workload, &p);
                    comparisons[i].push(p);
                }
            }
            for c in &comparisons {
                for line in c.summary_lines(&label, workload.throughput_unit()) {
                    println!("{line}");
                }
            }
            report.cells.push(FsCell {
                label,
                workload: workload.as_str().into(),
                io: io.as_str().into(),
                mode: mode.as_str().into(),
                block_size: bs,
                queue_depth: plan.qd,
                file_size: plan.size,
                skipped,
                comparisons,
            });
            report.wall_secs = started.elapsed().as_secs_f64();
            save(report)?;
        }
    }
    Ok(())
}
