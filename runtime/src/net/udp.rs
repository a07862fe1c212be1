//! UDP sockets: each worker binds its own socket per `bind_udp` address
//! (`SO_REUSEPORT`, so the kernel spreads datagrams over workers), keeps a
//! multishot `recvmsg` armed on it over a dedicated provided-buffer ring,
//! and sends with `sendmsg` from a fixed pool of send slots.
//!
//! Datagrams are copied out of the kernel buffer into a bounded per-socket
//! queue; a datagram larger than a receive buffer is truncated by the
//! kernel, so it is dropped (and counted) rather than delivered cut short.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::current;
use super::current::Net;
use super::udp_reach::Reach;
use super::waiters::{Ticket, Waiters};
use crate::driver::Cqe;
use crate::driver::sqe::Sqe;
use crate::error::UdpSendError;
use crate::executor::foreign;
use crate::op::{OpKind, UserData};
use crate::stats::op_registry::Target;
use crate::stats::task_registry::Wait;
use crate::sys::{SockAddr, Zeroed, cfg_not_uring, cfg_uring};

/// Datagrams a socket queues for its task before the oldest are dropped.
const RECV_QUEUE_LIMIT: usize = 4096;

/// Largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP header bytes).
const MAX_DATAGRAM: usize = 65_507;

/// A UDP socket of a worker, handed to `on_udp_bind`.
///
/// It is `Send`, but it belongs to its worker: on another worker `send_to`
/// fails with `InvalidInput` and `recv_from` never resolves (and says so
/// once on stderr) — neither touches that worker's socket of the same
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpCtx {
    index: u32,
    /// The serial of the worker that owns the socket.
    worker: u32,
}

/// One in-flight `sendmsg`: everything it points to, boxed so it never moves.
struct SendSlot {
    addr: SockAddr,
    iov: libc::iovec,
    msg: libc::msghdr,
    data: Vec<u8>,
}

/// A worker's UDP socket.
pub(crate) struct UdpSocketState {
    fd: OwnedFd,
    /// The peers `send_to` may name.
    reach: Reach,
    /// The `recvmsg` template the armed receive reads; boxed, never moves.
    msghdr: Box<libc::msghdr>,
    armed: bool,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    /// `recv_from` futures waiting for a datagram, from any number of tasks.
    waiters: Waiters,
    slots: Vec<Option<Box<SendSlot>>>,
    free_slots: Vec<u16>,
    pub(crate) dropped_total: u64,
    send_high_water: usize,
    send_exhausted: u64,
}

impl UdpSocketState {
    /// Occupancy of this socket's send slots.
    pub(crate) fn send_usage(&self) -> crate::stats::kinds::SlabUsage {
        crate::stats::kinds::SlabUsage {
            used: (self.slots.len() - self.free_slots.len()) as u64,
            capacity: self.slots.len() as u64,
            high_water: self.send_high_water as u64,
            exhausted_total: self.send_exhausted,
        }
    }

    pub(crate) fn new(fd: OwnedFd, send_slots: u16) -> UdpSocketState {
        let mut msghdr = Box::new(libc::msghdr::zeroed());
        msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        UdpSocketState {
            reach: Reach::of(&fd),
            fd,
            msghdr,
            armed: false,
            queue: VecDeque::new(),
            waiters: Waiters::default(),
            slots: (0..send_slots).map(|_| None).collect(),
            free_slots: (0..send_slots).rev().collect(),
            dropped_total: 0,
            send_high_water: 0,
            send_exhausted: 0,
        }
    }
}

impl UdpCtx {
    /// Socket `index` of worker `w`.
    pub(crate) fn new(w: &Net<'_>, index: usize) -> UdpCtx {
        UdpCtx {
            index: index as u32,
            worker: w.core.serial,
        }
    }

    /// The socket's index on worker `w`, `None` when it belongs to another.
    #[inline]
    fn index_on(self, w: &Net<'_>) -> Option<usize> {
        (w.core.serial == self.worker).then_some(self.index as usize)
    }

