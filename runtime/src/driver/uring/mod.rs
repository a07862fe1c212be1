//! The io_uring backend: ring setup and submission, the provided-buffer
//! ring for multishot receives, the slab of one-shot ops in flight, and the
//! one accounting point every submission and completion passes through.

pub(crate) mod buf_ring;
pub(crate) mod ops;
pub(crate) mod ring;

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};

use self::buf_ring::BufRing;
use self::ops::OpTable;
use self::ring::Ring;
use crate::config::Config;
use crate::error::Error;
use crate::op::{OpCounters, OpKind, UserData};
use crate::stats::StatsWriter;
use crate::stats::kinds::SlabUsage;
use crate::stats::op_registry::Target;

/// Capacity of the op table: room for one connect per connection, every
/// fs command, and a margin for internal ops.
pub(crate) fn op_slots(config: &Config) -> u32 {
    let fs_commands = config
        .fs
        .as_ref()
        .map_or(0, |f| f.max_commands_in_flight as u32);
    config
        .max_connections
        .saturating_add(fs_commands)
        .saturating_add(64)
}

/// An armed (or re-armable) listener of this worker.
struct ListenerSlot {
    fd: Arc<OwnedFd>,
    armed: bool,
    /// Set after a resource error (EMFILE, ENOBUFS, …): re-arm no sooner.
    retry_at: Option<Instant>,
}

/// How long a listener rests after an accept failed for lack of resources,
/// so fd exhaustion does not turn into a busy loop.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(10);

/// The io_uring side of a worker.
pub(crate) struct Driver {
    pub(crate) ring: ManuallyDrop<Ring>,
    pub(crate) bufs: ManuallyDrop<BufRing>,
    /// The UDP receive buffers (`Config::udp_recv_buffer`), when this worker
    /// has UDP sockets.
    udp_bufs: Option<ManuallyDrop<BufRing>>,
    pub(crate) ops: ManuallyDrop<OpTable>,
    pub(crate) counters: OpCounters,
    /// The worker's stats writer (the registry mirrors every one-shot op
    /// pushed here).
    pub(crate) stats: Rc<StatsWriter>,
    listeners: Vec<ListenerSlot>,
    eventfd: i32,
    /// The eventfd read's 8-byte target; boxed so it never moves.
    wake_buf: ManuallyDrop<Box<u64>>,
    pub(crate) wake_armed: bool,
    /// Set at the end of shutdown: the eventfd read is being cancelled and
    /// must not be re-armed.
    pub(crate) quiescing: bool,
    /// Set when shutdown gave up on in-flight ops: never free their memory.
    pub(crate) leak_on_drop: bool,
}

impl Driver {
    pub(crate) fn new(
        config: &Config,
        eventfd: i32,
        listeners: &[Arc<OwnedFd>],
        with_udp: bool,
        stats: Rc<StatsWriter>,
    ) -> Result<Driver, Error> {
        let ring = Ring::new(config.sq_entries).map_err(|e| ring_setup_error(&e))?;
        let bufs = BufRing::new(
            &ring,
            config.recv_buffer.ring_size,
            config.recv_buffer.buffer_size,
            config.recv_buffer.bgid,
        )
        .map_err(|e| Error::BufferRegistration(format!("provided buffer ring: {e}")))?;
        let udp_bufs = if with_udp {
            let b = BufRing::new(
                &ring,
                config.udp_recv_buffer.ring_size,
                config.udp_recv_buffer.buffer_size,
                config.udp_recv_buffer.bgid,
            )
            .map_err(|e| Error::BufferRegistration(format!("UDP provided buffer ring: {e}")))?;
            Some(ManuallyDrop::new(b))
        } else {
            None
        };
        let ops = OpTable::new(op_slots(config));
        Ok(Driver {
            ring: ManuallyDrop::new(ring),
            bufs: ManuallyDrop::new(bufs),
            udp_bufs,
            ops: ManuallyDrop::new(ops),
            counters: OpCounters::default(),
            stats,
            listeners: listeners
                .iter()
                .map(|fd| ListenerSlot {
                    fd: fd.clone(),
                    armed: false,
                    retry_at: None,
                })
                .collect(),
            eventfd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            wake_armed: false,
            quiescing: false,
            leak_on_drop: false,
        })
    }

