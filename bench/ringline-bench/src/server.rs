//! Server processes under test: started on a free port, waited for, CPU
//! sampled, stopped with SIGTERM.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `program args… ADDR` (the address is appended) on a free
    /// loopback port and waits until it accepts connections.
    pub fn start(program: &Path, args: &[String]) -> io::Result<Server> {
        Server::start_with_env(program, args, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_with_env(
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> io::Result<Server> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{} exited during startup: {status}",
                    program.display()
                )));
            }
            if Instant::now() > deadline {
                server.stop();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not listen on {addr} within 10 s", program.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM without waiting (to stop several servers at once;
    /// [`stop`](Self::stop) then waits).
    pub fn signal_stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: plain syscall on our own, not yet reaped, child's pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        }
    }

    /// Kills it (SIGKILL) and reaps it: for a process whose results are
    /// already out (a server under valgrind may not act on SIGTERM while
    /// its worker sleeps in `io_uring_enter`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM), then kills it after 5 s.
    pub fn stop(&mut self) {
        self.signal_stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Builds an example of the `ringline` package in release mode into its
/// own target directory (so builds with different features never evict
/// each other) and returns the binary's path.
pub fn build_example(
    example: &str,
    features: &[&str],
    target_dir: &Path,
) -> io::Result<std::path::PathBuf> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "ringline",
        "--example",
        example,
    ])
    .arg("--target-dir")
    .arg(target_dir)
    .arg("--no-default-features");
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "cargo build of {example} failed: {status}"
        )));
    }
    Ok(target_dir.join("release").join("examples").join(example))
}

/// Builds binaries of workspace packages (`-p` each) in release mode into
/// `target_dir` and returns their paths, in the order of `bins`
/// (`(package, binary)`).
pub fn build_workspace_bins(
    bins: &[(&str, &str)],
    target_dir: &Path,
) -> io::Result<Vec<std::path::PathBuf>> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--quiet"])
        .arg("--target-dir")
        .arg(target_dir);
    for (package, bin) in bins {
        cmd.args(["-p", package, "--bin", bin]);
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "cargo build of {bins:?} failed: {status}"
        )));
    }
    Ok(bins
        .iter()
        .map(|(_, bin)| target_dir.join("release").join(bin))
        .collect())
}

/// Builds binary `bin` of the standalone (workspace-excluded) crate at
/// `manifest` in release mode into `target_dir`; returns its path.
pub fn build_standalone(
    manifest: &Path,
    bin: &str,
    target_dir: &Path,
) -> io::Result<std::path::PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "cargo build of {} failed: {status}",
            manifest.display()
        )));
    }
    Ok(target_dir.join("release").join(bin))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound on port 0,
/// read, released) for a server to listen on.
fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
