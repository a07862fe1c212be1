//! `ringline-bench fs`: ringline fs against fio and tokio::fs.

use std::io;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use ringline_bench::report::Machine;
use ringline_bench::server::build_workspace_bins;
use ringline_bench::{cpu, fs, matrix};

use crate::{bad_arg, target_dir, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct FsArgs {
    /// Directory for the files; disk-backed, not tmpfs (default: the temp
    /// dir, or /var/tmp when the temp dir is tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of each file (`256m`, `1g`…).
    #[arg(long, default_value = "256m", value_parser = parse_file_size)]
    size: u64,
    /// Block of the random reads.
    #[arg(long, default_value = "4k", value_parser = matrix::parse_size)]
    read_bs: usize,
    /// Block of the sequential writes.
    #[arg(long, default_value = "1m", value_parser = matrix::parse_size)]
    write_bs: usize,
    /// Operations in flight on every side.
    #[arg(long, default_value_t = 32)]
    qd: usize,
    /// Seconds of I/O per run.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Pairs per comparison.
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    /// Workloads: randread, seqwrite.
    #[arg(long, default_value = "randread,seqwrite")]
    workloads: String,
    /// I/O modes: buffered (page-cached file: what each side costs),
    /// direct (O_DIRECT: the device).
    #[arg(long, default_value = "buffered")]
    io: String,
    /// What ringline is compared with: ringline-mio (the mio backend),
    /// fio, tokio (tokio::fs), tokio-pread (spawn_blocking pread);
    /// `ringline` adds an A/A control.
    #[arg(long, default_value = "ringline-mio,fio,tokio,tokio-pread")]
    against: String,
    /// ringline's fs calls: owned (read_into/write_from) or raw (the
    /// unsafe pointer calls).
    #[arg(long, default_value = "owned", value_parser = ["owned", "raw"])]
    ringline_api: String,
    /// Run fio with its defaults instead of tuned to its fastest
    /// (gtod_reduce, batched submit and reap).
    #[arg(long)]
    fio_defaults: bool,
    /// concurrent (both at once, same CPU), alternating, or auto
    /// (concurrent when buffered, alternating with O_DIRECT).
    #[arg(long, default_value = "auto", value_parser = ["auto", "concurrent", "alternating"])]
    mode: String,
    /// Keep the files afterwards.
    #[arg(long)]
    keep_files: bool,
    /// Write every result as JSON here (rewritten after each cell).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `256m`, `1g`, `4096`: binary units up to GiB.
pub(crate) fn parse_file_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let (n, scale) = match t.strip_suffix("gib").or_else(|| t.strip_suffix('g')) {
        Some(n) => (n, 1u64 << 30),
        None => return matrix::parse_size(text).map(|b| b as u64),
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("not a size: {text:?}"))
}

pub(crate) fn fs_bench(args: &FsArgs) -> io::Result<()> {
    let started = Instant::now();
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.pairs == 0 || args.qd == 0 || !positive(args.secs) {
        return Err(bad_arg("--pairs, --qd and --secs must be positive".into()));
    }
    let block = args.read_bs.max(args.write_bs) as u64;
    if args.size < block
        || !args.size.is_multiple_of(args.read_bs as u64)
        || !args.size.is_multiple_of(args.write_bs as u64)
    {
        return Err(bad_arg(
            "--size must be a multiple of both block sizes (and at least one block)".into(),
        ));
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let tmp = std::env::temp_dir();
            let var_tmp = PathBuf::from("/var/tmp");
            if fs::filesystem_type(&tmp) == "tmpfs"
                && var_tmp.is_dir()
                && fs::filesystem_type(&var_tmp) != "tmpfs"
            {
                println!(
                    "{} is tmpfs (page cache only, no device behind it): using /var/tmp instead",
                    tmp.display()
                );
                var_tmp
            } else {
                tmp
            }
        }
    };
    let filesystem = fs::filesystem_type(&dir);
    if filesystem == "tmpfs" {
        println!(
            "warning: {} is tmpfs: reads never reach a device and O_DIRECT means nothing; \
             pass --dir on a disk-backed filesystem",
            dir.display()
        );
    }
    let mode = match args.mode.as_str() {
        "concurrent" => Some(fs::PairMode::Concurrent),
        "alternating" => Some(fs::PairMode::Alternating),
        _ => None,
    };
    let plan = fs::FsPlan {
        dir: dir.clone(),
        size: args.size,
        read_bs: args.read_bs,
        write_bs: args.write_bs,
        qd: args.qd,
        secs: args.secs,
        pairs: args.pairs,
        workloads: matrix::parse_list(&args.workloads, fs::Workload::parse).map_err(bad_arg)?,
        io: matrix::parse_list(&args.io, fs::Io::parse).map_err(bad_arg)?,
        opponents: matrix::parse_list(&args.against, fs::Side::parse).map_err(bad_arg)?,
        ringline_api: args.ringline_api.clone(),
        fio_tuned: !args.fio_defaults,
        mode,
        keep_files: args.keep_files,
    };
    let fio = fs::find_fio();
    if fio.is_none() && plan.opponents.contains(&fs::Side::Fio) {
        println!("fio not found on PATH (Debian package `fio`): the fio comparison is skipped");
    }
    eprintln!("building fs-ringline and fs-tokio…");
    let bins = build_workspace_bins(
        &[("fs-ringline", "fs-ringline"), ("fs-tokio", "fs-tokio")],
        &target_dir("fs"),
    )?;
    let programs = fs::Programs {
        ringline: bins[0].clone(),
        tokio: bins[1].clone(),
        fio: fio.clone(),
    };
    println!(
        "fs: {} on {} ({filesystem}), {} pair runs of {} s, QD {}, ringline api {}, fio {} ({}), {} CPUs; mio backend not measured (not available yet); about {:.0} s after the builds ({:.0} s so far)",
        fs_size_label(plan.size),
        dir.display(),
        plan.runs(),
        plan.secs,
        plan.qd,
        plan.ringline_api,
        fio.as_ref().map_or("absent", |f| f.1.as_str()),
        if plan.fio_tuned { "tuned" } else { "defaults" },
        cpu::available_cpus(),
        plan.estimate().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if fio.is_some() {
        println!(
            "fio options: {}",
            fs::fio_common_options(plan.qd, plan.fio_tuned).join(" ")
        );
    }
    let mut report = fs::FsReport {
        benchmark: "fs",
        version: 1,
        machine: Machine::current(),
        settings: fs::FsSettings {
            pairs: plan.pairs,
            secs: plan.secs,
            queue_depth: plan.qd,
            file_size: plan.size,
            dir: dir.display().to_string(),
            filesystem,
            ringline_api: plan.ringline_api.clone(),
            fio_options: fs::fio_common_options(plan.qd, plan.fio_tuned),
            fio_version: fio.map(|f| f.1),
        },
        started_unix_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        wall_secs: 0.0,
        cells: Vec::new(),
    };
    let save = |r: &fs::FsReport| -> io::Result<()> {
        match &args.json {
            Some(path) => write_json(path, r),
            None => Ok(()),
        }
    };
    fs::run(&plan, &programs, &mut report, started, save)?;
    report.wall_secs = started.elapsed().as_secs_f64();
    save(&report)?;
    println!("\n== summary (ringline ÷ other, median of pairs)");
    for cell in &report.cells {
        let unit = if cell.workload == "randread" {
            "IOPS"
        } else {
            "MB/s"
        };
        for c in &cell.comparisons {
            for line in c.summary_lines(&cell.label, unit) {
                println!("{line}");
            }
        }
    }
    println!("\n{}", fs::markdown_table(&report));
    println!("wall time {:.0} s", report.wall_secs);
    Ok(())
}

fn fs_size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{}GiB", bytes >> 30)
    } else {
        matrix::size_label(bytes as usize)
    }
}
