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
//!
//! The server and its socket's safety checks are here; the client, the
//! protocol types and the socket directory are in the `ringline-schema`
//! crate (what tools that only read a process depend on) and re-exported
//! below.

mod answer;
mod lines;
pub(crate) mod server;
mod socket_dir;

// Not API: what the `cargo fuzz` target in `fuzz/` calls (see its docs).
#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod structured_fuzz;

// At the paths these have always had (see the module docs).
#[doc(inline)]
pub use ringline_schema::inspect::wire;
#[doc(inline)]
pub use ringline_schema::inspect::{
    Client, DEFAULT_TIMEOUT, Endpoint, Subscription, list, socket_dir, socket_path,
};
pub use server::{IDLE, MAX_CLIENTS, STALL};
