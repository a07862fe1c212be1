//! Closing and half-closing connections, and freeing their slots.
//!
//! ```text
//!  Open ──close()──► Closing ──queued sends drained──► Closed ──last CQE──► freed
//!                     (new sends refused,               (recv cancelled,
//!                      reads see EOF)                    close SQE sent)
//!                        │
//!                        └─ close_linger_timeout passed ─► reset: the send
//!                           in flight is cancelled, queued bytes dropped,
//!                           SO_LINGER 0 makes the close an RST
//! ```

use std::time::Instant;

use super::conn::ConnState;
use super::current::Net;
use crate::driver::Cqe;
use crate::driver::sqe::Plain;
use crate::executor::waker::TaskRef;
use crate::op::{OpKind, UserData};
use crate::slab::Key;

impl Net<'_> {
    /// Starts closing connection `key` (idempotent; a stale key is a no-op).
    pub(crate) fn close_conn(self, key: Key) {
        {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            net.dirty.mark(conn, key);
            match conn.state {
                ConnState::Closing | ConnState::Closed => return,
                // The connect completion sees `Closing` and fails it.
                ConnState::Connecting => {
                    conn.state = ConnState::Closing;
                    return;
                }
                ConnState::Open => {}
            }
            conn.state = ConnState::Closing;
            conn.eof = true;
            conn.wake_recv();
        }
        self.progress_close(key);
    }

    /// Moves a closing connection on once its queued bytes are sent (or
    /// sending failed): cancels the receive and closes the descriptor.
    pub(crate) fn progress_close(self, key: Key) {
        let (fd, recv_armed) = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            let sending = conn.send.in_flight > 0
                || (!conn.send.chunks.is_empty() && conn.send.error.is_none());
            if conn.state != ConnState::Closing {
                return;
            }
            if sending {
                net.start_linger(key, self.core.now());
                return;
            }
            conn.send.clear(&mut net.pool);
            net.linger.stop(conn);
            net.dirty.mark(conn, key);
            conn.state = ConnState::Closed;
            conn.pending_cqes += 1;
            conn.wake_senders();
            (conn.fd, conn.recv_armed)
        };
        let mut driver = self.core.driver.borrow_mut();
        if recv_armed {
            driver.cancel(UserData::new(OpKind::Recv, key.generation, key.index));
        }
        let ud = UserData::new(OpKind::Close, key.generation, key.index);
        driver.push(OpKind::Close, ud, Plain::Close { fd });
    }

    /// Resets the closing connections whose peers did not take their queued
    /// bytes within `close_linger_timeout`.
    pub(crate) fn expire_lingering(self, now: Instant) {
        let mut expired = Vec::new();
        {
            let mut net = self.net.borrow_mut();
            if net.linger.next_deadline().is_none_or(|at| at > now) {
                return;
            }
            net.expired_lingering(now, &mut expired);
        }
        for key in expired {
            self.reset_lingering(key);
        }
    }

    /// Gives up on a closing connection's queued bytes: the close becomes a
    /// reset (`SO_LINGER` 0) and the send in flight is cancelled; its
    /// completion frees the send slots and closes the descriptor.
    fn reset_lingering(self, key: Key) {
        let in_flight = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.state != ConnState::Closing {
                return;
            }
            net.linger_resets_total += 1;
            net.dirty.mark(conn, key);
            crate::sys::set_linger_zero(conn.fd.raw);
            conn.send.error.get_or_insert(libc::ETIMEDOUT);
            conn.wake_senders();
            conn.send.in_flight > 0
        };
        if in_flight {
            let ud = UserData::new(OpKind::Send, key.generation, key.index);
            self.core.driver.borrow_mut().cancel(ud);
        } else {
            self.progress_close(key);
        }
    }

    /// Half-closes connection `key` once the bytes queued before it are out.
    pub(crate) fn shutdown_write(self, key: Key) {
        let now = {
            let mut net = self.net.borrow_mut();
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.state != ConnState::Open || conn.shut_wr_pending {
                return;
            }
            conn.shut_wr_pending = true;
            conn.send.chunks.is_empty() && conn.send.in_flight == 0
        };
        if now {
            self.submit_shutdown(key);
        }
    }

    pub(crate) fn submit_shutdown(self, key: Key) {
        let fd = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.shut_wr_sent || conn.state != ConnState::Open {
                return;
            }
            conn.shut_wr_sent = true;
            conn.pending_cqes += 1;
            net.dirty.mark(conn, key);
            conn.fd
        };
        let ud = UserData::new(OpKind::Shutdown, key.generation, key.index);
        let op = Plain::Shutdown {
            fd,
            how: libc::SHUT_WR,
        };
        self.core.driver.borrow_mut().push(OpKind::Shutdown, ud, op);
    }

    /// A close or shutdown completed.
    pub(crate) fn on_conn_op_cqe(self, ud: UserData, _cqe: Cqe) {
        let Some(key) = self.conn_key(ud) else {
            return;
        };
        {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            if let Some(conn) = net.conns.get_mut(key) {
                conn.pending_cqes -= 1;
                net.dirty.mark(conn, key);
            }
        }
        self.maybe_release(key);
    }

    /// Frees a closed connection's slot once the kernel owes it no CQE, and
    /// drops its task if that is still running.
    pub(crate) fn maybe_release(self, key: Key) {
        let conn = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            match net.conns.get(key) {
                Some(c) if c.state == ConnState::Closed && c.pending_cqes == 0 => {}
                _ => return,
            }
            let conn = net.remove_conn(key).expect("checked above");
            if let Some(held) = conn.held {
                let mut driver = self.core.driver.borrow_mut();
                super::recv::give_back(&mut driver, &mut net.held_bufs, held);
            }
            conn
        };
        self.core.stats.conn_closed(key.index);
        if let Some(task) = conn.task {
            self.core.exec.cancel_task(task);
        }
        drop(conn);
    }

    /// Records the `on_accept` task of an accepted connection.
    pub(crate) fn set_conn_task(self, key: Key, task: TaskRef) {
        let mut net = self.net.borrow_mut();
        let net = &mut *net;
        if let Some(conn) = net.conns.get_mut(key) {
            conn.task = Some(task);
            net.dirty.mark(conn, key);
        }
    }

    /// A connection's `on_accept` task ended: close the connection.
    pub(crate) fn conn_task_ended(self, key: Key) {
        {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            if let Some(conn) = net.conns.get_mut(key) {
                conn.task = None;
                net.dirty.mark(conn, key);
            }
        }
        self.close_conn(key);
    }

    /// Starts closing every connection (shutdown).
    pub(crate) fn close_all_conns(self) {
        let keys = self.net.borrow().conns.keys();
        for key in keys {
            self.close_conn(key);
        }
    }
}
