//! End-to-end tests of ringline: real sockets on loopback, real processes.
//! The tests live in `tests/`; this library holds their shared helpers:
//! per-backend test generation, port and temp-path picking, launching and
//! joining runtimes under a deadline, and blocking std clients with
//! timeouts, so that a runtime bug fails a test instead of hanging it.

// Handlers implement `AsyncEventHandler::on_accept`, whose signature is
// `fn(..) -> impl Future + 'static`; clippy suggests `async fn`, which
// would not satisfy the trait's `'static` bound on the returned future.
#![allow(clippy::manual_async_fn)]

use std::any::TypeId;
use std::future::Future;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline::stats::RuntimeSnapshot;
use ringline::{
    AsyncEventHandler, Config, ConnCtx, Error, ParseResult, RecvBufferConfig, RinglineBuilder,
    ShutdownHandle, WorkerConfig,
};

/// The worker threads `RinglineBuilder::launch` returns.
pub type Workers = Vec<JoinHandle<Result<(), Error>>>;

/// How long a blocking client read or write may take before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long workers may take to exit after a shutdown was asked for. The
/// test config's drain timeout is 1 s; this leaves room for a loaded CI box.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Generates one `#[test]` per backend for a scenario:
/// `backend_test! { fn name(backend) { body } }` becomes the module `name`
/// with one test per backend (`name::uring` and `name::mio`), each running
/// `body` with `backend` bound to its [`BackendChoice`].
///
/// The body is expanded once per test, so the handler types and the
/// statics declared inside it are distinct per backend and tests that run
/// in parallel never share result slots.
#[macro_export]
macro_rules! backend_test {
    ($(#[$meta:meta])* fn $name:ident($backend:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn uring() {
                let $backend = ::ringline::config::BackendChoice::IoUring;
                $body
            }

            #[test]
            fn mio() {
                let $backend = ::ringline::config::BackendChoice::Mio;
                $body
            }
        }
    };
}

