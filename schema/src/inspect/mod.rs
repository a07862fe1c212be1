//! The inspect socket, from the reader's side: where each process's socket
//! is ([`socket_dir`], [`socket_path`], [`list`]), the protocol it speaks
//! ([`wire`]) and a blocking [`Client`] for it.
//!
//! A process that runs ringline (with its `inspect` feature, on by default)
//! serves newline-delimited JSON on a unix socket at
//! [`socket_path(pid)`](socket_path); `ringline-top` and the sidecar
//! exporter are built on this client. By hand:
//!
//! ```text
//! $ echo '{"cmd":"ops","min_age_ms":1000}' | socat - UNIX-CONNECT:/run/user/1000/ringline/4242.sock | jq .
//! ```
//!
//! The wire types compile everywhere; the client and the directory
//! functions, which speak unix sockets, on unix only; [`locate`], which
//! finds the socket of a process in another namespace (a container)
//! through `/proc`, on Linux only.

pub mod wire;

#[cfg(unix)]
mod client;
#[cfg(target_os = "linux")]
mod namespaces;
#[cfg(unix)]
mod socket_dir;

#[cfg(unix)]
pub use client::{Client, DEFAULT_TIMEOUT, Subscription};
#[cfg(unix)]
pub use socket_dir::{Endpoint, choose_dir, list, list_in, own_uid, socket_dir, socket_path};

#[cfg(target_os = "linux")]
pub use namespaces::{LocateError, Located, locate};
