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
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::PeerAddr;
use super::accept::{close_fd, set_nodelay};
use super::conn::{Conn, ConnState, SockKind};
use super::ctx::ConnCtx;
use super::current;
use super::current::Net;
use crate::driver::ops::{Completed, OpOwner, OpSlot};
use crate::driver::sqe::{Link, Sqe, Timespec};
use crate::error::Error;
use crate::executor::context;
use crate::executor::foreign::{self, Foreign, ForeignWait};
use crate::executor::waker::WorkerHandle;
use crate::op::{OpKind, UserData};
use crate::slab::Key;
use crate::stats::op_registry::Target as OpTarget;
use crate::stats::task_registry::Wait;
use crate::sys::SockAddr;

/// What a connect keeps alive for the kernel (boxed: the SQE points at
/// the address and the timespec inside it).
pub(crate) struct ConnectHold {
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
#[track_caller]
pub fn connect(addr: SocketAddr) -> io::Result<ConnectFuture> {
    let site = Location::caller();
    current::try_with(|w| w.start_connect(Target::Tcp(addr), None, site))
        .unwrap_or_else(|| Err(current::outside_error()))
}

/// [`connect`] that gives up after `timeout_ms` milliseconds with an error
/// of kind `TimedOut` (a kernel-linked timeout, no timer slot used).
///
/// # Errors
///
/// As [`connect`], plus `TimedOut`.
#[track_caller]
pub fn connect_with_timeout(addr: SocketAddr, timeout_ms: u64) -> io::Result<ConnectFuture> {
    let site = Location::caller();
    current::try_with(|w| w.start_connect(Target::Tcp(addr), Some(timeout_ms), site))
        .unwrap_or_else(|| Err(current::outside_error()))
}

/// Connects to a Unix stream socket at `path`.
///
/// # Errors
///
/// As [`connect`]; an over-long path is `InvalidInput`.
#[track_caller]
pub fn connect_unix(path: impl AsRef<Path>) -> io::Result<ConnectFuture> {
    let site = Location::caller();
    let path = path.as_ref();
    current::try_with(|w| w.start_connect(Target::Unix(path), None, site))
        .unwrap_or_else(|| Err(current::outside_error()))
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
    /// The user's call that started the connect.
    site: &'static Location<'static>,
}

impl ConnectFuture {
    /// True on the worker that started the connect.
    fn on_owner(&self) -> bool {
        current::try_with(|w| Arc::ptr_eq(&w.core.handle, &self.owner)) == Some(true)
    }