    /// The one submission point: counts the op, mirrors it into the op
    /// registry and queues its SQE. Connection ops name their connection;
    /// [`push_to`](Self::push_to) names anything else.
    ///
    /// # Safety
    ///
    /// Everything the SQE points to stays valid and unmoved until its final
    /// CQE is reaped.
    #[inline]
    pub(crate) unsafe fn push(&mut self, kind: OpKind, sqe: squeue::Entry) {
        let ud = UserData::from_raw(sqe.get_user_data());
        let target = match kind {
            OpKind::Send | OpKind::Close | OpKind::Shutdown => Target::Conn(ud.index()),
            _ => Target::None,
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.push_to(kind, sqe, target) };
    }

    /// [`push`](Self::push) with the op's target named by the caller.
    ///
    /// # Safety
    ///
    /// As `push`.
    #[inline]
    pub(crate) unsafe fn push_to(&mut self, kind: OpKind, sqe: squeue::Entry, target: Target<'_>) {
        self.counters.submitted(kind);
        self.stats
            .op_submitted(kind, UserData::from_raw(sqe.get_user_data()), target);
        // SAFETY: forwarded from the caller.
        unsafe { self.ring.push(sqe) };
    }

    /// [`push`](Self::push) for an op and its linked timeout.
    ///
    /// # Safety
    ///
    /// As `push`, for both SQEs.
    pub(crate) unsafe fn push_linked(
        &mut self,
        kind: OpKind,
        sqe: squeue::Entry,
        timeout: squeue::Entry,
    ) {
        self.counters.submitted(kind);
        self.counters.submitted(OpKind::LinkTimeout);
        self.stats
            .op_submitted(kind, UserData::from_raw(sqe.get_user_data()), Target::None);
        // SAFETY: forwarded from the caller.
        unsafe {
            self.ring
                .push_linked(sqe.flags(squeue::Flags::IO_LINK), timeout)
        };
    }

    /// The UDP buffer group, if this worker has UDP sockets.
    pub(crate) fn udp_bgid(&self) -> Option<u16> {
        self.udp_bufs.as_ref().map(|b| b.bgid())
    }

    /// Bytes of UDP buffer `bid`.
    ///
    /// # Safety
    ///
    /// As [`BufRing::data`]: `bid` and `len` come from one CQE of the UDP
    /// group and the buffer has not been recycled since.
    pub(crate) unsafe fn udp_data(&self, bid: u16, len: usize) -> &[u8] {
        match &self.udp_bufs {
            // SAFETY: forwarded from the caller.
            Some(b) => unsafe { b.data(bid, len) },
            None => &[],
        }
    }

    /// Hands UDP buffer `bid` back to the kernel.
    pub(crate) fn recycle_udp(&mut self, bid: u16) {
        if let Some(b) = &mut self.udp_bufs {
            b.recycle(bid);
        }
    }

    /// Counts a UDP receive that found no buffer.
    pub(crate) fn note_udp_exhausted(&mut self) {
        if let Some(b) = &mut self.udp_bufs {
            b.note_exhausted();
        }
    }

    /// Occupancy of the stream and UDP buffer rings.
    pub(crate) fn buffer_usage(&self) -> (SlabUsage, SlabUsage) {
        let udp = self
            .udp_bufs
            .as_ref()
            .map(|b| b.usage())
            .unwrap_or_default();
        (self.bufs.usage(), udp)
    }

    /// Publishes every recycled buffer of both rings.
    pub(crate) fn publish_buffers(&mut self) {
        self.bufs.publish();
        if let Some(b) = &mut self.udp_bufs {
            b.publish();
        }
    }

    /// Submits an `ASYNC_CANCEL` for the op carrying `target`.
    pub(crate) fn cancel(&mut self, target: UserData) {
        if cancels_suppressed() {
            return;
        }
        self.stats.op_cancel_submitted(target);
        let sqe = opcode::AsyncCancel::new(target.raw())
            .build()
            .user_data(UserData::new(OpKind::Cancel, 0, 0).raw());
        // SAFETY: a cancel SQE points at no memory of ours.
        unsafe { self.push(OpKind::Cancel, sqe) };
    }

