//! Channels between tasks on one worker: [`oneshot`] for a single reply and
//! [`mpsc`] for a bounded stream with backpressure.
//!
//! Both are `!Send`: they connect tasks on the same worker thread and never
//! take a lock. Each lives in its own file; the errors they share are in
//! `error`.
//!
//! ```
//! use ringline::mpsc;
//!
//! async fn pipeline() {
//!     let (tx, rx) = mpsc::channel(16);
//!     let producer = async move {
//!         for i in 0..100 {
//!             // Waits while 16 values are queued.
//!             if tx.send(i).await.is_err() {
//!                 break; // the receiver is gone
//!             }
//!         }
//!     };
//!     let consumer = async move { while let Some(_i) = rx.recv().await {} };
//!     ringline::join(producer, consumer).await;
//! }
//! ```

mod ends;
mod error;
pub mod mpsc;
pub mod oneshot;
#[cfg(test)]
mod test_waker;

pub use self::error::{RecvError, SendError, TryRecvError, TrySendError};
