//! What every fs op shares: the hold that keeps its memory and descriptor
//! alive for the kernel, the one submission path, the future core that
//! polls and orphans the op slot, and the cleanup of orphans.

use std::ffi::CString;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::driver::sqe::Sqe;
use bytes::BytesMut;

use super::File;
use super::current;
use super::current::Fs;
use super::table::{FileFd, FsState, Permit, Reserved};
use crate::driver::ops::{Completed, OpOwner, OpSlot};
use crate::error::Error;
use crate::executor::context;
use crate::executor::foreign::{self, Foreign, ForeignWait};
use crate::executor::waker::WorkerHandle;
use crate::op::{OpKind, UserData};
use crate::slab::Key;
use crate::stats::op_registry::{PATH_PREFIX, Target};
use crate::stats::task_registry::Wait;

/// Everything an fs op keeps alive until its last CQE. It is boxed into
/// the op slot before the SQE is built, and every pointer the SQE carries
/// points into this box's heap data (never moved while the slot lives).
pub(crate) struct FsHold {
    /// Releases the command when the hold is dropped.
    _permit: Permit,
    /// The file's descriptor, kept open (not reused) while the op runs.
    pub(super) fd: Option<Rc<FileFd>>,
    pub(super) path: Option<CString>,
    /// `rename`'s destination.
    pub(super) path2: Option<CString>,
    /// `read_into`/`write_from`'s buffer; counted as `held_bytes`.
    pub(super) buf: Option<BytesMut>,
    /// `stat`'s output (`statx` on Linux, `stat` elsewhere).
    pub(super) statx: Option<Box<crate::sys::StatBuf>>,
    /// The file slot an `open` will fill.
    pub(super) opening: Option<Reserved>,
}

impl FsHold {
    /// A hold for an op on `file` (or on a path, with `None`): counts the
    /// command and takes a reference to the file's descriptor.
    pub(super) fn new(fs: &FsState, file: Option<File>) -> io::Result<FsHold> {
        let fd = file.map(|f| fs.fd(f)).transpose()?;
        Ok(FsHold {
            _permit: fs.permit()?,
            fd,
            path: None,
            path2: None,
            buf: None,
            statx: None,
            opening: None,
        })
    }

    /// The raw descriptor of the op's file.
    pub(super) fn raw_fd(&self) -> i32 {
        self.fd
            .as_ref()
            .expect("a file op holds its fd")
            .as_raw_fd()
    }
}

/// Runs `f` on the current worker once the fs layer is known to be on.
pub(super) fn with_fs<R>(f: impl FnOnce(&Fs<'_>) -> io::Result<R>) -> io::Result<R> {
    current::try_with(|w| {
        w.fs.borrow().limits()?;
        if w.core.is_shutting_down() {
            return Err(io::Error::other("the ringline runtime is shutting down"));
        }
        f(w)
    })
    .unwrap_or_else(|| Err(current::outside_error()))
}

/// A path as the kernel takes it: its bytes, NUL-terminated.
pub(super) fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path contains an interior NUL byte: {path:?}"),
        )
    })
}

/// Takes an op slot for `hold`, builds the SQE from the hold at its final
/// address and submits it.
///
/// # Safety
///
/// Every pointer in the SQE that `build` returns points either into the
/// `FsHold` it is given (heap data the op slot keeps until the op's CQE,
/// parked in the graveyard if the future is dropped, leaked if the driver
/// is) or to memory the caller keeps valid until the op's CQE.
pub(super) unsafe fn submit(
    w: &Fs<'_>,
    kind: OpKind,
    hold: FsHold,
    site: &'static Location<'static>,
    build: impl FnOnce(&mut FsHold) -> Sqe,
) -> io::Result<Pending> {
    let held_bytes = hold.buf.as_ref().map_or(0, BytesMut::capacity);
    let mut fs = w.fs.borrow_mut();
    let Some(op) = fs.ops.insert(kind, Box::new(hold), held_bytes, 1) else {
        return Err(io::Error::other(Error::ResourceLimit(
            "op slots exhausted (too many operations in flight)".into(),
        )));
    };
    let ud = fs.ops.user_data(op);
    let hold = &mut fs.ops.get_mut(op).expect("just inserted").hold;
    let sqe = build(hold);
    // The registry keeps a prefix of the path: copy one byte more than it
    // keeps (so it can tell a truncated path) out of the hold, which the
    // push below must not see borrowed.
    let mut prefix = [0u8; PATH_PREFIX + 1];
    let (path_len, fd) = match (&hold.path, &hold.fd) {
        (Some(path), _) => {
            let bytes = path.as_bytes();
            let n = bytes.len().min(prefix.len());
            prefix[..n].copy_from_slice(&bytes[..n]);
            (Some(n), None)
        }
        (None, Some(fd)) => (None, Some(fd.as_raw_fd())),
        (None, None) => (None, None),
    };
    let target = match (path_len, fd) {
        (Some(n), _) => Target::Path(&prefix[..n]),
        (None, Some(fd)) => Target::Fd(fd),
        (None, None) => Target::None,
    };
    drop(fs);
    let mut driver = w.core.driver.borrow_mut();
    // SAFETY: by `submit`'s contract every pointer in `sqe` points into the
    // boxed hold's heap data, which the fs op table keeps at its address
    // until the op's CQE (parked in the graveyard if the future is dropped,
    // leaked if the worker gives up on it), or into memory the caller
    // keeps valid until then.
    unsafe { driver.submit(kind, ud, sqe, target, None) };
    Ok(Pending {
        op,
        owner: w.core.handle.clone(),
        done: false,
        foreign: None,
        kind,
        site,
    })
}

