//! UDP: echo through per-worker sockets, send-slot exhaustion, oversize
//! datagrams, and datagrams spread over two workers.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ringline::{AsyncEventHandler, ConnCtx, RinglineBuilder, UdpCtx, UdpSendError};
use ringline_tests::{IO_TIMEOUT, backend_test, join_checked, launch_with, test_config};

/// A free UDP port on loopback (bound and released).
fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    s.local_addr().expect("local addr").port()
}

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// Echoes every datagram back to its sender.
struct UdpEcho;

impl AsyncEventHandler for UdpEcho {
    fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async {}
    }

    fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(Box::pin(async move {
            loop {
                let (data, peer) = udp.recv_from().await;
                let _ = udp.send_to(peer, &data);
            }
        }))
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        UdpEcho
    }
}

backend_test! {
    /// Datagrams of several sizes come back unchanged, from the bound port.
    fn udp_echo_with_a_std_client(backend) {
        let port = free_udp_port();
        let server: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let builder = RinglineBuilder::new(test_config(backend)).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<UdpEcho>(builder, backend) else {
            return;
        };
        let c = client();
        let mut buf = vec![0u8; 2048];
        for size in [1usize, 7, 100, 1400] {
            let msg: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            c.send_to(&msg, server).expect("send");
            let (n, from) = c.recv_from(&mut buf).expect("echo arrives");
            assert_eq!(from, server, "the echo comes from the bound address");
            assert_eq!(&buf[..n], &msg[..], "datagram of {size} bytes echoed");
        }
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

backend_test! {
    /// With one send slot, a second `send_to` before the first completes is
    /// refused with `PoolExhausted`; a datagram over 65 507 bytes is an
    /// `Io(InvalidInput)`. The verdict is sent back once the slot frees.
    fn udp_send_slots_exhaust_and_oversize_is_refused(backend) {
        struct OneSlot;
        impl AsyncEventHandler for OneSlot {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                Some(Box::pin(async move {
                    let (_, peer) = udp.recv_from().await;
                    let first = udp.send_to(peer, b"first");
                    let second = udp.send_to(peer, b"second");
                    let big = udp.send_to(peer, &vec![0u8; 70_000]);
                    let verdict = match (first, second, big) {
                        (Ok(()), Err(UdpSendError::PoolExhausted), Err(UdpSendError::Io(e)))
                            if e.kind() == std::io::ErrorKind::InvalidInput =>
                        {
                            "OK".to_string()
                        }
                        other => format!("{other:?}"),
                    };
                    // Wait for the first send's slot to come back.
                    loop {
                        ringline::sleep(Duration::from_millis(5)).await;
                        if udp.send_to(peer, verdict.as_bytes()).is_ok() {
                            break;
                        }
                    }
                    std::future::pending::<()>().await;
                }))
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                OneSlot
            }
        }
        let port = free_udp_port();
        let server: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = test_config(backend);
        config.udp_send_slots = 1;
        let builder = RinglineBuilder::new(config).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<OneSlot>(builder, backend) else {
            return;
        };
        let c = client();
        c.send_to(b"go", server).expect("send");
        let mut buf = [0u8; 256];
        let (n, _) = c.recv_from(&mut buf).expect("first datagram");
        assert_eq!(&buf[..n], b"first");
        let (n, _) = c.recv_from(&mut buf).expect("verdict");
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "OK");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

backend_test! {
    /// Two workers each bind the port (`SO_REUSEPORT`); datagrams from many
    /// client sockets are all answered, by both workers between them.
    fn udp_datagrams_spread_over_two_workers(backend) {
        static SEEN_BY: Mutex<[usize; 2]> = Mutex::new([0; 2]);
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        struct Tagged {
            id: usize,
        }
        impl AsyncEventHandler for Tagged {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                let id = self.id;
                Some(Box::pin(async move {
                    loop {
                        let (data, peer) = udp.recv_from().await;
                        SEEN_BY.lock().unwrap()[id] += 1;
                        let _ = udp.send_to(peer, &data);
                    }
                }))
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                Tagged {
                    id: NEXT_ID.fetch_add(1, Ordering::SeqCst) % 2,
                }
            }
        }
        let port = free_udp_port();
        let server: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let builder = RinglineBuilder::new(config).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<Tagged>(builder, backend) else {
            return;
        };
        let clients: Vec<UdpSocket> = (0..32).map(|_| client()).collect();
        let mut buf = [0u8; 64];
        for (i, c) in clients.iter().enumerate() {
            let msg = format!("datagram {i}");
            c.send_to(msg.as_bytes(), server).expect("send");
            let (n, _) = c.recv_from(&mut buf).expect("echo");
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        let seen = *SEEN_BY.lock().unwrap();
        assert_eq!(seen[0] + seen[1], 32, "every datagram handled exactly once");
        assert!(
            seen[0] > 0 && seen[1] > 0,
            "32 source ports should reach both workers, got {seen:?}"
        );
        shutdown.shutdown();
        join_checked(&shutdown, workers);
    }
}

backend_test! {
    /// `send_to` an address the socket cannot reach fails at once, before
    /// anything is submitted: an IPv6 peer from an IPv4 socket (as `std`
    /// refuses with `EAFNOSUPPORT`), and port 0. Only the verdict is sent.
    fn udp_send_to_an_unreachable_address_is_refused_before_submitting(backend) {
        struct WrongFamily;
        impl AsyncEventHandler for WrongFamily {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                Some(Box::pin(async move {
                    let (_, peer) = udp.recv_from().await;
                    let v6 = udp.send_to("[::1]:9".parse().unwrap(), b"lost");
                    let port_zero = udp.send_to("127.0.0.1:0".parse().unwrap(), b"lost");
                    let refused = |r: &Result<(), UdpSendError>| {
                        matches!(r, Err(UdpSendError::Io(e))
                            if e.kind() == std::io::ErrorKind::InvalidInput)
                    };
                    let verdict = if refused(&v6) && refused(&port_zero) {
                        "OK".to_string()
                    } else {
                        format!("{v6:?} {port_zero:?}")
                    };
                    let _ = udp.send_to(peer, verdict.as_bytes());
                    std::future::pending::<()>().await;
                }))
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                WrongFamily
            }
        }
        let server = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
        let builder = RinglineBuilder::new(test_config(backend)).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<WrongFamily>(builder, backend) else {
            return;
        };
        let c = client();
        c.send_to(b"go", server).expect("send");
        let mut buf = [0u8; 256];
        let (n, _) = c.recv_from(&mut buf).expect("verdict");
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "OK");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
        let rt = shutdown.stats();
        let sends = rt.workers[0].op("udp_send").expect("udp_send was used");
        assert_eq!(sends.submitted_total, 1, "only the verdict went out: {sends:?}");
    }
}

