//! A closed-loop echo load generator on plain blocking std sockets: it
//! shares no code with the runtime under test.
//!
//! Each client thread owns some connections and keeps exactly one message
//! in flight on each: write to every connection, then read every echo
//! back, and again, so the offered concurrency is the connection count.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to offer.
#[derive(Debug, Clone)]
pub struct Load {
    /// Server address.
    pub addr: SocketAddr,
    /// Connections, spread over `threads`.
    pub connections: usize,
    /// Client threads.
    pub threads: usize,
    /// Bytes per message (each way).
    pub message_size: usize,
    /// How long to measure (after a short warm-up).
    pub duration: Duration,
    /// CPU to pin client threads to, if any.
    pub client_cpu: Option<usize>,
}

/// What one run achieved.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Round trips completed in the measured window.
    pub ops: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
}

/// Load being offered: connections open, clients looping.
pub struct Running {
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<io::Result<u64>>>,
    started_counting: Option<Instant>,
    counted: Duration,
}

/// Starts offering `load` to a server already listening.
pub fn start(load: &Load) -> Running {
    let threads = load.threads.max(1).min(load.connections.max(1));
    let per_thread: Vec<usize> = (0..threads)
        .map(|t| load.connections / threads + usize::from(t < load.connections % threads))
        .collect();
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for &n in &per_thread {
        let load = load.clone();
        let (counting, stop) = (counting.clone(), stop.clone());
        handles.push(std::thread::spawn(move || -> io::Result<u64> {
            if let Some(cpu) = load.client_cpu {
                super::cpu::pin_current_thread(cpu);
            }
            let mut conns = (0..n)
                .map(|_| {
                    let s = TcpStream::connect(load.addr)?;
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(Duration::from_secs(10)))?;
                    Ok(s)
                })
                .collect::<io::Result<Vec<_>>>()?;
            let msg = vec![0xa5u8; load.message_size];
            let mut buf = vec![0u8; load.message_size];
            let mut ops = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for c in &mut conns {
                    c.write_all(&msg)?;
                }
                for c in &mut conns {
                    c.read_exact(&mut buf)?;
                }
                if counting.load(Ordering::Relaxed) {
                    ops += conns.len() as u64;
                }
            }
            Ok(ops)
        }));
    }
    Running {
        counting,
        stop,
        handles,
        started_counting: None,
        counted: Duration::ZERO,
    }
}

impl Running {
    /// Starts the measured window.
    pub fn begin(&mut self) {
        self.started_counting = Some(Instant::now());
        self.counting.store(true, Ordering::Relaxed);
    }

    /// Ends the measured window.
    pub fn end(&mut self) {
        self.counting.store(false, Ordering::Relaxed);
        if let Some(t) = self.started_counting.take() {
            self.counted += t.elapsed();
        }
    }

    /// Stops the clients and returns what the measured window achieved.
    pub fn finish(self) -> io::Result<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let mut ops = 0;
        for h in self.handles {
            ops += h
                .join()
                .map_err(|_| io::Error::other("client thread panicked"))??;
        }
        Ok(Outcome {
            ops,
            elapsed: self.counted,
        })
    }
}

/// Runs `load` against a server already listening; `measure` is called at
/// the start and end of the measured window (to sample server CPU).
pub fn run(load: &Load, mut measure: impl FnMut()) -> io::Result<Outcome> {
    let mut running = start(load);
    // Warm-up: connections set up, caches and rings hot.
    std::thread::sleep(Duration::from_millis(300));
    measure();
    running.begin();
    std::thread::sleep(load.duration);
    running.end();
    measure();
    running.finish()
}
