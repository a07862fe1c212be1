//! Shared helpers of the end-to-end tests: a loaded ringline runtime in
//! this process (echo + fs), echo clients, an HTTP client, a parser of the
//! exposition format, child processes (`inspect-target`, the sidecar,
//! Prometheus) that die with the test, and polling with a deadline so a
//! failure fails instead of hanging.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringline::config::BackendChoice;
use ringline::fs::{self, FsConfig, OpenFlags};
use ringline::{AsyncEventHandler, Config, ConnCtx, ParseResult, RinglineBuilder, ShutdownHandle};

/// Polls `f` every 20 ms until it returns `Some`, failing the test after
/// `timeout` with `what`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ── A loaded runtime ──

/// Echo on every connection; on worker 0, a round of every fs op kind
/// every 20 ms.
struct Load;

impl AsyncEventHandler for Load {
    #[allow(clippy::manual_async_fn)] // the trait wants `impl Future + 'static`
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async move {
            while conn
                .with_data(|data| {
                    let _ = conn.send_nowait(data);
                    ParseResult::Consumed(data.len())
                })
                .await
                > 0
            {}
        }
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(Box::pin(fs_load()))
    }

    fn create_for_worker(_worker: usize) -> Self {
        Load
    }
}

/// Where the fs load of runtime `id` works (each round leaves it as it
/// found it; [`Running`] removes it).
fn load_dir(id: u64) -> PathBuf {
    std::env::temp_dir().join(format!("rl-exp-load-{}-{id}", std::process::id()))
}

async fn fs_load() {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let id = ringline::stats::this_runtime().map_or(0, |rt| rt.id);
    let dir = load_dir(id);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    loop {
        let round = ROUND.fetch_add(1, Ordering::Relaxed);
        // Errors are counted by the runtime like successes; the load only
        // has to keep every kind busy.
        let _ = fs_round(&dir, round).await;
        ringline::sleep(Duration::from_millis(20)).await;
    }
}

async fn fs_round(dir: &Path, round: u64) -> io::Result<()> {
    let file = dir.join(format!("f{round}"));
    let f = fs::create(&file)?.await?;
    let (n, _) = fs::write_from(f, 0, BytesMut::from(&b"ringline exporter"[..]))?.await;
    n?;
    fs::fsync(f)?.await?;
    fs::close(f)?;
    let f = fs::open(&file, OpenFlags::READ, 0)?.await?;
    let (n, _) = fs::read_into(f, 0, BytesMut::with_capacity(64))?.await;
    n?;
    fs::close(f)?;
    fs::stat(&file)?.await?;
    let moved = dir.join(format!("g{round}"));
    fs::rename(&file, &moved)?.await?;
    fs::remove(&moved)?.await?;
    let sub = dir.join(format!("d{round}"));
    fs::mkdir(&sub, 0o700)?.await?;
    std::fs::remove_dir(&sub)
}

/// A ringline runtime of this process, under echo and fs load; shut down
/// and joined when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: ShutdownHandle,
    /// Its `runtime` label.
    pub id: u64,
    workers: Vec<std::thread::JoinHandle<Result<(), ringline::Error>>>,
}

/// Launches a runtime with `workers` workers (io_uring when the kernel
/// allows it, else whatever `Auto` picks) and no inspect socket.
pub fn launch(workers: usize) -> Running {
    launch_as::<Load>(workers)
}

/// [`launch`], plus on every worker a read of a FIFO nobody writes to: an
/// op in flight for as long as the runtime runs, so stuck once older than
/// the stuck threshold (1 s). Cancelled at shutdown; the FIFOs live in the
/// load directory, which [`Running`] removes.
pub fn launch_with_stuck_read(workers: usize) -> Running {
    launch_as::<LoadAndStuck>(workers)
}

/// The [`Load`] of [`launch`] plus a stuck FIFO read per worker.
struct LoadAndStuck;

impl AsyncEventHandler for LoadAndStuck {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        Load.on_accept(conn)
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(Box::pin(async {
            ringline::join(fs_load(), stuck_read()).await;
        }))
    }

    fn create_for_worker(_worker: usize) -> Self {
        LoadAndStuck
    }
}

/// Reads a fresh FIFO in the load directory; never completes (opened
/// read-write, so the open does not wait for a writer and no writer ever
/// comes).
async fn stuck_read() {
    static N: AtomicU64 = AtomicU64::new(0);
    let id = ringline::stats::this_runtime().map_or(0, |rt| rt.id);
    let dir = load_dir(id);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join(format!("stuck-{}.fifo", N.fetch_add(1, Ordering::Relaxed)));
    let c = std::ffi::CString::new(path.to_string_lossy().as_bytes()).expect("no NUL");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {path:?}: {}", io::Error::last_os_error());
    let Ok(opening) = fs::open(&path, OpenFlags::READ_WRITE, 0) else {
        return;
    };
    let Ok(f) = opening.await else { return };
    if let Ok(read) = fs::read_into(f, 0, BytesMut::with_capacity(512)) {
        let _ = read.await;
    }
}

