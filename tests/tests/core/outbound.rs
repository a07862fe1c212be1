//! Outbound connections: TCP connect and echo against a std server,
//! refused and timed-out connects, and Unix sockets both ways.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringline::{AsyncEventHandler, ConnCtx, ParseResult, PeerAddr, RinglineBuilder};
use ringline_tests::{
    IO_TIMEOUT, Scenario, TempDir, backend_test, ensure, free_port, join_checked, launch_with,
    run_scenario, set_timeouts, test_config,
};

/// Reads from `conn` until `len` bytes have arrived (or EOF).
async fn read_exact(conn: ConnCtx, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
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
    got
}

/// A std echo server for one connection, on its own thread.
fn std_echo_server() -> (SocketAddr, std::thread::JoinHandle<io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = std::thread::spawn(move || {
        listener.set_nonblocking(false)?;
        let (mut stream, _) = listener.accept()?;
        set_timeouts(&stream);
        let mut buf = [0u8; 4096];
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
    /// `connect` from an `on_start` task, then echo through a std server;
    /// the connection is outbound and its peer is the server's address.
    fn connect_and_echo_against_std_server(backend) {
        static SERVER: OnceLock<SocketAddr> = OnceLock::new();
        struct Outbound;
        impl Scenario for Outbound {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let addr = *SERVER.get().expect("set before launch");
                    let connect = ringline::connect(addr).map_err(|e| format!("connect: {e}"))?;
                    let conn = connect.await.map_err(|e| format!("connect future: {e}"))?;
                    ensure!(
                        conn.is_outbound(),
                        "an outbound connection reports is_outbound() false"
                    );
                    ensure!(
                        conn.peer_addr() == Some(PeerAddr::Tcp(addr)),
                        "peer_addr {:?}, expected {addr}",
                        conn.peer_addr()
                    );
                    let msg = b"hello over an outbound connection";
                    conn.send_nowait(msg).map_err(|e| format!("send: {e}"))?;
                    let echoed = read_exact(conn, msg.len()).await;
                    ensure!(
                        echoed == msg,
                        "echoed {:?}",
                        String::from_utf8_lossy(&echoed)
                    );
                    conn.close();
                    Ok(())
                }
            }
        }
        let (addr, server) = std_echo_server();
        SERVER.set(addr).expect("set once");
        if !run_scenario::<Outbound>(test_config(backend)) {
            // Skipped: release the server thread from its accept.
            drop(std::net::TcpStream::connect(addr));
        }
        server
            .join()
            .expect("server thread")
            .expect("std echo server");
    }
}

backend_test! {
    fn connect_refused_reports_connection_refused(backend) {
        static PORT: OnceLock<u16> = OnceLock::new();
        struct Refused;
        impl Scenario for Refused {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let addr = SocketAddr::from(([127, 0, 0, 1], *PORT.get().expect("set")));
                    let connect = ringline::connect(addr).map_err(|e| format!("connect: {e}"))?;
                    match connect.await {
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
                        Err(e) => Err(format!(
                            "expected ConnectionRefused, got {:?}: {e}",
                            e.kind()
                        )),
                        Ok(_) => Err("connected to a port nobody listens on".into()),
                    }
                }
            }
        }
        // Nothing listens there now (the port was just released).
        PORT.set(free_port()).expect("set once");
        run_scenario::<Refused>(test_config(backend));
    }
}

backend_test! {
    /// A 100 ms connect timeout to TEST-NET-1 (RFC 5737, never answers)
    /// fails quickly: `TimedOut`, or another error where the sandbox has no
    /// route at all.
    fn connect_with_timeout_to_unroutable_address_fails_fast(backend) {
        struct Unroutable;
        impl Scenario for Unroutable {
            fn run() -> impl Future<Output = Result<(), String>> + 'static {
                async {
                    let addr: SocketAddr = "192.0.2.1:12345".parse().expect("literal");
                    let started = Instant::now();
                    let connect = ringline::connect_with_timeout(addr, 100)
                        .map_err(|e| format!("connect_with_timeout: {e}"))?;
                    let result = connect.await;
                    let elapsed = started.elapsed();
                    ensure!(result.is_err(), "connected to 192.0.2.1");
                    ensure!(
                        elapsed < Duration::from_secs(2),
                        "a 100 ms connect timeout took {elapsed:?}"
                    );
                    if let Err(e) = result
                        && e.kind() == io::ErrorKind::TimedOut
                    {
                        ensure!(
                            elapsed >= Duration::from_millis(90),
                            "timed out after only {elapsed:?} of 100 ms"
                        );
                    }
                    Ok(())
                }
            }
        }
        run_scenario::<Unroutable>(test_config(backend));
    }
}

backend_test! {
    /// One runtime listens on a Unix socket and connects to it from its
    /// `on_start` task: both ends see `PeerAddr::Unix`, and bytes echo.
    fn unix_socket_bind_connect_and_echo(backend) {
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        static ACCEPTED: Mutex<Option<String>> = Mutex::new(None);
        static CLIENT: Mutex<Option<Result<(), String>>> = Mutex::new(None);
        struct UnixEcho;
        async fn client_side() -> Result<(), String> {
            let path = PATH.get().expect("set before launch");
            let connect = ringline::connect_unix(path).map_err(|e| format!("connect_unix: {e}"))?;
            let conn = connect
                .await
                .map_err(|e| format!("connect_unix future: {e}"))?;
            ensure!(
                conn.is_outbound(),
                "outbound unix connection not is_outbound()"
            );
            ensure!(
                conn.peer_addr() == Some(PeerAddr::Unix(path.clone())),
                "client peer_addr {:?}, expected the listener path",
                conn.peer_addr()
            );
            let msg = b"over a unix socket";
            conn.send_nowait(msg).map_err(|e| format!("send: {e}"))?;
            let echoed = read_exact(conn, msg.len()).await;
            ensure!(
                echoed == msg,
                "echoed {:?}",
                String::from_utf8_lossy(&echoed)
            );
            conn.close();
            Ok(())
        }
        impl AsyncEventHandler for UnixEcho {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    let seen = match conn.peer_addr() {
                        Some(PeerAddr::Unix(_)) => format!("unix outbound={}", conn.is_outbound()),
                        other => format!("unexpected peer {other:?}"),
                    };
                    *ACCEPTED.lock().unwrap() = Some(seen);
                    ringline_tests::echo(conn).await;
                }
            }
            fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
                Some(Box::pin(async {
                    let result = match ringline::timeout(IO_TIMEOUT, client_side()).await {
                        Ok(r) => r,
                        Err(_) => Err("unix client timed out".into()),
                    };
                    *CLIENT.lock().unwrap() = Some(result);
                    let _ = ringline::request_shutdown();
                }))
            }
            fn create_for_worker(_id: usize) -> Self {
                UnixEcho
            }
        }
        let dir = TempDir::new("unix-echo");
        let path = dir.path().join("echo.sock");
        PATH.set(path.clone()).expect("set once");
        let builder = RinglineBuilder::new(test_config(backend)).bind_unix(&path);
        let Some((shutdown, workers)) = launch_with::<UnixEcho>(builder, backend) else {
            return;
        };
        join_checked(&shutdown, workers);
        assert_eq!(*CLIENT.lock().unwrap(), Some(Ok(())));
        assert_eq!(
            ACCEPTED.lock().unwrap().as_deref(),
            Some("unix outbound=false")
        );
    }
}
