//! Reading, writing and syncing open files: the raw-pointer calls, the
//! owned-buffer calls whose buffer the op slot keeps until the kernel is
//! done with it, and `fsync`.

use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::driver::sqe::Sqe;
use bytes::BytesMut;

use super::File;
use super::op::{DiskIoFuture, FsHold, check, submit, with_fs};
use crate::op::OpKind;

/// Reads up to `len` bytes of `file` at `offset` into `buf`. The future
/// yields the count read, which may be short (0 at end of file); short
/// reads are returned as they are, not retried.
///
/// # Safety
///
/// `buf` must point to writable memory of at least `len` bytes that remains
/// valid, and is neither read nor written by anything else, until the
/// returned future resolves. If the future is dropped before it resolves,
/// the kernel may still write into `buf` until it has processed the cancel
/// sent on drop, which the caller cannot observe: keep the memory alive
/// (and untouched) until the worker has shut down, or use [`read_into`],
/// which keeps its buffer alive for you.
///
/// # Errors
///
/// The call fails (it does not panic) off a worker thread, when the fs
/// layer is disabled, when `file` is stale or another worker's
/// (`InvalidInput`), or at `FsConfig::max_commands_in_flight` (`Other`).
/// The future fails with the `read(2)` error.
#[track_caller]
pub unsafe fn read(file: File, offset: u64, buf: *mut u8, len: u32) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    with_fs(|w| {
        let hold = FsHold::new(&w.fs.borrow(), Some(file))?;
        // SAFETY: the caller keeps `buf` valid for `len` bytes until the
        // CQE (this function's contract); the fd is kept open by the hold.
        let pending = unsafe {
            submit(w, OpKind::FsRead, hold, site, |h| Sqe::Read {
                fd: h.raw_fd(),
                buf,
                len,
                offset,
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}

/// Writes up to `len` bytes from `buf` to `file` at `offset`. The future
/// yields the count written, which may be short.
///
/// # Safety
///
/// `buf` must point to readable memory of at least `len` bytes that remains
/// valid, and is not written by anything else, until the returned future
/// resolves. If the future is dropped before it resolves, the kernel may
/// still read `buf` until it has processed the cancel sent on drop, which
/// the caller cannot observe: keep the memory alive (and unchanged) until
/// the worker has shut down, or use [`write_from`].
///
/// # Errors
///
/// As [`read`]; the future fails with the `write(2)` error.
#[track_caller]
pub unsafe fn write(file: File, offset: u64, buf: *const u8, len: u32) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    with_fs(|w| {
        let hold = FsHold::new(&w.fs.borrow(), Some(file))?;
        // SAFETY: the caller keeps `buf` valid for `len` bytes until the
        // CQE (this function's contract); the fd is kept open by the hold.
        let pending = unsafe {
            submit(w, OpKind::FsWrite, hold, site, |h| Sqe::Write {
                fd: h.raw_fd(),
                buf,
                len,
                offset,
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}

/// Reads from `file` at `offset` into `buf`'s spare capacity
/// (`buf.capacity() - buf.len()` bytes at most, after its current
/// contents). The future yields `(Ok(n), buf)` with `buf.len()` grown by
/// `n` (short reads as they are; 0 at end of file), or the error and `buf`
/// unchanged.
///
/// If the future is dropped before it resolves, `buf` stays parked in the
/// worker (the graveyard) until the kernel reports the op done, and a
/// best-effort cancel is submitted: no memory the kernel may write is ever
/// freed early.
///
/// # Errors
///
/// `InvalidInput` when `buf` has no spare capacity or more than
/// `u32::MAX` bytes of it; otherwise as [`read`].
#[track_caller]
pub fn read_into(file: File, offset: u64, buf: BytesMut) -> io::Result<ReadFuture> {
    let site = Location::caller();
    let spare = buf.capacity() - buf.len();
    if spare == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "read_into needs a BytesMut with spare capacity (reserve some first)",
        ));
    }
    let len = u32::try_from(spare).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "read_into: spare capacity exceeds u32::MAX bytes",
        )
    })?;
    with_fs(|w| {
        let mut hold = FsHold::new(&w.fs.borrow(), Some(file))?;
        hold.buf = Some(buf);
        // SAFETY: the SQE points into the spare capacity of the BytesMut
        // in the hold (its heap storage stays put while the hold owns it,
        // until the CQE); the fd is kept open by the hold.
        let pending = unsafe {
            submit(w, OpKind::FsRead, hold, site, |h| {
                let fd = h.raw_fd();
                let buf = h.buf.as_mut().expect("set above");
                let spare = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
                Sqe::Read {
                    fd,
                    buf: spare,
                    len,
                    offset,
                }
            })
        }?;
        Ok(ReadFuture {
            inner: DiskIoFuture { pending },
        })
    })
}

/// Writes all of `buf` (`buf.len()` bytes) to `file` at `offset`. The
/// future yields the count written (possibly short) and `buf`, unchanged,
/// either way.
///
/// If the future is dropped before it resolves, `buf` stays parked in the
/// worker until the kernel reports the op done, and a best-effort cancel
/// is submitted.
///
/// # Errors
///
/// `InvalidInput` when `buf` is longer than `u32::MAX` bytes; otherwise as
/// [`read`].
#[track_caller]
pub fn write_from(file: File, offset: u64, buf: BytesMut) -> io::Result<WriteFuture> {
    let site = Location::caller();
    let len = u32::try_from(buf.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "write_from: buffer longer than u32::MAX bytes",
        )
    })?;
    with_fs(|w| {
        let mut hold = FsHold::new(&w.fs.borrow(), Some(file))?;
        hold.buf = Some(buf);
        // SAFETY: the SQE points at the initialised bytes of the BytesMut
        // in the hold, kept (unmoved) until the CQE; the fd is kept open
        // by the hold.
        let pending = unsafe {
            submit(w, OpKind::FsWrite, hold, site, |h| {
                let fd = h.raw_fd();
                let ptr = h.buf.as_ref().expect("set above").as_ptr();
                Sqe::Write {
                    fd,
                    buf: ptr,
                    len,
                    offset,
                }
            })
        }?;
        Ok(WriteFuture {
            inner: DiskIoFuture { pending },
        })
    })
}