fn launch_as<H: AsyncEventHandler>(workers: usize) -> Running {
    let config = Config {
        backend: BackendChoice::Auto,
        worker: ringline::WorkerConfig {
            threads: workers,
            pin_to_core: false,
            core_offset: 0,
        },
        sq_entries: 64,
        max_connections: 128,
        send_copy_count: 64,
        standalone_task_capacity: 64,
        timer_slots: 64,
        fs: Some(FsConfig::default()),
        inspect: false,
        shutdown_drain_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let mut last = None;
    for _ in 0..5 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        match RinglineBuilder::new(config.clone())
            .bind(addr)
            .launch::<H>()
        {
            Ok((shutdown, workers)) => {
                let id = shutdown.stats().id;
                return Running {
                    addr,
                    shutdown,
                    id,
                    workers,
                };
            }
            Err(ringline::Error::Io(e)) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => panic!("launch failed: {e}"),
        }
    }
    panic!("launch failed: no free port after 5 tries: {last:?}");
}

impl Running {
    /// Waits until every fs op kind and `send` completed at least once.
    pub fn wait_for_load(&self) {
        let kinds = [
            "send", "fs_open", "fs_read", "fs_write", "fs_fsync", "fs_statx",
        ];
        let more = [
            "fs_rename",
            "fs_unlink",
            "fs_mkdir",
            "close",
            "accept",
            "recv",
        ];
        eventually("every op kind used", Duration::from_secs(10), || {
            let rt = self.shutdown.stats();
            let done = |op: &&str| {
                rt.op_total(op).completed_total() + rt.op_total(op).multishot_cqes_total > 0
            };
            (kinds.iter().chain(&more).all(done)).then_some(())
        });
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        let until = Instant::now() + Duration::from_secs(10);
        for w in self.workers.drain(..) {
            while !w.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if w.is_finished() {
                let _ = w.join();
            }
        }
        let _ = std::fs::remove_dir_all(load_dir(self.id));
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Echo clients exchanging 64-byte messages every few milliseconds until
/// dropped (connections opened and closed as they go).
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

pub fn traffic(addr: SocketAddr, clients: usize) -> Traffic {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..clients)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = echo_some(addr, &stop);
                }
            })
        })
        .collect();
    Traffic { stop, threads }
}

/// One connection: 50 round trips (or until told to stop).
fn echo_some(addr: SocketAddr, stop: &AtomicBool) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let msg = [b'x'; 64];
    let mut back = [0u8; 64];
    for _ in 0..50 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        s.write_all(&msg)?;
        s.read_exact(&mut back)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ── HTTP ──

/// `GET path` on a new connection: status and body.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    let text = String::from_utf8(all).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(io::ErrorKind::InvalidData)?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or(io::ErrorKind::InvalidData)?;
    // Prometheus answers chunked; the exporter never does.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A successful scrape of `/metrics`.
pub fn scrape(addr: SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").expect("scrape");
    assert_eq!(status, 200, "scrape of {addr}: {body}");
    body
}

// ── The exposition format ──

/// One sample line.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// A parsed scrape: `# TYPE` per family, every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and
    /// `_count` belong to the histogram).
    pub fn family<'a>(&self, sample: &'a str) -> &'a str {
        if self.types.contains_key(sample) {
            return sample;
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample.strip_suffix(suffix)
                && self.types.get(base).is_some_and(|t| t == "histogram")
            {
                return base;
            }
        }
        sample
    }

    /// Samples named exactly `name`.
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Sample> + 's {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// Parses the text format strictly enough to catch what Prometheus would
/// reject: malformed lines, two `# TYPE` lines for one name.
pub fn parse(text: &str) -> Exposition {
    let mut e = Exposition::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            let again = e.types.insert(name.to_owned(), kind.to_owned());
            assert!(again.is_none(), "two # TYPE lines for {name}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name, parse_labels(body, line))
            }
            None => (series, BTreeMap::new()),
        };
        e.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    e
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {key} unquoted: {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated value: {line}"),
            }
        }
        assert!(
            labels.insert(key.clone(), value).is_none(),
            "label {key} twice: {line}"
        );
        match chars.next() {
            Some(',') | None => {}
            Some(c) => panic!("unexpected {c:?} after a label: {line}"),
        }
    }
    labels
}

/// `promtool check metrics` on `text`, when promtool is installed (it comes
/// with Debian's `prometheus` package); skipped with a printed reason when
/// it is not.
pub fn promtool_check(text: &str, what: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED promtool check of {what}: promtool not installed (apt-get install prometheus)"
            );
            return;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics on {what}:\n{report}"
    );
}

