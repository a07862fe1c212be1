//! The per-worker connection table and a connection's state.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::PeerAddr;
use super::UdpSocketState;
use super::connect::ConnectHold;
use super::pressure::{Linger, RecvPressure};
use super::send_pool::SendPool;
use super::waiters::Waiters;
use crate::config::Config;
use crate::driver::ops::{self, OpTable};
use crate::driver::sqe::FdRef;
use crate::executor::waker::TaskRef;
use crate::slab::{Key, Slab};
use crate::stats;
use crate::stats::conn_table::ConnFigures;

/// TCP or Unix stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SockKind {
    Tcp,
    Unix,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Outbound, connect in flight.
    Connecting,
    /// Receiving and sending.
    Open,
    /// `close()` was called: queued sends drain, then the fd is closed.
    Closing,
    /// The close SQE was submitted; the slot waits for its last CQEs.
    Closed,
}

/// One queued run of bytes: `slot[start..end]` of the send pool, or, with
/// `slot == OWNED`, `start..end` of the oldest buffer in
/// [`SendQueue::owned`] (a zero-copy send). Kept this small so the copy
/// path pays nothing for the zero-copy one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk {
    pub(crate) slot: u16,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// The `Chunk::slot` of bytes sent from a caller's buffer. Pool slots are
/// numbered below `send_copy_count`, a `u16`, so never reach it.
pub(crate) const OWNED: u16 = u16::MAX;

impl Chunk {
    /// Whether the bytes are a caller's buffer rather than a pool slot.
    pub(crate) fn is_owned(self) -> bool {
        self.slot == OWNED
    }
}

/// Bytes queued for sending, in order; at most one send SQE in flight
/// (sends on one socket must not race each other, or bytes reorder).
#[derive(Default)]
pub(crate) struct SendQueue {
    pub(crate) chunks: VecDeque<Chunk>,
    /// The buffers of the `OWNED` chunks, in the same order: each is kept
    /// (the kernel may be reading it) until its last byte's send CQE.
    pub(crate) owned: VecDeque<Bytes>,
    /// Length of the send in flight (from the head chunk's start); 0: none.
    pub(crate) in_flight: u32,
    /// Bytes ever queued / ever sent; a `SendFuture` waits for `sent` to
    /// pass the `queued` it saw.
    pub(crate) queued_total: u64,
    pub(crate) sent_total: u64,
    pub(crate) waiters: Vec<Waker>,
    /// The errno that broke sending; queued bytes were dropped.
    pub(crate) error: Option<i32>,
}

impl SendQueue {
    /// Pool slots the queue holds (its share is capped).
    pub(crate) fn pool_slots(&self) -> usize {
        self.chunks.len() - self.owned.len()
    }

    /// Queues a caller's buffer (at most `u32::MAX` bytes) as one chunk.
    pub(crate) fn queue_owned(&mut self, bytes: Bytes) {
        debug_assert!(u32::try_from(bytes.len()).is_ok());
        self.chunks.push_back(Chunk {
            slot: OWNED,
            start: 0,
            end: bytes.len() as u32,
        });
        self.owned.push_back(bytes);
    }

    /// Wakes and forgets every `SendFuture` waiting.
    #[inline(never)]
    fn wake_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    /// Frees the head chunk, fully sent: its pool slot goes back, or its
    /// buffer is dropped.
    #[inline]
    pub(crate) fn pop_sent(&mut self, pool: &mut SendPool) {
        let done = self.chunks.pop_front().expect("a chunk was sent");
        if done.is_owned() {
            self.owned.pop_front();
        } else {
            pool.release(done.slot);
        }
    }

    /// Drops everything queued. Only with no send in flight: the kernel
    /// may be reading the head chunk until its CQE.
    pub(crate) fn clear(&mut self, pool: &mut SendPool) {
        debug_assert_eq!(self.in_flight, 0, "a send is still reading the queue");
        for chunk in self.chunks.drain(..) {
            if !chunk.is_owned() {
                pool.release(chunk.slot);
            }
        }
        self.owned.clear();
    }
}