/// Flushes `file`'s data and metadata to stable storage (`fsync(2)`).
/// The future yields 0.
///
/// # Errors
///
/// As [`read`]; the future fails with the `fsync(2)` error.
#[track_caller]
pub fn fsync(file: File) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    with_fs(|w| {
        let hold = FsHold::new(&w.fs.borrow(), Some(file))?;
        // SAFETY: an fsync points at no memory; the hold keeps the fd open.
        let pending = unsafe {
            submit(w, OpKind::FsFsync, hold, site, |h| Sqe::Fsync {
                fd: h.raw_fd(),
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}

/// Future of [`read_into`]: `(io::Result<usize>, BytesMut)`.
///
/// # Panics
///
/// Polling it outside a ringline worker thread panics.
#[must_use = "futures do nothing unless awaited"]
pub struct ReadFuture {
    inner: DiskIoFuture,
}

impl Future for ReadFuture {
    type Output = (io::Result<usize>, BytesMut);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let done = self
            .get_mut()
            .inner
            .pending
            .poll(cx, "fs::ReadFuture::poll");
        done.map(|out| match out {
            Ok((result, mut hold)) => {
                let mut buf = hold.buf.take().expect("read_into holds its buffer");
                match check(result) {
                    Ok(n) => {
                        let spare = buf.capacity() - buf.len();
                        let n = (n as usize).min(spare);
                        // SAFETY: the kernel wrote `n` bytes (at most the
                        // spare capacity it was given) right after the
                        // buffer's initialised bytes, initialising them.
                        unsafe { buf.set_len(buf.len() + n) };
                        (Ok(n), buf)
                    }
                    Err(e) => (Err(e), buf),
                }
            }
            // Polled after completion, or on another worker: the buffer is
            // gone, or stays with the op on the worker that started it.
            Err(e) => (Err(e), BytesMut::new()),
        })
    }
}

/// Future of [`write_from`]: `(io::Result<usize>, BytesMut)`, the buffer
/// unchanged.
///
/// # Panics
///
/// Polling it outside a ringline worker thread panics.
#[must_use = "futures do nothing unless awaited"]
pub struct WriteFuture {
    inner: DiskIoFuture,
}

impl Future for WriteFuture {
    type Output = (io::Result<usize>, BytesMut);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let done = self
            .get_mut()
            .inner
            .pending
            .poll(cx, "fs::WriteFuture::poll");
        done.map(|out| match out {
            Ok((result, mut hold)) => {
                let buf = hold.buf.take().expect("write_from holds its buffer");
                (check(result).map(|n| n as usize), buf)
            }
            Err(e) => (Err(e), BytesMut::new()),
        })
    }
}