// ── Child processes ──

/// A private directory (0700, as the inspect socket directory must be),
/// removed when dropped.
pub struct PrivateDir(PathBuf);

impl PrivateDir {
    pub fn new(tag: &str) -> PrivateDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rl-exp-{}-{n}-{tag}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("create a private dir");
        PrivateDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped, its stdout lines on a channel.
pub struct Proc {
    pub child: Child,
    lines: Receiver<String>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first stdout line starting with `prefix`, without it.
    pub fn line_after(&self, prefix: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no line {prefix:?} within {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("exited before printing {prefix:?}"),
            }
        }
    }

    /// SIGTERM, reaped within `timeout` (SIGKILL after it): a clean exit,
    /// so the child removes what it made (`inspect-target` its temp dir).
    pub fn terminate(mut self, timeout: Duration) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our
        // child, not yet reaped (`Child::wait` has not returned).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Drop kills and reaps it.
    }
}

impl Drop for Proc {
    /// SIGTERM first (half a second to exit cleanly and remove what it
    /// made), then SIGKILL; always reaped.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Ok(pid) = libc::pid_t::try_from(self.child.id())
        {
            // SAFETY: `kill` has no memory-safety preconditions; `pid` is
            // our child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/<bin>` of workspace package `package`, built (or found
/// up to date) by cargo in this test's profile: a binary of another package
/// has no `CARGO_BIN_EXE_*` here, so this crate builds it by name.
fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    // target/<profile>/deps/e2e-<hash>
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the profile directory")
        .to_path_buf();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run cargo build for {bin}: {e}"));
    assert!(
        out.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(bin);
    assert!(
        path.exists(),
        "{} missing after building it",
        path.display()
    );
    path
}

/// `inspect-target` of the ringline-tests package: a process with a
/// runtime, an fs load and a stuck read, serving its inspect socket.
pub fn inspect_target_bin() -> PathBuf {
    workspace_bin("ringline-tests", "inspect-target")
}

/// The sidecar `ringline-exporter` (package `ringline-exporter-sidecar`).
fn sidecar_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| workspace_bin("ringline-exporter-sidecar", "ringline-exporter"))
        .clone()
}

/// Starts `inspect-target` with its inspect socket in `dir`: the process
/// and its pid (once it serves).
pub fn spawn_target(bin: &Path, dir: &Path) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.env("RINGLINE_INSPECT_DIR", dir)
        .env_remove("RINGLINE_INSPECT");
    let p = Proc::spawn(cmd);
    let ready = p.line_after("ready pid=", Duration::from_secs(20));
    let pid: u32 = ready.split(' ').next().unwrap().parse().expect("a pid");
    assert_eq!(pid, p.pid());
    p
}

/// Starts the real `ringline-exporter` with `args` and inspect directory
/// `dir` on a free loopback port: the process and its address.
pub fn spawn_sidecar(dir: &Path, args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(sidecar_bin());
    cmd.args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env("RINGLINE_INSPECT_DIR", dir);
    let p = Proc::spawn(cmd);
    let url = p.line_after(
        "ringline-exporter: serving http://",
        Duration::from_secs(20),
    );
    let addr = url
        .strip_suffix("/metrics")
        .expect("a /metrics url")
        .parse()
        .expect("an address");
    (p, addr)
}

/// [`spawn_target`], also returning the address its echo listener serves.
pub fn spawn_target_with_echo(bin: &Path, dir: &Path) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(bin);
    cmd.env("RINGLINE_INSPECT_DIR", dir)
        .env_remove("RINGLINE_INSPECT");
    let p = Proc::spawn(cmd);
    let ready = p.line_after("ready pid=", Duration::from_secs(20));
    let (pid, echo) = ready
        .split_once(" echo=")
        .unwrap_or_else(|| panic!("`ready pid=PID echo=ADDR`: {ready:?}"));
    assert_eq!(pid.parse::<u32>().expect("a pid"), p.pid());
    (p, echo.parse().expect("an echo address"))
}

// ── Prometheus ──

/// The `prometheus` binary on `PATH`, if any.
pub fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

/// `s` with everything but unreserved characters percent-encoded (a
/// query-string value).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus scraping `targets` (job name, address) every second
/// on a free loopback port, its config, data and log (`prometheus.log`) in
/// `work`: the process (killed when dropped; drop it before `work`) and
/// the address of its HTTP API.
pub fn spawn_prometheus(
    bin: &Path,
    work: &Path,
    targets: &[(&str, SocketAddr)],
) -> (Proc, SocketAddr) {
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for (job, addr) in targets {
        config +=
            &format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n");
    }
    let config_path = work.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write the Prometheus config");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = std::fs::File::create(work.join("prometheus.log")).expect("create the log");
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stderr(Stdio::from(log));
    (Proc::spawn(cmd), addr)
}
