//! The parts of a [`Config`](super::Config): a provided-buffer ring, the
//! worker threads, and the backend choice.

/// Which I/O backend the workers run on.
///
/// The environment variable `RINGLINE_BACKEND` (`io_uring` or `mio`), when
/// set, overrides this field at launch; launch rejects a value it does not
/// recognise with [`Error::RingSetup`](crate::Error::RingSetup) (message `invalid config: …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Let the runtime choose: io_uring when a probe at launch can set up
    /// a ring with every feature and opcode the driver uses; otherwise mio,
    /// with one line on stderr naming the cause (seccomp, a disabled or
    /// too old kernel, `RLIMIT_MEMLOCK`). Off Linux: mio, silently.
    #[default]
    Auto,
    /// io_uring; launch fails with [`Error::RingSetup`](crate::Error::RingSetup),
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

/// Limits of the filesystem layer, per worker.
///
/// `Config::fs = None` disables the layer: every `ringline::fs` call then
/// fails with "filesystem disabled".
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// Files open at once on one worker. [`open`](crate::fs::open) fails (kind `Other`,
    /// message naming this field) when all are taken; [`close`](crate::fs::close) frees one.
    pub max_files: u16,
    /// File operations in flight at once on one worker, counting ops whose
    /// future was dropped until the kernel has finished them. Calls fail
    /// (kind `Other`, message naming this field) beyond it.
    pub max_commands_in_flight: u16,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            max_files: 64,
            max_commands_in_flight: 256,
        }
    }
}

/// The flight recorder: the process's last minute, kept in memory and
/// written to a dump file by itself when a worker stalls or panics, on a
/// signal, or when asked (`ringline-top --pid P --dump`). One per process:
/// the first runtime launched sets it up. Needs the `recorder` feature (on
/// by default); without it these settings are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Record at all (default true). `RINGLINE_RECORDER=0` turns it off
    /// whatever this says.
    pub enabled: bool,
    /// History kept at 1 s resolution (default 60 s).
    pub history: std::time::Duration,
    /// History kept at 100 ms resolution, the most recent part (default 5 s).
    pub fine_history: std::time::Duration,
    /// Most bytes the history may take (default 8 MiB); the oldest frames
    /// go first.
    pub max_bytes: usize,
    /// A worker whose heartbeat is this old is stalled: a dump is written
    /// (once per stall). Default 2 s; zero turns stall dumps off.
    pub stall_after: std::time::Duration,
    /// A signal that makes the process write a dump (e.g. `libc::SIGUSR2`);
    /// none by default.
    pub dump_signal: Option<i32>,
    /// Where dumps go: this, else `RINGLINE_DUMP_DIR`, else the inspect
    /// socket directory.
    pub dump_dir: Option<std::path::PathBuf>,
    /// Most dump files kept in the dump directory; the oldest are removed
    /// (default 10).
    pub max_dumps: usize,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            enabled: true,
            history: std::time::Duration::from_secs(60),
            fine_history: std::time::Duration::from_secs(5),
            max_bytes: 8 << 20,
            stall_after: std::time::Duration::from_secs(2),
            dump_signal: None,
            dump_dir: None,
            max_dumps: 10,
        }
    }
}

/// The I/O backend a ringline process runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Linux io_uring: completion-based, one ring per worker.
    IoUring,
    /// mio: readiness-based (epoll, kqueue), with thread pools for files.
    Mio,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io_uring",
            Backend::Mio => "mio",
        })
    }
}
