//! The structured fuzzer of the inspect server: a live [`Server`] on
//! socketpairs, hit by clients that send seeded-random sequences of
//! requests — valid, mutated JSON, garbage, blank, oversize, endless and
//! partial lines, in random chunks with pauses — and end by half-closing,
//! vanishing, stalling mid-line or never reading, while crowds try to get
//! past the client cap and pipeliners ask hundreds of questions in one
//! write. Every persisted `cargo fuzz` corpus file is
//! replayed too, through the pure decoder and through the live server.
//!
//! Checked throughout: no panic (in the server thread or anywhere); every
//! client that ends properly gets exactly the responses the protocol
//! promises, in order, each one well-formed NDJSON, and is then closed, or
//! gets `busy` and is closed; stalled and non-reading clients are dropped;
//! no client ever holds more than `MAX_REQUEST_LINE` bytes of input after a
//! turn, nor more than the output cap at any moment of a turn (the server
//! runs with [`FUZZ_MAX_OUTPUT`], which a pipeliner's answers to one read
//! exceed many times over); a well-behaved client is answered every time
//! within its deadline; nothing waits without a deadline.
//!
//! It runs for `RINGLINE_FUZZ_SECS` seconds (default 20, CI's budget) from
//! the seed in `RINGLINE_FUZZ_SEED` (default: the clock; printed, so a
//! failure can be replayed), and prints one `RELIABILITY fuzz …` line of
//! figures:
//!
//! ```text
//! RINGLINE_FUZZ_SECS=600 cargo test --release -p ringline --lib structured_fuzz -- --nocapture
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fuzzing::{READ_CHUNK, decode_fuzz_input};
use super::server::{MAX_CLIENTS, STALL, Server};
use super::wire::{MAX_REQUEST_LINE, PROTOCOL_VERSION, Request, Response};

/// Default run time; `RINGLINE_FUZZ_SECS` overrides it.
const DEFAULT_SECS: u64 = 20;
/// Threads running client episodes at once (besides the sentinel).
const CLIENT_THREADS: u64 = 6;
/// How long any one read of a client may wait for the server.
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// How long the sentinel may wait for an answer.
const SENTINEL_DEADLINE: Duration = Duration::from_secs(5);
/// The output cap of the fuzzed server: far above any one answer in this
/// test process (a `hello` is ~2 KiB, a snapshot of the few runtimes other
/// tests launch tens of KiB), far below what one read of pipelined
/// requests asks for (~640 `hello`s, ~1.4 MB), so the cap is exercised
/// without ever refusing an answer the oracle expects.
const FUZZ_MAX_OUTPUT: usize = 256 << 10;

/// xorshift64*: small, seeded, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn upto(&mut self, n: usize) -> usize {
        self.below(n as u64 + 1) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Figures of one run, summed over every client thread.
#[derive(Default)]
struct Figures {
    episodes: AtomicU64,
    lines: AtomicU64,
    bad_lines: AtomicU64,
    bytes: AtomicU64,
    responses: AtomicU64,
    busy: AtomicU64,
    dropped_stalled: AtomicU64,
    dropped_non_readers: AtomicU64,
}

impl Figures {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the server thread saw.
#[derive(Debug, Default)]
struct ServerFigures {
    turns: u64,
    clients_added: u64,
    peak_clients: usize,
    peak_input: usize,
    peak_output: usize,
}

/// The server, turning on its own thread; clients arrive over a channel.
struct Running {
    stop: Arc<AtomicBool>,
    add: mpsc::Sender<UnixStream>,
    thread: JoinHandle<ServerFigures>,
}

impl Running {
    fn start() -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let (add, added) = mpsc::channel::<UnixStream>();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fuzzed-inspect-server".into())
            .spawn(move || serve(&flag, &added))
            .expect("spawn the server thread");
        Running { stop, add, thread }
    }

    /// A client connected to the server: our end.
    fn connect(&self) -> UnixStream {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        self.add.send(theirs).expect("the server thread is alive");
        ours.set_read_timeout(Some(READ_DEADLINE)).expect("timeout");
        ours.set_write_timeout(Some(READ_DEADLINE))
            .expect("timeout");
        ours
    }

