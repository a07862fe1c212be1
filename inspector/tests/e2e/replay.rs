//! The flight recorder through `ringline-top`, against a real demo:
//! `--dump` (the process writes it), `--record` (from outside) then
//! `--replay --once --json` and `--diff`, and `--replay` in tmux.

use std::fs::File;
use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ringline_schema::record::{Recording, TriggerKind};
use serde_json::Value;

use super::tmux::Tmux;
use super::util::{Demo, TOP, TempDir, stdout_of, wait_until};

fn read(path: &Path) -> Recording {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    Recording::read(BufReader::new(file)).expect("a dump that reads back")
}

fn private(path: &Path) -> bool {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777 == 0o600
}

/// Records `demo` for 3 s into a file of `dir`; its path.
fn record(demo: &Demo, dir: &TempDir) -> PathBuf {
    let file = dir.0.join("rec.jsonl");
    let out = demo
        .top()
        .args(["--pid", &demo.pid.to_string(), "--record"])
        .arg(&file)
        .args(["--duration", "3"])
        .output()
        .expect("run ringline-top --record");
    assert_eq!(stdout_of(&out).trim(), file.display().to_string());
    file
}

/// The demo's stuck `fs_read` in a `--once --json` report.
fn stuck_read(report: &Value) -> Option<&Value> {
    report["stuck"].as_array()?.iter().find(|op| {
        op["op"] == "fs_read"
            && op["target_text"]
                .as_str()
                .is_some_and(|t| t.ends_with("/stuck.fifo"))
    })
}

#[test]
fn dump_prints_the_path_of_a_request_dump_that_reads_back() {
    let demo = Demo::start();
    // The recorder takes its first frame within 100 ms of starting.
    let path = wait_until(Duration::from_secs(10), "a dump with frames", || {
        let out = demo
            .top()
            .args(["--pid", &demo.pid.to_string(), "--dump"])
            .output()
            .expect("run ringline-top --dump");
        let path = PathBuf::from(stdout_of(&out).trim());
        (!read(&path).frames.is_empty()).then_some(path)
    });
    assert!(path.starts_with(&demo.dir.0), "{}", path.display());
    let r = read(&path);
    assert_eq!(r.header.trigger.kind, TriggerKind::Request);
    assert_eq!(r.header.pid, demo.pid);
    assert!(private(&path));

    // Not a process: exit 1 and why.
    let out = demo
        .top()
        .args(["--pid", "999999999", "--dump"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot attach"));
}

#[test]
fn a_recording_from_outside_replays_the_stuck_read() {
    let demo = Demo::start();
    let dir = TempDir::new("rec");
    let file = record(&demo, &dir);
    assert!(private(&file));
    let r = read(&file);
    assert_eq!(r.header.trigger.kind, TriggerKind::External);
    assert!(r.frames.len() >= 20, "~3 s at 100 ms: {}", r.frames.len());
    assert!(r.frames.iter().any(|f| !f.state.tasks.is_empty()));

    let once = |at: Option<&str>| -> Value {
        let mut c = demo.top();
        c.arg("--replay").arg(&file).args(["--once", "--json"]);
        if let Some(at) = at {
            c.args(["--at", at]);
        }
        serde_json::from_str(&stdout_of(&c.output().unwrap())).expect("one JSON document")
    };
    let last = once(None);
    assert_eq!(last["replay"]["trigger"], "external");
    assert_eq!(last["hello"]["pid"], demo.pid);
    let op = stuck_read(&last).unwrap_or_else(|| panic!("no stuck read: {}", last["stuck"]));
    assert!(op["age_ms"].as_u64() >= Some(2000), "{op}");
    assert_eq!(op["verdict"]["kind"], "in_kernel", "{op}");
    assert!(
        last["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "stuck_read")
    );
    let earlier = once(Some("-2"));
    let at = earlier["replay"]["at_s"].as_f64().unwrap();
    assert!((-2.2..=-2.0).contains(&at), "{at}");
    let age = |v: &Value| stuck_read(v).and_then(|op| op["age_ms"].as_u64());
    assert!(age(&earlier) < age(&last), "the read is younger 2 s before");

    let out = demo
        .top()
        .arg("--diff")
        .arg(format!("{}@-2", file.display()))
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    let d: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(d["format"], "ringline-top/diff");
    assert!(
        d["rates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["op"] == "send"),
        "{d}"
    );
}

#[test]
fn replay_in_tmux_shows_the_stuck_read_and_the_scrub_bar_moves() {
    let Some(tmux) = Tmux::start("replay") else {
        return;
    };
    let demo = Demo::start();
    let dir = TempDir::new("replay");
    let file = record(&demo, &dir);
    drop(demo);
    let frames = read(&file).frames.len();
    tmux.keys(&[&format!("{TOP} --replay {}", file.display()), "Enter"]);
    let last = format!("frame {frames}/{frames} ");
    let screen = tmux.wait_for(
        "the replay at its last frame",
        &["REPLAY external: recorded from outside", &last, "^|"],
    );
    assert!(screen.contains(" WORKER LOOPS/s"), "{screen}");
    tmux.keys(&["4"]);
    tmux.wait_for(
        "the stuck read in the Stuck view",
        &["oldest first", " fs_read ", "stuck.fifo", "in_kernel"],
    );
    tmux.keys(&["Left", "Left", "Left"]);
    let back = format!("frame {}/{frames} ", frames - 3);
    let screen = tmux.wait_for("three frames back", &[&back]);
    assert!(
        !screen.contains("^|"),
        "the position left the end:\n{screen}"
    );
    tmux.keys(&["p", "Home"]);
    let screen = tmux.wait_for("the first frame", &[&format!("frame 1/{frames} "), "|^="]);
    assert!(!screen.contains("PAUSED"), "p does nothing in a replay");
    tmux.keys(&["End", "Left", "d", "Right"]);
    tmux.wait_for("the diff panel", &["diff: -", "grew", "Esc closes"]);
    tmux.keys(&["Escape"]);
    wait_until(Duration::from_secs(15), "the diff closed", || {
        let screen = tmux.capture();
        (screen.contains(&last) && !screen.contains("Esc closes")).then_some(())
    });
    tmux.keys(&["q"]);
    wait_until(Duration::from_secs(10), "ringline-top to exit", || {
        (tmux.display("#{alternate_on} #{pane_current_command}") == "0 sh").then_some(())
    });
}
