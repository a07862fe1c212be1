//! Running futures side by side on one task: [`join`] and [`join3`] wait for all inputs.
//!
//! ```
//! use ringline::join;
//!
//! async fn both(a: impl Future<Output = u32>, b: impl Future<Output = &'static str>) {
//!     let (n, s) = join(a, b).await;
//!     println!("{n} {s}");
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

const JOIN_DONE: &str = "join future polled after completion";

pin_project! {
    /// One input of a join: still running, finished with its output held,
    /// or emptied.
    #[project = MaybeDoneProj]
    #[project_replace = MaybeDoneReplace]
    enum MaybeDone<F: Future> {
        Running { #[pin] future: F },
        Done { output: F::Output },
        Taken,
    }
}

impl<F: Future> MaybeDone<F> {
    fn new(future: F) -> MaybeDone<F> {
        MaybeDone::Running { future }
    }

    /// Polls the input if it is still running; true once its output is held.
    fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Running { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
            MaybeDoneProj::Taken => panic!("{JOIN_DONE}"),
        };
        // Drops the finished future where it lies.
        self.set(MaybeDone::Done { output });
        true
    }

    /// Moves the output out once the input is done.
    fn take_output(self: Pin<&mut Self>) -> F::Output {
        match self.project_replace(MaybeDone::Taken) {
            MaybeDoneReplace::Done { output } => output,
            _ => panic!("{JOIN_DONE}"),
        }
    }
}

pin_project! {
    /// Future returned by [`join`].
    ///
    /// The inputs are polled in place, so they may be `!Unpin`. Polling it again
    /// after it has resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Join<A: Future, B: Future> {
        #[pin]
        a: MaybeDone<A>,
        #[pin]
        b: MaybeDone<B>,
    }
}

/// Runs two futures concurrently on the current task and returns both
/// outputs, in argument order, once both have finished.
///
/// Each poll polls every input that has not finished yet, first `a` then
/// `b`; a finished input is dropped immediately and its output held until the
/// other one finishes. There is no short-circuiting: to stop early on an
/// error, race against a cancellation with [`select`](crate::select) instead.
pub fn join<A: Future, B: Future>(a: A, b: B) -> Join<A, B> {
    Join {
        a: MaybeDone::new(a),
        b: MaybeDone::new(b),
    }
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut a, mut b) = (this.a, this.b);
        // Non-short-circuiting `&`: both sides get their poll this round.
        if a.as_mut().poll_done(cx) & b.as_mut().poll_done(cx) {
            Poll::Ready((a.take_output(), b.take_output()))
        } else {
            Poll::Pending
        }
    }
}

pin_project! {
    /// Future returned by [`join3`].
    ///
    /// The inputs are polled in place, so they may be `!Unpin`. Polling it again
    /// after it has resolved panics.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Join3<A: Future, B: Future, C: Future> {
        #[pin]
        a: MaybeDone<A>,
        #[pin]
        b: MaybeDone<B>,
        #[pin]
        c: MaybeDone<C>,
    }
}

/// Runs three futures concurrently on the current task and returns all
/// outputs, in argument order, once all have finished.
///
/// Polling works as for [`join`]: every unfinished input once per poll, in
/// argument order, each finished input dropped as soon as it is done.
pub fn join3<A: Future, B: Future, C: Future>(a: A, b: B, c: C) -> Join3<A, B, C> {
    Join3 {
        a: MaybeDone::new(a),
        b: MaybeDone::new(b),
        c: MaybeDone::new(c),
    }
}

impl<A: Future, B: Future, C: Future> Future for Join3<A, B, C> {
    type Output = (A::Output, B::Output, C::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut a, mut b, mut c) = (this.a, this.b, this.c);
        if a.as_mut().poll_done(cx) & b.as_mut().poll_done(cx) & c.as_mut().poll_done(cx) {
            Poll::Ready((a.take_output(), b.take_output(), c.take_output()))
        } else {
            Poll::Pending
        }
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

