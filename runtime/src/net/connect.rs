//! Outbound connections: a connect SQE (linked to a timeout when one is
//! asked for) whose future yields the new connection.
//!
//! The socket address and the timeout's timespec live in the op slot until
//! both CQEs are in. A dropped `ConnectFuture` parks them there (the
//! graveyard) and cancels the connect; the socket is closed once the
//! kernel reports back.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::PeerAddr;
use super::accept::{close_fd, set_nodelay};
use super::conn::{Conn, ConnState, SockKind};
use super::ctx::ConnCtx;
use crate::driver::ops::{Hold, OpSlot};
use crate::driver::sqe::{Sqe, Timespec};
use crate::error::Error;
use crate::executor::context;
use crate::executor::foreign::{self, Foreign};
use crate::executor::waker::WorkerHandle;
use crate::op::{OpKind, UserData};
use crate::slab::Key;
use crate::sys::SockAddr;
use crate::worker::Worker;

/// What a connect keeps alive for the kernel.
struct ConnectHold {
    addr: SockAddr,
    timeout: Timespec,
    conn: Key,
    timeout_ms: Option<u64>,
}

enum Target<'a> {
    Tcp(SocketAddr),
    Unix(&'a Path),
}

/// Connects to a TCP peer. The future yields the new connection, which
/// receives and sends like an accepted one and stays open until closed.
///
/// # Errors
///
/// The call fails off a worker thread, when `Config::max_connections`
/// connections are open, or when a socket cannot be created. The future
/// fails with the connect's error (`ConnectionRefused`, …).
pub fn connect(addr: SocketAddr) -> io::Result<ConnectFuture> {
    context::try_with(|w| w.start_connect(Target::Tcp(addr), None))
        .unwrap_or_else(|| Err(context::outside_error()))
}

/// [`connect`] that gives up after `timeout_ms` milliseconds with an error
/// of kind `TimedOut` (a kernel-linked timeout, no timer slot used).
///
/// # Errors
///
/// As [`connect`], plus `TimedOut`.
pub fn connect_with_timeout(addr: SocketAddr, timeout_ms: u64) -> io::Result<ConnectFuture> {
    context::try_with(|w| w.start_connect(Target::Tcp(addr), Some(timeout_ms)))
        .unwrap_or_else(|| Err(context::outside_error()))
}

/// Connects to a Unix stream socket at `path`.
///
/// # Errors
///
/// As [`connect`]; an over-long path is `InvalidInput`.
pub fn connect_unix(path: impl AsRef<Path>) -> io::Result<ConnectFuture> {
    let path = path.as_ref();
    context::try_with(|w| w.start_connect(Target::Unix(path), None))
        .unwrap_or_else(|| Err(context::outside_error()))
}

/// Future of [`connect`], [`connect_with_timeout`] and [`connect_unix`].
///
/// It belongs to the worker that started the connect: polled on another
/// thread it resolves with `InvalidInput` and has its worker cancel the
/// connect and close the socket (as when it is dropped anywhere).
#[must_use = "futures do nothing unless awaited"]
pub struct ConnectFuture {
    op: Key,
    owner: Arc<WorkerHandle>,
    done: bool,
}

impl ConnectFuture {
    /// True on the worker that started the connect.
    fn on_owner(&self) -> bool {
        context::try_with(|w| Arc::ptr_eq(&w.handle, &self.owner)) == Some(true)
    }

    /// Hands the connect to its worker to cancel and clean up.
    fn abandon_from_afar(&mut self) {
        self.done = true;
        self.owner.request(Foreign::AbandonOp {
            op: self.op,
            notify: None,
        });
    }
}

