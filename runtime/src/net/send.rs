//! Sending: bytes are queued per connection, either copied into the send
//! pool (`send_copy`; small writes coalesce in the last slot) or, for a
//! caller's `Bytes`, as the buffer itself (`send_owned`, zero-copy; kept
//! until its send's CQE). One send SQE per connection is in flight at a
//! time (two sends on one socket may complete out of order), covering
//! every byte of its head chunk. Short writes resubmit the rest before
//! anything queued later.

use std::io;

use bytes::Bytes;

use super::conn::{Chunk, Conn, ConnState};
use super::current::Net;
use crate::driver::Cqe;
use crate::driver::sqe::Sqe;
use crate::error::Error;
use crate::op::{OpKind, UserData};
use crate::slab::{Key, Slab};
use crate::stats::op_registry::Target;

/// The error of a send on a connection that cannot take one.
fn not_sendable(state: ConnState, error: Option<i32>, shut_wr: bool) -> io::Error {
    if let Some(errno) = error {
        return io::Error::from_raw_os_error(errno);
    }
    if shut_wr {
        return io::Error::new(io::ErrorKind::BrokenPipe, "write side already shut down");
    }
    match state {
        ConnState::Connecting => io::Error::new(io::ErrorKind::NotConnected, "still connecting"),
        _ => io::Error::new(io::ErrorKind::NotConnected, "connection closed"),
    }
}

pub(crate) fn stale_connection() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed or invalid")
}

/// Connection `key`, if it can take a send.
#[inline]
fn sendable(conns: &mut Slab<Conn>, key: Key) -> io::Result<&mut Conn> {
    let conn = conns.get_mut(key).ok_or_else(stale_connection)?;
    if !conn.can_send() {
        return Err(not_sendable(
            conn.state,
            conn.send.error,
            conn.shut_wr_pending,
        ));
    }
    Ok(conn)
}

/// Buffers of at most this many bytes are copied into the send pool even
/// by [`Net::send_owned`]: copying them costs less than keeping the buffer
/// and a send of their own.
const COPY_AT_MOST: usize = 256;

/// The largest run of a caller's buffer one chunk covers (a send's length
/// is a `u32`).
const MAX_PIECE: usize = 1 << 30;

