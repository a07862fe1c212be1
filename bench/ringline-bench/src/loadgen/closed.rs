//! The closed-loop client thread: one message in flight per connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Flags, Load, Outcome, Wait, connect};

/// Loops over `n` connections until told to stop: write one message to
/// each, then read each echo back, timing each connection's round trip
/// from its own write.
pub(super) fn client(load: &Load, n: usize, flags: &Flags) -> io::Result<Outcome> {
    let mut conns = connect(load.addr, n)?;
    for c in &conns {
        match load.wait {
            Wait::Block => c.set_read_timeout(Some(SPIN_LIMIT))?,
            Wait::Spin => c.set_nonblocking(true)?,
        }
    }
    let msg = vec![0xa5u8; load.message_size];
    let mut buf = vec![0u8; load.message_size];
    let mut sent_at = vec![Instant::now(); n];
    let mut out = Outcome::default();
    while !flags.stop.load(Ordering::Relaxed) {
        for (c, t) in conns.iter_mut().zip(sent_at.iter_mut()) {
            *t = Instant::now();
            match load.wait {
                Wait::Block => c.write_all(&msg)?,
                Wait::Spin => spin_write_all(c, &msg)?,
            }
        }
        let counting = flags.counting.load(Ordering::Relaxed);
        for (c, t) in conns.iter_mut().zip(&sent_at) {
            match load.wait {
                Wait::Block => c.read_exact(&mut buf)?,
                Wait::Spin => spin_read_exact(c, &mut buf)?,
            }
            if counting {
                out.record(t.elapsed().as_nanos() as u64);
            }
        }
    }
    Ok(out)
}

/// `write_all` on a non-blocking socket, yielding the CPU while the socket
/// is full instead of sleeping in the kernel.
pub(super) fn spin_write_all(c: &mut TcpStream, mut buf: &[u8]) -> io::Result<()> {
    let deadline = Instant::now() + SPIN_LIMIT;
    while !buf.is_empty() {
        match c.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) => spin_or_fail(e, deadline)?,
        }
    }
    Ok(())
}

/// `read_exact` on a non-blocking socket, yielding the CPU while nothing
/// has arrived: the server's send then finds no sleeping reader to wake,
/// so the wake-up (which on loopback runs on the sender's CPU) is not
/// billed to the server.
pub(super) fn spin_read_exact(c: &mut TcpStream, mut buf: &mut [u8]) -> io::Result<()> {
    let deadline = Instant::now() + SPIN_LIMIT;
    while !buf.is_empty() {
        match c.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) => spin_or_fail(e, deadline)?,
        }
    }
    Ok(())
}

/// A stalled server fails the run rather than hanging it.
pub(super) const SPIN_LIMIT: Duration = Duration::from_secs(10);

fn spin_or_fail(e: io::Error, deadline: Instant) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::WouldBlock if Instant::now() < deadline => {
            std::thread::yield_now();
            Ok(())
        }
        io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
        io::ErrorKind::Interrupted => Ok(()),
        _ => Err(e),
    }
}
