//! A process for the inspect tests to attach to: one worker serving echo,
//! one file read stuck on a FIFO from the start, and nothing else.
//!
//! Prints `ready pid=<pid> echo=<addr>` once serving; exits cleanly on
//! SIGTERM or SIGINT. Honours `RINGLINE_INSPECT_DIR`.

// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;

use bytes::BytesMut;
use ringline::fs::{self, OpenFlags};
use ringline::{AsyncEventHandler, ConnCtx, RinglineBuilder};

static FIFO: OnceLock<PathBuf> = OnceLock::new();

struct Target;

impl AsyncEventHandler for Target {
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        ringline_tests::echo(conn)
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        Some(Box::pin(async {
            let Some(fifo) = FIFO.get() else { return };
            let Ok(opening) = fs::open(fifo, OpenFlags::READ_WRITE, 0) else {
                return;
            };
            let Ok(f) = opening.await else { return };
            if let Ok(read) = fs::read_into(f, 0, BytesMut::with_capacity(512)) {
                let _ = read.await;
            }
        }))
    }

    fn create_for_worker(_worker: usize) -> Self {
        Target
    }
}

fn main() {
    let dir = ringline_tests::TempDir::new("inspect-target");
    let fifo = dir.path().join("stuck.fifo");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("no NUL");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let _ = FIFO.set(fifo);
    let mut config = ringline_tests::test_config(ringline::config::BackendChoice::Auto);
    config.fs = Some(ringline::fs::FsConfig::default());
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ringline_tests::free_port()));
    // Before anything shows we are up (the inspect socket, the ready
    // line): a SIGTERM from then on is kept for wait_on_signal.
    ringline::signal::install().expect("install the signal handlers");
    let (shutdown, workers) = RinglineBuilder::new(config)
        .bind(addr)
        .launch::<Target>()
        .expect("launch");
    println!("ready pid={} echo={addr}", std::process::id());
    shutdown.wait_on_signal();
    for w in workers {
        let _ = w.join();
    }
}
