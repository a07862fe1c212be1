//! UDP sockets (`bind_udp`, `on_udp_bind`): the public types. Launching
//! with a UDP bind is refused until the io_uring datagram path lands, so no
//! `UdpCtx` exists yet at run time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::UdpSendError;

/// A UDP socket of a worker, handed to `on_udp_bind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpCtx {
    index: u32,
}

impl UdpCtx {
    /// The socket's index within its worker.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Receives the next datagram and its sender.
    pub fn recv_from(&self) -> UdpRecvFuture {
        UdpRecvFuture { _udp: *self }
    }

    /// Queues a datagram to `peer`.
    ///
    /// # Errors
    ///
    /// Always, in this build (see the module docs).
    pub fn send_to(&self, _peer: SocketAddr, _data: &[u8]) -> Result<(), UdpSendError> {
        Err(UdpSendError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "UDP is not available in this build",
        )))
    }
}

/// Future of [`UdpCtx::recv_from`]: a datagram and its sender.
#[must_use = "futures do nothing unless awaited"]
pub struct UdpRecvFuture {
    _udp: UdpCtx,
}

impl Future for UdpRecvFuture {
    type Output = (Vec<u8>, SocketAddr);

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}
