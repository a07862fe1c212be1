//! Accepting: every worker keeps a multishot accept armed on every shared
//! listener; the kernel wakes one waiter per connection (accept waits are
//! exclusive), which spreads connections over idle workers without an
//! acceptor thread or a cross-thread handoff.

use std::os::fd::RawFd;

use super::conn::{Conn, SockKind};
use super::ctx::{ConnCtx, query_peer};
use super::current::Net;
use crate::driver::Cqe;
use crate::op::UserData;

impl Net<'_> {
    pub(crate) fn on_accept_cqe(self, ud: UserData, cqe: Cqe) {
        let index = ud.index() as usize;
        if cqe.result >= 0 {
            self.adopt_accepted(cqe.result, index);
        }
        if !cqe.more() {
            self.core
                .driver
                .borrow_mut()
                .accept_ended(index, cqe.result, self.core.now());
        }
    }

    fn adopt_accepted(self, fd: RawFd, listener: usize) {
        let kind = self.net.borrow().listener_kind(listener);
        if self.core.is_shutting_down() {
            close_fd(fd);
            return;
        }
        let key = {
            let mut net = self.net.borrow_mut();
            if kind == SockKind::Tcp && net.tcp_nodelay {
                set_nodelay(fd);
            }
            let acc = net.acc_capacity;
            match net.conns.insert(Conn::new(fd, kind, false, acc)) {
                Ok(key) => {
                    let fd = self.core.driver.borrow_mut().install_socket(key.index, fd);
                    // The op registry names stuck ops by peer; the lookup
                    // (only with stats on) also fills `peer_addr`'s cache.
                    let peer = self
                        .core
                        .stats
                        .conn_opened(key.index, true, || query_peer(fd.raw, kind));
                    let opened_at = crate::stats::clock::ns_at(self.core.now());
                    if let Some(c) = net.conns.get_mut(key) {
                        c.peer = peer;
                        c.opened_at_ns = opened_at;
                        c.fd = fd;
                    }
                    net.touch(key);
                    key
                }
                Err(_) => {
                    // Over max_connections: refuse by closing (the slab
                    // counted the exhaustion).
                    close_fd(fd);
                    return;
                }
            }
        };
        self.arm_recv(key);
        self.accepted.borrow_mut().push(ConnCtx::new(&self, key));
    }
}

pub(crate) fn set_nodelay(fd: RawFd) {
    // A failure (not a TCP socket) leaves Nagle on, which is harmless.
    let _ = crate::sys::set_nodelay(fd);
}

/// Closes a descriptor we own and nothing else refers to; an error leaves
/// it closed all the same, so there is nothing to do about one.
pub(crate) fn close_fd(fd: RawFd) {
    let _ = crate::sys::close(fd);
}
