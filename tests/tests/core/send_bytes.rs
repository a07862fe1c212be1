//! Zero-copy sends (`ConnCtx::send_bytes`, `send_bytes_nowait`): large
//! buffers go out from their own memory without touching the send pool,
//! small ones are copied and coalesce, every kind of send keeps its order,
//! and a buffer is kept until the kernel is done with it — also when the
//! connection closes under it — and freed after.

use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ringline::{AsyncEventHandler, ConnCtx, ParseResult, ShutdownHandle};
use ringline_tests::{
    IO_TIMEOUT, backend_test, client, pattern, read_n, shutdown_and_join, test_config, wait_for,
};

/// A buffer that says when it is dropped.
struct Watched {
    data: Vec<u8>,
    dropped: Arc<AtomicBool>,
}

impl AsRef<[u8]> for Watched {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// `data` as `Bytes` whose drop sets the returned flag.
fn watched(data: Vec<u8>) -> (Bytes, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let bytes = Bytes::from_owner(Watched {
        data,
        dropped: dropped.clone(),
    });
    (bytes, dropped)
}

/// Waits for the client's first byte.
async fn first_byte(conn: ConnCtx) {
    conn.with_data(|d| ParseResult::Consumed(1.min(d.len())))
        .await;
}

/// `(high water, in use)` of the worker's send-copy pool.
fn pool_usage(shutdown: &ShutdownHandle) -> (u64, u64) {
    let rt = shutdown.stats();
    rt.workers[0]
        .slab("send_copy")
        .map_or((0, 0), |s| (s.high_water, s.used))
}

fn is_pool_exhausted(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ringline::Error>())
        .is_some_and(|inner| matches!(inner, ringline::Error::SendPoolExhausted))
}

const BIG: usize = 1024 * 1024;