    fn stop(self) -> ServerFigures {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.join() {
            Ok(figures) => figures,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

fn serve(stop: &AtomicBool, added: &mpsc::Receiver<UnixStream>) -> ServerFigures {
    let mut server = Server::with_max_output(FUZZ_MAX_OUTPUT);
    let mut f = ServerFigures::default();
    while !stop.load(Ordering::SeqCst) {
        while let Ok(stream) = added.try_recv() {
            server.add_client(stream).expect("set non-blocking");
            f.clients_added += 1;
        }
        server.turn(Duration::from_millis(10));
        f.turns += 1;
        let peak = server.take_output_peak();
        assert!(
            peak <= FUZZ_MAX_OUTPUT,
            "a client held {peak} bytes of output during a turn"
        );
        f.peak_output = f.peak_output.max(peak);
        let buffers = server.client_buffers();
        assert!(buffers.len() <= MAX_CLIENTS, "{} clients", buffers.len());
        f.peak_clients = f.peak_clients.max(buffers.len());
        for b in buffers {
            assert!(b.input <= MAX_REQUEST_LINE, "input buffered: {b:?}");
            assert!(
                b.input_allocated <= 2 * (MAX_REQUEST_LINE + READ_CHUNK),
                "input allocated: {b:?}"
            );
            assert!(b.output_pending <= FUZZ_MAX_OUTPUT, "output pending: {b:?}");
            f.peak_input = f.peak_input.max(b.input);
        }
    }
    f
}

/// What a response line must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Hello,
    Snapshot,
    Ops,
    Subscribed,
    Error(&'static str),
}

/// The responses a stream of bytes must get, worked out from the
/// protocol's rules (not from the server's code): one per non-blank
/// complete line, up to and including the first line over the limit; an
/// unfinished last line gets an answer only once it is over the limit.
fn expected(stream: &[u8]) -> Vec<Expect> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(at) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..=at];
        rest = &rest[at + 1..];
        if line.len() > MAX_REQUEST_LINE {
            out.push(Expect::Error("oversize"));
            return out;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        out.push(match serde_json::from_slice::<Request>(text) {
            Err(_) => Expect::Error("bad_request"),
            Ok(r) if r.version().is_some_and(|v| v != PROTOCOL_VERSION) => {
                Expect::Error("unsupported_version")
            }
            Ok(Request::Hello { .. }) => Expect::Hello,
            Ok(Request::Snapshot { .. }) => Expect::Snapshot,
            Ok(Request::Ops { .. }) => Expect::Ops,
            Ok(Request::Subscribe { .. }) => Expect::Subscribed,
        });
    }
    if rest.len() > MAX_REQUEST_LINE {
        out.push(Expect::Error("oversize"));
    }
    out
}

/// What a client got, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    /// Refused at the cap: `busy`, then closed.
    Busy,
    /// Served: this many response lines, all as expected.
    Served(u64),
}

