//! The address of a connection's peer: a plain value that the connection
//! table keeps, handlers read (`ConnCtx::peer_addr`) and the stats layer
//! records for the op registry — so it sits below all of them.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The address of a connection's peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A Unix-socket peer (its bound path; often empty for clients).
    Unix(PathBuf),
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(path) if path.as_os_str().is_empty() => f.write_str("unix:(unnamed)"),
            PeerAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}
