//! Connections: the table every worker keeps, what `ConnCtx` offers, and
//! the accept / receive / send / connect / close paths.
//!
//! A connection slot lives from accept (or connect) until every operation
//! the kernel holds for it has completed: closing first drains queued
//! sends, then cancels the armed receive and closes the descriptor, and
//! the slot is freed only after the last CQE. A `ConnCtx` is an index plus
//! the slot's generation and its worker's serial, so one that outlives its
//! connection, or is used on another worker, is inert.
//!
//! What a connection may hold is bounded (`pressure.rs`): unconsumed
//! received bytes (`Config::recv_buffer_limit`), send-pool slots
//! (`Config::send_copy_per_connection`), and the time a close may spend
//! sending to a peer that does not read (`Config::close_linger_timeout`).

mod accept;
mod close;
mod conn;
mod connect;
mod ctx;
mod current;
mod pressure;
mod recv;
mod send;
mod send_pool;
mod socket_file;
mod token;
mod udp;
mod udp_reach;
mod waiters;

pub(crate) use conn::{NetState, SockKind};
pub use connect::{ConnectFuture, connect, connect_unix, connect_with_timeout};
// Defined below the stats layer, which records peers for the op registry.
pub use crate::peer::PeerAddr;
pub use ctx::{ConnCtx, RecvReadyFuture, SendFuture, WithBytesFuture, WithDataFuture};
pub(crate) use current::{Net, enter, try_with};
pub(crate) use socket_file::{SocketFile, listen_unix};
pub use token::{ConnToken, UdpToken};
pub(crate) use udp::UdpSocketState;
pub use udp::{UdpCtx, UdpRecvFuture};

/// What a parse closure of [`ConnCtx::with_data`] or
/// [`ConnCtx::with_bytes`] did with the bytes it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseResult {
    /// `n` bytes were used and are dropped from the receive buffer.
    /// `Consumed(0)` with data present means the same as `NeedMore`.
    Consumed(usize),
    /// Not enough bytes for a complete message; call again when more arrive.
    NeedMore,
}
