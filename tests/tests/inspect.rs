//! End-to-end tests of the inspect socket against a real process
//! (`inspect-target`: echo, plus one file read stuck on a FIFO): attach and
//! read, bad clients that must not disturb it, the socket's life (stale,
//! deleted, removed at exit), unsafe directories, a peer of another uid,
//! and how fast a snapshot comes back under load.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline::inspect::{Client, MAX_CLIENTS};
use ringline::stats::OpTarget;
use ringline_tests::{ChildProcess, TempDir, backend_test, echo_round_trip, wait_for};

/// A running `inspect-target` process.
struct Target {
    process: ChildProcess,
    pid: u32,
    echo: std::net::SocketAddr,
}

impl Target {
    /// Starts it with `RINGLINE_INSPECT_DIR=dir` and waits for it to serve.
    fn spawn(dir: &Path) -> Target {
        Target::spawn_with(dir, &[])
    }

    /// [`spawn`](Self::spawn) with extra environment variables.
    fn spawn_with(dir: &Path, env: &[(&str, &str)]) -> Target {
        let mut command = Command::new(env!("CARGO_BIN_EXE_inspect-target"));
        command
            .env("RINGLINE_INSPECT_DIR", dir)
            .envs(env.iter().copied());
        let process = ChildProcess::spawn(command);
        let echo = process
            .field("echo")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {:?}; log: {}",
                    process.first_line,
                    process.log()
                )
            });
        Target {
            pid: process.pid(),
            echo,
            process,
        }
    }

    fn socket(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.sock", self.pid))
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        self.process.stop()
    }
}

/// The environment that runs the target on `backend`.
fn backend_env(backend: BackendChoice) -> (&'static str, &'static str) {
    let name = match backend {
        BackendChoice::Mio => "mio",
        _ => "io_uring",
    };
    ("RINGLINE_BACKEND", name)
}

/// A fresh private directory for sockets (0700, like the runtime wants).
fn private_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    d
}

fn connect(path: &Path) -> Client {
    wait_for("the inspect socket", Duration::from_secs(10), || {
        Client::connect_path(path).ok()
    })
}

backend_test! {
    fn attach_and_find_the_stuck_read(backend) {
        let dir = private_dir("inspect-attach");
        let mut target = Target::spawn_with(dir.path(), &[backend_env(backend)]);
        let mut client = connect(&target.socket(dir.path()));
        let hello = client.hello().expect("hello");
        assert_eq!(hello.pid, target.pid);
        assert_eq!(hello.protocol_version, 2, "protocol 2 added tasks and connections");
        assert_eq!(hello.workers, 1);
        assert_eq!(hello.histogram, ringline::stats::Layout::current());
        assert!(
            hello.process.starts_with("inspect-target"),
            "{}",
            hello.process
        );
        let stuck = wait_for(
            "the stuck read to be 1 s old",
            Duration::from_secs(10),
            || {
                let ops = client.ops(Duration::from_secs(1), 10).expect("ops");
                (!ops.is_empty()).then_some(ops)
            },
        );
        assert_eq!(stuck.len(), 1, "{stuck:?}");
        assert_eq!(stuck[0].op, "fs_read");
        // Named by the path it was opened by, read off the worker.
        assert!(
            matches!(&stuck[0].target, OpTarget::Fd { path: Some(p), .. } if p.ends_with("/stuck.fifo")),
            "{:?}",
            stuck[0]
        );
        assert!(stuck[0].age_ns >= 1_000_000_000);
        let snap = client.snapshot().expect("snapshot");
        assert_eq!(snap.pid, target.pid);
        assert_eq!(snap.runtimes.len(), 1);
        assert_eq!(snap.runtimes[0].backend, backend_env(backend).1);
        assert_eq!(
            echo_round_trip(target.echo, b"still serving"),
            b"still serving"
        );
        assert!(target.stop().success());
        assert!(
            !target.socket(dir.path()).exists(),
            "the socket must be removed at exit"
        );
    }
}