impl Net<'_> {
    /// Queues a copy of `data` on connection `key`, all or nothing. Returns
    /// the connection's queued-byte total after it (what a `SendFuture`
    /// waits for the sent total to reach).
    pub(crate) fn send_copy(self, key: Key, data: &[u8]) -> io::Result<u64> {
        let submit = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let conn = sendable(&mut net.conns, key)?;
            if data.is_empty() {
                return Ok(conn.send.queued_total);
            }
            let pool = &mut net.pool;
            let slot_size = pool.slot_size() as usize;
            let tail_room = conn
                .send
                .chunks
                .back()
                .filter(|c| !c.is_owned())
                .map_or(0, |c| slot_size - c.end as usize);
            let (head, rest) = data.split_at(tail_room.min(data.len()));
            let slots = rest.len().div_ceil(slot_size);
            // One connection's share is capped, so a peer that never reads
            // cannot take the pool from every other connection.
            if slots > pool.available() || conn.send.pool_slots() + slots > net.send_slots_per_conn
            {
                pool.note_exhausted();
                return Err(io::Error::other(Error::SendPoolExhausted));
            }
            if !head.is_empty() {
                let tail = conn.send.chunks.back_mut().expect("room implies a tail");
                pool.write(tail.slot, tail.end, head);
                tail.end += head.len() as u32;
            }
            for part in rest.chunks(slot_size) {
                let slot = pool.alloc().expect("availability checked above");
                pool.write(slot, 0, part);
                conn.send.chunks.push_back(Chunk {
                    slot,
                    start: 0,
                    end: part.len() as u32,
                });
            }
            conn.send.queued_total += data.len() as u64;
            net.dirty.mark(conn, key);
            conn.send.in_flight == 0
        };
        if submit {
            self.submit_send(key);
        }
        let net = self.net.borrow();
        Ok(net.conns.get(key).map_or(0, |c| c.send.queued_total))
    }

    /// Queues `data` on connection `key`, all or nothing, sending it from
    /// its own memory (no copy) unless it is small or fits the room left
    /// in the last pool slot queued, where [`send_copy`](Self::send_copy)
    /// coalesces it with what goes before. The buffer is kept until the
    /// CQE of the send that takes its last byte. Returns as `send_copy`.
    pub(crate) fn send_owned(self, key: Key, data: Bytes) -> io::Result<u64> {
        // `Err` gives a small buffer back, to be copied.
        let submit: Result<bool, Bytes> = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let conn = sendable(&mut net.conns, key)?;
            let tail_room = conn
                .send
                .chunks
                .back()
                .filter(|c| !c.is_owned())
                .map_or(0, |c| (net.pool.slot_size() - c.end) as usize);
            if data.len() <= COPY_AT_MOST || data.len() <= tail_room {
                Err(data)
            } else {
                let pieces = data.len().div_ceil(MAX_PIECE);
                // Buffers take no pool memory, but one connection still
                // queues at most its share of chunks, so a peer that never
                // reads cannot make it hold an unbounded number of them.
                if conn.send.chunks.len() + pieces > net.send_slots_per_conn {
                    return Err(io::Error::other(Error::SendPoolExhausted));
                }
                conn.send.queued_total += data.len() as u64;
                net.dirty.mark(conn, key);
                let in_flight = conn.send.in_flight;
                if pieces == 1 {
                    conn.send.queue_owned(data);
                } else {
                    for start in (0..data.len()).step_by(MAX_PIECE) {
                        let end = (start + MAX_PIECE).min(data.len());
                        conn.send.queue_owned(data.slice(start..end));
                    }
                }
                Ok(in_flight == 0)
            }
        };
        let submit = match submit {
            Ok(submit) => submit,
            Err(small) => return self.send_copy(key, &small),
        };
        if submit {
            self.submit_send(key);
        }
        let net = self.net.borrow();
        Ok(net.conns.get(key).map_or(0, |c| c.send.queued_total))
    }

    /// Starts the next send of connection `key` if none is in flight.
    #[inline]
    pub(crate) fn submit_send(self, key: Key) {
        let (fd, ptr, len) = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some(conn) = net.conns.get_mut(key) else {
                return;
            };
            if conn.send.in_flight > 0 || conn.send.error.is_some() {
                return;
            }
            let Some(head) = conn.send.chunks.front() else {
                return;
            };
            let len = head.end - head.start;
            let ptr = if head.is_owned() {
                let bytes = conn
                    .send
                    .owned
                    .front()
                    .expect("an owned chunk has its buffer");
                // In bounds: `start < end <= bytes.len()`.
                bytes[head.start as usize..].as_ptr()
            } else {
                net.pool.ptr(head.slot, head.start)
            };
            conn.send.in_flight = len;
            conn.pending_cqes += 1;
            (conn.fd, ptr, len)
        };
        let ud = UserData::new(OpKind::Send, key.generation, key.index);
        let sqe = Sqe::Send { fd, buf: ptr, len };
        // SAFETY: `ptr..ptr+len` lies in the head chunk, which stays queued
        // until this CQE: a send-pool slot (not released, not rewritten in
        // that range) or a caller's `Bytes` (immutable, kept in
        // `SendQueue::owned`). Both are leaked rather than freed if the
        // worker gives up on sends in flight (`NetState::leak`).
        unsafe {
            let target = Target::Conn(key.index);
            self.core
                .driver
                .borrow_mut()
                .submit(OpKind::Send, ud, sqe, target, None)
        };
    }

    #[inline]
    pub(crate) fn on_send_cqe(self, ud: UserData, cqe: Cqe) {
        let (key, resubmit, drained, shut_wr, closing, release) = {
            let mut net = self.net.borrow_mut();
            let net = &mut *net;
            let Some((key, conn)) = net.conns.get_mut_by_index(ud.index()) else {
                return;
            };
            if !ud.matches(key.generation) {
                return;
            }
            conn.pending_cqes -= 1;
            net.dirty.mark(conn, key);
            let in_flight = std::mem::take(&mut conn.send.in_flight);
            match cqe.result {
                n if n > 0 => {
                    let n = (n as u32).min(in_flight);
                    self.core.stats.bytes_sent(n as u64);
                    let head = conn.send.chunks.front_mut().expect("a send was in flight");
                    head.start += n;
                    conn.send.sent_total += n as u64;
                    if head.start == head.end {
                        conn.send.pop_sent(&mut net.pool);
                    }
                    conn.wake_senders();
                }
                e if e == -libc::EAGAIN || e == -libc::EINTR => {}
                e => {
                    // 0 bytes for a non-empty send, or an error: the stream
                    // is broken; fail the waiters.
                    let errno = if e == 0 { libc::EPIPE } else { -e };
                    conn.send.error.get_or_insert(errno);
                    conn.wake_senders();
                }
            }
            // A broken stream (or a close that gave up lingering) drops
            // whatever is still queued.
            if conn.send.error.is_some() {
                conn.send.clear(&mut net.pool);
            }
            let drained = conn.send.chunks.is_empty();
            (
                key,
                !drained && conn.send.error.is_none(),
                drained,
                drained && conn.shut_wr_pending && conn.state == ConnState::Open,
                conn.state == ConnState::Closing,
                conn.state == ConnState::Closed && conn.pending_cqes == 0,
            )
        };
        if resubmit {
            self.submit_send(key);
        } else if drained {
            if shut_wr {
                self.submit_shutdown(key);
            }
            if closing {
                self.progress_close(key);
            }
        }
        // Only a closed connection can be released (closing moves it there
        // in `progress_close`, which checks again).
        if release || closing {
            self.maybe_release(key);
        }
    }
}
