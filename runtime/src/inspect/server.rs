//! The inspect server: one thread per process, serving every runtime's
//! stats on a unix socket, never touching a worker.
//!
//! It only reads `stats::snapshot()` (lock-free counters and seqlock
//! records), so it answers while every worker is wedged, and nothing it
//! does can make a worker wait. Clients are bounded in number, line length,
//! buffered output and patience:
//!
//! - a peer of another uid (root excepted) is refused before anything is
//!   read (`SO_PEERCRED`);
//! - past [`MAX_CLIENTS`] a newcomer gets a `busy` error line and is closed;
//! - a request line over [`MAX_REQUEST_LINE`] gets `oversize` and is closed;
//! - requests are answered in order, one at a time: the next only once the
//!   socket has taken the previous answer whole, and nothing more is read
//!   from a client until every request already read is answered. However
//!   many requests a client pipelines, the server holds at most one answer
//!   for it ([`MAX_OUTPUT`]) and one read's worth of requests;
//! - a client that stops sending mid-line, or stops reading while output is
//!   pending, for [`STALL`] is dropped; one idle for [`IDLE`] too;
//! - every malformed request is answered with an error line.
//!
//! The socket is re-created if someone deletes or replaces it, and removed
//! when the process exits.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::answer::{Subscribe, answer, snapshot_response};
use super::lines::{LineSplitter, READ_CHUNK};
use super::socket_dir::{bind_socket, clean_stale, own_uid, prepare_dir, socket_dir, socket_inode};
use super::wire::{MAX_REQUEST_LINE, Response};
use crate::stats;

/// Clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// How long a client may leave a request half-sent, or output unread.
pub const STALL: Duration = Duration::from_secs(1);
/// How long a client may sit without asking anything (subscribers excepted).
pub const IDLE: Duration = Duration::from_secs(60);
/// The most output held for one client at any moment. Answers are queued
/// only into an empty buffer, so this bounds one answer: a client whose
/// answer would not fit is dropped instead of being sent it (no answer
/// comes near: a snapshot of 64 workers is a few MB).
pub(crate) const MAX_OUTPUT: usize = 64 << 20;
/// Bytes read from one client per turn, so a client that sends without
/// pause cannot keep the server from the others.
const READ_BUDGET: usize = 2 * MAX_REQUEST_LINE;
/// How often the socket file is checked (deleted or replaced → re-created).
const SOCKET_CHECK: Duration = Duration::from_secs(1);
/// Longest sleep in `poll`, so deadlines are checked often enough.
const POLL_TICK: Duration = Duration::from_millis(100);

/// Starts the process's inspect server once, unless `enabled` is false or
/// `RINGLINE_INSPECT=0`. Failures (an unsafe directory, a path too long)
/// disable inspection with one log line; the process runs on.
pub(crate) fn start(enabled: bool) {
    static STARTED: OnceLock<()> = OnceLock::new();
    if !enabled || std::env::var("RINGLINE_INSPECT").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("ringline-inspect".into())
            .spawn(serve);
        if let Err(e) = spawned {
            eprintln!("ringline: inspection disabled: cannot start its thread: {e}");
        }
    });
}

fn serve() {
    let dir = socket_dir();
    let Some(socket) = Socket::create(&dir) else {
        return;
    };
    let mut server = Server::new(Some(socket));
    loop {
        server.turn(POLL_TICK);
    }
}

/// The listening socket and the file that names it.
pub(crate) struct Socket {
    listener: UnixListener,
    dir: PathBuf,
    path: PathBuf,
    inode: u64,
    /// Whether the last re-creation failed (to log once, not every second).
    broken: bool,
}

impl Socket {
    fn create(dir: &Path) -> Option<Socket> {
        if let Err(why) = prepare_dir(dir) {
            eprintln!("ringline: inspection disabled: {why}");
            return None;
        }
        clean_stale(dir);
        match bind_socket(dir, std::process::id()) {
            Ok((listener, path)) => {
                let inode = socket_inode(&path).unwrap_or(0);
                remove_at_exit(&path, inode);
                Some(Socket {
                    listener,
                    dir: dir.to_path_buf(),
                    path,
                    inode,
                    broken: false,
                })
            }
            Err(e) => {
                eprintln!(
                    "ringline: inspection disabled: cannot bind {}: {e}",
                    dir.join(format!("{}.sock", std::process::id())).display()
                );
                None
            }
        }
    }