/// The core of every fs future: its op slot, the worker that submitted it,
/// and whether its output was taken.
///
/// Polled or dropped on another thread, it asks its worker to cancel the
/// op (see `executor::foreign`) and resolves, with `InvalidInput`, only
/// once that worker reports the kernel done with it: `fs::read` and
/// `fs::write` lend the kernel the caller's memory until then.
pub(super) struct Pending {
    op: Key,
    owner: Arc<WorkerHandle>,
    done: bool,
    /// Set once the future was polled off its worker.
    foreign: Option<Arc<ForeignWait>>,
    kind: OpKind,
    /// The user's call that made the future.
    site: &'static Location<'static>,
}

impl Pending {
    /// The op's result and hold once its CQE is in. `what` names the
    /// future in errors.
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        what: &str,
    ) -> Poll<io::Result<(i32, Box<FsHold>)>> {
        if self.done {
            return Poll::Ready(Err(io::Error::other(format!(
                "{what} polled after completion"
            ))));
        }
        let op = self.op;
        // `Some(poll)` on the op's own worker, `None` anywhere else.
        let local = current::try_with(|w| {
            Arc::ptr_eq(&w.core.handle, &self.owner)
                .then(|| w.fs.borrow_mut().ops.poll(op, cx.waker()))
        })
        .flatten();
        let out = match local {
            Some(polled) => polled.map(|(result, slot)| Ok((result, slot.hold))),
            None => self.poll_foreign(cx, what),
        };
        match out {
            Some(r) => {
                self.done = true;
                Poll::Ready(r)
            }
            None => {
                context::parked(Wait::Op(self.kind), self.site);
                Poll::Pending
            }
        }
    }

    /// Polled off the op's worker: the first poll asks that worker to
    /// cancel the op; the future resolves once it reports the kernel done.
    /// `None` while the op may still run (forever, if that worker gave up
    /// on its kernel ops at shutdown).
    fn poll_foreign(
        &mut self,
        cx: &mut Context<'_>,
        what: &str,
    ) -> Option<io::Result<(i32, Box<FsHold>)>> {
        let wait = self.foreign.get_or_insert_with(|| {
            let wait = Arc::new(ForeignWait::default());
            self.owner.request(Foreign::AbandonOp {
                owner: OpOwner::Fs,
                op: self.op,
                notify: Some(wait.clone()),
            });
            wait
        });
        if wait.poll_done(cx.waker()) || self.owner.exited_clean() {
            return Some(Err(foreign::wrong_worker(what)));
        }
        None
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.done || self.foreign.is_some() {
            return;
        }
        let op = self.op;
        let local = current::try_with(|w| {
            let local = Arc::ptr_eq(&w.core.handle, &self.owner);
            if local {
                w.orphan_op(op, None);
            }
            local
        });
        if local != Some(true) {
            self.owner.request(Foreign::AbandonOp {
                owner: OpOwner::Fs,
                op,
                notify: None,
            });
        }
    }
}

/// Turns a CQE result into a count or the errno it carries.
pub(super) fn check(result: i32) -> io::Result<i32> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result)
    }
}

impl Fs<'_> {
    /// A file op's CQE.
    pub(crate) fn on_fs_cqe(&self, ud: UserData, result: i32) {
        let done = self.fs.borrow_mut().ops.complete(ud, result);
        if let Completed::Orphan(slot, result) = done {
            self.reap_orphan(slot, result);
        }
    }

    /// The future waiting on file op `op` was dropped, or polled on
    /// another thread, which waits on `notify` (see `Reactor::orphan_op`).
    pub(crate) fn orphan_op(&self, op: Key, notify: Option<Arc<ForeignWait>>) {
        let finished = {
            let mut fs = self.fs.borrow_mut();
            self.core.orphan_op(&mut fs.ops, op, notify)
        };
        if let Some((slot, result)) = finished {
            self.reap_orphan(slot, result);
        }
    }

    /// Cleans up after a file op whose future was dropped, once the kernel
    /// is done with it: a file opened for nobody is closed and its table
    /// slot freed; then the hold (buffer, paths, fd reference, command) is
    /// dropped.
    fn reap_orphan(&self, mut slot: OpSlot<Box<FsHold>>, result: i32) {
        let notify = self.core.reaped(&mut slot);
        let hold = slot.hold;
        if let Some(reserved) = hold.opening {
            if result >= 0 {
                // SAFETY: a successful openat CQE carries a new descriptor
                // that nothing else owns; wrapping it closes it exactly once.
                drop(unsafe { OwnedFd::from_raw_fd(result) });
            }
            self.fs.borrow_mut().release(reserved);
        }
        drop(hold);
        if let Some(n) = notify {
            n.finish();
        }
    }
}

/// Future of [`fsync`](super::fsync), [`read`](super::read),
/// [`write`](super::write), [`rename`](super::rename),
/// [`remove`](super::remove) and [`mkdir`](super::mkdir): the byte count
/// (reads, writes) or 0 (the others), or the operation's error.
///
/// Dropping it before it resolves submits a best-effort cancel; what the op
/// holds is kept until the kernel reports back. Polled on another thread
/// than the worker that started it, it has that worker cancel the op and
/// resolves with `InvalidInput` once the kernel is done with it.
#[must_use = "futures do nothing unless awaited"]
pub struct DiskIoFuture {
    pub(super) pending: Pending,
}

impl Future for DiskIoFuture {
    type Output = io::Result<i32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .pending
            .poll(cx, "fs::DiskIoFuture::poll")
            .map(|r| r.and_then(|(result, _hold)| check(result)))
    }
}