    /// Hands the connect to its worker to cancel and clean up.
    fn abandon_from_afar(&mut self) {
        self.done = true;
        self.owner.request(Foreign::AbandonOp {
            owner: OpOwner::Net,
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
        let out = current::with("ConnectFuture::poll", |w| {
            let polled = w.net.borrow_mut().connects.poll(op, cx.waker());
            let (result, slot) = polled?;
            Some(w.finish_connect(slot, result))
        });
        match out {
            Some(result) => {
                self.done = true;
                Poll::Ready(result)
            }
            None => {
                context::parked(Wait::Op(OpKind::Connect), self.site);
                Poll::Pending
            }
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
            current::with("ConnectFuture::drop", |w| w.orphan_connect(op, None));
        } else {
            self.abandon_from_afar();
        }
    }
}

impl Net<'_> {
    fn start_connect(
        &self,
        target: Target<'_>,
        timeout_ms: Option<u64>,
        site: &'static Location<'static>,
    ) -> io::Result<ConnectFuture> {
        if self.core.is_shutting_down() {
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
                    let peer = self.core.stats.conn_opened(key.index, false, || {
                        Some(match target {
                            Target::Tcp(a) => PeerAddr::Tcp(a),
                            Target::Unix(p) => PeerAddr::Unix(p.to_path_buf()),
                        })
                    });
                    let opened_at = crate::stats::clock::ns_at(self.core.now());
                    if let Some(c) = net.conns.get_mut(key) {
                        c.peer = peer;
                        c.opened_at_ns = opened_at;
                    }
                    net.touch(key);
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
        let mut net = self.net.borrow_mut();
        let Some(op) = net.connects.insert(OpKind::Connect, hold, 0, cqes) else {
            drop(net);
            self.discard_conn(conn);
            return Err(io::Error::other(Error::ResourceLimit(
                "op slots exhausted (too many operations in flight)".into(),
            )));
        };
        let ud = net.connects.user_data(op);
        let link = net.connects.link_timeout_user_data(op);
        let hold = &net.connects.get_mut(op).expect("just inserted").hold;
        let ts_ptr: *const Timespec = &hold.timeout;
        let sqe = Sqe::Connect {
            fd,
            addr: hold.addr.as_ptr(),
            len: hold.addr.len(),
        };
        drop(net);
        let mut driver = self.core.driver.borrow_mut();
        let link = timeout.map(|_| Link {
            ud: link,
            ts: ts_ptr,
        });
        // SAFETY: the address and `ts_ptr` point into the boxed hold, whose
        // heap address the connects' table keeps until the op's last CQE:
        // the slot was inserted expecting one CQE per SQE (two with the
        // linked timeout), and is parked in the graveyard if the future is
        // dropped, leaked if the worker gives up on it.
        unsafe { driver.submit(OpKind::Connect, ud, sqe, OpTarget::None, link) };
        Ok(ConnectFuture {
            op,
            owner: self.core.handle.clone(),
            done: false,
            site,
        })
    }

    /// Turns a finished connect into a connection or an error.
    fn finish_connect(self, slot: OpSlot<Box<ConnectHold>>, result: i32) -> io::Result<ConnCtx> {
        let timed_out = slot.timed_out;
        let hold = slot.hold;
        let conn = hold.conn;
        let closing = self
            .net
            .borrow()
            .conns
            .get(conn)
            .is_none_or(|c| c.state != ConnState::Connecting);
        if result == 0 && !closing {
            let mut net = self.net.borrow_mut();
            if let Some(c) = net.conns.get_mut(conn) {
                c.state = ConnState::Open;
                // Connected: its ops from now on may name a file-table
                // slot (the connect itself used the descriptor).
                c.fd = self
                    .core
                    .driver
                    .borrow_mut()
                    .install_socket(conn.index, c.fd.raw);
            }
            net.touch(conn);
            drop(net);
            self.arm_recv(conn);
            return Ok(ConnCtx::new(&self, conn));
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
    fn discard_conn(self, conn: Key) {
        if let Some(c) = self.net.borrow_mut().remove_conn(conn) {
            self.core.stats.conn_closed(conn.index);
            // Never installed (only an open connection is), so closing the
            // descriptor closes the socket.
            close_fd(c.fd.raw);
        }
    }

    /// A connect's CQE, or (`link_timeout`) its linked timeout's.
    pub(crate) fn on_connect_cqe(self, ud: UserData, result: i32, link_timeout: bool) {
        let done = {
            let mut net = self.net.borrow_mut();
            if link_timeout {
                net.connects.complete_link_timeout(ud, result)
            } else {
                net.connects.complete(ud, result)
            }
        };
        if let Completed::Orphan(slot, result) = done {
            self.reap_connect_orphan(slot, result);
        }
    }

    /// The future waiting on connect `op` was dropped, or polled on another
    /// thread, which waits on `notify` (see `Reactor::orphan_op`).
    pub(crate) fn orphan_connect(self, op: Key, notify: Option<Arc<ForeignWait>>) {
        let finished = {
            let mut net = self.net.borrow_mut();
            self.core.orphan_op(&mut net.connects, op, notify)
        };
        if let Some((slot, result)) = finished {
            self.reap_connect_orphan(slot, result);
        }
    }

    /// A dropped `ConnectFuture`'s connect finished: a socket that did
    /// connect is closed gracefully; one that did not is just released.
    fn reap_connect_orphan(self, mut slot: OpSlot<Box<ConnectHold>>, result: i32) {
        let notify = self.core.reaped(&mut slot);
        if let Ok(conn) = self.finish_connect(slot, result) {
            self.close_conn(conn.key());
        }
        if let Some(n) = notify {
            n.finish();
        }
    }
}
