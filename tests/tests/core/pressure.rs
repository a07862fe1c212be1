//! Peers that stop reading: one connection cannot take more than its share
//! of the send pool, and a connection closed with bytes its peer never
//! takes is reset at its linger deadline, freeing everything it held.

use std::future::Future;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringline::{AsyncEventHandler, ConnCtx, ParseResult, ShutdownHandle, sleep};
use ringline_tests::{
    IO_TIMEOUT, backend_test, client, echo, shutdown_and_join, test_config, wait_for,
};

const CHUNK: usize = 16 * 1024;

/// Sends `CHUNK`s until `send_nowait` fails; returns what it said.
async fn flood(conn: ConnCtx) -> String {
    let chunk = [0x5A_u8; CHUNK];
    let started = Instant::now();
    loop {
        if let Err(e) = conn.send_nowait(&chunk) {
            let exhausted = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ringline::Error>())
                .is_some_and(|inner| matches!(inner, ringline::Error::SendPoolExhausted));
            return if exhausted {
                "SendPoolExhausted".into()
            } else {
                format!("{:?}: {e}", e.kind())
            };
        }
        if started.elapsed() > Duration::from_secs(4) {
            return "never failed".into();
        }
        sleep(Duration::from_millis(1)).await;
    }
}

/// The first byte a client sends picks the behaviour.
async fn command(conn: ConnCtx) -> Option<u8> {
    let mut first = None;
    conn.with_data(|data| {
        first = data.first().copied();
        ParseResult::Consumed(1.min(data.len()))
    })
    .await;
    first
}

fn send_slots_used(shutdown: &ShutdownHandle) -> u64 {
    let rt = shutdown.stats();
    rt.workers[0].slab("send_copy").map_or(0, |s| s.used)
}

backend_test! {
    /// A client that never reads makes its connection's sends fail with
    /// `SendPoolExhausted` once it holds its share (a quarter of the pool
    /// by default), while the other three quarters still serve everyone
    /// else.
    fn one_connection_takes_at_most_its_send_share(backend) {
        static FLOOD: Mutex<Option<String>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    match command(conn).await {
                        Some(b'F') => {
                            let said = flood(conn).await;
                            *FLOOD.lock().unwrap() = Some(said);
                            // Hold the slots until the client goes away.
                            while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                        }
                        Some(_) => echo(conn).await,
                        None => {}
                    }
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let config = test_config(backend);
        let pool = u64::from(config.send_copy_count);
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(config) else {
            return;
        };
        let mut hog = client(addr);
        hog.write_all(b"F").expect("write");
        let said = wait_for("the flood to be refused", IO_TIMEOUT, || FLOOD.lock().unwrap().clone());
        assert_eq!(said, "SendPoolExhausted");
        let used = wait_for("the hog's slots in the stats", IO_TIMEOUT, || {
            let used = send_slots_used(&shutdown);
            (used > 0).then_some(used)
        });
        assert!(
            used <= pool / 4,
            "one non-reading connection holds {used} of {pool} send slots"
        );
        // Everyone else is still served: 128 KiB needs 8 slots.
        let mut msg = vec![b'E'];
        msg.extend((0..128 * 1024).map(|i| (i % 253) as u8));
        let mut stream = client(addr);
        let mut writer = stream.try_clone().expect("clone");
        let out = msg.clone();
        let write = std::thread::spawn(move || writer.write_all(&out));
        let echoed = ringline_tests::read_n(&mut stream, msg.len() - 1);
        write.join().expect("writer").expect("write");
        assert!(echoed == msg[1..], "a second client's echo was cut short");
        drop(hog);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A handler queues more than the peer will ever read and returns: the
    /// connection lingers, then is reset at `close_linger_timeout`, and its
    /// slot, descriptor and send slots are freed (before, it stayed
    /// `Closing` forever).
    fn close_with_unsent_bytes_resets_at_the_linger_deadline(backend) {
        static FLOOD: Mutex<Option<String>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let said = flood(conn).await;
                    *FLOOD.lock().unwrap() = Some(said);
                    // Returning closes the connection with bytes queued.
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let mut config = test_config(backend);
        config.close_linger_timeout = Duration::from_millis(300);
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(config) else {
            return;
        };
        let mut silent = client(addr);
        let said = wait_for("the flood to be refused", IO_TIMEOUT, || FLOOD.lock().unwrap().clone());
        assert_eq!(said, "SendPoolExhausted");
        let net = wait_for("the lingering connection to be reset", IO_TIMEOUT, || {
            let rt = shutdown.stats();
            let w = &rt.workers[0];
            let freed = w.net.connections_active == 0
                && w.slab("send_copy").is_some_and(|s| s.used == 0);
            (freed && w.net.linger_resets_total == 1).then(|| w.net.clone())
        });
        assert_eq!(net.connections_closed_total, 1, "{net:?}");
        // The client sees the reset (possibly after the bytes that did fit
        // in the socket buffers), never a hang.
        let mut buf = vec![0u8; 256 * 1024];
        let ending = loop {
            match silent.read(&mut buf) {
                Ok(0) => break "eof".to_string(),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break "reset".into(),
                Err(e) => break format!("{:?}", e.kind()),
            }
        };
        assert_eq!(ending, "reset", "the peer should see the linger reset");
        shutdown_and_join(&shutdown, workers);
    }
}