backend_test! {
    fn bad_clients_do_not_disturb_the_process(backend) {
        let dir = private_dir("inspect-bad");
        let target = Target::spawn_with(dir.path(), &[backend_env(backend)]);
        let path = target.socket(dir.path());
        let mut good = connect(&path);
        let polls = |c: &mut Client| {
            c.snapshot().expect("snapshot").runtimes[0].workers[0]
                .executor
                .polls_total
        };
        let before = polls(&mut good);

        let raw = || {
            let s = UnixStream::connect(&path).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            s
        };
        let answer = |s: &mut UnixStream, bytes: &[u8]| -> String {
            s.write_all(bytes).expect("write");
            let mut line = String::new();
            BufReader::new(s.try_clone().expect("clone"))
                .read_line(&mut line)
                .expect("read");
            line
        };
        let mut s = raw();
        assert!(answer(&mut s, b"garbage\n").contains("\"bad_request\""));
        assert!(answer(&mut s, b"{\"cmd\":\"rm -rf\"}\n").contains("\"bad_request\""));
        assert!(answer(&mut s, b"{\"cmd\":\"hello\",\"v\":7}\n").contains("\"unsupported_version\""));
        let mut huge = vec![b'{'; 10_000];
        huge.push(b'\n');
        assert!(answer(&mut s, &huge).contains("\"oversize\""));
        // Half a request, then gone.
        let mut half = raw();
        half.write_all(b"{\"cmd\":\"snap").expect("write");
        drop(half);
        // A subscriber that never reads.
        let mut deaf = raw();
        deaf.write_all(b"{\"cmd\":\"subscribe\",\"interval_ms\":50}\n")
            .expect("write");
        // Fill every client slot, then one more: refused as busy.
        let mut crowd: Vec<UnixStream> = Vec::new();
        let refused = (0..MAX_CLIENTS + 2).find_map(|_| {
            let mut c = raw();
            // A client past the cap is answered `busy` and closed at once,
            // possibly before its request is written: the write then fails,
            // but the refusal is still there to read.
            if let Err(e) = c.write_all(b"{\"cmd\":\"hello\"}\n") {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ),
                    "write: {e}"
                );
            }
            let mut line = String::new();
            BufReader::new(c.try_clone().expect("clone"))
                .read_line(&mut line)
                .expect("read");
            if line.contains("\"busy\"") {
                Some(line)
            } else {
                crowd.push(c);
                None
            }
        });
        assert!(
            refused.is_some(),
            "never refused past {MAX_CLIENTS} clients"
        );
        drop(crowd);

        // The process kept working and the well-behaved client kept its answers.
        assert_eq!(echo_round_trip(target.echo, b"unaffected"), b"unaffected");
        std::thread::sleep(Duration::from_millis(20));
        let after = polls(&mut good);
        assert!(
            after > before,
            "the worker kept running: {before} → {after}"
        );
        // The deaf subscriber is dropped within the stall deadline.
        deaf.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        std::thread::sleep(ringline::inspect::STALL + Duration::from_secs(3));
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0;
        let closed = loop {
            match deaf.read(&mut sink) {
                Ok(0) => break true,
                Ok(n) => total += n,
                Err(_) => break false,
            }
        };
        assert!(
            closed,
            "the non-reading subscriber was not dropped ({total} bytes buffered)"
        );
    }
}

#[test]
fn hundreds_of_pipelined_snapshots_are_all_answered() {
    let dir = private_dir("inspect-pipeline");
    let target = Target::spawn(dir.path());
    let path = target.socket(dir.path());
    connect(&path);
    let asked = 500;
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all("{\"cmd\":\"snapshot\"}\n".repeat(asked).as_bytes())
        .expect("one write of every request");
    // Not reading for a moment lets the answers back up into the server,
    // which must wait for us rather than buffer them all (or drop us).
    std::thread::sleep(Duration::from_millis(300));
    let mut r = BufReader::new(s);
    let mut bytes = 0;
    for i in 0..asked {
        let mut line = String::new();
        r.read_line(&mut line)
            .unwrap_or_else(|e| panic!("answer {i} of {asked}: {e}"));
        assert!(
            line.starts_with("{\"type\":\"snapshot\""),
            "answer {i} of {asked}: {:?}",
            &line[..line.len().min(200)]
        );
        bytes += line.len();
    }
    println!("{asked} pipelined snapshots answered: {bytes} bytes");
    assert_eq!(echo_round_trip(target.echo, b"serving"), b"serving");
}

