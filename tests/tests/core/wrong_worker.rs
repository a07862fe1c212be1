//! Worker-local handles moved to another worker (they are `Send`, as in
//! ringline 0.1.2): refused with `InvalidInput`, never acting on the other
//! worker's slot of the same index, never panicking the worker; a future
//! over lent memory resolves only after its own worker cancelled the op.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::OpenOptionsExt;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline::fs::{self, OpenFlags};
use ringline::{
    AsyncEventHandler, ConnCtx, ConnectFuture, DiskIoFuture, RinglineBuilder, SleepFuture, UdpCtx,
    UdpSendError, sleep,
};
use ringline_tests::{
    TempDir, backend_test, join_checked, launch_with, mkfifo, test_config, wait_for,
};

/// Waits (on a worker) until `slot` holds a value, then takes it.
async fn take<T>(slot: &'static Mutex<Option<T>>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = slot.lock().unwrap().take() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never handed over"
        );
        sleep(Duration::from_millis(2)).await;
    }
}

/// What each of two workers runs at start, by worker index.
trait Start: 'static {
    fn start(worker: usize) -> Pin<Box<dyn Future<Output = ()>>>;
}

/// A handler that accepts nothing and runs `S::start` on each worker.
struct Starts<S>(usize, PhantomData<fn() -> S>);

impl<S: Start> AsyncEventHandler for Starts<S> {
    fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async {}
    }
    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(S::start(self.0))
    }
    fn create_for_worker(worker: usize) -> Self {
        Starts(worker, PhantomData)
    }
}

/// Launches two workers running `S::start` and binding nothing.
fn two_workers<S: Start>(
    backend: BackendChoice,
) -> Option<(ringline::ShutdownHandle, ringline_tests::Workers)> {
    let mut config = test_config(backend);
    config.worker.threads = 2;
    launch_with::<Starts<S>>(RinglineBuilder::new(config), backend)
}

