//! The mio backend: io_uring's completion model emulated over readiness.
//!
//! The layers above see the same thing on both backends: ops go in as
//! [`Sqe`]s and come back as [`Cqe`]s with io_uring's result and flag
//! conventions (multishot "more", the buffer id of a receive). Here:
//!
//! ```text
//!  push ──► queued ──wait──► start: try the syscall now
//!                              │ done          │ EAGAIN           │ file op
//!                              ▼               ▼                  ▼
//!                            done ◄─ready── parked on its fd   disk pool thread
//!                              ▲                                  │
//!                              └──────────── Completions ◄────────┘ (+ Waker)
//!  reap ◄── done
//! ```
//!
//! Socket syscalls never block (per-call `MSG_DONTWAIT`; listeners, FIFOs,
//! terminals and connecting sockets are switched to non-blocking once);
//! fds are registered edge-triggered for both directions the first time an
//! op parks on them. Nothing that may wait for a peer runs on the disk
//! pool: reads and writes of FIFOs, sockets and character devices park on
//! readiness, opens never wait for a FIFO's peer, and a connect to a full
//! Unix backlog waits by retrying (`connect`). Receives take a buffer
//! from a [`BufPool`] exactly as the kernel takes one from a provided
//! buffer ring, so `ENOBUFS`, recycling and publishing behave the same.
//! A cancel finds a parked or queued op and completes it with
//! `-ECANCELED`; an op running on the disk pool cannot be stopped and
//! answers `-EALREADY`, and its memory stays held until it completes.

mod bufs;
mod connect;
mod disk;

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rustc_hash::{FxHashMap, FxHashSet};

use self::bufs::BufPool;
use self::connect::{BacklogWait, LinkTimeout};
pub(crate) use self::disk::DiskPool;
use self::disk::{Completions, run_disk_op};
use super::Cqe;
use super::buffers::Buffers;
use super::sqe::{FdRef, Link, Sqe};
use crate::config::Config;
use crate::error::Error;
use crate::op::UserData;
use crate::stats::RingTotals;
use crate::sys::{self, Zeroed, syscall};

/// The token of the disk pool's waker; sockets use their fd as token.
const WAKER: Token = Token(usize::MAX);

/// Most completions one multishot op produces per readiness before the
/// other fds get their turn (the fd stays hot and is retried next wait).
const MULTISHOT_BUDGET: usize = 32;

/// Size of `io_uring_recvmsg_out`, the header of each received datagram.
const RECVMSG_HEADER: usize = 16;

/// An op waiting to start, or parked until its fd is ready.
#[derive(Clone, Copy)]
struct Parked {
    ud: UserData,
    sqe: Sqe,
    /// Which parking this is (a re-armed multishot op reuses its
    /// `user_data`); entries of a parking since ended are stale.
    seq: u64,
}

/// The ops parked on one fd, oldest first. A cancelled op leaves a stale
/// entry behind (removing it would cost a scan per cancel, and shutdown
/// cancels thousands); stale entries are skipped when they reach the front
/// and swept once they are half of the queue.
#[derive(Default)]
struct Waiters {
    /// Multishot receives and accepts, the wake read, reads of FIFOs.
    readers: VecDeque<Parked>,
    /// Sends, connects and writes, in submission order.
    writers: VecDeque<Parked>,
    /// Entries of both queues that are stale.
    stale: usize,
}

impl Waiters {
    fn live(&self) -> usize {
        self.readers.len() + self.writers.len() - self.stale
    }
}

/// See the module docs.
pub(crate) struct Io {
    poll: Poll,
    events: Events,
    queued: VecDeque<Parked>,
    fds: FxHashMap<RawFd, Waiters>,
    /// Where each parked op waits: `user_data` → (fd, parking).
    parked: FxHashMap<u64, (RawFd, u64)>,
    next_seq: u64,
    /// Fds whose readers stopped on their budget, not on `EAGAIN`.
    hot: Vec<RawFd>,
    /// The last poll's events as (fd, readable, writable); reused.
    ready: Vec<(RawFd, bool, bool)>,
    timeouts: Vec<LinkTimeout>,
    /// Connects to a Unix listener with a full backlog, waiting for room.
    backlog_waits: Vec<BacklogWait>,
    done: Vec<Cqe>,
    disk: Option<Arc<DiskPool>>,
    completions: Arc<Completions>,
    /// Ops running on the disk pool.
    on_pool: FxHashSet<u64>,
    pub(crate) bufs: Buffers<BufPool>,
    totals: RingTotals,
}

