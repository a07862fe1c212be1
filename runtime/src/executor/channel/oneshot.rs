//! A channel that carries exactly one value, e.g. a reply from another task.

use super::ends::Ends;
use super::{RecvError, TryRecvError};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
    ends: Ends,
}

/// Creates a oneshot channel. Awaiting the receiver is a wait whose site
/// (for `ringline-top` and `stats::tasks`) is this call.
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        waker: None,
        sender_alive: true,
        receiver_alive: true,
        ends: Ends::new(),
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver {
            inner,
            site: Location::caller(),
        },
    )
}

/// Sending half of a oneshot channel. Dropping it unsent makes the
/// receiver resolve to `Err(RecvError)`.
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends the value, waking the receiver.
    ///
    /// Returns `Err(value)` if the receiver has already been dropped.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if !inner.receiver_alive {
                return Err(value);
            }
            inner.ends.sent();
            inner.value = Some(value);
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.sender_alive = false;
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Receiving half of a oneshot channel; await it for the value.
///
/// Resolves to `Ok(value)` once sent, or `Err(RecvError)` if the sender
/// was dropped without sending (also when polled again after the value
/// was taken).
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
    /// The `channel` call that made it.
    site: &'static Location<'static>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has been sent, without waiting.
    ///
    /// Fails with [`TryRecvError::Empty`] while the sender may still send,
    /// and [`TryRecvError::Disconnected`] once it is gone (dropped
    /// unsent, or the value was already taken).
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.borrow_mut();
        match inner.value.take() {
            Some(v) => Ok(v),
            None if inner.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let Some(v) = inner.value.take() {
            return Poll::Ready(Ok(v));
        }
        if !inner.sender_alive {
            return Poll::Ready(Err(RecvError));
        }
        match &mut inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        inner.ends.wait_recv(self.site);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.receiver_alive = false;
            inner.waker.take()
        };
        drop(waker);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::oneshot;
    use super::super::test_waker::{counting_waker, poll, wakes};
    use super::{RecvError, TryRecvError};
    use std::sync::Arc;
    use std::task::Poll;

    #[test]
    fn oneshot_send_wakes_pending_receiver_once() {
        let (tx, mut rx) = oneshot::channel();
        let (c, w) = counting_waker();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(poll(&mut rx, &w).is_pending());
        assert!(poll(&mut rx, &w).is_pending());
        assert_eq!(tx.send(7), Ok(()));
        assert_eq!(wakes(&c), 1, "send must wake exactly once");
        assert_eq!(poll(&mut rx, &w), Poll::Ready(Ok(7)));
        assert_eq!(poll(&mut rx, &w), Poll::Ready(Err(RecvError)));
        drop(w);
        assert_eq!(Arc::strong_count(&c), 1, "waker retained");
    }

    #[test]
    fn oneshot_try_recv_after_send() {
        let (tx, rx) = oneshot::channel();
        tx.send("hi").unwrap();
        assert_eq!(rx.try_recv(), Ok("hi"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn oneshot_sender_dropped_unsent() {
        let (tx, mut rx) = oneshot::channel::<u8>();
        let (c, w) = counting_waker();
        assert!(poll(&mut rx, &w).is_pending());
        drop(tx);
        assert_eq!(wakes(&c), 1);
        assert_eq!(poll(&mut rx, &w), Poll::Ready(Err(RecvError)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn oneshot_send_to_dropped_receiver_returns_value() {
        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert_eq!(tx.send(String::from("back")), Err(String::from("back")));
    }

    #[test]
    fn oneshot_receiver_drop_releases_waker() {
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let (tx, mut rx) = oneshot::channel::<u8>();
        assert!(poll(&mut rx, &w1).is_pending());
        assert!(poll(&mut rx, &w2).is_pending());
        drop(w1);
        assert_eq!(Arc::strong_count(&c1), 1, "replaced waker retained");
        drop(rx);
        drop(w2);
        assert_eq!(Arc::strong_count(&c2), 1, "waker retained after drop");
        assert_eq!(wakes(&c2), 0);
        drop(tx);
    }
}
