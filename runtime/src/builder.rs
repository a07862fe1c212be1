//! Launching a runtime: listeners, pools, worker threads, and the handle
//! that shuts them down.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crate::blocking::{BlockingPool, ResolverPool};
use crate::config::Backend;
use crate::config::{BackendChoice, Config};
use crate::driver;
use crate::error::Error;
use crate::executor::shutdown::ShutdownLatch;
use crate::handler::AsyncEventHandler;
use crate::net::{SockKind, listen_unix};
use crate::shared::{ExitGuard, RuntimeShared};
use crate::signal::Signal;
use crate::stats::op_registry::RegistryLayout;
use crate::stats::{RuntimeSnapshot, RuntimeSource, WorkerStats};
use crate::sys::{self, SockAddr, cfg_not_uring, cfg_uring};
use crate::worker::Worker;

/// Stops a launched runtime.
pub struct ShutdownHandle {
    shared: Arc<RuntimeShared>,
}

impl ShutdownHandle {
    /// Asks every worker to shut down gracefully: stop accepting, drop
    /// tasks, close connections, wait (bounded) for in-flight kernel
    /// operations, and return `Ok(())` from their threads. Returns at once;
    /// join the worker threads to wait for it.
    pub fn shutdown(&self) {
        self.shared.request_shutdown();
    }

    /// Blocks until SIGINT or SIGTERM arrives, then [`shutdown`](Self::shutdown)s.
    /// Returns the signal.
    pub fn wait_on_signal(&self) -> Signal {
        let signal = crate::signal::wait();
        self.shutdown();
        signal
    }

    /// This runtime's stats now — also after its workers exited, when they
    /// are the final counts (what [`crate::stats::snapshot`] no longer
    /// lists).
    pub fn stats(&self) -> RuntimeSnapshot {
        self.shared.snapshot(crate::stats::now_ns())
    }
}

/// Worker threads returned by [`RinglineBuilder::launch`].
pub type WorkerHandles = Vec<JoinHandle<Result<(), Error>>>;

/// Configures listeners and launches the worker threads.
pub struct RinglineBuilder {
    config: Config,
    tcp: Vec<SocketAddr>,
    unix: Vec<PathBuf>,
}

impl RinglineBuilder {
    /// A builder for `config` with nothing bound.
    pub fn new(config: Config) -> RinglineBuilder {
        RinglineBuilder {
            config,
            tcp: Vec::new(),
            unix: Vec::new(),
        }
    }

    /// Listens for TCP connections on `addr` (port 0 picks a free port).
    pub fn bind(mut self, addr: SocketAddr) -> RinglineBuilder {
        self.tcp.push(addr);
        self
    }

    /// Listens for Unix stream connections at `path`. A stale socket file
    /// there (nobody accepts on it) is replaced. A live socket of another
    /// listener fails launch with [`io::ErrorKind::AddrInUse`], and any
    /// other file with [`io::ErrorKind::AlreadyExists`]; neither is
    /// touched. When the runtime exits it removes the path only if it is
    /// still the socket this runtime created, so a successor that bound
    /// the path meanwhile (a rolling restart) keeps it.
    pub fn bind_unix(mut self, path: impl AsRef<Path>) -> RinglineBuilder {
        self.unix.push(path.as_ref().to_path_buf());
        self
    }

    /// Binds a UDP socket on `addr` in every worker (`SO_REUSEPORT`). Linux
    /// spreads incoming datagrams over the workers' sockets; macOS's
    /// `SO_REUSEPORT` does not balance, so there one worker may get them
    /// all.
    pub fn bind_udp(mut self, addr: SocketAddr) -> RinglineBuilder {
        self.config.udp_bind.push(addr);
        self
    }