    /// Re-creates the socket if its file was deleted or replaced.
    fn check(&mut self) {
        if socket_inode(&self.path) == Some(self.inode) {
            return;
        }
        let recreated = prepare_dir(&self.dir)
            .map_err(|why| why.to_string())
            .and_then(|()| bind_socket(&self.dir, std::process::id()).map_err(|e| e.to_string()));
        match recreated {
            Ok((listener, path)) => {
                eprintln!(
                    "ringline: inspect socket {} was removed or replaced; re-created it",
                    path.display()
                );
                self.inode = socket_inode(&path).unwrap_or(0);
                remove_at_exit(&path, self.inode);
                self.listener = listener;
                self.path = path;
                self.broken = false;
            }
            Err(why) if !self.broken => {
                eprintln!(
                    "ringline: inspect socket {} is gone and cannot be re-created: {why}",
                    self.path.display()
                );
                self.broken = true;
            }
            Err(_) => {}
        }
    }
}

/// The socket file to remove at exit (and its inode, to never remove one
/// another process put there).
static AT_EXIT: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

fn remove_at_exit(path: &Path, inode: u64) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()) = Some((path.to_path_buf(), inode));
    REGISTERED.get_or_init(|| {
        extern "C" fn remove() {
            if let Ok(guard) = AT_EXIT.try_lock()
                && let Some((path, inode)) = guard.as_ref()
                && socket_inode(path) == Some(*inode)
            {
                let _ = std::fs::remove_file(path);
            }
        }
        // SAFETY: `remove` is a plain `extern "C" fn` without arguments
        // that never unwinds (it only takes a lock without blocking and
        // removes a file), as atexit requires.
        unsafe { libc::atexit(remove) };
    });
}

/// What one client holds in memory (see `Server::client_buffers`).
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientBuffers {
    /// Bytes of an unfinished request line.
    pub(crate) input: usize,
    /// Bytes allocated for them.
    pub(crate) input_allocated: usize,
    /// Response bytes not yet written.
    pub(crate) output_pending: usize,
}

/// One connected client.
struct Client {
    stream: UnixStream,
    input: LineSplitter,
    /// Complete request lines read and not yet answered; the client is not
    /// read again until this is empty, which bounds it to one read
    /// ([`READ_BUDGET`] + [`READ_CHUNK`] bytes).
    requests: VecDeque<Vec<u8>>,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    /// Last time a byte arrived (for half-sent requests).
    input_progress: Instant,
    /// Last time output moved (or was queued into an empty buffer).
    output_progress: Instant,
    /// Last request.
    active: Instant,
    subscription: Option<(Duration, Instant)>,
    /// The peer closed its side: finish writing, then drop.
    eof: bool,
    /// Drop once the output is flushed (after a fatal error line).
    closing: bool,
    dead: bool,
    /// The most output this client held at any moment since the server
    /// last looked (see `Server::output_peak`).
    output_peak: usize,
}

impl Client {
    fn new(stream: UnixStream, now: Instant) -> Client {
        Client {
            stream,
            input: LineSplitter::default(),
            requests: VecDeque::new(),
            output: Vec::new(),
            written: 0,
            input_progress: now,
            output_progress: now,
            active: now,
            subscription: None,
            eof: false,
            closing: false,
            dead: false,
            output_peak: 0,
        }
    }

    fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Whether the client is read: not after EOF or a fatal error, and not
    /// while requests already read wait for their answers.
    fn reading(&self) -> bool {
        !self.eof && !self.closing && self.requests.is_empty()
    }

    /// Queues `response`, or drops the client if that would hold more than
    /// `max_output` bytes for it.
    fn queue(&mut self, response: &Response, now: Instant, max_output: usize) {
        if self.pending() == 0 {
            self.output.clear();
            self.written = 0;
            self.output_progress = now;
        }
        let line = response.to_line();
        if self.pending() + line.len() > max_output {
            self.dead = true;
            return;
        }
        self.output.extend_from_slice(&line);
        self.output_peak = self.output_peak.max(self.pending());
    }