/// Checks the lines a client read against what it must get. Subscription
/// snapshots may come between answers once a subscribe was served.
fn check_responses(lines: &[Vec<u8>], want: &[Expect]) -> Result<Got, String> {
    let parsed: Vec<Response> = lines
        .iter()
        .map(|l| {
            serde_json::from_slice(l).map_err(|e| {
                format!(
                    "not a JSON response ({e}): {:?}",
                    String::from_utf8_lossy(l)
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if let Some(Response::Error { error, .. }) = parsed.first()
        && error == "busy"
    {
        return if parsed.len() == 1 {
            Ok(Got::Busy)
        } else {
            Err(format!("{} lines after busy", parsed.len() - 1))
        };
    }
    let mut got = parsed.iter();
    let mut subscribed = false;
    for (i, w) in want.iter().enumerate() {
        loop {
            let Some(r) = got.next() else {
                return Err(format!(
                    "response {i} of {} missing ({w:?}); got {} lines",
                    want.len(),
                    lines.len()
                ));
            };
            let ok = match (w, r) {
                (Expect::Hello, Response::Hello(h)) => h.protocol_version == PROTOCOL_VERSION,
                (Expect::Snapshot | Expect::Subscribed, Response::Snapshot { .. }) => true,
                (Expect::Ops, Response::Ops { .. }) => true,
                (Expect::Error(code), Response::Error { error, .. }) => error == code,
                _ => false,
            };
            if ok {
                break;
            }
            if subscribed && matches!(r, Response::Snapshot { .. }) {
                continue;
            }
            return Err(format!("response {i}: want {w:?}, got {r:?}"));
        }
        subscribed |= *w == Expect::Subscribed;
    }
    for extra in got {
        if !(subscribed && matches!(extra, Response::Snapshot { .. })) {
            return Err(format!("unexpected extra response {extra:?}"));
        }
    }
    Ok(Got::Served(parsed.len() as u64))
}

/// A request that parses, with random fields.
fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let v = match rng.below(4) {
        0 => None,
        1 | 2 => Some(PROTOCOL_VERSION),
        _ => Some(rng.below(5) as u32),
    };
    let big = |rng: &mut Rng| match rng.below(4) {
        0 => 0,
        1 => rng.below(5_000),
        2 => u64::MAX - rng.below(3),
        _ => rng.next(),
    };
    let request = match rng.below(4) {
        0 => Request::Hello { v },
        1 => Request::Snapshot { v },
        2 => Request::Ops {
            v,
            min_age_ms: big(rng),
            limit: rng.chance(70).then(|| big(rng) as usize),
        },
        _ => Request::Subscribe {
            v,
            interval_ms: if rng.chance(80) {
                rng.below(120)
            } else {
                big(rng)
            },
        },
    };
    serde_json::to_vec(&request).expect("requests serialize")
}

/// A line a client might send, newline included unless it is the stream's
/// end; the bool says whether it is a bad input.
fn any_line(rng: &mut Rng) -> (Vec<u8>, bool) {
    let mut line = match rng.below(100) {
        0..30 => return (with_newline(valid_request(rng)), false),
        30..60 => {
            let valid = valid_request(rng);
            mutated(rng, valid)
        }
        60..72 => (0..rng.upto(300))
            .map(|_| rng.byte())
            .filter(|&b| b != b'\n')
            .collect(),
        72..78 => {
            let blanks: &[&[u8]] = &[b"", b" ", b"\t \r", b"\r", b"\x0b\x0c"];
            rng.pick(blanks).to_vec()
        }
        78..84 => {
            // Nesting past serde_json's recursion limit, within the line limit.
            let depth = 100 + rng.upto(1900);
            let (open, close) = *rng.pick(&[(b'[', b']'), (b'{', b'}')]);
            let mut v = vec![open; depth];
            v.extend(std::iter::repeat_n(close, depth));
            v
        }
        84..90 => {
            // Numbers no field can hold.
            let digits: String = (0..1 + rng.upto(3000))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let field = rng.pick(&["min_age_ms", "limit", "interval_ms", "v"]);
            let cmd = rng.pick(&["ops", "subscribe", "hello"]);
            let sign = rng.pick(&["", "-", "0.", "1e"]);
            format!("{{\"cmd\":\"{cmd}\",\"{field}\":{sign}{digits}}}").into_bytes()
        }
        90..96 => {
            // Just at, or past, the line limit.
            let len = MAX_REQUEST_LINE - 2 + rng.upto(4) + rng.upto(8) * rng.upto(1000);
            let fill = *rng.pick(b" x{\"");
            vec![fill; len]
        }
        _ => {
            let keys = rng.pick(&[
                "{\"cmd\":\"hello\",\"cmd\":\"snapshot\"}",
                "{\"CMD\":\"hello\"}",
                "{\"cmd\":\"snapshot\",\"v\":null}",
                "{\"cmd\":\"ops\",\"limit\":-1}",
                "{\"cmd\":\"subscribe\",\"interval_ms\":\"10\"}",
                "\u{feff}{\"cmd\":\"hello\"}",
                "{\"cmd\":\"hello\"} {\"cmd\":\"hello\"}",
                "\"hello\"",
                "null",
                "{\"cmd\":\"hel\\u006co\"}",
            ]);
            keys.as_bytes().to_vec()
        }
    };
    line.push(b'\n');
    (line, true)
}

fn with_newline(mut v: Vec<u8>) -> Vec<u8> {
    v.push(b'\n');
    v
}

/// A few random edits of a valid request.
fn mutated(rng: &mut Rng, mut v: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let at = rng.upto(v.len());
        match rng.below(9) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 => v.insert(at, rng.byte()),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => v.truncate(at),
            4 => {
                let piece = v[at..].to_vec();
                v.extend_from_slice(&piece);
            }
            5 => v.insert(at, *rng.pick(&[b'\r', b'\n', 0, 0xff, b'"', b'\\'])),
            6 => {
                let text = *rng.pick(&["\u{1F980}", "\u{0}", "é", "\\ud800", "\\u0000"]);
                v.splice(at..at, text.bytes());
            }
            7 => {
                let text = *rng.pick(&["-1", "1e400", "18446744073709551616", "0.5", "true"]);
                v.splice(at..at, text.bytes());
            }
            _ => {
                v.insert(0, b'[');
                v.push(b']');
            }
        }
    }
    v.retain(|&b| b != b'\n' || rng.chance(50));
    v
}

/// How a client's episode ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Shuts its writing side and reads everything until EOF.
    HalfClose,
    /// Closes without reading.
    Vanish,
    /// Leaves a line unfinished and goes silent: dropped after `STALL`.
    StallMidLine,
}

/// Writes `stream` in random chunks with short pauses (well below `STALL`).
fn write_chunked(rng: &mut Rng, w: &mut UnixStream, stream: &[u8]) -> io::Result<()> {
    let mut rest = stream;
    while !rest.is_empty() {
        let most = if rng.chance(50) { 64 } else { 9000 };
        let n = (1 + rng.upto(most)).min(rest.len());
        w.write_all(&rest[..n])?;
        rest = &rest[n..];
        if rng.chance(1) {
            std::thread::sleep(Duration::from_millis(rng.below(20)));
        }
    }
    Ok(())
}

/// Reads lines until EOF; an error (the deadline) fails the episode.
fn read_all(r: UnixStream) -> JoinHandle<Result<Vec<Vec<u8>>, String>> {
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(r);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(lines),
                Ok(_) if line.ends_with(b"\n") => lines.push(line),
                Ok(_) => return Err(format!("a response cut short: {}", preview(&line))),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(lines),
                Err(e) => return Err(format!("reading responses: {e}")),
            }
        }
    })
}

