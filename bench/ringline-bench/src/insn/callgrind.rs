//! Valgrind's callgrind tool, as `insn` drives it: found (or installed
//! from the distribution), wrapped around a server's command line, told to
//! zero and to dump its counters while the server runs, and its dump files
//! read back.
//!
//! Why our own reader instead of `callgrind_annotate`: a dump taken while
//! the server runs records the calls still open at that moment (thread
//! start, the worker loop) with `calls=0`, and `callgrind_annotate` (3.19)
//! then books their *inclusive* cost as the caller's own, so `clone` gets
//! 100 %. Reading self costs needs only the cost lines that do not follow a
//! `calls=` line, grouped by the current `fn=`; that is all this does.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tools `insn` runs.
#[derive(Debug, Clone)]
pub struct Callgrind {
    /// `valgrind --version`, e.g. `valgrind-3.19.0`.
    pub version: String,
}

/// How long `callgrind_control` may take to reach the server (it goes
/// through `vgdb`, which interrupts a sleeping server with ptrace).
const CONTROL_LIMIT: Duration = Duration::from_secs(30);

impl Callgrind {
    /// Finds valgrind and `callgrind_control` on `PATH`; when either is
    /// missing, installs the `valgrind` package with apt-get (through
    /// sudo unless root), printing what it runs.
    pub fn find_or_install() -> io::Result<Callgrind> {
        if let Some(found) = Callgrind::find() {
            return Ok(found);
        }
        let install = [
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "valgrind",
        ];
        // A fresh container has no package lists yet: fetch them only when
        // the install alone fails.
        let installed = apt(&install)? || (apt(&["apt-get", "update", "-q"])? && apt(&install)?);
        if !installed {
            return Err(io::Error::other(
                "could not install valgrind (apt-get failed): install it by hand",
            ));
        }
        Callgrind::find()
            .ok_or_else(|| io::Error::other("valgrind is still not on PATH after installing it"))
    }

    fn find() -> Option<Callgrind> {
        let out = Command::new("valgrind").arg("--version").output().ok()?;
        let control = Command::new("callgrind_control")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        (out.status.success() && control.success()).then(|| Callgrind {
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }

    /// The command line that runs `program args…` under callgrind with
    /// counting on from the start (the harness zeroes the counters after
    /// the warm-up), one dump file per thread, names written out in full.
    /// Dumps go to `out_prefix.N-TT` (part N, thread TT).
    pub fn wrap(&self, out_prefix: &Path, program: &Path, args: &[String]) -> Vec<String> {
        let mut argv: Vec<String> = [
            "--tool=callgrind",
            "--separate-threads=yes",
            "--compress-strings=no",
            "--compress-pos=no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.push(format!("--callgrind-out-file={}", out_prefix.display()));
        argv.push(program.display().to_string());
        argv.extend(args.iter().cloned());
        argv
    }

    /// Zeroes every thread's counters in the callgrind process `pid`.
    pub fn zero(&self, pid: u32) -> io::Result<()> {
        control(pid, "--zero")
    }

    /// Dumps every thread's counters of `pid` (as part 1, 2, … in the order
    /// of dumps) and returns once the files are written.
    pub fn dump(&self, pid: u32) -> io::Result<()> {
        control(pid, "--dump")
    }
}

/// Runs an apt-get command line (through sudo unless root), saying so
/// first; whether it succeeded.
fn apt(args: &[&str]) -> io::Result<bool> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut argv: Vec<&str> = if root { vec![] } else { vec!["sudo"] };
    argv.extend_from_slice(args);
    eprintln!("insn: valgrind is missing; running: {}", argv.join(" "));
    let status = Command::new(argv[0])
        .args(&argv[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    Ok(status.success())
}

/// Runs `callgrind_control OPTION PID`, failing after [`CONTROL_LIMIT`].
fn control(pid: u32, option: &str) -> io::Result<()> {
    let mut child = Command::new("callgrind_control")
        .arg(option)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + CONTROL_LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = io::Read::read_to_string(&mut e, &mut err);
            }
            return Err(io::Error::other(format!(
                "callgrind_control {option} {pid} failed ({status}): {}",
                err.trim()
            )));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "callgrind_control {option} {pid} got no answer in {} s: vgdb must \
                     ptrace the server while it sleeps (run as root, or set \
                     kernel.yama.ptrace_scope=0)",
                    CONTROL_LIMIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One thread's counts in one dump.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadProfile {
    /// Instructions executed (the `totals:` or `summary:` line).
    pub total: u64,
    /// Self instructions per function (`fn=` name, inlined code included
    /// in the function it was inlined into).
    pub functions: HashMap<String, u64>,
}

/// Reads every thread file of dump `part` written with prefix
/// `out_prefix` (`PREFIX.PART-TT`), in thread order.
pub fn read_dump(out_prefix: &Path, part: u32) -> io::Result<Vec<ThreadProfile>> {
    let dir = out_prefix.parent().unwrap_or(Path::new("."));
    let stem = out_prefix
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&stem))
                .and_then(|rest| rest.strip_prefix(&format!(".{part}")))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no callgrind dump {}.{part}*", out_prefix.display()),
        ));
    }
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)?;
            parse(&text).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", f.display()))
            })
        })
        .collect()
}