/// A small, fast config for tests: one unpinned worker, small pools and
/// rings, a short shutdown drain, and the given backend.
pub fn test_config(backend: BackendChoice) -> Config {
    Config {
        backend,
        worker: WorkerConfig {
            threads: 1,
            pin_to_core: false,
            core_offset: 0,
        },
        sq_entries: 64,
        recv_buffer: RecvBufferConfig {
            ring_size: 64,
            buffer_size: 4096,
            bgid: 0,
        },
        max_connections: 128,
        send_copy_count: 64,
        send_copy_slot_size: 16 * 1024,
        standalone_task_capacity: 64,
        timer_slots: 64,
        blocking_threads: 1,
        resolver_threads: 1,
        disk_io_threads: 1,
        shutdown_drain_timeout: Duration::from_secs(1),
        ..Config::default()
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound on port 0,
/// read, released). Another process may take it before we bind it, so
/// [`launch`] retries with a new one on `AddrInUse`.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A path under the system temp dir unique to this process and call, for
/// Unix sockets and scratch files. Nothing is created.
pub fn unique_temp_path(tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ringline-test-{}-{n}-{tag}", std::process::id()))
}

/// A unique temp directory, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory: a new one, never one left behind by an
    /// earlier process that had the same pid and was killed before it
    /// could clean up.
    pub fn new(tag: &str) -> TempDir {
        loop {
            let path = unique_temp_path(tag);
            match std::fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("create temp dir {path:?}: {e}"),
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Why a backend cannot run here, when `err` (from `launch`) says so; the
/// test is then skipped with that reason printed. Anything else is a real
/// failure.
fn unavailable(backend: BackendChoice, err: &Error) -> Option<String> {
    match (backend, err) {
        (BackendChoice::Mio, Error::ResourceLimit(m)) if m.contains("mio backend") => {
            Some(format!("mio backend unavailable: {m}"))
        }
        (BackendChoice::IoUring, Error::RingSetup(m))
            if m.contains("ENOSYS")
                || m.contains("EPERM")
                || m.contains("without io_uring")
                || m.contains("blocked by seccomp") =>
        {
            Some(format!("io_uring unavailable: {m}"))
        }
        _ => None,
    }
}

/// Whether `RINGLINE_BACKEND` forces a backend other than `backend` (it
/// overrides the config), which would make this variant test the wrong one.
fn overridden(backend: BackendChoice) -> Option<String> {
    let forced = std::env::var("RINGLINE_BACKEND").ok()?;
    let forced_choice = match forced.trim() {
        "io_uring" | "uring" => BackendChoice::IoUring,
        "mio" => BackendChoice::Mio,
        _ => return None,
    };
    (forced_choice != backend).then(|| format!("RINGLINE_BACKEND={forced} overrides {backend:?}"))
}

fn skip(test_backend: BackendChoice, reason: &str) {
    eprintln!("SKIPPED ({test_backend:?}): {reason}");
}

/// Launches `H` on a free 127.0.0.1 port: `(address, shutdown, workers)`,
/// or `None` (after printing why) when the config's backend is unavailable
/// here. Retries with another port if the picked one was taken meanwhile.
/// The handler's tasks are spawned at the caller's line (for the task
/// registry's spawn sites).
#[track_caller]
pub fn launch<H: AsyncEventHandler>(
    config: Config,
) -> Option<(SocketAddr, ShutdownHandle, Workers)> {
    if let Some(reason) = overridden(config.backend) {
        skip(config.backend, &reason);
        return None;
    }
    let mut last = None;
    for _ in 0..5 {
        let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        match RinglineBuilder::new(config.clone())
            .bind(addr)
            .launch::<H>()
        {
            Ok((shutdown, workers)) => return Some((addr, shutdown, workers)),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => {
                if let Some(reason) = unavailable(config.backend, &e) {
                    skip(config.backend, &reason);
                    return None;
                }
                panic!("launch failed: {e}");
            }
        }
    }
    panic!("launch failed: no free port after 5 tries: {last:?}");
}

/// Launches `H` with whatever `builder` binds (Unix sockets, or nothing for
/// an `on_start`-only client); `None` as for [`launch`].
#[track_caller]
pub fn launch_with<H: AsyncEventHandler>(
    builder: RinglineBuilder,
    backend: BackendChoice,
) -> Option<(ShutdownHandle, Workers)> {
    if let Some(reason) = overridden(backend) {
        skip(backend, &reason);
        return None;
    }
    match builder.launch::<H>() {
        Ok(launched) => Some(launched),
        Err(e) => {
            if let Some(reason) = unavailable(backend, &e) {
                skip(backend, &reason);
                return None;
            }
            panic!("launch failed: {e}");
        }
    }
}

/// Waits (up to [`JOIN_TIMEOUT`]) for every worker to exit and asserts each
/// returned `Ok(())`. Panics on a worker that panicked, failed, or is still
/// running at the deadline (it is left behind; the test fails, not hangs).
pub fn join_all(workers: Workers) {
    join_all_within(workers, JOIN_TIMEOUT);
}

/// [`join_all`] with another deadline: for workers that first run a long
/// scenario and only then shut down.
pub fn join_all_within(workers: Workers, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for (i, worker) in workers.into_iter().enumerate() {
        while !worker.is_finished() {
            assert!(
                Instant::now() < deadline,
                "worker {i} still running {timeout:?} after the join began"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("worker {i} returned an error: {e}"),
            Err(_) => panic!("worker {i} panicked"),
        }
    }
}

/// Shuts the runtime down, [`join_all`]s its workers and checks that
/// [`nothing_lost`](assert_nothing_lost).
pub fn shutdown_and_join(shutdown: &ShutdownHandle, workers: Workers) {
    shutdown.shutdown();
    join_checked(shutdown, workers);
}

/// [`join_all`], then [`assert_nothing_lost`] on the final counts.
pub fn join_checked(shutdown: &ShutdownHandle, workers: Workers) {
    join_all(workers);
    assert_nothing_lost(&shutdown.stats());
}

/// After a runtime exited: every op submitted was completed (multishot ops
/// included: every arm ended), nothing is left in the graveyard, and every
/// descriptor the runtime owned is closed (no connection open, no file
/// slot or command in use). A test that loses an op, a buffer or a socket
/// fails here even when its own checks passed.
///
/// The process-wide descriptor count is checked by the single-test
/// binaries (`nothing_lost.rs`, `fs_fd_leak.rs`): tests running in
/// parallel make `/proc/self/fd` meaningless here.
pub fn assert_nothing_lost(rt: &RuntimeSnapshot) {
    let mut problems = Vec::new();
    for w in &rt.workers {
        let id = w.worker;
        for op in &w.ops {
            if op.in_flight != 0 || op.submitted_total != op.completed_total() {
                problems.push(format!(
                    "worker {id}: op {}: submitted {} != completed {} (ok {}, error {}, \
                     cancelled {}), in flight {}",
                    op.op,
                    op.submitted_total,
                    op.completed_total(),
                    op.completed_ok_total,
                    op.completed_error_total,
                    op.completed_cancelled_total,
                    op.in_flight
                ));
            }
        }
        let g = &w.graveyard;
        if g.depth != 0 || g.bytes != 0 || g.parked_total != g.reaped_total {
            problems.push(format!("worker {id}: graveyard not drained: {g:?}"));
        }
        if w.net.connections_active != 0 {
            problems.push(format!("worker {id}: connections left: {:?}", w.net));
        }
        for slab in [
            "connections",
            "op_slots",
            "fs_files",
            "fs_commands",
            "send_copy",
            "udp_send",
        ] {
            match w.slab(slab) {
                Some(s) if s.used != 0 => {
                    problems.push(format!("worker {id}: slab {slab} still in use: {s:?}"))
                }
                Some(_) => {}
                None => problems.push(format!("worker {id}: slab {slab} not reported")),
            }
        }
        if !w.in_flight.is_empty() {
            problems.push(format!(
                "worker {id}: op registry not empty: {:?}",
                w.in_flight
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "runtime {} lost something:\n  {}",
        rt.id,
        problems.join("\n  ")
    );
}

/// Polls `probe` every 2 ms until it yields a value, panicking with `what`
/// once `timeout` has passed.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A TCP client with [`IO_TIMEOUT`] read and write timeouts.
pub fn client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to the server");
    set_timeouts(&stream);
    stream
}

/// Applies [`IO_TIMEOUT`] to both directions of `stream`.
pub fn set_timeouts(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set write timeout");
}

/// Reads exactly `len` bytes; panics on EOF, error or timeout first.
pub fn read_n(stream: &mut impl Read, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => panic!("EOF after {filled} of {len} bytes"),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read failed after {filled} of {len} bytes: {e}"),
        }
    }
    buf
}

/// How a connection ended, as a reading client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// An orderly FIN.
    Eof,
    /// The peer reset the connection (or it was aborted).
    Reset,
}

/// Reads until the peer closes and says how, discarding any bytes still in
/// flight (at most 1 MiB); panics on a timeout or another error.
pub fn read_to_end_or_reset(stream: &mut TcpStream) -> Ending {
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ending::Eof,
            Ok(n) => {
                total += n;
                assert!(total <= 1 << 20, "peer kept sending instead of closing");
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return Ending::Reset;
            }
            Err(e) => panic!("expected the peer to close the connection, got {e}"),
        }
    }
}

/// Connects, sends `msg`, reads back `msg.len()` bytes and returns them.
/// The write runs on its own thread so a message larger than the socket
/// buffers cannot deadlock against an echo that is sending back already.
pub fn echo_round_trip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut stream = client(addr);
    let mut writer = stream.try_clone().expect("clone stream");
    let out = msg.to_vec();
    let write = std::thread::spawn(move || writer.write_all(&out));
    let echoed = read_n(&mut stream, msg.len());
    write
        .join()
        .expect("writer thread panicked")
        .expect("write the message");
    echoed
}

/// `len` bytes of a pattern that does not repeat at any power-of-two
/// period, so a dropped, duplicated or reordered buffer shows up.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 251) % 253) as u8).collect()
}

