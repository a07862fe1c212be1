//! `ConnCtx`: what a task can do with a connection, and its futures.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};

use super::ConnToken;
use super::conn::{ConnState, HeldBuf, SockKind};
use super::connect::{self, ConnectFuture};
use super::current;
use super::current::Net;
use super::send::stale_connection;
use super::waiters::Ticket;
use super::{ParseResult, PeerAddr};
use crate::executor::foreign;
use crate::slab::Key;
use crate::stats::task_registry::Wait;

/// A connection, as its task sees it: receive with [`with_data`]
/// (or [`with_bytes`]), send with [`send_nowait`] or [`send`].
///
/// `ConnCtx` is `Copy`: an index plus the slot's generation and its
/// worker's identity. Once the connection is closed and its slot reused,
/// an old `ConnCtx` reaches nothing: receives see EOF and sends fail with
/// `NotConnected`. It is `Send`, but it belongs to the worker that
/// accepted or connected it: on another worker sends fail with
/// `InvalidInput`, receives see EOF and `close` does nothing — it never
/// touches that worker's connection of the same index.
///
/// [`with_data`]: Self::with_data
/// [`with_bytes`]: Self::with_bytes
/// [`send_nowait`]: Self::send_nowait
/// [`send`]: Self::send
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnCtx {
    index: u32,
    generation: u32,
    /// The serial of the worker that owns the connection.
    worker: u32,
}

impl ConnCtx {
    /// Connection `key` of worker `w`.
    pub(crate) fn new(w: &Net<'_>, key: Key) -> ConnCtx {
        ConnCtx {
            index: key.index,
            generation: key.generation,
            worker: w.core.serial,
        }
    }

    pub(crate) fn from_token(token: ConnToken) -> ConnCtx {
        ConnCtx {
            index: token.index,
            generation: token.generation,
            worker: token.worker,
        }
    }

    /// The connection's slot key, for the worker that created it.
    pub(crate) fn key(self) -> Key {
        Key {
            index: self.index,
            generation: self.generation,
        }
    }

    /// The connection's key on worker `w`, or `InvalidInput` when it
    /// belongs to another worker.
    #[inline]
    pub(crate) fn key_on(self, w: &Net<'_>) -> io::Result<Key> {
        if w.core.serial == self.worker {
            Ok(self.key())
        } else {
            Err(foreign::wrong_worker("this ConnCtx"))
        }
    }

    /// The connection's slot index (reused after it closes).
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// The connection's token (index + generation).
    pub fn token(&self) -> ConnToken {
        ConnToken {
            index: self.index,
            generation: self.generation,
            worker: self.worker,
        }
    }

    /// Waits for received bytes and shows them to `f`, which says how many
    /// it consumed. Resolves to that count; resolves to 0 at end of stream
    /// (after calling `f` once with an empty slice, whose count is returned
    /// instead if non-zero).
    ///
    /// `NeedMore` or `Consumed(0)` keeps the bytes and waits for more, so
    /// `f` may be called several times before the future resolves.
    #[track_caller]
    pub fn with_data<F: FnMut(&[u8]) -> ParseResult>(&self, f: F) -> WithDataFuture<F> {
        WithDataFuture {
            conn: *self,
            f: Some(f),
            waiting: None,
            site: Location::caller(),
        }
    }

    /// Like [`with_data`](Self::with_data), but `f` gets the bytes as a
    /// refcounted [`Bytes`] it may slice and keep without copying.
    #[track_caller]
    pub fn with_bytes<F: FnMut(Bytes) -> ParseResult>(&self, f: F) -> WithBytesFuture<F> {
        WithBytesFuture {
            conn: *self,
            f: Some(f),
            waiting: None,
            site: Location::caller(),
        }
    }

    /// Shows already-received bytes to `f` without waiting; `None` when
    /// none are buffered.
    ///
    /// # Panics
    ///
    /// Outside a ringline worker.
    pub fn try_with_data<F: FnOnce(&[u8]) -> ParseResult>(&self, f: F) -> Option<ParseResult> {
        current::with("ConnCtx::try_with_data", |w| {
            let key = self.key_on(w).ok()?;
            let mut acc = w.take_acc(key)?.0;
            if acc.is_empty() {
                w.put_acc(key, acc, &mut None, None);
                return None;
            }
            let result = f(&acc);
            if let ParseResult::Consumed(n) = result {
                acc.advance(n.min(acc.len()));
            }
            w.put_acc(key, acc, &mut None, None);
            Some(result)
        })
    }

