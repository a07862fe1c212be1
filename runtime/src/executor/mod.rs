//! The single-threaded executor each worker runs: tasks, wakers, time, and
//! the worker-local coordination primitives (channels, select/join,
//! cancellation).
//!
//! Tasks are `!Send` and never leave the worker that spawned them. A waker
//! is a packed [`waker::WakeRef`]: waking on the owning thread pushes onto
//! the local ready queue (no atomics); waking from any other thread goes
//! through the worker's lock-free remote queue and wake fd (an eventfd on
//! Linux, a pipe elsewhere).

pub(crate) mod cancellation;
pub(crate) mod channel;
pub(crate) mod context;
pub(crate) mod foreign;
pub(crate) mod join;
pub(crate) mod local;
pub(crate) mod select;
pub(crate) mod shutdown;
pub(crate) mod task;
pub(crate) mod time;
pub(crate) mod timer;
pub(crate) mod waker;
