//! The errors the channels return: plain values, lowercase messages.

use std::error::Error;
use std::fmt;

/// The [`oneshot::Sender`](super::oneshot::Sender) was dropped without
/// sending a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sender dropped without sending a value")
    }
}

impl Error for RecvError {}

/// The receiver was dropped, so the value could not be delivered; it is
/// handed back in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed: receiver dropped")
    }
}

impl<T: fmt::Debug> Error for SendError<T> {}

/// Why a non-blocking receive returned no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued yet, but a sender may still send.
    Empty,
    /// Nothing is queued and no sender is left, so nothing ever will be.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "channel empty",
            TryRecvError::Disconnected => "channel empty and all senders dropped",
        })
    }
}

impl Error for TryRecvError {}

/// Why [`mpsc::Sender::try_send`](super::mpsc::Sender::try_send) did not
/// queue the value; the value is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity (or blocked senders are queued ahead).
    Full(T),
    /// The receiver was dropped.
    Closed(T),
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "channel full",
            TrySendError::Closed(_) => "channel closed: receiver dropped",
        })
    }
}

impl<T: fmt::Debug> Error for TrySendError<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_lowercase_and_are_errors() {
        let errs: [&dyn Error; 6] = [
            &RecvError,
            &SendError(1),
            &TryRecvError::Empty,
            &TryRecvError::Disconnected,
            &TrySendError::Full(1),
            &TrySendError::Closed(1),
        ];
        for e in errs {
            let msg = e.to_string();
            assert!(!msg.is_empty() && msg == msg.to_lowercase(), "{msg}");
        }
        assert_ne!(
            TrySendError::Full(1).to_string(),
            TrySendError::Closed(1).to_string()
        );
        assert_ne!(
            TryRecvError::Empty.to_string(),
            TryRecvError::Disconnected.to_string()
        );
    }
}
