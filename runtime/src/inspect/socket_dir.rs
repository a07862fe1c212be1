//! How the server makes its socket safe: a private directory (0700, ours,
//! not a symlink), one socket per process named by its pid (0600, created
//! under a temporary name and renamed into place), and stale sockets of
//! dead processes cleaned away.
//!
//! Where the directory is, and the one uid everything is checked against
//! ([`own_uid`], the effective uid), are the readers' side too and live in
//! the schema crate (`ringline_schema::inspect`).

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

pub(crate) use ringline_schema::inspect::{list_in, own_uid};

/// Longest socket path the kernel accepts: `sun_path` less its
/// terminating NUL (107 bytes on Linux, 103 on macOS).
const MAX_SOCKET_PATH: usize = std::mem::size_of::<libc::sockaddr_un>()
    - std::mem::offset_of!(libc::sockaddr_un, sun_path)
    - 1;

/// Creates `dir` (0700) if missing, then checks it is safe to put a socket
/// in: a real directory (not a symlink), owned by us, with no access for
/// group or others. The error says what is wrong, for the log line.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot stat {}: {e}", dir.display()))?;
    let found = DirFacts {
        symlink: meta.file_type().is_symlink(),
        dir: meta.is_dir(),
        owner: meta.uid(),
        mode: meta.permissions().mode() & 0o777,
    };
    check_dir(dir, &found, own_uid())
}

/// What [`check_dir`] judges a directory by.
#[derive(Debug, Clone, Copy)]
struct DirFacts {
    symlink: bool,
    dir: bool,
    owner: u32,
    /// Permission bits (`& 0o777`).
    mode: u32,
}

/// Whether a directory with these facts is safe for `uid`'s sockets: a
/// real directory, owned by `uid`, no access for group or others.
fn check_dir(dir: &Path, found: &DirFacts, uid: u32) -> Result<(), String> {
    if found.symlink {
        return Err(format!("{} is a symlink", dir.display()));
    }
    if !found.dir {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if found.owner != uid {
        return Err(format!(
            "{} belongs to uid {}, not to us (uid {uid})",
            dir.display(),
            found.owner
        ));
    }
    let mode = found.mode;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:03o}; it must be 0700 (no access for group or others)",
            dir.display()
        ));
    }
    Ok(())
}

/// Binds this process's socket at `dir/<pid>.sock`: under a temporary
/// name, restricted to 0600, then renamed into place (so nobody can ever
/// connect to a socket with wider permissions, and a stale socket of a
/// recycled pid is replaced atomically).
pub(crate) fn bind_socket(dir: &Path, pid: u32) -> io::Result<(UnixListener, PathBuf)> {
    let path = dir.join(format!("{pid}.sock"));
    let temp = dir.join(format!(".{pid}.sock.{}", std::process::id() ^ nonce()));
    for p in [&path, &temp] {
        if p.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket path {} is longer than {MAX_SOCKET_PATH} bytes; set RINGLINE_INSPECT_DIR to a shorter directory",
                    p.display()
                ),
            ));
        }
    }
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp)?;
    let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temp, &path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    listener.set_nonblocking(true)?;
    Ok((listener, path))
}

/// A value that differs between calls, for temporary names.
fn nonce() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ N.fetch_add(0x9e37_79b9, Ordering::Relaxed)
}

/// Removes the sockets of processes that no longer exist.
pub(crate) fn clean_stale(dir: &Path) -> usize {
    let own = std::process::id();
    let mut removed = 0;
    for e in list_in(dir) {
        if e.pid != own && !e.alive && std::fs::remove_file(&e.path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The inode of `path` if it is a socket (to notice it was replaced).
pub(crate) fn socket_inode(path: &Path) -> Option<u64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_socket().then(|| meta.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringline_schema::inspect::choose_dir;
    use std::ffi::OsString;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ringline-sockdir-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_fresh_dir_is_created_private_and_accepted() {
        let d = temp_dir("fresh");
        prepare_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn open_dirs_symlinks_and_files_are_refused() {
        let d = temp_dir("open");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare_dir(&d).unwrap_err();
        assert!(err.contains("mode 777"), "{err}");

        let real = temp_dir("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = temp_dir("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = prepare_dir(&link).unwrap_err();
        assert!(err.contains("symlink"), "{err}");

        let file = temp_dir("file");
        std::fs::write(&file, b"x").unwrap();
        let err = prepare_dir(&file).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        for p in [&d, &real] {
            std::fs::remove_dir_all(p).unwrap();
        }
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn socket_is_0600_and_stale_ones_are_cleaned_but_not_live_ones() {
        let d = temp_dir("sock");
        prepare_dir(&d).unwrap();
        let own = std::process::id();
        let (_l, path) = bind_socket(&d, own).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(socket_inode(&path), Some(meta.ino()));
        // A dead pid's socket (pid_max is at most 2^22).
        let dead = 4_194_999;
        let (_d, stale) = bind_socket(&d, dead).unwrap();
        let listed = list_in(&d);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().any(|e| e.pid == own && e.alive));
        assert!(listed.iter().any(|e| e.pid == dead && !e.alive));
        assert_eq!(clean_stale(&d), 1);
        assert!(!stale.exists() && path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_overlong_path_is_refused_with_the_fix() {
        let d = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        let err = bind_socket(&d, 1).unwrap_err();
        assert!(err.to_string().contains("RINGLINE_INSPECT_DIR"), "{err}");
    }

    #[test]
    fn the_directory_is_chosen_and_checked_with_one_uid() {
        let none = || None::<OsString>;
        let some = |s: &str| Some(OsString::from(s));
        // The variables first (empty ones ignored), then the uid's own.
        assert_eq!(
            choose_dir(some("/a"), some("/run/user/7"), 7),
            Path::new("/a")
        );
        assert_eq!(
            choose_dir(some(""), some("/run/user/7"), 7),
            Path::new("/run/user/7/ringline")
        );
        assert_eq!(
            choose_dir(none(), some(""), 7),
            Path::new("/tmp/ringline-7")
        );
        // A setuid program (real 1000, effective 0): the fallback is named
        // by the uid that will own it and that it is checked against. A
        // name from the real uid would be someone else's directory, which
        // the check (rightly) refuses.
        let (real, effective) = (1000, 0);
        let ours = DirFacts {
            symlink: false,
            dir: true,
            owner: effective,
            mode: 0o700,
        };
        assert_eq!(own_uid(), unsafe_geteuid());
        let dir = choose_dir(none(), none(), effective);
        assert_eq!(dir, Path::new("/tmp/ringline-0"));
        assert_eq!(check_dir(&dir, &ours, effective), Ok(()));
        let users = DirFacts {
            owner: real,
            ..ours
        };
        let err = check_dir(&choose_dir(none(), none(), real), &users, effective).unwrap_err();
        assert!(
            err.contains("belongs to uid 1000, not to us (uid 0)"),
            "{err}"
        );
        // And the other refusals, by the same facts.
        for (facts, why) in [
            (
                DirFacts {
                    mode: 0o750,
                    ..ours
                },
                "mode 750",
            ),
            (
                DirFacts {
                    symlink: true,
                    ..ours
                },
                "symlink",
            ),
            (DirFacts { dir: false, ..ours }, "not a directory"),
        ] {
            let err = check_dir(&dir, &facts, effective).unwrap_err();
            assert!(err.contains(why), "{facts:?}: {err}");
        }
    }

    fn unsafe_geteuid() -> u32 {
        // SAFETY: geteuid cannot fail and touches no memory.
        unsafe { libc::geteuid() }
    }
}
