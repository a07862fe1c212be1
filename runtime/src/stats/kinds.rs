//! The pools every worker reports on: one enum indexes their storage, names
//! their `slab` label and their JSON field, so a pool added here is reported
//! everywhere.

/// A fixed-capacity pool of a worker (or of the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum SlabKind {
    /// Connection slots (`Config::max_connections`).
    Connections = 0,
    /// Task slots: connection tasks plus standalone tasks.
    Tasks,
    /// Timer slots (`Config::timer_slots`).
    Timers,
    /// Send copy-pool slots (`Config::send_copy_count`).
    SendCopy,
    /// Provided receive buffers held by the worker (not yet handed back to
    /// the kernel); exhaustion is the kernel running out (`ENOBUFS`).
    RecvBuffers,
    /// Provided UDP receive buffers, as `RecvBuffers`.
    UdpRecvBuffers,
    /// UDP `sendmsg` slots (`Config::udp_send_slots`, per socket).
    UdpSend,
    /// Slots for one-shot ops a future waits on (connect, file I/O).
    OpSlots,
    /// Open files (`FsConfig::max_files`).
    FsFiles,
    /// File commands in flight (`FsConfig::max_commands_in_flight`).
    FsCommands,
    /// Jobs queued for the blocking pool (runtime-wide).
    BlockingQueue,
    /// Lookups queued for the resolver pool (runtime-wide).
    ResolverQueue,
}

impl SlabKind {
    /// Every kind, in discriminant order.
    pub(crate) const ALL: [SlabKind; 12] = [
        SlabKind::Connections,
        SlabKind::Tasks,
        SlabKind::Timers,
        SlabKind::SendCopy,
        SlabKind::RecvBuffers,
        SlabKind::UdpRecvBuffers,
        SlabKind::UdpSend,
        SlabKind::OpSlots,
        SlabKind::FsFiles,
        SlabKind::FsCommands,
        SlabKind::BlockingQueue,
        SlabKind::ResolverQueue,
    ];

    /// Number of kinds: the length of every `[T; SlabKind::COUNT]` table.
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// True for pools the whole runtime shares (reported once per
    /// runtime, not per worker).
    pub(crate) const fn is_runtime_wide(self) -> bool {
        matches!(self, SlabKind::BlockingQueue | SlabKind::ResolverQueue)
    }

    /// The stable name: Prometheus `slab` label, TUI row, JSON field.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            SlabKind::Connections => "connections",
            SlabKind::Tasks => "tasks",
            SlabKind::Timers => "timers",
            SlabKind::SendCopy => "send_copy",
            SlabKind::RecvBuffers => "recv_buffers",
            SlabKind::UdpRecvBuffers => "udp_recv_buffers",
            SlabKind::UdpSend => "udp_send",
            SlabKind::OpSlots => "op_slots",
            SlabKind::FsFiles => "fs_files",
            SlabKind::FsCommands => "fs_commands",
            SlabKind::BlockingQueue => "blocking_queue",
            SlabKind::ResolverQueue => "resolver_queue",
        }
    }
}

// Storage is indexed by the `u8` discriminant.
const _: () = assert!(SlabKind::COUNT <= u8::MAX as usize);

/// A pool's occupancy, as every pool reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SlabUsage {
    pub(crate) used: u64,
    pub(crate) capacity: u64,
    pub(crate) high_water: u64,
    pub(crate) exhausted_total: u64,
}

/// A worker's receive backpressure and close linger, as its connection
/// table counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NetPressure {
    pub(crate) recv_paused: u64,
    pub(crate) recv_buffered_bytes: u64,
    pub(crate) recv_pauses_total: u64,
    pub(crate) linger_resets_total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn all_is_in_discriminant_order_with_unique_names() {
        for (i, k) in SlabKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        let names: HashSet<_> = SlabKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), SlabKind::COUNT);
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }
}
