//! Pieces of the namespace and kernel-view tests: building other
//! binaries, children that are always stopped, `--once --json` as a
//! value, a free port, and a TCP client that stops reading.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::util::{TOP, TempDir, stdout_of};

/// The target directory of the binary under test.
fn target_dir() -> PathBuf {
    Path::new(TOP)
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/ringline-top")
        .to_path_buf()
}

/// Builds example `name` of the `ringline` package into the target
/// directory and profile of `ringline-top`; its path.
pub fn example_binary(name: &str) -> PathBuf {
    let dir = Path::new(TOP).parent().expect("a directory");
    let release = dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "ringline", "--example", name])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir());
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo");
    assert!(status.success(), "building example {name} failed: {status}");
    dir.join("examples").join(name)
}

/// Builds the published-0.1.2 echo server the benchmarks use
/// (`bench/ringline-0.1.2-echo`, outside the workspace) where
/// `ringline-bench` puts it; `Err` with the reason when it cannot be built
/// (no registry access and nothing cached).
pub fn echo_012_binary() -> Result<PathBuf, String> {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/ringline-0.1.2-echo/Cargo.toml");
    let target = target_dir().join("bench").join("ringline-0.1.2");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build of {} failed: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(target.join("release").join("ringline-012-echo"))
}

/// A child process SIGTERMed, then SIGKILLed, and reaped on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Kept until the process is gone (its files).
    pub _dir: Option<TempDir>,
}

impl Proc {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id();
        stop(&mut self.child, pid);
    }
}

/// Stops `signal_pid` (the child, or a process below it) and reaps `child`.
pub fn stop(child: &mut Child, signal_pid: u32) {
    // SAFETY: kill only sends a signal, to a process of ours.
    unsafe { libc::kill(signal_pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::kill(signal_pid as i32, libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// `ringline-top --pid PID --once --json` (with an empty socket
/// directory of our own), parsed.
pub fn once_json(pid: u32, own_dir: &Path) -> Value {
    let out = Command::new(TOP)
        .env("RINGLINE_INSPECT_DIR", own_dir)
        .args(["--pid", &pid.to_string(), "--once", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("run ringline-top");
    serde_json::from_str(&stdout_of(&out)).expect("one JSON document")
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("its address").port()
}

/// Starts an echo server binary (`ADDR --workers N` arguments) and waits
/// until it accepts connections.
pub fn start_echo(bin: &Path, workers: usize, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(addr.to_string())
        .args(["--workers", &workers.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc {
        child: cmd.spawn().expect("start the echo server"),
        _dir: None,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the echo server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, addr)
}

/// A client that sends to `addr` and never reads: the server's echo
/// replies pile up in its Send-Q. Writes until the server stops taking
/// bytes (its receive side is full too) or 5 s pass; the stream is kept
/// open by the caller.
pub fn client_that_stops_reading(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect to the echo server");
    s.set_nonblocking(true).expect("non-blocking");
    let chunk = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut blocked_since: Option<Instant> = None;
    while start.elapsed() < Duration::from_secs(5) {
        match s.write(&chunk) {
            Ok(_) => blocked_since = None,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(500) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("writing to the echo server: {e}"),
        }
    }
    s
}

/// The kernel view's TCP socket serving `addr` (local port) whose Send-Q
/// is above 0, if any.
pub fn backed_up_socket(view: &Value, addr: SocketAddr) -> Option<Value> {
    let local = addr.to_string();
    view["tcp"].as_array()?.iter().find_map(|s| {
        (s["local"] == local.as_str()
            && s["state"] == "ESTABLISHED"
            && s["send_q"].as_u64().is_some_and(|q| q > 0))
        .then(|| s.clone())
    })
}
