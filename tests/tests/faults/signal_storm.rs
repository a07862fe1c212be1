//! A storm of signals at the workers: a thread sends `SIGUSR1` (handled by
//! a no-op handler installed without `SA_RESTART`, so every blocking call
//! it lands in fails with `EINTR`) to both worker threads tens of
//! thousands of times while eight clients run echo traffic. Every round
//! trip must complete with its own bytes, and nothing is lost.

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringline::{AsyncEventHandler, ConnCtx};
use ringline_tests::{backend_test, client, pattern, read_n, test_config};

use crate::util::{Rng, figures, ms, seed};

/// Signals that reached a handler (any thread).
static DELIVERED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_signal: libc::c_int) {
    DELIVERED.fetch_add(1, Ordering::Relaxed);
}

/// Installs the no-op `SIGUSR1` handler, without `SA_RESTART`.
fn install_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // SAFETY: all-zero is a valid `sigaction` to fill in.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        // SAFETY: `action.sa_mask` is a valid sigset to initialize.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: a valid action whose handler is async-signal-safe (one
        // relaxed atomic add); the old action is not asked for.
        let rc = unsafe { libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "sigaction: {}", std::io::Error::last_os_error());
    });
}

const CLIENTS: usize = 8;
const TRAFFIC: Duration = Duration::from_secs(2);

backend_test! {
    fn signal_storm_interrupts_workers_and_loses_nothing(backend) {
        static TIDS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());
        struct TidEcho;
        impl AsyncEventHandler for TidEcho {
            fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
                ringline_tests::echo(conn)
            }
            fn on_start(&self) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + 'static>>> {
                // On the worker's own thread: its kernel thread id.
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                TIDS.lock().unwrap().push(tid);
                None
            }
            fn create_for_worker(_worker: usize) -> Self {
                TidEcho
            }
        }

        install_handler();
        let mut config = test_config(backend);
        config.worker.threads = 2;
        let Some((addr, shutdown, workers)) = ringline_tests::launch::<TidEcho>(config) else {
            return;
        };
        let tids = ringline_tests::wait_for("both workers started", Duration::from_secs(5), || {
            let t = TIDS.lock().unwrap();
            (t.len() == 2).then(|| t.clone())
        });
        let delivered_before = DELIVERED.load(Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let storm = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // SAFETY: getpid has no preconditions.
                let pid = unsafe { libc::getpid() };
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for &tid in &tids {
                        // SAFETY: tgkill on threads of our own process that
                        // are alive until `stop` (joined only after it).
                        let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
                        assert_eq!(rc, 0, "tgkill: {}", std::io::Error::last_os_error());
                        sent += 1;
                    }
                    std::thread::sleep(Duration::from_micros(20));
                }
                sent
            })
        };
        let seed = seed();
        let started = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut rng = Rng::new(seed ^ ((i as u64 + 1) * 0x9e37_79b9));
                    let mut stream = client(addr);
                    let base = pattern(8192);
                    let (mut trips, mut bytes) = (0u64, 0u64);
                    while started.elapsed() < TRAFFIC {
                        let len = 1 + rng.below(8192) as usize;
                        let msg: Vec<u8> =
                            base[..len].iter().map(|b| b.wrapping_add(trips as u8)).collect();
                        stream.write_all(&msg).expect("write");
                        assert!(read_n(&mut stream, len) == msg, "client {i}: bytes differ");
                        trips += 1;
                        bytes += len as u64;
                    }
                    (trips, bytes)
                })
            })
            .collect();
        let (mut trips, mut bytes) = (0u64, 0u64);
        for (i, c) in clients.into_iter().enumerate() {
            let (t, b) = c.join().unwrap_or_else(|_| panic!("client {i} failed (seed {seed})"));
            trips += t;
            bytes += b;
        }
        stop.store(true, Ordering::Relaxed);
        let sent = storm.join().expect("signal thread");
        let delivered = DELIVERED.load(Ordering::Relaxed) - delivered_before;
        ringline_tests::shutdown_and_join(&shutdown, workers);
        assert!(sent >= 2_000, "only {sent} signals sent");
        assert!(delivered >= 1_000, "only {delivered} signals delivered");
        let rt = shutdown.stats();
        let received: u64 = rt.workers.iter().map(|w| w.net.bytes_received_total).sum();
        let echoed: u64 = rt.workers.iter().map(|w| w.net.bytes_sent_total).sum();
        assert_eq!((received, echoed), (bytes, bytes), "bytes sent == bytes echoed");
        figures(
            "signal_storm",
            &[
                ("backend", format!("{backend:?}")),
                ("signals_sent", sent.to_string()),
                ("signals_delivered", delivered.to_string()),
                ("round_trips", trips.to_string()),
                ("bytes_sent", bytes.to_string()),
                ("bytes_echoed", echoed.to_string()),
                ("lost", "0".into()),
                ("ms", ms(TRAFFIC)),
            ],
        );
    }
}