/// One client: a random stream, sent in random chunks, ended one way.
fn scripted_episode(rng: &mut Rng, server: &Running, figures: &Figures) -> Result<(), String> {
    let mut stream = Vec::new();
    let (mut lines, mut bad) = (0u64, 0u64);
    for _ in 0..1 + rng.below(40) {
        let (line, is_bad) = any_line(rng);
        stream.extend_from_slice(&line);
        lines += 1;
        bad += u64::from(is_bad);
    }
    let ending = *rng.pick(&[
        Ending::HalfClose,
        Ending::HalfClose,
        Ending::HalfClose,
        Ending::Vanish,
        Ending::StallMidLine,
    ]);
    if let Ending::StallMidLine = ending {
        let partial = valid_request(rng);
        stream.extend_from_slice(&partial[..rng.upto(partial.len() - 1).max(1)]);
    }
    Figures::add(&figures.lines, lines);
    Figures::add(&figures.bad_lines, bad);
    Figures::add(&figures.bytes, stream.len() as u64);
    let mut ours = server.connect();
    if let Ending::Vanish = ending {
        let _ = write_chunked(rng, &mut ours, &stream);
        return Ok(());
    }
    let want = expected(&stream);
    // After an oversize line the server must close by itself: the client
    // then never half-closes, and waits for EOF.
    let server_closes = want.last() == Some(&Expect::Error("oversize"));
    let reader = read_all(ours.try_clone().map_err(|e| e.to_string())?);
    let started = Instant::now();
    // The server may close first (oversize, busy): a failed write is fine,
    // what was read decides.
    if write_chunked(rng, &mut ours, &stream).is_ok()
        && let Ending::HalfClose = ending
        && !server_closes
    {
        let _ = ours.shutdown(Shutdown::Write);
    }
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    let got = check_responses(&got, &want)
        .map_err(|e| format!("{e}\n  ending {ending:?}, stream {}", preview(&stream)))?;
    let Got::Served(n) = got else {
        Figures::add(&figures.busy, 1);
        return Ok(());
    };
    Figures::add(&figures.responses, n);
    if let Ending::StallMidLine = ending
        && !server_closes
    {
        let took = started.elapsed();
        if took < STALL {
            return Err(format!("a stalled client was dropped after {took:?}"));
        }
        Figures::add(&figures.dropped_stalled, 1);
    }
    Ok(())
}

