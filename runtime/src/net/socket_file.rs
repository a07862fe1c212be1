//! A Unix listener's socket file: bound only over nothing or a stale
//! socket, and removed when the runtime is done with it only while it is
//! still the file this runtime created.
//!
//! What may be at the path when a runtime binds it:
//!
//! ```text
//!  nothing ─────────────────────────────▶ bind
//!  a socket ── probe connect ─┬ refused ─▶ stale: unlink, bind
//!                             └ accepted ▶ live: AddrInUse, untouched
//!                               (or queued)
//!  anything else (file, dir, symlink) ──▶ AlreadyExists, untouched
//! ```
//!
//! The probe is a non-blocking `connect`: `ECONNREFUSED` means nobody
//! accepts on that socket (its process closed it or died); success or
//! `EAGAIN` (a full backlog) mean a listener is there. Rejected: unlinking
//! whatever socket is there (the old behaviour) — it silently steals the
//! path from a running process, whose clients then reach us or nobody. A
//! live listener sees the probe as one connection that hangs up at once.
//! macOS refuses a connect to a full backlog with `ECONNREFUSED` too, so
//! there a listener that is that far behind counts as stale.
//!
//! At exit the path is unlinked only if it still names the socket we bound
//! (same device and inode, checked while our listener is still open so the
//! inode cannot have been reused). In a rolling restart the successor
//! removes our file and binds its own; our exit must not delete theirs.
//! There is no "unlink if this inode" call, so a file swapped in between
//! the check and the unlink is still removed; that window is a few
//! microseconds at exit, against one that was the whole shutdown before.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::sys::{self, SockAddr};

/// The socket file a listener of ours is bound at; removed (if still
/// ours) when dropped.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Whether `path` still names the socket file we created.
    fn is_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|meta| {
            meta.file_type().is_socket() && meta.dev() == self.dev && meta.ino() == self.ino
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.is_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound, listening Unix stream socket at `path`, and its file. Drop
/// the [`SocketFile`] before the listener so the identity check runs
/// while the inode is still held.
///
/// # Errors
///
/// `AddrInUse` when another listener is live at `path`; `AlreadyExists`
/// when something that is not a socket is there; the failed call's error
/// otherwise. The message names the path.
pub(crate) fn listen_unix(path: &Path, backlog: i32) -> Result<(OwnedFd, SocketFile), Error> {
    clear_stale(path)?;
    let addr = SockAddr::from_unix_path(path)?;
    let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)?;
    sys::bind(fd.as_raw_fd(), &addr).map_err(|e| match e.kind() {
        // Someone bound it between our check and our bind.
        io::ErrorKind::AddrInUse => live(path),
        _ => path_error(e.kind(), path, &format!("cannot bind: {e}")),
    })?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| path_error(e.kind(), path, &format!("cannot stat after bind: {e}")))?;
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    sys::listen(fd.as_raw_fd(), backlog)?;
    Ok((fd, file))
}

/// Makes room at `path`: nothing to do if it is free, unlinks a stale
/// socket, refuses anything else (see the module docs).
fn clear_stale(path: &Path) -> Result<(), Error> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(path_error(e.kind(), path, &format!("cannot stat: {e}"))),
    };
    if !meta.file_type().is_socket() {
        return Err(path_error(
            io::ErrorKind::AlreadyExists,
            path,
            "exists and is not a socket; remove it or choose another path",
        ));
    }
    match probe(path) {
        Probe::Refused => match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(path_error(
                e.kind(),
                path,
                &format!("cannot remove the stale socket: {e}"),
            )),
        },
        Probe::Gone => Ok(()),
        Probe::Live => Err(live(path)),
        Probe::Failed(e) => Err(path_error(
            e.kind(),
            path,
            &format!("cannot tell whether the socket there is in use: {e}"),
        )),
    }
}

/// What connecting to an existing socket file showed.
enum Probe {
    /// Nobody accepts on it: stale.
    Refused,
    /// The file vanished meanwhile.
    Gone,
    /// A listener took the connection or has it queued.
    Live,
    /// Something else (no permission, a socket of another type...).
    Failed(io::Error),
}

fn probe(path: &Path) -> Probe {
    let attempt = || -> io::Result<()> {
        let addr = SockAddr::from_unix_path(path)?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)?;
        // Non-blocking, so a listener with a full backlog cannot hold
        // launch: the connect fails with EAGAIN instead of waiting.
        sys::set_nonblocking(fd.as_raw_fd(), true)?;
        sys::connect(fd.as_raw_fd(), &addr)
    };
    match attempt() {
        Ok(()) => Probe::Live,
        Err(e) => match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Probe::Refused,
            Some(libc::ENOENT) => Probe::Gone,
            Some(libc::EAGAIN | libc::EINPROGRESS) => Probe::Live,
            _ => Probe::Failed(e),
        },
    }
}

fn live(path: &Path) -> Error {
    path_error(
        io::ErrorKind::AddrInUse,
        path,
        "another listener is live there (a process is listening on it); stop it or choose another path",
    )
}

fn path_error(kind: io::ErrorKind, path: &Path, what: &str) -> Error {
    Error::Io(io::Error::new(
        kind,
        format!("cannot listen at {}: {what}", path.display()),
    ))
}