#[test]
fn the_socket_is_cleaned_recreated_and_removed() {
    let dir = private_dir("inspect-life");
    // A stale socket of a pid that cannot exist (pid_max ≤ 2^22).
    let stale = dir.path().join("4194999.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind stale"));
    let mut target = Target::spawn(dir.path());
    let path = target.socket(dir.path());
    connect(&path);
    assert!(!stale.exists(), "stale socket of a dead pid left behind");
    // Someone deletes the live socket: it comes back.
    std::fs::remove_file(&path).expect("delete the socket");
    let mut client = connect(&path);
    assert_eq!(client.hello().expect("hello").pid, target.pid);
    assert!(target.log().contains("re-created"), "{}", target.log());
    // Someone swaps it for a symlink to their own socket: the process puts
    // its socket back rather than serve (or follow) the link, and the
    // decoy is left alone.
    let decoy_path = dir.path().join("decoy.sock");
    let decoy = std::os::unix::net::UnixListener::bind(&decoy_path).expect("decoy");
    std::fs::remove_file(&path).expect("delete the socket");
    std::os::unix::fs::symlink(&decoy_path, &path).expect("symlink in its place");
    wait_for("the socket to be put back", Duration::from_secs(10), || {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()).then_some(())
    });
    let mut client = connect(&path);
    assert_eq!(client.hello().expect("hello").pid, target.pid);
    decoy.set_nonblocking(true).expect("nonblocking");
    assert!(
        decoy.accept().is_err(),
        "nobody may have connected to the decoy"
    );
    assert!(decoy_path.exists(), "the decoy was touched");
    assert!(target.stop().success());
    assert!(!path.exists(), "socket left after exit");
}

#[test]
fn unsafe_directories_disable_inspection_but_not_the_process() {
    let base = TempDir::new("inspect-unsafe");
    let open = base.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let real = base.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let link = base.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    // Longer than a socket address can hold.
    let long = base.path().join("l".repeat(120));
    std::fs::create_dir(&long).expect("mkdir");
    std::fs::set_permissions(&long, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut cases = vec![
        (&open, "mode 777"),
        (&link, "symlink"),
        (&long, "set RINGLINE_INSPECT_DIR to a shorter directory"),
    ];
    // Owned by another user: only root can make one.
    let foreign = base.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).expect("chown");
        cases.push((&foreign, "belongs to uid 65534"));
    } else {
        eprintln!("SKIPPED the foreign-owner case: chown needs root");
    }
    for (dir, why) in cases {
        let mut target = Target::spawn(dir);
        assert_eq!(echo_round_trip(target.echo, b"serving"), b"serving");
        let log = wait_for("the log line", Duration::from_secs(5), || {
            let log = target.log();
            log.contains("inspection disabled").then_some(log)
        });
        assert!(log.contains(why), "{log}");
        assert!(!target.socket(dir).exists() && !target.socket(&real).exists());
        assert!(target.stop().success());
    }
}

#[test]
fn ringline_inspect_0_turns_inspection_off() {
    let dir = private_dir("inspect-off");
    let mut target = Target::spawn_with(dir.path(), &[("RINGLINE_INSPECT", "0")]);
    assert_eq!(echo_round_trip(target.echo, b"serving"), b"serving");
    // Long enough for a server that did start to have bound its socket.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !target.socket(dir.path()).exists(),
        "RINGLINE_INSPECT=0 must not serve an inspect socket"
    );
    assert!(target.stop().success());
}

/// Run as a child with another uid by `a_peer_of_another_uid_is_refused`:
/// connects to `RINGLINE_TEST_PEER_SOCKET` and prints the first line.
#[test]
fn peer_of_another_uid_child() {
    let Some(path) = std::env::var_os("RINGLINE_TEST_PEER_SOCKET") else {
        return; // Only meaningful as the child.
    };
    let mut s = UnixStream::connect(&path).expect("connect as the other uid");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(b"{\"cmd\":\"snapshot\"}\n");
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    println!("PEER-ANSWER {}", line.trim());
}

