//! A provided-buffer ring that runs dry: 2 receive buffers of 512 bytes
//! shared by 24 connections that each push 256 KiB at once. Nearly every
//! multishot receive ends with `ENOBUFS` and must be re-armed once buffers
//! are recycled, without losing, duplicating or reordering a byte: every
//! client gets its own bytes back, bytes sent == bytes echoed (on both
//! sides), and at the end the worker holds none of the ring's buffers.

use std::time::Instant;

use ringline_tests::{AwaitedEcho, backend_test, echo_round_trip, pattern, test_config};

use crate::util::{figures, ms};

const CONNS: usize = 24;
const MESSAGE: usize = 256 * 1024;
const RING_SIZE: u16 = 2;
const BUFFER_SIZE: u32 = 512;

backend_test! {
    fn enobufs_storm_echoes_every_byte(backend) {
        let mut config = test_config(backend);
        config.recv_buffer.ring_size = RING_SIZE;
        config.recv_buffer.buffer_size = BUFFER_SIZE;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<AwaitedEcho>(config) else {
            return;
        };
        let started = Instant::now();
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                std::thread::spawn(move || {
                    // Each client's bytes differ, so a buffer handed to
                    // the wrong connection shows.
                    let mut msg = pattern(MESSAGE);
                    msg.iter_mut().for_each(|b| *b = b.wrapping_add(i as u8));
                    let echoed = echo_round_trip(addr, &msg);
                    assert!(echoed == msg, "client {i}: echoed bytes differ");
                    echoed.len()
                })
            })
            .collect();
        let echoed: usize = clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.join().unwrap_or_else(|_| panic!("client {i} failed")))
            .sum();
        let took = started.elapsed();
        let sent = CONNS * MESSAGE;
        assert_eq!(echoed, sent, "bytes sent == bytes echoed");
        ringline_tests::shutdown_and_join(&shutdown, workers);
        let rt = shutdown.stats();
        let w = &rt.workers[0];
        let bufs = w.slab("recv_buffers").expect("recv_buffers reported");
        assert_eq!(bufs.used, 0, "the worker kept receive buffers: {bufs:?}");
        // Only io_uring receives into a provided-buffer ring.
        if rt.backend == "io_uring" {
            assert_eq!(bufs.capacity, u64::from(RING_SIZE), "{bufs:?}");
            assert!(bufs.exhausted_total > 0, "the ring never ran dry: {bufs:?}");
        }
        assert_eq!(w.net.bytes_received_total, sent as u64, "{:?}", w.net);
        assert_eq!(w.net.bytes_sent_total, sent as u64, "{:?}", w.net);
        let recv = w.op("recv").expect("recv");
        figures(
            "enobufs",
            &[
                ("backend", format!("{backend:?}")),
                ("conns", CONNS.to_string()),
                ("bytes_sent", sent.to_string()),
                ("bytes_echoed", echoed.to_string()),
                ("enobufs", bufs.exhausted_total.to_string()),
                ("recv_arms", recv.submitted_total.to_string()),
                ("buffers_held_at_end", bufs.used.to_string()),
                ("lost", "0".into()),
                ("ms", ms(took)),
            ],
        );
    }
}