    /// Binds the listeners and starts the workers, each with its own
    /// handler from `H::create_for_worker`. Returns once every worker has
    /// set up its ring (so a listener accepts as soon as this returns).
    ///
    /// # Errors
    ///
    /// An invalid config, a failed bind, a worker that could not set up
    /// its io_uring, or (off Linux) an explicit [`BackendChoice::IoUring`];
    /// no thread is left running on error.
    #[track_caller]
    pub fn launch<H: AsyncEventHandler>(self) -> Result<(ShutdownHandle, WorkerHandles), Error> {
        let launch_site = std::panic::Location::caller();
        crate::stats::ticks::init();
        let RinglineBuilder { config, tcp, unix } = self;
        config.validate()?;
        let backend = choose_backend(&config)?;
        let mut listeners = Vec::new();
        let mut listener_kinds = Vec::new();
        for addr in &tcp {
            listeners.push(Arc::new(listen_tcp(*addr, config.backlog)?));
            listener_kinds.push(SockKind::Tcp);
        }
        // Declared after `listeners`, so on an early return the files are
        // checked and removed while their listeners are still open.
        let mut socket_files = Vec::new();
        for path in &unix {
            let (fd, file) = listen_unix(path, config.backlog)?;
            listeners.push(Arc::new(fd));
            listener_kinds.push(SockKind::Unix);
            socket_files.push(file);
        }
        let threads = config.resolved_threads();
        let udp_sockets = bind_udp_sockets(&config.udp_bind, threads)?;
        let blocking = BlockingPool::new(
            config.blocking_threads,
            config.blocking_queue_capacity,
            "ringline-blocking",
        )?;
        let resolver = ResolverPool::new(config.resolver_threads, "ringline-resolver")?;
        let disk = match backend {
            Backend::Mio if config.fs.is_some() && config.disk_io_threads > 0 => {
                Some(driver::mio::DiskPool::new(config.disk_io_threads)?)
            }
            _ => None,
        };
        let layout = RegistryLayout {
            op_slots: driver::op_slots(&config),
            conns: config.max_connections,
            udp_sockets: config.udp_bind.len() as u32,
            udp_slots: u32::from(config.udp_send_slots),
            tasks: config
                .max_connections
                .saturating_add(config.standalone_task_capacity)
                .saturating_add(1),
        };
        let shared = Arc::new(RuntimeShared {
            shutdown: Arc::new(ShutdownLatch::default()),
            drain_timeout: config.shutdown_drain_timeout,
            threads,
            alive: AtomicUsize::new(threads),
            tasks_dropped: AtomicUsize::new(0),
            pool_threads_abandoned: AtomicU64::new(0),
            udp_sockets: Mutex::new(udp_sockets),
            listeners: Mutex::new(listeners),
            listener_kinds,
            socket_files: Mutex::new(socket_files),
            blocking,
            resolver,
            id: crate::stats::next_runtime_id(),
            backend,
            disk,
            started_at_unix_ns: crate::stats::unix_now_ns(),
            worker_stats: (0..threads)
                .map(|i| Arc::new(WorkerStats::new(i, layout)))
                .collect(),
            config_summary: config.summary(),
            config_inspect: config.inspect,
            launch_site,
        });
        crate::stats::register(Arc::downgrade(&shared) as std::sync::Weak<dyn RuntimeSource>);
        crate::stats::set_this_runtime(crate::worker::this_runtime);
        start_inspect(shared.config_inspect);
        #[cfg(feature = "recorder")]
        crate::recorder::start(&config.recorder);
        driver::set_current_backend(backend);

        let config = Arc::new(config);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), Error>>();
        let mut handles = Vec::with_capacity(threads);
        for worker_id in 0..threads {
            let worker_shared = shared.clone();
            let config = config.clone();
            let ready = ready_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ringline-worker-{worker_id}"))
                .spawn(move || {
                    // Dropped after the worker (declared first), however
                    // the thread ends.
                    let _exit = ExitGuard(worker_shared.clone());
                    if config.worker.pin_to_core {
                        sys::pin_to_core(config.worker.core_offset + worker_id);
                    }
                    let worker = match Worker::new(worker_id, worker_shared, config) {
                        Ok(w) => w,
                        Err(e) => {
                            let message = e.to_string();
                            let _ = ready.send(Err(e));
                            return Err(Error::RingSetup(message));
                        }
                    };
                    let handler = H::create_for_worker(worker_id);
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    worker.run(handler)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // Threads never started must still be counted out.
                    for _ in worker_id..threads {
                        shared.worker_exited();
                    }
                    shared.request_shutdown();
                    join_all(handles);
                    return Err(Error::Io(e));
                }
            }
        }
        drop(ready_tx);
        let mut failure = None;
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(Error::RingSetup(
                        "a worker thread exited during setup".into(),
                    ));
                }
            }
        }
        if let Some(e) = failure {
            shared.request_shutdown();
            join_all(handles);
            return Err(e);
        }
        Ok((ShutdownHandle { shared }, handles))
    }
}

/// Starts the process's inspect server (once) when the config asks for it.
#[cfg(feature = "inspect")]
fn start_inspect(enabled: bool) {
    crate::inspect::server::start(enabled);
}

#[cfg(not(feature = "inspect"))]
fn start_inspect(_enabled: bool) {}

fn join_all(handles: WorkerHandles) {
    for h in handles {
        let _ = h.join();
    }
}

/// The backend to run on: feature `force-mio` first, then the
/// `RINGLINE_BACKEND` override, then `config.backend`. `Auto` takes
/// io_uring when the probe passes and mio otherwise, saying why once per
/// process; an explicit `IoUring` that cannot run fails in worker setup
/// with the cause. Off Linux, `Auto` takes mio without a word and an
/// explicit `IoUring` fails here.
fn choose_backend(config: &Config) -> Result<Backend, Error> {
    if cfg!(feature = "force-mio") {
        return Ok(Backend::Mio);
    }
    Ok(match backend_choice(config)? {
        BackendChoice::IoUring => explicit_io_uring()?,
        BackendChoice::Mio => Backend::Mio,
        BackendChoice::Auto => match probe_io_uring() {
            Ok(()) => Backend::IoUring,
            Err(()) => Backend::Mio,
        },
    })
}