#[test]
fn a_peer_of_another_uid_is_refused() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root to run a client as another uid (65534)");
        return;
    }
    let base = TempDir::new("inspect-uid");
    let dir = base.path().join("sockets");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let target = Target::spawn(&dir);
    let path = target.socket(&dir);
    connect(&path);
    // Let the other uid reach the socket, so only the server's own peer
    // check stands in its way.
    for (p, mode) in [
        (base.path(), 0o755),
        (dir.as_path(), 0o711),
        (path.as_path(), 0o666),
    ] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "peer_of_another_uid_child", "--nocapture"])
        .env("RINGLINE_TEST_PEER_SOCKET", &path)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run the other-uid client");
    let text = String::from_utf8_lossy(&out.stdout);
    let answer = text
        .lines()
        .find_map(|l| l.strip_prefix("PEER-ANSWER "))
        .unwrap_or_else(|| {
            panic!(
                "child printed no answer: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(answer.contains("\"permission_denied\""), "{answer}");
    assert!(!answer.contains("\"snapshot\""), "{answer}");
    // And we are still served.
    assert!(connect(&path).hello().is_ok());
}

#[test]
fn a_setuid_process_serves_from_its_effective_uids_directory() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        eprintln!("SKIPPED: needs root to run a child with real uid 65534 and effective uid 0");
        return;
    }
    // With neither variable set, the directory is `/tmp/ringline-<uid>`:
    // the test must use the real fallback path. The real uid's directory
    // is removed afterwards only if this test is what created it.
    let effective_dir = PathBuf::from(format!("/tmp/ringline-{euid}"));
    let real_dir = PathBuf::from("/tmp/ringline-65534");
    let real_dir_existed = real_dir.exists();
    let mut command = Command::new(env!("CARGO_BIN_EXE_inspect-target"));
    command
        .env_remove("RINGLINE_INSPECT_DIR")
        .env_remove("XDG_RUNTIME_DIR");
    // SAFETY: setreuid is async-signal-safe and touches no memory; as root
    // it may set the real uid alone, as a setuid-root program runs.
    unsafe {
        command.pre_exec(|| {
            if libc::setreuid(65534, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut process = ChildProcess::spawn(command);
    let pid = process.pid();
    let ours = effective_dir.join(format!("{pid}.sock"));
    let found = wait_for("the socket", Duration::from_secs(10), || {
        [&ours, &real_dir.join(format!("{pid}.sock"))]
            .into_iter()
            .find(|p| p.exists())
            .cloned()
    });
    let answered = (found == ours).then(|| connect(&ours).hello().expect("hello").pid);
    let real_dir_made = !real_dir_existed && real_dir.exists();
    let stopped = process.stop();
    if real_dir_made {
        let _ = std::fs::remove_dir_all(&real_dir);
    }
    assert_eq!(
        found,
        ours,
        "the socket must be in the effective uid's directory; log: {}",
        process.log()
    );
    assert_eq!(answered, Some(pid), "the process answers on its socket");
    assert!(
        !real_dir_made,
        "a directory named by the real uid was created"
    );
    assert!(stopped.success());
    assert!(!ours.exists(), "the socket must be removed at exit");
}

#[test]
fn snapshot_latency_under_echo_load() {
    let dir = private_dir("inspect-latency");
    let target = Target::spawn(dir.path());
    let mut client = connect(&target.socket(dir.path()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let addr = target.echo;
        std::thread::spawn(move || {
            let mut c = ringline_tests::client(addr);
            let msg = [7u8; 64];
            let mut buf = [0u8; 64];
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.write_all(&msg).expect("write");
                c.read_exact(&mut buf).expect("read");
                n += 1;
            }
            n
        })
    };
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            client.snapshot().expect("snapshot");
            t.elapsed()
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let round_trips = load.join().expect("load thread");
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "snapshot latency under echo load ({round_trips} round trips meanwhile): p50 {p50:?}, p99 {p99:?}, max {:?}",
        times[times.len() - 1]
    );
    assert!(round_trips > 0);
}
