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
use super::wire::{
    MAX_REQUEST_LINE, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, Request, Response, speaks,
};

mod episodes;
mod generate;
mod oracle;

use self::episodes::*;
use self::generate::*;
use self::oracle::*;

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
    // Version 3 is past what this build speaks (1 and 2).
    let mut stream = b"{\"cmd\":\"hello\"}\n \n{\"cmd\":\"hello\",\"v\":3}\nnope\n".to_vec();
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