/// Bytes `start..end` of stream buffer `bid`, received and not consumed
/// yet, which the connection keeps instead of copying them (zero-copy
/// receive). The buffer goes back to the kernel once they are consumed or
/// copied into the accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldBuf {
    pub(crate) bid: u16,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl HeldBuf {
    /// Unconsumed bytes.
    pub(crate) fn len(self) -> usize {
        (self.end - self.start) as usize
    }
}

/// One connection.
pub(crate) struct Conn {
    /// The socket: its descriptor, and its slot in the ring's file table
    /// once installed there (`Driver::install_socket`, when it opens).
    pub(crate) fd: FdRef,
    pub(crate) kind: SockKind,
    pub(crate) outbound: bool,
    pub(crate) state: ConnState,
    pub(crate) peer: Option<PeerAddr>,
    /// Received bytes not yet consumed by a parse closure (copied out of
    /// the provided buffers).
    pub(crate) acc: BytesMut,
    /// Received bytes still in their provided buffer, lent to the handler
    /// without a copy; only while `acc` is empty (they follow it).
    pub(crate) held: Option<HeldBuf>,
    /// `unconsumed()` as last counted in `NetState::recv_buffered` (the
    /// bytes are out of the slot while a parse closure runs).
    pub(crate) acc_counted: usize,
    /// Receiving stopped: the accumulator reached `recv_buffer_limit`.
    pub(crate) recv_paused: bool,
    /// No more bytes will arrive (peer EOF, error, or our close).
    pub(crate) eof: bool,
    pub(crate) recv_error: Option<i32>,
    pub(crate) recv_armed: bool,
    /// Futures waiting for bytes or EOF (`with_data`, `with_bytes`,
    /// `recv_ready`), from any number of tasks.
    pub(crate) recv_waiters: Waiters,
    pub(crate) send: SendQueue,
    /// `shutdown_write` was asked; the FIN goes out once queued bytes have.
    pub(crate) shut_wr_pending: bool,
    /// The shutdown SQE went out.
    pub(crate) shut_wr_sent: bool,
    /// Closing with bytes still queued: its linger deadline is queued in
    /// `NetState::lingering`.
    pub(crate) lingering: bool,
    /// CQEs the kernel still owes this slot (armed recv, send, shutdown,
    /// close); the slot is freed only at zero.
    pub(crate) pending_cqes: u32,
    /// The `on_accept` task, dropped when the connection is released.
    pub(crate) task: Option<TaskRef>,
    /// Bytes received so far (sent: `send.sent_total`).
    pub(crate) bytes_in: u64,
    /// Stats-clock time it was accepted or its connect started.
    pub(crate) opened_at_ns: u64,
    /// Its figures changed since the stats last published them: it is in
    /// `NetState::dirty`.
    pub(crate) dirty: bool,
}

impl Conn {
    pub(crate) fn new(fd: RawFd, kind: SockKind, outbound: bool, acc_capacity: usize) -> Conn {
        Conn {
            fd: FdRef::raw(fd),
            kind,
            outbound,
            state: if outbound {
                ConnState::Connecting
            } else {
                ConnState::Open
            },
            peer: None,
            acc: BytesMut::with_capacity(acc_capacity),
            held: None,
            acc_counted: 0,
            recv_paused: false,
            eof: false,
            recv_error: None,
            recv_armed: false,
            recv_waiters: Waiters::default(),
            send: SendQueue::default(),
            shut_wr_pending: false,
            shut_wr_sent: false,
            lingering: false,
            pending_cqes: 0,
            task: None,
            bytes_in: 0,
            opened_at_ns: 0,
            dirty: false,
        }
    }

    /// What the stats' connection table shows of it.
    pub(crate) fn figures(&self) -> ConnFigures {
        let send = &self.send;
        ConnFigures {
            opened_at_ns: self.opened_at_ns,
            outbound: self.outbound,
            bytes_in: self.bytes_in,
            bytes_out: send.sent_total,
            buffered: self.acc_counted as u64,
            // A broken stream drops what was queued (the totals stay).
            queued: if send.chunks.is_empty() {
                0
            } else {
                send.queued_total - send.sent_total
            },
            recv_paused: self.recv_paused,
            closing: matches!(self.state, ConnState::Closing | ConnState::Closed),
            ops_in_flight: self.pending_cqes,
            task: self.task.map(TaskRef::stats_id),
        }
    }

