//! Runtime configuration: [`Config`], its parts, and [`ConfigBuilder`].
//!
//! Every pool a worker owns has a fixed capacity taken from here, so
//! [`Config::validate`] rejects values the runtime could not honour (a ring
//! size the kernel refuses, an index that does not fit the 24 bits the
//! completion and waker encodings give it) before any thread starts, with a
//! message naming the field and its valid range.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::error::Error;
use crate::fs::FsConfig;

/// The kernel's limit on ring sizes: `IORING_MAX_ENTRIES` for the
/// submission queue, and the largest power of two a provided-buffer ring
/// accepts (`IORING_REGISTER_PBUF_RING` refuses 65536 entries or more).
const MAX_RING_ENTRIES: u32 = 32_768;

/// Connection, task and timer indices travel in 24 bits of the `user_data`
/// and waker words, beside a generation and a tag; more slots than this
/// could not be addressed.
const MAX_INDEXED_SLOTS: u32 = 1 << 24;

/// A completion reports its byte count in the CQE's 32-bit signed `res`, so
/// one buffer can never be larger than `i32::MAX`; 1 GiB is the round limit
/// below that, and also caps per-connection allocations at something a
/// machine can actually back.
const MAX_BUFFER_BYTES: u32 = 1 << 30;

/// Bytes of each UDP receive buffer taken by multishot `recvmsg` metadata
/// before the payload: the 16-byte `io_uring_recvmsg_out` header and the
/// 128-byte `sockaddr_storage` the source address is written to.
const UDP_RECVMSG_OVERHEAD: u32 = 16 + 128;

/// Sanity bound on worker threads: far beyond any machine's core count, so
/// a larger value is almost certainly a typo that would spawn threads until
/// the system runs out.
const MAX_WORKER_THREADS: usize = 1024;

