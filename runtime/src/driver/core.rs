//! The backend-independent half of a worker's driver: the one accounting
//! point every submission and completion passes through, the worker's
//! lifecycle, the listeners, the wake-fd read that carries cross-thread
//! wakes, and the teardown rule that memory an op may still write is never
//! freed. One-shot ops (connects, file ops) live in the tables of the
//! layers that start them (see `ops`).

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Cqe;
use super::lifecycle::{FORCED_CANCEL_GRACE, Lifecycle};
use super::mio;
use super::sqe::{FdRef, Link, Plain, Sqe};
use crate::config::Backend;
use crate::config::Config;
use crate::error::Error;
use crate::op::{OpCounters, OpKind, UserData};
use crate::stats::kinds::SlabUsage;
use crate::stats::op_registry::Target;
use crate::stats::{RingTotals, StatsWriter};
use crate::sys::{cfg_not_uring, cfg_uring};

cfg_uring! {
    use super::uring;
}

/// The backend half of a driver.
pub(crate) enum Io {
    /// io_uring, on Linux only (elsewhere the variant does not exist).
    #[cfg(target_os = "linux")]
    Uring(uring::Io),
    Mio(mio::Io),
}

// The two forwarding macros below are the only places that name both
// variants; their io_uring arm carries the variant's cfg.

/// Forwards a call to whichever backend runs.
macro_rules! io {
    ($self:ident . $($call:tt)*) => {
        match &mut *$self.io {
            #[cfg(target_os = "linux")]
            Io::Uring(io) => io.$($call)*,
            Io::Mio(io) => io.$($call)*,
        }
    };
}

/// As `io!`, through a shared reference.
macro_rules! io_ref {
    ($self:ident . $($call:tt)*) => {
        match &*$self.io {
            #[cfg(target_os = "linux")]
            Io::Uring(io) => io.$($call)*,
            Io::Mio(io) => io.$($call)*,
        }
    };
}

cfg_uring! {
    /// The io_uring half of a new driver.
    fn uring_io(config: &Config, with_udp: bool) -> Result<Io, Error> {
        Ok(Io::Uring(uring::Io::new(config, with_udp)?))
    }
}

