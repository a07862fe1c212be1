//! Operations on paths rather than open files: rename, remove, mkdir.

use std::io;
use std::panic::Location;
use std::path::Path;

use crate::driver::sqe::Sqe;

use super::op::{DiskIoFuture, FsHold, cstring, submit, with_fs};
use crate::op::OpKind;

/// Renames `from` to `to` (`renameat(2)`), replacing `to` if it exists.
/// The future yields 0.
///
/// # Errors
///
/// The call fails (it does not panic) off a worker thread, when the fs
/// layer is disabled, with `InvalidInput` when a path contains a NUL byte,
/// and at `FsConfig::max_commands_in_flight` (`Other`). The future fails
/// with the `renameat(2)` error.
#[track_caller]
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    let (from, to) = (from.as_ref(), to.as_ref());
    with_fs(|w| {
        let (c_from, c_to) = (cstring(from)?, cstring(to)?);
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_from);
        hold.path2 = Some(c_to);
        // SAFETY: the SQE points at the two paths, both in the hold.
        let pending = unsafe {
            submit(w, OpKind::FsRename, hold, site, |h| {
                let from = h.path.as_ref().expect("set above").as_ptr();
                let to = h.path2.as_ref().expect("set above").as_ptr();
                Sqe::RenameAt { from, to }
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}

/// Removes the file (not directory) at `path` (`unlinkat(2)`). The future
/// yields 0.
///
/// # Errors
///
/// As [`rename`]; the future fails with the `unlinkat(2)` error (a
/// directory gives `IsADirectory`).
#[track_caller]
pub fn remove(path: impl AsRef<Path>) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    single_path_op(path.as_ref(), OpKind::FsUnlink, site, |p| Sqe::UnlinkAt {
        path: p,
    })
}

/// Creates the directory `path` with permissions `mode` (less the umask)
/// (`mkdirat(2)`). The future yields 0.
///
/// # Errors
///
/// As [`rename`]; the future fails with the `mkdirat(2)` error
/// (`AlreadyExists`, `NotFound` for a missing parent, …).
#[track_caller]
pub fn mkdir(path: impl AsRef<Path>, mode: u32) -> io::Result<DiskIoFuture> {
    let site = Location::caller();
    single_path_op(path.as_ref(), OpKind::FsMkdir, site, |p| Sqe::MkdirAt {
        path: p,
        mode,
    })
}

/// Submits an op whose only kernel-visible memory is one path, kept in
/// the op's hold until its CQE.
fn single_path_op(
    path: &Path,
    kind: OpKind,
    site: &'static Location<'static>,
    build: impl FnOnce(*const libc::c_char) -> Sqe,
) -> io::Result<DiskIoFuture> {
    with_fs(|w| {
        let c_path = cstring(path)?;
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_path);
        // SAFETY: the SQE points only at the path in the hold, which the op
        // slot keeps alive until the CQE.
        let pending = unsafe {
            submit(w, kind, hold, site, |h| {
                build(h.path.as_ref().expect("set above").as_ptr())
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}
