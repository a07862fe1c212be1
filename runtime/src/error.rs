//! The error types of ringline's public API.
//!
//! One enum, [`Error`], covers launching and running the runtime; the
//! narrower [`UdpSendError`] and [`TimerExhausted`] belong to the calls that
//! return them, so callers can match on exactly what can happen there. Every
//! message is lowercase and, where a setting or a retry fixes it, says so.

use std::io;

/// Errors returned by the ringline runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The runtime could not be set up: an invalid [`Config`](crate::Config)
    /// field (the message starts with `invalid config:` and names the field
    /// and its valid range), or an io_uring instance that could not be
    /// created or lacks a feature the runtime needs (the message names it).
    #[error("{0}")]
    RingSetup(String),
    /// Registering a provided-buffer ring with the kernel failed (the
    /// runtime registers no other buffers).
    #[error("buffer registration failed: {0}")]
    BufferRegistration(String),
    /// Every connection slot of the worker is in use.
    #[error("connection limit reached (raise Config::max_connections or close idle connections)")]
    ConnectionLimitReached,
    /// The connection token is stale (the connection was closed and its slot
    /// reused) or out of range.
    #[error("invalid connection: it was closed, or its slot now belongs to another connection")]
    InvalidConnection,
    /// Every copy-send slot of the worker is held by an in-flight send, or
    /// the connection holds its whole share of them
    /// ([`Config::send_copy_per_connection`](crate::Config::send_copy_per_connection)).
    #[error(
        "send pool exhausted, or this connection's share of it (Config::send_copy_per_connection) is used up: raise Config::send_copy_count, or wait for in-flight sends to complete"
    )]
    SendPoolExhausted,
    /// A system resource or limit does not allow what the configuration asks
    /// for (for example `RLIMIT_NOFILE` below `max_connections`); the message
    /// says which, and what is needed.
    #[error("{0}")]
    ResourceLimit(String),
    /// Never returned: registered memory regions are not part of this
    /// runtime. Kept so exhaustive matches written against ringline 0.1
    /// still compile.
    #[error("invalid memory region")]
    InvalidRegion,
    /// Never returned; kept for ringline 0.1 source compatibility, as
    /// [`Error::InvalidRegion`].
    #[error("pointer not within a registered memory region")]
    PointerOutOfRegion,
}

/// Errors returned by [`UdpCtx::send_to`](crate::UdpCtx::send_to).
#[derive(Debug, thiserror::Error)]
pub enum UdpSendError {
    /// Every UDP send slot of the socket is held by an in-flight send; retry
    /// after one completes.
    #[error(
        "udp send pool exhausted (raise Config::udp_send_slots, or retry after in-flight sends complete)"
    )]
    PoolExhausted,
    /// The submission queue had no free entry for the send; retry after the
    /// worker's next loop iteration.
    #[error("submission queue full (retry later, or raise Config::sq_entries)")]
    SubmissionQueueFull,
    /// The send failed in the kernel.
    #[error("udp send failed: {0}")]
    Io(#[from] io::Error),
}

/// Returned by [`try_sleep`](crate::try_sleep) and
/// [`try_timeout`](crate::try_timeout) (and their `_until`/`_at` forms) when
/// every timer slot of the worker is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "timer slot pool exhausted (raise Config::timer_slots, or wait for pending timers to fire)"
)]
pub struct TimerExhausted;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_name_the_fix() {
        let cases: [(String, &str); 5] = [
            (Error::ConnectionLimitReached.to_string(), "max_connections"),
            (Error::SendPoolExhausted.to_string(), "send_copy_count"),
            (UdpSendError::PoolExhausted.to_string(), "udp_send_slots"),
            (UdpSendError::SubmissionQueueFull.to_string(), "sq_entries"),
            (TimerExhausted.to_string(), "timer_slots"),
        ];
        for (message, fix) in cases {
            assert!(message.contains(fix), "{message:?} should name {fix}");
            assert!(
                message.starts_with(|c: char| c.is_lowercase()),
                "{message:?} should start lowercase"
            );
        }
    }

    #[test]
    fn io_errors_convert_and_keep_their_source() {
        let err: Error = io::Error::from(io::ErrorKind::PermissionDenied).into();
        assert!(matches!(err, Error::Io(ref e) if e.kind() == io::ErrorKind::PermissionDenied));
        assert!(std::error::Error::source(&err).is_some());

        let err: UdpSendError = io::Error::from(io::ErrorKind::ConnectionRefused).into();
        assert!(matches!(err, UdpSendError::Io(_)));
    }

    #[test]
    fn ring_setup_displays_its_message_bare() {
        let err = Error::RingSetup("invalid config: sq_entries must be a power of two".into());
        assert_eq!(
            err.to_string(),
            "invalid config: sq_entries must be a power of two"
        );
    }
}
