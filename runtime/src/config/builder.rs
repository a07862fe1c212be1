//! [`ConfigBuilder`]: one chainable setter per field group, validated by
//! [`build`](ConfigBuilder::build).

use std::net::SocketAddr;
use std::time::Duration;

use super::{BackendChoice, Config};
use super::{FsConfig, RecorderConfig};
use crate::error::Error;

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

    /// Sets [`WorkerConfig::threads`](super::WorkerConfig::threads); 0 = one per core.
    pub fn workers(mut self, n: usize) -> Self {
        self.config.worker.threads = n;
        self
    }

    /// Sets [`WorkerConfig::pin_to_core`](super::WorkerConfig::pin_to_core).
    pub fn pin_to_core(mut self, enable: bool) -> Self {
        self.config.worker.pin_to_core = enable;
        self
    }

    /// Sets [`WorkerConfig::core_offset`](super::WorkerConfig::core_offset).
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

    /// Sets [`Config::recorder`].
    pub fn recorder(mut self, recorder: RecorderConfig) -> Self {
        self.config.recorder = recorder;
        self
    }

    // ── Connections ──────────────────────────────────────────────────

    /// Sets [`Config::max_connections`].
    pub fn max_connections(mut self, n: u32) -> Self {
        self.config.max_connections = n;
        self
    }

    /// Sets [`Config::fixed_files`] (0: no registered file table).
    pub fn fixed_files(mut self, n: u32) -> Self {
        self.config.fixed_files = n;
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
}
