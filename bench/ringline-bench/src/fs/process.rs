//! A side's process: launched in a session of its own, pinned, watched
//! through `/proc` from its first to its last use of the benchmark file,
//! and reaped with its CPU time.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::commands::{Parsed, parse_fio_output, parse_program_output};
use super::{Side, Workload};
use crate::cpu;

/// `Some(true)` when process `pid` has `path` (canonical) open, `None`
/// when the process is gone.
pub fn has_open(pid: u32, path: &Path) -> Option<bool> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.flatten().any(|e| {
        std::fs::read_link(e.path())
            .map(|l| l == path)
            .unwrap_or(false)
    }))
}

/// Whether `pid` is a zombie or gone (its `/proc` CPU times then no
/// longer describe a live process).
fn finished(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn stat_cpu(pid: u32) -> Option<f64> {
    let (u, s) = cpu::user_system(pid).ok()?;
    Some((u + s).as_secs_f64())
}

/// A command and the file whose opening starts its I/O phase.
#[derive(Debug, Clone)]
pub(super) struct SideCommand {
    pub(super) side: Side,
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    /// Extra environment (the ringline sides name their backend).
    pub(super) env: Vec<(&'static str, &'static str)>,
    pub(super) file: PathBuf,
    pub(super) workload: Workload,
}

/// What watching one process gave.
pub(super) struct Watched {
    pub(super) parsed: Parsed,
    pub(super) cpu_secs: f64,
    pub(super) lifetime_cpu_secs: f64,
    pub(super) startup_secs: f64,
}

/// Starts `cmd` pinned to `cpus` after `delay`, watches its I/O phase,
/// reaps it. Runs on its own thread in concurrent pairs.
pub(super) fn run_side(
    cmd: &SideCommand,
    cpus: &[usize],
    delay: Duration,
    secs: f64,
) -> io::Result<Watched> {
    std::thread::sleep(delay);
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .envs(cmd.env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET writes one bit inside `set`; `c` comes from
        // `available_cpus`, below CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    let pin = !cpus.is_empty();
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes two syscalls on a set copied into it (async-signal-safe, no
    // allocation).
    unsafe {
        command.pre_exec(move || {
            // A session of its own is an autogroup of its own: the
            // scheduler then shares the CPU fairly between the two
            // processes of a pair, however many threads each runs (tokio's
            // blocking pool would otherwise take a share per thread).
            libc::setsid();
            if pin && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("starting {}: {e}", cmd.side.as_str())))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // The I/O phase starts when the file is open.
    let poll = Duration::from_millis(1);
    let mut start: Option<(Instant, f64)> = None;
    while spawned.elapsed() < Duration::from_secs(20) {
        match has_open(pid, &cmd.file) {
            Some(true) => {
                if let Some(c) = stat_cpu(pid) {
                    start = Some((Instant::now(), c));
                }
                break;
            }
            Some(false) if !finished(pid) => std::thread::sleep(poll),
            _ => break,
        }
    }
    // …and ends when it is closed again.
    let mut end_cpu = None;
    if let Some((t0, _)) = start {
        let near_end = t0 + Duration::from_secs_f64((secs - 0.05).max(0.0));
        if let Some(wait) = near_end.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let give_up = t0 + Duration::from_secs_f64(secs + 20.0);
        while Instant::now() < give_up {
            if finished(pid) {
                break;
            }
            match has_open(pid, &cmd.file) {
                Some(true) => std::thread::sleep(poll),
                Some(false) => {
                    end_cpu = stat_cpu(pid).filter(|_| !finished(pid));
                    break;
                }
                None => break,
            }
        }
    }
    let (status, lifetime) = wait4(pid)?;
    // std's handle would reap again; the child is already reaped.
    drop(child);
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status_ok(status) {
        return Err(io::Error::other(format!(
            "{} failed (wait status {status:#x}): {}",
            cmd.side.as_str(),
            err.trim()
        )));
    }
    let parsed = match cmd.side {
        Side::Fio => parse_fio_output(&out, cmd.workload),
        _ => parse_program_output(&out),
    }
    .map_err(|e| {
        io::Error::other(format!(
            "{}: {e}; stderr: {}",
            cmd.side.as_str(),
            err.trim()
        ))
    })?;
    let (startup, cpu_secs) = match start {
        Some((t0, c0)) => (
            t0.duration_since(spawned).as_secs_f64(),
            end_cpu.unwrap_or(lifetime) - c0,
        ),
        None => (f64::NAN, lifetime),
    };
    Ok(Watched {
        parsed,
        cpu_secs,
        lifetime_cpu_secs: lifetime,
        startup_secs: startup,
    })
}

fn status_ok(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Reaps `pid`: its wait status and total CPU seconds (every thread).
fn wait4(pid: u32) -> io::Result<(i32, f64)> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: plain syscall on our own child with valid pointers.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
        if r == pid as i32 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((status, tv(ru.ru_utime) + tv(ru.ru_stime)))
}

/// Delays before launching each of two sides so that their I/O phases
/// start together: the slower starter goes first.
pub fn launch_delays(startup_a: f64, startup_b: f64) -> (Duration, Duration) {
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
    let (a, b) = (clean(startup_a), clean(startup_b));
    let d = Duration::from_secs_f64((a - b).abs().min(5.0));
    if a >= b {
        (Duration::ZERO, d)
    } else {
        (d, Duration::ZERO)
    }
}
