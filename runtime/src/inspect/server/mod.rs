//! The inspect server: one thread per process, serving every runtime's
//! stats on a unix socket, never touching a worker.
//!
//! It only reads `stats::snapshot()` (lock-free counters and seqlock
//! records), so it answers while every worker is wedged, and nothing it
//! does can make a worker wait. Clients are bounded in number, line length,
//! buffered output and patience:
//!
//! - a peer of another uid (root excepted) is refused before anything is
//!   read (`SO_PEERCRED`; `getpeereid` on macOS and the BSDs);
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
//!
//! The loop waits in a `mio::Poll` (epoll, kqueue). Readiness is
//! edge-triggered there, so what an edge announced is remembered until a
//! call says `WouldBlock`: a client not read to the end (its read budget
//! spent, or requests waiting for their answers) stays readable for the
//! next turn, as does a listener whose accept failed for want of a
//! descriptor. The process's server runs until exit; servers that tests
//! and the fuzzer start end at once when their `Stop` asks (a
//! [`mio::Waker`] ends the wait).
//!
//! | file        | job                                                          |
//! |-------------|--------------------------------------------------------------|
//! | `mod.rs`    | the loop: one `turn` (wait, accept, read, answer, upkeep)     |
//! | `socket.rs` | the listening socket and its file, re-created and removed     |
//! | `accept.rs` | accepting, and the peer check before anything is read         |
//! | `client.rs` | one client: its line buffer, its requests, its output         |

mod accept;
mod client;
mod socket;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::OnceLock;
#[cfg(test)]
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use self::client::Client;
pub(crate) use self::socket::Socket;
use super::answer::snapshot_response;
use super::wire::{MAX_REQUEST_LINE, Response};
use crate::stats;
use ringline_schema::inspect::socket_dir;

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
/// Longest wait in `poll`, so deadlines are checked often enough.
const POLL_TICK: Duration = Duration::from_millis(100);

/// The listening socket's token.
const LISTENER: Token = Token(0);
/// The waker's token.
const WAKER: Token = Token(1);
/// The first client token; each client gets a new one, never reused.
const FIRST_CLIENT: usize = 2;

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
    match Server::new(Some(socket)) {
        // Nobody stops the process's server: it serves until exit.
        Ok(mut server) => server.run(),
        Err(e) => eprintln!("ringline: inspection disabled: cannot set up its poll: {e}"),
    }
}

/// Ends a [`Server::run`] from another thread, at once (tests and fuzzers).
#[cfg(test)]
#[derive(Clone)]
pub(crate) struct Stop {
    stopped: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

#[cfg(test)]
impl Stop {
    /// Asks the loop to end, and wakes it to see the request.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        // A failed wake leaves the loop to notice at its next tick.
        let _ = self.waker.wake();
    }
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

/// See the module docs. `turn` is one iteration of the loop; tests drive it
/// directly with clients on socketpairs.
pub(crate) struct Server {
    socket: Option<Socket>,
    /// The listener had a connection waiting when last seen (see the
    /// module docs).
    listener_ready: bool,
    clients: Vec<Client>,
    next_token: usize,
    poll: Poll,
    events: Events,
    #[cfg(test)]
    stop: Stop,
    next_socket_check: Instant,
    started_at_unix_ns: u64,
    /// Output one client may hold ([`MAX_OUTPUT`]; tests lower it).
    max_output: usize,
    /// The most output any client held at any moment, dropped clients
    /// included, since tests last took it.
    output_peak: usize,
}

impl Server {
    pub(crate) fn new(socket: Option<Socket>) -> io::Result<Server> {
        let poll = Poll::new()?;
        #[cfg(test)]
        let stop = Stop {
            stopped: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(mio::Waker::new(poll.registry(), WAKER)?),
        };
        let mut server = Server {
            socket,
            listener_ready: false,
            clients: Vec::new(),
            next_token: FIRST_CLIENT,
            poll,
            events: Events::with_capacity(MAX_CLIENTS + 2),
            #[cfg(test)]
            stop,
            next_socket_check: Instant::now() + SOCKET_CHECK,
            started_at_unix_ns: stats::unix_now_ns(),
            max_output: MAX_OUTPUT,
            output_peak: 0,
        };
        if let Some(s) = &mut server.socket {
            s.register(server.poll.registry(), LISTENER)?;
            // Connections may have queued before the registration.
            server.listener_ready = true;
        }
        Ok(server)
    }

    /// A handle that ends [`run`](Self::run) from another thread.
    #[cfg(test)]
    pub(crate) fn stop_handle(&self) -> Stop {
        self.stop.clone()
    }

    /// Turns until stopped: never for the process's server.
    pub(crate) fn run(&mut self) {
        while !self.stopped() {
            self.turn(POLL_TICK);
        }
    }

    #[cfg(not(test))]
    fn stopped(&self) -> bool {
        false
    }

    #[cfg(test)]
    fn stopped(&self) -> bool {
        self.stop.stopped.load(Ordering::Acquire)
    }

    /// A server without a socket whose clients may hold at most
    /// `max_output` bytes of output (tests and fuzzers).
    #[cfg(test)]
    pub(crate) fn with_max_output(max_output: usize) -> Server {
        Server {
            max_output,
            ..Server::new(None).expect("a poll instance for the test server")
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
    pub(crate) fn add_client(&mut self, stream: std::os::unix::net::UnixStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        self.admit(mio::net::UnixStream::from_std(stream), Instant::now());
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
        self.clients.iter().map(Client::buffers).collect()
    }

    /// Waits up to `max_wait` for activity and serves it.
    pub(crate) fn turn(&mut self, max_wait: Duration) {
        let now = Instant::now();
        if now >= self.next_socket_check {
            self.next_socket_check = now + SOCKET_CHECK;
            if let Some(s) = &mut self.socket
                && s.check(self.poll.registry(), LISTENER)
            {
                self.listener_ready = true;
            }
        }
        // A client with bytes left unread is served again at once.
        let wait = if self.clients.iter().any(|c| c.reading() && c.readable) {
            Duration::ZERO
        } else {
            self.clients
                .iter()
                .filter_map(|c| {
                    c.subscription
                        .map(|(_, due)| due.saturating_duration_since(now))
                })
                .fold(max_wait, Duration::min)
        };
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            // A signal, or a transient failure: serve what is known.
            Err(_) => self.events.clear(),
        }
        for event in self.events.iter() {
            let closed = event.is_error() || event.is_read_closed() || event.is_write_closed();
            match event.token() {
                WAKER => {}
                LISTENER => self.listener_ready = true,
                token => {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.token == token) {
                        c.readable |= event.is_readable() || closed;
                    }
                }
            }
        }
        let now = Instant::now();
        if self.listener_ready {
            self.accept(now);
        }
        for c in &mut self.clients {
            if c.reading() && c.readable {
                c.read(now);
            }
            c.serve(now, self.started_at_unix_ns, self.max_output);
        }
        self.upkeep(now);
    }

    /// Starts serving an admitted client (see `accept.rs`).
    fn add(&mut self, mut stream: mio::net::UnixStream, now: Instant) {
        let token = Token(self.next_token);
        self.next_token += 1;
        let registered = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        );
        if registered.is_ok() {
            // Bytes may have arrived before the registration: look once.
            self.clients.push(Client::new(stream, token, now));
        }
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
            c.check_deadlines(now);
            self.output_peak = self.output_peak.max(std::mem::take(&mut c.output_peak));
        }
        let registry = self.poll.registry();
        self.clients.retain_mut(|c| {
            if c.dead {
                let _ = registry.deregister(&mut c.stream);
            }
            !c.dead
        });
    }
}