    /// The socket's index within its worker.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Receives the next datagram and its sender.
    ///
    /// Any number of tasks may receive on one socket at once: each datagram
    /// goes to one of them, and all are woken when datagrams arrive, the
    /// one waiting longest first, so tasks taking turns each get theirs.
    #[track_caller]
    pub fn recv_from(&self) -> UdpRecvFuture {
        UdpRecvFuture {
            udp: *self,
            waiting: None,
            site: Location::caller(),
        }
    }

    /// Queues a datagram to `peer` (a copy of `data`) and returns at once.
    ///
    /// A dual-stack IPv6 socket sends to an IPv4 `peer` through its
    /// IPv4-mapped address. A send the kernel fails after this returned
    /// `Ok` (e.g. `EACCES` for a broadcast address) loses the datagram, as
    /// UDP may: it is counted in the worker's
    /// `NetStats::datagram_send_errors_total`
    /// (`ringline_datagram_send_errors_total`).
    ///
    /// # Errors
    ///
    /// [`UdpSendError::PoolExhausted`] when `Config::udp_send_slots` sends
    /// are already in flight on this socket; `Io` with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput), before anything is
    /// submitted, for a datagram over 65 507 bytes, port 0, or an address
    /// family the socket cannot reach (an IPv6 peer from an IPv4 socket,
    /// an IPv4 one from an `IPV6_V6ONLY` socket; `std` reports these as
    /// `EAFNOSUPPORT`); `Io` for a call off this socket's worker.
    pub fn send_to(&self, peer: SocketAddr, data: &[u8]) -> Result<(), UdpSendError> {
        current::try_with(|w| match self.index_on(w) {
            Some(index) => w.udp_send(index, peer, data),
            None => Err(UdpSendError::Io(foreign::wrong_worker("this UdpCtx"))),
        })
        .unwrap_or_else(|| Err(UdpSendError::Io(current::outside_error())))
    }
}

/// Future of [`UdpCtx::recv_from`]: a datagram and its sender.
#[must_use = "futures do nothing unless awaited"]
pub struct UdpRecvFuture {
    udp: UdpCtx,
    waiting: Option<Ticket>,
    site: &'static Location<'static>,
}

