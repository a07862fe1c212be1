//! Which destinations a UDP socket can send to, checked before a send is
//! submitted: the kernel would fail the rest only in the completion, long
//! after `send_to` returned `Ok`.
//!
//! | socket                         | IPv4 peer                | IPv6 peer               |
//! |--------------------------------|--------------------------|-------------------------|
//! | IPv4                           | sent                     | refused                 |
//! | IPv6 on `[::]`, dual-stack     | sent as `::ffff:a.b.c.d` | sent                    |
//! | IPv6 with `IPV6_V6ONLY`        | refused                  | sent (not `::ffff:…`)   |
//!
//! Linux turns `IPV6_V6ONLY` on for a socket bound to a specific IPv6
//! address (such as `[::1]`): it has no IPv4 address to send from. Port 0
//! is refused everywhere (Linux answers `EINVAL`). Refusals are
//! `InvalidInput` errors naming the errno `std` would report. An IPv4 peer
//! of a dual-stack socket is passed as the IPv4-mapped address, which
//! every platform accepts (Linux also takes a plain `sockaddr_in`, macOS
//! does not).

use std::io;
use std::net::{SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys;

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// An IPv4 socket.
    V4,
    /// An IPv6 socket that also reaches IPv4 peers.
    DualStack,
    /// An IPv6 socket with `IPV6_V6ONLY`.
    V6Only,
    /// `getsockname` or `getsockopt` failed (never seen on a bound
    /// socket): only port 0 is checked, the kernel judges the rest.
    Unknown,
}

impl Reach {
    /// What the bound socket `fd` can reach.
    pub(crate) fn of(fd: &OwnedFd) -> Reach {
        let named = sys::local_addr(fd.as_raw_fd());
        match named.ok().and_then(|a| a.as_inet()) {
            Some(SocketAddr::V4(_)) => Reach::V4,
            Some(SocketAddr::V6(_)) => match sys::v6_only(fd.as_raw_fd()) {
                Ok(true) => Reach::V6Only,
                Ok(false) => Reach::DualStack,
                Err(_) => Reach::Unknown,
            },
            None => Reach::Unknown,
        }
    }

    /// The address to hand the kernel for `peer`, or why this socket
    /// cannot send there.
    pub(crate) fn destination(self, peer: SocketAddr) -> io::Result<SocketAddr> {
        if peer.port() == 0 {
            return Err(refused(format!(
                "cannot send a datagram to port 0 ({peer}) (EINVAL)"
            )));
        }
        let mapped_v4 = |p: &SocketAddr| match p {
            SocketAddr::V4(_) => true,
            SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_some(),
        };
        match (self, peer) {
            (Reach::V4, SocketAddr::V6(_)) => Err(refused(format!(
                "cannot send to {peer} from an IPv4 UDP socket (EAFNOSUPPORT); \
                 bind an IPv6 address to reach IPv6 peers"
            ))),
            (Reach::V6Only, p) if mapped_v4(&p) => Err(refused(format!(
                "cannot send to {peer} from an IPV6_V6ONLY UDP socket (EAFNOSUPPORT)"
            ))),
            (Reach::DualStack, SocketAddr::V4(a)) => Ok(SocketAddr::V6(SocketAddrV6::new(
                a.ip().to_ipv6_mapped(),
                a.port(),
                0,
                0,
            ))),
            _ => Ok(peer),
        }
    }
}

fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("a socket address")
    }

    #[test]
    fn each_socket_kind_sends_where_it_can_and_refuses_the_rest() {
        let v4 = addr("127.0.0.1:9");
        let v6 = addr("[::1]:9");
        let mapped = addr("[::ffff:127.0.0.1]:9");
        let ok = |reach: Reach, peer| reach.destination(peer).ok();
        assert_eq!(ok(Reach::V4, v4), Some(v4));
        assert_eq!(ok(Reach::V4, v6), None);
        assert_eq!(ok(Reach::V4, mapped), None, "as std: EAFNOSUPPORT");
        assert_eq!(ok(Reach::DualStack, v4), Some(mapped), "mapped");
        assert_eq!(ok(Reach::DualStack, v6), Some(v6));
        assert_eq!(ok(Reach::DualStack, mapped), Some(mapped));
        assert_eq!(ok(Reach::V6Only, v4), None);
        assert_eq!(ok(Reach::V6Only, mapped), None);
        assert_eq!(ok(Reach::V6Only, v6), Some(v6));
        assert_eq!(ok(Reach::Unknown, v4), Some(v4));
        assert_eq!(ok(Reach::Unknown, v6), Some(v6));
        for reach in [Reach::V4, Reach::DualStack, Reach::V6Only, Reach::Unknown] {
            let e = reach.destination(addr("127.0.0.1:0")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{reach:?}");
        }
        for (reach, peer) in [(Reach::V4, v6), (Reach::V6Only, v4)] {
            let e = reach.destination(peer).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{reach:?}");
            assert!(e.to_string().contains("EAFNOSUPPORT"), "{e}");
        }
    }

    #[test]
    fn reach_follows_the_sockets_family_and_v6only() {
        let socket = |domain, v6only: Option<bool>, bind_to: Option<&str>| {
            let fd = sys::socket(domain, libc::SOCK_DGRAM, 0)?;
            if let Some(on) = v6only {
                sys::set_v6_only(fd.as_raw_fd(), on)?;
            }
            if let Some(to) = bind_to {
                sys::bind(fd.as_raw_fd(), &sys::SockAddr::from_inet(&addr(to)))?;
            }
            io::Result::Ok(fd)
        };
        let v4 = socket(libc::AF_INET, None, Some("127.0.0.1:0")).expect("bind 127.0.0.1");
        assert_eq!(Reach::of(&v4), Reach::V4);
        // Unbound, an IPv6 socket names itself `[::]:0`; IPv6 may be off in
        // a container, and then there is nothing to check.
        let cases = [
            (Some(false), None, Reach::DualStack),
            (Some(true), None, Reach::V6Only),
            // Linux turns IPV6_V6ONLY on when a socket binds a specific
            // IPv6 address: it has no IPv4 address to send from.
            (Some(false), Some("[::1]:0"), Reach::V6Only),
        ];
        for (v6only, bind_to, expected) in cases {
            if bind_to.is_some() && !cfg!(target_os = "linux") {
                continue;
            }
            match socket(libc::AF_INET6, v6only, bind_to) {
                Ok(fd) => assert_eq!(Reach::of(&fd), expected, "{v6only:?} {bind_to:?}"),
                Err(e) => eprintln!("SKIPPED IPv6 case {v6only:?} {bind_to:?}: {e}"),
            }
        }
    }
}
