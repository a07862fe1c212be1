//! The inspect socket: attach to a live process by pid and read its stats
//! (feature `inspect`, on by default).
//!
//! Each process that launches a runtime (with `Config::inspect`, the
//! default, and without `RINGLINE_INSPECT=0`) serves newline-delimited JSON
//! on a unix socket at [`socket_path(pid)`](socket_path), from one thread
//! that only reads lock-free stats. [`Client`] speaks the protocol
//! ([`wire`]); `ringline-top` and the sidecar exporter are built on it. By
//! hand:
//!
//! ```text
//! $ echo '{"cmd":"ops","min_age_ms":1000}' | socat - UNIX-CONNECT:/run/user/1000/ringline/4242.sock | jq .
//! ```

mod answer;
mod client;
mod lines;
pub(crate) mod server;
mod socket_dir;
pub mod wire;

// Not API: what the `cargo fuzz` target in `fuzz/` calls (see its docs).
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod structured_fuzz;

pub use client::{Client, DEFAULT_TIMEOUT, Subscription};
pub use server::{IDLE, MAX_CLIENTS, STALL};
pub use socket_dir::{Endpoint, list, socket_dir, socket_path};