/// Parses one callgrind output file with a single event (`Ir`).
///
/// The format: `fn=NAME` starts a function's lines (`fl=`, `fi=`, `fe=`,
/// `ob=` name its file and object), a cost line is `POSITION COST`, and a
/// `calls=N TARGET` line makes the next cost line the *inclusive* cost of
/// that call, which is not the caller's own. Names may be compressed
/// (`(id) name` the first time, `(id)` after), which this resolves.
pub fn parse(text: &str) -> Result<ThreadProfile, String> {
    let mut profile = ThreadProfile::default();
    let mut names: HashMap<(&'static str, String), String> = HashMap::new();
    let mut current: Option<String> = None;
    let mut next_is_call = false;
    let mut total: Option<u64> = None;
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("fn=") {
            current = Some(resolve("fn", rest, &mut names).ok_or_else(|| bad("unknown name id"))?);
        } else if line.starts_with("calls=") {
            next_is_call = true;
        } else if let Some(rest) = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))
        {
            total = Some(
                rest.split_whitespace()
                    .next()
                    .unwrap_or("0")
                    .parse()
                    .map_err(|_| bad("not a count"))?,
            );
        } else if line.starts_with(|c: char| c.is_ascii_digit() || "+-*".contains(c)) {
            if std::mem::take(&mut next_is_call) {
                continue;
            }
            // POSITION then one count; a missing count is zero.
            let cost: u64 = match line.split_whitespace().nth(1) {
                Some(c) => c.parse().map_err(|_| bad("not a cost"))?,
                None => 0,
            };
            let name = current.as_ref().ok_or_else(|| bad("cost before fn="))?;
            *profile.functions.entry(name.clone()).or_default() += cost;
        } else if let Some((key, rest)) = line.split_once('=')
            && let Some(kind) = name_kind(key)
        {
            // Only to learn compressed ids defined on these lines.
            let _ = resolve(kind, rest, &mut names);
        } else if let Some(events) = line.strip_prefix("events:")
            && events.split_whitespace().count() != 1
        {
            return Err(bad("expected one event (Ir)"));
        }
    }
    profile.total = total.ok_or("no totals: or summary: line")?;
    Ok(profile)
}

/// Which id space a `key=` line's name belongs to: functions (`fn`,
/// `cfn`), files (`fl`, `fi`, `fe`, `cfi`, `cfl`) or objects (`ob`, `cob`).
fn name_kind(key: &str) -> Option<&'static str> {
    match key {
        "fn" | "cfn" => Some("fn"),
        "fl" | "fi" | "fe" | "cfi" | "cfl" => Some("fl"),
        "ob" | "cob" => Some("ob"),
        _ => None,
    }
}

/// `(id) name` (defines `id` in `kind`'s space), `(id)` (looks it up) or
/// a plain `name` (which may itself start with a parenthesis: `(below
/// main)`; an id is digits only).
fn resolve(
    kind: &'static str,
    text: &str,
    names: &mut HashMap<(&'static str, String), String>,
) -> Option<String> {
    let compressed = text
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(')'))
        .filter(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let Some((id, name)) = compressed else {
        return Some(text.to_string());
    };
    let name = name.trim_start();
    if name.is_empty() {
        names.get(&(kind, id.to_string())).cloned()
    } else {
        names.insert((kind, id.to_string()), name.to_string());
        Some(name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump taken mid-run, in the shape callgrind 3.19 writes it: a call
    /// still open (`calls=0`), inlined code (`fi=`/`fe=`), compressed and
    /// plain names, relative positions.
    const DUMP: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
part: 1
thread: 2
positions: line
events: Ir
summary: 650

ob=(1) /srv/echo
fl=(1) /src/worker.rs
fn=(below main)
1 0
fn=(1) ringline::Worker::run
10 100
cfl=(2) /src/net.rs
cfn=(2) ringline::net::on_recv
calls=40 5
12 490
fi=(3) /rust/vec_deque.rs
+3 50
fe=(1)
* 10

fl=(2)
fn=(2)
5 400
cfn=(3) memcpy
calls=40 0
7 90

fl=(4) /libc/clone.S
fn=(4) clone
cfn=(1)
calls=0 0
100 650

ob=(2) /libc.so
fl=(5) memcpy.S
fn=(3)
0 90
totals: 650
";

    #[test]
    fn self_costs_leave_call_costs_out_and_add_up_to_the_total() {
        let p = parse(DUMP).expect("parses");
        assert_eq!(p.total, 650);
        let f = |n: &str| p.functions.get(n).copied().unwrap_or(0);
        // 100 + 50 (inlined) + 10: the 490 of the call are on_recv's.
        assert_eq!(f("ringline::Worker::run"), 160);
        assert_eq!(f("ringline::net::on_recv"), 400);
        assert_eq!(f("memcpy"), 90);
        // The open call carries inclusive cost only: no self cost.
        assert_eq!(f("clone"), 0);
        assert_eq!(p.functions.values().sum::<u64>(), p.total);
    }

    #[test]
    fn malformed_dumps_fail_with_the_line() {
        assert!(
            parse("fn=(7)\n1 2\ntotals: 2\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse("1 2\ntotals: 2\n")
                .unwrap_err()
                .contains("cost before fn=")
        );
        assert!(parse("fn=a\n1 2\n").unwrap_err().contains("no totals"));
        assert!(parse("events: Ir Dr\n").unwrap_err().contains("one event"));
    }

    #[test]
    fn the_server_runs_under_callgrind_with_one_file_per_thread() {
        let cg = Callgrind {
            version: "valgrind-3.19.0".into(),
        };
        let argv = cg.wrap(
            Path::new("/tmp/x/callgrind.out"),
            Path::new("/bin/echo_server"),
            &["--workers".into(), "1".into()],
        );
        assert!(argv.contains(&"--separate-threads=yes".to_string()));
        assert!(argv.contains(&"--callgrind-out-file=/tmp/x/callgrind.out".to_string()));
        assert_eq!(
            argv[argv.len() - 3..],
            ["/bin/echo_server", "--workers", "1"]
        );
    }
}