backend_test! {
    /// Worker 0's `ConnCtx` used on worker 1 (which has a connection in the
    /// same slot) fails with `InvalidInput` and sends nothing anywhere;
    /// worker 0's `ConnectFuture` awaited on worker 1 resolves with
    /// `InvalidInput` instead of panicking the worker.
    fn conn_handles_are_refused_on_another_worker(backend) {
        static PEER: Mutex<Option<SocketAddr>> = Mutex::new(None);
        static CTX: Mutex<Option<ConnCtx>> = Mutex::new(None);
        static CONNECT: Mutex<Option<ConnectFuture>> = Mutex::new(None);
        static RESULT: Mutex<Option<Result<(), String>>> = Mutex::new(None);
        struct Pair;
        impl Start for Pair {
            fn start(worker: usize) -> Pin<Box<dyn Future<Output = ()>>> {
                let peer = PEER.lock().unwrap().expect("set before launch");
                Box::pin(async move {
                    let own = ringline::connect(peer).expect("connect").await.expect("connected");
                    if worker == 0 {
                        *CTX.lock().unwrap() = Some(own);
                        *CONNECT.lock().unwrap() = Some(ringline::connect(peer).expect("connect"));
                        return;
                    }
                    let theirs = take(&CTX).await;
                    let result = (|| {
                        if theirs.index() != own.index() {
                            return Err(format!("slots differ: {} vs {}", theirs.index(), own.index()));
                        }
                        match theirs.send_nowait(b"wrong worker") {
                            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                            other => return Err(format!("send_nowait on worker 1: {other:?}")),
                        }
                        match theirs.send(b"wrong worker") {
                            Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(()),
                            Err(e) => Err(format!("send on worker 1: {e}")),
                            Ok(_) => Err("send on worker 1 was accepted".into()),
                        }
                    })();
                    let connect = take(&CONNECT).await;
                    let result = match (result, connect.await) {
                        (Err(e), _) => Err(e),
                        (Ok(()), Err(e)) if e.kind() == ErrorKind::InvalidInput => Ok(()),
                        (Ok(()), other) => Err(format!("foreign ConnectFuture gave {other:?}")),
                    };
                    theirs.close();
                    let _ = own.send_nowait(b"own");
                    *RESULT.lock().unwrap() = Some(result);
                })
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        *PEER.lock().unwrap() = Some(listener.local_addr().expect("addr"));
        let Some((shutdown, workers)) = two_workers::<Pair>(backend) else {
            return;
        };
        let result = wait_for("worker 1's verdict", Duration::from_secs(10), || RESULT.lock().unwrap().clone());
        assert_eq!(result, Ok(()));
        // Three connections arrived (two own, one from the moved connect,
        // closed by worker 0); the only bytes anyone sent are worker 1's
        // "own", on its own connection.
        listener.set_nonblocking(false).expect("blocking");
        let mut received = Vec::new();
        for _ in 0..3 {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
            let mut buf = [0u8; 64];
            if let Ok(n) = s.read(&mut buf) {
                received.extend_from_slice(&buf[..n]);
            }
        }
        assert_eq!(received, b"own", "bytes reached the wrong connection");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

backend_test! {
    /// An `fs::read` into lent memory, started on worker 0 and polled on
    /// worker 1, resolves with `InvalidInput` only once worker 0 cancelled
    /// it: bytes written to the FIFO afterwards are still there (before,
    /// it resolved at once and the kernel's read, still pending, took
    /// them).
    fn fs_read_polled_on_another_worker_resolves_after_its_cancel(backend) {
        static FIFO: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);
        static READ: Mutex<Option<DiskIoFuture>> = Mutex::new(None);
        static RESULT: Mutex<Option<Result<(), String>>> = Mutex::new(None);
        static mut BUF: [u8; 64] = [0; 64];
        struct Pair;
        impl Start for Pair {
            fn start(worker: usize) -> Pin<Box<dyn Future<Output = ()>>> {
                Box::pin(async move {
                    if worker == 0 {
                        let path = FIFO.lock().unwrap().clone().expect("set before launch");
                        let file = fs::open(&path, OpenFlags::READ_WRITE, 0)
                            .expect("open")
                            .await
                            .expect("opened");
                        // SAFETY: BUF is static, so it outlives the read
                        // whatever happens to the future; only the kernel
                        // writes it.
                        let read = unsafe {
                            fs::read(file, 0, std::ptr::addr_of_mut!(BUF).cast(), 64)
                        }
                        .expect("read submitted");
                        *READ.lock().unwrap() = Some(read);
                        // Keep the file open until the runtime stops.
                        sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    let read = take(&READ).await;
                    let result = match read.await {
                        Err(e) if e.kind() == ErrorKind::InvalidInput => Ok(()),
                        other => Err(format!("foreign fs read gave {other:?}")),
                    };
                    *RESULT.lock().unwrap() = Some(result);
                })
            }
        }
        let dir = TempDir::new("wrong-worker-fifo");
        let path = dir.path().join("fifo");
        mkfifo(&path);
        *FIFO.lock().unwrap() = Some(path.clone());
        let Some((shutdown, workers)) = two_workers::<Pair>(backend) else {
            return;
        };
        let result = wait_for("worker 1's verdict", Duration::from_secs(10), || RESULT.lock().unwrap().clone());
        assert_eq!(result, Ok(()));
        // The read is over: what we write now stays in the FIFO.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .expect("open the FIFO to read");
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).expect("open the FIFO to write");
        writer.write_all(b"still here").expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).expect("the bytes are still in the FIFO");
        assert_eq!(&buf[..n], b"still here", "a cancelled read took them");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

backend_test! {
    /// Worker 0's `UdpCtx` used on worker 1 (which has its own socket 0 on
    /// the same port) refuses `send_to` with `InvalidInput`: nothing leaves
    /// through worker 1's socket.
    fn udp_ctx_is_refused_on_another_worker(backend) {
        static PEER: Mutex<Option<SocketAddr>> = Mutex::new(None);
        static UDP: Mutex<Option<UdpCtx>> = Mutex::new(None);
        static RESULT: Mutex<Option<Result<(), String>>> = Mutex::new(None);
        struct Pair(usize);
        impl AsyncEventHandler for Pair {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                let worker = self.0;
                let peer = PEER.lock().unwrap().expect("set before launch");
                Some(Box::pin(async move {
                    if worker == 0 {
                        *UDP.lock().unwrap() = Some(udp);
                        return;
                    }
                    let theirs = take(&UDP).await;
                    let result = if theirs.index() != udp.index() {
                        Err(format!("indexes differ: {} vs {}", theirs.index(), udp.index()))
                    } else {
                        match theirs.send_to(peer, b"wrong worker") {
                            Err(UdpSendError::Io(e)) if e.kind() == ErrorKind::InvalidInput => Ok(()),
                            other => Err(format!("send_to on worker 1: {other:?}")),
                        }
                    };
                    let _ = udp.send_to(peer, b"own");
                    *RESULT.lock().unwrap() = Some(result);
                }))
            }
            fn create_for_worker(worker: usize) -> Self {
                Pair(worker)
            }
        }
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind the peer");
        peer.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        *PEER.lock().unwrap() = Some(peer.local_addr().expect("addr"));
        let port = UdpSocket::bind("127.0.0.1:0").expect("probe").local_addr().expect("addr").port();
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let builder = RinglineBuilder::new(config).bind_udp(SocketAddr::from(([127, 0, 0, 1], port)));
        let Some((shutdown, workers)) = launch_with::<Pair>(builder, backend) else {
            return;
        };
        let result = wait_for("worker 1's verdict", Duration::from_secs(10), || RESULT.lock().unwrap().clone());
        assert_eq!(result, Ok(()));
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n) = peer.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, [b"own".to_vec()], "only worker 1's own datagram left");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

/// Polls the wrapped future once (registering it where it is polled) and
/// hands it back still pending.
struct PollOnce<F>(Option<F>);

impl<F: Future + Unpin> Future for PollOnce<F> {
    type Output = F;
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F> {
        let mut inner = self.0.take().expect("polled once");
        assert!(
            Pin::new(&mut inner).poll(cx).is_pending(),
            "resolved at once"
        );
        std::task::Poll::Ready(inner)
    }
}

backend_test! {
    /// A sleep armed on worker 0 and awaited on worker 1 completes at its
    /// deadline there, and worker 0's timer slot is given back.
    fn a_sleep_moves_to_another_worker(backend) {
        static SLEEP: Mutex<Option<(SleepFuture, Instant)>> = Mutex::new(None);
        static RESULT: Mutex<Option<Result<(), String>>> = Mutex::new(None);
        struct Pair;
        impl Start for Pair {
            fn start(worker: usize) -> Pin<Box<dyn Future<Output = ()>>> {
                Box::pin(async move {
                    if worker == 0 {
                        let deadline = Instant::now() + Duration::from_millis(200);
                        let armed = PollOnce(Some(sleep(Duration::from_millis(200)))).await;
                        *SLEEP.lock().unwrap() = Some((armed, deadline));
                        return;
                    }
                    let (moved, deadline) = take(&SLEEP).await;
                    moved.await;
                    let woke = Instant::now();
                    let result = if woke + Duration::from_millis(5) < deadline {
                        Err(format!("woke {:?} early", deadline - woke))
                    } else {
                        Ok(())
                    };
                    *RESULT.lock().unwrap() = Some(result);
                })
            }
        }
        let Some((shutdown, workers)) = two_workers::<Pair>(backend) else {
            return;
        };
        let result = wait_for("worker 1's sleep", Duration::from_secs(5), || RESULT.lock().unwrap().clone());
        assert_eq!(result, Ok(()));
        wait_for("both workers' timers given back", Duration::from_secs(5), || {
            let rt = shutdown.stats();
            rt.workers
                .iter()
                .all(|w| w.slab("timers").is_some_and(|s| s.used == 0))
                .then_some(())
        });
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}
