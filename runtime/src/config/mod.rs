//! Runtime configuration: [`Config`], its parts, and [`ConfigBuilder`].
//!
//! Every pool a worker owns has a fixed capacity taken from here, so
//! [`Config::validate`] rejects values the runtime could not honour (a ring
//! size the kernel refuses, a table too large to allocate at launch, a
//! buffer larger than a completion can report) before any thread starts,
//! with a message naming the field and its valid range.
//!
//! | file          | what                                                         |
//! |---------------|--------------------------------------------------------------|
//! | `mod.rs`      | [`Config`]: its fields, defaults and derived values          |
//! | `parts.rs`    | [`RecvBufferConfig`], [`WorkerConfig`], [`BackendChoice`]    |
//! | `validate.rs` | [`Config::validate`]: the range of every field, and why      |
//! | `builder.rs`  | [`ConfigBuilder`]: chainable setters, validated by `build`   |

mod builder;
mod parts;
mod validate;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

pub use self::builder::ConfigBuilder;
pub use self::parts::{
    Backend, BackendChoice, FsConfig, RecorderConfig, RecvBufferConfig, WorkerConfig,
};

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
    /// Connection slots (inbound and outbound); the table is allocated
    /// whole for each worker at launch. 1..=2^24. Default 16000.
    pub max_connections: u32,
    /// Slots of each worker ring's registered file table (io_uring only):
    /// a connection whose slot index is below it is also installed there
    /// (a *direct descriptor*), so its receives, sends, shutdown and close
    /// skip the kernel's per-op descriptor lookup. The table gets
    /// `min(fixed_files, max_connections, RLIMIT_NOFILE)` slots; 0 turns
    /// it off. Connections past it, or all of them when the kernel refuses
    /// the table, use their ordinary descriptor, with no other difference
    /// (the stats count both kinds). Default `u32::MAX`: one slot per
    /// connection slot.
    pub fixed_files: u32,
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
    /// ([`Error::SendPoolExhausted`](crate::Error::SendPoolExhausted)). 0 means a quarter of
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
    /// The flight recorder (see [`RecorderConfig`]); on by default.
    pub recorder: RecorderConfig,
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
            "fixed_files",
            self.fixed_files.min(self.max_connections).to_string(),
        );
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
            fixed_files: u32::MAX,
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
            recorder: RecorderConfig::default(),
        }
    }
}

impl Config {
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

/// `Config::default()` changed by `change` (tests of every file here).
#[cfg(test)]
fn with(change: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    change(&mut config);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn resolved_threads_uses_cores_when_zero() {
        let explicit = with(|c| c.worker.threads = 3);
        assert_eq!(explicit.resolved_threads(), 3);
        let per_core = with(|c| c.worker.threads = 0);
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(per_core.resolved_threads(), cores);
        assert!(per_core.resolved_threads() >= 1);
    }
}
