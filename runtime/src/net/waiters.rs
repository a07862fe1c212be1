//! The futures waiting for one socket to receive: any number may wait on
//! one connection or UDP socket at once (several tasks may hold a copy of
//! its `ConnCtx` or `UdpCtx`), and every one is woken when bytes, a
//! datagram or the end of the stream arrive. A woken future that finds
//! nothing left (another took it) waits again: a spurious wake.
//!
//! ```text
//!   poll, nothing there ──► wait(ticket): join the back, or refresh the
//!                           waker in place (the place is kept)
//!   arrival ──────────────► wake_all: every waker, oldest waiter first
//!   future dropped ───────► leave(ticket): out of the list
//! ```
//!
//! Oldest first, so that tasks taking turns on one socket each get theirs:
//! a task that just received and waits again goes behind those that were
//! already waiting.
//!
//! Each waiting future holds a [`Ticket`] and leaves when dropped, so the
//! list holds no more than the futures waiting now, however many come and
//! go. (A list of bare wakers, de-duplicated by `will_wake`, was rejected:
//! it keeps a waker for every task that ever waited and gave up, e.g. on a
//! timeout, until the next arrival — unbounded on a quiet socket.) The
//! first waiter is stored inline: one waiter, the usual case, allocates
//! nothing; the rest go to a `Vec` that keeps its capacity.

use std::task::Waker;

/// A waiting future's place in a [`Waiters`] list of worker `gid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    gid: u16,
    /// Unique in its list: 64 bits never wrap in practice.
    id: u64,
}

struct Entry {
    id: u64,
    /// `None` once woken, until the future waits again.
    waker: Option<Waker>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Waiters {
    /// The oldest waiter; `None` only when `rest` is empty too.
    first: Option<Entry>,
    /// The others, oldest first.
    rest: Vec<Entry>,
    next_id: u64,
}

impl Waiters {
    /// Registers `waker` for the future holding `ticket` on worker `gid`:
    /// refreshes its entry, or joins the back of the list (and sets
    /// `ticket`) when it has none here.
    #[inline]
    pub(crate) fn wait(&mut self, ticket: &mut Option<Ticket>, gid: u16, waker: &Waker) {
        if let Some(t) = *ticket
            && t.gid == gid
            && let Some(entry) = self.entry_mut(t.id)
        {
            match &entry.waker {
                Some(old) if old.will_wake(waker) => {}
                _ => entry.waker = Some(waker.clone()),
            }
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry {
            id,
            waker: Some(waker.clone()),
        };
        if self.first.is_none() {
            self.first = Some(entry);
        } else {
            self.rest.push(entry);
        }
        *ticket = Some(Ticket { gid, id });
    }

    /// Takes the future holding `ticket` out of the list (it resolved or
    /// was dropped); a no-op for a ticket of another worker or list.
    #[inline]
    pub(crate) fn leave(&mut self, ticket: Ticket, gid: u16) {
        if ticket.gid != gid {
            return;
        }
        if self.first.as_ref().is_some_and(|e| e.id == ticket.id) {
            self.first = (!self.rest.is_empty()).then(|| self.rest.remove(0));
        } else if let Some(at) = self.rest.iter().position(|e| e.id == ticket.id) {
            self.rest.remove(at);
        }
    }

    /// Wakes every waiting future, oldest first. Each keeps its place
    /// until it leaves.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        // The usual case, one waiter, without an iterator chain.
        if let Some(waker) = self.first.as_mut().and_then(|e| e.waker.take()) {
            waker.wake();
        }
        for entry in &mut self.rest {
            if let Some(waker) = entry.waker.take() {
                waker.wake();
            }
        }
    }

    #[inline]
    fn entry_mut(&mut self, id: u64) -> Option<&mut Entry> {
        match &mut self.first {
            Some(first) if first.id == id => Some(first),
            _ => self.rest.iter_mut().find(|e| e.id == id),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.first.iter().count() + self.rest.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    use super::*;

    /// A waker that logs its name each time it is woken.
    struct Logged(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Wake for Logged {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    fn waker(name: &'static str, log: &Arc<Mutex<Vec<&'static str>>>) -> Waker {
        Waker::from(Arc::new(Logged(name, log.clone())))
    }

    fn woken(log: &Arc<Mutex<Vec<&'static str>>>) -> Vec<&'static str> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    #[test]
    fn every_waiter_is_woken_oldest_first_and_keeps_its_place() {
        let log = Arc::default();
        let (a, b, c) = (waker("a", &log), waker("b", &log), waker("c", &log));
        let mut waiters = Waiters::default();
        let (mut ta, mut tb, mut tc) = (None, None, None);
        waiters.wait(&mut ta, 1, &a);
        waiters.wait(&mut tb, 1, &b);
        waiters.wait(&mut tc, 1, &c);
        waiters.wake_all();
        assert_eq!(woken(&log), ["a", "b", "c"]);
        waiters.wake_all();
        assert!(woken(&log).is_empty(), "a waker fires once per wait");

        // `a` got the data and left; `c` and `b` wait again, in that order.
        waiters.leave(ta.take().unwrap(), 1);
        waiters.wait(&mut tc, 1, &c);
        waiters.wait(&mut tb, 1, &b);
        waiters.wait(&mut ta, 1, &a);
        waiters.wake_all();
        assert_eq!(woken(&log), ["b", "c", "a"], "b and c kept their places");
    }

    #[test]
    fn one_future_polled_again_holds_one_entry_with_its_latest_waker() {
        let log = Arc::default();
        let (a, b) = (waker("a", &log), waker("b", &log));
        let mut waiters = Waiters::default();
        let mut ticket = None;
        for _ in 0..10 {
            waiters.wait(&mut ticket, 1, &a);
        }
        assert_eq!(waiters.len(), 1);
        waiters.wait(&mut ticket, 1, &b);
        waiters.wake_all();
        assert_eq!(woken(&log), ["b"], "the future moved to another task");
    }

    #[test]
    fn futures_that_come_and_go_leave_nothing_behind() {
        let log = Arc::default();
        let mut waiters = Waiters::default();
        let mut stays = None;
        waiters.wait(&mut stays, 1, &waker("stays", &log));
        for _ in 0..10_000 {
            let mut ticket = None;
            waiters.wait(&mut ticket, 1, &waker("gone", &log));
            waiters.leave(ticket.unwrap(), 1);
        }
        assert_eq!(waiters.len(), 1);
        waiters.leave(stays.unwrap(), 1);
        assert_eq!(waiters.len(), 0);
        waiters.wake_all();
        assert!(woken(&log).is_empty());
    }

    #[test]
    fn a_ticket_of_another_worker_is_ignored() {
        let log = Arc::default();
        let mut waiters = Waiters::default();
        let mut here = None;
        waiters.wait(&mut here, 1, &waker("here", &log));
        let mut elsewhere = here;
        // Polled on worker 2: a new entry, and worker 1's is left alone.
        waiters.wait(&mut elsewhere, 2, &waker("elsewhere", &log));
        assert_ne!(elsewhere, here);
        waiters.leave(here.unwrap(), 2);
        assert_eq!(
            waiters.len(),
            2,
            "a leave from the wrong worker removed nothing"
        );
        waiters.leave(here.unwrap(), 1);
        assert_eq!(waiters.len(), 1);
    }
}
