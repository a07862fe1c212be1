//! File metadata through `statx` (on Linux; `stat(2)` elsewhere).

use std::future::Future;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::driver::sqe::Sqe;
use crate::sys::{StatBuf, Zeroed};

use super::op::{FsHold, Pending, check, cstring, submit, with_fs};
use crate::op::OpKind;

/// What [`stat`] reports about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Size in bytes.
    pub size: u64,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Last access, since the Unix epoch.
    pub atime: Duration,
    /// Last modification of the contents, since the Unix epoch.
    pub mtime: Duration,
    /// Last status change, since the Unix epoch.
    pub ctime: Duration,
    /// A regular file.
    pub is_file: bool,
    /// A directory.
    pub is_dir: bool,
    /// A symbolic link. [`stat`] follows links, so what it reports is the
    /// link's target and this is `false`; it is kept for API compatibility.
    pub is_symlink: bool,
}

// Both builders clamp times before the epoch to it: `Duration` has no
// sign, and such files are rare enough not to warrant one.

#[cfg(target_os = "linux")]
impl Metadata {
    /// The metadata in a `statx` the kernel filled.
    fn from_stat_buf(stx: &StatBuf) -> Metadata {
        let kind = u32::from(stx.stx_mode) & libc::S_IFMT;
        let time = |t: libc::statx_timestamp| {
            Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), t.tv_nsec)
        };
        Metadata {
            size: stx.stx_size,
            mode: u32::from(stx.stx_mode),
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            atime: time(stx.stx_atime),
            mtime: time(stx.stx_mtime),
            ctime: time(stx.stx_ctime),
            is_file: kind == libc::S_IFREG,
            is_dir: kind == libc::S_IFDIR,
            is_symlink: kind == libc::S_IFLNK,
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Metadata {
    /// The metadata in a `stat` the kernel filled.
    fn from_stat_buf(st: &StatBuf) -> Metadata {
        // `mode_t` is 16 bits on macOS and the BSDs.
        let mode = u32::from(st.st_mode);
        let kind = mode & u32::from(libc::S_IFMT);
        let time = |sec: libc::time_t, nsec: libc::c_long| {
            Duration::new(
                u64::try_from(sec).unwrap_or(0),
                u32::try_from(nsec).unwrap_or(0),
            )
        };
        Metadata {
            size: u64::try_from(st.st_size).unwrap_or(0),
            mode,
            uid: st.st_uid,
            gid: st.st_gid,
            atime: time(st.st_atime, st.st_atime_nsec),
            mtime: time(st.st_mtime, st.st_mtime_nsec),
            ctime: time(st.st_ctime, st.st_ctime_nsec),
            is_file: kind == u32::from(libc::S_IFREG),
            is_dir: kind == u32::from(libc::S_IFDIR),
            is_symlink: kind == u32::from(libc::S_IFLNK),
        }
    }
}

/// Reports the metadata of the file at `path`, following symbolic links
/// (like `stat(2)`), through `statx` on Linux and `stat(2)` elsewhere.
///
/// # Errors
///
/// The call fails (it does not panic) off a worker thread, when the fs
/// layer is disabled, with `InvalidInput` when `path` contains a NUL byte,
/// and at `FsConfig::max_commands_in_flight` (`Other`). The future fails
/// with the `statx(2)` (or `stat(2)`) error (`NotFound`, …).
#[track_caller]
pub fn stat(path: impl AsRef<Path>) -> io::Result<StatFuture> {
    let site = Location::caller();
    let path = path.as_ref();
    with_fs(|w| {
        let c_path = cstring(path)?;
        let mut hold = FsHold::new(&w.fs.borrow(), None)?;
        hold.path = Some(c_path);
        hold.statx = Some(Box::new(StatBuf::zeroed()));
        // SAFETY: the SQE points at the path and the boxed statx buffer,
        // both in the hold, kept until the CQE.
        let pending = unsafe {
            submit(w, OpKind::FsStatx, hold, site, |h| {
                let path = h.path.as_ref().expect("set above").as_ptr();
                let out: *mut StatBuf = &mut **h.statx.as_mut().expect("set above");
                Sqe::Statx { path, out }
            })
        }?;
        Ok(StatFuture { pending })
    })
}

/// Future of [`stat`]: the file's [`Metadata`], or the error.
///
/// # Panics
///
/// Polling it outside a ringline worker thread panics.
#[must_use = "futures do nothing unless awaited"]
pub struct StatFuture {
    pending: Pending,
}

impl Future for StatFuture {
    type Output = io::Result<Metadata>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .pending
            .poll(cx, "fs::StatFuture::poll")
            .map(|out| {
                let (result, hold) = out?;
                check(result)?;
                let stx = hold.statx.as_ref().expect("stat holds its buffer");
                Ok(Metadata::from_stat_buf(stx))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn statx_fields_map_to_metadata() {
        let mut stx = StatBuf::zeroed();
        stx.stx_mode = (libc::S_IFDIR | 0o755) as u16;
        stx.stx_size = 4096;
        stx.stx_mtime.tv_sec = 7;
        stx.stx_mtime.tv_nsec = 9;
        stx.stx_atime.tv_sec = -1;
        let m = Metadata::from_stat_buf(&stx);
        assert!(m.is_dir && !m.is_file && !m.is_symlink);
        assert_eq!(m.mode & 0o777, 0o755);
        assert_eq!(m.size, 4096);
        assert_eq!(m.mtime, Duration::new(7, 9));
        assert_eq!(m.atime, Duration::ZERO, "pre-epoch clamps to the epoch");
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn stat_fields_map_to_metadata() {
        let mut st = StatBuf::zeroed();
        st.st_mode = libc::S_IFDIR | 0o755;
        st.st_size = 4096;
        st.st_mtime = 7;
        st.st_mtime_nsec = 9;
        st.st_atime = -1;
        let m = Metadata::from_stat_buf(&st);
        assert!(m.is_dir && !m.is_file && !m.is_symlink);
        assert_eq!(m.mode & 0o777, 0o755);
        assert_eq!(m.size, 4096);
        assert_eq!(m.mtime, Duration::new(7, 9));
        assert_eq!(m.atime, Duration::ZERO, "pre-epoch clamps to the epoch");
    }
}
