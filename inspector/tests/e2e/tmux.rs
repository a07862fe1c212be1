//! The real TUI in a real terminal: `ringline-top` attached to a demo
//! inside tmux, every view visited with send-keys, the stuck read found on
//! the Stuck view, then `q` — and the shell's terminal must be back in
//! cooked mode on the main screen with a visible cursor.
//!
//! Skips (with a printed reason) when tmux is not installed;
//! `scripts/test.sh` installs it for CI.

use std::io::Write;
use std::process::{Command, Output};
use std::time::Duration;

use super::util::{Demo, TOP, TempDir, wait_until};

/// A tmux server of our own (`-L`), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    pub fn display(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "top", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Waits until the screen shows every one of `needles`.
    pub fn wait_for(&self, what: &str, needles: &[&str]) -> String {
        wait_until(Duration::from_secs(15), what, || {
            let screen = self.capture();
            needles.iter().all(|n| screen.contains(n)).then_some(screen)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

impl Tmux {
    /// A server of our own running `sh` in a 120×40 window, or `None`
    /// (after printing why) when tmux is not installed.
    pub fn start(test: &str) -> Option<Tmux> {
        if !tmux_available() {
            // Straight to stderr: the test harness captures `eprintln!` of
            // passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: tmux is not installed (scripts/test.sh installs it)"
            );
            return None;
        }
        let tmux = Tmux {
            socket: format!("rtop-{}-{test}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "120",
            "-y",
            "40",
            "sh",
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Some(tmux)
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn tui_in_tmux_visits_every_view_finds_the_stuck_read_and_quits_cleanly() {
    let Some(tmux) = Tmux::start("tui_in_tmux") else {
        return;
    };
    let demo = Demo::start();
    let command = format!(
        "RINGLINE_INSPECT_DIR={} {TOP} --pid {} --interval 200",
        demo.dir.0.display(),
        demo.pid
    );
    tmux.keys(&[&command, "Enter"]);
    let screen = tmux.wait_for(
        "the Overview",
        &["ringline-top  demo (pid", " WORKER LOOPS/s"],
    );
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "1",
        "TUI on the alternate screen"
    );
    assert!(screen.contains(">0 "), "{screen}");

    tmux.keys(&["2"]);
    tmux.wait_for("the Ops view", &[" OP ", "RATE/s", "send", "latency of"]);
    tmux.keys(&["3"]);
    tmux.wait_for("the Slabs view", &[" SLAB ", "connections", "fs_files"]);
    tmux.keys(&["5"]);
    tmux.wait_for("the Worker view", &["worker 0  runtime 1", "graveyard "]);
    tmux.keys(&["6"]);
    tmux.wait_for(
        "the Tasks view",
        &[
            " WAKE/SELF ",
            "stuck_read",
            "spawned at runtime/examples/demo.rs:",
        ],
    );
    tmux.keys(&["7"]);
    tmux.wait_for("the Connections view", &[" PEER", "sorted by age"]);
    tmux.keys(&["8"]);
    tmux.wait_for(
        "the Kernel view",
        &[
            "KERNEL VIEW (not the process's own account) of demo",
            "RING FD",
            "WAIT CHANNEL",
            "TCP STATE",
        ],
    );
    tmux.keys(&["Tab"]);
    tmux.wait_for("Tab back to the Overview", &[" WORKER LOOPS/s"]);
    tmux.keys(&["4"]);
    let screen = tmux.wait_for(
        "the stuck read in the Stuck view",
        &["oldest first", " TARGET ", "fs_read"],
    );
    let row = screen
        .lines()
        .skip_while(|l| !l.contains(" TARGET "))
        .find(|l| l.contains(" fs_read "))
        .unwrap_or_else(|| panic!("no row for the read:\n{screen}"));
    assert!(row.starts_with(">0 ") && row.contains(" fd "), "{screen}");
    let screen = tmux.wait_for(
        "the read's verdict and its task among the stuck tasks",
        &["in_kernel: in the kernel for", "stuck_read", "Enter: task "],
    );
    assert!(
        screen.contains("waited on at runtime/examples/demo.rs:"),
        "{screen}"
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "Enter on the read: its task in the Tasks view",
        &["Esc: back", "task ", "\"stuck_read\"  spawned"],
    );
    tmux.keys(&["Escape"]);
    tmux.wait_for("Esc: back to the Stuck view", &[" TARGET ", "oldest first"]);
    tmux.keys(&["?"]);
    tmux.wait_for("the help screen", &["q, Ctrl-C  quit", "Esc "]);
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", &[" TARGET "]);

    tmux.keys(&["q"]);
    wait_until(Duration::from_secs(10), "ringline-top to exit", || {
        (tmux.display("#{alternate_on} #{cursor_flag} #{pane_current_command}") == "0 1 sh")
            .then_some(())
    });
    tmux.keys(&[
        "clear; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|icrnl)'; echo end-$((40+2))",
        "Enter",
    ]);
    // `end-42` is printed only once stty ran (the typed line shows `$((`);
    // a shell left in raw mode never runs the line at all.
    let modes = tmux.wait_for("the shell to run stty (it cannot in raw mode)", &["end-42"]);
    for mode in ["icanon", "echo", "icrnl"] {
        assert!(
            modes.lines().any(|l| l.trim() == mode),
            "{mode} not restored:\n{modes}"
        );
    }
}

#[test]
fn tui_shows_disconnected_and_re_attaches_when_the_socket_is_back() {
    let Some(tmux) = Tmux::start("reattach") else {
        return;
    };
    // The TUI attaches through a symlink, so a second process can take the
    // first one's place at the same path.
    let links = TempDir::new("link");
    let link = links.0.join("target.sock");
    let first = Demo::start();
    std::os::unix::fs::symlink(first.socket(), &link).unwrap();
    let command = format!("{TOP} --socket {} --interval 200", link.display());
    tmux.keys(&[&command, "Enter"]);
    tmux.wait_for(
        "the first demo",
        &[&format!("demo (pid {})", first.pid), " WORKER LOOPS/s"],
    );
    drop(first);
    let screen = tmux.wait_for(
        "the disconnected banner",
        &["✗ disconnected — re-attaching to"],
    );
    assert!(
        screen.contains(" WORKER LOOPS/s"),
        "the last data stays:\n{screen}"
    );
    assert_eq!(
        tmux.display("#{pane_current_command}"),
        "ringline-top",
        "still running"
    );

    let second = Demo::start();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(second.socket(), &link).unwrap();
    let screen = tmux.wait_for("the second demo", &[&format!("demo (pid {})", second.pid)]);
    assert!(!screen.contains("disconnected"), "{screen}");
    tmux.keys(&["q"]);
    wait_until(Duration::from_secs(10), "ringline-top to exit", || {
        (tmux.display("#{pane_current_command}") == "sh").then_some(())
    });
}

#[test]
fn tui_without_an_agent_shows_the_kernel_view() {
    let Some(tmux) = Tmux::start("kernel") else {
        return;
    };
    let bin = super::procs::example_binary("echo_server");
    let (server, addr) = super::procs::start_echo(&bin, 1, &[("RINGLINE_INSPECT", "0")]);
    let _client = super::procs::client_that_stops_reading(addr);
    let own = TempDir::new("kernel-tui");
    let command = format!(
        "RINGLINE_INSPECT_DIR={} {TOP} --pid {} --interval 200",
        own.0.display(),
        server.pid()
    );
    tmux.keys(&[&command, "Enter"]);
    tmux.wait_for(
        "the kernel view standing in for the agent",
        &[
            "KERNEL VIEW — no inspect agent answers — of echo_server",
            "RING FD",
            "WAIT CHANNEL",
            "ESTABLISHED",
            &addr.to_string(),
        ],
    );
    tmux.keys(&["q"]);
    wait_until(Duration::from_secs(5), "ringline-top to exit", || {
        (tmux.display("#{pane_current_command}") != "ringline-top").then_some(())
    });
}