backend_test! {
    /// A send the kernel fails is counted: 255.255.255.255 is a broadcast
    /// address and the socket lacks `SO_BROADCAST`, so the kernel refuses
    /// the datagram (`EACCES`) without sending anything, after `send_to`
    /// returned `Ok`.
    fn failed_udp_send_completions_are_counted(backend) {
        struct Broadcast;
        impl AsyncEventHandler for Broadcast {
            fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async {}
            }
            fn on_udp_bind(&self, udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
                Some(Box::pin(async move {
                    let (_, peer) = udp.recv_from().await;
                    let broadcast = udp.send_to("255.255.255.255:9".parse().unwrap(), b"x");
                    let verdict = format!("{broadcast:?}");
                    let _ = udp.send_to(peer, verdict.as_bytes());
                    std::future::pending::<()>().await;
                }))
            }
            fn create_for_worker(_worker_id: usize) -> Self {
                Broadcast
            }
        }
        let server = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
        let builder = RinglineBuilder::new(test_config(backend)).bind_udp(server);
        let Some((shutdown, workers)) = launch_with::<Broadcast>(builder, backend) else {
            return;
        };
        let c = client();
        c.send_to(b"go", server).expect("send");
        let mut buf = [0u8; 256];
        let (n, _) = c.recv_from(&mut buf).expect("verdict");
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "Ok(())", "submitted");
        shutdown.shutdown();
        join_checked(&shutdown, workers);
        let w = &shutdown.stats().workers[0];
        assert_eq!(w.net.datagram_send_errors_total, 1, "{:?}", w.net);
        assert_eq!(w.net.datagrams_sent_total, 1, "only the verdict: {:?}", w.net);
        let sends = w.op("udp_send").expect("udp_send was used");
        assert_eq!(sends.completed_error_total, 1, "{sends:?}");
    }
}