/// Returns `Err(message)` from the enclosing function (a [`Scenario`])
/// unless the condition holds, so the test thread reports what failed.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// How long a [`Scenario`] may run on its worker before it counts as hung.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(5);

/// A test that runs inside a worker, as the `on_start` task of a runtime
/// that binds nothing (see [`run_scenario`]).
pub trait Scenario: 'static {
    /// The test body: `Err` says what went wrong.
    fn run() -> impl Future<Output = Result<(), String>> + 'static;
}

/// Results of finished scenarios by scenario type: every test declares its
/// own type, so parallel tests never see each other's results.
static SCENARIO_RESULTS: Mutex<Vec<(TypeId, Result<(), String>)>> = Mutex::new(Vec::new());

fn record_result(id: TypeId, result: Result<(), String>) {
    SCENARIO_RESULTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, result));
}

fn take_result(id: TypeId) -> Option<Result<(), String>> {
    let mut results = SCENARIO_RESULTS.lock().unwrap_or_else(|e| e.into_inner());
    let at = results.iter().position(|(t, _)| *t == id)?;
    Some(results.swap_remove(at).1)
}

/// The handler of [`run_scenario`]: worker 0's `on_start` task runs `S`
/// (under [`SCENARIO_TIMEOUT`] when `GUARDED`, which takes one timer slot),
/// records its result and shuts the runtime down.
pub struct ScenarioHandler<S, const GUARDED: bool> {
    worker_id: usize,
    scenario: PhantomData<fn() -> S>,
}