cfg_not_uring! {
    /// No io_uring here: launch turns an explicit request away before any
    /// worker starts, so this is only a backstop.
    fn uring_io(_config: &Config, _with_udp: bool) -> Result<Io, Error> {
        Err(super::uring_unsupported())
    }
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

/// See the module docs.
pub(crate) struct Driver {
    /// The backend. Dropped only when nothing is in flight; leaked (with
    /// the kernel's or a pool thread's view of its memory) otherwise.
    io: ManuallyDrop<Io>,
    pub(crate) counters: OpCounters,
    /// The worker's stats writer (the registry mirrors every one-shot op
    /// pushed here).
    pub(crate) stats: Rc<StatsWriter>,
    listeners: Vec<ListenerSlot>,
    /// The worker's wake fd (an eventfd on Linux, a pipe's read end
    /// elsewhere), read 8 bytes at a time.
    wake_fd: i32,
    /// The wake read's 8-byte target; boxed so it never moves.
    wake_buf: ManuallyDrop<Box<u64>>,
    /// Where the worker is in its life (running, draining, …, abandoned):
    /// decides re-arming, cancelling, and leaking at drop.
    pub(crate) lifecycle: Lifecycle,
}

impl Driver {
    pub(crate) fn new(
        config: &Config,
        backend: Backend,
        wake_fd: i32,
        listeners: &[Arc<OwnedFd>],
        with_udp: bool,
        stats: Rc<StatsWriter>,
        disk: Option<Arc<mio::DiskPool>>,
    ) -> Result<Driver, Error> {
        let io = match backend {
            Backend::IoUring => uring_io(config, with_udp)?,
            Backend::Mio => Io::Mio(mio::Io::new(config, with_udp, disk)?),
        };
        Ok(Driver {
            io: ManuallyDrop::new(io),
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
            wake_fd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            lifecycle: Lifecycle::new(FORCED_CANCEL_GRACE),
        })
    }

    /// Starts an op that lends the kernel nothing of its submitter's.
    /// Connection ops (close, shutdown) name their connection in the op
    /// registry.
    #[inline]
    pub(crate) fn push(&mut self, kind: OpKind, ud: UserData, op: Plain) {
        let target = match kind {
            OpKind::Close | OpKind::Shutdown => Target::Conn(ud.index()),
            _ => Target::None,
        };
        // SAFETY: a `Plain` op points at no memory of its submitter's: its
        // arguments are descriptors and user data, or the provided receive
        // buffers, which the driver owns and keeps (leaking them rather
        // than freeing them while an op is in flight).
        unsafe { self.submit(kind, ud, op.into(), target, None) };
    }

    /// The one door for ops that lend the kernel memory: counts the op
    /// (and its linked timeout), mirrors it into the op registry under
    /// `target` and hands it to the backend.
    ///
    /// # Safety
    ///
    /// Everything `sqe` (and `link`) points to stays valid and unmoved
    /// until the op's final completion is reaped: it lives in an op
    /// table's hold, a connection's send slot or the driver itself, and a
    /// dropped future parks it in the graveyard instead of freeing it.
    #[inline]
    pub(crate) unsafe fn submit(
        &mut self,
        kind: OpKind,
        ud: UserData,
        sqe: Sqe,
        target: Target<'_>,
        link: Option<Link>,
    ) {
        self.counters.submitted(kind);
        if link.is_some() {
            self.counters.submitted(OpKind::LinkTimeout);
        }
        self.stats.op_submitted(kind, ud, target);
        // SAFETY: this function's contract is the backends': what `sqe` and
        // `link` point to outlives their final completions.
        unsafe { io!(self.push(ud, sqe, link)) };
    }

    /// Bytes of stream buffer `bid`.
    ///
    /// # Safety
    ///
    /// `bid` and `len` come from one receive completion and the buffer has
    /// not been recycled since.
    pub(crate) unsafe fn recv_data(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: this function's contract is the buffers': `bid` and `len`
        // come from one receive completion, and the buffer was not handed
        // back since, so the kernel wrote those bytes and writes no more.
        unsafe { io_ref!(self.bufs.recv_data(bid, len)) }
    }

    /// Hands stream buffer `bid` back (visible after `publish_buffers`).
    pub(crate) fn recycle_recv(&mut self, bid: u16) {
        io!(self.bufs.recycle_recv(bid))
    }

    /// Counts a receive that found no buffer.
    pub(crate) fn note_recv_exhausted(&mut self) {
        io!(self.bufs.note_recv_exhausted())
    }

    /// Bytes of UDP buffer `bid`.
    ///
    /// # Safety
    ///
    /// As [`recv_data`](Self::recv_data), for a UDP receive completion.
    pub(crate) unsafe fn udp_data(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: as for `recv_data`: `bid` and `len` come from one UDP
        // receive completion and the buffer was not handed back since.
        unsafe { io_ref!(self.bufs.udp_data(bid, len)) }
    }

    /// Hands UDP buffer `bid` back.
    pub(crate) fn recycle_udp(&mut self, bid: u16) {
        io!(self.bufs.recycle_udp(bid))
    }

    /// Counts a UDP receive that found no buffer.
    pub(crate) fn note_udp_exhausted(&mut self) {
        io!(self.bufs.note_udp_exhausted())
    }

    /// Occupancy of the stream and UDP buffers.
    pub(crate) fn buffer_usage(&self) -> (SlabUsage, SlabUsage) {
        io_ref!(self.bufs.usage())
    }

    /// Makes every recycled buffer of both pools available again.
    pub(crate) fn publish_buffers(&mut self) {
        io!(self.bufs.publish())
    }

    /// Installs connection socket `fd` in the backend's file table at
    /// `slot` when it can (io_uring; see `uring`'s module docs): how the
    /// connection's ops name the socket from now on.
    pub(crate) fn install_socket(&mut self, slot: u32, fd: RawFd) -> FdRef {
        io!(self.install(slot, fd))
    }

    /// The backend's syscall totals (ring enters or polls, completions).
    pub(crate) fn ring_totals(&self) -> &RingTotals {
        io_ref!(self.totals())
    }

    /// Appends every available completion to `out`.
    pub(crate) fn reap(&mut self, out: &mut Vec<Cqe>) {
        io!(self.reap(out))
    }

    /// Submits an `ASYNC_CANCEL` for the op carrying `target`.
    pub(crate) fn cancel(&mut self, target: UserData) {
        if cancels_suppressed() {
            return;
        }
        self.stats.op_cancel_submitted(target);
        let ud = UserData::new(OpKind::Cancel, 0, 0);
        self.push(OpKind::Cancel, ud, Plain::Cancel { target });
    }

    /// Cancels every request on the ring (forced shutdown).
    pub(crate) fn cancel_everything(&mut self) {
        if cancels_suppressed() {
            return;
        }
        let ud = UserData::new(OpKind::Cancel, 0, 0);
        self.push(OpKind::Cancel, ud, Plain::CancelAll);
    }

    /// Keeps a read armed on the wake fd so other threads can wake us.
    pub(crate) fn arm_wake(&mut self) {
        if !self.lifecycle.wants_wake_read() {
            return;
        }
        let buf: *mut u64 = &mut **self.wake_buf;
        let sqe = Sqe::WakeRead {
            fd: self.wake_fd,
            buf,
        };
        let ud = UserData::new(OpKind::Wake, 0, 0);
        // SAFETY: `wake_buf` is boxed (its address never changes) and is
        // freed only in the driver's drop, which leaks it instead while any
        // op (this read included) is in flight.
        unsafe { self.submit(OpKind::Wake, ud, sqe, Target::None, None) };
        self.lifecycle.wake_read_armed();
    }

    /// Cancels the armed wake read (the last op of a shutdown).
    pub(crate) fn cancel_wake(&mut self) {
        if self.lifecycle.wake_armed() {
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
        let op = Plain::AcceptMulti {
            fd: l.fd.as_raw_fd(),
        };
        self.push(OpKind::Accept, Self::accept_user_data(index), op);
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
    pub(crate) fn rearm_accepts(&mut self, now: Instant) {
        if !self.lifecycle.is_running() {
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

    /// Kernel ops still waiting for their final CQE, not counting the
    /// wake read (nor pool jobs, which hold no memory of the driver's).
    pub(crate) fn in_flight_except_wake(&self) -> u64 {
        self.counters.kernel_in_flight() - self.counters.in_flight[OpKind::Wake as usize]
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
        io!(self.wait(timeout))
    }
}

impl Driver {
    /// Last-chance drain when a worker is dropped with ops in flight (a
    /// panic unwound out of the loop): cancel everything and reap for up to
    /// `limit`. Returns true when no kernel op is in flight any more (pool
    /// jobs hold none of the driver's memory); otherwise
    /// the driver marks itself leaking and its memory is never freed.
    pub(crate) fn drain_for_drop(&mut self, limit: Duration) -> bool {
        if !self.lifecycle.begin_drop_drain() {
            return false;
        }
        if self.counters.kernel_in_flight() == 0 {
            self.lifecycle.end_drop_drain(true);
            return true;
        }
        self.cancel_everything();
        let deadline = Instant::now() + limit;
        let mut cqes = Vec::new();
        while self.counters.kernel_in_flight() > 0 && Instant::now() < deadline {
            self.stats.stamp(crate::stats::now_ns());
            if self
                .wait(Some(Duration::from_millis(10)), Instant::now())
                .is_err()
            {
                break;
            }
            cqes.clear();
            self.reap(&mut cqes);
            for cqe in &cqes {
                let ud = UserData::from_raw(cqe.user_data);
                let Some(kind) = ud.kind() else { continue };
                if matches!(kind, OpKind::Accept | OpKind::FsOpen) && cqe.result >= 0 {
                    // A freshly accepted or opened fd that nobody will
                    // ever adopt: the worker is going away.
                    let _ = crate::sys::close(cqe.result);
                }
                let more = cqe.more();
                self.counters.completed(kind, more, cqe.result);
                if !more {
                    self.stats.op_completed(kind, ud);
                }
            }
        }
        let drained = self.counters.kernel_in_flight() == 0;
        self.lifecycle.end_drop_drain(drained);
        drained
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.lifecycle.leaks() || self.counters.kernel_in_flight() > 0 {
            // The kernel (or a disk pool thread) may still write into the
            // receive buffers, an op's hold or the wake buffer: the
            // `ManuallyDrop` fields keep all of it, and the ring fd, alive
            // for the life of the process rather than free memory an op
            // could complete into.
            return;
        }
        // SAFETY: nothing is in flight, so neither the kernel nor a pool
        // thread holds a pointer into these; each is dropped exactly once,
        // here, and never used again.
        unsafe {
            ManuallyDrop::drop(&mut self.io);
            ManuallyDrop::drop(&mut self.wake_buf);
        }
    }
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