    /// Cancels every request on the ring (forced shutdown).
    pub(crate) fn cancel_everything(&mut self) {
        if cancels_suppressed() {
            return;
        }
        let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(UserData::new(OpKind::Cancel, 0, 0).raw());
        // SAFETY: a cancel SQE points at no memory of ours.
        unsafe { self.push(OpKind::Cancel, sqe) };
    }

    /// Keeps a read armed on the eventfd so other threads can wake us.
    pub(crate) fn arm_wake(&mut self) {
        if self.wake_armed || self.quiescing {
            return;
        }
        let buf: *mut u64 = &mut **self.wake_buf;
        let sqe = opcode::Read::new(types::Fd(self.eventfd), buf.cast(), 8)
            .build()
            .user_data(UserData::new(OpKind::Wake, 0, 0).raw());
        // SAFETY: `wake_buf` is boxed (never moves) and lives as long as the
        // driver, which is leaked rather than dropped while ops are pending.
        unsafe { self.push(OpKind::Wake, sqe) };
        self.wake_armed = true;
    }

    pub(crate) fn cancel_wake(&mut self) {
        if self.wake_armed {
            self.cancel(UserData::new(OpKind::Wake, 0, 0));
        }
    }

    fn accept_user_data(index: usize) -> UserData {
        UserData::new(OpKind::Accept, 0, index as u32)
    }

    /// Arms a multishot accept on every listener.
    pub(crate) fn arm_accepts(&mut self) {
        for i in 0..self.listeners.len() {
            self.arm_accept(i);
        }
    }

