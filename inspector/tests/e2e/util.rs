//! Shared pieces: the demo binary (built once per test run), a running
//! demo that is always stopped, private socket directories, and polling.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `ringline-top` binary under test.
pub const TOP: &str = env!("CARGO_BIN_EXE_ringline-top");

/// The demo example binary, built into the same target directory and
/// profile as `ringline-top` (where `ringline-top --demo` looks for it).
pub fn demo_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(TOP)
            .parent()
            .expect("the binary lives in a directory");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "ringline",
            "--example",
            "demo",
            "--manifest-path",
        ]);
        build.arg(&manifest);
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        // The same target directory as the binary under test.
        if let Some(target) = dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo to build the demo");
        assert!(
            status.success(),
            "building the demo example failed: {status}"
        );
        let bin = dir.join("examples").join("demo");
        assert!(bin.is_file(), "no demo binary at {}", bin.display());
        bin
    })
}

/// A private directory (0700) removed on drop; short, for socket paths.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = PathBuf::from(format!(
            "/tmp/rtop-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("create a private temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running demo with its sockets in `dir`; SIGTERMed and reaped on drop
/// (SIGKILLed if it does not exit), so no test leaves one behind.
pub struct Demo {
    child: Child,
    pub pid: u32,
    pub dir: TempDir,
}

impl Demo {
    pub fn start() -> Demo {
        let dir = TempDir::new("demo");
        let mut child = Command::new(demo_binary())
            .env("RINGLINE_INSPECT_DIR", &dir.0)
            .env_remove("RINGLINE_INSPECT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut demo = Demo {
            pid: child.id(),
            child,
            dir,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo prints its pid");
        assert!(
            line.starts_with(&format!("demo: pid {} ", demo.pid)),
            "unexpected first line: {line}"
        );
        let socket = demo.socket();
        wait_until(Duration::from_secs(10), "the demo's socket", || {
            socket.exists().then_some(())
        });
        demo.pid = demo.child.id();
        demo
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.0.join(format!("{}.sock", self.pid))
    }

    /// `ringline-top` with the demo's socket directory.
    pub fn top(&self) -> Command {
        let mut c = Command::new(TOP);
        c.env("RINGLINE_INSPECT_DIR", &self.dir.0)
            .env_remove("NO_COLOR");
        c
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal, to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 100 ms until it gives a value; panics naming `what`
/// after `limit`.
pub fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// True while a process with `pid` exists (zombies included).
pub fn pid_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// stdout of a finished command as text, asserting it succeeded.
pub fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {}: stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}
