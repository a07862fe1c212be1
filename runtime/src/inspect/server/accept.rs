//! Accepting connections, and the checks a newcomer passes before anything
//! is read from it: its peer's uid (ours, or root), then room among the
//! clients. A refused peer gets one error line and is closed.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::super::socket_dir::own_uid;
use super::{MAX_CLIENTS, Response, Server};
use crate::sys;

impl Server {
    /// Accepts every connection waiting on the listener.
    pub(super) fn accept(&mut self, now: Instant) {
        loop {
            let Some(s) = &self.socket else { return };
            match s.accept() {
                Ok(stream) => self.admit(stream, now),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                    return;
                }
                // A transient accept error (EMFILE…): the connection stays
                // queued, and the listener is tried again next turn.
                Err(_) => return,
            }
        }
    }

    /// Checks a new peer before reading anything from it.
    pub(super) fn admit(&mut self, mut stream: mio::net::UnixStream, now: Instant) {
        if !peer_allowed(&stream) {
            let _ = stream.write(
                &Response::error(
                    "permission_denied",
                    "this socket serves only its own user (and root)",
                )
                .to_line(),
            );
            return;
        }
        if self.clients.len() >= MAX_CLIENTS {
            let _ = stream.write(
                &Response::error(
                    "busy",
                    format!("{MAX_CLIENTS} clients are attached already; try again later"),
                )
                .to_line(),
            );
            return;
        }
        self.add(stream, now);
    }
}

/// True for a peer of our own uid, or root; false when the kernel does not
/// say.
fn peer_allowed(stream: &mio::net::UnixStream) -> bool {
    let own = own_uid();
    sys::peer_uid(stream.as_raw_fd()).is_ok_and(|uid| uid == own || uid == 0)
}
