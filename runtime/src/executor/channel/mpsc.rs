//! A bounded multi-producer, single-consumer channel with backpressure.
//!
//! Senders blocked on a full channel are served in the order they started
//! waiting; a slot freed by the receiver is reserved for the longest
//! waiting sender, so neither [`Sender::try_send`] nor a newly polled
//! send can overtake it.

use super::ends::Ends;
use super::{SendError, TryRecvError, TrySendError};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Parked wakers in arrival order. Ids only grow, so the list stays sorted
/// and a registration is found by binary search.
#[derive(Default)]
struct WaitList {
    next_id: u64,
    entries: VecDeque<(u64, Waker)>,
}

impl WaitList {
    fn position(&self, id: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.0).ok()
    }

    /// Parks `waker` under `*id`, refreshing it if still listed, otherwise
    /// appending a new entry at the back.
    fn park(&mut self, id: &mut Option<u64>, waker: &Waker) {
        if let Some(i) = id.and_then(|id| self.position(id)) {
            let parked = &mut self.entries[i].1;
            if !parked.will_wake(waker) {
                *parked = waker.clone();
            }
            return;
        }
        *id = Some(self.next_id);
        self.entries.push_back((self.next_id, waker.clone()));
        self.next_id += 1;
    }

    fn remove(&mut self, id: u64) -> Option<Waker> {
        let i = self.position(id)?;
        self.entries.remove(i).map(|e| e.1)
    }
}

struct Shared<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// Slots promised to woken senders that have not pushed yet.
    reserved: usize,
    senders: usize,
    receiver_alive: bool,
    /// Invariant: non-empty only while `free_slots() == 0`.
    blocked_senders: WaitList,
    blocked_receivers: WaitList,
    ends: Ends,
}

impl<T> Shared<T> {
    fn free_slots(&self) -> usize {
        self.capacity - self.queue.len() - self.reserved
    }

    /// Reserves a free slot for the longest-waiting sender and returns its
    /// waker, to be woken once the borrow is released.
    fn grant(&mut self) -> Option<Waker> {
        if self.free_slots() == 0 {
            return None;
        }
        let (_, waker) = self.blocked_senders.entries.pop_front()?;
        self.reserved += 1;
        Some(waker)
    }
}

type Chan<T> = Rc<RefCell<Shared<T>>>;

/// Wakes everyone parked in `list` without holding the borrow while a
/// waker runs; bounded by the starting length in case one re-parks.
fn wake_all<T>(chan: &Chan<T>, list: fn(&mut Shared<T>) -> &mut WaitList) {
    let n = list(&mut chan.borrow_mut()).entries.len();
    for _ in 0..n {
        let Some((_, w)) = list(&mut chan.borrow_mut()).entries.pop_front() else {
            break;
        };
        w.wake();
    }
}

/// Creates a channel that queues up to `capacity` values before senders
/// have to wait. A capacity of 0 is treated as 1: there is no rendezvous
/// mode.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Shared {
        queue: VecDeque::new(),
        capacity: capacity.max(1),
        reserved: 0,
        senders: 1,
        receiver_alive: true,
        blocked_senders: WaitList::default(),
        blocked_receivers: WaitList::default(),
        ends: Ends::new(),
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Sending half of an mpsc channel. Clone it for more producers; the
/// channel disconnects once every clone is dropped.
pub struct Sender<T> {
    chan: Chan<T>,
}

