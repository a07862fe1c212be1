//! The `/metrics` listener: one accept thread, one short-lived thread per
//! admitted scrape (at most `max_scrapes` at once), and one thread that
//! answers the rest with 503.
//!
//! ```text
//!  accept ──┬─ slot free ──▶ scrape thread: read head ─▶ render ─▶ respond ─▶ close
//!           └─ all taken ──▶ reject queue (16) ─▶ reject thread: read head ─▶ 503
//!                            (queue full: closed at once)
//! ```
//!
//! A thread per scrape rather than a pool: scrapes come a few times a
//! minute per scraper, so spawning costs nothing that matters, and a
//! counted slot admits exactly `max_scrapes` (a rendezvous channel to a
//! pool would refuse spuriously while a pool thread is between jobs).
//! Every connection has two deadlines from accept: `request_timeout` for
//! its request head (a scraper sends it at once; a connection that sends
//! nothing gets 408 there and frees its slot), and `scrape_timeout` for
//! the whole exchange (a slow reader is dropped there). A timeout too
//! large for the clock means no deadline, never an overflow.
//!
//! Rejected: taking the slot only once the head is read. An idle
//! connection would then hold no slot, but each would still need a
//! thread and a bound of its own until its head came; the request
//! deadline bounds the same thing with the one limit there is.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Error;
use crate::http::{self, Route, Status};

/// Renders the body of a scrape into the string it is given.
pub(crate) type RenderFn = dyn Fn(&mut String) + Send + Sync;

/// Connections waiting for their 503 before new ones are closed unanswered.
const REJECT_QUEUE: usize = 16;

/// How long a rejected or failed request may take to arrive and to read
/// its answer: short, since its only purpose is a clean error response.
const ERROR_GRACE: Duration = Duration::from_secs(1);

/// Limits of the listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) scrape_timeout: Duration,
    /// For the request head; `scrape_timeout` when that is shorter.
    pub(crate) request_timeout: Duration,
    pub(crate) max_scrapes: usize,
}

