//! Outbound connections: TCP connect and echo against a std server,
//! refused and timed-out connects, Unix sockets both ways, and a Unix
//! listener with no room.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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

/// A Unix listener with the smallest backlog that never accepts on its
/// own, filled until a non-blocking connect is refused for lack of room.
/// Returns the listener and the connections that fill it.
fn full_unix_listener(path: &std::path::Path) -> (std::os::unix::net::UnixListener, Vec<OwnedFd>) {
    use std::os::unix::ffi::OsStrExt;
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
    // SAFETY: plain syscall on the listener's own fd; a smaller backlog
    // than std's makes the queue fill after a connection or two.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    // SAFETY: all-zero is a valid sockaddr_un; the path fits (temp paths
    // are short) and is copied into it below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len(), "temp path too long");
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let mut fillers = Vec::new();
    loop {
        assert!(fillers.len() < 1000, "the backlog never filled");
        // SAFETY: a new socket, owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: `fd` was just created and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `addr` is a live sockaddr_un of `len` bytes.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if rc == 0 {
            fillers.push(fd);
            continue;
        }
        let err = io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            io::ErrorKind::WouldBlock,
            "filling connect: {err}"
        );
        return (listener, fillers);
    }
}

backend_test! {
    /// `connect_unix` to a listener whose backlog is full waits, as a
    /// blocking connect does, until the listener makes room (or the future
    /// is dropped); it does not fail at once with `WouldBlock`.
    fn connect_unix_to_a_full_backlog_waits_for_room(backend) {
        use std::sync::atomic::{AtomicBool, Ordering};
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        static WAITING: AtomicBool = AtomicBool::new(false);
        struct FullBacklog;
        impl Scenario for FullBacklog {
            async fn run() -> Result<(), String> {
                let path = PATH.get().ok_or("no path")?;
                let first = ringline::connect_unix(path).map_err(|e| format!("connect_unix: {e}"))?;
                match ringline::timeout(Duration::from_millis(300), first).await {
                    Err(_) => {}
                    Ok(Ok(_)) => return Err("connected to a full backlog".into()),
                    Ok(Err(e)) => {
                        return Err(format!("failed instead of waiting: {e} ({:?})", e.kind()));
                    }
                }
                // The listener accepts one connection once this one waits.
                let second = ringline::connect_unix(path).map_err(|e| format!("connect_unix: {e}"))?;
                WAITING.store(true, Ordering::SeqCst);
                let conn = ringline::timeout(IO_TIMEOUT, second)
                    .await
                    .map_err(|_| "room was made, yet the connect still waits".to_string())?
                    .map_err(|e| format!("connect_unix future: {e}"))?;
                conn.close();
                // The backlog is full again: a connect still waits when
                // shutdown drops its task, and is cancelled, not lost.
                let third = ringline::connect_unix(path).map_err(|e| format!("connect_unix: {e}"))?;
                ringline::spawn(async move {
                    let _ = third.await;
                })
                .map_err(|e| format!("spawn: {e}"))?;
                ringline::sleep(Duration::from_millis(20)).await;
                Ok(())
            }
        }
        let dir = TempDir::new("full-backlog");
        let path = dir.path().join("full.sock");
        let (listener, fillers) = full_unix_listener(&path);
        PATH.set(path).expect("set once");
        let accepter = std::thread::spawn(move || {
            let deadline = Instant::now() + IO_TIMEOUT;
            while !WAITING.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(100));
            let accepted = listener.accept().map(|(s, _)| s);
            (listener, accepted)
        });
        let mut config = test_config(backend);
        // A shutdown that had to wait this out would be unmistakable.
        config.shutdown_drain_timeout = Duration::from_secs(10);
        let started = Instant::now();
        run_scenario::<FullBacklog>(config);
        let took = started.elapsed();
        // About 0.4 s of scenario, and a prompt shutdown.
        assert!(took < Duration::from_secs(5), "the run took {took:?}");
        let (_listener, accepted) = accepter.join().expect("accepter");
        accepted.expect("accept one queued connection");
        drop(fillers);
    }
}