/// A client that asks and never reads: dropped once its output stalls.
fn non_reader_episode(server: &Running, figures: &Figures) -> Result<(), String> {
    let mut ours = server.connect();
    let deadline = Instant::now() + STALL + Duration::from_secs(8);
    let ask = b"{\"cmd\":\"hello\"}\n{\"cmd\":\"snapshot\"}\n";
    let mut sent = 0u64;
    while Instant::now() < deadline {
        match ours.write_all(ask) {
            Ok(()) => sent += 2,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                Figures::add(&figures.lines, sent);
                Figures::add(&figures.bytes, sent / 2 * ask.len() as u64);
                Figures::add(&figures.dropped_non_readers, 1);
                return Ok(());
            }
            Err(e) => return Err(format!("non-reader write: {e}")),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err(format!(
        "a client that never reads was not dropped within {:?} ({sent} requests)",
        STALL + Duration::from_secs(8)
    ))
}

/// Hundreds of requests in one write (as many as one turn reads), then a
/// half-close: every one is answered, in order, however little output the
/// server may hold at once.
fn pipeline_episode(rng: &mut Rng, server: &Running, figures: &Figures) -> Result<(), String> {
    let asks: [&[u8]; 4] = [
        b"{\"cmd\":\"hello\"}\n",
        b"{\"cmd\":\"snapshot\"}\n",
        b"{\"cmd\":\"ops\",\"min_age_ms\":0}\n",
        b"nope\n",
    ];
    let mut stream = Vec::new();
    let count = 200 + rng.below(500);
    for _ in 0..count {
        // Mostly `hello`: the largest answer that does not depend on what
        // else runs in this process.
        let ask = if rng.chance(70) {
            asks[0]
        } else {
            *rng.pick(&asks)
        };
        stream.extend_from_slice(ask);
    }
    let mut ours = server.connect();
    let reader = read_all(ours.try_clone().map_err(|e| e.to_string())?);
    ours.write_all(&stream)
        .map_err(|e| format!("pipeline write: {e}"))?;
    let _ = ours.shutdown(Shutdown::Write);
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    match check_responses(&got, &expected(&stream))
        .map_err(|e| format!("pipeline of {count}: {e}"))?
    {
        Got::Served(n) => Figures::add(&figures.responses, n),
        Got::Busy => Figures::add(&figures.busy, 1),
    }
    Figures::add(&figures.lines, count);
    Figures::add(&figures.bytes, stream.len() as u64);
    Ok(())
}

/// More clients than the cap at once: the ones past it get `busy` and EOF.
fn crowd_episode(server: &Running, figures: &Figures) -> Result<(), String> {
    let crowd: Vec<UnixStream> = (0..MAX_CLIENTS + 4).map(|_| server.connect()).collect();
    let (mut admitted, mut busy) = (0, 0);
    for mut c in crowd.iter() {
        c.write_all(b"{\"cmd\":\"hello\"}\n")
            .or_else(|e| match e.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| format!("crowd write: {e}"))?;
    }
    for c in crowd {
        let mut line = String::new();
        let mut r = BufReader::new(c);
        r.read_line(&mut line)
            .map_err(|e| format!("crowd read: {e}"))?;
        match serde_json::from_str::<Response>(&line) {
            Ok(Response::Hello(_)) => admitted += 1,
            Ok(Response::Error { error, .. }) if error == "busy" => {
                // The server closes with our request unread: EOF or a reset.
                let mut rest = Vec::new();
                match r.read_to_end(&mut rest) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                    Err(e) => return Err(format!("after busy: {e}")),
                }
                if !rest.is_empty() {
                    return Err(format!("bytes after busy: {rest:?}"));
                }
                busy += 1;
            }
            other => return Err(format!("crowd got {other:?} from {line:?}")),
        }
    }
    // The sentinel holds one slot, so at most MAX_CLIENTS - 1 get in.
    if admitted >= MAX_CLIENTS || busy < 5 {
        return Err(format!("{admitted} admitted, {busy} busy"));
    }
    Figures::add(&figures.busy, busy);
    Figures::add(&figures.lines, (MAX_CLIENTS + 4) as u64);
    Ok(())
}