/// Configuration of a ringline runtime, passed to
/// [`RinglineBuilder::new`](crate::RinglineBuilder::new). Start from
/// [`Config::default`], or from [`ConfigBuilder`], whose `build` validates.
///
/// Unless stated otherwise, counts and capacities are per worker.
#[derive(Clone, Debug)]
pub struct Config {
    /// Submission queue entries of each worker's ring: how many operations
    /// one loop iteration can queue before it must submit. A power of two,
    /// 1..=32768. Default 256.
    pub sq_entries: u32,
    /// Provided-buffer ring for TCP and Unix multishot receives. Default 256
    /// buffers × 16 KiB, group id 0.
    pub recv_buffer: RecvBufferConfig,
    /// Provided-buffer ring for UDP multishot `recvmsg`. Each buffer holds a
    /// 16-byte header, a 128-byte source address and the datagram, so
    /// `buffer_size` must exceed 144 bytes and should cover the largest
    /// datagram expected plus those 144. Its `bgid` must differ from
    /// `recv_buffer.bgid` when UDP is in use. Default 128 buffers × 2048
    /// bytes (a standard-MTU datagram plus metadata), group id 1.
    pub udp_recv_buffer: RecvBufferConfig,
    /// Worker threads and their CPU pinning.
    pub worker: WorkerConfig,
    /// `listen(2)` backlog of the TCP and Unix listeners. Must be positive.
    /// Default 1024.
    pub backlog: i32,
    /// Connection slots (inbound and outbound), each a slot in the ring's
    /// fixed file table. 1..=2^24. Default 16000.
    pub max_connections: u32,
    /// Initial capacity in bytes of each connection's receive accumulator,
    /// which holds data a parser has not consumed yet; it grows on demand.
    /// At most 1 GiB. Default 4096.
    pub recv_accumulator_capacity: usize,
    /// Most received bytes one connection may hold that its handler has not
    /// consumed yet. At the limit the connection stops receiving (no
    /// receive is armed, so the kernel's buffer fills and TCP's window
    /// pushes back on the peer) until the handler has consumed down to half
    /// of it; nothing is dropped or reordered. Bytes the kernel had already
    /// delivered when the pause took effect are kept, so the accumulator
    /// may pass the limit by at most the receive ring's buffers. A handler
    /// that waits for a message longer than this waits forever (the
    /// connection shows as paused in the stats): size it above the largest
    /// message you parse. At least 1, at most 1 GiB. Default 1 MiB.
    pub recv_buffer_limit: usize,
    /// Copy-send slots. Each in-flight `send`/`send_nowait` holds one until
    /// the kernel completes it; when all are taken, sending returns an error
    /// instead of queueing. Memory: `send_copy_count * send_copy_slot_size`.
    /// Must be positive. Default 1024.
    pub send_copy_count: u16,
    /// Size in bytes of one copy-send slot: the largest single send. Must be
    /// positive. Default 16384.
    pub send_copy_slot_size: u32,
    /// Most copy-send slots one connection may hold, so a peer that never
    /// reads cannot take the pool from the others; a send that would pass
    /// it fails as if the pool were exhausted
    /// ([`Error::SendPoolExhausted`]). 0 means a quarter of
    /// `send_copy_count` (at least 1); a value above `send_copy_count` is
    /// the whole pool. Default 0.
    pub send_copy_per_connection: u16,
    /// How long a connection closed with bytes still queued may keep
    /// trying to send them to a peer that does not read. Past it the
    /// connection is reset (`SO_LINGER` 0, the peer sees `ECONNRESET`), its
    /// queued bytes are dropped and its slot, descriptor and send slots
    /// freed (counted as `linger_resets_total` in the stats). Default 30 s.
    pub close_linger_timeout: Duration,
    /// Longest time in microseconds a worker waits for completions before it
    /// runs [`on_tick`](crate::AsyncEventHandler::on_tick) anyway; 0 waits
    /// until a completion arrives. Default 1000.
    pub tick_timeout_us: u64,
    /// Set `TCP_NODELAY` on every TCP connection, accepted and outbound.
    /// Default true.
    pub tcp_nodelay: bool,
    /// Tasks not bound to a connection (those started with
    /// [`spawn`](crate::spawn)). At most 2^24. Default 256.
    pub standalone_task_capacity: u32,
    /// Concurrent timers ([`sleep`](crate::sleep),
    /// [`timeout`](crate::timeout) and friends). At most 2^24. Default 256.
    pub timer_slots: u32,
    /// UDP addresses every worker binds (with `SO_REUSEPORT`); empty means
    /// no UDP. [`RinglineBuilder::bind_udp`](crate::RinglineBuilder::bind_udp)
    /// appends here.
    pub udp_bind: Vec<SocketAddr>,
    /// In-flight sends per UDP socket; when all are taken,
    /// [`send_to`](crate::UdpCtx::send_to) returns
    /// [`UdpSendError::PoolExhausted`](crate::UdpSendError::PoolExhausted).
    /// Must be positive when UDP is used. Default 64.
    pub udp_send_slots: u16,
    /// Filesystem I/O ([`crate::fs`]); `None` disables it. Default
    /// `Some(FsConfig::default())`.
    pub fs: Option<FsConfig>,
    /// Threads resolving names for [`resolve`](crate::resolve), shared by all
    /// workers; 0 disables `resolve`. Default 2.
    pub resolver_threads: usize,
    /// Threads reserved for spawning processes. Accepted for compatibility
    /// with ringline 0.1; this release has no process API and starts none.
    /// Default 1.
    pub spawner_threads: usize,
    /// Threads running [`spawn_blocking`](crate::spawn_blocking) closures,
    /// shared by all workers; 0 disables `spawn_blocking`. Default 4.
    pub blocking_threads: usize,
    /// Threads running filesystem calls on a backend without native async
    /// file I/O; the io_uring backend does file I/O in the ring and starts
    /// none. Reads and writes of FIFOs, sockets and terminals never run
    /// there (they wait on readiness, cancellably), so a peer that never
    /// comes cannot stall these threads; nor can a `spawn_blocking`
    /// closure or a lookup, which run on threads of their own. 0 runs each
    /// filesystem call on the worker thread itself. Default 2.
    pub disk_io_threads: usize,
    /// Which I/O backend to run on. Default [`BackendChoice::Auto`].
    pub backend: BackendChoice,
    /// How long a worker waits at shutdown for in-flight kernel operations
    /// to complete or be cancelled. Past it, the worker exits anyway and
    /// deliberately leaks the buffers of the operations still in flight,
    /// since the kernel may yet write to them. It also bounds, from the
    /// shutdown request, how long the blocking and resolver threads get to
    /// finish a running closure or lookup: one still running then is left
    /// behind (detached, counted in
    /// [`RuntimeSnapshot::pool_threads_abandoned`](crate::stats::RuntimeSnapshot::pool_threads_abandoned))
    /// and the workers exit anyway. Default 5 s.
    pub shutdown_drain_timeout: Duration,
    /// Most [`spawn_blocking`](crate::spawn_blocking) closures queued or
    /// running at once, across all workers; past it `spawn_blocking` returns
    /// an error rather than queueing without bound. Must be positive when
    /// `blocking_threads` is. Default 4096.
    pub blocking_queue_capacity: usize,
    /// Serve this process's stats on the inspect socket (for
    /// `ringline-top --pid` and the sidecar exporter). Needs the `inspect`
    /// feature (on by default); the environment variable
    /// `RINGLINE_INSPECT=0` turns it off whatever this says. Default true.
    pub inspect: bool,
}