impl<T> Sender<T> {
    /// Queues the value if there is room, without waiting.
    ///
    /// Fails with [`TrySendError::Full`] when the channel is at capacity
    /// or other senders are already waiting for room, and
    /// [`TrySendError::Closed`] when the receiver has been dropped.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        {
            let mut s = self.chan.borrow_mut();
            if !s.receiver_alive {
                return Err(TrySendError::Closed(value));
            }
            s.ends.sent();
            if s.free_slots() == 0 {
                return Err(TrySendError::Full(value));
            }
            s.queue.push_back(value);
        }
        wake_all(&self.chan, |s| &mut s.blocked_receivers);
        Ok(())
    }

    /// Returns a future that queues the value, waiting for room while the
    /// channel is full.
    ///
    /// Resolves to `Err(SendError(value))` if the receiver is dropped
    /// before the value is queued. Dropping the future gives up its place
    /// in line without losing a wakeup meant for another sender.
    #[track_caller]
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            id: None,
            site: Location::caller(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        let mut s = self.chan.borrow_mut();
        s.senders += 1;
        s.ends.sent();
        drop(s);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut s = self.chan.borrow_mut();
            s.senders -= 1;
            s.senders == 0
        };
        if last {
            wake_all(&self.chan, |s| &mut s.blocked_receivers);
        }
    }
}

/// Future returned by [`Sender::send`]; resolves to `Ok(())` once the
/// value is queued. Polling it again after that panics.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct SendFuture<'a, T> {
    sender: &'a Sender<T>,
    value: Option<T>,
    /// This future's entry in `blocked_senders`; once it is gone from the
    /// list while the receiver lives, a slot has been reserved for us.
    id: Option<u64>,
    /// The user's call that made it.
    site: &'static Location<'static>,
}

// The value is only ever moved, never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut s = this.sender.chan.borrow_mut();
        let value = this
            .value
            .take()
            .expect("`SendFuture` polled after completion");
        if !s.receiver_alive {
            this.id = None;
            return Poll::Ready(Err(SendError(value)));
        }
        let may_push = match this.id {
            Some(id) if s.blocked_senders.position(id).is_none() => {
                s.reserved -= 1;
                true
            }
            Some(_) => false,
            None => s.free_slots() > 0,
        };
        if !may_push {
            this.value = Some(value);
            s.blocked_senders.park(&mut this.id, cx.waker());
            s.ends.wait_send(this.site);
            return Poll::Pending;
        }
        s.ends.sent();
        this.id = None;
        s.queue.push_back(value);
        drop(s);
        wake_all(&this.sender.chan, |s| &mut s.blocked_receivers);
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let (parked, next) = {
            let mut s = self.sender.chan.borrow_mut();
            if !s.receiver_alive {
                return;
            }
            match s.blocked_senders.remove(id) {
                Some(w) => (Some(w), None),
                // Woken with a reserved slot but never used it: hand the
                // slot and the wakeup to the next sender in line.
                None => {
                    s.reserved -= 1;
                    (None, s.grant())
                }
            }
        };
        drop(parked);
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// Receiving half of an mpsc channel.
///
/// Dropping it closes the channel: queued values are dropped and blocked
/// senders are woken to get their value back in a [`SendError`].
pub struct Receiver<T> {
    chan: Chan<T>,
}

impl<T> Receiver<T> {
    /// Takes the next value if one is queued, without waiting.
    ///
    /// Fails with [`TryRecvError::Empty`] while senders remain, and
    /// [`TryRecvError::Disconnected`] once all are dropped and the queue
    /// is drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (value, granted) = {
            let mut s = self.chan.borrow_mut();
            s.ends.received();
            match s.queue.pop_front() {
                Some(v) => {
                    let granted = s.grant();
                    (v, granted)
                }
                None if s.senders == 0 => return Err(TryRecvError::Disconnected),
                None => return Err(TryRecvError::Empty),
            }
        };
        if let Some(w) = granted {
            w.wake();
        }
        Ok(value)
    }

    /// Returns a future that resolves to the next value, or `None` once
    /// every sender is dropped and the queue is drained.
    #[track_caller]
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            receiver: self,
            id: None,
            site: Location::caller(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut s = self.chan.borrow_mut();
            s.receiver_alive = false;
            s.reserved = 0;
            std::mem::take(&mut s.queue)
        };
        drop(queued);
        wake_all(&self.chan, |s| &mut s.blocked_senders);
    }
}