    /// Resolves once bytes are buffered or the stream has ended.
    ///
    /// Any number of tasks may wait on one connection at once (here or in
    /// [`with_data`](Self::with_data) / [`with_bytes`](Self::with_bytes)):
    /// each is woken when bytes or the end of the stream arrive, the one
    /// waiting longest first; whoever finds bytes left consumes them.
    #[track_caller]
    pub fn recv_ready(&self) -> RecvReadyFuture {
        RecvReadyFuture {
            conn: *self,
            waiting: None,
            site: Location::caller(),
        }
    }

    /// Queues a copy of `data` for sending and returns at once. Sends on a
    /// connection go out in call order; a short write is finished before
    /// anything queued later.
    ///
    /// # Errors
    ///
    /// `NotConnected` once the connection is closing or gone; the send
    /// error (e.g. `BrokenPipe`) once sending failed; an error wrapping
    /// [`Error::SendPoolExhausted`](crate::Error::SendPoolExhausted) when
    /// the send copy pool has no room (nothing is queued then).
    ///
    /// # Panics
    ///
    /// Outside a ringline worker.
    pub fn send_nowait(&self, data: &[u8]) -> io::Result<()> {
        current::with("ConnCtx::send_nowait", |w| {
            w.send_copy(self.key_on(w)?, data)
        })
        .map(|_| ())
    }

    /// Queues a copy of `data` (as [`send_nowait`](Self::send_nowait)) and
    /// returns a future that resolves to the byte count once every byte of
    /// it has been handed to the kernel.
    ///
    /// # Errors
    ///
    /// As [`send_nowait`](Self::send_nowait).
    ///
    /// # Panics
    ///
    /// Outside a ringline worker.
    #[track_caller]
    pub fn send(&self, data: &[u8]) -> io::Result<SendFuture> {
        let site = Location::caller();
        let target = current::with("ConnCtx::send", |w| w.send_copy(self.key_on(w)?, data))?;
        Ok(SendFuture {
            conn: *self,
            target,
            len: data.len().min(u32::MAX as usize) as u32,
            site,
        })
    }

    /// Queues `data` for sending without copying it (fire-and-forget,
    /// ordered with every other send on the connection): the kernel reads
    /// the bytes from `data`'s own memory, which the connection keeps until
    /// the send that takes its last byte has completed. Buffers of at most
    /// 256 bytes, or that fit the room left in the send-pool slot already
    /// queued, are copied into the pool instead, where they coalesce with
    /// what goes before (as [`send_nowait`](Self::send_nowait)).
    ///
    /// Use it for buffers that are large or already shared: a received
    /// [`Bytes`] from [`with_bytes`](Self::with_bytes), a cached response,
    /// a file block. Each buffer queued this way counts as one slot of the
    /// connection's share of the send pool (see
    /// [`ConfigBuilder::send_copy_per_connection`](crate::ConfigBuilder::send_copy_per_connection)),
    /// so a peer that never reads cannot make the connection hold an
    /// unbounded number of them.
    ///
    /// # Errors
    ///
    /// As [`send_nowait`](Self::send_nowait); nothing is queued on error.
    ///
    /// # Panics
    ///
    /// Outside a ringline worker.
    pub fn send_bytes_nowait(&self, data: Bytes) -> io::Result<()> {
        current::with("ConnCtx::send_bytes_nowait", |w| {
            w.send_owned(self.key_on(w)?, data)
        })
        .map(|_| ())
    }

    /// Queues `data` without copying it (as
    /// [`send_bytes_nowait`](Self::send_bytes_nowait)) and returns a future
    /// that resolves to the byte count once every byte of it has been
    /// handed to the kernel.
    ///
    /// # Errors
    ///
    /// As [`send_nowait`](Self::send_nowait).
    ///
    /// # Panics
    ///
    /// Outside a ringline worker.
    #[track_caller]
    pub fn send_bytes(&self, data: Bytes) -> io::Result<SendFuture> {
        let site = Location::caller();
        let len = data.len().min(u32::MAX as usize) as u32;
        let target = current::with("ConnCtx::send_bytes", |w| {
            w.send_owned(self.key_on(w)?, data)
        })?;
        Ok(SendFuture {
            conn: *self,
            target,
            len,
            site,
        })
    }

