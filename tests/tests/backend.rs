//! Choosing the backend at run time: `Auto` falls back to mio when a
//! seccomp filter blocks io_uring (as Docker's default profile does), an
//! explicit `IoUring` then fails with a clear error, and
//! `RINGLINE_BACKEND` overrides the config.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringline_tests::echo_round_trip;

/// A `seccomp-echo` child: its first stdout line and its stderr log.
struct Filtered {
    child: Child,
    first_line: String,
    stderr: PathBuf,
}

impl Filtered {
    fn spawn(backend: &str, env: &[(&str, &str)]) -> Filtered {
        let stderr = ringline_tests::unique_temp_path("seccomp-echo.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_seccomp-echo"))
            .arg(backend)
            .env_remove("RINGLINE_BACKEND")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("log file"))
            .spawn()
            .expect("spawn seccomp-echo");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let first_line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("seccomp-echo said nothing");
        Filtered {
            child,
            first_line,
            stderr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.first_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }

    /// SIGTERM, then a bounded wait for the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: plain syscall on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait()
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "seccomp-echo did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Filtered {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.stderr);
    }
}

fn echo_a_few(addr: &str) {
    let addr = addr.parse().expect("echo address");
    for i in 0..20 {
        let msg = format!("through the filter {i}").into_bytes();
        assert_eq!(echo_round_trip(addr, &msg), msg);
    }
}

#[test]
fn auto_falls_back_to_mio_when_seccomp_blocks_io_uring() {
    let mut child = Filtered::spawn("auto", &[]);
    assert_eq!(
        child.field("backend"),
        Some("mio"),
        "first line {:?}, log {:?}",
        child.first_line,
        child.log()
    );
    echo_a_few(child.field("echo").expect("echo address"));
    let log = child.log();
    let fallback: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("falling back to the mio backend"))
        .collect();
    assert_eq!(fallback.len(), 1, "exactly one fallback line: {log:?}");
    assert!(
        fallback[0].contains("Operation not permitted") && fallback[0].contains("seccomp"),
        "the line names the cause: {:?}",
        fallback[0]
    );
    assert!(child.stop().success(), "log: {}", child.log());
}

#[test]
fn explicit_io_uring_under_seccomp_fails_with_the_cause() {
    let mut child = Filtered::spawn("io_uring", &[]);
    let status = child.wait();
    assert_eq!(status.code(), Some(2), "line {:?}", child.first_line);
    let message = child
        .first_line
        .strip_prefix("launch-error ")
        .unwrap_or_else(|| panic!("no launch error: {:?}", child.first_line));
    assert!(
        message.contains("io_uring setup failed")
            && message.contains("Operation not permitted")
            && message.contains("seccomp"),
        "{message}"
    );
}

#[test]
fn the_environment_overrides_the_config() {
    // Config says io_uring, the environment says mio: mio runs, even with
    // io_uring blocked.
    let mut child = Filtered::spawn("io_uring", &[("RINGLINE_BACKEND", "mio")]);
    assert_eq!(
        child.field("backend"),
        Some("mio"),
        "{:?}",
        child.first_line
    );
    echo_a_few(child.field("echo").expect("echo address"));
    assert!(
        !child.log().contains("falling back"),
        "an explicit choice is not a fallback"
    );
    assert!(child.stop().success());

    let mut child = Filtered::spawn("mio", &[("RINGLINE_BACKEND", "bogus")]);
    assert_eq!(child.wait().code(), Some(2));
    assert!(
        child.first_line.contains("RINGLINE_BACKEND=\"bogus\""),
        "{:?}",
        child.first_line
    );
}
