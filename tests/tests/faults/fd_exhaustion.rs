//! Out of file descriptors: `fault-target` serves echo with its
//! `RLIMIT_NOFILE` lowered to 16 spare descriptors, and 48 clients connect.
//! The ones that fit are served; the rest wait in the listen backlog while
//! accepts fail with `EMFILE`. Meanwhile the server must not spin (its CPU
//! time, utime + stime from `/proc/PID/stat`, stays a small fraction of the
//! wall time), and once clients leave it must serve every waiting client
//! and new ones.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline_tests::{backend_test, echo_round_trip, read_n};

use crate::util::{figures, ms};

const SPARE: usize = 16;
const CLIENTS: usize = 48;
/// How long the server is watched while exhausted.
const WATCH: Duration = Duration::from_secs(2);
/// CPU share of one core above which the exhausted server counts as
/// spinning (a busy loop takes ~100 %; a 10 ms accept retry takes < 1 %).
const SPIN: f64 = 0.25;

/// The child process; killed if the test ends early.
struct Target {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Target {
    fn spawn(backend: BackendChoice) -> Target {
        let backend = match backend {
            BackendChoice::Mio => "mio",
            _ => "io_uring",
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_fault-target"))
            .args(["fd-exhaustion", &SPARE.to_string(), backend])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn fault-target");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Target { child, lines }
    }

    fn line(&self, what: &str) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("fault-target: no {what} line"))
    }

    /// utime + stime of the child so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the parenthesised name: state is field 3, so utime
        // (14) and stime (15) are the 12th and 13th after it.
        let after = &stat[stat.rfind(')').expect("comm ends with )") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_secs_f64(ticks as f64 / hz as f64)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

fn message(i: usize) -> Vec<u8> {
    format!("client {i:03} is here").into_bytes()
}

/// True once `stream` got its whole echo (without waiting for it).
fn echoed(stream: &mut TcpStream, i: usize, got: &mut Vec<u8>) -> bool {
    let want = message(i);
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 64];
    while got.len() < want.len() {
        match stream.read(&mut buf) {
            Ok(0) => panic!("client {i}: closed by the server"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("client {i}: {e}"),
        }
    }
    stream.set_nonblocking(false).expect("blocking");
    assert!(want.starts_with(got), "client {i}: wrong bytes {got:?}");
    got.len() == want.len()
}

backend_test! {
    fn fd_exhaustion_neither_spins_nor_sticks(backend) {
        let mut target = Target::spawn(backend);
        let ready = target.line("ready");
        let addr: SocketAddr = field(&ready, "echo").parse().expect("echo address");
        let mut clients: Vec<(TcpStream, Vec<u8>)> = (0..CLIENTS)
            .map(|i| {
                let mut s = ringline_tests::client(addr);
                s.write_all(&message(i)).expect("send");
                (s, Vec::new())
            })
            .collect();
        // Served: whoever has an echo once the count stops moving.
        let mut served = 0;
        let mut stable_since = Instant::now();
        let settle = Instant::now() + Duration::from_secs(10);
        while stable_since.elapsed() < Duration::from_millis(300) {
            assert!(Instant::now() < settle, "the served count never settled");
            std::thread::sleep(Duration::from_millis(20));
            let mut now = 0;
            for (i, (s, got)) in clients.iter_mut().enumerate() {
                now += usize::from(echoed(s, i, got));
            }
            if now != served {
                served = now;
                stable_since = Instant::now();
            }
        }
        assert!(
            served > 0 && served < CLIENTS,
            "{served} of {CLIENTS} served: the limit did not bite (or nothing fit)"
        );
        let before = target.cpu();
        std::thread::sleep(WATCH);
        let spent = target.cpu() - before;
        let share = spent.as_secs_f64() / WATCH.as_secs_f64();
        assert!(share < SPIN, "exhausted server used {spent:?} of CPU in {WATCH:?}: spinning");

        // Recovery: the served leave; every waiting client is served in
        // turn (each leaving frees a descriptor for the next).
        let started = Instant::now();
        let (done, waiting): (Vec<_>, Vec<_>) = clients
            .into_iter()
            .enumerate()
            .partition(|(i, (_, got))| got.len() == message(*i).len());
        drop(done);
        let recovered = waiting.len();
        for (i, (mut s, got)) in waiting {
            let rest = read_n(&mut s, message(i).len() - got.len());
            assert_eq!([got, rest].concat(), message(i), "client {i}");
        }
        for i in 0..5 {
            let msg = message(CLIENTS + i);
            assert_eq!(echo_round_trip(addr, &msg), msg, "new client {i}");
        }
        let recovery = started.elapsed();

        // Closing its stdin asks it to shut down.
        drop(target.child.stdin.take());
        let done = target.line("done");
        let status = target.child.wait().expect("wait");
        assert!(status.success(), "fault-target exited {status}");
        let accept_errors: u64 = field(&done, "accept_errors").parse().expect("a count");
        let accepted: u64 = field(&done, "accepted").parse().expect("a count");
        // io_uring counts each failed accept (EMFILE) as an op error.
        if backend != BackendChoice::Mio {
            assert!(accept_errors > 0, "no accept failed: {done}");
        }
        assert_eq!(accepted, (CLIENTS + 5) as u64, "{done}");
        figures(
            "fd_exhaustion",
            &[
                ("backend", format!("{backend:?}")),
                ("clients", CLIENTS.to_string()),
                ("served_while_exhausted", served.to_string()),
                ("cpu_ms_while_exhausted", ms(spent)),
                ("cpu_share", format!("{share:.3}")),
                ("watch_ms", ms(WATCH)),
                ("accept_errors", accept_errors.to_string()),
                ("recovered", recovered.to_string()),
                ("recovery_ms", ms(recovery)),
                ("lost", "0".into()),
            ],
        );
    }
}
