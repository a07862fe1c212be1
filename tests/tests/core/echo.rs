//! Echo over TCP: message sizes, many connections, several workers, and
//! what a connection task can learn about its connection.

use std::future::Future;
use std::io::Write;
use std::sync::Mutex;

use ringline::{AsyncEventHandler, ConnCtx, ParseResult, PeerAddr};
use ringline_tests::{
    AwaitedEcho, Echo, backend_test, client, echo_round_trip, pattern, read_n, shutdown_and_join,
    test_config,
};

backend_test! {
    fn echo_small_message(backend) {
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(test_config(backend))
        else {
            return;
        };
        assert_eq!(
            echo_round_trip(addr, b"hello, ringline"),
            b"hello, ringline"
        );
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// 1 MiB through 4 KiB receive buffers and a 4-buffer ring: the
    /// multishot receive runs out of buffers (ENOBUFS) and must be re-armed
    /// without losing or reordering a byte.
    fn echo_large_message_beyond_recv_ring(backend) {
        let mut config = test_config(backend);
        config.recv_buffer.ring_size = 4;
        config.recv_buffer.buffer_size = 4096;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<AwaitedEcho>(config) else {
            return;
        };
        let msg = pattern(1 << 20);
        let echoed = echo_round_trip(addr, &msg);
        assert_eq!(echoed.len(), msg.len());
        assert!(echoed == msg, "echoed bytes differ from those sent");
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    fn echo_many_concurrent_connections(backend) {
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(test_config(backend))
        else {
            return;
        };
        let clients: Vec<_> = (0..64)
            .map(|i| {
                std::thread::spawn(move || {
                    let msg = format!("client {i} says hello").into_bytes();
                    assert_eq!(echo_round_trip(addr, &msg), msg, "client {i}");
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            c.join().unwrap_or_else(|_| panic!("client {i} failed"));
        }
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    fn echo_sequential_sends_on_one_connection(backend) {
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        for i in 0..20 {
            let msg = format!("message number {i}").into_bytes();
            stream.write_all(&msg).expect("write");
            assert_eq!(read_n(&mut stream, msg.len()), msg);
        }
        drop(stream);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    fn echo_multi_worker_many_connections(backend) {
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(config) else {
            return;
        };
        assert_eq!(workers.len(), 2);
        let clients: Vec<_> = (0..32)
            .map(|i| {
                std::thread::spawn(move || {
                    let msg = pattern(1000 + i * 37);
                    for round in 0..3 {
                        assert!(
                            echo_round_trip(addr, &msg) == msg,
                            "client {i} round {round}"
                        );
                    }
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            c.join().unwrap_or_else(|_| panic!("client {i} failed"));
        }
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// `send` returns a future resolving to the byte count of that send.
    fn send_future_resolves_to_byte_count(backend) {
        static RESULTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
        struct Sender;
        impl AsyncEventHandler for Sender {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    for msg in [&b"12345"[..], &[7u8; 40_000][..]] {
                        let result = match conn.send(msg) {
                            Ok(send) => format!("{:?}", send.await.map_err(|e| e.kind())),
                            Err(e) => format!("send failed: {e}"),
                        };
                        RESULTS.lock().unwrap().push(result);
                    }
                    // Keep the connection open until the client is done.
                    while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Sender
            }
        }
        let Some((addr, shutdown, workers)) =
            ringline_tests::launch::<Sender>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        assert_eq!(read_n(&mut stream, 5), b"12345");
        assert!(read_n(&mut stream, 40_000).iter().all(|&b| b == 7));
        drop(stream);
        ringline_tests::wait_for("both sends resolved", ringline_tests::IO_TIMEOUT, || {
            (RESULTS.lock().unwrap().len() == 2).then_some(())
        });
        assert_eq!(*RESULTS.lock().unwrap(), ["Ok(5)", "Ok(40000)"]);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// An accepted connection reports the client's address and is not
    /// outbound; the server writes both back to the client.
    fn peer_addr_is_client_address(backend) {
        struct Report;
        impl AsyncEventHandler for Report {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let peer = match conn.peer_addr() {
                        Some(PeerAddr::Tcp(addr)) => format!("tcp {addr}"),
                        other => format!("unexpected {other:?}"),
                    };
                    let report = format!("{peer} outbound={}\n", conn.is_outbound());
                    let _ = conn.send_nowait(report.as_bytes());
                    while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Report
            }
        }
        let Some((addr, shutdown, workers)) =
            ringline_tests::launch::<Report>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        let expected = format!(
            "tcp {} outbound=false\n",
            stream.local_addr().expect("local addr")
        );
        assert_eq!(
            String::from_utf8_lossy(&read_n(&mut stream, expected.len())),
            expected
        );
        drop(stream);
        shutdown_and_join(&shutdown, workers);
    }
}