impl Drop for Io {
    /// Reached only with nothing in flight (the driver leaks the backend
    /// otherwise). A pool thread lets go of its handle on the completion
    /// queue just after posting, so the last completion reaped may still
    /// have one in hand: wait (briefly) for it, so the queue's wake fd is
    /// closed here, on the worker, and not moments after the runtime's
    /// threads were joined.
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Arc::strong_count(&self.completions) > 1 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }
}

impl Io {
    pub(crate) fn new(
        config: &Config,
        with_udp: bool,
        disk: Option<Arc<DiskPool>>,
    ) -> Result<Io, Error> {
        let poll =
            Poll::new().map_err(|e| Error::RingSetup(format!("mio poll setup failed: {e}")))?;
        let waker = mio::Waker::new(poll.registry(), WAKER)
            .map_err(|e| Error::RingSetup(format!("mio waker setup failed: {e}")))?;
        Ok(Io {
            poll,
            events: Events::with_capacity(1024),
            queued: VecDeque::new(),
            fds: FxHashMap::default(),
            parked: FxHashMap::default(),
            next_seq: 0,
            hot: Vec::new(),
            ready: Vec::with_capacity(1024),
            timeouts: Vec::new(),
            backlog_waits: Vec::new(),
            done: Vec::with_capacity(256),
            disk,
            completions: Arc::new(Completions::new(waker)),
            on_pool: FxHashSet::default(),
            bufs: Buffers {
                stream: BufPool::new(config.recv_buffer.ring_size, config.recv_buffer.buffer_size),
                udp: with_udp.then(|| {
                    BufPool::new(
                        config.udp_recv_buffer.ring_size,
                        config.udp_recv_buffer.buffer_size,
                    )
                }),
            },
            totals: RingTotals::default(),
        })
    }

    /// Queues `sqe`; it starts at the next wait. With `link` (connects
    /// only) it fails with `-ECANCELED` if still pending after `*link.ts`,
    /// and the timeout then completes with `-ETIME`.
    ///
    /// # Safety
    ///
    /// Everything `sqe` points to stays valid and unmoved until its final
    /// completion is reaped; `link.ts` is valid now (it is read at once).
    pub(crate) unsafe fn push(&mut self, ud: UserData, sqe: Sqe, link: Option<Link>) {
        if let Some(link) = link {
            // SAFETY: this function's contract: `link.ts` points at a live
            // timespec during this call.
            let after = unsafe { (*link.ts).duration() };
            self.timeouts.push(LinkTimeout {
                deadline: Instant::now() + after,
                connect: ud,
                timeout: link.ud,
            });
        }
        self.queued.push_back(Parked { ud, sqe, seq: 0 });
    }