impl<S: Scenario, const GUARDED: bool> AsyncEventHandler for ScenarioHandler<S, GUARDED> {
    fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async {}
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        if self.worker_id != 0 {
            return None;
        }
        Some(Box::pin(async {
            let result = if GUARDED {
                match ringline::timeout(SCENARIO_TIMEOUT, S::run()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("scenario still running after {SCENARIO_TIMEOUT:?}")),
                }
            } else {
                S::run().await
            };
            let shutdown =
                ringline::request_shutdown().map_err(|e| format!("request_shutdown failed: {e}"));
            record_result(TypeId::of::<S>(), result.and(shutdown));
        }))
    }

    fn create_for_worker(worker_id: usize) -> Self {
        ScenarioHandler {
            worker_id,
            scenario: PhantomData,
        }
    }
}

/// Runs `S` inside a fresh runtime with `config` (nothing bound), under
/// [`SCENARIO_TIMEOUT`], waits for the runtime to shut itself down, and
/// panics with the scenario's error if it failed. Skips (returns false)
/// when the config's backend is unavailable; true when it ran.
pub fn run_scenario<S: Scenario>(config: Config) -> bool {
    run_scenario_as::<S, true>(config)
}

/// [`run_scenario`] without the timeout guard, for scenarios that need
/// every timer slot; they must bound themselves.
pub fn run_scenario_unguarded<S: Scenario>(config: Config) -> bool {
    run_scenario_as::<S, false>(config)
}

/// [`run_scenario_unguarded`] that returns the runtime's final stats
/// (after [`assert_nothing_lost`]); `None` when skipped.
pub fn run_scenario_stats<S: Scenario>(config: Config) -> Option<RuntimeSnapshot> {
    run_scenario_with_stats::<S, false>(config, Duration::ZERO)
}

/// [`run_scenario_stats`] for a scenario that may run up to `run_for`
/// (it must bound itself): the workers get that long on top of
/// [`JOIN_TIMEOUT`] to exit.
pub fn run_scenario_stats_for<S: Scenario>(
    config: Config,
    run_for: Duration,
) -> Option<RuntimeSnapshot> {
    run_scenario_with_stats::<S, false>(config, run_for)
}

fn run_scenario_as<S: Scenario, const GUARDED: bool>(config: Config) -> bool {
    run_scenario_with_stats::<S, GUARDED>(config, Duration::ZERO).is_some()
}

fn run_scenario_with_stats<S: Scenario, const GUARDED: bool>(
    config: Config,
    run_for: Duration,
) -> Option<RuntimeSnapshot> {
    let backend = config.backend;
    let (shutdown, workers) =
        launch_with::<ScenarioHandler<S, GUARDED>>(RinglineBuilder::new(config), backend)?;
    join_all_within(workers, JOIN_TIMEOUT + run_for);
    assert_nothing_lost(&shutdown.stats());
    match take_result(TypeId::of::<S>()) {
        Some(Ok(())) => Some(shutdown.stats()),
        Some(Err(message)) => panic!("scenario failed: {message}"),
        None => panic!("the runtime exited without the scenario recording a result"),
    }
}

