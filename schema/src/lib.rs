//! What a running ringline process reports about itself, as plain data:
//! the stats [`Snapshot`](stats::Snapshot) and its parts, the fixed
//! latency-histogram layout, the metric catalogue, the names of op kinds
//! and pools, and the inspect socket's protocol with a blocking
//! [`Client`](inspect::Client).
//!
//! Everything here is plain data + serde and compiles on any OS (the
//! client and the socket directory, which speak unix sockets, on unix
//! only). It depends on serde and serde_json alone, so programs that only
//! *read* a ringline process link none of the runtime:
//!
//! ```text
//!  ringline (runtime) ───┐                 ┌─── ringline-top (inspector)
//!  writes the counters,  ├──▶ ringline-  ◀─┼─── ringline-exporter sidecar
//!  serves the socket     │    schema       └─── your own tools
//!  ringline-exporter  ───┘
//!  (embedded, in-process)
//! ```
//!
//! The runtime re-exports these items where its users have always found
//! them (`ringline::stats::Snapshot`, `ringline::stats::histogram`,
//! `ringline::stats::catalog`, `ringline::inspect::{Client, wire, ..}`),
//! so a program can name either path; they are the same types.
//!
//! # Compatibility of the wire protocol
//!
//! A reader built from one version of this crate attaches to processes
//! built with another, so the JSON shapes change only compatibly:
//!
//! - Fields are added, never renamed or removed; an added field carries
//!   `#[serde(default)]` so that snapshots of older processes still parse.
//!   Unknown fields are ignored on the way in (except in requests, which
//!   are strict so that a typo is refused rather than silently ignored).
//! - Op and pool names (`op`, `slab`) are open sets: a reader shows names it
//!   does not know, it never rejects them.
//! - An incompatible change bumps [`SCHEMA_VERSION`](stats::SCHEMA_VERSION)
//!   (snapshots) or [`PROTOCOL_VERSION`](inspect::wire::PROTOCOL_VERSION)
//!   (requests and responses); a server refuses requests of a protocol
//!   version it does not speak with `unsupported_version`.
//! - The histogram layout is fixed (its table is checked in as
//!   `src/stats/histogram_layout.txt`), and `hello` carries it as data
//!   ([`Layout`](stats::Layout)) for readers that want to check.
//!
//! ```no_run
//! # #[cfg(unix)] {
//! use ringline_schema::inspect::Client;
//!
//! let mut client = Client::connect(4242)?;
//! let snapshot = client.snapshot()?;
//! for op in snapshot.stuck_ops(std::time::Duration::from_secs(1)) {
//!     println!("{} stuck for {} ms", op.op, op.age_ns / 1_000_000);
//! }
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

pub mod inspect;
pub mod record;
pub mod stats;
