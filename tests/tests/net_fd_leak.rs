//! The process's open-descriptor count is back where it started once a
//! runtime that served TCP, Unix and UDP traffic and connected out has shut
//! down — with connections still open at shutdown, too.
//!
//! One test in its own binary: `/proc/self/fd` counts the whole process,
//! so no other test may open descriptors while it runs. (The fs layer has
//! its own: `fs_fd_leak.rs`.)

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::time::Duration;

use ringline::config::BackendChoice;
use ringline::{AsyncEventHandler, ConnCtx, RinglineBuilder, UdpCtx};
use ringline_tests::{
    IO_TIMEOUT, client, echo_round_trip, join_checked, launch_with, test_config, unique_temp_path,
};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Echoes streams and datagrams, and connects out once per worker to the
/// address in `OUT` (then closes).
struct Everything;

static OUT: std::sync::Mutex<Option<SocketAddr>> = std::sync::Mutex::new(None);

impl AsyncEventHandler for Everything {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        ringline_tests::echo(conn)
    }

    fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(Box::pin(async move {
            loop {
                let (data, peer) = udp.recv_from().await;
                let _ = udp.send_to(peer, &data);
            }
        }))
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        let out = (*OUT.lock().unwrap()).expect("set before launch");
        Some(Box::pin(async move {
            if let Ok(f) = ringline::connect(out)
                && let Ok(conn) = f.await
            {
                let _ = conn.send_nowait(b"hi");
                ringline::sleep(Duration::from_millis(20)).await;
                conn.close();
            }
        }))
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Everything
    }
}

fn serve_everything(backend: BackendChoice, leave_open: bool) {
    let outbound = TcpListener::bind("127.0.0.1:0").expect("bind");
    *OUT.lock().unwrap() = Some(outbound.local_addr().expect("addr"));
    let tcp = SocketAddr::from(([127, 0, 0, 1], ringline_tests::free_port()));
    let udp = {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let unix = unique_temp_path("fd-leak.sock");
    let mut config = test_config(backend);
    config.worker.threads = 2;
    let builder = RinglineBuilder::new(config)
        .bind(tcp)
        .bind_unix(&unix)
        .bind_udp(udp);
    let Some((shutdown, workers)) = launch_with::<Everything>(builder, backend) else {
        return;
    };
    let accepted: Vec<_> = (0..2)
        .map(|_| outbound.accept().expect("outbound"))
        .collect();
    for i in 0..20 {
        let msg = format!("tcp {i}").into_bytes();
        assert_eq!(echo_round_trip(tcp, &msg), msg);
    }
    let mut u = UnixStream::connect(&unix).expect("unix connect");
    u.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    u.write_all(b"over unix").expect("write");
    let mut buf = [0u8; 9];
    u.read_exact(&mut buf).expect("unix echo");
    assert_eq!(&buf, b"over unix");
    let d = UdpSocket::bind("127.0.0.1:0").expect("bind");
    d.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    d.send_to(b"datagram", udp).expect("send");
    let mut dbuf = [0u8; 16];
    let (n, _) = d.recv_from(&mut dbuf).expect("udp echo");
    assert_eq!(&dbuf[..n], b"datagram");
    // Open at shutdown: the runtime must close them itself.
    let kept = leave_open.then(|| {
        let mut c = client(tcp);
        c.write_all(b"still here").expect("write");
        c
    });
    shutdown.shutdown();
    join_checked(&shutdown, workers);
    drop((kept, u, d, accepted, outbound));
}

#[test]
fn net_scenarios_leave_no_descriptor_behind() {
    // In turn, not as two tests: the count is the whole process's.
    for backend in [BackendChoice::IoUring, BackendChoice::Mio] {
        // One runtime first, so anything created once per process is
        // counted in the baseline rather than as a leak.
        serve_everything(backend, false);
        let baseline = open_fds();
        for leave_open in [false, true, false] {
            serve_everything(backend, leave_open);
            let now = open_fds();
            assert_eq!(
                now, baseline,
                "{backend:?}, leave_open={leave_open}: {now} descriptors open, {baseline} before"
            );
        }
    }
}
