//! Receiving: one multishot receive per connection over the worker's
//! provided-buffer ring. Each CQE's bytes are copied into the connection's
//! accumulator and the buffer goes straight back to the kernel, so the
//! ring refills within the batch. When the ring runs dry the multishot ends
//! with `ENOBUFS` and no bytes taken; it is re-armed after the batch
//! publishes its recycled buffers, so nothing is lost or reordered.
//!
//! Backpressure: once a connection's accumulator holds `recv_buffer_limit`
//! unconsumed bytes, its receive is cancelled and not re-armed, so the
//! kernel's socket buffer fills and TCP's window stops the peer. Consuming
//! down to half the limit (`Worker::put_acc`) arms it again.

use super::conn::ConnState;
use super::current::Net;
use crate::driver::Cqe;
use crate::driver::sqe::Plain;
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
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.recv_armed || conn.recv_paused || conn.eof || conn.state != ConnState::Open {
                return;
            }
            conn.recv_armed = true;
            conn.pending_cqes += 1;
            conn.fd
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
        let key = self.conn_key(ud);
        if let Some(key) = key {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let mut pause = false;
            let rearm = {
                let conn = net.conns.get_mut(key).expect("found above");
                let mut taken = 0;
                match cqe.result {
                    n if n > 0 => {
                        if let Some(bid) = bid
                            && conn.state == ConnState::Open
                        {
                            let driver = self.core.driver.borrow();
                            // SAFETY: `bid` comes from this CQE and is
                            // recycled only below, after the copy; `n` is
                            // the byte count the kernel wrote.
                            let data = unsafe { driver.recv_data(bid, n as usize) };
                            conn.acc.extend_from_slice(data);
                            self.core.stats.bytes_received(n as u64);
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
                if taken > 0 && net.recv.received(conn, taken) {
                    // Still armed: stop it; its last CQE will not re-arm.
                    pause = more;
                }
                !more && !conn.eof && !conn.recv_paused && conn.state == ConnState::Open
            };
            if rearm {
                net.rearm.push(key);
            }
            if pause {
                let ud = UserData::new(OpKind::Recv, key.generation, key.index);
                self.core.driver.borrow_mut().cancel(ud);
            }
        }
        if let Some(bid) = bid {
            self.core.driver.borrow_mut().recycle_recv(bid);
        }
        if let Some(key) = key
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