    /// Received bytes the handler has not consumed yet.
    pub(crate) fn unconsumed(&self) -> usize {
        self.acc.len() + self.held.map_or(0, |h| h.len())
    }

    /// True while user sends are accepted.
    pub(crate) fn can_send(&self) -> bool {
        matches!(self.state, ConnState::Open) && self.send.error.is_none() && !self.shut_wr_pending
    }

    /// Bytes or EOF arrived: wakes every future waiting for them.
    #[inline]
    pub(crate) fn wake_recv(&mut self) {
        self.recv_waiters.wake_all();
    }

    /// Bytes were sent or sending failed: wakes every `SendFuture`.
    #[inline]
    pub(crate) fn wake_senders(&mut self) {
        // Usually nobody waits: skip the drain's setup and teardown.
        if !self.send.waiters.is_empty() {
            self.send.wake_waiters();
        }
    }
}

/// Connections whose figures changed since the stats last published them
/// (each once, flagged by `Conn::dirty`); the worker writes their records
/// when it publishes (see `stats::conn_table`). Marking costs a flag test
/// on the hot path, and nothing with the `stats` feature off.
#[derive(Default)]
pub(crate) struct Dirty {
    keys: Vec<Key>,
}

impl Dirty {
    /// Connection `key` (`conn`) changed.
    #[inline]
    pub(crate) fn mark(&mut self, conn: &mut Conn, key: Key) {
        if stats::ENABLED && !conn.dirty {
            self.push(conn, key);
        }
    }

    /// The first change since the last publish.
    #[inline(never)]
    fn push(&mut self, conn: &mut Conn, key: Key) {
        conn.dirty = true;
        self.keys.push(key);
    }
}

/// Connections and the send pool of one worker.
pub(crate) struct NetState {
    pub(crate) conns: Slab<Conn>,
    pub(crate) pool: SendPool,
    pub(crate) acc_capacity: usize,
    pub(crate) tcp_nodelay: bool,
    /// Connections whose multishot receive ended for lack of buffers and
    /// must be re-armed once this batch's buffers are published.
    pub(crate) rearm: Vec<Key>,
    /// This worker's UDP sockets, in `Config::udp_bind` order.
    pub(crate) udp: Vec<UdpSocketState>,
    /// UDP sockets whose multishot receive ended during the batch.
    pub(crate) udp_rearm: Vec<usize>,
    /// Mirrors `SendPool::leak` for the whole net state (see `leak`).
    leak_on_drop: bool,
    /// What each of the runtime's listeners accepts, by listener index.
    pub(crate) listener_kinds: Vec<SockKind>,
    /// Connects in flight, and what each lends the kernel.
    pub(crate) connects: OpTable<Box<ConnectHold>>,
    /// Receive backpressure: what connections hold unconsumed.
    pub(crate) recv: RecvPressure,
    /// Stream buffers connections hold (`Conn::held`), and at most how
    /// many: half the ring, so the kernel always has buffers to fill.
    pub(crate) held_bufs: usize,
    pub(crate) held_limit: usize,
    /// Closing connections reset at their linger deadline.
    pub(crate) linger_resets_total: u64,
    /// Most send-pool slots one connection may hold.
    pub(crate) send_slots_per_conn: usize,
    /// Closing connections that still have bytes to send, by deadline.
    pub(crate) linger: Linger,
    /// Connections to publish to the stats' connection table.
    pub(crate) dirty: Dirty,
}