/// A request line and the check of its answer.
type Ask = (&'static [u8], fn(&Response) -> bool);

/// Asks the server something every few milliseconds for the whole run:
/// returns (round trips, slowest).
fn sentinel(server: &Running, stop: Arc<AtomicBool>) -> JoinHandle<(u64, Duration)> {
    let ours = server.connect();
    ours.set_read_timeout(Some(SENTINEL_DEADLINE))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut w = ours.try_clone().expect("clone");
        let mut r = BufReader::new(ours);
        let (mut n, mut slowest) = (0u64, Duration::ZERO);
        let asks: [Ask; 3] = [
            (b"{\"cmd\":\"hello\",\"v\":1}\n", |r| {
                matches!(r, Response::Hello(_))
            }),
            (b"{\"cmd\":\"snapshot\"}\n", |r| {
                matches!(r, Response::Snapshot { .. })
            }),
            (b"{\"cmd\":\"ops\",\"min_age_ms\":0}\n", |r| {
                matches!(r, Response::Ops { .. })
            }),
        ];
        while !stop.load(Ordering::SeqCst) {
            let (ask, ok) = asks[n as usize % asks.len()];
            let start = Instant::now();
            w.write_all(ask).expect("the sentinel's request");
            let mut line = String::new();
            r.read_line(&mut line).unwrap_or_else(|e| {
                panic!("the well-behaved client got no answer within {SENTINEL_DEADLINE:?}: {e}")
            });
            let response: Response = serde_json::from_str(&line).expect("a JSON response");
            assert!(ok(&response), "sentinel got {line:?}");
            slowest = slowest.max(start.elapsed());
            n += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (n, slowest)
    })
}

fn preview(stream: &[u8]) -> String {
    let s = String::from_utf8_lossy(&stream[..stream.len().min(600)]).into_owned();
    format!("{s}… ({} bytes)", stream.len())
}

