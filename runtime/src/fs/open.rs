//! Opening (`openat`) and closing files.

use std::future::Future;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::driver::sqe::Sqe;

use super::op::{FsHold, Pending, check, cstring, submit, with_fs};
use super::{File, OpenFlags};
use crate::op::OpKind;

/// Opens the file at `path` (relative paths resolve against the process's
/// working directory) with `flags`; `mode` sets the permissions of a file
/// that [`OpenFlags::CREATE`] creates (less the umask). The future yields
/// the worker-local [`File`] handle.
///
/// The file's table slot is taken now, so a full table fails here rather
/// than after the kernel opened the file. Dropping the future before it
/// resolves cancels the open; a file the kernel opened anyway is closed
/// and its slot freed when its completion arrives.
///
/// On both backends a FIFO opened read-only opens at once even with no
/// writer (as `open(2)` with `O_NONBLOCK` would), and its reads then wait
/// for data without holding up other file ops.
///
/// # Errors
///
/// The call fails (it does not panic) off a worker thread; with "filesystem
/// disabled" (`Unsupported`) when `Config::fs` is `None`; with
/// `InvalidInput` when `path` contains a NUL byte; with kind `Other` when
/// `FsConfig::max_files` files are open or `FsConfig::max_commands_in_flight`
/// ops are in flight (the message names the limit); off Linux, with
/// `Unsupported` for [`OpenFlags::DIRECT`]. The future fails with the
/// `openat(2)` error (`NotFound`, `PermissionDenied`, …).
#[track_caller]
pub fn open(path: impl AsRef<Path>, flags: OpenFlags, mode: u32) -> io::Result<OpenFuture> {
    let site = Location::caller();
    let path = path.as_ref();
    with_fs(|w| {
        let flags = flags.open_flags()? | libc::O_CLOEXEC;
        let c_path = cstring(path)?;
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        let reserved = w.fs.borrow_mut().reserve()?;
        hold.path = Some(c_path);
        hold.opening = Some(reserved);
        // SAFETY: the SQE points only at the path, which lives in the hold.
        let submitted = unsafe {
            submit(w, OpKind::FsOpen, hold, site, |h| {
                let path = h.path.as_ref().expect("set above");
                Sqe::OpenAt {
                    path: path.as_ptr(),
                    flags,
                    mode,
                }
            })
        };
        match submitted {
            Ok(pending) => Ok(OpenFuture { pending }),
            Err(e) => {
                w.fs.borrow_mut().release(reserved);
                Err(e)
            }
        }
    })
}

/// Creates (or truncates) the file at `path` for writing, with mode
/// `0o644`: [`open`] with `WRITE | CREATE | TRUNCATE`.
///
/// # Errors
///
/// As [`open`].
#[track_caller]
pub fn create(path: impl AsRef<Path>) -> io::Result<OpenFuture> {
    open(
        path,
        OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        0o644,
    )
}

/// Future of [`open`] and [`create`]: the opened [`File`], or the open's
/// error.
///
/// # Panics
///
/// Polling it outside a ringline worker thread panics.
#[must_use = "futures do nothing unless awaited"]
pub struct OpenFuture {
    pending: Pending,
}

impl Future for OpenFuture {
    type Output = io::Result<File>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<File>> {
        let (result, mut hold) = match self.get_mut().pending.poll(cx, "fs::OpenFuture::poll") {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(done)) => done,
        };
        let reserved = hold.opening.take().expect("open ops reserve a slot");
        Poll::Ready(super::current::with("fs::OpenFuture::poll", |w| {
            let mut fs = w.fs.borrow_mut();
            match check(result) {
                Ok(fd) => {
                    // SAFETY: a successful openat CQE carries a new
                    // descriptor that nothing else owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                    let path = hold.path.as_ref().map(|p| p.as_bytes());
                    Ok(fs.finish_open(reserved, fd, path))
                }
                Err(e) => {
                    fs.release(reserved);
                    Err(e)
                }
            }
        }))
    }
}

/// Closes `file`: its handle (every copy) is stale at once and its table
/// slot free for the next [`open`]. This is synchronous: no SQE, no
/// await.
///
/// When ops on the file are still in flight (or were dropped and not yet
/// cancelled), the descriptor itself is closed only when the last of them
/// completes, so none of them can reach a descriptor number that was
/// reused meanwhile; an error from that deferred `close(2)` is not
/// reported.
///
/// # Errors
///
/// `InvalidInput` when `file` is already closed or belongs to another
/// worker; "filesystem disabled" (`Unsupported`) when `Config::fs` is
/// `None`; an error off a worker thread; otherwise the error of `close(2)`
/// (the descriptor is released either way).
pub fn close(file: File) -> io::Result<()> {
    super::current::try_with(|w| {
        let Some(fd) = w.fs.borrow_mut().close(file)? else {
            return Ok(());
        };
        // Out of the only `OwnedFd` for it, so nothing else closes or uses
        // it: closed exactly once, here, with the error reported.
        crate::sys::close(fd.into_raw_fd())
    })
    .unwrap_or_else(|| Err(super::current::outside_error()))
}
