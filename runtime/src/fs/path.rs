//! Operations on paths rather than open files: rename, remove, mkdir.

use std::io;
use std::path::Path;

use io_uring::{opcode, types};

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
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<DiskIoFuture> {
    let (from, to) = (from.as_ref(), to.as_ref());
    with_fs(|w| {
        let (c_from, c_to) = (cstring(from)?, cstring(to)?);
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_from);
        hold.path2 = Some(c_to);
        // SAFETY: the SQE points at the two paths, both in the hold.
        let pending = unsafe {
            submit(w, OpKind::FsRename, hold, |h| {
                let from = h.path.as_ref().expect("set above").as_ptr();
                let to = h.path2.as_ref().expect("set above").as_ptr();
                let cwd = types::Fd(libc::AT_FDCWD);
                opcode::RenameAt::new(cwd, from, cwd, to).build()
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
pub fn remove(path: impl AsRef<Path>) -> io::Result<DiskIoFuture> {
    let path = path.as_ref();
    with_fs(|w| {
        let c_path = cstring(path)?;
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_path);
        // SAFETY: the SQE points only at the path in the hold.
        let pending = unsafe {
            submit(w, OpKind::FsUnlink, hold, |h| {
                let path = h.path.as_ref().expect("set above").as_ptr();
                opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), path).build()
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}

/// Creates the directory `path` with permissions `mode` (less the umask)
/// (`mkdirat(2)`). The future yields 0.
///
/// # Errors
///
/// As [`rename`]; the future fails with the `mkdirat(2)` error
/// (`AlreadyExists`, `NotFound` for a missing parent, …).
pub fn mkdir(path: impl AsRef<Path>, mode: u32) -> io::Result<DiskIoFuture> {
    let path = path.as_ref();
    with_fs(|w| {
        let c_path = cstring(path)?;
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_path);
        // SAFETY: the SQE points only at the path in the hold.
        let pending = unsafe {
            submit(w, OpKind::FsMkdir, hold, |h| {
                let path = h.path.as_ref().expect("set above").as_ptr();
                opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), path)
                    .mode(mode)
                    .build()
            })
        }?;
        Ok(DiskIoFuture { pending })
    })
}
