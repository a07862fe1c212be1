//! `ringline-bench blocks`: random 4 KiB blocks of a 1 GiB file served
//! over TCP, ringline against tokio (`tokio::fs`, `spawn_blocking(pread)`)
//! and the published ringline 0.1.2, page-cached and `O_DIRECT`.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use fs_common::blocks::BLOCK_SIZE;
use ringline_bench::blocks::{self, BlockFile, BlocksPlan, BlocksServer, IoMode};
use ringline_bench::report::Machine;
use ringline_bench::{cpu, fs, loadgen, matrix};

use crate::fs_cmd::parse_file_size;
use crate::{ClientWait, bad_arg, repo_root, target_dir, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct BlocksArgs {
    /// I/O modes: cached (the file read once first, so every read hits the
    /// page cache), direct (O_DIRECT: every read goes to the device).
    #[arg(long, default_value = "cached,direct")]
    io: String,
    /// What ringline (on io_uring) is compared with: ringline-mio,
    /// tokio-fs, tokio-pread, ringline-0.1.2; `ringline` is an A/A
    /// control. (0.1.2's fs can hand a read another read's result under
    /// concurrent load; the client checks every block, so such a pair
    /// fails and is reported instead of timed: see BENCHMARKS.md.)
    #[arg(
        long,
        default_value = "ringline-mio,tokio-fs,tokio-pread,ringline-0.1.2"
    )]
    against: String,
    /// Add the A/A control (ringline against itself) to the opponents.
    #[arg(long)]
    control: bool,
    /// Client connections per server, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// Client threads per server.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// How clients wait for answers (see `ringline-bench echo --help`).
    #[arg(long, value_enum, default_value_t = ClientWait::Block)]
    client_wait: ClientWait,
    /// Concurrent pairs per comparison.
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    /// Seconds measured per pair.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Size of the block file (`1g`, `256m`…).
    #[arg(long, default_value = "1g", value_parser = parse_file_size)]
    size: u64,
    /// Directory for the file; disk-backed for `direct` (default: the
    /// temp dir, or /var/tmp when the temp dir is tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Serve this block file (one made with --keep-file) instead of making
    /// one; --size and --dir are then ignored.
    #[arg(long, conflicts_with = "keep_file")]
    file: Option<PathBuf>,
    /// Keep the file made for this run (its path is printed).
    #[arg(long)]
    keep_file: bool,
    /// Seed of the clients' block picks.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write every result as JSON here (rewritten after each cell).
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn blocks_bench(args: &BlocksArgs) -> io::Result<()> {
    let started = Instant::now();
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.pairs == 0 || args.conns == 0 || args.threads == 0 || !positive(args.secs) {
        return Err(bad_arg(
            "--pairs, --conns, --threads and --secs must be positive".into(),
        ));
    }
    let mut opponents = matrix::parse_list(&args.against, BlocksServer::parse).map_err(bad_arg)?;
    if args.control && !opponents.contains(&BlocksServer::Ringline) {
        opponents.push(BlocksServer::Ringline);
    }
    let plan = BlocksPlan {
        io: matrix::parse_list(&args.io, IoMode::parse).map_err(bad_arg)?,
        opponents,
        connections: args.conns,
        threads: args.threads,
        wait: args.client_wait.wait(),
        pairs: args.pairs,
        secs: Duration::from_secs_f64(args.secs),
        seed: args.seed,
    };
    eprintln!("building the blocks servers…");
    let bins = blocks::Binaries::build(&plan.opponents, &repo_root(), &target_dir(""))?;
    let made = Instant::now();
    let file = match &args.file {
        Some(path) => BlockFile::existing(path)?,
        None => {
            let dir = args.dir.clone().unwrap_or_else(blocks::default_dir);
            BlockFile::create(&dir, args.size, args.keep_file)?
        }
    };
    let dir = file
        .path
        .parent()
        .map_or_else(PathBuf::new, |d| d.to_path_buf());
    let filesystem = fs::filesystem_type(&dir);
    println!(
        "blocks: {} ({} MiB, {filesystem}; {} in {:.1} s){}",
        file.path.display(),
        file.len >> 20,
        if args.file.is_some() {
            "checked"
        } else {
            "written and synced"
        },
        made.elapsed().as_secs_f64(),
        if args.keep_file { ", kept" } else { "" },
    );
    if filesystem == "tmpfs" {
        println!("warning: tmpfs: no device behind it; pass --dir on a disk-backed filesystem");
    }
    println!(
        "blocks: {} pair runs of {} s ({} pairs per comparison), closed loop ({} clients), {} connections and {} client threads per server, {} CPUs; about {:.0} s more ({:.0} s so far)",
        plan.runs(),
        args.secs,
        plan.pairs,
        plan.wait.as_str(),
        plan.connections,
        plan.threads,
        cpu::available_cpus(),
        plan.estimate().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let mut report = blocks::BlocksReport {
        benchmark: "blocks",
        version: 1,
        machine: Machine::current(),
        settings: blocks::BlocksSettings {
            pairs: plan.pairs,
            secs: args.secs,
            warm_up_secs: loadgen::WARM_UP.as_secs_f64(),
            connections: plan.connections,
            client_threads: plan.threads,
            client_wait: plan.wait.as_str().into(),
            file_size: file.len,
            block_size: BLOCK_SIZE,
            dir: dir.display().to_string(),
            filesystem,
            seed: plan.seed,
            ringline_features: vec!["stats".into()],
        },
        started_unix_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        wall_secs: 0.0,
        cells: Vec::new(),
    };
    let save = |r: &blocks::BlocksReport| -> io::Result<()> {
        match &args.json {
            Some(path) => write_json(path, r),
            None => Ok(()),
        }
    };
    blocks::run(&plan, &bins, &file, &mut report, started, save)?;
    report.wall_secs = started.elapsed().as_secs_f64();
    save(&report)?;
    println!("\n== summary (ops per server-core-second, ringline / other, median of pairs)");
    for cell in &report.cells {
        for c in &cell.comparisons {
            println!("{}", c.summary_line_in("blocks", &cell.label));
        }
    }
    println!("\n{}", blocks::markdown_table(&report));
    println!("wall time {:.0} s", report.wall_secs);
    Ok(())
}