impl Config {
    /// The settings an inspector shows next to the numbers, as text.
    pub(crate) fn summary(&self) -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_owned(), v);
        };
        put("worker_threads", self.resolved_threads().to_string());
        put("sq_entries", self.sq_entries.to_string());
        put("max_connections", self.max_connections.to_string());
        put(
            "recv_buffers",
            format!(
                "{} x {} B",
                self.recv_buffer.ring_size, self.recv_buffer.buffer_size
            ),
        );
        put(
            "send_copy",
            format!("{} x {} B", self.send_copy_count, self.send_copy_slot_size),
        );
        put("timer_slots", self.timer_slots.to_string());
        put(
            "standalone_task_capacity",
            self.standalone_task_capacity.to_string(),
        );
        put("tick_timeout_us", self.tick_timeout_us.to_string());
        put("blocking_threads", self.blocking_threads.to_string());
        put("resolver_threads", self.resolver_threads.to_string());
        put(
            "fs",
            self.fs.as_ref().map_or("disabled".into(), |f| {
                format!(
                    "{} files, {} commands",
                    f.max_files, f.max_commands_in_flight
                )
            }),
        );
        put(
            "shutdown_drain_timeout_ms",
            self.shutdown_drain_timeout.as_millis().to_string(),
        );
        m
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sq_entries: 256,
            recv_buffer: RecvBufferConfig::default(),
            udp_recv_buffer: RecvBufferConfig {
                ring_size: 128,
                buffer_size: 2048,
                bgid: 1,
            },
            worker: WorkerConfig::default(),
            backlog: 1024,
            max_connections: 16_000,
            recv_accumulator_capacity: 4096,
            recv_buffer_limit: 1 << 20,
            send_copy_count: 1024,
            send_copy_slot_size: 16_384,
            send_copy_per_connection: 0,
            close_linger_timeout: Duration::from_secs(30),
            tick_timeout_us: 1000,
            tcp_nodelay: true,
            standalone_task_capacity: 256,
            timer_slots: 256,
            udp_bind: Vec::new(),
            udp_send_slots: 64,
            fs: Some(FsConfig::default()),
            resolver_threads: 2,
            spawner_threads: 1,
            blocking_threads: 4,
            disk_io_threads: 2,
            backend: BackendChoice::Auto,
            shutdown_drain_timeout: Duration::from_secs(5),
            blocking_queue_capacity: 4096,
            inspect: true,
        }
    }
}

impl Config {
    /// Checks every field against the range the runtime can honour.
    ///
    /// # Errors
    ///
    /// [`Error::RingSetup`] (message `invalid config: …`) for the first field out of range; the message
    /// names the field, the valid range and the value found.
    pub fn validate(&self) -> Result<(), Error> {
        check_ring_entries("sq_entries", self.sq_entries)?;

        check_ring_entries("recv_buffer.ring_size", self.recv_buffer.ring_size.into())?;
        check_buffer_size("recv_buffer.buffer_size", self.recv_buffer.buffer_size)?;
        // Checked even without UDP: the values are cheap to fix, and a bad
        // one would otherwise surface only once someone adds a UDP bind.
        check_ring_entries(
            "udp_recv_buffer.ring_size",
            self.udp_recv_buffer.ring_size.into(),
        )?;
        check_buffer_size(
            "udp_recv_buffer.buffer_size",
            self.udp_recv_buffer.buffer_size,
        )?;
        if !self.udp_bind.is_empty() {
            self.validate_udp()?;
        }

        if self.max_connections == 0 || self.max_connections > MAX_INDEXED_SLOTS {
            return invalid(format!(
                "max_connections must be between 1 and {MAX_INDEXED_SLOTS} \
                 (2^24, the width of a connection index in the user_data and waker encodings), \
                 got {}",
                self.max_connections
            ));
        }
        check_index_capacity("standalone_task_capacity", self.standalone_task_capacity)?;
        check_index_capacity("timer_slots", self.timer_slots)?;

        if self.send_copy_count == 0 {
            return invalid(
                "send_copy_count must be at least 1 (each in-flight send holds one slot), got 0",
            );
        }
        if self.send_copy_slot_size == 0 {
            return invalid(
                "send_copy_slot_size must be at least 1 byte (it bounds the largest single send), got 0",
            );
        }
        if self.recv_accumulator_capacity > MAX_BUFFER_BYTES as usize {
            return invalid(format!(
                "recv_accumulator_capacity must be at most {MAX_BUFFER_BYTES} bytes (1 GiB): \
                 it is allocated for every connection, got {}",
                self.recv_accumulator_capacity
            ));
        }
        if self.recv_buffer_limit == 0 || self.recv_buffer_limit > MAX_BUFFER_BYTES as usize {
            return invalid(format!(
                "recv_buffer_limit must be between 1 and {MAX_BUFFER_BYTES} bytes (1 GiB): \
                 it bounds what one connection may buffer unconsumed, got {}",
                self.recv_buffer_limit
            ));
        }
        if self.worker.threads > MAX_WORKER_THREADS {
            return invalid(format!(
                "worker.threads must be at most {MAX_WORKER_THREADS} (0 = one per core), got {}",
                self.worker.threads
            ));
        }
        if self.backlog <= 0 {
            return invalid(format!(
                "backlog must be positive (the listen(2) queue length; the default is 1024), got {}",
                self.backlog
            ));
        }
        if let Some(fs) = &self.fs {
            if fs.max_files == 0 {
                return invalid(
                    "fs.max_files must be at least 1 (set fs to None to disable filesystem i/o), got 0",
                );
            }
            if fs.max_commands_in_flight == 0 {
                return invalid(
                    "fs.max_commands_in_flight must be at least 1 (set fs to None to disable filesystem i/o), got 0",
                );
            }
        }
        if self.blocking_threads > 0 && self.blocking_queue_capacity == 0 {
            return invalid(
                "blocking_queue_capacity must be at least 1 while blocking_threads > 0 (set blocking_threads to 0 to disable spawn_blocking), got 0",
            );
        }
        Ok(())
    }