    /// Closes the connection: bytes already queued are still sent, then the
    /// descriptor is closed; receives see EOF at once. For an accepted
    /// connection the `on_accept` task is dropped when the close completes.
    /// A no-op outside a worker or on a closed connection.
    pub fn close(&self) {
        current::try_with(|w| {
            if let Ok(key) = self.key_on(w) {
                w.close_conn(key);
            }
        });
    }

    /// Half-closes: a FIN follows the bytes already queued; receiving goes
    /// on. A no-op outside a worker or on a closed connection.
    pub fn shutdown_write(&self) {
        current::try_with(|w| {
            if let Ok(key) = self.key_on(w) {
                w.shutdown_write(key);
            }
        });
    }

    /// Asks the whole runtime to shut down (see [`crate::request_shutdown`]).
    pub fn request_shutdown(&self) {
        let _ = crate::reactor::request_shutdown();
    }

    /// The peer's address; `None` once the connection is closed (or off a
    /// worker thread).
    pub fn peer_addr(&self) -> Option<PeerAddr> {
        current::try_with(|w| self.peer_addr_on(w)).flatten()
    }

    /// True for a connection made with `connect`, false for an accepted one.
    pub fn is_outbound(&self) -> bool {
        current::try_with(|w| self.is_outbound_on(w)).unwrap_or(false)
    }

    pub(crate) fn peer_addr_on(&self, w: &Net<'_>) -> Option<PeerAddr> {
        let key = self.key_on(w).ok()?;
        let mut net = w.net.borrow_mut();
        let conn = net.conns.get_mut(key)?;
        if !matches!(conn.state, ConnState::Open | ConnState::Closing) {
            return None;
        }
        if conn.peer.is_none() {
            conn.peer = query_peer(conn.fd.raw, conn.kind);
        }
        conn.peer.clone()
    }

    pub(crate) fn is_outbound_on(&self, w: &Net<'_>) -> bool {
        let Ok(key) = self.key_on(w) else {
            return false;
        };
        w.net.borrow().conns.get(key).is_some_and(|c| c.outbound)
    }

    /// [`crate::connect`], as a method for handlers that have a `ConnCtx`.
    ///
    /// # Errors
    ///
    /// As [`crate::connect`].
    #[track_caller]
    pub fn connect(&self, addr: SocketAddr) -> io::Result<ConnectFuture> {
        connect::connect(addr)
    }

    /// [`crate::connect_with_timeout`], as a method.
    ///
    /// # Errors
    ///
    /// As [`crate::connect_with_timeout`].
    #[track_caller]
    pub fn connect_with_timeout(
        &self,
        addr: SocketAddr,
        timeout_ms: u64,
    ) -> io::Result<ConnectFuture> {
        connect::connect_with_timeout(addr, timeout_ms)
    }

    /// [`crate::connect_unix`], as a method.
    ///
    /// # Errors
    ///
    /// As [`crate::connect_unix`].
    #[track_caller]
    pub fn connect_unix(&self, path: impl AsRef<Path>) -> io::Result<ConnectFuture> {
        connect::connect_unix(path)
    }
}

pub(crate) fn query_peer(fd: i32, kind: SockKind) -> Option<PeerAddr> {
    let peer = crate::sys::peer_addr(fd).ok()?;
    match kind {
        SockKind::Tcp => peer.as_inet().map(PeerAddr::Tcp),
        SockKind::Unix => Some(PeerAddr::Unix(peer.as_unix_path().unwrap_or_default())),
    }
}

