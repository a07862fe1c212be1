//! Zero-copy receive: a connection with nothing buffered keeps the
//! kernel's receive buffer and lends it to the parse closure; bytes that
//! arrive before those are consumed, and connections beyond half the ring,
//! are copied into the accumulator instead. Byte order must survive every
//! mix of held and copied bytes, and held buffers must never starve the
//! ring.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use ringline::{AsyncEventHandler, ConnCtx, ParseResult};
use ringline_tests::{backend_test, client, read_n, shutdown_and_join, test_config};

/// Frames of one length byte and that many payload bytes; each payload is
/// sent back. A frame still incomplete asks for more (`NeedMore`), so a
/// held buffer stays held until the rest arrives.
struct Frames;

impl AsyncEventHandler for Frames {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async move {
            loop {
                let n = conn
                    .with_data(|data| {
                        let Some(&len) = data.first() else {
                            return ParseResult::NeedMore;
                        };
                        let frame = 1 + usize::from(len);
                        if data.len() < frame {
                            return ParseResult::NeedMore;
                        }
                        let _ = conn.send_nowait(&data[1..frame]);
                        ParseResult::Consumed(frame)
                    })
                    .await;
                if n == 0 {
                    break;
                }
            }
        }
    }

    fn create_for_worker(_worker_id: usize) -> Self {
        Frames
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![payload.len() as u8];
    f.extend_from_slice(payload);
    f
}

backend_test! {
    /// A frame in three pieces (held, then copied behind it), two frames in
    /// one write (the second read from the middle of a held buffer), and a
    /// frame whose tail comes with the next one's head.
    fn byte_order_survives_held_and_copied_bytes(backend) {
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Frames>(test_config(backend))
        else {
            return;
        };
        let mut s = client(addr);
        let pause = || std::thread::sleep(Duration::from_millis(30));

        let f = frame(b"split in three pieces");
        s.write_all(&f[..3]).expect("write");
        pause();
        s.write_all(&f[3..9]).expect("write");
        pause();
        s.write_all(&f[9..]).expect("write");
        assert_eq!(read_n(&mut s, f.len() - 1), b"split in three pieces");

        let mut two = frame(b"first");
        two.extend(frame(b"second"));
        s.write_all(&two).expect("write");
        assert_eq!(read_n(&mut s, 11), b"firstsecond");

        let a = frame(b"tail goes with");
        let b = frame(b"the next head");
        s.write_all(&a[..5]).expect("write");
        pause();
        let mut rest = a[5..].to_vec();
        rest.extend_from_slice(&b[..4]);
        s.write_all(&rest).expect("write");
        pause();
        s.write_all(&b[4..]).expect("write");
        assert_eq!(read_n(&mut s, 27), b"tail goes withthe next head");

        drop(s);
        shutdown_and_join(&shutdown, workers);
    }
}

backend_test! {
    /// Eight connections each wait for a frame that arrives in two pieces,
    /// through a ring of four buffers: were every first piece held, the
    /// ring would be empty and no second piece could ever arrive. At most
    /// half the ring is held; the rest is copied, so all eight complete.
    fn held_buffers_never_starve_the_ring(backend) {
        let mut config = test_config(backend);
        config.recv_buffer.ring_size = 4;
        config.recv_buffer.buffer_size = 4096;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<Frames>(config) else {
            return;
        };
        let mut clients: Vec<_> = (0..8).map(|_| client(addr)).collect();
        let payloads: Vec<Vec<u8>> = (0..8)
            .map(|i| format!("connection {i} gets its whole frame").into_bytes())
            .collect();
        for (s, p) in clients.iter_mut().zip(&payloads) {
            s.write_all(&frame(p)[..6]).expect("write");
        }
        std::thread::sleep(Duration::from_millis(100));
        for (s, p) in clients.iter_mut().zip(&payloads) {
            s.write_all(&frame(p)[6..]).expect("write");
        }
        for (s, p) in clients.iter_mut().zip(&payloads) {
            assert_eq!(&read_n(s, p.len()), p);
        }
        drop(clients);
        shutdown_and_join(&shutdown, workers);
    }
}
