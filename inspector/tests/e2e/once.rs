//! `--once`, `--json`, `--list`, no-argument attach and `--demo`, against
//! real processes.

use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::util::{Demo, TOP, TempDir, demo_binary, pid_exists, stdout_of, wait_until};

/// The `fs_read` of the demo's stuck task, once it is at least 1 s old.
fn stuck_read(report: &Value) -> Option<&Value> {
    report["stuck"]
        .as_array()?
        .iter()
        .find(|op| op["op"] == "fs_read" && op["age_ms"].as_u64().is_some_and(|a| a >= 1000))
}

#[test]
fn once_json_reports_the_demo_stuck_read() {
    let demo = Demo::start();
    let report = wait_until(Duration::from_secs(20), "a stuck fs_read ≥ 1 s", || {
        let out = demo
            .top()
            .args(["--pid", &demo.pid.to_string(), "--once", "--json"])
            .output()
            .expect("run ringline-top");
        let v: Value = serde_json::from_str(&stdout_of(&out)).expect("one JSON document");
        stuck_read(&v).is_some().then_some(v)
    });
    let op = stuck_read(&report).expect("found above");
    assert_eq!(op["worker"], 0, "{op}");
    assert_eq!(op["target"]["type"], "fd", "{op}");
    // The demo opened its FIFO through ringline::fs: named by that path.
    let path = op["target"]["path"].as_str().expect("a named fd");
    assert!(path.ends_with("/stuck.fifo"), "{op}");
    assert_eq!(
        op["target_text"],
        format!("fd {} {path}", op["target"]["fd"])
    );
    assert!(op["task"].is_u64(), "{op}");
    assert_eq!(op["flags"], serde_json::json!([]));
    assert_eq!(report["format"], "ringline-top/once");
    assert_eq!(report["hello"]["pid"], demo.pid);
    assert_eq!(report["hello"]["process"], "demo");
    assert_eq!(report["hello"]["workers"], 2);
    assert_eq!(report["workers"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["graveyard"].as_array().map(Vec::len), Some(2));
    assert!(
        report["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "op_stuck")
    );
    let send = report["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "send")
        .expect("a send row");
    assert!(
        send["latency"]["count"].as_u64().unwrap() > 0,
        "echo traffic: {send}"
    );
    assert!(!send["latency"]["buckets"].as_array().unwrap().is_empty());

    let text = stdout_of(
        &demo
            .top()
            .args(["--socket", demo.socket().to_str().unwrap(), "--once"])
            .output()
            .unwrap(),
    );
    assert!(
        text.starts_with(&format!("demo (pid {}): ", demo.pid)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("  0      fs_read      fd ")),
        "{text}"
    );
}

#[test]
fn list_marks_live_and_stale_sockets_and_no_argument_attaches() {
    let demo = Demo::start();
    // A socket whose process is gone (pid_max is at most 2^22).
    let stale = demo.dir.0.join("4194999.sock");
    let listener = UnixListener::bind(&stale).unwrap();
    drop(listener);
    let list = stdout_of(&demo.top().arg("--list").output().unwrap());
    let live_line = list
        .lines()
        .find(|l| l.trim_start().starts_with(&demo.pid.to_string()))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        live_line.contains(" live ") && live_line.contains(" demo "),
        "{list}"
    );
    let stale_line = list
        .lines()
        .find(|l| l.trim_start().starts_with("4194999"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        stale_line.contains(" stale ") && stale_line.contains("process gone"),
        "{list}"
    );

    // One live process (the stale one does not count): attach to it.
    let once = stdout_of(&demo.top().arg("--once").output().unwrap());
    assert!(
        once.starts_with(&format!("demo (pid {}): ", demo.pid)),
        "{once}"
    );

    // None at all: the list and a hint, not an attach.
    let empty = TempDir::new("empty");
    let out = Command::new(TOP)
        .env("RINGLINE_INSPECT_DIR", &empty.0)
        .arg("--once")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    // Processes in other namespaces (another test's) may be listed, but
    // nothing is found in the directory and nothing is attached to.
    let in_dir = text.contains("(none)")
        || !text
            .lines()
            .any(|l| l.contains(&empty.0.display().to_string()) && l.contains(".sock"));
    assert!(
        in_dir && text.contains("ringline-top --demo") && !text.starts_with("demo (pid "),
        "{text}"
    );
}

#[test]
fn a_missing_process_is_an_error_naming_the_fix() {
    let empty = TempDir::new("missing");
    let out = Command::new(TOP)
        .env("RINGLINE_INSPECT_DIR", &empty.0)
        .args(["--pid", "4194999", "--once", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot attach to pid 4194999"), "{err}");
    assert!(err.contains("--list"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn demo_flag_starts_the_demo_and_reaps_it_on_exit() {
    demo_binary(); // next to ringline-top, where --demo looks first
    let top = Command::new(TOP)
        .args(["--demo", "--once", "--json"])
        .env_remove("RINGLINE_INSPECT_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let top_pid = top.id();
    let out = top.wait_with_output().unwrap();
    let report: Value = serde_json::from_str(&stdout_of(&out)).expect("JSON on stdout only");
    assert_eq!(report["hello"]["process"], "demo");
    let pid = report["hello"]["pid"].as_u64().unwrap() as u32;
    assert!(
        !pid_exists(pid),
        "the demo child (pid {pid}) was stopped and reaped"
    );
    let dir = std::env::temp_dir().join(format!("ringline-top-demo-{top_pid}"));
    assert!(!dir.exists(), "{} removed", dir.display());
}

#[test]
fn once_json_lists_the_demo_tasks_with_their_sites_and_verdicts() {
    let demo = Demo::start();
    // The named stuck-read task, waiting ≥ 1 s on its read.
    let stuck_task = |v: &Value| -> Option<Value> {
        v["tasks"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "stuck_read" && t["state_for_ms"].as_u64() >= Some(1000))
            .cloned()
    };
    let report = wait_until(
        Duration::from_secs(20),
        "the stuck_read task ≥ 1 s",
        || {
            let out = demo
                .top()
                .args(["--pid", &demo.pid.to_string(), "--once", "--json"])
                .output()
                .expect("run ringline-top");
            let v: Value = serde_json::from_str(&stdout_of(&out)).expect("one JSON document");
            (stuck_task(&v).is_some() && stuck_read(&v).is_some()).then_some(v)
        },
    );
    let notes = report["notes"].as_array().expect("notes");
    assert!(
        !notes.iter().any(|n| n.as_str().unwrap().contains("newer")),
        "{notes:?}"
    );
    assert!(report["connections"].is_array(), "{report}");
    let tasks = report["tasks"].as_array().expect("a tasks array");
    // Every task the demo spawns itself has its spawn site in the demo.
    let spawned: Vec<&Value> = tasks.iter().filter(|t| t["kind"] == "spawned").collect();
    assert!(spawned.len() >= 4, "echo clients and more: {tasks:?}");
    for t in &spawned {
        let file = t["spawn_site"]["file"].as_str().unwrap_or("");
        assert!(file.ends_with("runtime/examples/demo.rs"), "{t}");
        assert!(t["spawn_site"]["line"].as_u64() > Some(0), "{t}");
    }
    let task = stuck_task(&report).expect("found above");
    assert_eq!(task["state"], "idle", "{task}");
    assert_eq!(task["waiting_on"]["on"], "op", "{task}");
    assert_eq!(task["waiting_on"]["op"], "fs_read", "{task}");
    assert!(
        task["await_site"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("runtime/examples/demo.rs")),
        "{task}"
    );
    assert_eq!(task["verdict"]["kind"], "in_kernel", "{task}");
    assert_eq!(task["stuck"], true, "{task}");
    // The stuck read names the same task and where it waits.
    let op = stuck_read(&report).expect("found above");
    assert_eq!(op["task"], task["id"], "{op}");
    assert_eq!(op["await_site"], task["await_site"], "{op}");
    assert_eq!(op["verdict"]["tasks"][0], task["id"], "{op}");

    let text = stdout_of(
        &demo
            .top()
            .args(["--pid", &demo.pid.to_string(), "--once"])
            .output()
            .unwrap(),
    );
    assert!(
        text.lines()
            .any(|l| l.contains("\"stuck_read\"") && l.contains("in_kernel: ")),
        "{text}"
    );
}