/// Future returned by [`Receiver::recv`]; resolves to the next value, or
/// `None` once the channel is disconnected and drained.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct RecvFuture<'a, T> {
    receiver: &'a Receiver<T>,
    id: Option<u64>,
    /// The user's call that made it.
    site: &'static Location<'static>,
}

impl<T> RecvFuture<'_, T> {
    fn unpark(&mut self) {
        if let Some(id) = self.id.take() {
            let parked = self.receiver.chan.borrow_mut().blocked_receivers.remove(id);
            drop(parked);
        }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        match this.receiver.try_recv() {
            Ok(v) => {
                this.unpark();
                Poll::Ready(Some(v))
            }
            Err(TryRecvError::Disconnected) => {
                this.unpark();
                Poll::Ready(None)
            }
            Err(TryRecvError::Empty) => {
                let mut s = this.receiver.chan.borrow_mut();
                s.blocked_receivers.park(&mut this.id, cx.waker());
                s.ends.wait_recv(this.site);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.unpark();
    }
}

#[cfg(test)]
impl<T> Receiver<T> {
    /// (blocked senders, blocked receivers, reserved slots), for leak checks.
    pub(super) fn parked(&self) -> (usize, usize, usize) {
        let s = self.chan.borrow();
        let (tx, rx) = (&s.blocked_senders.entries, &s.blocked_receivers.entries);
        (tx.len(), rx.len(), s.reserved)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::mpsc;
    use super::super::test_waker::{counting_waker, poll, wakes};
    use super::{SendError, TryRecvError, TrySendError};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::Poll;

    #[test]
    fn mpsc_in_order_up_to_capacity() {
        let (tx, rx) = mpsc::channel(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(tx.try_send(3), Ok(()));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn mpsc_zero_capacity_acts_as_one() {
        let (tx, rx) = mpsc::channel(0);
        assert_eq!(tx.try_send('a'), Ok(()));
        assert_eq!(tx.try_send('b'), Err(TrySendError::Full('b')));
        assert_eq!(rx.try_recv(), Ok('a'));
    }

    #[test]
    fn mpsc_recv_waits_and_is_woken_by_send() {
        let (tx, rx) = mpsc::channel(4);
        let (c, w) = counting_waker();
        let mut r = rx.recv();
        assert!(poll(&mut r, &w).is_pending());
        assert!(poll(&mut r, &w).is_pending());
        let mut s = tx.send(5);
        assert_eq!(poll(&mut s, &w), Poll::Ready(Ok(())));
        assert_eq!(wakes(&c), 1);
        assert_eq!(poll(&mut r, &w), Poll::Ready(Some(5)));
        drop((r, s, w));
        assert_eq!(Arc::strong_count(&c), 1, "waker retained");
    }

    #[test]
    fn mpsc_backpressure_wakes_blocked_senders_in_fifo_order() {
        let (tx, rx) = mpsc::channel(1);
        let tx2 = tx.clone();
        tx.try_send(0).unwrap();
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut s1 = tx.send(1);
        let mut s2 = tx2.send(2);
        assert!(poll(&mut s1, &w1).is_pending());
        assert!(poll(&mut s2, &w2).is_pending());
        // The freed slot is reserved for s1: nobody may overtake it.
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 0));
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        let mut late = tx.send(3);
        assert!(poll(&mut late, &w2).is_pending());
        assert!(poll(&mut s2, &w2).is_pending());
        assert_eq!(poll(&mut s1, &w1), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 1));
        assert_eq!(poll(&mut s2, &w2), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(poll(&mut late, &w2), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn mpsc_repoll_with_new_waker_wakes_only_the_latest() {
        let (tx, rx) = mpsc::channel(1);
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut r = rx.recv();
        assert!(poll(&mut r, &w1).is_pending());
        assert!(poll(&mut r, &w2).is_pending());
        tx.try_send(1).unwrap();
        assert_eq!((wakes(&c1), wakes(&c2)), (0, 1));
        drop(r);

        let mut s = tx.send(2);
        assert!(poll(&mut s, &w1).is_pending());
        assert!(poll(&mut s, &w2).is_pending());
        drop(w1);
        assert_eq!(Arc::strong_count(&c1), 1, "replaced waker retained");
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!((wakes(&c1), wakes(&c2)), (0, 2));
        assert_eq!(poll(&mut s, &w2), Poll::Ready(Ok(())));
    }

    #[test]
    fn mpsc_dropped_waiting_sender_deregisters() {
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let (c, w) = counting_waker();
        for i in 0..1000 {
            let mut s = tx.send(i);
            assert!(poll(&mut s, &w).is_pending());
        }
        assert_eq!(rx.parked(), (0, 0, 0));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.parked(), (0, 0, 0), "slot reserved for a dropped sender");
        assert_eq!(tx.try_send(1), Ok(()));
        drop(w);
        assert_eq!((wakes(&c), Arc::strong_count(&c)), (0, 1));
    }

    #[test]
    fn mpsc_woken_sender_dropped_passes_wakeup_on() {
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut s1 = tx.send(1);
        let mut s2 = tx.send(2);
        assert!(poll(&mut s1, &w1).is_pending());
        assert!(poll(&mut s2, &w2).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 0));
        drop(s1);
        assert_eq!(wakes(&c2), 1, "wakeup lost with the dropped sender");
        assert_eq!(poll(&mut s2, &w2), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn mpsc_receiver_drop_fails_blocked_and_later_sends() {
        let (tx, rx) = mpsc::channel(1);
        let probe = Rc::new(0);
        tx.try_send(probe.clone()).unwrap();
        let (c, w) = counting_waker();
        let mut s = tx.send(Rc::new(1));
        assert!(poll(&mut s, &w).is_pending());
        drop(rx);
        assert_eq!(wakes(&c), 1);
        assert_eq!(
            Rc::strong_count(&probe),
            1,
            "queued value outlived receiver"
        );
        assert_eq!(poll(&mut s, &w), Poll::Ready(Err(SendError(Rc::new(1)))));
        assert_eq!(
            tx.try_send(Rc::new(2)),
            Err(TrySendError::Closed(Rc::new(2)))
        );
        let mut s = tx.send(Rc::new(3));
        assert_eq!(poll(&mut s, &w), Poll::Ready(Err(SendError(Rc::new(3)))));
        drop((s, w));
        assert_eq!(Arc::strong_count(&c), 1);
    }

    #[test]
    fn mpsc_recv_ends_only_after_last_sender_and_drain() {
        let (tx, rx) = mpsc::channel::<u8>(4);
        let tx2 = tx.clone();
        let (c, w) = counting_waker();
        let mut r = rx.recv();
        assert!(poll(&mut r, &w).is_pending());
        drop(tx);
        assert_eq!(wakes(&c), 0, "woken while a sender remains");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx2);
        assert_eq!(wakes(&c), 1);
        assert_eq!(poll(&mut r, &w), Poll::Ready(None));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(poll(&mut rx.recv(), &w), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut rx.recv(), &w), Poll::Ready(None));
    }

    #[test]
    fn mpsc_dropped_recv_future_deregisters() {
        let (tx, rx) = mpsc::channel(1);
        let (c, w) = counting_waker();
        for _ in 0..1000 {
            assert!(poll(&mut rx.recv(), &w).is_pending());
        }
        assert_eq!(rx.parked(), (0, 0, 0));
        drop(w);
        assert_eq!(Arc::strong_count(&c), 1, "waker retained after drop");
        tx.try_send(()).unwrap();
        assert_eq!(wakes(&c), 0);
    }

    #[test]
    fn mpsc_every_concurrent_recv_is_woken() {
        let (tx, rx) = mpsc::channel(1);
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let (mut r1, mut r2) = (rx.recv(), rx.recv());
        assert!(poll(&mut r1, &w1).is_pending());
        assert!(poll(&mut r2, &w2).is_pending());
        tx.try_send(4).unwrap();
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 1));
        drop(r1);
        assert_eq!(poll(&mut r2, &w2), Poll::Ready(Some(4)));
    }
}