    /// Starts what was queued, then waits up to `timeout` for readiness
    /// (not at all when completions are already waiting).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        while let Some(op) = self.queued.pop_front() {
            self.totals.sqes_submitted += 1;
            self.start(op);
        }
        for fd in std::mem::take(&mut self.hot) {
            self.run_readers(fd);
        }
        // The clock is read only when a connect has a deadline.
        let now = self.has_connect_deadlines().then(Instant::now);
        if let Some(now) = now {
            self.retry_backlog_waits(now);
        }
        self.completions.take(&mut self.done);
        let timeout = if !self.done.is_empty() || !self.hot.is_empty() {
            Some(Duration::ZERO)
        } else {
            let link = now.and_then(|now| {
                self.next_connect_deadline()
                    .map(|d| d.saturating_duration_since(now))
            });
            match (timeout, link) {
                (Some(t), Some(l)) => Some(t.min(l)),
                (t, l) => t.or(l),
            }
        };
        self.totals.enter_calls += 1;
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        // The events are copied out (running an op needs `&mut self`) into
        // a buffer kept across waits, so a wait allocates nothing.
        let mut ready = std::mem::take(&mut self.ready);
        ready.extend(self.events.iter().filter(|e| e.token() != WAKER).map(|e| {
            let fd = e.token().0 as RawFd;
            let closed = e.is_error() || e.is_read_closed() || e.is_write_closed();
            (fd, e.is_readable() || closed, e.is_writable() || closed)
        }));
        for &(fd, readable, writable) in &ready {
            if readable {
                self.run_readers(fd);
            }
            if writable {
                self.run_writers(fd);
            }
        }
        ready.clear();
        self.ready = ready;
        self.completions.take(&mut self.done);
        if !self.timeouts.is_empty() {
            self.expire_timeouts(Instant::now());
        }
        Ok(())
    }

    pub(crate) fn reap(&mut self, out: &mut Vec<Cqe>) {
        self.totals.cqes_reaped += self.done.len() as u64;
        if !self.on_pool.is_empty() {
            for cqe in &self.done {
                self.on_pool.remove(&cqe.user_data);
            }
        }
        out.append(&mut self.done);
    }

    pub(crate) fn totals(&self) -> &RingTotals {
        &self.totals
    }

    /// Sockets stay on their descriptors here (no file table): counted as
    /// such, so the stats read the same on both backends.
    pub(crate) fn install(&mut self, _slot: u32, fd: RawFd) -> FdRef {
        self.totals.raw_fd_conns += 1;
        FdRef::raw(fd)
    }

    fn complete(&mut self, ud: UserData, result: i32, flags: u32) {
        self.done.push(Cqe {
            user_data: ud.raw(),
            result,
            flags,
        });
    }

    /// Starts one op: runs it now if it can, parks it on its fd, or hands
    /// it to the disk pool.
    fn start(&mut self, op: Parked) {
        let Parked { ud, sqe, .. } = op;
        match sqe {
            Sqe::AcceptMulti { fd }
            | Sqe::RecvMulti {
                fd: FdRef { raw: fd, .. },
            }
            | Sqe::RecvMsgMulti { fd, .. }
            | Sqe::WakeRead { fd, .. } => self.start_reader(fd, op),
            Sqe::Send {
                fd: FdRef { raw: fd, .. },
                ..
            }
            | Sqe::SendMsg { fd, .. } => {
                if self.fds.get(&fd).is_some_and(|w| w.writers.len() > w.stale) {
                    // Keep the order of sends queued before this one.
                    self.park(fd, op, false);
                } else if let Some(result) = try_write(sqe) {
                    self.complete(ud, result, 0);
                } else {
                    self.park(fd, op, false);
                }
            }
            Sqe::Connect { .. } => self.start_connect(op),
            // mio never installs sockets in a file table: `raw` is all.
            Sqe::Close {
                fd: FdRef { raw: fd, .. },
            } => {
                self.forget_fd(fd);
                // The connection owned `fd`; closing it is this op.
                let result = syscall!(-errno close(fd));
                self.complete(ud, result, 0);
            }
            Sqe::Shutdown {
                fd: FdRef { raw: fd, .. },
                how,
            } => {
                let result = syscall!(-errno shutdown(fd, how));
                self.complete(ud, result, 0);
            }
            Sqe::Cancel { target } => {
                let result = self.cancel(target);
                self.complete(ud, result, 0);
            }
            Sqe::CancelAll => {
                self.cancel_all();
                self.complete(ud, 0, 0);
            }
            Sqe::Read { fd, .. } | Sqe::Write { fd, .. } if is_pollable(fd) => {
                // A FIFO, socket or terminal opened as a file: readiness
                // can watch it, and a read that never completes stays
                // cancellable instead of holding a disk thread.
                let _ = sys::set_nonblocking(fd, true);
                if matches!(sqe, Sqe::Read { .. }) {
                    self.start_reader(fd, op);
                } else if let Some(result) = try_write(sqe) {
                    self.complete(ud, result, 0);
                } else {
                    self.park(fd, op, false);
                }
            }
            _ if sqe.is_disk() => match &self.disk {
                Some(pool) => {
                    self.on_pool.insert(ud.raw());
                    // SAFETY: the op's memory is held by its op slot until
                    // this completion is reaped (the `push` contract).
                    unsafe { pool.submit(ud, sqe, &self.completions) };
                }
                None => {
                    // No pool (`disk_io_threads` is 0): run it here.
                    // SAFETY: the op's memory is held by its op slot until
                    // this completion is reaped (the `push` contract), and
                    // this thread runs it to the end before anything else.
                    let result = unsafe { run_disk_op(sqe) };
                    self.complete(ud, result, 0);
                }
            },
            _ => self.complete(ud, -libc::EINVAL, 0),
        }
    }

    /// Tries a reading op at once; parks it if it would block (or spent
    /// its budget, and then it is retried next wait).
    fn start_reader(&mut self, fd: RawFd, op: Parked) {
        if matches!(op.sqe, Sqe::AcceptMulti { .. }) {
            // The listener is shared and created blocking; accept has no
            // per-call flag. Receives pass MSG_DONTWAIT, the wake fd and
            // FIFOs are non-blocking already. A failure shows as the
            // accept blocking nowhere: it is retried on readiness anyway.
            let _ = sys::set_nonblocking(fd, true);
        }
        let (keep, hot) = self.run_reader(op);
        if keep {
            self.park(fd, op, true);
            if hot && !self.hot.contains(&fd) {
                self.hot.push(fd);
            }
        }
    }

    fn park(&mut self, fd: RawFd, mut op: Parked, reader: bool) {
        let waiters = self.fds.entry(fd).or_default();
        if waiters.live() == 0 {
            let registered = self.poll.registry().register(
                &mut SourceFd(&fd),
                Token(fd as usize),
                Interest::READABLE | Interest::WRITABLE,
            );
            // Already registered (an earlier op on this fd) is fine: the
            // interest is always both directions.
            if let Err(e) = registered
                && e.kind() != io::ErrorKind::AlreadyExists
            {
                self.complete(op.ud, -sys::errno_of(&e), 0);
                return;
            }
        }
        self.next_seq += 1;
        op.seq = self.next_seq;
        if reader {
            waiters.readers.push_back(op);
        } else {
            waiters.writers.push_back(op);
        }
        self.parked.insert(op.ud.raw(), (fd, op.seq));
    }

    fn is_live(parked: &FxHashMap<u64, (RawFd, u64)>, fd: RawFd, op: &Parked) -> bool {
        parked.get(&op.ud.raw()) == Some(&(fd, op.seq))
    }

    /// Runs the reading ops parked on `fd`, oldest first, until one would
    /// block (the others read the same fd and would block too) or spends
    /// its budget (then the fd is retried next wait).
    fn run_readers(&mut self, fd: RawFd) {
        loop {
            let Some(w) = self.fds.get_mut(&fd) else {
                return;
            };
            let Some(op) = w.readers.front().copied() else {
                return;
            };
            if !Self::is_live(&self.parked, fd, &op) {
                w.readers.pop_front();
                w.stale -= 1;
                continue;
            }
            let (keep, hot) = self.run_reader(op);
            if keep {
                if hot && !self.hot.contains(&fd) {
                    self.hot.push(fd);
                }
                return;
            }
            self.parked.remove(&op.ud.raw());
            if let Some(w) = self.fds.get_mut(&fd) {
                w.readers.pop_front();
            }
        }
    }

    /// One reading op: returns (still parked, stopped on its budget).
    fn run_reader(&mut self, op: Parked) -> (bool, bool) {
        for _ in 0..MULTISHOT_BUDGET {
            let step = match op.sqe {
                Sqe::AcceptMulti { fd } => self.accept_one(fd),
                Sqe::RecvMulti { fd } => self.recv_one(fd.raw),
                Sqe::RecvMsgMulti { fd, msghdr } => self.recvmsg_one(fd, msghdr),
                Sqe::WakeRead { fd, buf } => {
                    // SAFETY: `buf` is the driver's boxed u64 (8 bytes),
                    // which lives as long as the driver and which only
                    // this read writes while it is armed.
                    Step::of(unsafe { sys::read_raw(fd, buf.cast(), 8) })
                }
                Sqe::Read {
                    fd,
                    buf,
                    len,
                    offset,
                } => {
                    // SAFETY: the buffer lives in the op's hold, `len`
                    // bytes, until its completion is reaped, and nothing
                    // else writes it meanwhile.
                    Step::of(unsafe { sys::read_at(fd, buf, len, offset) })
                }
                _ => Step::Final(-libc::EINVAL, 0),
            };
            match step {
                Step::Blocked => return (true, false),
                Step::More(result, flags) => {
                    self.complete(op.ud, result, flags | Cqe::F_MORE);
                }
                Step::Final(result, flags) => {
                    self.complete(op.ud, result, flags);
                    return (false, false);
                }
                Step::Retry => {}
            }
        }
        (true, true)
    }

    fn accept_one(&mut self, fd: RawFd) -> Step {
        match sys::accept(fd) {
            Ok(conn) => Step::More(conn, 0),
            Err(e) => match sys::errno_of(&e) {
                // The peer gave up before we accepted: try the next one.
                libc::ECONNABORTED => Step::Retry,
                errno => Step::from_errno(errno),
            },
        }
    }

    fn recv_one(&mut self, fd: RawFd) -> Step {
        let Some((bid, buf)) = self.bufs.stream.take() else {
            return Step::Final(-libc::ENOBUFS, 0);
        };
        let n = sys::recv(fd, buf, libc::MSG_DONTWAIT);
        if n > 0 {
            return Step::More(n, Cqe::buffer_flags(bid, false));
        }
        self.bufs.stream.untake(bid);
        if n == 0 {
            Step::Final(0, 0)
        } else {
            Step::from_errno(-n)
        }
    }

    /// One datagram, laid out in the buffer as io_uring's multishot
    /// `recvmsg` lays it out (header, name, control, payload).
    fn recvmsg_one(&mut self, fd: RawFd, template: *const libc::msghdr) -> Step {
        // `msg_controllen` is a `usize` on Linux and a `socklen_t` on
        // macOS, hence the casts here and below.
        #[allow(clippy::unnecessary_cast, reason = "not the same type on macOS")]
        // SAFETY: the template is boxed in the socket state and outlives
        // the op.
        let (name_len, control_len) = unsafe {
            (
                (*template).msg_namelen as usize,
                (*template).msg_controllen as usize,
            )
        };
        let Some(pool) = self.bufs.udp.as_mut() else {
            return Step::Final(-libc::ENOBUFS, 0);
        };
        let Some((bid, buf)) = pool.take() else {
            return Step::Final(-libc::ENOBUFS, 0);
        };
        let payload_at = RECVMSG_HEADER + name_len + control_len;
        if payload_at > buf.len() {
            pool.untake(bid);
            return Step::Final(-libc::EINVAL, 0);
        }
        // Name, control and payload fields lie inside `buf`, after the
        // header (`payload_at <= buf.len()`, checked above), so every
        // offset below stays in bounds; all pointers come from one base.
        let base = buf.as_mut_ptr();
        let mut iov = libc::iovec {
            iov_base: base.wrapping_add(payload_at).cast(),
            iov_len: buf.len() - payload_at,
        };
        let mut msg = libc::msghdr::zeroed();
        msg.msg_name = base.wrapping_add(RECVMSG_HEADER).cast();
        msg.msg_namelen = name_len as libc::socklen_t;
        if control_len > 0 {
            msg.msg_control = base.wrapping_add(RECVMSG_HEADER + name_len).cast();
        }
        msg.msg_controllen = control_len as _;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: `msg`'s name, control and iovec point into `buf` (a
        // pool buffer this receive took, `buf.len()` bytes, within the
        // lengths set above) and at `iov`, all live for the call. MSG_TRUNC
        // makes the result the datagram's real length.
        let n = unsafe { sys::recvmsg(fd, &mut msg, libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
        if n < 0 {
            pool.untake(bid);
            return Step::from_errno(-n);
        }
        #[allow(clippy::unnecessary_cast, reason = "not the same type on macOS")]
        let header: [u32; 4] = [
            msg.msg_namelen,
            msg.msg_controllen as u32,
            n as u32,
            msg.msg_flags as u32,
        ];
        for (i, word) in header.iter().enumerate() {
            buf[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        let used = payload_at + (n as usize).min(buf.len() - payload_at);
        Step::More(used as i32, Cqe::buffer_flags(bid, false))
    }

    /// Runs the writing ops parked on `fd`, in order, until one would block.
    fn run_writers(&mut self, fd: RawFd) {
        loop {
            let Some(w) = self.fds.get_mut(&fd) else {
                return;
            };
            let Some(op) = w.writers.front().copied() else {
                return;
            };
            if !Self::is_live(&self.parked, fd, &op) {
                w.writers.pop_front();
                w.stale -= 1;
                continue;
            }
            let result = match op.sqe {
                Sqe::Connect { fd, .. } => Some(sys::take_error(fd)),
                sqe => try_write(sqe),
            };
            let Some(result) = result else {
                return;
            };
            if let Some(w) = self.fds.get_mut(&fd) {
                w.writers.pop_front();
            }
            self.parked.remove(&op.ud.raw());
            if matches!(op.sqe, Sqe::Connect { .. }) {
                self.connect_done(op.ud, result);
            } else {
                self.complete(op.ud, result, 0);
            }
        }
    }

    /// Removes a parked op (on its fd, or waiting for backlog room);
    /// false when it is not parked.
    fn unpark(&mut self, ud: UserData) -> bool {
        if self.withdraw_backlog_wait(ud) {
            return true;
        }
        let Some((fd, _)) = self.parked.remove(&ud.raw()) else {
            return false;
        };
        if let Some(w) = self.fds.get_mut(&fd) {
            w.stale += 1;
            if w.stale * 2 > w.readers.len() + w.writers.len() {
                let parked = &self.parked;
                w.readers.retain(|op| Self::is_live(parked, fd, op));
                w.writers.retain(|op| Self::is_live(parked, fd, op));
                w.stale = 0;
            }
        }
        true
    }

    /// Cancels the op carrying `target`: its result, as `ASYNC_CANCEL`
    /// reports it.
    fn cancel(&mut self, target: UserData) -> i32 {
        if self.unpark(target) {
            self.cancelled(target);
            return 0;
        }
        if let Some(i) = self.queued.iter().position(|op| op.ud == target) {
            self.queued.remove(i);
            self.cancelled(target);
            return 0;
        }
        if self.on_pool.contains(&target.raw()) {
            return -libc::EALREADY;
        }
        -libc::ENOENT
    }

    /// Completes a cancelled op (and its linked timeout).
    fn cancelled(&mut self, ud: UserData) {
        self.complete(ud, -libc::ECANCELED, 0);
        if let Some(i) = self.timeouts.iter().position(|t| t.connect == ud) {
            let t = self.timeouts.swap_remove(i);
            self.complete(t.timeout, -libc::ECANCELED, 0);
        }
    }

    fn cancel_all(&mut self) {
        let parked: Vec<u64> = self.parked.drain().map(|(raw, _)| raw).collect();
        for w in self.fds.values_mut() {
            w.readers.clear();
            w.writers.clear();
            w.stale = 0;
        }
        for raw in parked {
            self.cancelled(UserData::from_raw(raw));
        }
        while let Some(op) = self.queued.pop_front() {
            self.cancelled(op.ud);
        }
        self.cancel_backlog_waits(None);
    }

    /// A connection's fd is being closed: deregister it and end whatever
    /// still waits on it (the connection cancels its ops first; this is
    /// the safety net).
    fn forget_fd(&mut self, fd: RawFd) {
        if !self.backlog_waits.is_empty() {
            self.cancel_backlog_waits(Some(fd));
        }
        let Some(waiters) = self.fds.remove(&fd) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        for op in waiters.readers.iter().chain(waiters.writers.iter()) {
            if Self::is_live(&self.parked, fd, op) {
                self.parked.remove(&op.ud.raw());
                self.cancelled(op.ud);
            }
        }
        self.hot.retain(|&h| h != fd);
    }
}

/// What one attempt of a reading op came to.
enum Step {
    /// Would block: stay parked.
    Blocked,
    /// Try again at once (a transient failure).
    Retry,
    /// A completion, and the op stays armed.
    More(i32, u32),
    /// The op's last completion.
    Final(i32, u32),
}

impl Step {
    /// The step for a one-shot read's result (a count, or `-errno`).
    fn of(result: i32) -> Step {
        if result < 0 {
            Step::from_errno(-result)
        } else {
            Step::Final(result, 0)
        }
    }

    /// The step for a failed syscall: a real error ends the op.
    fn from_errno(errno: i32) -> Step {
        match errno {
            libc::EAGAIN => Step::Blocked,
            libc::EINTR => Step::Retry,
            e => Step::Final(-e, 0),
        }
    }
}

/// Tries a send: its result, or `None` when it would block.
fn try_write(sqe: Sqe) -> Option<i32> {
    const FLAGS: libc::c_int = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    loop {
        // SAFETY: the buffer (send-pool slot, fs hold) or the msghdr with
        // its name, iovec and payload (UDP slot) lives in the op's hold,
        // unmoved, until its completion is reaped: the `push` contract.
        let n = unsafe {
            match sqe {
                Sqe::Send { fd, buf, len } => sys::send(fd.raw, buf, len, FLAGS),
                Sqe::SendMsg { fd, msghdr } => sys::sendmsg(fd, msghdr, FLAGS),
                Sqe::Write {
                    fd,
                    buf,
                    len,
                    offset,
                } => sys::write_at(fd, buf, len, offset),
                _ => return Some(-libc::EINVAL),
            }
        };
        match n {
            n if n >= 0 => return Some(n),
            n if n == -libc::EAGAIN => return None,
            n if n == -libc::EINTR => continue,
            n => return Some(n),
        }
    }
}

/// True for a FIFO, a socket or a character device (a terminal): a file
/// whose reads may wait for a peer indefinitely, and which epoll can watch
/// (a device that cannot be watched, such as `/dev/null`, never makes a
/// read wait, so it never parks).
fn is_pollable(fd: RawFd) -> bool {
    sys::file_mode(fd).is_ok_and(|mode| {
        matches!(
            mode & libc::S_IFMT,
            libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR
        )
    })
}
