//! The handler trait a service implements, and the context its `on_tick`
//! hook receives.

use std::future::Future;
use std::io;
use std::pin::Pin;

use crate::net::{ConnCtx, Net, PeerAddr, UdpCtx};
pub use crate::net::{ConnToken, UdpToken};

/// What a ringline service implements: one value per worker
/// ([`create_for_worker`](Self::create_for_worker)), one task per accepted
/// connection ([`on_accept`](Self::on_accept)).
///
/// The futures are `'static` and need not be `Send`: they run on the
/// worker that accepted the connection and never move.
pub trait AsyncEventHandler: Send + 'static {
    /// The task of a newly accepted connection. The connection is closed
    /// when the future completes; if the connection is closed first (see
    /// [`ConnCtx::close`]), the future is dropped once the close completes.
    fn on_accept(&self, conn: ConnCtx) -> impl Future<Output = ()> + 'static;

    /// Called on every turn of the worker's event loop (at least every
    /// `Config::tick_timeout_us`). The default does nothing.
    fn on_tick(&mut self, _ctx: &mut DriverCtx<'_>) {}

    /// The task of a UDP socket bound by this worker (see
    /// `RinglineBuilder::bind_udp`). The default spawns nothing.
    fn on_udp_bind(&self, _udp: UdpCtx) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        None
    }

    /// A task to start on each worker at launch: the entry point of client
    /// programs that bind nothing. The default spawns nothing.
    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        None
    }

    /// Builds the handler of worker `worker_id` (0-based), on that worker's
    /// thread.
    fn create_for_worker(worker_id: usize) -> Self
    where
        Self: Sized;
}

/// The worker, as seen from [`AsyncEventHandler::on_tick`].
pub struct DriverCtx<'a> {
    net: Net<'a>,
}

impl<'a> DriverCtx<'a> {
    /// The worker's connection layer (on the worker's reactor).
    pub(crate) fn new(net: Net<'a>) -> DriverCtx<'a> {
        DriverCtx { net }
    }

    /// The index of this worker (the `worker_id` of `create_for_worker`).
    pub fn worker_id(&self) -> usize {
        self.net.core.id
    }

    /// Asks the whole runtime to shut down (see [`crate::request_shutdown`]).
    pub fn request_shutdown(&mut self) {
        self.net.core.shutdown.request();
    }

    /// The peer of a connection; `None` once it is closed.
    pub fn peer_addr(&self, conn: ConnToken) -> Option<PeerAddr> {
        ConnCtx::from_token(conn).peer_addr_on(&self.net)
    }

    /// True for a connection made with `connect`, false for an accepted one.
    pub fn is_outbound(&self, conn: ConnToken) -> bool {
        ConnCtx::from_token(conn).is_outbound_on(&self.net)
    }

    /// Queues `data` on a connection (see [`ConnCtx::send_nowait`]).
    ///
    /// # Errors
    ///
    /// As [`ConnCtx::send_nowait`].
    pub fn send(&mut self, conn: ConnToken, data: &[u8]) -> io::Result<()> {
        let key = ConnCtx::from_token(conn).key_on(&self.net)?;
        self.net.send_copy(key, data).map(|_| ())
    }

    /// Closes a connection (see [`ConnCtx::close`]).
    pub fn close(&mut self, conn: ConnToken) {
        if let Ok(key) = ConnCtx::from_token(conn).key_on(&self.net) {
            self.net.close_conn(key);
        }
    }

    /// Half-closes a connection (see [`ConnCtx::shutdown_write`]).
    pub fn shutdown_write(&mut self, conn: ConnToken) {
        if let Ok(key) = ConnCtx::from_token(conn).key_on(&self.net) {
            self.net.shutdown_write(key);
        }
    }
}
