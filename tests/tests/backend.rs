//! Choosing the backend at run time: `Auto` falls back to mio when a
//! seccomp filter blocks io_uring (as Docker's default profile does), an
//! explicit `IoUring` then fails with a clear error, and
//! `RINGLINE_BACKEND` overrides the config.

use std::process::Command;

use ringline_tests::{ChildProcess, echo_round_trip};

/// Starts `seccomp-echo BACKEND` with `env` (and no inherited
/// `RINGLINE_BACKEND`).
fn spawn(backend: &str, env: &[(&str, &str)]) -> ChildProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_seccomp-echo"));
    command
        .arg(backend)
        .env_remove("RINGLINE_BACKEND")
        .envs(env.iter().copied());
    ChildProcess::spawn(command)
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
    let mut child = spawn("auto", &[]);
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
    let mut child = spawn("io_uring", &[]);
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
    let mut child = spawn("io_uring", &[("RINGLINE_BACKEND", "mio")]);
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

    let mut child = spawn("mio", &[("RINGLINE_BACKEND", "bogus")]);
    assert_eq!(child.wait().code(), Some(2));
    assert!(
        child.first_line.contains("RINGLINE_BACKEND=\"bogus\""),
        "{:?}",
        child.first_line
    );
}
