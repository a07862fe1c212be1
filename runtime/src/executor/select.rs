//! Racing futures: [`select`] and [`select3`] resolve with whichever input finishes first.
//!
//! ```
//! use ringline::{Either, select};
//!
//! async fn first_of(a: impl Future<Output = u32>, b: impl Future<Output = u32>) -> u32 {
//!     match select(a, b).await {
//!         Either::Left(n) | Either::Right(n) => n,
//!     }
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// The output of [`select`]: which of two futures finished first, and its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first.
    Left(A),
    /// The second future finished first.
    Right(B),
}

impl<T> Either<T, T> {
    /// Returns the value, whichever side produced it.
    pub fn into_inner(self) -> T {
        match self {
            Either::Left(v) | Either::Right(v) => v,
        }
    }
}

/// The output of [`select3`]: which of three futures finished first, and its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either3<A, B, C> {
    /// The first future finished first.
    First(A),
    /// The second future finished first.
    Second(B),
    /// The third future finished first.
    Third(C),
}

impl<T> Either3<T, T, T> {
    /// Returns the value, whichever future produced it.
    pub fn into_inner(self) -> T {
        match self {
            Either3::First(v) | Either3::Second(v) | Either3::Third(v) => v,
        }
    }
}

pin_project! {
    /// Future returned by [`select`].
    ///
    /// The inputs are polled in place, so they may be `!Unpin`. Polling it again
    /// after it has resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Select<A, B> {
        // `None` once the race is decided: both inputs are dropped right then.
        #[pin]
        a: Option<A>,
        #[pin]
        b: Option<B>,
    }
}

/// Waits for the first of two futures to finish and returns its output.
///
/// Polling is biased: `a` is polled before `b` on every poll, so when both
/// are ready at once the result is [`Either::Left`]. A future that is always
/// ready in `a` therefore starves `b`; put the rarer, more urgent event (a
/// cancellation or shutdown signal) first.
///
/// The losing future is dropped as soon as the winner finishes, which
/// cancels whatever it was waiting on.
pub fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select {
        a: Some(a),
        b: Some(b),
    }
}

const SELECT_DONE: &str = "`Select` polled after completion";

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut a, mut b) = (this.a, this.b);
        let out = if let Poll::Ready(v) = a.as_mut().as_pin_mut().expect(SELECT_DONE).poll(cx) {
            Either::Left(v)
        } else if let Poll::Ready(v) = b.as_mut().as_pin_mut().expect(SELECT_DONE).poll(cx) {
            Either::Right(v)
        } else {
            return Poll::Pending;
        };
        a.set(None);
        b.set(None);
        Poll::Ready(out)
    }
}

pin_project! {
    /// Future returned by [`select3`].
    ///
    /// The inputs are polled in place, so they may be `!Unpin`. Polling it again
    /// after it has resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Select3<A, B, C> {
        #[pin]
        a: Option<A>,
        #[pin]
        b: Option<B>,
        #[pin]
        c: Option<C>,
    }
}

/// Waits for the first of three futures to finish and returns its output.
///
/// Polling is biased in argument order: `a`, then `b`, then `c`, so when
/// several are ready at once the earliest argument wins. The other two are
/// dropped as soon as one finishes.
pub fn select3<A: Future, B: Future, C: Future>(a: A, b: B, c: C) -> Select3<A, B, C> {
    Select3 {
        a: Some(a),
        b: Some(b),
        c: Some(c),
    }
}

const SELECT3_DONE: &str = "`Select3` polled after completion";