/// A running listener; dropping it stops accepting (scrapes in progress
/// finish by their deadline).
pub(crate) struct Server {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `listener`.
    pub(crate) fn start(
        listener: TcpListener,
        limits: Limits,
        render: Arc<RenderFn>,
    ) -> Result<Server, Error> {
        let spawn_err = |what| move |source| Error::Spawn { what, source };
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: "the bound socket".into(),
            source,
        })?;
        let (reject_tx, reject_rx) = std::sync::mpsc::sync_channel(REJECT_QUEUE);
        let reject_grace = ERROR_GRACE.min(limits.request_timeout);
        std::thread::Builder::new()
            .name("ringline-exporter-reject".into())
            .spawn(move || reject_all(reject_rx, reject_grace))
            .map_err(spawn_err("reject"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accept_stop = stop.clone();
        let acceptor = std::thread::Builder::new()
            .name("ringline-exporter-accept".into())
            .spawn(move || accept_all(listener, limits, render, reject_tx, &accept_stop))
            .map_err(spawn_err("accept"))?;
        Ok(Server {
            local_addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking `accept` with a connection of our own; joining
        // only when that worked, so a drop never hangs.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, ERROR_GRACE).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
    }
}

fn accept_all(
    listener: TcpListener,
    limits: Limits,
    render: Arc<RenderFn>,
    reject: SyncSender<TcpStream>,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let stream = match conn {
            Ok(stream) => stream,
            // Out of descriptors or the like: back off instead of spinning.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let now = Instant::now();
        let deadlines = Deadlines {
            request: deadline_after(now, limits.request_timeout.min(limits.scrape_timeout)),
            scrape: deadline_after(now, limits.scrape_timeout),
        };
        let Some(slot) = Slot::take(&active, limits.max_scrapes) else {
            // Full queue: closed unanswered, the scraper sees a failed scrape.
            let _ = reject.try_send(stream);
            continue;
        };
        let render = render.clone();
        // A failed spawn drops the connection and the slot with the closure.
        let _ = std::thread::Builder::new()
            .name("ringline-exporter-scrape".into())
            .spawn(move || {
                serve_one(stream, deadlines, &*render);
                drop(slot);
            });
    }
}

/// `now + after`, or as far past `now` as the clock goes when that
/// overflows (`Duration::MAX` and the like mean no deadline).
fn deadline_after(now: Instant, mut after: Duration) -> Instant {
    loop {
        if let Some(deadline) = now.checked_add(after) {
            return deadline;
        }
        after /= 2;
    }
}

/// When a connection's request must have arrived, and its response been
/// read.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    request: Instant,
    scrape: Instant,
}

/// One admitted connection, start to close.
fn serve_one(mut stream: TcpStream, deadlines: Deadlines, render: &RenderFn) {
    let deadline = deadlines.scrape;
    let Ok(route) = http::read_request(&mut stream, deadlines.request) else {
        return; // the client left
    };
    match route {
        Route::Metrics { head_only } => {
            let mut body = String::with_capacity(64 * 1024);
            render(&mut body);
            let _ = http::respond(
                &mut stream,
                Status::Ok,
                body.as_bytes(),
                head_only,
                deadline,
            );
        }
        Route::Error(Status::RequestTimeout) => {
            // Past the deadline: one best-effort try, then drop the client.
            let grace = Instant::now() + Duration::from_millis(100);
            let _ = http::respond(&mut stream, Status::RequestTimeout, b"", false, grace);
        }
        Route::Error(status) => {
            let grace = Instant::now() + ERROR_GRACE;
            let _ = http::respond(&mut stream, status, b"", false, grace);
            linger(&mut stream, grace);
        }
    }
}

/// After an error response, reads what the client still sends (a POST
/// body, the rest of an oversized head) until it closes or `until`:
/// closing with unread input makes the kernel send a reset, which can
/// destroy the response before the client reads it.
fn linger(stream: &mut TcpStream, until: Instant) {
    use std::io::Read;
    let mut sink = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Answers every connection it receives with 503, until the acceptor
/// leaves; each may take `grace` to send its request and again to read
/// the answer.
fn reject_all(queue: Receiver<TcpStream>, grace: Duration) {
    for mut stream in queue {
        let deadline = Instant::now() + grace;
        // Read the request first, for the same reason as `linger`.
        if http::read_request(&mut stream, deadline).is_ok() {
            let grace = Instant::now() + grace;
            let _ = http::respond(&mut stream, Status::Unavailable, b"", false, grace);
        }
    }
}

/// One of `max_scrapes` admissions, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        // Only the accept thread takes slots; scrape threads give them back.
        let taken = active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| Slot(active.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Builder;
    use crate::endpoint::DEFAULT_REQUEST_TIMEOUT;
    use std::io::{Read, Write};

    /// A response as the client saw it.
    #[derive(Debug)]
    struct Reply {
        status: u16,
        head: String,
        body: Vec<u8>,
    }

    /// Sends `raw` on a new connection and reads until the server closes.
    fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw).expect("send");
        read_reply(&mut s)
    }

    fn read_reply(s: &mut TcpStream) -> Reply {
        let mut all = Vec::new();
        s.read_to_end(&mut all)
            .expect("read until the server closes");
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        let head = String::from_utf8(all[..end].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        Reply {
            status,
            head,
            body: all[end + 4..].to_vec(),
        }
    }

    fn fixed(body: &'static str) -> impl Fn(&mut String) + Send + Sync + 'static {
        move |out: &mut String| out.push_str(body)
    }

    #[test]
    fn routes_over_tcp() {
        let e = Builder::new()
            .port(0)
            .serve_with(fixed("test_up 1\n"))
            .unwrap();
        let addr = e.local_addr();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (ok.status, &ok.body[..]),
            (200, &b"test_up 1\n"[..]),
            "{ok:?}"
        );
        assert!(
            ok.head
                .contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n")
        );
        assert!(ok.head.contains("\r\nContent-Length: 10\r\n"), "{ok:?}");
        assert!(ok.head.contains("\r\nConnection: close"), "{ok:?}");
        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!((head.status, head.body.len()), (200, 0), "{head:?}");
        assert!(head.head.contains("Content-Length: 10"), "{head:?}");
        let query = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\n\n");
        assert_eq!(query.status, 200, "{query:?}");

        let other = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n");
        assert_eq!(other.status, 404, "{other:?}");
        assert_eq!(other.body, b"not found: metrics are at /metrics\n");
        let post = exchange(
            addr,
            b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert_eq!(post.status, 405, "{post:?}");
        assert!(post.head.contains("\r\nAllow: GET, HEAD"), "{post:?}");
        for garbage in [
            &b"hello\r\n\r\n"[..],
            b"\x16\x03\x01\x00\xa5\n\n",
            b"GET /metrics\r\n\r\n",
        ] {
            let bad = exchange(addr, garbage);
            assert_eq!(bad.status, 400, "{garbage:?}: {bad:?}");
        }
        let mut big = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
        big.resize(crate::http::MAX_HEAD + 1000, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        let oversize = exchange(addr, &big);
        assert_eq!(oversize.status, 431, "{oversize:?}");
        // A head that just fits is served.
        let mut fits = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
        fits.resize(crate::http::MAX_HEAD - 4, b'a');
        fits.extend_from_slice(b"\r\n\r\n");
        assert_eq!(exchange(addr, &fits).status, 200);
    }

    #[test]
    fn scrapes_past_the_limit_get_503() {
        let e = Builder::new()
            .port(0)
            .max_scrapes(1)
            .scrape_timeout(Duration::from_secs(30))
            .serve_with(fixed("test_up 1\n"))
            .unwrap();
        let addr = e.local_addr();
        // Holds the only slot: connected, silent (accepted first: FIFO).
        let holder = TcpStream::connect(addr).unwrap();
        let busy = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(busy.status, 503, "{busy:?}");
        assert!(busy.head.contains("\r\nRetry-After: 1"), "{busy:?}");
        assert_eq!(busy.body, b"too many concurrent scrapes: retry later\n");
        drop(holder);
        let served = eventually(|| {
            let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
            (r.status == 200).then_some(r)
        });
        assert_eq!(served.body, b"test_up 1\n", "the slot came back");
    }

    #[test]
    fn slow_clients_are_dropped_at_their_deadline() {
        let timeout = Duration::from_millis(300);
        let e = Builder::new()
            .port(0)
            .max_scrapes(1)
            .scrape_timeout(timeout)
            .serve_with(|out: &mut String| out.push_str(&"x".repeat(16 << 20)))
            .unwrap();
        let addr = e.local_addr();

        // A request that never completes: 408 at the deadline, then closed.
        let start = Instant::now();
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        slow.write_all(b"GET /metr").unwrap();
        let reply = read_reply(&mut slow);
        let took = start.elapsed();
        assert_eq!(reply.status, 408, "{reply:?}");
        assert!(
            took >= timeout,
            "dropped after {took:?}, before its deadline"
        );
        assert!(took < Duration::from_secs(5), "dropped only after {took:?}");

        // A reader that does not read: the 16 MiB body cannot fit in the
        // socket buffers, so the server gives up at the deadline.
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stalled.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(timeout * 3);
        let mut got = Vec::new();
        let _ = stalled.read_to_end(&mut got); // EOF or reset once drained
        assert!(
            got.len() < 16 << 20,
            "the whole body arrived to a stalled reader"
        );

        // Both slots were given back: a prompt reader gets everything.
        let full = eventually(|| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
            let r = read_reply(&mut s);
            (r.status == 200).then_some(r)
        });
        assert_eq!(full.body.len(), 16 << 20);
    }

    #[test]
    fn huge_scrape_timeouts_mean_no_deadline_not_a_panic() {
        for timeout in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_millis(u64::MAX),
            Duration::from_secs(1 << 40),
        ] {
            let e = Builder::new()
                .port(0)
                .scrape_timeout(timeout)
                .serve_with(fixed("test_up 1\n"))
                .unwrap();
            // Twice: the accept thread is still there after the first.
            for _ in 0..2 {
                let ok = exchange(e.local_addr(), b"GET /metrics HTTP/1.1\r\n\r\n");
                assert_eq!(
                    (ok.status, &ok.body[..]),
                    (200, &b"test_up 1\n"[..]),
                    "{timeout:?}"
                );
            }
        }
    }

    #[test]
    fn idle_connections_hold_the_scrape_slots_only_until_the_request_deadline() {
        // A long scrape timeout: only the request deadline frees the slots.
        let e = Builder::new()
            .port(0)
            .max_scrapes(2)
            .scrape_timeout(Duration::from_secs(60))
            .serve_with(fixed("test_up 1\n"))
            .unwrap();
        let addr = e.local_addr();
        let start = Instant::now();
        // Connected, silent, accepted first (FIFO): they take both slots.
        let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let bound = DEFAULT_REQUEST_TIMEOUT + Duration::from_secs(3);
        let (mut refused, mut served) = (0, None);
        while served.is_none() {
            assert!(
                start.elapsed() < bound,
                "no scrape served within {bound:?} while idle connections held the slots \
                 ({refused} refused)"
            );
            let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
            match r.status {
                200 => served = Some(r),
                503 => refused += 1,
                other => panic!("unexpected {other}: {r:?}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(served.unwrap().body, b"test_up 1\n");
        // The idle ones were told why, and closed.
        for s in &mut idle {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert_eq!(read_reply(s).status, 408);
        }
    }

    #[test]
    fn stops_accepting_when_dropped() {
        let e = Builder::new().port(0).serve_with(fixed("")).unwrap();
        let addr = e.local_addr();
        assert_eq!(exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").status, 200);
        e.shutdown();
        let refused = TcpStream::connect(addr).map(|_| ());
        assert_eq!(
            refused.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
    }

    /// Polls `f` for up to 5 s.
    fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < until, "condition not met within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn slots_admit_exactly_max() {
        let active = Arc::new(AtomicUsize::new(0));
        let a = Slot::take(&active, 2).expect("first");
        let b = Slot::take(&active, 2).expect("second");
        assert!(Slot::take(&active, 2).is_none(), "third refused");
        drop(a);
        let c = Slot::take(&active, 2).expect("a slot came back");
        drop((b, c));
        assert_eq!(active.load(Ordering::Acquire), 0);
    }
}