    /// The UDP rules, which matter only once a UDP address is bound.
    fn validate_udp(&self) -> Result<(), Error> {
        if self.udp_recv_buffer.bgid == self.recv_buffer.bgid {
            return invalid(format!(
                "udp_recv_buffer.bgid must differ from recv_buffer.bgid when UDP is used \
                 (each provided-buffer ring needs its own group id), both are {}",
                self.recv_buffer.bgid
            ));
        }
        let min_size = UDP_RECVMSG_OVERHEAD + 1;
        if self.udp_recv_buffer.buffer_size < min_size {
            return invalid(format!(
                "udp_recv_buffer.buffer_size must be at least {min_size} bytes when UDP is used \
                 (16-byte recvmsg header + 128-byte sockaddr_storage + 1 byte of payload), got {}",
                self.udp_recv_buffer.buffer_size
            ));
        }
        if self.udp_send_slots == 0 {
            return invalid("udp_send_slots must be at least 1 when UDP is used, got 0");
        }
        Ok(())
    }

    /// The copy-send slots one connection may hold (see
    /// [`send_copy_per_connection`](Self::send_copy_per_connection)).
    pub(crate) fn send_slots_per_connection(&self) -> u16 {
        match self.send_copy_per_connection {
            0 => (self.send_copy_count / 4).max(1),
            n => n.min(self.send_copy_count),
        }
    }

    /// Worker threads to start: `worker.threads`, or one per available core
    /// when it is 0 (at least one even if the core count is unknown).
    pub(crate) fn resolved_threads(&self) -> usize {
        match self.worker.threads {
            0 => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            n => n,
        }
    }
}

fn invalid<T>(message: impl Into<String>) -> Result<T, Error> {
    Err(Error::RingSetup(format!(
        "invalid config: {}",
        message.into()
    )))
}

fn check_ring_entries(field: &str, entries: u32) -> Result<(), Error> {
    if entries == 0 || !entries.is_power_of_two() || entries > MAX_RING_ENTRIES {
        return invalid(format!(
            "{field} must be a power of two between 1 and {MAX_RING_ENTRIES} \
             (the kernel's limit for ring sizes), got {entries}"
        ));
    }
    Ok(())
}

fn check_buffer_size(field: &str, bytes: u32) -> Result<(), Error> {
    if bytes == 0 || bytes > MAX_BUFFER_BYTES {
        return invalid(format!(
            "{field} must be between 1 and {MAX_BUFFER_BYTES} bytes \
             (a completion reports at most i32::MAX bytes; 1 GiB is the round limit below that), \
             got {bytes}"
        ));
    }
    Ok(())
}

fn check_index_capacity(field: &str, slots: u32) -> Result<(), Error> {
    if slots > MAX_INDEXED_SLOTS {
        return invalid(format!(
            "{field} must be at most {MAX_INDEXED_SLOTS} \
             (2^24, the width of a slot index in the user_data and waker encodings), got {slots}"
        ));
    }
    Ok(())
}

/// Which I/O backend the workers run on.
///
/// The environment variable `RINGLINE_BACKEND` (`io_uring` or `mio`), when
/// set, overrides this field at launch; launch rejects a value it does not
/// recognise with [`Error::RingSetup`] (message `invalid config: …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Let the runtime choose: io_uring when a probe at launch can set up
    /// a ring with every feature and opcode the driver uses; otherwise mio,
    /// with one line on stderr naming the cause (seccomp, a disabled or
    /// too old kernel, `RLIMIT_MEMLOCK`). Off Linux: mio, silently.
    #[default]
    Auto,
    /// io_uring; launch fails with [`Error::RingSetup`],
    /// naming the cause, if the ring cannot be set up (always off Linux:
    /// "io_uring is only available on Linux").
    IoUring,
    /// The readiness-based mio backend (epoll, kqueue): sockets on
    /// readiness, file I/O on `disk_io_threads` threads. Cargo feature
    /// `force-mio` selects it whatever this field or the environment says.
    Mio,
}

/// A provided-buffer ring: the kernel picks a free buffer from it for each
/// multishot receive, and the buffer returns to the ring once the data is
/// consumed.
#[derive(Clone, Debug)]
pub struct RecvBufferConfig {
    /// Buffers in the ring: a power of two, 1..=32768.
    pub ring_size: u16,
    /// Bytes per buffer: the most one receive completion can deliver.
    /// 1..=2^30.
    pub buffer_size: u32,
    /// Buffer group id naming the ring in receive requests; each ring of a
    /// worker needs its own.
    pub bgid: u16,
}

impl Default for RecvBufferConfig {
    /// 256 buffers × 16 KiB, group id 0.
    fn default() -> Self {
        Self {
            ring_size: 256,
            buffer_size: 16_384,
            bgid: 0,
        }
    }
}

