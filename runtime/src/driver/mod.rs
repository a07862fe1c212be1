//! The per-worker I/O driver: one [`Driver`] per worker, running on one of
//! two backends chosen at launch (`Io::Uring` or `Io::Mio`). The io_uring
//! backend exists only on Linux; elsewhere `Io` has the mio variant alone.
//!
//! Contract every backend keeps:
//! - it is owned by one worker thread and never touched from another;
//! - every operation it starts is accounted by [`OpKind`](crate::op::OpKind)
//!   at submission and again at completion, through one function each;
//! - memory the kernel (or a pool thread) may still write is never freed or
//!   reused before its completion is seen: dropped futures park it in their
//!   op slot (the graveyard) until then;
//! - resources are fixed-capacity slabs and exhaustion is an error value;
//! - waiting honours the nearest timer deadline and the worker's wake fd
//!   (an eventfd on Linux, a pipe elsewhere);
//! - completions look the same whatever the backend: a [`Cqe`] with the
//!   op's `user_data`, a result (`-errno` on failure) and io_uring's flag
//!   bits for "more to come" and "data in buffer N".

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::Backend;
use crate::sys::{cfg_not_uring, cfg_uring};

mod buffers;
mod core;
pub(crate) mod lifecycle;
pub(crate) mod mio;
pub(crate) mod ops;
pub(crate) mod sqe;
cfg_uring! {
    pub(crate) mod uring;
}

pub(crate) use self::core::Driver;
#[cfg(test)]
pub(crate) use self::core::test_hooks;
pub(crate) use self::ops::op_slots;

/// One reaped completion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cqe {
    pub(crate) user_data: u64,
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

impl Cqe {
    /// `IORING_CQE_F_BUFFER`: the upper 16 flag bits name a buffer.
    pub(crate) const F_BUFFER: u32 = 1 << 0;
    /// `IORING_CQE_F_MORE`: a multishot op stays armed after this one.
    pub(crate) const F_MORE: u32 = 1 << 1;
    const BUFFER_SHIFT: u32 = 16;

    /// True when a multishot op stays armed after this completion.
    #[inline]
    pub(crate) fn more(&self) -> bool {
        self.flags & Self::F_MORE != 0
    }

    /// The buffer holding this completion's data, if any.
    #[inline]
    pub(crate) fn buffer(&self) -> Option<u16> {
        (self.flags & Self::F_BUFFER != 0).then_some((self.flags >> Self::BUFFER_SHIFT) as u16)
    }

    /// The flags of a completion whose data is in buffer `bid`.
    #[inline]
    pub(crate) fn buffer_flags(bid: u16, more: bool) -> u32 {
        Self::F_BUFFER
            | (u32::from(bid) << Self::BUFFER_SHIFT)
            | if more { Self::F_MORE } else { 0 }
    }
}

/// The backend the most recently launched runtime chose; until one
/// launches, the platform's native one (io_uring on Linux, mio elsewhere).
static CURRENT: AtomicU8 = AtomicU8::new(if cfg!(target_os = "linux") { 0 } else { 1 });

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

cfg_not_uring! {
    /// Why asking for io_uring fails here.
    pub(crate) fn uring_unsupported() -> crate::error::Error {
        crate::error::Error::RingSetup("io_uring is only available on Linux".into())
    }
}
