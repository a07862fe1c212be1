//! Attaching across namespaces: the demo in its own pid and mount
//! namespaces with a private `/tmp` (`unshare`), attached from outside by
//! its pid here; listed with both pids; and refused, with the kernel view
//! instead, once its socket directory breaks the rules.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::procs::{once_json, stop};
use super::util::{TOP, TempDir, demo_binary, stdout_of, wait_until};

/// The demo under `unshare --pid --mount --fork` with a tmpfs on `/tmp`
/// and neither socket-directory variable: it serves at
/// `/tmp/ringline-<uid>/1.sock` as it sees it.
struct NsDemo {
    unshare: Child,
    /// The demo's pid here.
    pid: u32,
}

impl NsDemo {
    /// Starts it; `None` (with the reason printed) where `unshare` is not
    /// permitted.
    fn start() -> Option<NsDemo> {
        let probe = Command::new("unshare")
            .args(["--pid", "--mount", "--fork", "true"])
            .output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                eprintln!(
                    "SKIPPED: unshare --pid --mount is not permitted here: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run unshare (util-linux): {e}");
                return None;
            }
        }
        // The binary may itself live under /tmp (a checkout there): its
        // directory is bind-mounted on /mnt (in the new mount namespace
        // only) before /tmp is covered, and run from there.
        let bin = demo_binary();
        let dir = bin.parent().expect("the demo's directory");
        let script = format!(
            "mount --bind '{}' /mnt && mount -t tmpfs tmpfs /tmp && exec /mnt/{}",
            dir.display(),
            bin.file_name().expect("a file name").to_string_lossy()
        );
        let mut unshare = Command::new("unshare")
            .args(["--pid", "--mount", "--fork", "sh", "-c", &script])
            .env_remove("RINGLINE_INSPECT_DIR")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("RINGLINE_INSPECT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start unshare");
        let mut first = String::new();
        let mut out = BufReader::new(unshare.stdout.take().expect("piped"));
        out.read_line(&mut first).expect("the demo's first line");
        // Keep reading: the demo prints more, and a closed pipe would make
        // its next println! fail (and the demo exit).
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        assert!(first.starts_with("demo: pid 1 "), "{first}");
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let pid: u32 = std::fs::read_to_string(&children)
            .expect("unshare's children")
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("unshare forked the demo");
        let demo = NsDemo { unshare, pid };
        let socket = demo.socket_here();
        // Ready once it has its final mode: a socket is bound, then made
        // 0600, and until then the attach rules (rightly) refuse it.
        wait_until(Duration::from_secs(10), "the demo's socket", || {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&socket).ok()?.permissions().mode();
            (mode & 0o777 == 0o600).then_some(())
        });
        Some(demo)
    }

    /// Its socket directory, through its root.
    fn dir_here(&self) -> PathBuf {
        // SAFETY: geteuid cannot fail and touches no memory.
        let uid = unsafe { libc::geteuid() };
        PathBuf::from(format!("/proc/{}/root/tmp/ringline-{uid}", self.pid))
    }

    fn socket_here(&self) -> PathBuf {
        self.dir_here().join("1.sock")
    }
}

impl Drop for NsDemo {
    fn drop(&mut self) {
        // The demo is the namespace's init: when it exits, unshare does.
        let pid = self.pid;
        stop(&mut self.unshare, pid);
    }
}

/// The demo's stuck `fs_read`, once at least 1 s old.
fn stuck_read(report: &Value) -> Option<&Value> {
    report["stuck"]
        .as_array()?
        .iter()
        .find(|op| op["op"] == "fs_read" && op["age_ms"].as_u64().is_some_and(|a| a >= 1000))
}

#[test]
fn a_demo_in_its_own_namespaces_is_attached_listed_and_refused_when_unsafe() {
    let Some(demo) = NsDemo::start() else {
        return;
    };
    // Our own socket directory is empty: all that is found is found
    // through /proc.
    let own = TempDir::new("ns-own");
    assert!(
        !own.0.join(format!("{}.sock", demo.pid)).exists(),
        "not in our directory"
    );

    let report = wait_until(Duration::from_secs(20), "the stuck read", || {
        let v = once_json(demo.pid, &own.0);
        stuck_read(&v).is_some().then_some(v)
    });
    assert_eq!(report["format"], "ringline-top/once", "the agent's report");
    assert_eq!(report["hello"]["pid"], 1, "the pid it sees: {report:#}");
    assert_eq!(report["hello"]["process"], "demo");

    let list = stdout_of(
        &Command::new(TOP)
            .env("RINGLINE_INSPECT_DIR", &own.0)
            .arg("--list")
            .output()
            .unwrap(),
    );
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{} ", demo.pid)))
        .unwrap_or_else(|| panic!("pid {} not listed:\n{list}", demo.pid));
    assert!(line.contains(" live ") && line.contains(" demo "), "{list}");
    assert!(line.contains("(pid 1 in its namespace)"), "{list}");
    assert!(
        line.contains(&demo.socket_here().display().to_string()),
        "{list}"
    );

    // A user of another uid gets no agent data, only what the kernel
    // shows it (here, little: the process is root's).
    let as_nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(TOP)
        .args(["--pid", &demo.pid.to_string(), "--once", "--json"])
        .env("RINGLINE_INSPECT_DIR", &own.0)
        .output();
    match as_nobody {
        Ok(out) if out.status.success() => {
            let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
            assert_eq!(
                v["format"], "ringline-top/kernel",
                "another uid attached: {v:#}"
            );
            assert!(v["hello"].is_null() && v["stuck"].is_null(), "{v:#}");
            assert!(
                v["no_agent"].as_str().is_some_and(|w| !w.is_empty()),
                "{v:#}"
            );
        }
        Ok(out) => {
            // Refused outright is as good: no agent data either.
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains("\"hello\""), "{text}");
        }
        Err(e) => eprintln!("SKIPPED the other-uid check: cannot run setpriv: {e}"),
    }

    // Its directory opened to others: the socket is refused (never
    // connected to), and the kernel's view stands in, saying why.
    let dir = demo.dir_here();
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let list_now = || {
        stdout_of(
            &Command::new(TOP)
                .env("RINGLINE_INSPECT_DIR", &own.0)
                .arg("--list")
                .output()
                .unwrap(),
        )
    };
    mode(0o755);
    let v = once_json(demo.pid, &own.0);
    let unsafe_list = list_now();
    mode(0o700);
    assert!(
        !unsafe_list.contains(&format!("{} ", demo.pid)),
        "an unsafe socket is not listed:\n{unsafe_list}"
    );
    assert_eq!(v["format"], "ringline-top/kernel", "{v:#}");
    let why = v["no_agent"].as_str().unwrap();
    assert!(
        why.contains("mode 755") && why.contains("not attaching"),
        "{why}"
    );
    // The demo's two workers' rings, seen by the kernel.
    assert!(v["rings"].as_array().unwrap().len() >= 2, "{v:#}");
    let list = list_now();
    assert!(
        list.contains(&format!("{} ", demo.pid)),
        "listed again once safe:\n{list}"
    );
}