impl Future for ConnectFuture {
    type Output = io::Result<ConnCtx>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<ConnCtx>> {
        if self.done {
            return Poll::Ready(Err(io::Error::other(
                "ConnectFuture polled after completion",
            )));
        }
        if !self.on_owner() {
            // The connect's memory is the runtime's (its hold), so this may
            // resolve at once; the owner frees it when the kernel is done.
            self.abandon_from_afar();
            return Poll::Ready(Err(foreign::wrong_worker("this ConnectFuture")));
        }
        let op = self.op;
        let out = context::with("ConnectFuture::poll", |w| {
            let (result, slot) = w.with_ops(|ops| ops.poll(op, cx.waker()))?;
            Some(w.finish_connect(slot, result))
        });
        match out {
            Some(result) => {
                self.done = true;
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for ConnectFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.on_owner() {
            let op = self.op;
            context::with("ConnectFuture::drop", |w| w.orphan_op(op));
        } else {
            self.abandon_from_afar();
        }
    }
}

impl Worker {
    fn start_connect(
        &self,
        target: Target<'_>,
        timeout_ms: Option<u64>,
    ) -> io::Result<ConnectFuture> {
        if self.is_shutting_down() {
            return Err(io::Error::other("the ringline runtime is shutting down"));
        }
        let (addr, kind) = match target {
            Target::Tcp(a) => (SockAddr::from_inet(&a), SockKind::Tcp),
            Target::Unix(path) => (SockAddr::from_unix_path(path)?, SockKind::Unix),
        };
        let domain = addr.family();
        // The connection owns the raw fd from here (and closes it).
        let fd = crate::sys::socket(domain, libc::SOCK_STREAM, 0)?.into_raw_fd();
        let conn = {
            let mut net = self.net.borrow_mut();
            if kind == SockKind::Tcp && net.tcp_nodelay {
                set_nodelay(fd);
            }
            let acc = net.acc_capacity;
            match net.conns.insert(Conn::new(fd, kind, true, acc)) {
                Ok(key) => {
                    let peer = self.stats.conn_opened(key.index, false, || {
                        Some(match target {
                            Target::Tcp(a) => PeerAddr::Tcp(a),
                            Target::Unix(p) => PeerAddr::Unix(p.to_path_buf()),
                        })
                    });
                    if let Some(c) = net.conns.get_mut(key) {
                        c.peer = peer;
                    }
                    key
                }
                Err(_) => {
                    close_fd(fd);
                    return Err(io::Error::other(Error::ConnectionLimitReached));
                }
            }
        };
        let timeout = timeout_ms.map(Duration::from_millis);
        let hold = Box::new(ConnectHold {
            addr,
            timeout: Timespec::from(timeout.unwrap_or_default()),
            conn,
            timeout_ms,
        });
        let cqes = if timeout.is_some() { 2 } else { 1 };
        let mut driver = self.driver.borrow_mut();
        let Some(op) = driver
            .ops
            .insert(OpKind::Connect, Hold::Boxed(hold), 0, cqes)
        else {
            drop(driver);
            self.discard_conn(conn);
            return Err(io::Error::other(Error::ResourceLimit(
                "op slots exhausted (too many operations in flight)".into(),
            )));
        };
        let ud = driver.ops.user_data(op);
        let slot = driver.ops.get_mut(op).expect("just inserted");
        let Hold::Boxed(any) = &slot.hold else {
            unreachable!("inserted as Boxed")
        };
        let hold = any
            .downcast_ref::<ConnectHold>()
            .expect("inserted a ConnectHold");
        let ts_ptr: *const Timespec = &hold.timeout;
        let sqe = Sqe::Connect {
            fd,
            addr: hold.addr.as_ptr(),
            len: hold.addr.len(),
        };
        match timeout {
            None => {
                // SAFETY: the address lives in the boxed hold, owned by the
                // op slot until the connect's CQE (parked if the future is
                // dropped; leaked if the driver is).
                unsafe { driver.push(OpKind::Connect, ud, sqe) };
            }
            Some(_) => {
                let link = UserData::new(OpKind::LinkTimeout, op.generation, op.index);
                // SAFETY: the address and the timespec both live in the
                // boxed hold, owned by the op slot until the op's last
                // (timeout) CQE: parked if the future is dropped, leaked if
                // the driver is.
                unsafe { driver.push_linked(OpKind::Connect, ud, sqe, link, ts_ptr) };
            }
        }
        Ok(ConnectFuture {
            op,
            owner: self.handle.clone(),
            done: false,
        })
    }

    /// Turns a finished connect into a connection or an error.
    fn finish_connect(&self, slot: OpSlot, result: i32) -> io::Result<ConnCtx> {
        let timed_out = slot.timed_out;
        let Hold::Boxed(any) = slot.hold else {
            unreachable!("connect ops hold a ConnectHold")
        };
        let hold = any
            .downcast::<ConnectHold>()
            .expect("connect ops hold a ConnectHold");
        let conn = hold.conn;
        let closing = self
            .net
            .borrow()
            .conns
            .get(conn)
            .is_none_or(|c| c.state != ConnState::Connecting);
        if result == 0 && !closing {
            if let Some(c) = self.net.borrow_mut().conns.get_mut(conn) {
                c.state = ConnState::Open;
            }
            self.arm_recv(conn);
            return Ok(ConnCtx::new(self, conn));
        }
        self.discard_conn(conn);
        Err(if result == 0 {
            io::Error::other("the ringline runtime is shutting down")
        } else if timed_out && result == -libc::ECANCELED {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connect timed out after {} ms",
                    hold.timeout_ms.unwrap_or(0)
                ),
            )
        } else {
            io::Error::from_raw_os_error(-result)
        })
    }

    /// Closes and frees a connection slot on which nothing is armed.
    fn discard_conn(&self, conn: Key) {
        if let Some(c) = self.net.borrow_mut().remove_conn(conn) {
            self.stats.conn_closed();
            close_fd(c.fd);
        }
    }

    /// A dropped `ConnectFuture`'s connect finished: a socket that did
    /// connect is closed gracefully; one that did not is just released.
    pub(crate) fn reap_connect_orphan(&self, slot: OpSlot, result: i32) {
        if let Ok(conn) = self.finish_connect(slot, result) {
            self.close_conn(conn.key());
        }
    }
}