impl Net<'_> {
    /// Takes a connection's receive buffer out (so user code can run with
    /// no borrow held), with its EOF flag; `None` for a stale key.
    pub(crate) fn take_acc(self, key: Key) -> Option<(BytesMut, bool)> {
        let mut net = self.net.borrow_mut();
        let net = &mut *net;
        let conn = net.conns.get_mut(key)?;
        if conn.held.is_some() {
            let mut driver = self.core.driver.borrow_mut();
            super::recv::spill(&mut driver, &mut net.held_bufs, conn);
        }
        Some((std::mem::take(&mut conn.acc), conn.eof))
    }

    /// Takes a connection's unconsumed bytes for a parse closure: its held
    /// buffer when it has one (no copy), else its accumulator. With nothing
    /// buffered nothing is taken: the future joins the waiters in the same
    /// lookup (`wait` is its waker), unless the stream ended.
    fn take_input(
        self,
        key: Key,
        waiting: &mut Option<Ticket>,
        wait: &Waker,
    ) -> Option<(Input, bool)> {
        let mut net = self.net.borrow_mut();
        let conn = net.conns.get_mut(key)?;
        let input = if let Some(held) = conn.held.take() {
            Input::Held(held)
        } else if !conn.acc.is_empty() {
            Input::Acc(std::mem::take(&mut conn.acc))
        } else {
            if !conn.eof {
                conn.recv_waiters.wait(waiting, self.core.handle.gid, wait);
            } else if let Some(ticket) = waiting.take() {
                conn.recv_waiters.leave(ticket, self.core.handle.gid);
            }
            Input::Empty
        };
        Some((input, conn.eof))
    }

    /// The bytes of a held buffer taken by [`take_input`](Self::take_input).
    ///
    /// # Safety
    ///
    /// `held` was taken out of its connection and is neither recycled nor
    /// put back while the slice is in use.
    unsafe fn held_bytes<'a>(self, held: HeldBuf) -> &'a [u8] {
        let driver = self.core.driver.borrow();
        // SAFETY: `held` came from a receive CQE that filled `held.end`
        // bytes of buffer `held.bid`, not recycled since (the caller's
        // contract).
        let data = unsafe { driver.recv_data(held.bid, held.end as usize) };
        let data = &data[held.start as usize..];
        // SAFETY: the buffer's memory belongs to the driver's ring, which
        // lives (or is leaked) past every task of the worker; nothing
        // rewrites it until it is recycled and published again, which the
        // caller's contract rules out while the slice is in use. The
        // driver borrow ends here so the parse closure may use the driver.
        unsafe { std::slice::from_raw_parts(data.as_ptr(), data.len()) }
    }

    /// Puts a held buffer back after a parse closure (see
    /// [`put_acc`](Self::put_acc)): kept while bytes are left in it, handed
    /// back to the ring once all were consumed or the connection is gone.
    fn put_held(self, key: Key, held: HeldBuf, waiting: &mut Option<Ticket>, wait: Option<&Waker>) {
        let resume = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                let mut driver = self.core.driver.borrow_mut();
                super::recv::give_back(&mut driver, &mut net.held_bufs, held);
                return;
            };
            debug_assert!(conn.acc.is_empty() && conn.held.is_none());
            if held.len() == 0 {
                let mut driver = self.core.driver.borrow_mut();
                super::recv::give_back(&mut driver, &mut net.held_bufs, held);
            } else {
                conn.held = Some(held);
            }
            match wait {
                Some(waker) => conn.recv_waiters.wait(waiting, self.core.handle.gid, waker),
                None => {
                    if let Some(ticket) = waiting.take() {
                        conn.recv_waiters.leave(ticket, self.core.handle.gid);
                    }
                }
            }
            net.dirty.mark(conn, key);
            net.recv.consumed(conn)
        };
        if resume {
            self.arm_recv(key);
        }
    }

    /// Puts a receive buffer back. Nothing can have arrived meanwhile:
    /// completions are only processed between polls. In the same lookup a
    /// receive future takes its place among the waiters (`wait` is its
    /// waker: it is about to return `Pending`) or leaves it (`None`: it
    /// resolved, so its drop has nothing left to do). A connection paused
    /// for backpressure receives again once the handler has consumed down
    /// to the low-water mark.
    pub(crate) fn put_acc(
        &self,
        key: Key,
        acc: BytesMut,
        waiting: &mut Option<Ticket>,
        wait: Option<&Waker>,
    ) {
        let resume = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            debug_assert!(conn.acc.is_empty());
            conn.acc = acc;
            match wait {
                Some(waker) => conn.recv_waiters.wait(waiting, self.core.handle.gid, waker),
                None => {
                    if let Some(ticket) = waiting.take() {
                        conn.recv_waiters.leave(ticket, self.core.handle.gid);
                    }
                }
            }
            net.dirty.mark(conn, key);
            net.recv.consumed(conn)
        };
        if resume {
            self.arm_recv(key);
        }
    }

    /// A receive future that waited is dropped: it leaves the waiters.
    fn leave_recv(self, key: Key, ticket: Ticket) {
        // Futures are never dropped with the net state borrowed (see the
        // worker docs); were one, its entry would only cost spurious wakes
        // until the connection closes.
        let Ok(mut net) = self.net.try_borrow_mut() else {
            debug_assert!(
                false,
                "a receive future dropped with the net state borrowed"
            );
            return;
        };
        if let Some(conn) = net.conns.get_mut(key) {
            conn.recv_waiters.leave(ticket, self.core.handle.gid);
        }
    }
}

