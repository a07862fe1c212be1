//! The per-worker I/O driver.
//!
//! Contract every backend keeps (io_uring today, mio next):
//! - it is owned by one worker thread and never touched from another;
//! - every operation it starts is accounted by [`OpKind`](crate::op::OpKind)
//!   at submission and again at completion, through one function each;
//! - memory the kernel (or a pool thread) may still write is never freed or
//!   reused before its completion is seen: dropped futures park it in their
//!   op slot (the graveyard) until then;
//! - resources are fixed-capacity slabs and exhaustion is an error value;
//! - waiting honours the nearest timer deadline and the worker's eventfd.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::Backend;

pub(crate) mod uring;

/// The backend the most recently launched runtime chose; io_uring until
/// one launches.
static CURRENT: AtomicU8 = AtomicU8::new(0);

pub(crate) fn current_backend() -> Backend {
    match CURRENT.load(Ordering::Relaxed) {
        1 => Backend::Mio,
        _ => Backend::IoUring,
    }
}

pub(crate) fn set_current_backend(backend: Backend) {
    CURRENT.store(
        match backend {
            Backend::IoUring => 0,
            Backend::Mio => 1,
        },
        Ordering::Relaxed,
    );
}
