//! The load `insn` counts against: connections with one message in flight
//! on each, driven from one thread in *phases* of an exact number of round
//! trips per connection.
//!
//! Each connection sends its next message as soon as its echo is complete
//! (as `runtime/examples/echo_client` does), so the server always has every
//! connection's message to work on and batches the way a busy server
//! does. A phase returns once every echo is back: between phases the
//! server has nothing left to do, which is when the harness zeroes and
//! dumps the instruction counters, and the round trips in between are
//! known exactly, not sampled from a clock.
//!
//! Plain std sockets and `poll(2)`: no code shared with a runtime under
//! test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How long the server may answer nothing before a phase fails (under
/// callgrind it is ~50× slower than native, but never silent this long).
const STALL_LIMIT: Duration = Duration::from_secs(20);

/// Connections to an echo server, driven phase by phase.
pub struct PhasedClient {
    conns: Vec<Conn>,
    message: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    /// Bytes of the current echo read so far.
    received: usize,
    /// Messages of this phase not sent yet.
    to_send: u64,
}

impl PhasedClient {
    /// Opens `connections` connections (`TCP_NODELAY`) to `addr` that
    /// will carry messages of `message_size` bytes.
    pub fn connect(
        addr: SocketAddr,
        connections: usize,
        message_size: usize,
    ) -> io::Result<PhasedClient> {
        let conns = (0..connections)
            .map(|_| {
                let stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                stream.set_nonblocking(true)?;
                Ok(Conn {
                    stream,
                    received: 0,
                    to_send: 0,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(PhasedClient {
            conns,
            message: vec![0xa5; message_size.max(1)],
        })
    }

    /// Completes exactly `per_connection` round trips on every connection
    /// and returns the total, once every echo is back.
    pub fn phase(&mut self, per_connection: u64) -> io::Result<u64> {
        if per_connection == 0 {
            return Ok(0);
        }
        let size = self.message.len();
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.conns.len());
        for c in &mut self.conns {
            c.to_send = per_connection - 1;
            c.received = 0;
            write_all(&mut c.stream, &self.message)?;
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let mut in_flight = self.conns.len();
        let mut buf = vec![0u8; size];
        let mut done = 0u64;
        while in_flight > 0 {
            poll(&mut fds, STALL_LIMIT)?;
            for (c, pfd) in self.conns.iter_mut().zip(fds.iter_mut()) {
                if pfd.fd < 0 || pfd.revents == 0 {
                    continue;
                }
                pfd.revents = 0;
                // Read no further than this echo: with one message in
                // flight there is nothing after it.
                match c.stream.read(&mut buf[..size - c.received]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => c.received += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
                if c.received < size {
                    continue;
                }
                c.received = 0;
                done += 1;
                if c.to_send > 0 {
                    c.to_send -= 1;
                    write_all(&mut c.stream, &self.message)?;
                } else {
                    // Negative descriptors are skipped by poll(2).
                    pfd.fd = -1;
                    in_flight -= 1;
                }
            }
        }
        Ok(done)
    }
}

/// Waits until one of `fds` is ready; a stall longer than `limit` fails.
fn poll(fds: &mut [libc::pollfd], limit: Duration) -> io::Result<()> {
    loop {
        // SAFETY: `fds` is a live, writable slice of initialised pollfds
        // and its length is passed with it.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                limit.as_millis() as libc::c_int,
            )
        };
        match n {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server answered nothing for {} s", limit.as_secs()),
                ));
            }
            n if n > 0 => return Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// `write_all` on a non-blocking socket. With one message in flight the
/// socket buffer always has room, so waiting is the exception.
fn write_all(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut pfd = [libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                poll(&mut pfd, STALL_LIMIT)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_completes_exactly_its_round_trips_and_leaves_nothing_in_flight() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut client = PhasedClient::connect(addr, 4, 5000).expect("connect");
        assert_eq!(client.phase(3).expect("phase"), 12);
        assert_eq!(client.phase(0).expect("empty phase"), 0);
        assert_eq!(client.phase(7).expect("phase"), 28);
    }
}