    fn arm_accept(&mut self, index: usize) {
        let l = &mut self.listeners[index];
        if l.armed {
            return;
        }
        l.armed = true;
        l.retry_at = None;
        let sqe = opcode::AcceptMulti::new(types::Fd(l.fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(Self::accept_user_data(index).raw());
        // SAFETY: multishot accept without an address buffer points at no
        // memory of ours; the listener fd is kept open by `l.fd`.
        unsafe { self.push(OpKind::Accept, sqe) };
    }

    /// Notes that the accept on listener `index` ended; a resource error
    /// delays the re-arm.
    pub(crate) fn accept_ended(&mut self, index: usize, result: i32, now: Instant) {
        if let Some(l) = self.listeners.get_mut(index) {
            l.armed = false;
            if matches!(
                -result,
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
            ) {
                l.retry_at = Some(now + ACCEPT_RETRY_DELAY);
            }
        }
    }

    /// Re-arms listeners whose multishot accept ended (unless shutting down).
    pub(crate) fn rearm_accepts(&mut self, now: Instant, shutting_down: bool) {
        if shutting_down {
            return;
        }
        for i in 0..self.listeners.len() {
            let l = &self.listeners[i];
            if !l.armed && l.retry_at.is_none_or(|t| now >= t) {
                self.arm_accept(i);
            }
        }
    }

    /// The earliest delayed accept re-arm, for the wait timeout.
    pub(crate) fn next_accept_retry(&self) -> Option<Instant> {
        self.listeners.iter().filter_map(|l| l.retry_at).min()
    }

    /// Cancels every armed accept (shutdown); the listeners stay open until
    /// every worker is done with them.
    pub(crate) fn cancel_accepts(&mut self) {
        for i in 0..self.listeners.len() {
            if self.listeners[i].armed {
                self.cancel(Self::accept_user_data(i));
            }
            self.listeners[i].retry_at = None;
        }
    }

    /// Ops still waiting for their final CQE, not counting the eventfd read.
    pub(crate) fn in_flight_except_wake(&self) -> u64 {
        self.counters.total_in_flight() - self.counters.in_flight[OpKind::Wake as usize]
    }

    /// Submits and waits up to `timeout` (`Some(ZERO)`: do not block).
    /// `now` is the caller's clock reading for this turn.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>, now: Instant) -> io::Result<()> {
        let timeout = match (timeout, self.next_accept_retry()) {
            (t, Some(at)) => {
                let until = at.saturating_duration_since(now);
                Some(t.map_or(until, |t| t.min(until)))
            }
            (t, None) => t,
        };
        match timeout {
            Some(t) if t.is_zero() => self.ring.submit(),
            t => self.ring.submit_and_wait(t),
        }
    }
}

impl Driver {
    /// Last-chance drain when a worker is dropped with ops in flight (a
    /// panic unwound out of the loop): cancel everything and reap for up to
    /// `limit`. Returns true when nothing is in flight any more; otherwise
    /// the driver marks itself leaking and its memory is never freed.
    pub(crate) fn drain_for_drop(&mut self, limit: Duration) -> bool {
        if self.leak_on_drop {
            return false;
        }
        if self.counters.total_in_flight() == 0 {
            return true;
        }
        self.quiescing = true;
        self.cancel_everything();
        let deadline = Instant::now() + limit;
        let mut cqes = Vec::new();
        while self.counters.total_in_flight() > 0 && Instant::now() < deadline {
            self.stats.stamp(crate::stats::now_ns());
            if self
                .ring
                .submit_and_wait(Some(Duration::from_millis(10)))
                .is_err()
            {
                break;
            }
            cqes.clear();
            self.ring.reap(&mut cqes);
            for cqe in &cqes {
                let ud = UserData::from_raw(cqe.user_data);
                let Some(kind) = ud.kind() else { continue };
                if matches!(kind, OpKind::Accept | OpKind::FsOpen) && cqe.result >= 0 {
                    // SAFETY: a freshly accepted or opened fd that nobody
                    // will ever adopt: the worker is going away.
                    unsafe { libc::close(cqe.result) };
                }
                let more = io_uring::cqueue::more(cqe.flags);
                self.counters.completed(kind, more, cqe.result);
                if !more {
                    self.stats.op_completed(kind, ud);
                }
            }
        }
        let drained = self.counters.total_in_flight() == 0;
        self.leak_on_drop = !drained;
        drained
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.leak_on_drop || self.counters.total_in_flight() > 0 {
            // The kernel may still write into the provided buffers, an op's
            // hold or the eventfd buffer: the `ManuallyDrop` fields keep all
            // of it, and the ring fd, alive for the life of the process
            // rather than free memory the kernel could complete into.
            return;
        }
        // SAFETY: nothing is in flight, so the kernel holds no pointer into
        // these; each is dropped exactly once, here, and never used again.
        // The ring goes first so the buffer ring is unregistered with it.
        unsafe {
            ManuallyDrop::drop(&mut self.ring);
            ManuallyDrop::drop(&mut self.bufs);
            if let Some(b) = &mut self.udp_bufs {
                ManuallyDrop::drop(b);
            }
            ManuallyDrop::drop(&mut self.ops);
            ManuallyDrop::drop(&mut self.wake_buf);
        }
    }
}

/// Describes a ring setup failure with its likely cause.
fn ring_setup_error(e: &io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENOMEM) => {
            " (RLIMIT_MEMLOCK too low? raise `ulimit -l` or use fewer sq_entries)"
        }
        Some(libc::EPERM) => " (io_uring blocked by seccomp or kernel.io_uring_disabled)",
        Some(libc::ENOSYS) => " (kernel without io_uring)",
        Some(libc::EINVAL) => " (kernel too old for SINGLE_ISSUER/DEFER_TASKRUN: needs Linux 6.1+)",
        _ => "",
    };
    Error::RingSetup(format!("io_uring setup failed: {e}{hint}"))
}

/// Whether this thread's cancels are dropped (`test_hooks`).
#[cfg(test)]
fn cancels_suppressed() -> bool {
    test_hooks::SUPPRESS_CANCELS.with(|c| c.get())
}

#[cfg(not(test))]
#[inline(always)]
fn cancels_suppressed() -> bool {
    false
}

/// Test hook: a worker thread can make its driver drop every cancel, to
/// exercise the shutdown path where the kernel never finishes an op.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::cell::Cell;

    thread_local! {
        /// Set on a worker thread: its cancels are never submitted.
        pub(crate) static SUPPRESS_CANCELS: Cell<bool> = const { Cell::new(false) };
    }
}