impl Future for UdpRecvFuture {
    type Output = (Vec<u8>, SocketAddr);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let udp = this.udp;
        current::with("UdpCtx::recv_from", |w| {
            let Some(index) = udp.index_on(w) else {
                // No error to resolve with (the output is a datagram), and
                // the datagrams are the other worker's: say so, once.
                static SAID: AtomicBool = AtomicBool::new(false);
                if !SAID.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "ringline: UdpCtx::recv_from polled on worker {} for a socket of another \
                         worker; it never resolves there (receive on the socket's own worker)",
                        w.core.id
                    );
                }
                return Poll::Pending;
            };
            let mut net = w.net.borrow_mut();
            let Some(socket) = net.udp.get_mut(index) else {
                return Poll::Pending;
            };
            match socket.queue.pop_front() {
                Some(datagram) => Poll::Ready(datagram),
                None => {
                    socket
                        .waiters
                        .wait(&mut this.waiting, w.core.handle.gid, cx.waker());
                    w.core.stats.parked(Wait::UdpRecv(index as u32), this.site);
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for UdpRecvFuture {
    fn drop(&mut self) {
        let Some(ticket) = self.waiting.take() else {
            return;
        };
        let udp = self.udp;
        current::try_with(|w| {
            let Some(index) = udp.index_on(w) else {
                return;
            };
            // Futures are never dropped with the net state borrowed (see
            // the worker docs); were one, its entry would only cost a
            // spurious wake per datagram.
            let Ok(mut net) = w.net.try_borrow_mut() else {
                debug_assert!(
                    false,
                    "a recv_from future dropped with the net state borrowed"
                );
                return;
            };
            if let Some(socket) = net.udp.get_mut(index) {
                socket.waiters.leave(ticket, w.core.handle.gid);
            }
        });
    }
}

impl Net<'_> {
    /// Arms the multishot `recvmsg` of UDP socket `index` (idempotent).
    pub(crate) fn arm_udp_recv(self, index: usize) {
        let (fd, msghdr) = {
            let mut net = self.net.borrow_mut();
            let Some(socket) = net.udp.get_mut(index) else {
                return;
            };
            if socket.armed || self.core.is_shutting_down() {
                return;
            }
            socket.armed = true;
            let msghdr: *const libc::msghdr = &*socket.msghdr;
            (socket.fd.as_raw_fd(), msghdr)
        };
        let mut driver = self.core.driver.borrow_mut();
        let ud = UserData::new(OpKind::UdpRecv, 0, index as u32);
        // SAFETY: the msghdr template is boxed in the socket state, which
        // lives (with the socket) until the worker is dropped after its ops
        // drained, or is leaked with the driver; datagrams land in provided
        // buffers that live as long.
        unsafe {
            let sqe = Sqe::RecvMsgMulti { fd, msghdr };
            driver.submit(OpKind::UdpRecv, ud, sqe, Target::None, None)
        };
    }

    pub(crate) fn on_udp_recv_cqe(self, ud: UserData, cqe: Cqe) {
        let index = ud.index() as usize;
        let more = cqe.more();
        let bid = cqe.buffer();
        let rearm = {
            let mut net = self.net.borrow_mut();
            let Some(socket) = net.udp.get_mut(index) else {
                return;
            };
            if cqe.result > 0
                && let Some(bid) = bid
            {
                let driver = self.core.driver.borrow();
                // SAFETY: `bid` comes from this CQE and is recycled only
                // below, after the copy; the kernel wrote `result` bytes.
                let data = unsafe { driver.udp_data(bid, cqe.result as usize) };
                let datagram = with_datagram(data, &socket.msghdr, |name, payload| {
                    peer_of(name).map(|peer| (payload.to_vec(), peer))
                });
                if let Some(Some(datagram)) = datagram {
                    if socket.queue.len() >= RECV_QUEUE_LIMIT {
                        socket.queue.pop_front();
                        socket.dropped_total += 1;
                    }
                    socket.queue.push_back(datagram);
                    self.core.stats.datagram_received();
                    socket.waiters.wake_all();
                } else {
                    socket.dropped_total += 1;
                }
            }
            if !more {
                socket.armed = false;
            }
            if cqe.result == -libc::ENOBUFS {
                self.core.driver.borrow_mut().note_udp_exhausted();
            }
            !more && cqe.result != -libc::ECANCELED
        };
        if let Some(bid) = bid {
            self.core.driver.borrow_mut().recycle_udp(bid);
        }
        if rearm {
            self.net.borrow_mut().udp_rearm.push(index);
        }
    }

    /// Re-arms UDP receives that ended during the batch.
    pub(crate) fn rearm_udp(self) {
        let indices = std::mem::take(&mut self.net.borrow_mut().udp_rearm);
        for index in indices {
            self.arm_udp_recv(index);
        }
    }

    fn udp_send(self, index: usize, peer: SocketAddr, data: &[u8]) -> Result<(), UdpSendError> {
        if data.len() > MAX_DATAGRAM {
            return Err(UdpSendError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("datagram of {} bytes exceeds {MAX_DATAGRAM}", data.len()),
            )));
        }
        let (fd, slot, msg) = {
            let mut net = self.net.borrow_mut();
            let Some(socket) = net.udp.get_mut(index) else {
                return Err(UdpSendError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no such UDP socket on this worker",
                )));
            };
            let peer = socket.reach.destination(peer).map_err(UdpSendError::Io)?;
            let Some(slot) = socket.free_slots.pop() else {
                socket.send_exhausted += 1;
                return Err(UdpSendError::PoolExhausted);
            };
            let mut entry = Box::new(SendSlot {
                addr: SockAddr::from_inet(&peer),
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                msg: libc::msghdr::zeroed(),
                data: data.to_vec(),
            });
            entry.iov.iov_base = entry.data.as_mut_ptr().cast();
            entry.iov.iov_len = entry.data.len();
            entry.msg.msg_name = entry.addr.as_mut_ptr().cast();
            entry.msg.msg_namelen = entry.addr.len();
            entry.msg.msg_iov = &mut entry.iov;
            entry.msg.msg_iovlen = 1;
            let msg: *const libc::msghdr = &entry.msg;
            socket.slots[slot as usize] = Some(entry);
            let in_use = socket.slots.len() - socket.free_slots.len();
            socket.send_high_water = socket.send_high_water.max(in_use);
            (socket.fd.as_raw_fd(), slot, msg)
        };
        let ud = UserData::new(OpKind::UdpSend, slot as u32, index as u32);
        let sqe = Sqe::SendMsg { fd, msghdr: msg };
        // SAFETY: the msghdr, iovec, address and payload all live in the
        // boxed slot, which is freed only by this send's CQE (or leaked
        // with the driver).
        unsafe {
            self.core
                .driver
                .borrow_mut()
                .submit(OpKind::UdpSend, ud, sqe, Target::None, None)
        };
        Ok(())
    }

    pub(crate) fn on_udp_send_cqe(self, ud: UserData, result: i32) {
        if result >= 0 {
            self.core.stats.datagram_sent();
        } else if result != -libc::ECANCELED {
            // The caller heard `Ok` long ago; the stats are where it shows.
            self.core.stats.datagram_send_failed();
        }
        let index = ud.index() as usize;
        let slot = ud.generation() as usize;
        let mut net = self.net.borrow_mut();
        if let Some(socket) = net.udp.get_mut(index)
            && let Some(entry) = socket.slots.get_mut(slot)
            && entry.take().is_some()
        {
            socket.free_slots.push(slot as u16);
        }
    }

    /// Cancels every armed UDP receive (shutdown).
    pub(crate) fn cancel_udp(self) {
        let armed: Vec<usize> = {
            let net = self.net.borrow();
            (0..net.udp.len()).filter(|i| net.udp[*i].armed).collect()
        };
        let mut driver = self.core.driver.borrow_mut();
        for index in armed {
            driver.cancel(UserData::new(OpKind::UdpRecv, 0, index as u32));
        }
    }
}