/// The echo server of the crate docs: every received byte is queued back
/// with `send_nowait` (enough for messages within the send pool).
pub struct Echo;

impl AsyncEventHandler for Echo {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        echo(conn)
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Echo
    }
}

/// Echoes `conn` with `send_nowait` until EOF.
pub async fn echo(conn: ConnCtx) {
    while conn
        .with_data(|data| {
            let _ = conn.send_nowait(data);
            ParseResult::Consumed(data.len())
        })
        .await
        > 0
    {}
}

/// An echo server with backpressure: it takes at most one send-pool slot's
/// worth of bytes at a time and awaits its `SendFuture` before reading
/// more, so any amount of data flows through a small pool.
pub struct AwaitedEcho;

/// Bytes [`AwaitedEcho`] takes per send: at most one slot of the test
/// config's send pool.
pub const AWAITED_ECHO_CHUNK: usize = 16 * 1024;

impl AsyncEventHandler for AwaitedEcho {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async move {
            let mut chunk = Vec::with_capacity(AWAITED_ECHO_CHUNK);
            loop {
                chunk.clear();
                let n = conn
                    .with_data(|data| {
                        let take = data.len().min(AWAITED_ECHO_CHUNK);
                        chunk.extend_from_slice(&data[..take]);
                        ParseResult::Consumed(take)
                    })
                    .await;
                if n == 0 {
                    break;
                }
                let Ok(send) = conn.send(&chunk) else { break };
                if send.await.is_err() {
                    break;
                }
            }
        }
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        AwaitedEcho
    }
}

/// Adds what was being done to an error, for scenarios that return
/// `Result<_, String>`.
pub trait Context<T> {
    /// `Err(e)` becomes `Err("{what}: {e} ({kind:?})")`.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e} ({:?})", e.kind()))
    }
}

/// Lets one loop iteration pass (so the worker publishes what the current
/// task just did) without arming a timer.
pub async fn next_turn() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// Creates a FIFO (mode 0600) at `path`; panics with the OS error if it
/// cannot.
pub fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in temp paths");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {path:?}: {}",
        std::io::Error::last_os_error()
    );
}

/// A child process under test: its first line of stdout (read with a
/// deadline), its stderr in a log file, stopped with SIGTERM and a bounded
/// wait, and killed (log removed) if still running when dropped.
pub struct ChildProcess {
    child: std::process::Child,
    /// The first line the child printed (with its newline, if any).
    pub first_line: String,
    log: PathBuf,
}

impl ChildProcess {
    /// Starts `command` with stdout piped and stderr to a fresh log file,
    /// and waits up to 20 s for its first line of stdout.
    pub fn spawn(mut command: std::process::Command) -> ChildProcess {
        use std::io::BufRead;
        let log = unique_temp_path("child.log");
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let first_line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{command:?} printed nothing within 20 s"));
        ChildProcess {
            child,
            first_line,
            log,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of the `name=value` word of the first line.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.first_line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
    }

    /// What the child wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then [`wait`](Self::wait).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: plain syscall on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait()
    }

    /// Waits up to 10 s for the child to exit; panics if it does not.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the child did not exit in 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildProcess {
    /// A child still running gets SIGTERM and 2 s to clean up after itself
    /// (its temp dirs), then SIGKILL.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: plain syscall on our own child's pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `ringline-top` binary, built (once per test process) into the same
/// target directory and profile as the calling test, which then reads
/// itself through it (`--pid <own pid>`) as an on-call engineer would.
pub fn ringline_top() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/causal-… → target/<profile>
        let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "ringline-inspector",
                "--bin",
                "ringline-top",
            ])
            .arg("--manifest-path")
            .arg(&manifest);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo to build ringline-top");
        assert!(status.success(), "building ringline-top failed: {status}");
        let bin = profile_dir.join("ringline-top");
        assert!(bin.is_file(), "no ringline-top at {}", bin.display());
        bin
    })
}