backend_test! {
    /// A 1 MiB buffer is sent whole without one byte going through the send
    /// pool, and is dropped by the time its send future resolves.
    fn a_large_buffer_bypasses_the_send_pool(backend) {
        static SAID: Mutex<Option<String>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    first_byte(conn).await;
                    let (bytes, dropped) = watched(pattern(BIG));
                    let said = match conn.send_bytes(bytes) {
                        Ok(sent) => match sent.await {
                            Ok(n) => format!("sent {n}, dropped {}", dropped.load(Ordering::SeqCst)),
                            Err(e) => format!("send failed: {e}"),
                        },
                        Err(e) => format!("refused: {e}"),
                    };
                    *SAID.lock().unwrap() = Some(said);
                    while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        stream.write_all(b"go").expect("write");
        let got = read_n(&mut stream, BIG);
        assert!(got == pattern(BIG), "the buffer arrived damaged");
        let said = wait_for("the send to resolve", IO_TIMEOUT, || SAID.lock().unwrap().clone());
        assert_eq!(said, format!("sent {BIG}, dropped true"));
        assert_eq!(pool_usage(&shutdown), (0, 0), "bytes went through the send pool");
        drop(stream);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// Copies, zero-copy buffers, small buffers (copied) and buffers that
    /// fit the last pool slot (coalesced), awaited or not, arrive exactly
    /// in the order they were queued.
    fn every_kind_of_send_keeps_its_order(backend) {
        fn parts() -> Vec<(&'static str, Vec<u8>)> {
            let p = pattern(700 * 1024);
            vec![
                ("copy", p[..10].to_vec()),
                ("bytes", p[10..100_000].to_vec()),
                ("bytes", p[100_000..100_010].to_vec()),
                ("copy wait", p[100_010..150_000].to_vec()),
                ("copy", p[150_000..151_000].to_vec()),
                ("bytes", p[151_000..152_000].to_vec()),
                ("bytes wait", p[152_000..500_000].to_vec()),
                ("bytes", p[500_000..700_000].to_vec()),
                ("copy wait", p[700_000..].to_vec()),
            ]
        }
        static SAID: Mutex<Option<String>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    first_byte(conn).await;
                    let mut said = String::from("ok");
                    for (how, data) in parts() {
                        let result = match how {
                            "copy" => conn.send_nowait(&data),
                            "bytes" => conn.send_bytes_nowait(Bytes::from(data)),
                            "copy wait" => match conn.send(&data) {
                                Ok(f) => f.await.map(|_| ()),
                                Err(e) => Err(e),
                            },
                            _ => match conn.send_bytes(Bytes::from(data)) {
                                Ok(f) => f.await.map(|_| ()),
                                Err(e) => Err(e),
                            },
                        };
                        if let Err(e) = result {
                            said = format!("{how}: {e}");
                            break;
                        }
                    }
                    *SAID.lock().unwrap() = Some(said);
                    while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(test_config(backend))
        else {
            return;
        };
        let mut stream = client(addr);
        stream.write_all(b"go").expect("write");
        let want: Vec<u8> = parts().into_iter().flat_map(|(_, d)| d).collect();
        let got = read_n(&mut stream, want.len());
        let first_bad = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "bytes out of order or damaged");
        let said = wait_for("the sends to finish", IO_TIMEOUT, || SAID.lock().unwrap().clone());
        assert_eq!(said, "ok");
        drop(stream);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// A peer that never reads: a buffer larger than the socket buffers is
    /// still being sent when the handler returns and the connection
    /// closes. It is kept (the kernel reads it) until the linger deadline
    /// resets the connection and the cancelled send completes, then
    /// dropped; the slot is freed.
    fn a_buffer_outlives_the_close_until_its_send_completes(backend) {
        static STATE: Mutex<Option<(Arc<AtomicBool>, bool)>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    first_byte(conn).await;
                    let (bytes, dropped) = watched(vec![0x5A; 64 * 1024 * 1024]);
                    let queued = conn.send_bytes_nowait(bytes).is_ok();
                    *STATE.lock().unwrap() = Some((dropped, queued));
                    // Returning closes the connection with the buffer queued.
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let mut config = test_config(backend);
        config.close_linger_timeout = Duration::from_millis(400);
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(config) else {
            return;
        };
        let mut silent = client(addr);
        silent.write_all(b"x").expect("write");
        let (dropped, queued) =
            wait_for("the buffer to be queued", IO_TIMEOUT, || STATE.lock().unwrap().clone());
        assert!(queued, "send_bytes_nowait refused the buffer");
        // The connection is closing and lingering: the buffer must be kept.
        std::thread::sleep(Duration::from_millis(100));
        let active = shutdown.stats().workers[0].net.connections_active;
        assert_eq!(active, 1, "the connection should linger with its bytes queued");
        assert!(
            !dropped.load(Ordering::SeqCst),
            "the buffer was dropped while the kernel could still read it"
        );
        wait_for("the reset to free the buffer and the slot", IO_TIMEOUT, || {
            let w = &shutdown.stats().workers[0];
            (dropped.load(Ordering::SeqCst) && w.net.connections_active == 0).then_some(())
        });
        let mut buf = vec![0u8; 1024 * 1024];
        while let Ok(n) = silent.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// Buffers take no pool memory, but a connection whose peer never
    /// reads queues at most its share of them; the refusal is
    /// `SendPoolExhausted` and no pool slot was used.
    fn queued_buffers_are_capped_per_connection(backend) {
        static SAID: Mutex<Option<String>> = Mutex::new(None);
        struct Server;
        impl AsyncEventHandler for Server {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                async move {
                    first_byte(conn).await;
                    let block = Bytes::from(vec![0x33; 256 * 1024]);
                    let mut said = "never refused".to_string();
                    for _ in 0..10_000 {
                        if let Err(e) = conn.send_bytes_nowait(block.clone()) {
                            said = if is_pool_exhausted(&e) {
                                "SendPoolExhausted".into()
                            } else {
                                format!("{e}")
                            };
                            break;
                        }
                    }
                    *SAID.lock().unwrap() = Some(said);
                    while conn.with_data(|d| ParseResult::Consumed(d.len())).await > 0 {}
                }
            }
            fn create_for_worker(_id: usize) -> Self {
                Server
            }
        }
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Server>(test_config(backend))
        else {
            return;
        };
        let mut silent = client(addr);
        silent.write_all(b"x").expect("write");
        let said = wait_for("the sends to be refused", IO_TIMEOUT, || SAID.lock().unwrap().clone());
        assert_eq!(said, "SendPoolExhausted");
        assert_eq!(pool_usage(&shutdown), (0, 0), "buffers went through the send pool");
        drop(silent);
        shutdown_and_join(&shutdown, workers);
    }
}