/// What a parse closure reads: a held receive buffer (no copy) or the
/// accumulator.
enum Input {
    Held(HeldBuf),
    Acc(BytesMut),
    /// Nothing buffered (the future now waits, unless the stream ended).
    Empty,
}

/// Takes a dropped receive future of `conn` off its waiters, if it waited.
fn stop_waiting(conn: ConnCtx, ticket: Option<Ticket>) {
    if let Some(ticket) = ticket {
        current::try_with(|w| w.leave_recv(conn.key(), ticket));
    }
}

/// Future of [`ConnCtx::with_data`].
#[must_use = "futures do nothing unless awaited"]
pub struct WithDataFuture<F> {
    conn: ConnCtx,
    f: Option<F>,
    waiting: Option<Ticket>,
    site: &'static Location<'static>,
}

impl<F> Drop for WithDataFuture<F> {
    fn drop(&mut self) {
        stop_waiting(self.conn, self.waiting.take());
    }
}

// The closure is only ever called through `&mut F`, never pinned, so the
// future may move freely whatever `F` is.
impl<F> Unpin for WithDataFuture<F> {}

impl<F: FnMut(&[u8]) -> ParseResult> Future for WithDataFuture<F> {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        let conn = this.conn;
        let f = this
            .f
            .as_mut()
            .expect("WithDataFuture polled after completion");
        let out = current::with("ConnCtx::with_data", |w| {
            let site = this.site;
            let out = (|| {
                // Another worker's connection reads as closed.
                let key = conn.key();
                let taken = conn
                    .key_on(w)
                    .ok()
                    .and_then(|_| w.take_input(key, &mut this.waiting, cx.waker()));
                let Some((input, eof)) = taken else {
                    return Poll::Ready(eof_count(f(&[])));
                };
                let mut acc = match input {
                    Input::Empty if eof => return Poll::Ready(eof_count(f(&[]))),
                    Input::Empty => return Poll::Pending,
                    Input::Acc(acc) => acc,
                    Input::Held(mut held) => {
                        // SAFETY: `held` is out of its connection until
                        // `put_held` below, after the closure's last use.
                        let data = unsafe { w.held_bytes(held) };
                        let out = match f(data) {
                            ParseResult::Consumed(n) if n > 0 => {
                                let n = n.min(held.len());
                                held.start += n as u32;
                                Poll::Ready(n)
                            }
                            _ if eof => Poll::Ready(0),
                            _ => {
                                w.put_held(key, held, &mut this.waiting, Some(cx.waker()));
                                return Poll::Pending;
                            }
                        };
                        w.put_held(key, held, &mut this.waiting, None);
                        return out;
                    }
                };
                let result = f(&acc);
                let out = match result {
                    ParseResult::Consumed(n) if n > 0 => {
                        let n = n.min(acc.len());
                        acc.advance(n);
                        Poll::Ready(n)
                    }
                    _ if eof => Poll::Ready(0),
                    _ => {
                        w.put_acc(key, acc, &mut this.waiting, Some(cx.waker()));
                        return Poll::Pending;
                    }
                };
                w.put_acc(key, acc, &mut this.waiting, None);
                out
            })();
            if out.is_pending() {
                w.core.stats.parked(Wait::Recv(conn.key().index), site);
            }
            out
        });
        if out.is_ready() {
            this.f = None;
        }
        out
    }
}

fn eof_count(result: ParseResult) -> usize {
    match result {
        ParseResult::Consumed(n) => n,
        ParseResult::NeedMore => 0,
    }
}

/// Future of [`ConnCtx::with_bytes`].
#[must_use = "futures do nothing unless awaited"]
pub struct WithBytesFuture<F> {
    conn: ConnCtx,
    f: Option<F>,
    waiting: Option<Ticket>,
    site: &'static Location<'static>,
}

