//! The public file handle and open flags.

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
    pub const DIRECT: Self = Self(libc::O_DIRECT);
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
}
