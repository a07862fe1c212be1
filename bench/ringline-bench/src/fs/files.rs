//! The files a run reads and writes, and the filesystem they are on.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The benchmark's files; removed on drop unless kept.
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) data: PathBuf,
    pub(super) writes: [PathBuf; 2],
    pub(super) keep: bool,
}

impl Files {
    pub(super) fn create(parent: &Path, size: u64, keep: bool) -> io::Result<Files> {
        let dir = parent.join(format!("ringline-bench-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut files = Files {
            data: dir.join("read.dat"),
            writes: [dir.join("write-0.dat"), dir.join("write-1.dat")],
            dir,
            keep,
        };
        for path in [&files.data, &files.writes[0], &files.writes[1]] {
            fill(path, size)?;
        }
        // Canonical paths: what /proc/<pid>/fd links show.
        files.data = std::fs::canonicalize(&files.data)?;
        for w in &mut files.writes {
            *w = std::fs::canonicalize(&*w)?;
        }
        Ok(files)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes `size` bytes of a non-repeating pattern to `path` and syncs.
fn fill(path: &Path, size: u64) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut left = size;
    while left > 0 {
        for b in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// Reads `path` once so that buffered runs find it in the page cache.
pub(super) fn warm(path: &Path) -> io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// Filesystem type of `dir` (`statfs` magic), for the report.
pub fn filesystem_type(dir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: a zeroed statfs is valid; statfs fills it.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return "unknown".into();
    }
    match s.f_type as i64 {
        0x0102_1994 => "tmpfs".into(),
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("0x{other:x}"),
    }
}
