//! The public file handle and open flags.

use std::io;
use std::ops::BitOr;

/// A file opened by [`open`](super::open) or [`create`](super::create): a
/// small `Copy` handle into the current worker's file table.
///
/// The handle is worker-local: it names a slot of the table of the worker
/// that opened it (checked through the table's process-unique id), so using
/// it on another worker, or after its runtime has shut down, is an error of
/// kind `InvalidInput`. After [`close`](super::close) every copy of the
/// handle is stale (kind `InvalidInput`), even once its slot has been
/// reused for another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct File {
    pub(crate) index: u16,
    pub(crate) generation: u32,
    pub(crate) table: u32,
}

impl File {
    /// The file's slot index in its worker's file table (below
    /// `FsConfig::max_files`); reused after the file is closed.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

/// How [`open`](super::open) opens a file: the `open(2)` flags, combined
/// with `|`. Files are always opened close-on-exec.
///
/// `READ` is the absence of write flags (`O_RDONLY` is 0), so
/// `READ | WRITE` means `WRITE`; use [`READ_WRITE`](Self::READ_WRITE) for
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags(pub(crate) i32);

impl OpenFlags {
    /// Open for reading only (`O_RDONLY`).
    pub const READ: Self = Self(libc::O_RDONLY);
    /// Open for writing only (`O_WRONLY`).
    pub const WRITE: Self = Self(libc::O_WRONLY);
    /// Open for reading and writing (`O_RDWR`).
    pub const READ_WRITE: Self = Self(libc::O_RDWR);
    /// Create the file if it does not exist (`O_CREAT`), with the `mode`
    /// given to `open` (less the umask).
    pub const CREATE: Self = Self(libc::O_CREAT);
    /// Truncate an existing file to length 0 (`O_TRUNC`).
    pub const TRUNCATE: Self = Self(libc::O_TRUNC);
    /// Every write appends at the end of the file, whatever its offset
    /// (`O_APPEND`).
    pub const APPEND: Self = Self(libc::O_APPEND);
    /// Bypass the page cache (`O_DIRECT`). Buffers, offsets and lengths
    /// must then be aligned to the device's logical block size (512 B or
    /// 4 KiB), or the kernel fails the op with `EINVAL`: use the unsafe
    /// [`read`](super::read)/[`write`](super::write) with aligned memory
    /// (`read_into`'s `BytesMut` has no alignment guarantee).
    ///
    /// Linux only. Elsewhere (macOS, the BSDs) there is no `O_DIRECT`, and
    /// [`open`](super::open()) with this flag fails at once with
    /// [`io::ErrorKind::Unsupported`] rather than quietly going through the
    /// page cache.
    pub const DIRECT: Self = Self(DIRECT_BITS);
}

/// `OpenFlags::DIRECT`'s bits: `O_DIRECT`.
#[cfg(target_os = "linux")]
const DIRECT_BITS: i32 = libc::O_DIRECT;

/// `OpenFlags::DIRECT`'s bits where there is no `O_DIRECT`: a bit no other
/// `OpenFlags` constant uses, which `open_flags` refuses, so it never
/// reaches `open(2)`.
#[cfg(not(target_os = "linux"))]
const DIRECT_BITS: i32 = i32::MIN;

impl OpenFlags {
    /// The flags to hand to `openat(2)`.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn open_flags(self) -> io::Result<i32> {
        Ok(self.0)
    }

    /// The flags to hand to `open(2)`; `Unsupported` for `DIRECT`, which
    /// this platform cannot honour.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn open_flags(self) -> io::Result<i32> {
        if self.0 & DIRECT_BITS != 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "OpenFlags::DIRECT (O_DIRECT) is only available on Linux",
            ));
        }
        Ok(self.0)
    }
}

impl BitOr for OpenFlags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_combine_bitwise() {
        let f = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        assert_eq!(f.0, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
        assert_eq!((OpenFlags::READ | OpenFlags::APPEND).0, libc::O_APPEND);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn direct_opens_with_o_direct() {
        let flags = (OpenFlags::READ | OpenFlags::DIRECT).open_flags().unwrap();
        assert_eq!(flags, libc::O_DIRECT);
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn direct_is_refused_where_there_is_no_o_direct() {
        let err = (OpenFlags::READ | OpenFlags::DIRECT)
            .open_flags()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
        assert_eq!(OpenFlags::WRITE.open_flags().unwrap(), libc::O_WRONLY);
    }
}
