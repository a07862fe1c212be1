//! The server's tests: clients on socketpairs, the loop on its own thread
//! (or turned by hand), every bound of the module docs exercised.

use super::*;
use crate::inspect::lines::READ_CHUNK;
use crate::inspect::wire::{Hello, PROTOCOL_VERSION};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

/// Runs `server` in a thread until the returned guard stops it.
struct Running {
    stop: Stop,
    thread: Option<std::thread::JoinHandle<Server>>,
}

impl Running {
    fn start(mut server: Server) -> Running {
        let stop = server.stop_handle();
        let thread = std::thread::spawn(move || {
            server.run();
            server
        });
        Running {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Server {
        self.stop.stop();
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
    let mut server = Server::new(None).expect("poll");
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
            protocol_version: PROTOCOL_VERSION,
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
    let mut server = Server::new(None).expect("poll");
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
    let mut server = Server::new(None).expect("poll");
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
    let mut server = Server::new(None).expect("poll");
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
    let mut server = Server::new(None).expect("poll");
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
    let mut server = Server::new(None).expect("poll");
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
    let mut server = Server::new(None).expect("poll");
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