impl<A: Future, B: Future, C: Future> Future for Select3<A, B, C> {
    type Output = Either3<A::Output, B::Output, C::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut a, mut b, mut c) = (this.a, this.b, this.c);
        let out = if let Poll::Ready(v) = a.as_mut().as_pin_mut().expect(SELECT3_DONE).poll(cx) {
            Either3::First(v)
        } else if let Poll::Ready(v) = b.as_mut().as_pin_mut().expect(SELECT3_DONE).poll(cx) {
            Either3::Second(v)
        } else if let Poll::Ready(v) = c.as_mut().as_pin_mut().expect(SELECT3_DONE).poll(cx) {
            Either3::Third(v)
        } else {
            return Poll::Pending;
        };
        a.set(None);
        b.set(None);
        c.set(None);
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::marker::PhantomPinned;
    use std::pin::pin;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    /// Test-side handle of a [`Gate`]: completes it and observes its polls and drop.
    #[derive(Default)]
    struct Ctl {
        value: Cell<Option<u32>>,
        waker: RefCell<Option<Waker>>,
        polls: Cell<usize>,
        dropped: Cell<bool>,
    }

    impl Ctl {
        fn open(&self, v: u32) {
            self.value.set(Some(v));
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// A `!Unpin` future that fails the test if it is ever moved between polls.
    struct Gate {
        ctl: Rc<Ctl>,
        addr: Cell<usize>,
        _pin: PhantomPinned,
    }

    fn gate() -> (Rc<Ctl>, Gate) {
        let ctl = Rc::new(Ctl::default());
        let g = Gate {
            ctl: ctl.clone(),
            addr: Cell::new(0),
            _pin: PhantomPinned,
        };
        (ctl, g)
    }

    impl Future for Gate {
        type Output = u32;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            let addr = &*self as *const Gate as usize;
            assert!(
                self.addr.get() == 0 || self.addr.get() == addr,
                "moved while pinned"
            );
            self.addr.set(addr);
            self.ctl.polls.set(self.ctl.polls.get() + 1);
            match self.ctl.value.get() {
                Some(v) => Poll::Ready(v),
                None => {
                    *self.ctl.waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    impl Drop for Gate {
        fn drop(&mut self) {
            self.ctl.dropped.set(true);
        }
    }

    fn poll_once<F: Future>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(w))
    }

    #[test]
    fn biased_towards_first_when_both_ready() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        ca.open(1);
        cb.open(2);
        let (_, w) = counting_waker();
        let mut s = pin!(select(a, b));
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either::Left(1)));
        assert_eq!(
            cb.polls.get(),
            0,
            "second future polled although first was ready"
        );
    }

    #[test]
    fn second_wins_when_first_pending() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        cb.open(7);
        let (_, w) = counting_waker();
        let mut s = pin!(select(a, b));
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either::Right(7)));
        assert_eq!((ca.polls.get(), cb.polls.get()), (1, 1));
    }

    #[test]
    fn pending_until_woken_and_pinned_in_place() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (count, w) = counting_waker();
        let mut s = pin!(select(a, b));
        assert!(poll_once(s.as_mut(), &w).is_pending());
        assert!(poll_once(s.as_mut(), &w).is_pending());
        assert_eq!((ca.polls.get(), cb.polls.get()), (2, 2));
        cb.open(3);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either::Right(3)));
    }

    #[test]
    fn loser_dropped_when_winner_finishes() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (_, w) = counting_waker();
        let mut s = pin!(select(a, b));
        assert!(poll_once(s.as_mut(), &w).is_pending());
        assert!(!cb.dropped.get());
        ca.open(5);
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either::Left(5)));
        assert!(cb.dropped.get(), "loser still alive after select resolved");
        assert!(ca.dropped.get());
    }

    #[test]
    #[should_panic(expected = "`Select` polled after completion")]
    fn select_panics_when_polled_after_completion() {
        let (_, w) = counting_waker();
        let mut s = pin!(select(async { 1 }, async { 2 }));
        assert!(poll_once(s.as_mut(), &w).is_ready());
        let _ = poll_once(s.as_mut(), &w);
    }

    #[test]
    fn select3_priority_and_wakeups() {
        let (_, w) = counting_waker();
        let (c1, a) = gate();
        let (c2, b) = gate();
        let (c3, c) = gate();
        c2.open(2);
        c3.open(3);
        let mut s = pin!(select3(a, b, c));
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either3::Second(2)));
        assert_eq!((c1.polls.get(), c2.polls.get(), c3.polls.get()), (1, 1, 0));
        assert!(c1.dropped.get() && c3.dropped.get());

        let (count, w) = counting_waker();
        let (_, a) = gate();
        let (_, b) = gate();
        let (c3, c) = gate();
        let mut s = pin!(select3(a, b, c));
        assert!(poll_once(s.as_mut(), &w).is_pending());
        c3.open(9);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either3::Third(9)));
    }

    #[test]
    #[should_panic(expected = "`Select3` polled after completion")]
    fn select3_panics_when_polled_after_completion() {
        let (_, w) = counting_waker();
        let mut s = pin!(select3(async { 1 }, async { 2 }, async { 3 }));
        assert_eq!(poll_once(s.as_mut(), &w), Poll::Ready(Either3::First(1)));
        let _ = poll_once(s.as_mut(), &w);
    }

    #[test]
    fn into_inner_unwraps_any_side() {
        assert_eq!(Either::<u8, u8>::Left(1).into_inner(), 1);
        assert_eq!(Either::<u8, u8>::Right(2).into_inner(), 2);
        assert_eq!(Either3::<u8, u8, u8>::First(1).into_inner(), 1);
        assert_eq!(Either3::<u8, u8, u8>::Second(2).into_inner(), 2);
        assert_eq!(Either3::<u8, u8, u8>::Third(3).into_inner(), 3);
    }
}
