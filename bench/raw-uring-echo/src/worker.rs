//! One worker: its own ring, a multishot accept on the shared listener, and
//! the echo state machine, with one `io_uring_enter` per loop turn.
//!
//! Per connection (a fixed-file slot, never a regular fd):
//!
//! ```text
//!  accept CQE ──▶ arm multishot recv ──▶ recv CQE (buffer b, n bytes)
//!                                          │
//!             ┌──── send in flight? ───────┤
//!             │ yes: queue (b, n)          │ no: send b[0..n] from the
//!             │                            │     received buffer itself
//!             ▼                            ▼
//!         send CQE: short? resend the rest; done? recycle b, send next
//!  recv ends (EOF/error) and nothing in flight ──▶ close the slot
//! ```
//!
//! Techniques, all on purpose: SINGLE_ISSUER + DEFER_TASKRUN (completions
//! run in our `enter`, no IPIs or task-work wakeups), a registered ring fd
//! and direct descriptors (no fd-table lookups per op), multishot accept
//! and recv with a provided-buffer ring (one SQE per connection, not per
//! message), zero-copy echo out of the receive buffer, buffer returns
//! published once per turn, and one `submit_and_wait` per turn.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

use io_uring::{IoUring, SubmissionQueue, Submitter, cqueue, opcode, squeue, types};

use crate::buf_ring::BufRing;
use crate::user_data::{Kind, UserData};

/// Submission queue size. Each turn queues at most one SQE per completion
/// reaped, and a full SQ is submitted early, so this only sets batch size.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue size: room for a turn's worth of completions from
/// thousands of connections without relying on overflow handling.
const CQ_ENTRIES: u32 = 16 * 1024;
/// Direct-descriptor slots: the most connections a worker holds.
const MAX_CONNS: u32 = 4096;
/// Receive buffers. A buffer is held from its receive to its send's
/// completion (loopback sends complete inline), so a few per connection of
/// the benchmark is plenty; fewer buffers keep the rotating working set
/// (the ring is FIFO) small in cache.
const BUF_COUNT: u16 = 512;
/// Bytes per receive buffer: a 4 KiB message fits one buffer with room to
/// spare, as in ringline's default config (16 KiB).
const BUF_SIZE: u32 = 16 * 1024;
const BGID: u16 = 0;

/// A received buffer waiting to be (or being) echoed.
#[derive(Debug, Clone, Copy)]
struct Pending {
    bid: u16,
    /// Bytes of it already sent.
    sent: u32,
    len: u32,
}

#[derive(Debug, Default)]
struct Conn {
    open: bool,
    recv_armed: bool,
    /// A send failed: the peer is gone; drop data until the receive ends.
    broken: bool,
    /// The one send in flight (sends of a connection never overlap, so
    /// echoed bytes keep their order).
    sending: Option<Pending>,
    queued: VecDeque<Pending>,
}

/// Runs a worker on `listener` until the process exits; returns only on a
/// setup or ring error.
pub(crate) fn run(listener: RawFd) -> io::Result<()> {
    let ring = IoUring::<squeue::Entry, cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_submit_all()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)?;
    ring.submitter().register_files_sparse(MAX_CONNS)?;
    let bufs = BufRing::new(&ring.submitter(), BUF_COUNT, BUF_SIZE, BGID)?;
    let mut worker = Worker { ring, bufs };
    worker.serve(listener)
}

/// Field order matters: the ring (which may still write into receive
/// buffers) is dropped before the buffers.
struct Worker {
    ring: IoUring,
    bufs: BufRing,
}

impl Worker {
    fn serve(&mut self, listener: RawFd) -> io::Result<()> {
        let (mut submitter, sq, mut cq) = self.ring.split();
        // Best effort: saves an fd lookup per enter; the loop works without.
        let _ = submitter.register_ring_fd();
        let mut echo = Echo {
            submitter,
            sq,
            bufs: &mut self.bufs,
            conns: (0..MAX_CONNS).map(|_| Conn::default()).collect(),
            listener,
        };
        echo.arm_accept();
        loop {
            echo.bufs.publish();
            echo.sq.sync();
            match echo.submitter.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            cq.sync();
            for cqe in &mut cq {
                echo.complete(cqe.user_data(), cqe.result(), cqe.flags());
            }
            cq.sync();
        }
    }
}

/// The loop's state while the ring is split.
struct Echo<'a> {
    submitter: Submitter<'a>,
    sq: SubmissionQueue<'a>,
    bufs: &'a mut BufRing,
    conns: Vec<Conn>,
    listener: RawFd,
}

