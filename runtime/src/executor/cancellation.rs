//! Cooperative cancellation between tasks on one worker: [`CancellationToken`].
//!
//! ```
//! use ringline::{CancellationToken, Either, select};
//!
//! async fn serve(token: CancellationToken, work: impl Future<Output = ()>) {
//!     // Shutdown first, so it wins when both are ready.
//!     if let Either::Left(()) = select(token.cancelled(), work).await {
//!         println!("cancelled");
//!     }
//! }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

/// State shared by a token, its clones and their `cancelled()` futures.
#[derive(Default)]
struct Node {
    cancelled: bool,
    /// Parked wakers, slab style: a `CancelledFuture` owns its index until it
    /// resolves or is dropped, and freed indices are reused, so repeatedly
    /// creating and dropping futures does not grow this.
    waiters: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Weak so that a long-lived parent does not keep finished children alive.
    children: Vec<Weak<RefCell<Node>>>,
    /// Strong so that a child dropped by its owner still relays cancellation
    /// from its parent down to its own surviving children.
    _parent: Option<Rc<RefCell<Node>>>,
}

/// A token for cooperative cancellation of tasks on the same worker.
///
/// Clones share one state: cancelling any clone cancels them all. A token
/// is `!Send`; it never leaves the worker thread it was created on.
/// Cancellation is a request, not a preemption: tasks observe it through
/// [`is_cancelled`](Self::is_cancelled) or by awaiting
/// [`cancelled`](Self::cancelled), typically raced with their work in a
/// [`select`](crate::select).
#[derive(Clone, Default)]
pub struct CancellationToken {
    node: Rc<RefCell<Node>>,
}

impl CancellationToken {
    /// Creates a token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels this token and, recursively, every child token created from it.
    ///
    /// Wakes every task waiting in [`cancelled`](Self::cancelled) on any of
    /// them. Calling it again is a no-op.
    pub fn cancel(&self) {
        if self.is_cancelled() {
            return;
        }
        let mut pending = vec![self.node.clone()];
        while let Some(node) = pending.pop() {
            let (waiters, children) = {
                let mut n = node.borrow_mut();
                if n.cancelled {
                    continue;
                }
                n.cancelled = true;
                n.free = Vec::new();
                (mem::take(&mut n.waiters), mem::take(&mut n.children))
            };
            pending.extend(children.iter().filter_map(Weak::upgrade));
            // Woken only after the borrow is released: a waker may run any code.
            for waker in waiters.into_iter().flatten() {
                waker.wake();
            }
        }
    }

    /// Returns true once this token, or any ancestor, has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.borrow().cancelled
    }

    /// Returns a future that resolves once this token is cancelled, at once
    /// if it already is.
    ///
    /// Dropping the future before then withdraws its wakeup registration, so
    /// it is cheap to create one per iteration of a `select` loop.
    pub fn cancelled(&self) -> CancelledFuture {
        CancelledFuture {
            node: self.node.clone(),
            slot: None,
        }
    }

    /// Creates a child token: cancelled whenever this one is, but cancelling
    /// the child leaves this token untouched.
    ///
    /// A child of an already-cancelled token starts out cancelled. This token
    /// does not keep its children alive.
    pub fn child_token(&self) -> CancellationToken {
        let mut parent = self.node.borrow_mut();
        if parent.cancelled {
            return CancellationToken {
                node: Rc::new(RefCell::new(Node {
                    cancelled: true,
                    ..Node::default()
                })),
            };
        }
        let child = Rc::new(RefCell::new(Node {
            _parent: Some(self.node.clone()),
            ..Node::default()
        }));
        // Pruning only when the list would reallocate keeps the cost amortised
        // O(1) and the list within twice the number of live children.
        if parent.children.len() == parent.children.capacity() {
            parent.children.retain(|c| c.strong_count() > 0);
        }
        parent.children.push(Rc::downgrade(&child));
        CancellationToken { node: child }
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Future returned by [`CancellationToken::cancelled`]; resolves to `()` once
/// the token is cancelled.
///
/// It holds its own reference to the token's state, so it does not borrow
/// the token. Once cancelled it stays ready: polling again returns `Ready`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CancelledFuture {
    node: Rc<RefCell<Node>>,
    /// Index of this future's parked waker, while it has one.
    slot: Option<usize>,
}

