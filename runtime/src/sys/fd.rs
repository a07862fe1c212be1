//! Descriptors: closing, status flags, the file type, and reads and writes
//! of slices (the wake fd, test helpers).
//!
//! These take a [`RawFd`]: the worst a wrong descriptor does here is act
//! on another open file (an I/O-safety bug, found by the owner's checks),
//! never touch memory, because buffers are borrowed slices.

use std::io;
use std::os::fd::RawFd;

/// `close(fd)`. The caller owned `fd` and nothing uses it afterwards
/// (whether or not the close reports an error, the descriptor is gone).
pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    syscall!(close(fd)).map(drop)
}

/// Turns `O_NONBLOCK` on or off; no call when it already is as asked.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    let wanted = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if wanted != flags {
        syscall!(fcntl(fd, libc::F_SETFL, wanted))?;
    }
    Ok(())
}

/// `st_mode` of what `fd` refers to (`fstat`): its type and permissions.
pub(crate) fn file_mode(fd: RawFd) -> io::Result<libc::mode_t> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    syscall!(fstat(fd, st.as_mut_ptr()))?;
    // SAFETY: fstat returned 0, so it filled the whole `stat`.
    Ok(unsafe { st.assume_init() }.st_mode)
}

/// `read(fd, buf)`: the bytes read (0 at end of file) (tests).
#[cfg(test)]
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    syscall!(read(fd, buf.as_mut_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// `write(fd, buf)`: the bytes written.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    syscall!(write(fd, buf.as_ptr().cast(), buf.len())).map(|n| n as usize)
}

/// Runs `f` when the process exits normally (`atexit`). An `extern "C"`
/// function aborts rather than unwinds on a panic, so C's caller never
/// sees one.
#[cfg(feature = "inspect")]
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: `f` is a valid function pointer for the life of the process
    // (a `fn` item, never freed), taking nothing and returning nothing, as
    // atexit requires.
    unsafe { libc::atexit(f) };
}

/// Creates a FIFO at `path` with permission bits `mode` (tests).
#[cfg(test)]
pub(crate) fn mkfifo(path: &std::path::Path, mode: libc::mode_t) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    syscall!(mkfifo(c.as_ptr(), mode)).map(drop)
}