    /// A `!Unpin` future that fails the test if it is moved between polls or
    /// polled after it finished.
    struct Gate {
        ctl: Rc<Ctl>,
        addr: Cell<usize>,
        done: Cell<bool>,
        _pin: PhantomPinned,
    }

    fn gate() -> (Rc<Ctl>, Gate) {
        let ctl = Rc::new(Ctl::default());
        let g = Gate {
            ctl: ctl.clone(),
            addr: Cell::new(0),
            done: Cell::new(false),
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
            assert!(!self.done.get(), "polled after completion");
            self.addr.set(addr);
            self.ctl.polls.set(self.ctl.polls.get() + 1);
            match self.ctl.value.get() {
                Some(v) => {
                    self.done.set(true);
                    Poll::Ready(v)
                }
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
    fn outputs_in_argument_order_whatever_finishes_first() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (count, w) = counting_waker();
        let mut j = pin!(join(a, async move { b.await.to_string() }));
        assert!(poll_once(j.as_mut(), &w).is_pending());
        cb.open(2);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll_once(j.as_mut(), &w).is_pending());
        ca.open(1);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(poll_once(j.as_mut(), &w), Poll::Ready((1, "2".to_string())));
    }

    #[test]
    fn polls_each_unfinished_side_once_per_poll() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (_, w) = counting_waker();
        let mut j = pin!(join(a, b));
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert_eq!((ca.polls.get(), cb.polls.get()), (1, 1));
        ca.open(1);
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert_eq!((ca.polls.get(), cb.polls.get()), (2, 2));
        // `a` is finished: further polls leave it alone.
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert_eq!((ca.polls.get(), cb.polls.get()), (2, 3));
        cb.open(2);
        assert_eq!(poll_once(j.as_mut(), &w), Poll::Ready((1, 2)));
        assert_eq!((ca.polls.get(), cb.polls.get()), (2, 4));
    }

    #[test]
    fn finished_side_dropped_before_the_other_finishes() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (_, w) = counting_waker();
        let mut j = pin!(join(a, b));
        ca.open(1);
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert!(ca.dropped.get(), "finished input kept alive");
        assert!(!cb.dropped.get());
        cb.open(2);
        assert!(poll_once(j.as_mut(), &w).is_ready());
        assert!(cb.dropped.get());
    }

    #[test]
    fn ready_inputs_resolve_on_first_poll() {
        let (_, w) = counting_waker();
        let mut j = pin!(join(async { 'x' }, async { 5u8 }));
        assert_eq!(poll_once(j.as_mut(), &w), Poll::Ready(('x', 5)));
    }

    #[test]
    #[should_panic(expected = "join future polled after completion")]
    fn join_panics_when_polled_after_completion() {
        let (_, w) = counting_waker();
        let mut j = pin!(join(async { 1 }, async { 2 }));
        assert!(poll_once(j.as_mut(), &w).is_ready());
        let _ = poll_once(j.as_mut(), &w);
    }

    #[test]
    fn join3_order_polls_and_drops() {
        let (ca, a) = gate();
        let (cb, b) = gate();
        let (cc, c) = gate();
        let (count, w) = counting_waker();
        let mut j = pin!(join3(a, b, c));
        cc.open(3);
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert!(cc.dropped.get() && !ca.dropped.get() && !cb.dropped.get());
        ca.open(1);
        assert!(poll_once(j.as_mut(), &w).is_pending());
        assert_eq!((ca.polls.get(), cb.polls.get(), cc.polls.get()), (2, 2, 1));
        cb.open(2);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(poll_once(j.as_mut(), &w), Poll::Ready((1, 2, 3)));
        assert_eq!((ca.polls.get(), cb.polls.get(), cc.polls.get()), (2, 3, 1));
    }

    #[test]
    #[should_panic(expected = "join future polled after completion")]
    fn join3_panics_when_polled_after_completion() {
        let (_, w) = counting_waker();
        let mut j = pin!(join3(async { 1 }, async { 2 }, async { 3 }));
        assert_eq!(poll_once(j.as_mut(), &w), Poll::Ready((1, 2, 3)));
        let _ = poll_once(j.as_mut(), &w);
    }
}