/// The sender's address from a `recvmsg` name buffer.
fn peer_of(name: &[u8]) -> Option<SocketAddr> {
    SockAddr::from_bytes(name).as_inet()
}

cfg_uring! {
    /// Runs `f` on the sender's address bytes and the payload of the
    /// datagram a multishot `recvmsg` under the `msghdr` template left in
    /// `data`; `None` when either was truncated or the buffer is malformed.
    fn with_datagram<R>(
        data: &[u8],
        msghdr: &libc::msghdr,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Option<R> {
        match io_uring::types::RecvMsgOut::parse(data, msghdr) {
            Ok(out) if !out.is_payload_truncated() && !out.is_name_data_truncated() => {
                Some(f(out.name_data(), out.payload_data()))
            }
            _ => None,
        }
    }
}

cfg_not_uring! {
    /// Runs `f` on the sender's address bytes and the payload of the
    /// datagram the mio backend's `recvmsg` under the `msghdr` template
    /// left in `data`; `None` when either was truncated or the buffer is
    /// malformed.
    fn with_datagram<R>(
        data: &[u8],
        msghdr: &libc::msghdr,
        f: impl FnOnce(&[u8], &[u8]) -> R,
    ) -> Option<R> {
        parse_recvmsg_out(data, msghdr).map(|(name, payload)| f(name, payload))
    }
}

/// Size of the `io_uring_recvmsg_out` header: four `u32`s (name length,
/// control length, payload length, `msg_flags`).
#[cfg(any(test, not(target_os = "linux")))]
const RECVMSG_OUT_HEADER: usize = 16;

/// io_uring's multishot `recvmsg` buffer layout, parsed without the
/// io_uring crate (which exists only on Linux): the header, a name field of
/// `msg_namelen` bytes, a control field of `msg_controllen` bytes, then the
/// payload. The mio backend writes this layout on every platform; on Linux
/// a test checks this parser against io_uring's.
#[cfg(any(test, not(target_os = "linux")))]
fn parse_recvmsg_out<'a>(data: &'a [u8], msghdr: &libc::msghdr) -> Option<(&'a [u8], &'a [u8])> {
    // `msg_controllen` is a `usize` on Linux and a `socklen_t` on macOS.
    #[allow(clippy::unnecessary_cast, reason = "not the same type on macOS")]
    let control_field = msghdr.msg_controllen as usize;
    let name_field = msghdr.msg_namelen as usize;
    let payload_at = RECVMSG_OUT_HEADER
        .checked_add(name_field)?
        .checked_add(control_field)?;
    if data.len() < payload_at {
        return None;
    }
    let word = |i: usize| {
        let bytes: [u8; 4] = data[i * 4..i * 4 + 4].try_into().expect("4 bytes");
        u32::from_ne_bytes(bytes) as usize
    };
    let (name_len, payload_len, flags) = (word(0), word(2), word(3));
    if name_len > name_field || flags & libc::MSG_TRUNC as usize != 0 {
        return None;
    }
    let name = &data[RECVMSG_OUT_HEADER..RECVMSG_OUT_HEADER + name_len];
    let payload_end = payload_at + payload_len.min(data.len() - payload_at);
    Some((name, &data[payload_at..payload_end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer as `recvmsg` leaves it: header, name field, control
    /// field, payload.
    fn buffer(
        header: [u32; 4],
        name_field: usize,
        control_field: usize,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut buf: Vec<u8> = header.iter().flat_map(|w| w.to_ne_bytes()).collect();
        buf.extend((0..name_field).map(|i| i as u8 + 1));
        buf.extend(std::iter::repeat_n(0xcc, control_field));
        buf.extend_from_slice(payload);
        buf
    }

    fn template(name_field: usize, control_field: usize) -> libc::msghdr {
        let mut msghdr = libc::msghdr::zeroed();
        msghdr.msg_namelen = name_field as libc::socklen_t;
        msghdr.msg_controllen = control_field as _;
        msghdr
    }

    #[test]
    fn recvmsg_out_yields_name_and_payload_and_drops_truncation() {
        let trunc = libc::MSG_TRUNC as u32;
        let m = template(28, 0);
        let ok = buffer([16, 0, 5, 0], 28, 0, b"hello");
        let (name, payload) = parse_recvmsg_out(&ok, &m).expect("a whole datagram");
        assert_eq!(name, &ok[16..32]);
        assert_eq!(payload, b"hello");
        let cut = buffer([16, 0, 9, trunc], 28, 0, b"hello");
        assert_eq!(parse_recvmsg_out(&cut, &m), None, "payload truncated");
        let long_name = buffer([40, 0, 5, 0], 28, 0, b"hello");
        assert_eq!(parse_recvmsg_out(&long_name, &m), None, "name truncated");
        assert_eq!(
            parse_recvmsg_out(&ok[..40], &m),
            None,
            "shorter than the fields"
        );
        let with_control = buffer([16, 4, 2, 0], 28, 8, b"hi");
        let (_, payload) = parse_recvmsg_out(&with_control, &template(28, 8)).unwrap();
        assert_eq!(payload, b"hi", "the payload starts after the control field");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn portable_recvmsg_parser_agrees_with_io_urings() {
        let trunc = libc::MSG_TRUNC as u32;
        let cases = [
            (buffer([16, 0, 5, 0], 28, 0, b"hello"), template(28, 0)),
            (buffer([28, 0, 0, 0], 28, 0, b""), template(28, 0)),
            (buffer([16, 0, 9, trunc], 28, 0, b"hello"), template(28, 0)),
            (buffer([40, 0, 5, 0], 28, 0, b"hello"), template(28, 0)),
            (buffer([16, 4, 2, 0], 28, 8, b"hi"), template(28, 8)),
            (buffer([16, 0, 99, 0], 28, 0, b"short"), template(28, 0)),
            (buffer([16, 0, 0, 0], 8, 0, b""), template(28, 0)),
        ];
        for (data, m) in &cases {
            let portable = parse_recvmsg_out(data, m).map(|(n, p)| (n.to_vec(), p.to_vec()));
            let io_uring = with_datagram(data, m, |n, p| (n.to_vec(), p.to_vec()));
            assert_eq!(portable, io_uring, "{data:?}");
        }
    }
}
