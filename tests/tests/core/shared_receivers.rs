//! Several tasks waiting to receive on one socket: two tasks on one
//! connection (`recv_ready`, `with_data`) and two on one UDP socket
//! (`recv_from`). Each is woken when something arrives; none is left
//! waiting forever because another task waited on the same socket.

use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Mutex;

use ringline::{AsyncEventHandler, ConnCtx, ParseResult, RinglineBuilder, UdpCtx};
use ringline_tests::{
    IO_TIMEOUT, backend_test, client, join_checked, launch, launch_with, next_turn, read_n,
    shutdown_and_join, test_config,
};

/// Takes one message off `conn` and answers it with `tag`.
async fn answer_one(conn: ConnCtx, tag: &'static [u8]) {
    conn.with_data(|data| ParseResult::Consumed(data.len()))
        .await;
    let _ = conn.send_nowait(tag);
}

backend_test! {
    /// Two tasks wait on one connection, one in `recv_ready` then
    /// `with_data`, the other in `with_data`; each takes one message. The
    /// client starts once both wait, and sends the second message only
    /// after the first was answered, so it is answered only if the task
    /// that did not get the first one was woken too.
    fn two_tasks_waiting_on_one_connection_are_both_woken(backend) {
        struct TwoWaiters;
        impl AsyncEventHandler for TwoWaiters {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let first = ringline::spawn_with_handle(async move {
                        conn.recv_ready().await;
                        answer_one(conn, b"1").await;
                    });
                    let second = ringline::spawn_with_handle(answer_one(conn, b"2"));
                    // Both were queued before this task: by the next turn
                    // both are waiting, and the client may start.
                    next_turn().await;
                    let _ = conn.send_nowait(b"go");
                    if let (Ok(first), Ok(second)) = (first, second) {
                        // The connection closes when this task ends.
                        ringline::join(first, second).await;
                    }
                }
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                TwoWaiters
            }
        }
        let Some((addr, shutdown, workers)) = launch::<TwoWaiters>(test_config(backend)) else {
            return;
        };
        let mut stream = client(addr);
        assert_eq!(read_n(&mut stream, 2), b"go");
        let mut answers = Vec::new();
        for message in [b"a", b"b"] {
            stream.write_all(message).expect("send a message");
            // Times out (and fails) when nobody is left to take it.
            answers.extend(read_n(&mut stream, 1));
        }
        answers.sort_unstable();
        assert_eq!(answers, b"12", "each task took one message");
        drop(stream);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// Two tasks `recv_from` on one UDP socket; the client sends 200
    /// datagrams, each after the previous one was acknowledged, then one
    /// "stop" per task. Every datagram is taken by one of them, both get a
    /// turn (waiters are woken oldest first), and both see their "stop".
    fn two_tasks_receiving_on_one_udp_socket_are_both_served(backend) {
        /// Datagrams each task took, once it saw "stop".
        static TOOK: Mutex<Vec<usize>> = Mutex::new(Vec::new());
        struct TwoReceivers;
        impl AsyncEventHandler for TwoReceivers {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                Some(Box::pin(async move {
                    for _ in 0..2 {
                        let receiver = ringline::spawn(async move {
                            let mut took = 0;
                            loop {
                                let (data, peer) = udp.recv_from().await;
                                if data == b"stop" {
                                    TOOK.lock().unwrap().push(took);
                                    let _ = udp.send_to(peer, b"stopped");
                                    break;
                                }
                                took += 1;
                                let _ = udp.send_to(peer, &data);
                            }
                        });
                        receiver.expect("spawn a receiver");
                    }
                }))
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                TwoReceivers
            }
        }
        let server = SocketAddr::from((
            [127, 0, 0, 1],
            UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .expect("a free UDP port")
                .port(),
        ));
        let builder = RinglineBuilder::new(test_config(backend)).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<TwoReceivers>(builder, backend) else {
            return;
        };
        let c = UdpSocket::bind("127.0.0.1:0").expect("bind the client");
        c.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut buf = [0u8; 64];
        for i in 0..200 {
            let msg = format!("datagram {i}");
            c.send_to(msg.as_bytes(), server).expect("send");
            let (n, _) = c.recv_from(&mut buf).expect("the datagram is acknowledged");
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        for task in 0..2 {
            c.send_to(b"stop", server).expect("send stop");
            let (n, _) = c
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("stop {task} not taken (a task starved?): {e}"));
            assert_eq!(&buf[..n], b"stopped");
        }
        let took = TOOK.lock().unwrap().clone();
        assert_eq!(took.len(), 2, "both tasks saw a stop: {took:?}");
        assert_eq!(took.iter().sum::<usize>(), 200, "every datagram taken once: {took:?}");
        assert!(took.iter().all(|&n| n > 0), "a task never got a turn: {took:?}");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}