impl Future for CancelledFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut node = this.node.borrow_mut();
        if node.cancelled {
            // `cancel` already took the waiter list; the index means nothing now.
            this.slot = None;
            return Poll::Ready(());
        }
        match this.slot {
            Some(i) => {
                if let Some(w) = &mut node.waiters[i]
                    && !w.will_wake(cx.waker())
                {
                    *w = cx.waker().clone();
                }
            }
            None => {
                let waker = Some(cx.waker().clone());
                let i = match node.free.pop() {
                    Some(i) => {
                        node.waiters[i] = waker;
                        i
                    }
                    None => {
                        node.waiters.push(waker);
                        node.waiters.len() - 1
                    }
                };
                this.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for CancelledFuture {
    fn drop(&mut self) {
        let Some(i) = self.slot.take() else { return };
        let waker = {
            let mut node = self.node.borrow_mut();
            if node.cancelled {
                return;
            }
            node.free.push(i);
            node.waiters[i].take()
        };
        drop(waker);
    }
}

impl fmt::Debug for CancelledFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledFuture")
            .field("cancelled", &self.node.borrow().cancelled)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

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

    fn wakes(c: &Counter) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    fn poll(f: &mut CancelledFuture, w: &Waker) -> Poll<()> {
        Pin::new(f).poll(&mut Context::from_waker(w))
    }

    fn live_waiters(t: &CancellationToken) -> usize {
        t.node
            .borrow()
            .waiters
            .iter()
            .filter(|w| w.is_some())
            .count()
    }

    #[test]
    fn cancel_wakes_every_waiter_once_and_is_idempotent() {
        let token = CancellationToken::new();
        let clone = token.clone();
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut f1 = token.cancelled();
        let mut f2 = clone.cancelled();
        assert!(poll(&mut f1, &w1).is_pending());
        assert!(poll(&mut f2, &w2).is_pending());
        assert!(!token.is_cancelled());
        clone.cancel();
        clone.cancel();
        token.cancel();
        assert!(token.is_cancelled());
        assert_eq!((wakes(&c1), wakes(&c2)), (1, 1));
        assert!(poll(&mut f1, &w1).is_ready());
        assert!(poll(&mut f2, &w2).is_ready());
        assert!(poll(&mut f2, &w2).is_ready(), "must stay ready");
    }

    #[test]
    fn already_cancelled_resolves_immediately_without_registering() {
        let token = CancellationToken::default();
        token.cancel();
        let (c, w) = counting_waker();
        assert!(poll(&mut token.cancelled(), &w).is_ready());
        drop(w);
        assert_eq!((wakes(&c), Arc::strong_count(&c)), (0, 1));
    }

    #[test]
    fn repoll_with_new_waker_wakes_only_the_latest() {
        let token = CancellationToken::new();
        let (c1, w1) = counting_waker();
        let (c2, w2) = counting_waker();
        let mut f = token.cancelled();
        assert!(poll(&mut f, &w1).is_pending());
        assert!(poll(&mut f, &w2).is_pending());
        assert_eq!(live_waiters(&token), 1);
        drop(w1);
        assert_eq!(Arc::strong_count(&c1), 1, "stale waker retained");
        token.cancel();
        assert_eq!((wakes(&c1), wakes(&c2)), (0, 1));
    }

    #[test]
    fn dropped_future_deregisters_and_releases_waker() {
        let token = CancellationToken::new();
        let (c, w) = counting_waker();
        let mut keep = token.cancelled();
        assert!(poll(&mut keep, &w).is_pending());
        for _ in 0..1000 {
            let mut f = token.cancelled();
            assert!(poll(&mut f, &w).is_pending());
            assert_eq!(live_waiters(&token), 2);
        }
        assert!(token.node.borrow().waiters.len() <= 2, "waiter list grew");
        drop(keep);
        assert_eq!(live_waiters(&token), 0);
        drop(w);
        assert_eq!(Arc::strong_count(&c), 1, "waker retained after drop");
        token.cancel();
        assert_eq!(wakes(&c), 0);
    }

    #[test]
    fn cancel_releases_wakers() {
        let token = CancellationToken::new();
        let (c, w) = counting_waker();
        let mut f = token.cancelled();
        assert!(poll(&mut f, &w).is_pending());
        drop(w);
        token.cancel();
        assert_eq!(Arc::strong_count(&c), 1);
        drop(f);
        assert_eq!(wakes(&c), 1);
    }

    #[test]
    fn children_follow_parent_but_not_the_reverse() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let grandchild = child.child_token();
        let sibling = parent.child_token();
        let (c, w) = counting_waker();
        let mut f = grandchild.cancelled();
        assert!(poll(&mut f, &w).is_pending());

        child.cancel();
        assert!(child.is_cancelled() && grandchild.is_cancelled());
        assert!(!parent.is_cancelled() && !sibling.is_cancelled());
        assert_eq!(wakes(&c), 1);

        parent.cancel();
        assert!(sibling.is_cancelled());
        assert_eq!(wakes(&c), 1, "already-cancelled child woken twice");
    }

    #[test]
    fn child_of_cancelled_parent_starts_cancelled() {
        let parent = CancellationToken::new();
        parent.cancel();
        let child = parent.child_token();
        assert!(child.is_cancelled());
        let (_, w) = counting_waker();
        assert!(poll(&mut child.cancelled(), &w).is_ready());
    }

    #[test]
    fn cancellation_reaches_grandchild_through_dropped_child() {
        let root = CancellationToken::new();
        let grandchild = root.child_token().child_token();
        let (c, w) = counting_waker();
        let mut f = grandchild.cancelled();
        assert!(poll(&mut f, &w).is_pending());
        root.cancel();
        assert!(grandchild.is_cancelled());
        assert_eq!(wakes(&c), 1);
    }

    #[test]
    fn dropped_children_are_freed_and_pruned() {
        let parent = CancellationToken::new();
        let first = Rc::downgrade(&parent.child_token().node);
        assert!(first.upgrade().is_none(), "parent keeps child alive");
        for _ in 0..1000 {
            drop(parent.child_token().cancelled());
        }
        assert!(parent.node.borrow().children.len() <= 8, "child list grew");

        let live: Vec<_> = (0..100).map(|_| parent.child_token()).collect();
        for _ in 0..1000 {
            drop(parent.child_token());
        }
        assert!(parent.node.borrow().children.len() <= 200);
        parent.cancel();
        assert!(live.iter().all(CancellationToken::is_cancelled));
    }

    #[test]
    fn debug_shows_state() {
        let token = CancellationToken::new();
        assert_eq!(
            format!("{token:?}"),
            "CancellationToken { cancelled: false }"
        );
        token.cancel();
        assert_eq!(
            format!("{:?}", token.cancelled()),
            "CancelledFuture { cancelled: true }"
        );
    }
}
