//! Receiving: one multishot receive per connection over the worker's
//! provided-buffer ring. A CQE whose connection has nothing buffered keeps
//! its buffer (`Conn::held`): the handler reads the bytes where the kernel
//! wrote them, and the buffer goes back once they are consumed (zero-copy
//! receive). Otherwise — bytes already waiting, or half the ring already
//! held — they are copied into the connection's accumulator and the buffer
//! goes straight back, so the ring refills within the batch. When the ring
//! runs dry the multishot ends with `ENOBUFS` and no bytes taken; it is
//! re-armed after the batch publishes its recycled buffers, so nothing is
//! lost or reordered.
//!
//! Backpressure: once a connection's accumulator holds `recv_buffer_limit`
//! unconsumed bytes, its receive is cancelled and not re-armed, so the
//! kernel's socket buffer fills and TCP's window stops the peer. Consuming
//! down to half the limit (`Worker::put_acc`) arms it again.

use super::conn::{Conn, ConnState, HeldBuf};
use super::current::Net;
use crate::driver::sqe::Plain;
use crate::driver::{Cqe, Driver};
use crate::op::{OpKind, UserData};
use crate::slab::Key;

impl Net<'_> {
    /// Finds the connection a CQE belongs to.
    pub(crate) fn conn_key(self, ud: UserData) -> Option<Key> {
        let net = self.net.borrow();
        let (key, _) = net.conns.get_by_index(ud.index())?;
        ud.matches(key.generation).then_some(key)
    }

    /// Arms the multishot receive of an open connection (idempotent).
    pub(crate) fn arm_recv(self, key: Key) {
        let fd = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.recv_armed || conn.recv_paused || conn.eof || conn.state != ConnState::Open {
                return;
            }
            conn.recv_armed = true;
            conn.pending_cqes += 1;
            let fd = conn.fd;
            net.dirty.mark(conn, key);
            fd
        };
        let mut driver = self.core.driver.borrow_mut();
        let ud = UserData::new(OpKind::Recv, key.generation, key.index);
        // The fd stays open until this op's final CQE (close waits for it).
        driver.push(OpKind::Recv, ud, Plain::RecvMulti { fd });
    }

    #[inline]
    pub(crate) fn on_recv_cqe(self, ud: UserData, cqe: Cqe) {
        let more = cqe.more();
        let bid = cqe.buffer();
        // The buffer stays with the connection (zero-copy) instead of going
        // back at once.
        let mut kept = false;
        let mut found = None;
        {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            if let Some((key, conn)) = net.conns.get_mut_by_index(ud.index())
                && ud.matches(key.generation)
            {
                found = Some(key);
                net.dirty.mark(conn, key);
                let mut taken = 0;
                match cqe.result {
                    n if n > 0 => {
                        if let Some(bid) = bid
                            && conn.state == ConnState::Open
                        {
                            if conn.acc.is_empty()
                                && conn.held.is_none()
                                && net.held_bufs < net.held_limit
                            {
                                conn.held = Some(HeldBuf {
                                    bid,
                                    start: 0,
                                    end: n as u32,
                                });
                                net.held_bufs += 1;
                                kept = true;
                            } else {
                                let mut driver = self.core.driver.borrow_mut();
                                spill(&mut driver, &mut net.held_bufs, conn);
                                // SAFETY: `bid` comes from this CQE and is
                                // recycled only below, after the copy; `n`
                                // is the byte count the kernel wrote.
                                let data = unsafe { driver.recv_data(bid, n as usize) };
                                conn.acc.extend_from_slice(data);
                            }
                            self.core.stats.bytes_received(n as u64);
                            conn.bytes_in += n as u64;
                            taken = n as usize;
                        }
                        conn.wake_recv();
                    }
                    0 => {
                        conn.eof = true;
                        conn.wake_recv();
                    }
                    e if e == -libc::ENOBUFS => self.core.driver.borrow_mut().note_recv_exhausted(),
                    e if e == -libc::ECANCELED => {}
                    e => {
                        conn.eof = true;
                        conn.recv_error = Some(-e);
                        conn.wake_recv();
                    }
                }
                if !more {
                    conn.recv_armed = false;
                    conn.pending_cqes -= 1;
                }
                // Still armed when the limit is reached: stop it; its last
                // CQE will not re-arm.
                let pause = taken > 0 && net.recv.received(conn, taken) && more;
                if !more && !conn.eof && !conn.recv_paused && conn.state == ConnState::Open {
                    net.rearm.push(key);
                }
                if pause {
                    let ud = UserData::new(OpKind::Recv, key.generation, key.index);
                    self.core.driver.borrow_mut().cancel(ud);
                }
            }
        }
        if let Some(bid) = bid
            && !kept
        {
            self.core.driver.borrow_mut().recycle_recv(bid);
        }
        if let Some(key) = found
            && !more
        {
            self.maybe_release(key);
        }
    }

    /// Re-arms receives that ended during the batch (after the recycled
    /// buffers were published).
    pub(crate) fn rearm_receives(self) {
        let keys = std::mem::take(&mut self.net.borrow_mut().rearm);
        for key in keys {
            self.arm_recv(key);
        }
    }
}

/// Moves `conn`'s held bytes, if any, to the end of its (empty)
/// accumulator and hands their buffer back to the ring.
pub(crate) fn spill(driver: &mut Driver, held_bufs: &mut usize, conn: &mut Conn) {
    if let Some(h) = conn.held.take() {
        // SAFETY: a held buffer was filled by the receive CQE that set it
        // (`h.end` bytes) and is recycled only here or by its consumer,
        // which took it out of the connection first.
        let data = unsafe { driver.recv_data(h.bid, h.end as usize) };
        conn.acc.extend_from_slice(&data[h.start as usize..]);
        driver.recycle_recv(h.bid);
        *held_bufs -= 1;
    }
}

/// Hands a held buffer back to the ring (its bytes consumed, or its
/// connection gone).
pub(crate) fn give_back(driver: &mut Driver, held_bufs: &mut usize, h: HeldBuf) {
    driver.recycle_recv(h.bid);
    *held_bufs -= 1;
}
