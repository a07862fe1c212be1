//! The block file the servers read: made once per run (or given), warmed
//! into the page cache for the cached cell, probed for `O_DIRECT`, removed
//! at the end unless kept.

use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fs_common::AlignedBuf;
use fs_common::blocks::{self, BLOCK_SIZE};

use crate::fs::filesystem_type;

/// The file of one run.
pub struct BlockFile {
    /// Canonical path (what the servers open).
    pub path: PathBuf,
    /// Bytes (a whole number of blocks).
    pub len: u64,
    /// The directory made for it, removed on drop; `None` for a file given
    /// on the command line or kept.
    made_dir: Option<PathBuf>,
}

impl BlockFile {
    /// Writes a file of `size` bytes (a positive multiple of
    /// [`BLOCK_SIZE`]) in a new directory under `parent`, every block
    /// laid out as `fs_common::blocks::fill_block` says, and syncs it to
    /// the device. With `keep` it outlives the run.
    pub fn create(parent: &Path, size: u64, keep: bool) -> io::Result<BlockFile> {
        check_size(size)?;
        let dir = parent.join(format!("ringline-bench-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", dir.display())))?;
        // From here on, a failure removes the directory again.
        let mut file = BlockFile {
            path: dir.join("blocks.dat"),
            len: size,
            made_dir: Some(dir),
        };
        write_blocks(&file.path, size).map_err(|e| {
            io::Error::new(e.kind(), format!("writing {}: {e}", file.path.display()))
        })?;
        file.path = std::fs::canonicalize(&file.path)?;
        if keep {
            file.made_dir = None;
        }
        Ok(file)
    }

    /// A block file made earlier (by `--keep-file`): checked by size and
    /// by the headers of its first and last blocks; never removed.
    pub fn existing(path: &Path) -> io::Result<BlockFile> {
        let len = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?
            .len();
        check_size(len)?;
        let file = std::fs::File::open(path)?;
        let last = len / BLOCK_SIZE as u64 - 1;
        for index in [0, last] {
            let mut header = [0u8; 8];
            file.read_exact_at(&mut header, index * BLOCK_SIZE as u64)?;
            if blocks::block_header(&header) != Some(index) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a block file: block {index} does not start with its index \
                         (make one with --keep-file)",
                        path.display()
                    ),
                ));
            }
        }
        Ok(BlockFile {
            path: std::fs::canonicalize(path)?,
            len,
            made_dir: None,
        })
    }

    /// Blocks in the file.
    pub fn blocks(&self) -> u64 {
        self.len / BLOCK_SIZE as u64
    }

    /// Reads the whole file once so that cached runs find every block in
    /// the page cache.
    pub fn warm(&self) -> io::Result<()> {
        let mut f = std::fs::File::open(&self.path)?;
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf)? > 0 {}
        Ok(())
    }
}

impl Drop for BlockFile {
    fn drop(&mut self) {
        if let Some(dir) = &self.made_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn check_size(size: u64) -> io::Result<()> {
    if size == 0 || !size.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a block file holds a positive whole number of {BLOCK_SIZE}-byte blocks, not {size} bytes"
            ),
        ));
    }
    Ok(())
}

/// Writes `size` bytes of blocks to a new file at `path` and syncs it.
fn write_blocks(path: &Path, size: u64) -> io::Result<()> {
    const PER_CHUNK: usize = 256;
    let mut f = std::fs::File::create(path)?;
    let mut chunk = vec![0u8; PER_CHUNK * BLOCK_SIZE];
    let total = size / BLOCK_SIZE as u64;
    let mut next = 0u64;
    while next < total {
        let n = (total - next).min(PER_CHUNK as u64) as usize;
        for (i, block) in chunk.chunks_exact_mut(BLOCK_SIZE).take(n).enumerate() {
            let block: &mut [u8; BLOCK_SIZE] = block.try_into().expect("exact chunks");
            blocks::fill_block(next + i as u64, block);
        }
        f.write_all(&chunk[..n * BLOCK_SIZE])?;
        next += n as u64;
    }
    f.sync_all()
}

/// Why `O_DIRECT` reads of `path` fail here (tmpfs before Linux 6.6, some
/// FUSE and overlay filesystems), or `None` when an aligned one-block read
/// works. (A tmpfs that accepts `O_DIRECT` still has no device behind it:
/// the command warns about tmpfs separately.)
pub fn direct_io_refusal(path: &Path) -> Option<String> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return Some(format!("opening with O_DIRECT: {e}")),
    };
    let mut buf = AlignedBuf::new(BLOCK_SIZE);
    match file.read_exact_at(buf.as_mut_slice(), 0) {
        Ok(()) => None,
        Err(e) => Some(format!("an aligned O_DIRECT read: {e}")),
    }
}

/// Where the file goes by default: the temp dir, or `/var/tmp` when the
/// temp dir is tmpfs (no device behind it).
pub fn default_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    let var_tmp = PathBuf::from("/var/tmp");
    if filesystem_type(&tmp) == "tmpfs" && var_tmp.is_dir() && filesystem_type(&var_tmp) != "tmpfs"
    {
        var_tmp
    } else {
        tmp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ringline-bench-blockfile-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_made_file_holds_its_blocks_and_goes_away() {
        let parent = scratch();
        let made = BlockFile::create(&parent, 300 * BLOCK_SIZE as u64, false).expect("made");
        assert_eq!(made.blocks(), 300);
        let bytes = std::fs::read(&made.path).expect("read back");
        for index in [0u64, 255, 256, 299] {
            let mut want = [0u8; BLOCK_SIZE];
            blocks::fill_block(index, &mut want);
            let at = index as usize * BLOCK_SIZE;
            assert_eq!(bytes[at..at + BLOCK_SIZE], want, "block {index}");
        }
        made.warm().expect("warm");
        let again = BlockFile::existing(&made.path).expect("recognised");
        assert_eq!(again.len, made.len);
        let path = made.path.clone();
        drop(again);
        assert!(path.exists(), "a given file is never removed");
        drop(made);
        assert!(!path.exists(), "a made file is removed");
        let _ = std::fs::remove_dir_all(&parent);
    }

    #[test]
    fn other_files_and_sizes_are_refused() {
        let parent = scratch();
        assert!(BlockFile::create(&parent, 4095, false).is_err());
        assert!(BlockFile::create(&parent, 0, false).is_err());
        let other = parent.join("zeros.dat");
        std::fs::write(&other, vec![1u8; 2 * BLOCK_SIZE]).expect("write");
        let err = BlockFile::existing(&other).err().expect("not a block file");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let _ = std::fs::remove_dir_all(&parent);
    }
}