impl Echo<'_> {
    /// Queues `sqe`, submitting early when the SQ is full.
    ///
    /// Every pointer in an SQE built here is into a receive buffer that is
    /// recycled only after that SQE's completion.
    fn push(&mut self, sqe: squeue::Entry) {
        // SAFETY: see above; the buffer ring outlives the ring's use of it.
        while unsafe { self.sq.push(&sqe) }.is_err() {
            self.sq.sync();
            let _ = self.submitter.submit();
            self.sq.sync();
        }
    }

    fn arm_accept(&mut self) {
        let sqe = opcode::AcceptMulti::new(types::Fd(self.listener))
            .allocate_file_index(true)
            .build()
            .user_data(UserData::new(Kind::Accept, 0, 0).encode());
        self.push(sqe);
    }

    fn arm_recv(&mut self, slot: u32) {
        self.conns[slot as usize].recv_armed = true;
        let sqe = opcode::RecvMulti::new(types::Fixed(slot), BGID)
            .build()
            .user_data(UserData::new(Kind::Recv, slot, 0).encode());
        self.push(sqe);
    }

    fn send(&mut self, slot: u32, p: Pending) {
        // SAFETY: `sent < len <= BUF_SIZE`, inside buffer `bid`.
        let from = unsafe { self.bufs.ptr(p.bid).add(p.sent as usize) };
        let sqe = opcode::Send::new(types::Fixed(slot), from, p.len - p.sent)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(UserData::new(Kind::Send, slot, p.bid).encode());
        self.push(sqe);
    }

    fn complete(&mut self, user_data: u64, res: i32, flags: u32) {
        let Some(ud) = UserData::decode(user_data) else {
            debug_assert!(false, "unknown user_data {user_data:#x}");
            return;
        };
        match ud.kind {
            Kind::Accept => {
                if res >= 0 {
                    self.open(res as u32);
                }
                if !cqueue::more(flags) {
                    self.arm_accept();
                }
            }
            Kind::Recv => self.on_recv(ud.conn, res, flags),
            Kind::Send => self.on_send(ud.conn, res),
            // The slot was reset when the close was queued; a failed
            // shutdown changes nothing (the receive ends either way).
            Kind::Close | Kind::Shutdown => {}
        }
    }

    fn open(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot as usize) else {
            debug_assert!(false, "accept gave slot {slot} beyond the table");
            return;
        };
        *conn = Conn {
            open: true,
            ..Conn::default()
        };
        self.arm_recv(slot);
    }

    fn on_recv(&mut self, slot: u32, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a buffer-select recv names its buffer");
            let conn = &mut self.conns[slot as usize];
            let p = Pending {
                bid,
                sent: 0,
                len: res as u32,
            };
            if conn.broken {
                self.bufs.recycle(bid);
            } else if conn.sending.is_some() {
                conn.queued.push_back(p);
            } else {
                conn.sending = Some(p);
                self.send(slot, p);
            }
            if !more {
                // The multishot stopped with data (e.g. CQ pressure).
                self.arm_recv(slot);
            }
            return;
        }
        if more {
            return;
        }
        if res == -libc::ENOBUFS && !self.conns[slot as usize].broken {
            // The ring ran dry; buffers come back as sends complete and
            // are published before the re-armed receive is submitted.
            self.arm_recv(slot);
            return;
        }
        // EOF or an error: the receive is over.
        self.conns[slot as usize].recv_armed = false;
        self.close_if_idle(slot);
    }

    fn on_send(&mut self, slot: u32, res: i32) {
        let conn = &mut self.conns[slot as usize];
        let Some(mut p) = conn.sending.take() else {
            debug_assert!(false, "send completion without a send on slot {slot}");
            return;
        };
        if res < 0 || conn.broken {
            // The peer is gone: drop what was left to echo, and shut the
            // socket down so that the receive ends too.
            self.bufs.recycle(p.bid);
            for q in conn.queued.drain(..) {
                self.bufs.recycle(q.bid);
            }
            if !conn.broken {
                conn.broken = true;
                let sqe = opcode::Shutdown::new(types::Fixed(slot), libc::SHUT_RDWR)
                    .build()
                    .user_data(UserData::new(Kind::Shutdown, slot, 0).encode());
                self.push(sqe);
            }
            self.close_if_idle(slot);
            return;
        }
        p.sent += res as u32;
        if p.sent < p.len {
            // Short write: send the rest before anything queued.
            conn.sending = Some(p);
            self.send(slot, p);
            return;
        }
        self.bufs.recycle(p.bid);
        if let Some(next) = conn.queued.pop_front() {
            conn.sending = Some(next);
            self.send(slot, next);
        } else {
            self.close_if_idle(slot);
        }
    }

    /// Closes the slot once its receive has ended and nothing is in
    /// flight; it may be reused by the next accept.
    fn close_if_idle(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        if !conn.open || conn.recv_armed || conn.sending.is_some() {
            return;
        }
        *conn = Conn::default();
        let sqe = opcode::Close::new(types::Fixed(slot))
            .build()
            .user_data(UserData::new(Kind::Close, slot, 0).encode());
        self.push(sqe);
    }
}