impl NetState {
    pub(crate) fn new(config: &Config) -> NetState {
        NetState {
            conns: Slab::with_capacity(config.max_connections),
            pool: SendPool::new(config.send_copy_count, config.send_copy_slot_size),
            acc_capacity: config.recv_accumulator_capacity,
            tcp_nodelay: config.tcp_nodelay,
            rearm: Vec::new(),
            udp: Vec::new(),
            udp_rearm: Vec::new(),
            leak_on_drop: false,
            listener_kinds: Vec::new(),
            connects: OpTable::new(ops::net_op_slots(config), 0),
            recv: RecvPressure::new(config.recv_buffer_limit),
            held_bufs: 0,
            held_limit: usize::from(config.recv_buffer.ring_size / 2),
            linger_resets_total: 0,
            send_slots_per_conn: config.send_slots_per_connection().into(),
            linger: Linger::new(config.close_linger_timeout),
            dirty: Dirty::default(),
        }
    }

    /// Marks connection `key` for the next stats publish (a stale key is
    /// a no-op).
    pub(crate) fn touch(&mut self, key: Key) {
        if let Some(conn) = self.conns.get_mut(key) {
            self.dirty.mark(conn, key);
        }
    }

    /// Hands the figures of every connection marked since the last call to
    /// `publish`, by slot index, and clears the marks.
    pub(crate) fn publish_dirty(&mut self, mut publish: impl FnMut(u32, ConnFigures)) {
        for key in self.dirty.keys.drain(..) {
            // Released since (its record was cleared then): skipped.
            if let Some(conn) = self.conns.get_mut(key) {
                conn.dirty = false;
                publish(key.index, conn.figures());
            }
        }
    }

    /// Frees connection `key`'s slot and takes its share out of the
    /// backpressure and linger counts.
    pub(crate) fn remove_conn(&mut self, key: Key) -> Option<Conn> {
        let conn = self.conns.remove(key)?;
        self.recv.released(&conn);
        self.linger.released(&conn);
        Some(conn)
    }

    /// Starts connection `key`'s linger deadline (once): it was closed at
    /// `now` with bytes still queued.
    pub(crate) fn start_linger(&mut self, key: Key, now: Instant) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if self.linger.start(conn, key, now) {
            self.linger.compact(&self.conns);
        }
    }

    /// Takes the connections whose linger deadline passed at `now` and
    /// that are still closing.
    pub(crate) fn expired_lingering(&mut self, now: Instant, out: &mut Vec<Key>) {
        self.linger.expired(now, &self.conns, out);
    }

    /// Occupancy of every UDP socket's send slots, summed.
    pub(crate) fn udp_send_usage(&self) -> crate::stats::kinds::SlabUsage {
        let mut total = crate::stats::kinds::SlabUsage::default();
        for u in self.udp.iter().map(|s| s.send_usage()) {
            total.used += u.used;
            total.capacity += u.capacity;
            total.high_water += u.high_water;
            total.exhausted_total += u.exhausted_total;
        }
        total
    }

    /// Backpressure and linger figures for the stats.
    pub(crate) fn pressure(&self) -> crate::stats::kinds::NetPressure {
        crate::stats::kinds::NetPressure {
            recv_paused: self.recv.paused,
            recv_buffered_bytes: self.recv.buffered,
            recv_pauses_total: self.recv.pauses_total,
            linger_resets_total: self.linger_resets_total,
        }
    }

    /// Shutdown gave up on ops in flight: the memory they may still use
    /// (send slots, UDP message templates) is leaked at drop, never freed.
    pub(crate) fn leak(&mut self) {
        self.leak_on_drop = true;
        self.connects.leak();
    }

    /// What listener `index` accepts (TCP when unknown).
    pub(crate) fn listener_kind(&self, index: usize) -> SockKind {
        self.listener_kinds
            .get(index)
            .copied()
            .unwrap_or(SockKind::Tcp)
    }

    pub(crate) fn conns_is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

impl Drop for NetState {
    fn drop(&mut self) {
        if self.leak_on_drop {
            self.pool.leak = true;
            // A caller's buffer a send may still be reading is leaked too.
            for key in self.conns.keys() {
                let conn = self.conns.get_mut(key).expect("a live key");
                if conn.send.in_flight > 0 {
                    std::mem::forget(std::mem::take(&mut conn.send.owned));
                }
            }
            // In-flight sendmsg slots and recvmsg templates must outlive
            // the kernel's use of them: keep the UDP sockets' state alive.
            std::mem::forget(std::mem::take(&mut self.udp));
        }
    }
}