/// Worker threads and their placement on CPUs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Worker threads; 0 starts one per available core. At most 1024.
    pub threads: usize,
    /// Pin worker `i` to core `core_offset + i`. Linux only: elsewhere
    /// workers run unpinned whatever this says.
    pub pin_to_core: bool,
    /// First core used for pinning.
    pub core_offset: usize,
}

impl Default for WorkerConfig {
    /// One worker per core, pinned, starting at core 0.
    fn default() -> Self {
        Self {
            threads: 0,
            pin_to_core: true,
            core_offset: 0,
        }
    }
}

/// Builds a [`Config`] with chainable setters and validates it in
/// [`build`](Self::build).
///
/// ```
/// use ringline::ConfigBuilder;
///
/// let config = ConfigBuilder::new()
///     .workers(4)
///     .max_connections(8000)
///     .sq_entries(512)
///     .recv_buffer(256, 4096)
///     .send_pool(512, 8192)
///     .timer_slots(1024)
///     .build()
///     .expect("valid config");
/// assert_eq!(config.worker.threads, 4);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Starts from [`Config::default`].
    pub fn new() -> Self {
        Self::default()
    }

    // ── Workers ──────────────────────────────────────────────────────

    /// Sets [`WorkerConfig::threads`]; 0 = one per core.
    pub fn workers(mut self, n: usize) -> Self {
        self.config.worker.threads = n;
        self
    }

    /// Sets [`WorkerConfig::pin_to_core`].
    pub fn pin_to_core(mut self, enable: bool) -> Self {
        self.config.worker.pin_to_core = enable;
        self
    }

    /// Sets [`WorkerConfig::core_offset`].
    pub fn core_offset(mut self, offset: usize) -> Self {
        self.config.worker.core_offset = offset;
        self
    }

    /// Sets [`Config::backend`].
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.config.backend = backend;
        self
    }

    /// Sets [`Config::shutdown_drain_timeout`].
    pub fn shutdown_drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_drain_timeout = timeout;
        self
    }

    /// Sets [`Config::inspect`].
    pub fn inspect(mut self, on: bool) -> Self {
        self.config.inspect = on;
        self
    }

    // ── Connections ──────────────────────────────────────────────────

    /// Sets [`Config::max_connections`].
    pub fn max_connections(mut self, n: u32) -> Self {
        self.config.max_connections = n;
        self
    }

    /// Sets [`Config::backlog`].
    pub fn backlog(mut self, n: i32) -> Self {
        self.config.backlog = n;
        self
    }

    /// Sets [`Config::tcp_nodelay`].
    pub fn tcp_nodelay(mut self, enable: bool) -> Self {
        self.config.tcp_nodelay = enable;
        self
    }

    // ── Ring and buffers ─────────────────────────────────────────────

    /// Sets [`Config::sq_entries`].
    pub fn sq_entries(mut self, n: u32) -> Self {
        self.config.sq_entries = n;
        self
    }

    /// Sets the TCP receive ring's size and buffer size; `bgid` keeps its
    /// value (change it through [`config_mut`](Self::config_mut)).
    pub fn recv_buffer(mut self, ring_size: u16, buffer_size: u32) -> Self {
        self.config.recv_buffer.ring_size = ring_size;
        self.config.recv_buffer.buffer_size = buffer_size;
        self
    }

    /// Sets [`Config::recv_accumulator_capacity`].
    pub fn recv_accumulator_capacity(mut self, bytes: usize) -> Self {
        self.config.recv_accumulator_capacity = bytes;
        self
    }

    /// Sets [`Config::recv_buffer_limit`].
    pub fn recv_buffer_limit(mut self, bytes: usize) -> Self {
        self.config.recv_buffer_limit = bytes;
        self
    }

    /// Sets [`Config::send_copy_per_connection`].
    pub fn send_copy_per_connection(mut self, slots: u16) -> Self {
        self.config.send_copy_per_connection = slots;
        self
    }

    /// Sets [`Config::close_linger_timeout`].
    pub fn close_linger_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_linger_timeout = timeout;
        self
    }

    /// Sets [`Config::send_copy_count`] and [`Config::send_copy_slot_size`].
    pub fn send_pool(mut self, count: u16, slot_size: u32) -> Self {
        self.config.send_copy_count = count;
        self.config.send_copy_slot_size = slot_size;
        self
    }

    // ── Tasks and time ───────────────────────────────────────────────

    /// Sets [`Config::standalone_task_capacity`].
    pub fn standalone_task_capacity(mut self, n: u32) -> Self {
        self.config.standalone_task_capacity = n;
        self
    }

    /// Sets [`Config::timer_slots`].
    pub fn timer_slots(mut self, n: u32) -> Self {
        self.config.timer_slots = n;
        self
    }

    /// Sets [`Config::tick_timeout_us`]; 0 waits until a completion arrives.
    pub fn tick_timeout_us(mut self, us: u64) -> Self {
        self.config.tick_timeout_us = us;
        self
    }

    // ── UDP ──────────────────────────────────────────────────────────

    /// Appends a UDP address to [`Config::udp_bind`]; call once per address.
    pub fn udp_bind(mut self, addr: SocketAddr) -> Self {
        self.config.udp_bind.push(addr);
        self
    }

    /// Sets [`Config::udp_send_slots`].
    pub fn udp_send_slots(mut self, n: u16) -> Self {
        self.config.udp_send_slots = n;
        self
    }

    /// Sets the UDP receive ring's size and buffer size; `bgid` keeps its
    /// value (change it through [`config_mut`](Self::config_mut)).
    pub fn udp_recv_buffer(mut self, ring_size: u16, buffer_size: u32) -> Self {
        self.config.udp_recv_buffer.ring_size = ring_size;
        self.config.udp_recv_buffer.buffer_size = buffer_size;
        self
    }

    // ── Subsystems and their threads ─────────────────────────────────

    /// Enables filesystem I/O with these limits.
    pub fn fs(mut self, config: FsConfig) -> Self {
        self.config.fs = Some(config);
        self
    }

    /// Sets [`Config::resolver_threads`]; 0 disables `resolve`.
    pub fn resolver_threads(mut self, threads: usize) -> Self {
        self.config.resolver_threads = threads;
        self
    }

    /// Sets [`Config::spawner_threads`].
    pub fn spawner_threads(mut self, threads: usize) -> Self {
        self.config.spawner_threads = threads;
        self
    }

    /// Sets [`Config::blocking_threads`]; 0 disables `spawn_blocking`.
    pub fn blocking_threads(mut self, threads: usize) -> Self {
        self.config.blocking_threads = threads;
        self
    }

    /// Sets [`Config::blocking_queue_capacity`].
    pub fn blocking_queue_capacity(mut self, capacity: usize) -> Self {
        self.config.blocking_queue_capacity = capacity;
        self
    }

    /// Sets [`Config::disk_io_threads`].
    pub fn disk_io_threads(mut self, threads: usize) -> Self {
        self.config.disk_io_threads = threads;
        self
    }

    // ── Finishing ────────────────────────────────────────────────────

    /// The config being built, for fields without a setter.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Validates and returns the config.
    ///
    /// # Errors
    ///
    /// [`Error::RingSetup`] (message `invalid config: …`) as described on [`Config::validate`].
    pub fn build(self) -> Result<Config, Error> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        change(&mut config);
        config
    }

    fn with_udp(change: impl FnOnce(&mut Config)) -> Config {
        with(|c| {
            c.udp_bind
                .push("127.0.0.1:0".parse().expect("literal address"));
            change(c);
        })
    }

    /// One test per rule: the config is rejected with `RingSetup("invalid config: …")`, and
    /// the message names the field (so users know what to change).
    macro_rules! rejects {
        ($($name:ident: $config:expr => $field:literal;)*) => {$(
            #[test]
            fn $name() {
                match $config.validate() {
                    Err(Error::RingSetup(message)) if message.starts_with("invalid config: ") => assert!(
                        message.contains($field),
                        "message should name {}: {message}",
                        $field
                    ),
                    other => panic!("expected an invalid-config RingSetup naming {}, got {other:?}", $field),
                }
            }
        )*};
    }

    /// Boundary values on the valid side of each rule.
    macro_rules! accepts {
        ($($name:ident: $config:expr;)*) => {$(
            #[test]
            fn $name() {
                if let Err(err) = $config.validate() {
                    panic!("expected a valid config, got {err}");
                }
            }
        )*};
    }

    rejects! {
        sq_entries_zero: with(|c| c.sq_entries = 0) => "sq_entries";
        sq_entries_not_power_of_two: with(|c| c.sq_entries = 384) => "sq_entries";
        sq_entries_above_kernel_limit: with(|c| c.sq_entries = 65_536) => "sq_entries";
        recv_ring_size_zero: with(|c| c.recv_buffer.ring_size = 0) => "recv_buffer.ring_size";
        recv_ring_size_not_power_of_two: with(|c| c.recv_buffer.ring_size = 3) => "recv_buffer.ring_size";
        udp_ring_size_zero: with(|c| c.udp_recv_buffer.ring_size = 0) => "udp_recv_buffer.ring_size";
        udp_ring_size_not_power_of_two: with(|c| c.udp_recv_buffer.ring_size = 100) => "udp_recv_buffer.ring_size";
        recv_buffer_size_zero: with(|c| c.recv_buffer.buffer_size = 0) => "recv_buffer.buffer_size";
        recv_buffer_size_too_large: with(|c| c.recv_buffer.buffer_size = (1 << 30) + 1) => "recv_buffer.buffer_size";
        udp_buffer_size_zero: with(|c| c.udp_recv_buffer.buffer_size = 0) => "udp_recv_buffer.buffer_size";
        udp_buffer_size_too_large: with(|c| c.udp_recv_buffer.buffer_size = u32::MAX) => "udp_recv_buffer.buffer_size";
        udp_bgid_clash: with_udp(|c| c.udp_recv_buffer.bgid = c.recv_buffer.bgid) => "udp_recv_buffer.bgid";
        udp_buffer_too_small_for_header: with_udp(|c| c.udp_recv_buffer.buffer_size = 144) => "udp_recv_buffer.buffer_size";
        udp_send_slots_zero: with_udp(|c| c.udp_send_slots = 0) => "udp_send_slots";
        max_connections_zero: with(|c| c.max_connections = 0) => "max_connections";
        max_connections_beyond_encoding: with(|c| c.max_connections = (1 << 24) + 1) => "max_connections";
        send_copy_count_zero: with(|c| c.send_copy_count = 0) => "send_copy_count";
        send_copy_slot_size_zero: with(|c| c.send_copy_slot_size = 0) => "send_copy_slot_size";
        timer_slots_beyond_encoding: with(|c| c.timer_slots = (1 << 24) + 1) => "timer_slots";
        task_capacity_beyond_encoding: with(|c| c.standalone_task_capacity = (1 << 24) + 1) => "standalone_task_capacity";
        worker_threads_too_many: with(|c| c.worker.threads = 1025) => "worker.threads";
        backlog_zero: with(|c| c.backlog = 0) => "backlog";
        backlog_negative: with(|c| c.backlog = -1) => "backlog";
        fs_max_files_zero: with(|c| c.fs = Some(FsConfig { max_files: 0, max_commands_in_flight: 8 })) => "fs.max_files";
        fs_commands_zero: with(|c| c.fs = Some(FsConfig { max_files: 8, max_commands_in_flight: 0 })) => "fs.max_commands_in_flight";
        accumulator_too_large: with(|c| c.recv_accumulator_capacity = (1 << 30) + 1) => "recv_accumulator_capacity";
        blocking_queue_zero_with_threads: with(|c| c.blocking_queue_capacity = 0) => "blocking_queue_capacity";
        recv_buffer_limit_zero: with(|c| c.recv_buffer_limit = 0) => "recv_buffer_limit";
        recv_buffer_limit_too_large: with(|c| c.recv_buffer_limit = (1 << 30) + 1) => "recv_buffer_limit";
    }

    accepts! {
        default_config: Config::default();
        default_config_with_udp: with_udp(|_| {});
        largest_rings: with(|c| {
            c.sq_entries = 32_768;
            c.recv_buffer.ring_size = 32_768;
            c.udp_recv_buffer.ring_size = 32_768;
        });
        smallest_rings: with(|c| {
            c.sq_entries = 1;
            c.recv_buffer.ring_size = 1;
        });
        largest_buffers: with(|c| {
            c.recv_buffer.buffer_size = 1 << 30;
            c.recv_accumulator_capacity = 1 << 30;
        });
        smallest_udp_buffer: with_udp(|c| c.udp_recv_buffer.buffer_size = 145);
        udp_rules_skipped_without_udp: with(|c| {
            c.udp_recv_buffer.bgid = c.recv_buffer.bgid;
            c.udp_recv_buffer.buffer_size = 16;
            c.udp_send_slots = 0;
        });
        encoding_limits: with(|c| {
            c.max_connections = 1 << 24;
            c.timer_slots = 1 << 24;
            c.standalone_task_capacity = 1 << 24;
        });
        zero_timers_and_tasks: with(|c| {
            c.timer_slots = 0;
            c.standalone_task_capacity = 0;
        });
        most_workers: with(|c| c.worker.threads = 1024);
        fs_disabled: with(|c| c.fs = None);
        blocking_disabled_with_zero_queue: with(|c| {
            c.blocking_threads = 0;
            c.blocking_queue_capacity = 0;
        });
        mio_backend: with(|c| c.backend = BackendChoice::Mio);
        recv_buffer_limit_edges: with(|c| c.recv_buffer_limit = 1);
        largest_recv_buffer_limit: with(|c| c.recv_buffer_limit = 1 << 30);
        zero_linger_resets_at_once: with(|c| c.close_linger_timeout = Duration::ZERO);
    }

    #[test]
    fn a_connections_send_share_is_a_quarter_by_default_and_never_above_the_pool() {
        let share = |count, per| {
            with(|c| {
                c.send_copy_count = count;
                c.send_copy_per_connection = per;
            })
            .send_slots_per_connection()
        };
        assert_eq!(share(1024, 0), 256);
        assert_eq!(share(3, 0), 1, "at least one slot");
        assert_eq!(share(64, 10), 10);
        assert_eq!(share(64, 1000), 64, "a share above the pool is the pool");
    }

    #[test]
    fn defaults_match_ringline_0_1() {
        let c = Config::default();
        assert_eq!(c.sq_entries, 256);
        assert_eq!(
            (
                c.recv_buffer.ring_size,
                c.recv_buffer.buffer_size,
                c.recv_buffer.bgid
            ),
            (256, 16_384, 0)
        );
        assert_eq!(
            (
                c.udp_recv_buffer.ring_size,
                c.udp_recv_buffer.buffer_size,
                c.udp_recv_buffer.bgid
            ),
            (128, 2048, 1)
        );
        assert_eq!(
            (c.worker.threads, c.worker.pin_to_core, c.worker.core_offset),
            (0, true, 0)
        );
        assert_eq!(c.backlog, 1024);
        assert_eq!(c.max_connections, 16_000);
        assert_eq!(c.recv_accumulator_capacity, 4096);
        assert_eq!((c.send_copy_count, c.send_copy_slot_size), (1024, 16_384));
        assert_eq!(c.tick_timeout_us, 1000);
        assert!(c.tcp_nodelay);
        assert_eq!((c.standalone_task_capacity, c.timer_slots), (256, 256));
        assert!(c.udp_bind.is_empty());
        assert_eq!(c.udp_send_slots, 64);
        let fs = c.fs.expect("fs on by default");
        assert_eq!((fs.max_files, fs.max_commands_in_flight), (64, 256));
        assert_eq!(
            (
                c.resolver_threads,
                c.spawner_threads,
                c.blocking_threads,
                c.disk_io_threads
            ),
            (2, 1, 4, 2)
        );
        assert_eq!(c.backend, BackendChoice::Auto);
        assert_eq!(c.shutdown_drain_timeout, Duration::from_secs(5));
        assert_eq!(c.blocking_queue_capacity, 4096);
    }

    #[test]
    fn builder_sets_every_field() {
        let udp: SocketAddr = "127.0.0.1:5353".parse().expect("literal address");
        let udp2: SocketAddr = "[::1]:5353".parse().expect("literal address");
        let mut builder = ConfigBuilder::new()
            .workers(3)
            .pin_to_core(false)
            .core_offset(2)
            .backend(BackendChoice::IoUring)
            .shutdown_drain_timeout(Duration::from_millis(250))
            .max_connections(100)
            .backlog(16)
            .tcp_nodelay(false)
            .sq_entries(64)
            .recv_buffer(32, 4096)
            .recv_accumulator_capacity(512)
            .recv_buffer_limit(4096)
            .send_pool(8, 1024)
            .send_copy_per_connection(3)
            .close_linger_timeout(Duration::from_millis(125))
            .standalone_task_capacity(10)
            .timer_slots(20)
            .tick_timeout_us(0)
            .udp_bind(udp)
            .udp_bind(udp2)
            .udp_send_slots(4)
            .udp_recv_buffer(16, 1500)
            .fs(FsConfig {
                max_files: 5,
                max_commands_in_flight: 6,
            })
            .resolver_threads(7)
            .spawner_threads(0)
            .blocking_threads(9)
            .blocking_queue_capacity(11)
            .disk_io_threads(12);
        builder.config_mut().udp_recv_buffer.bgid = 7;
        let c = builder.build().expect("valid config");

        assert_eq!(
            (c.worker.threads, c.worker.pin_to_core, c.worker.core_offset),
            (3, false, 2)
        );
        assert_eq!(c.backend, BackendChoice::IoUring);
        assert_eq!(c.shutdown_drain_timeout, Duration::from_millis(250));
        assert_eq!(
            (c.max_connections, c.backlog, c.tcp_nodelay),
            (100, 16, false)
        );
        assert_eq!(c.sq_entries, 64);
        assert_eq!(
            (c.recv_buffer.ring_size, c.recv_buffer.buffer_size),
            (32, 4096)
        );
        assert_eq!(c.recv_buffer.bgid, 0, "recv_buffer() keeps bgid");
        assert_eq!(c.recv_accumulator_capacity, 512);
        assert_eq!((c.send_copy_count, c.send_copy_slot_size), (8, 1024));
        assert_eq!(
            (
                c.recv_buffer_limit,
                c.send_copy_per_connection,
                c.close_linger_timeout
            ),
            (4096, 3, Duration::from_millis(125))
        );
        assert_eq!((c.standalone_task_capacity, c.timer_slots), (10, 20));
        assert_eq!(c.tick_timeout_us, 0);
        assert_eq!(c.udp_bind, vec![udp, udp2]);
        assert_eq!(c.udp_send_slots, 4);
        assert_eq!(
            (
                c.udp_recv_buffer.ring_size,
                c.udp_recv_buffer.buffer_size,
                c.udp_recv_buffer.bgid
            ),
            (16, 1500, 7)
        );
        let fs = c.fs.expect("fs set");
        assert_eq!((fs.max_files, fs.max_commands_in_flight), (5, 6));
        assert_eq!(
            (
                c.resolver_threads,
                c.spawner_threads,
                c.blocking_threads,
                c.blocking_queue_capacity,
                c.disk_io_threads
            ),
            (7, 0, 9, 11, 12)
        );
    }

    #[test]
    fn builder_build_validates() {
        let err = ConfigBuilder::new()
            .sq_entries(100)
            .build()
            .expect_err("100 is not a power of two");
        assert!(
            matches!(err, Error::RingSetup(ref m) if m.starts_with("invalid config: ") && m.contains("sq_entries"))
        );
    }

    #[test]
    fn builder_default_equals_config_default() {
        let built = ConfigBuilder::default().build().expect("default is valid");
        assert_eq!(format!("{built:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn resolved_threads_uses_cores_when_zero() {
        let explicit = with(|c| c.worker.threads = 3);
        assert_eq!(explicit.resolved_threads(), 3);
        let per_core = with(|c| c.worker.threads = 0);
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(per_core.resolved_threads(), cores);
        assert!(per_core.resolved_threads() >= 1);
    }
}
