//! The connections view: every connection of a runtime with its peer, byte
//! counts, what it buffers and queues, backpressure, ops in flight and its
//! task — read in-process (`stats::connections`) and over the inspect
//! socket (`Client::connections`), and gone once the connection is.

use std::future::Future;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use ringline::stats::ConnectionInfo;
use ringline::{AsyncEventHandler, ConnCtx, ParseResult};
use ringline_tests::{
    backend_test, client, launch, read_n, shutdown_and_join, test_config, wait_for,
};

/// The server's per-connection receive limit in these tests.
const LIMIT: usize = 4096;
/// What the echo client sends after its mode byte.
const ECHOED: usize = 1000;
/// What the holding client sends after its mode byte (over `LIMIT`).
const HELD: usize = 3 * LIMIT;

/// Serves by the first byte a client sends: `E` echoes the rest, `F`
/// floods the client (which never reads), `H` consumes nothing more.
struct Modes;

impl AsyncEventHandler for Modes {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async move {
            let mut mode = 0;
            let n = conn
                .with_data(|data| {
                    mode = data[0];
                    ParseResult::Consumed(1)
                })
                .await;
            if n == 0 {
                return;
            }
            match mode {
                b'E' => ringline_tests::echo(conn).await,
                b'F' => {
                    let chunk = vec![0x5a; 16 * 1024];
                    while let Ok(send) = conn.send(&chunk) {
                        if send.await.is_err() {
                            break;
                        }
                    }
                }
                _ => std::future::pending().await,
            }
        }
    }

    fn create_for_worker(_worker: usize) -> Self {
        Modes
    }
}

/// Runtime `id`'s connection from `peer`, in `all`.
fn find(all: &[ConnectionInfo], id: u64, peer: &TcpStream) -> Option<ConnectionInfo> {
    let peer = peer.local_addr().expect("local addr").to_string();
    all.iter()
        .find(|c| c.runtime == id && c.peer.as_deref() == Some(peer.as_str()))
        .cloned()
}

/// The three connections as `read` lists them, once each shows what the
/// test did to it (a busy worker publishes them a little later).
fn settled(
    what: &str,
    id: u64,
    streams: [&TcpStream; 3],
    mut read: impl FnMut() -> Vec<ConnectionInfo>,
) -> [ConnectionInfo; 3] {
    wait_for(what, Duration::from_secs(10), || {
        let all = read();
        let [e, f, h] = streams.map(|s| find(&all, id, s));
        let (e, f, h) = (e?, f?, h?);
        let ready =
            e.bytes_out == ECHOED as u64 && f.queued_bytes > 0 && h.recv_paused && h.task.is_some();
        ready.then_some([e, f, h])
    })
}

fn check([echo, flood, hold]: &[ConnectionInfo; 3]) {
    for c in [echo, flood, hold] {
        assert!(!c.outbound && !c.closing, "{c:?}");
        assert!(c.task.is_some(), "the on_accept task: {c:?}");
        // Each task waits (on bytes, or on its send to a peer that does
        // not read), possibly woken this very moment.
        assert!(
            matches!(
                c.task_state,
                Some(ringline::stats::TaskState::Idle | ringline::stats::TaskState::Scheduled)
            ),
            "{c:?}"
        );
        assert!(c.age_ns > 0 && c.age_ns < 60_000_000_000, "{c:?}");
        assert_eq!(c.worker, 0);
    }
    let tasks = [echo.task, flood.task, hold.task];
    assert!(
        tasks[0] != tasks[1] && tasks[1] != tasks[2] && tasks[0] != tasks[2],
        "one task each: {tasks:?}"
    );
    assert_eq!(
        (
            echo.bytes_in,
            echo.bytes_out,
            echo.buffered_bytes,
            echo.queued_bytes
        ),
        (1 + ECHOED as u64, ECHOED as u64, 0, 0),
        "{echo:?}"
    );
    assert!(!echo.recv_paused, "{echo:?}");
    assert!(echo.ops_in_flight >= 1, "its armed receive: {echo:?}");
    assert_eq!(flood.bytes_in, 1, "{flood:?}");
    assert!(flood.bytes_out > 0 && flood.queued_bytes > 0, "{flood:?}");
    assert!(
        flood.ops_in_flight >= 2,
        "the stuck send and the receive: {flood:?}"
    );
    assert_eq!(hold.bytes_out, 0, "{hold:?}");
    assert!(hold.recv_paused, "{hold:?}");
    assert_eq!(hold.ops_in_flight, 0, "paused: no receive armed: {hold:?}");
    assert!(hold.buffered_bytes >= LIMIT as u64, "{hold:?}");
    assert_eq!(
        hold.buffered_bytes,
        hold.bytes_in - 1,
        "all but the mode byte is buffered: {hold:?}"
    );
}

/// The inspect socket of this process, unless `RINGLINE_INSPECT=0`.
fn inspect_client() -> Option<ringline::inspect::Client> {
    if std::env::var("RINGLINE_INSPECT").is_ok_and(|v| v.trim() == "0") {
        eprintln!("SKIPPED the socket half: RINGLINE_INSPECT=0");
        return None;
    }
    let path = ringline::inspect::socket_path(std::process::id());
    Some(wait_for(
        "the inspect socket",
        Duration::from_secs(10),
        || ringline::inspect::Client::connect_path(&path).ok(),
    ))
}

backend_test! {
    /// An echoed, a flooded and a stalled connection, each showing what it
    /// holds; the echoed one leaves the list once its client hangs up.
    fn connections_show_what_each_holds_and_leave_when_closed(backend) {
        let mut config = test_config(backend);
        config.recv_buffer_limit = LIMIT;
        config.shutdown_drain_timeout = Duration::from_secs(2);
        let Some((addr, shutdown, workers)) = launch::<Modes>(config) else {
            return;
        };
        let id = shutdown.stats().id;
        let mut echo = client(addr);
        let mut msg = vec![b'E'];
        msg.extend(ringline_tests::pattern(ECHOED));
        echo.write_all(&msg).expect("write");
        assert_eq!(read_n(&mut echo, ECHOED), msg[1..]);
        let mut flood = client(addr);
        flood.write_all(b"F").expect("write");
        let mut hold = client(addr);
        let mut msg = vec![b'H'];
        msg.extend(ringline_tests::pattern(HELD));
        hold.write_all(&msg).expect("write");

        let streams = [&echo, &flood, &hold];
        let local = settled("the in-process view", id, streams, ringline::stats::connections);
        check(&local);
        if let Some(mut c) = inspect_client() {
            let remote = settled("the socket's view", id, streams, || {
                c.connections(10_000).expect("connections")
            });
            check(&remote);
            for (l, r) in local.iter().zip(&remote) {
                assert_eq!((l.index, l.task, &l.peer), (r.index, r.task, &r.peer));
            }
        }

        drop(echo);
        wait_for("the echoed connection to leave", Duration::from_secs(10), || {
            let all = ringline::stats::connections();
            let mine: Vec<_> = all.iter().filter(|c| c.runtime == id).collect();
            (mine.len() == 2 && mine.iter().all(|c| c.index != local[0].index)).then_some(())
        });
        drop((flood, hold));
        shutdown_and_join(&shutdown, workers);
        assert!(
            ringline::stats::connections().iter().all(|c| c.runtime != id),
            "a stopped runtime lists nothing"
        );
    }
}