/// Every file of the `cargo fuzz` corpus.
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/inspect_decoder");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the fuzz corpus {}: {e}", dir.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read a corpus file");
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Replays the corpus through the pure decoder and the live server.
fn replay_corpus(server: &Running, figures: &Figures) -> usize {
    let files = corpus();
    assert!(!files.is_empty(), "the fuzz corpus is empty");
    for (path, bytes) in &files {
        decode_fuzz_input(bytes);
        let mut ours = server.connect();
        let reader = read_all(ours.try_clone().expect("clone"));
        if ours.write_all(bytes).is_ok() {
            let _ = ours.shutdown(Shutdown::Write);
        }
        let got = reader
            .join()
            .expect("reader")
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let got = check_responses(&got, &expected(bytes))
            .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
        Figures::add(
            &figures.lines,
            bytes.iter().filter(|&&b| b == b'\n').count() as u64,
        );
        Figures::add(&figures.bytes, bytes.len() as u64);
        match got {
            Got::Served(n) => Figures::add(&figures.responses, n),
            Got::Busy => Figures::add(&figures.busy, 1),
        }
    }
    files.len()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn structured_fuzz_of_the_inspect_server() {
    let secs = env_u64("RINGLINE_FUZZ_SECS").unwrap_or(DEFAULT_SECS);
    let seed = env_u64("RINGLINE_FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("structured fuzz: seed {seed} (RINGLINE_FUZZ_SEED), {secs} s (RINGLINE_FUZZ_SECS)");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let server = Arc::new(Running::start());
    let figures = Arc::new(Figures::default());
    let stop_sentinel = Arc::new(AtomicBool::new(false));
    let sentinel = sentinel(&server, stop_sentinel.clone());
    let corpus_files = replay_corpus(&server, &figures);

    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let (server, figures) = (server.clone(), figures.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ (t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                while Instant::now() < deadline {
                    let outcome = match rng.below(100) {
                        0..2 => non_reader_episode(&server, &figures),
                        2..4 => crowd_episode(&server, &figures),
                        4..7 => pipeline_episode(&mut rng, &server, &figures),
                        _ => scripted_episode(&mut rng, &server, &figures),
                    };
                    if let Err(e) = outcome {
                        panic!("seed {seed}, thread {t}: {e}");
                    }
                    Figures::add(&figures.episodes, 1);
                }
            })
        })
        .collect();
    let mut failed = None;
    for t in threads {
        if let Err(panic) = t.join() {
            failed.get_or_insert(panic);
        }
    }
    stop_sentinel.store(true, Ordering::SeqCst);
    let sentinel = sentinel.join();
    let server = Arc::into_inner(server).expect("every client thread is done");
    let served = server.stop();
    if let Some(panic) = failed {
        std::panic::resume_unwind(panic);
    }
    let (round_trips, slowest) = sentinel.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let f = &*figures;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    assert!(get(&f.episodes) > 0 && round_trips > 0, "nothing ran");
    eprintln!(
        "RELIABILITY fuzz seed={seed} secs={:.1} episodes={} lines={} bad_lines={} bytes={} \
         responses={} busy={} dropped_stalled={} dropped_non_readers={} corpus_files={corpus_files} \
         sentinel_round_trips={round_trips} sentinel_slowest_ms={} server_turns={} clients={} \
         peak_clients={} peak_input_bytes={} peak_output_bytes={}",
        started.elapsed().as_secs_f64(),
        get(&f.episodes),
        get(&f.lines),
        get(&f.bad_lines),
        get(&f.bytes),
        get(&f.responses),
        get(&f.busy),
        get(&f.dropped_stalled),
        get(&f.dropped_non_readers),
        slowest.as_millis(),
        served.turns,
        served.clients_added,
        served.peak_clients,
        served.peak_input,
        served.peak_output,
    );
}

#[test]
fn the_oracle_reads_the_protocol_rules() {
    let mut stream = b"{\"cmd\":\"hello\"}\n \n{\"cmd\":\"hello\",\"v\":2}\nnope\n".to_vec();
    stream.extend_from_slice(b"{\"cmd\":\"subscribe\",\"interval_ms\":5}\n{\"cmd\":\"snap");
    assert_eq!(
        expected(&stream),
        [
            Expect::Hello,
            Expect::Error("unsupported_version"),
            Expect::Error("bad_request"),
            Expect::Subscribed
        ]
    );
    let mut over = vec![b'x'; MAX_REQUEST_LINE + 1];
    assert_eq!(expected(&over), [Expect::Error("oversize")]);
    over.extend_from_slice(b"\n{\"cmd\":\"hello\"}\n");
    assert_eq!(expected(&over), [Expect::Error("oversize")]);
    let line = |r: &Response| r.to_line();
    let snap = Response::Snapshot {
        snapshot: Default::default(),
    };
    let err = |c: &str| Response::error(c, "m");
    // Snapshots may follow a subscribe, nothing else may sneak in.
    let got = [line(&snap), line(&snap), line(&err("bad_request"))];
    assert!(check_responses(&got, &[Expect::Subscribed, Expect::Error("bad_request")]).is_ok());
    assert!(check_responses(&got, &[Expect::Snapshot, Expect::Error("bad_request")]).is_err());
    assert_eq!(
        check_responses(&[line(&err("busy"))], &[Expect::Hello]),
        Ok(Got::Busy)
    );
    assert!(check_responses(&[b"{\"type\":\n".to_vec()], &[]).is_err());
}