impl<F> Drop for WithBytesFuture<F> {
    fn drop(&mut self) {
        stop_waiting(self.conn, self.waiting.take());
    }
}

// As for `WithDataFuture`: the closure is never pinned.
impl<F> Unpin for WithBytesFuture<F> {}

impl<F: FnMut(Bytes) -> ParseResult> Future for WithBytesFuture<F> {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        let conn = this.conn;
        let f = this
            .f
            .as_mut()
            .expect("WithBytesFuture polled after completion");
        let out = current::with("ConnCtx::with_bytes", |w| {
            let site = this.site;
            let out = (|| {
                // Another worker's connection reads as closed.
                let key = conn.key();
                let Some((mut acc, eof)) = conn.key_on(w).ok().and_then(|_| w.take_acc(key)) else {
                    return Poll::Ready(eof_count(f(Bytes::new())));
                };
                if acc.is_empty() {
                    if eof {
                        w.put_acc(key, acc, &mut this.waiting, None);
                        return Poll::Ready(eof_count(f(Bytes::new())));
                    }
                    w.put_acc(key, acc, &mut this.waiting, Some(cx.waker()));
                    return Poll::Pending;
                }
                let bytes = acc.split().freeze();
                let result = f(bytes.clone());
                let consumed = match result {
                    ParseResult::Consumed(n) => n.min(bytes.len()),
                    ParseResult::NeedMore => 0,
                };
                // Give back what was not consumed, reusing the allocation when
                // `f` kept no reference to it.
                let rest = bytes.slice(consumed..);
                drop(bytes);
                let mut rest = match rest.try_into_mut() {
                    Ok(unique) => unique,
                    Err(shared) => BytesMut::from(&shared[..]),
                };
                if rest.is_empty() {
                    rest = acc;
                }
                let pending = consumed == 0 && !eof;
                let wait = pending.then(|| cx.waker());
                w.put_acc(key, rest, &mut this.waiting, wait);
                if pending {
                    Poll::Pending
                } else {
                    Poll::Ready(consumed)
                }
            })();
            if out.is_pending() {
                w.core.stats.parked(Wait::Recv(conn.key().index), site);
            }
            out
        });
        if out.is_ready() {
            this.f = None;
        }
        out
    }
}

/// Future of [`ConnCtx::recv_ready`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvReadyFuture {
    conn: ConnCtx,
    waiting: Option<Ticket>,
    site: &'static Location<'static>,
}

impl Drop for RecvReadyFuture {
    fn drop(&mut self) {
        stop_waiting(self.conn, self.waiting.take());
    }
}

impl Future for RecvReadyFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        current::with("ConnCtx::recv_ready", |w| {
            let Ok(key) = this.conn.key_on(w) else {
                return Poll::Ready(());
            };
            let mut net = w.net.borrow_mut();
            let Some(conn) = net.conns.get_mut(key) else {
                return Poll::Ready(());
            };
            if conn.unconsumed() > 0 || conn.eof {
                return Poll::Ready(());
            }
            conn.recv_waiters
                .wait(&mut this.waiting, w.core.handle.gid, cx.waker());
            w.core.stats.parked(Wait::Recv(key.index), this.site);
            Poll::Pending
        })
    }
}

/// Future of [`ConnCtx::send`]: resolves once the bytes of that send have
/// all been handed to the kernel.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture {
    conn: ConnCtx,
    target: u64,
    len: u32,
    site: &'static Location<'static>,
}

impl Future for SendFuture {
    type Output = io::Result<u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        current::with("SendFuture::poll", |w| {
            let key = match self.conn.key_on(w) {
                Ok(key) => key,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let mut net = w.net.borrow_mut();
            let Some(conn) = net.conns.get_mut(key) else {
                return Poll::Ready(Err(stale_connection()));
            };
            if conn.send.sent_total >= self.target {
                return Poll::Ready(Ok(self.len));
            }
            if let Some(errno) = conn.send.error {
                return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
            }
            if !conn.send.waiters.iter().any(|x| x.will_wake(cx.waker())) {
                conn.send.waiters.push(cx.waker().clone());
            }
            w.core.stats.parked(Wait::Send(key.index), self.site);
            Poll::Pending
        })
    }
}
