//! Each side's command line (`fio`'s job options, the programs' flags)
//! and the result it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::SideCommand;
use super::{FsPlan, Io, Programs, Side, Workload};

/// `fio --version` when fio is on the PATH.
pub fn find_fio() -> Option<(PathBuf, String)> {
    let out = Command::new("fio").arg("--version").output().ok()?;
    out.status.success().then(|| {
        (
            PathBuf::from("fio"),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    })
}

/// What a side's program reported.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Parsed {
    /// Operations completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// I/O phase.
    pub io_secs: f64,
    /// Own CPU clock over the I/O phase (not fio).
    pub self_cpu_secs: Option<f64>,
}

/// Parses the JSON line of `fs-ringline` / `fs-tokio`.
pub fn parse_program_output(text: &str) -> Result<Parsed, String> {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no JSON line in {text:?}"))?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("no {k:?} in {line}"));
    Ok(Parsed {
        ops: v["ops"]
            .as_u64()
            .ok_or_else(|| format!("no ops in {line}"))?,
        bytes: v["bytes"]
            .as_u64()
            .ok_or_else(|| format!("no bytes in {line}"))?,
        io_secs: num("io_secs")?,
        self_cpu_secs: v["window_cpu_secs"].as_f64(),
    })
}

/// Parses fio's `--output-format=json` (first job, the workload's
/// direction): `total_ios`, `io_bytes`, `runtime` (ms).
pub fn parse_fio_output(text: &str, workload: Workload) -> Result<Parsed, String> {
    // fio may print warnings before the document.
    let start = text
        .find("{\n")
        .or_else(|| text.find('{'))
        .ok_or("no JSON in fio's output")?;
    let v: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(|e| format!("fio's JSON: {e}"))?;
    let job = &v["jobs"][0];
    if job.is_null() {
        return Err("fio's JSON has no job".into());
    }
    if let Some(err) = job["error"].as_i64().filter(|&e| e != 0) {
        return Err(format!("fio job error {err}"));
    }
    let dir = match workload {
        Workload::RandRead => &job["read"],
        Workload::SeqWrite => &job["write"],
    };
    let runtime_ms = dir["runtime"]
        .as_f64()
        .filter(|&r| r > 0.0)
        .ok_or("fio's JSON has no runtime for the workload's direction")?;
    Ok(Parsed {
        ops: dir["total_ios"].as_u64().ok_or("fio: no total_ios")?,
        bytes: dir["io_bytes"].as_u64().ok_or("fio: no io_bytes")?,
        io_secs: runtime_ms / 1e3,
        self_cpu_secs: None,
    })
}

/// fio's options besides the per-run ones; `tuned` adds what makes fio
/// fastest here (no per-I/O clock reads, batched submission and reaping).
pub fn fio_common_options(qd: usize, tuned: bool) -> Vec<String> {
    let mut o: Vec<String> = [
        "--ioengine=io_uring",
        "--thread",
        "--time_based",
        "--invalidate=0",
        "--norandommap",
        "--randrepeat=0",
        "--disk_util=0",
        "--fallocate=none",
        "--allow_file_create=0",
        "--output-format=json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if tuned {
        o.push("--gtod_reduce=1".into());
        o.push(format!("--iodepth_batch_submit={qd}"));
        o.push(format!("--iodepth_batch_complete_max={qd}"));
    }
    o
}

/// One fio run.
#[derive(Debug, Clone, Copy)]
pub struct FioJob<'a> {
    /// The file (it exists, at `size`).
    pub file: &'a Path,
    /// Bytes of it to use.
    pub size: u64,
    /// `randread` or `write`.
    pub workload: Workload,
    /// Bytes per I/O.
    pub bs: usize,
    /// `iodepth`.
    pub qd: usize,
    /// `O_DIRECT`.
    pub direct: bool,
    /// Seconds of I/O.
    pub secs: f64,
    /// See [`fio_common_options`].
    pub tuned: bool,
}

/// The per-run fio arguments.
pub fn fio_args(job: &FioJob<'_>) -> Vec<String> {
    let FioJob {
        file,
        size,
        workload,
        bs,
        qd,
        direct,
        secs,
        tuned,
    } = *job;
    let mut a = vec![
        "--name=ringline-bench".to_string(),
        format!("--filename={}", file.display()),
        format!("--size={size}"),
        format!(
            "--rw={}",
            match workload {
                Workload::RandRead => "randread",
                Workload::SeqWrite => "write",
            }
        ),
        format!("--bs={bs}"),
        format!("--iodepth={qd}"),
        format!("--direct={}", u8::from(direct)),
        format!("--runtime={}ms", (secs * 1e3).round() as u64),
    ];
    a.extend(fio_common_options(qd, tuned));
    a
}

/// The command of `side` on `file`.
pub(super) fn command(
    plan: &FsPlan,
    programs: &Programs,
    side: Side,
    workload: Workload,
    io: Io,
    file: &Path,
    secs: f64,
) -> Option<SideCommand> {
    let bs = plan.block(workload);
    let ours = |program: &Path, api: &str| {
        let mut args = vec![
            "--file".to_string(),
            file.display().to_string(),
            "--workload".into(),
            workload.as_str().into(),
            "--bs".into(),
            bs.to_string(),
            "--qd".into(),
            plan.qd.to_string(),
            "--secs".into(),
            format!("{secs}"),
            "--api".into(),
            api.into(),
        ];
        if io == Io::Direct {
            args.push("--direct".into());
        }
        (program.to_path_buf(), args)
    };
    let env = match side {
        Side::Ringline => vec![("RINGLINE_BACKEND", "io_uring")],
        Side::RinglineMio => vec![("RINGLINE_BACKEND", "mio")],
        _ => vec![],
    };
    let (program, args) = match side {
        Side::Ringline | Side::RinglineMio => ours(&programs.ringline, &plan.ringline_api),
        Side::Tokio => ours(&programs.tokio, "fs"),
        Side::TokioPread => ours(&programs.tokio, "pread"),
        Side::Fio => (
            programs.fio.as_ref()?.0.clone(),
            fio_args(&FioJob {
                file,
                size: plan.size,
                workload,
                bs,
                qd: plan.qd,
                direct: io == Io::Direct,
                secs,
                tuned: plan.fio_tuned,
            }),
        ),
    };
    Some(SideCommand {
        side,
        program,
        args,
        env,
        file: file.to_path_buf(),
        workload,
    })
}
