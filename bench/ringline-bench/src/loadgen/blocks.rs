//! The closed-loop client of `ringline-bench blocks`: each connection asks
//! for one uniformly random 4 KiB block at a time (`fs_common::blocks`)
//! and checks that the block it gets back is the one it asked for.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

use fs_common::blocks::{self, BLOCK_SIZE};
use fs_common::xorshift;

use super::closed::{SPIN_LIMIT, spin_read_exact, spin_write_all};
use super::{Flags, Load, Outcome, Wait, connect};

/// Which blocks to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRequests {
    /// Blocks in the server's file; requests pick uniformly below it.
    pub blocks: u64,
    /// Seed of the random picks (each client thread derives its own from
    /// it, so a run's request sequence is reproducible).
    pub seed: u64,
}

impl BlockRequests {
    /// Client thread `thread`'s own stream of picks.
    pub(super) fn for_thread(self, thread: usize) -> BlockRequests {
        BlockRequests {
            blocks: self.blocks,
            seed: pick_seed(self.seed, thread),
        }
    }
}

/// A non-zero xorshift state for thread `thread` of a run seeded `seed`.
fn pick_seed(seed: u64, thread: usize) -> u64 {
    (seed ^ (thread as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// The next block to ask for (the modulo's bias is below 2^-40 for a
/// 1 GiB file).
fn next_block(state: &mut u64, blocks: u64) -> u64 {
    xorshift(state) % blocks
}

/// Loops over `n` connections until told to stop: a request on each, then
/// each answer read back and checked, timing each connection's round trip
/// from its own write.
pub(super) fn client(
    load: &Load,
    n: usize,
    requests: BlockRequests,
    flags: &Flags,
) -> io::Result<Outcome> {
    if requests.blocks == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the block file holds no block",
        ));
    }
    let mut conns = connect(load.addr, n)?;
    for c in &conns {
        match load.wait {
            Wait::Block => c.set_read_timeout(Some(SPIN_LIMIT))?,
            Wait::Spin => c.set_nonblocking(true)?,
        }
    }
    let mut state = requests.seed;
    let mut asked = vec![0u64; n];
    let mut answer = vec![0u8; BLOCK_SIZE];
    let mut sent_at = vec![Instant::now(); n];
    let mut out = Outcome::default();
    while !flags.stop.load(Ordering::Relaxed) {
        for ((c, t), index) in conns.iter_mut().zip(&mut sent_at).zip(&mut asked) {
            *index = next_block(&mut state, requests.blocks);
            let request = blocks::request(*index);
            *t = Instant::now();
            match load.wait {
                Wait::Block => c.write_all(&request)?,
                Wait::Spin => spin_write_all(c, &request)?,
            }
        }
        let counting = flags.counting.load(Ordering::Relaxed);
        for ((c, t), &index) in conns.iter_mut().zip(&sent_at).zip(&asked) {
            match load.wait {
                Wait::Block => c.read_exact(&mut answer)?,
                Wait::Spin => spin_read_exact(c, &mut answer)?,
            }
            check_answer(index, &answer)?;
            if counting {
                out.record(t.elapsed().as_nanos() as u64);
            }
        }
    }
    Ok(out)
}

/// Fails unless `answer` is block `index` (by its header).
fn check_answer(index: u64, answer: &[u8]) -> io::Result<()> {
    match blocks::block_header(answer) {
        Some(got) if got == index => Ok(()),
        got => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("asked for block {index}, got one that says {got:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, TcpListener};
    use std::time::Duration;

    #[test]
    fn picks_are_seeded_per_thread_and_stay_in_range() {
        let run = BlockRequests {
            blocks: 1000,
            seed: 7,
        };
        let (a, b) = (run.for_thread(0), run.for_thread(1));
        assert_ne!(a.seed, b.seed);
        assert_eq!(a, run.for_thread(0), "reproducible");
        assert_eq!(pick_seed(0, 0) & 1, 1, "never the all-zero state");
        let mut state = a.seed;
        let picks: Vec<u64> = (0..10_000).map(|_| next_block(&mut state, 1000)).collect();
        assert!(picks.iter().all(|&p| p < 1000));
        // Uniform enough: every tenth of the range is hit about 1,000 times.
        for decile in 0..10 {
            let hits = picks.iter().filter(|&&p| p / 100 == decile).count();
            assert!((800..1200).contains(&hits), "decile {decile}: {hits}");
        }
    }

    #[test]
    fn answers_are_checked_against_the_request() {
        let mut block = [0u8; BLOCK_SIZE];
        blocks::fill_block(12, &mut block);
        assert!(check_answer(12, &block).is_ok());
        assert_eq!(
            check_answer(13, &block).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    /// A thread-per-connection std block server over a virtual file of
    /// `blocks` blocks (no runtime, no disk); `wrong` answers every
    /// request with block 0.
    fn std_block_server(blocks_in_file: u64, wrong: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut request = [0u8; blocks::REQUEST_LEN];
                    let mut block = [0u8; BLOCK_SIZE];
                    while stream.read_exact(&mut request).is_ok() {
                        let index = blocks::parse_request(&request).expect("8 bytes");
                        assert!(index < blocks_in_file);
                        blocks::fill_block(if wrong { 0 } else { index }, &mut block);
                        if stream.write_all(&block).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn load(addr: SocketAddr, wait: Wait) -> Load {
        Load {
            addr,
            connections: 4,
            threads: 2,
            message_size: BLOCK_SIZE,
            duration: Duration::from_millis(300),
            client_cpus: Vec::new(),
            rate: None,
            wait,
        }
    }

    fn run(load: &Load, blocks: u64) -> io::Result<Outcome> {
        let mut running = super::super::start_blocks(load, BlockRequests { blocks, seed: 1 });
        running.begin();
        std::thread::sleep(load.duration);
        running.end();
        running.finish()
    }

    #[test]
    fn a_closed_loop_against_a_block_server_counts_checked_answers() {
        let addr = std_block_server(50, false);
        for wait in [Wait::Block, Wait::Spin] {
            let out = run(&load(addr, wait), 50).expect("closed loop runs");
            assert!(out.ops > 100, "{wait:?}: only {} ops", out.ops);
            assert_eq!(out.latency.count, out.ops);
        }
        let wrong = std_block_server(50, true);
        let err = run(&load(wrong, Wait::Block), 50).expect_err("wrong blocks fail the run");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }
}
