//! Direct descriptors (`Config::fixed_files`): on io_uring, accepted and
//! connected sockets go into the ring's registered file table, fall back
//! to their plain descriptor when the table is full or off, and a closed
//! connection's slot is emptied (its peer sees the close) and reused. The
//! mio backend has no table: every connection counts as a plain one.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use ringline::config::BackendChoice;
use ringline::stats::RuntimeSnapshot;
use ringline::{AsyncEventHandler, ConnCtx, ParseResult};
use ringline_tests::{
    Echo, Ending, IO_TIMEOUT, backend_test, client, read_n, read_to_end_or_reset, set_timeouts,
    shutdown_and_join, test_config, wait_for,
};

/// `(fixed_file_conns_total, raw_fd_conns_total)` over every worker.
fn fixed_and_raw(rt: &RuntimeSnapshot) -> (u64, u64) {
    rt.workers.iter().fold((0, 0), |(f, r), w| {
        (
            f + w.ring.fixed_file_conns_total,
            r + w.ring.raw_fd_conns_total,
        )
    })
}

fn active(rt: &RuntimeSnapshot) -> u64 {
    rt.workers.iter().map(|w| w.net.connections_active).sum()
}

/// What a backend is expected to count for `fixed` connections that fit in
/// the table out of `total`: io_uring puts them on slots, mio on none.
fn expected(backend: BackendChoice, fixed: u64, total: u64) -> (u64, u64) {
    match backend {
        BackendChoice::Mio => (0, total),
        _ => (fixed, total - fixed),
    }
}

/// Connects, checks an echo, and leaves the connection open.
fn echoing_client(addr: SocketAddr, tag: &str) -> TcpStream {
    let mut c = client(addr);
    c.write_all(tag.as_bytes()).expect("write");
    assert_eq!(read_n(&mut c, tag.len()), tag.as_bytes(), "echo of {tag}");
    c
}

/// Half-closes `c` and expects the server to close in turn: an orderly
/// FIN, which only comes once the server's socket is really closed (a
/// file-table slot left holding it would leave this read to time out).
fn expect_server_close(mut c: TcpStream) {
    c.shutdown(Shutdown::Write).expect("shutdown(Write)");
    assert_eq!(read_to_end_or_reset(&mut c), Ending::Eof);
}

/// Opens `n` echoing clients at once, then closes them all and waits until
/// the server has released every connection.
fn batch(shutdown: &ringline::ShutdownHandle, addr: SocketAddr, n: usize) {
    let clients: Vec<TcpStream> = (0..n)
        .map(|i| echoing_client(addr, &format!("client {i}")))
        .collect();
    for c in clients {
        expect_server_close(c);
    }
    wait_for("every connection released", IO_TIMEOUT, || {
        (active(&shutdown.stats()) == 0).then_some(())
    });
}

/// A std server that echoes one connection until EOF, on its own thread.
fn std_echo_server() -> (SocketAddr, std::thread::JoinHandle<io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept()?;
        set_timeouts(&stream);
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf)? {
                0 => return Ok(()),
                n => stream.write_all(&buf[..n])?,
            }
        }
    });
    (addr, server)
}

backend_test! {
    /// With the default table (one slot per connection slot), accepted and
    /// outbound connections both go on slots and echo as usual; the
    /// outbound one's close reaches the std server as EOF.
    fn accepted_and_connected_connections_use_fixed_slots(backend) {
        static OUT: OnceLock<SocketAddr> = OnceLock::new();
        static OUT_ECHOED: AtomicBool = AtomicBool::new(false);
        struct Both;
        impl AsyncEventHandler for Both {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                ringline_tests::echo(conn)
            }
            fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
                let out = *OUT.get().expect("set before launch");
                Some(Box::pin(async move {
                    let Ok(connect) = ringline::connect(out) else { return };
                    let Ok(conn) = connect.await else { return };
                    let msg = b"outbound on a slot";
                    if conn.send_nowait(msg).is_err() {
                        return;
                    }
                    let mut got = Vec::new();
                    while got.len() < msg.len() {
                        let n = conn
                            .with_data(|d| {
                                got.extend_from_slice(d);
                                ParseResult::Consumed(d.len())
                            })
                            .await;
                        if n == 0 {
                            break;
                        }
                    }
                    OUT_ECHOED.store(got == msg, Ordering::SeqCst);
                    conn.close();
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                Both
            }
        }
        let (out, server) = std_echo_server();
        OUT.set(out).expect("set once");
        let config = test_config(backend);
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Both>(config) else {
            return;
        };
        batch(&shutdown, addr, 3);
        // The outbound connection echoed and its close ended the server.
        server
            .join()
            .expect("std server panicked")
            .expect("std server saw an orderly end");
        assert!(OUT_ECHOED.load(Ordering::SeqCst), "outbound echo failed");
        wait_for("the outbound connection released", IO_TIMEOUT, || {
            (active(&shutdown.stats()) == 0).then_some(())
        });
        shutdown_and_join(&shutdown, workers);
        assert_eq!(fixed_and_raw(&shutdown.stats()), expected(backend, 4, 4));
    }
}

backend_test! {
    /// A two-slot table with five connections at once: two go on slots,
    /// three fall back to their descriptors, all five echo and close
    /// cleanly; a second batch finds the two slots free again.
    fn a_full_table_falls_back_to_descriptors_and_slots_are_reused(backend) {
        let mut config = test_config(backend);
        config.fixed_files = 2;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(config) else {
            return;
        };
        batch(&shutdown, addr, 5);
        assert_eq!(fixed_and_raw(&shutdown.stats()), expected(backend, 2, 5));
        batch(&shutdown, addr, 5);
        assert_eq!(fixed_and_raw(&shutdown.stats()), expected(backend, 4, 10));
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// `fixed_files = 0`: no table, every connection on its descriptor.
    fn no_table_uses_descriptors_only(backend) {
        let mut config = test_config(backend);
        config.fixed_files = 0;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Echo>(config) else {
            return;
        };
        batch(&shutdown, addr, 3);
        shutdown_and_join(&shutdown, workers);
        assert_eq!(fixed_and_raw(&shutdown.stats()), (0, 3));
    }
}