    /// Writes what is pending, then answers the waiting requests in order
    /// while the socket takes each answer whole (see the module docs).
    fn serve(&mut self, now: Instant, started_at_unix_ns: u64, max_output: usize) {
        loop {
            self.flush(now);
            if self.dead || self.pending() > 0 {
                return;
            }
            let Some(line) = self.requests.pop_front() else {
                return;
            };
            if self.requests.is_empty() {
                // Reading resumes: a half-sent line's stall clock starts now.
                self.input_progress = now;
            }
            serve_line(self, &line, now, started_at_unix_ns, max_output);
        }
    }

    fn flush(&mut self, now: Instant) {
        while self.pending() > 0 {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.written += n;
                    self.output_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }

    /// Reads what is there (at most [`READ_BUDGET`] bytes) and queues the
    /// complete lines as requests. Each read goes through the splitter at
    /// once, which bounds what is buffered (see `lines`); after an oversize
    /// line the client is closing and is not read again.
    fn read(&mut self, now: Instant) {
        let mut buf = [0u8; READ_CHUNK];
        let mut lines = Vec::new();
        let mut taken = 0;
        while taken <= READ_BUDGET {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    taken += n;
                    self.input_progress = now;
                    if self.input.push(&buf[..n], &mut lines) {
                        self.closing = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        self.requests.extend(lines);
    }
}

/// See the module docs. `turn` is one iteration of the loop; tests drive it
/// directly with clients on socketpairs.
pub(crate) struct Server {
    socket: Option<Socket>,
    clients: Vec<Client>,
    next_socket_check: Instant,
    started_at_unix_ns: u64,
    /// Output one client may hold ([`MAX_OUTPUT`]; tests lower it).
    max_output: usize,
    /// The most output any client held at any moment, dropped clients
    /// included, since tests last took it.
    output_peak: usize,
}

impl Server {
    pub(crate) fn new(socket: Option<Socket>) -> Server {
        Server {
            socket,
            clients: Vec::new(),
            next_socket_check: Instant::now() + SOCKET_CHECK,
            started_at_unix_ns: stats::unix_now_ns(),
            max_output: MAX_OUTPUT,
            output_peak: 0,
        }
    }

    /// A server without a socket whose clients may hold at most
    /// `max_output` bytes of output (tests and fuzzers).
    #[cfg(test)]
    pub(crate) fn with_max_output(max_output: usize) -> Server {
        Server {
            max_output,
            ..Server::new(None)
        }
    }

    /// The most output any client held at any moment since the last call,
    /// within turns included and clients dropped since included (tests
    /// and fuzzers).
    #[cfg(test)]
    pub(crate) fn take_output_peak(&mut self) -> usize {
        std::mem::take(&mut self.output_peak)
    }

    /// Serves `stream` as if it had connected (tests and fuzzers).
    #[cfg(test)]
    pub(crate) fn add_client(&mut self, stream: UnixStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        self.admit(stream, Instant::now());
        Ok(())
    }

    /// Clients connected now.
    #[cfg(test)]
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// What each client holds in memory now (tests and fuzzers).
    #[cfg(test)]
    pub(crate) fn client_buffers(&self) -> Vec<ClientBuffers> {
        self.clients
            .iter()
            .map(|c| ClientBuffers {
                input: c.input.buffered(),
                input_allocated: c.input.allocated(),
                output_pending: c.pending(),
            })
            .collect()
    }

    /// Waits up to `max_wait` for activity and serves it.
    pub(crate) fn turn(&mut self, max_wait: Duration) {
        let now = Instant::now();
        if now >= self.next_socket_check {
            self.next_socket_check = now + SOCKET_CHECK;
            if let Some(s) = &mut self.socket {
                s.check();
            }
        }
        let wait = self
            .clients
            .iter()
            .filter_map(|c| {
                c.subscription
                    .map(|(_, due)| due.saturating_duration_since(now))
            })
            .fold(max_wait, Duration::min);
        let mut fds = Vec::with_capacity(self.clients.len() + 1);
        if let Some(s) = &self.socket {
            fds.push(libc::pollfd {
                fd: s.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let base = fds.len();
        for c in &self.clients {
            let mut events = 0;
            if c.reading() {
                events |= libc::POLLIN;
            }
            if c.pending() > 0 {
                events |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        let timeout_ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs that
        // outlives the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        let now = Instant::now();
        if ready > 0 {
            if base == 1 && fds[0].revents != 0 {
                self.accept(now);
            }
            for (i, fd) in fds[base..].iter().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                let c = &mut self.clients[i];
                if c.reading() && fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    c.read(now);
                }
                c.serve(now, self.started_at_unix_ns, self.max_output);
            }
        }
        self.upkeep(now);
    }

    fn accept(&mut self, now: Instant) {
        loop {
            let Some(s) = &self.socket else { return };
            match s.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.admit(stream, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock, or a transient accept error (EMFILE…): the
                // listener stays readable and is retried next turn.
                Err(_) => return,
            }
        }
    }

    /// Checks a new peer before reading anything from it.
    fn admit(&mut self, mut stream: UnixStream, now: Instant) {
        if !peer_allowed(&stream) {
            let _ = stream.write(
                &Response::error(
                    "permission_denied",
                    "this socket serves only its own user (and root)",
                )
                .to_line(),
            );
            return;
        }
        if self.clients.len() >= MAX_CLIENTS {
            let _ = stream.write(
                &Response::error(
                    "busy",
                    format!("{MAX_CLIENTS} clients are attached already; try again later"),
                )
                .to_line(),
            );
            return;
        }
        self.clients.push(Client::new(stream, now));
    }

    /// Subscriptions due, deadlines, and dropping the dead.
    fn upkeep(&mut self, now: Instant) {
        for c in &mut self.clients {
            if let Some((interval, due)) = c.subscription
                && now >= due
                && c.pending() == 0
                && c.requests.is_empty()
            {
                c.queue(&snapshot_response(), now, self.max_output);
                c.subscription = Some((interval, now + interval));
                c.flush(now);
            }
            // Input stalls only while we read: waiting requests mean we
            // are the ones not reading.
            let stalled_in =
                c.requests.is_empty() && c.input.buffered() > 0 && now - c.input_progress > STALL;
            let stalled_out = c.pending() > 0 && now - c.output_progress > STALL;
            let idle = c.subscription.is_none()
                && c.input.buffered() == 0
                && c.requests.is_empty()
                && c.pending() == 0
                && now - c.active > IDLE;
            let finished = (c.eof || c.closing) && c.requests.is_empty() && c.pending() == 0;
            if stalled_in || stalled_out || idle || finished {
                c.dead = true;
            }
            self.output_peak = self.output_peak.max(std::mem::take(&mut c.output_peak));
        }
        self.clients.retain(|c| !c.dead);
    }
}

/// True for a peer of our own uid, or root.
fn peer_allowed(stream: &UnixStream) -> bool {
    let own = own_uid();
    peer_uid(stream).is_some_and(|uid| uid == own || uid == 0)
}

/// The uid of the process at the other end of `stream`, from
/// `SO_PEERCRED`; `None` when the kernel does not say.
#[cfg(target_os = "linux")]
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    // SAFETY: all-zero is a valid ucred.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// The effective uid of the process at the other end of `stream`, from
/// `getpeereid` (macOS and the BSDs have no `SO_PEERCRED`); `None` when
/// the kernel does not say.
#[cfg(not(target_os = "linux"))]
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let (mut uid, mut gid): (libc::uid_t, libc::gid_t) = (0, 0);
    // SAFETY: getpeereid writes one uid and one gid into the live locals.
    let rc = unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// Answers one request line.
fn serve_line(
    c: &mut Client,
    line: &[u8],
    now: Instant,
    started_at_unix_ns: u64,
    max_output: usize,
) {
    c.active = now;
    let answer = answer(line, started_at_unix_ns);
    match answer.subscription {
        Subscribe::Keep => {}
        Subscribe::Stop => c.subscription = None,
        Subscribe::Start(interval) => c.subscription = Some((interval, now + interval)),
    }
    if let Some(response) = &answer.response {
        c.queue(response, now, max_output);
    }
    if answer.close {
        c.closing = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::wire::Hello;
    use std::io::{BufRead, BufReader};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Runs `server` in a thread until the returned guard stops it.
    struct Running {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<Server>>,
    }

    impl Running {
        fn start(mut server: Server) -> Running {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    server.turn(Duration::from_millis(10));
                }
                server
            });
            Running {
                stop,
                thread: Some(thread),
            }
        }

        fn stop(mut self) -> Server {
            self.stop.store(true, Ordering::SeqCst);
            self.thread.take().unwrap().join().expect("server thread")
        }
    }

    fn pair(server: &mut Server) -> (UnixStream, BufReader<UnixStream>) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        server.add_client(theirs).unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let reader = BufReader::new(ours.try_clone().unwrap());
        (ours, reader)
    }

    fn ask(w: &mut UnixStream, r: &mut BufReader<UnixStream>, line: &str) -> Response {
        w.write_all(line.as_bytes()).unwrap();
        let mut out = String::new();
        r.read_line(&mut out).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    }

    fn error_code(r: &Response) -> &str {
        match r {
            Response::Error { error, .. } => error,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn eof_within(r: &mut BufReader<UnixStream>, limit: Duration) -> bool {
        let start = Instant::now();
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) => return start.elapsed() <= limit,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    #[test]
    fn every_bad_request_gets_an_error_line_and_the_client_stays() {
        let mut server = Server::new(None);
        let (mut w, mut r) = pair(&mut server);
        let running = Running::start(server);
        for (line, code) in [
            ("garbage\n", "bad_request"),
            ("{\"cmd\":\"launch_missiles\"}\n", "bad_request"),
            ("{\"cmd\":\"snapshot\",\"v\":99}\n", "unsupported_version"),
            ("{\"cmd\":\"subscribe\"}\n", "bad_request"),
            ("[]\n", "bad_request"),
            ("\u{0}\u{1}\u{2}\n", "bad_request"),
        ] {
            assert_eq!(error_code(&ask(&mut w, &mut r, line)), code, "{line:?}");
        }
        // Still served after all that.
        assert!(matches!(
            ask(&mut w, &mut r, "{\"cmd\":\"snapshot\",\"v\":1}\n"),
            Response::Snapshot { .. }
        ));
        assert!(matches!(
            ask(&mut w, &mut r, "{\"cmd\":\"hello\"}\n"),
            Response::Hello(Hello {
                protocol_version: 1,
                ..
            })
        ));
        assert!(matches!(
            ask(
                &mut w,
                &mut r,
                "{\"cmd\":\"ops\",\"min_age_ms\":0,\"limit\":5}\n"
            ),
            Response::Ops { min_age_ms: 0, .. }
        ));
        running.stop();
    }

    #[test]
    fn an_oversize_line_is_refused_and_closed_while_others_are_served() {
        let mut server = Server::new(None);
        let (mut big, mut big_r) = pair(&mut server);
        let (mut ok, mut ok_r) = pair(&mut server);
        let running = Running::start(server);
        let mut line = vec![b' '; MAX_REQUEST_LINE + 10];
        line.push(b'\n');
        big.write_all(&line).unwrap();
        let mut out = String::new();
        big_r.read_line(&mut out).unwrap();
        let resp: Response = serde_json::from_str(&out).unwrap();
        assert_eq!(error_code(&resp), "oversize");
        assert!(
            eof_within(&mut big_r, Duration::from_secs(2)),
            "closed after oversize"
        );
        assert!(matches!(
            ask(&mut ok, &mut ok_r, "{\"cmd\":\"snapshot\"}\n"),
            Response::Snapshot { .. }
        ));
        let server = running.stop();
        assert_eq!(
            server.client_count(),
            1,
            "only the well-behaved client is left"
        );
    }

    #[test]
    fn a_line_that_never_ends_is_cut_at_the_limit() {
        let mut server = Server::new(None);
        let (mut w, mut r) = pair(&mut server);
        let running = Running::start(server);
        w.write_all(&vec![b'x'; MAX_REQUEST_LINE + 100]).unwrap();
        let mut out = String::new();
        r.read_line(&mut out).unwrap();
        let resp: Response = serde_json::from_str(&out).unwrap();
        assert_eq!(error_code(&resp), "oversize");
        assert!(eof_within(&mut r, Duration::from_secs(2)));
        assert_eq!(running.stop().client_count(), 0);
    }

    #[test]
    fn half_sent_then_gone_and_stalled_senders_are_dropped() {
        let mut server = Server::new(None);
        let (mut gone, gone_r) = pair(&mut server);
        let (mut slow, mut slow_r) = pair(&mut server);
        let running = Running::start(server);
        gone.write_all(b"{\"cmd\":\"snap").unwrap();
        drop((gone, gone_r));
        slow.write_all(b"{\"cmd\":").unwrap();
        // Nothing more for over a second: dropped at the STALL deadline.
        assert!(
            eof_within(&mut slow_r, STALL + Duration::from_secs(2)),
            "a client stalled mid-request must be dropped"
        );
        let server = running.stop();
        assert_eq!(server.client_count(), 0);
    }

    #[test]
    fn a_client_that_never_reads_is_dropped() {
        let mut server = Server::new(None);
        let (mut w, _r) = pair(&mut server);
        let running = Running::start(server);
        // Ask for far more than the socket buffers hold, never read.
        let many = "{\"cmd\":\"hello\"}\n".repeat(2000);
        let _ = w.write_all(many.as_bytes());
        let deadline = Instant::now() + STALL + Duration::from_secs(5);
        let server = loop {
            std::thread::sleep(Duration::from_millis(200));
            if Instant::now() > deadline {
                break running.stop();
            }
        };
        assert_eq!(server.client_count(), 0, "the non-reader must be gone");
    }

    #[test]
    fn subscriptions_stream_snapshots_until_another_request() {
        let mut server = Server::new(None);
        let (mut w, mut r) = pair(&mut server);
        let running = Running::start(server);
        w.write_all(b"{\"cmd\":\"subscribe\",\"interval_ms\":50}\n")
            .unwrap();
        let start = Instant::now();
        let mut line = String::new();
        for _ in 0..4 {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("{\"type\":\"snapshot\""), "{line}");
        }
        assert!(
            start.elapsed() >= Duration::from_millis(140),
            "paced by the interval"
        );
        // Another request ends the stream: its answer is the next line
        // once any snapshot already in flight is read.
        w.write_all(b"{\"cmd\":\"hello\"}\n").unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line.starts_with("{\"type\":\"hello\"") {
                break;
            }
        }
        running.stop();
    }

    #[test]
    fn pipelined_snapshots_never_take_more_than_the_output_cap() {
        // Hundreds of snapshots asked in one write: one turn reads them all.
        // The cap holds a few answers, far fewer than were asked for.
        let one = snapshot_response().to_line().len();
        let cap = (16 << 10).max(4 * one);
        let asked = 600;
        let request = "{\"cmd\":\"snapshot\"}\n";
        assert!(asked * request.len() <= READ_BUDGET + READ_CHUNK);
        assert!(asked * one > 2 * cap);
        let mut server = Server::with_max_output(cap);
        let (mut w, r) = pair(&mut server);
        w.write_all(request.repeat(asked).as_bytes()).unwrap();
        // The client reads nothing for a while; the cap holds in every turn.
        for turn in 0..20 {
            server.turn(Duration::ZERO);
            let peak = server.take_output_peak();
            assert!(peak <= cap, "turn {turn}: {peak} bytes held, cap {cap}");
        }
        // Then it reads: every request is answered, in order, and it stays.
        let running = Running::start(server);
        let mut r = r;
        for i in 0..asked {
            let mut line = String::new();
            r.read_line(&mut line)
                .unwrap_or_else(|e| panic!("answer {i} of {asked}: {e}"));
            assert!(
                line.starts_with("{\"type\":\"snapshot\""),
                "answer {i} of {asked}: {line:?}"
            );
        }
        let mut server = running.stop();
        assert!(server.take_output_peak() <= cap);
        assert_eq!(server.client_count(), 1, "a reading client is not dropped");
    }

    #[test]
    fn clients_past_the_limit_get_busy_and_are_closed() {
        let mut server = Server::new(None);
        let kept: Vec<_> = (0..MAX_CLIENTS).map(|_| pair(&mut server)).collect();
        let (_w, mut r) = pair(&mut server);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let resp: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(error_code(&resp), "busy");
        assert!(eof_within(&mut r, Duration::from_secs(1)));
        assert_eq!(server.client_count(), MAX_CLIENTS);
        drop(kept);
    }
}
