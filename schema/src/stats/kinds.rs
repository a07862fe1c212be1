//! The op kinds and pools every worker reports on: one enum each indexes
//! the runtime's counters, names their Prometheus label (`op`, `slab`) and
//! their JSON field, so a kind added here is reported everywhere.
//!
//! Readers treat the names as an open set: a process built with a newer
//! ringline may report kinds this list does not have yet.

/// What an operation is: the `op` label of every per-op series, the `op`
/// field of [`OpStats`](super::OpStats) and [`InFlightOp`](super::InFlightOp).
///
/// The discriminant is the kind's index in [`OpKind::ALL`]; the runtime also
/// uses it as the tag of the `user_data` word every submission carries,
/// so it stays below 256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum OpKind {
    /// Multishot accept on a listener.
    Accept = 0,
    /// Multishot receive on a connection (provided buffers).
    Recv,
    /// Send of queued bytes on a connection.
    Send,
    /// Outbound connect.
    Connect,
    /// Close of a connection's file descriptor.
    Close,
    /// `shutdown(SHUT_WR)` on a connection.
    Shutdown,
    /// A timer (sleep/timeout); armed in the worker's timer queue, no SQE.
    Timer,
    /// `ASYNC_CANCEL` of another op; its own CQE carries nothing we need.
    Cancel,
    /// Linked timeout guarding a connect.
    LinkTimeout,
    /// Read of the worker's wake fd (cross-thread wakeups, shutdown).
    Wake,
    /// Multishot `recvmsg` on a UDP socket.
    UdpRecv,
    /// `sendmsg` on a UDP socket.
    UdpSend,
    /// File open (`openat`).
    FsOpen,
    /// File read at an offset.
    FsRead,
    /// File write at an offset.
    FsWrite,
    /// `fsync`.
    FsFsync,
    /// `statx`.
    FsStatx,
    /// `renameat`.
    FsRename,
    /// `unlinkat`.
    FsUnlink,
    /// `mkdirat`.
    FsMkdir,
    /// A closure on the blocking pool (no SQE).
    Blocking,
    /// A name lookup on the resolver pool (no SQE).
    Resolve,
}

impl OpKind {
    /// Every kind, in discriminant order.
    pub const ALL: [OpKind; 22] = [
        OpKind::Accept,
        OpKind::Recv,
        OpKind::Send,
        OpKind::Connect,
        OpKind::Close,
        OpKind::Shutdown,
        OpKind::Timer,
        OpKind::Cancel,
        OpKind::LinkTimeout,
        OpKind::Wake,
        OpKind::UdpRecv,
        OpKind::UdpSend,
        OpKind::FsOpen,
        OpKind::FsRead,
        OpKind::FsWrite,
        OpKind::FsFsync,
        OpKind::FsStatx,
        OpKind::FsRename,
        OpKind::FsUnlink,
        OpKind::FsMkdir,
        OpKind::Blocking,
        OpKind::Resolve,
    ];

    /// Number of kinds: the length of every `[T; OpKind::COUNT]` table.
    pub const COUNT: usize = Self::ALL.len();

    /// The stable name: Prometheus `op` label, TUI column, JSON field.
    #[inline]
    pub const fn as_str(self) -> &'static str {
        match self {
            OpKind::Accept => "accept",
            OpKind::Recv => "recv",
            OpKind::Send => "send",
            OpKind::Connect => "connect",
            OpKind::Close => "close",
            OpKind::Shutdown => "shutdown",
            OpKind::Timer => "timer",
            OpKind::Cancel => "cancel",
            OpKind::LinkTimeout => "link_timeout",
            OpKind::Wake => "wake",
            OpKind::UdpRecv => "udp_recv",
            OpKind::UdpSend => "udp_send",
            OpKind::FsOpen => "fs_open",
            OpKind::FsRead => "fs_read",
            OpKind::FsWrite => "fs_write",
            OpKind::FsFsync => "fs_fsync",
            OpKind::FsStatx => "fs_statx",
            OpKind::FsRename => "fs_rename",
            OpKind::FsUnlink => "fs_unlink",
            OpKind::FsMkdir => "fs_mkdir",
            OpKind::Blocking => "blocking",
            OpKind::Resolve => "resolve",
        }
    }

    /// True for ops that stay armed over many completions: they count
    /// completions and armed state, not latency.
    #[inline]
    pub const fn is_multishot(self) -> bool {
        matches!(self, OpKind::Accept | OpKind::Recv | OpKind::UdpRecv)
    }

    /// True for the filesystem ops.
    #[inline]
    pub const fn is_fs(self) -> bool {
        matches!(
            self,
            OpKind::FsOpen
                | OpKind::FsRead
                | OpKind::FsWrite
                | OpKind::FsFsync
                | OpKind::FsStatx
                | OpKind::FsRename
                | OpKind::FsUnlink
                | OpKind::FsMkdir
        )
    }

    /// True for jobs on the blocking and resolver pools: counted as ops,
    /// but no kernel (or disk pool) memory is at stake, so shutdown neither
    /// cancels them nor leaks anything for them.
    #[inline]
    pub const fn is_pool_job(self) -> bool {
        matches!(self, OpKind::Blocking | OpKind::Resolve)
    }

    /// Inverse of `kind as u8`; `None` for a tag no op carries.
    #[inline]
    pub const fn from_tag(tag: u8) -> Option<OpKind> {
        if (tag as usize) < Self::COUNT {
            Some(Self::ALL[tag as usize])
        } else {
            None
        }
    }
}

/// A fixed-capacity pool of a worker (or of the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SlabKind {
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
    pub const ALL: [SlabKind; 12] = [
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
    pub const COUNT: usize = Self::ALL.len();

    /// True for pools the whole runtime shares (reported once per
    /// runtime, not per worker).
    #[inline]
    pub const fn is_runtime_wide(self) -> bool {
        matches!(self, SlabKind::BlockingQueue | SlabKind::ResolverQueue)
    }

    /// The stable name: Prometheus `slab` label, TUI row, JSON field.
    #[inline]
    pub const fn as_str(self) -> &'static str {
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

// Storage is indexed by the `u8` discriminants.
const _: () = assert!(SlabKind::COUNT <= u8::MAX as usize);
const _: () = assert!(OpKind::COUNT <= u8::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kinds_round_trip_through_their_tag_and_name() {
        let mut names = std::collections::HashSet::new();
        for (i, kind) in OpKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "ALL must be in discriminant order");
            assert_eq!(OpKind::from_tag(*kind as u8), Some(*kind));
            assert!(
                names.insert(kind.as_str()),
                "duplicate name {}",
                kind.as_str()
            );
        }
        assert_eq!(OpKind::from_tag(OpKind::COUNT as u8), None);
        assert_eq!(OpKind::from_tag(u8::MAX), None);
    }

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
