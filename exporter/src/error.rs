//! The crate's one error type.

use std::io;

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address does not resolve to a socket address.
    #[error(
        "cannot resolve listen address {addr}: {source}; give an ip:port such as 127.0.0.1:9464"
    )]
    Resolve {
        /// The address as given.
        addr: String,
        /// What resolving it said.
        #[source]
        source: io::Error,
    },
    /// No resolved address could be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port or stop the process holding it")]
    Bind {
        /// The address as given.
        addr: String,
        /// The last bind error.
        #[source]
        source: io::Error,
    },
    /// A thread of the exporter could not be started.
    #[error(
        "cannot start the exporter's {what} thread: {source}; raise the thread limit (ulimit -u)"
    )]
    Spawn {
        /// Which thread.
        what: &'static str,
        /// What `std::thread::Builder::spawn` said.
        #[source]
        source: io::Error,
    },
    /// A builder option is out of range.
    #[error("invalid exporter option: {0}")]
    Option(String),
    /// A source label name is not a valid, free Prometheus label name.
    #[error(
        "invalid label name {0:?}: use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __, \
         and none of ringline's own labels or `le`"
    )]
    Label(String),
}