cfg_uring! {
    /// An explicit io_uring request: whether the ring can be set up shows
    /// in worker setup, whose error names the cause.
    fn explicit_io_uring() -> Result<Backend, Error> {
        Ok(Backend::IoUring)
    }

    /// Probes io_uring once per process; the first failure is logged.
    fn probe_io_uring() -> Result<(), ()> {
        static PROBED: std::sync::OnceLock<Result<(), ()>> = std::sync::OnceLock::new();
        *PROBED.get_or_init(|| {
            driver::uring::probe().map_err(|unavailable| {
                eprintln!(
                    "ringline: io_uring unavailable, falling back to the mio backend: {}",
                    unavailable.reason
                );
            })
        })
    }
}

cfg_not_uring! {
    /// An explicit io_uring request where there is none: fails before any
    /// listener is bound or thread started.
    fn explicit_io_uring() -> Result<Backend, Error> {
        Err(driver::uring_unsupported())
    }

    /// No io_uring here. Nothing is logged: mio is this platform's
    /// backend, not a fallback.
    fn probe_io_uring() -> Result<(), ()> {
        Err(())
    }
}

/// The backend `config` asks for, after the `RINGLINE_BACKEND` override.
fn backend_choice(config: &Config) -> Result<BackendChoice, Error> {
    let choice = match std::env::var("RINGLINE_BACKEND") {
        Ok(v) => match v.trim() {
            "io_uring" | "uring" => BackendChoice::IoUring,
            "mio" => BackendChoice::Mio,
            "" | "auto" => config.backend,
            other => {
                return Err(Error::RingSetup(format!(
                    "invalid config: RINGLINE_BACKEND={other:?}: expected io_uring, mio or auto"
                )));
            }
        },
        Err(_) => config.backend,
    };
    Ok(choice)
}

/// A close-on-exec IP socket of type `ty` for `addr`'s family.
fn ip_socket(addr: &SocketAddr, ty: libc::c_int) -> Result<OwnedFd, Error> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    Ok(sys::socket(domain, ty, 0)?)
}

/// Binds `fd` to `addr`, naming the address in the error.
fn bind_ip(fd: &OwnedFd, addr: &SocketAddr, what: &str) -> Result<(), Error> {
    sys::bind(fd.as_raw_fd(), &SockAddr::from_inet(addr))
        .map_err(|e| bind_error(e, &format!("{what} {addr}")))?;
    Ok(())
}

/// A bound, listening TCP socket (`SO_REUSEADDR`, close-on-exec).
fn listen_tcp(addr: SocketAddr, backlog: i32) -> Result<OwnedFd, Error> {
    let fd = ip_socket(&addr, libc::SOCK_STREAM)?;
    sys::set_reuse_addr(fd.as_raw_fd())?;
    bind_ip(&fd, &addr, "tcp")?;
    sys::listen(fd.as_raw_fd(), backlog)?;
    Ok(fd)
}

/// For each worker, one UDP socket per address, all bound to the same port
/// with `SO_REUSEPORT` (the first bind resolves port 0 for the rest).
fn bind_udp_sockets(addrs: &[SocketAddr], workers: usize) -> Result<Vec<Vec<OwnedFd>>, Error> {
    let mut per_worker: Vec<Vec<OwnedFd>> = (0..workers).map(|_| Vec::new()).collect();
    for addr in addrs {
        let mut bound = *addr;
        for sockets in per_worker.iter_mut() {
            let fd = udp_socket(bound)?;
            if bound.port() == 0 {
                bound = local_addr(&fd)?;
            }
            sockets.push(fd);
        }
    }
    Ok(per_worker)
}

fn udp_socket(addr: SocketAddr) -> Result<OwnedFd, Error> {
    let fd = ip_socket(&addr, libc::SOCK_DGRAM)?;
    sys::set_reuse_addr(fd.as_raw_fd())?;
    sys::set_reuse_port(fd.as_raw_fd())?;
    bind_ip(&fd, &addr, "udp")?;
    Ok(fd)
}

fn local_addr(fd: &OwnedFd) -> Result<SocketAddr, Error> {
    sys::local_addr(fd.as_raw_fd())?
        .as_inet()
        .ok_or_else(|| Error::Io(io::Error::other("getsockname gave a non-IP address")))
}

fn bind_error(e: io::Error, what: &str) -> Error {
    Error::Io(io::Error::new(e.kind(), format!("cannot bind {what}: {e}")))
}
