//! Inspect sockets of processes in other namespaces (containers, systemd
//! units with a private `/tmp`), found from here through `/proc`.
//!
//! A process in its own pid namespace names its socket by the pid it sees
//! (the innermost of `NSpid` in `/proc/PID/status`), and puts it in the
//! directory it sees: its own `$RINGLINE_INSPECT_DIR` or
//! `$XDG_RUNTIME_DIR/ringline` (read from `/proc/PID/environ`, the
//! environment it was started with), else `/tmp/ringline-<its euid>`, all
//! inside its own mount namespace — which `/proc/PID/root` shows us.
//!
//! The socket is only used when it passes the same rules the runtime keeps
//! (checked through the `/proc/PID/root` path): a directory, not a symlink,
//! owned by the target's uid, no access for group or others; a socket,
//! owned by the same uid, no access for group or others; and we are that
//! uid or root. Symlinks on the way to the directory are followed inside
//! the target's root, never into ours.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::socket_dir::{Endpoint, choose_dir, own_uid, socket_path};

/// What `/proc/PID/status` tells about where a process's socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    /// Its effective uid (the one its socket directory is named by and
    /// owned by).
    pub euid: u32,
    /// Its pid in each pid namespace it is in, outermost (ours, when it is
    /// below us) first; the last is the one its socket is named by.
    pub ns_pids: Vec<u32>,
}

impl Status {
    /// The pid the process sees for itself.
    pub fn inner_pid(&self) -> Option<u32> {
        self.ns_pids.last().copied()
    }
}

/// Parses `/proc/PID/status` (the `Uid:` and `NSpid:` lines; a kernel
/// older than 4.1 has no `NSpid:`, read as `pid` alone).
pub(crate) fn parse_status(text: &str, pid: u32) -> Option<Status> {
    let mut euid = None;
    let mut ns_pids = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            // real, effective, saved, filesystem
            euid = rest.split_whitespace().nth(1).and_then(|u| u.parse().ok());
        } else if let Some(rest) = line.strip_prefix("NSpid:") {
            let pids: Option<Vec<u32>> = rest.split_whitespace().map(|p| p.parse().ok()).collect();
            ns_pids = pids.filter(|p| !p.is_empty());
        }
    }
    Some(Status {
        euid: euid?,
        ns_pids: ns_pids.unwrap_or_else(|| vec![pid]),
    })
}

/// `RINGLINE_INSPECT_DIR` and `XDG_RUNTIME_DIR` of a `/proc/PID/environ`
/// (NUL-separated `NAME=value`).
pub(crate) fn parse_environ(environ: &[u8]) -> (Option<OsString>, Option<OsString>) {
    let mut inspect_dir = None;
    let mut runtime_dir = None;
    for entry in environ.split(|&b| b == 0) {
        if let Some(v) = entry.strip_prefix(b"RINGLINE_INSPECT_DIR=") {
            inspect_dir = Some(OsString::from_vec(v.to_vec()));
        } else if let Some(v) = entry.strip_prefix(b"XDG_RUNTIME_DIR=") {
            runtime_dir = Some(OsString::from_vec(v.to_vec()));
        }
    }
    (inspect_dir, runtime_dir)
}

/// What [`check_target`] judges a found socket by (from `lstat` of the
/// directory and of the socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The directory is a symlink.
    pub dir_symlink: bool,
    /// The directory is a directory.
    pub dir_is_dir: bool,
    /// The directory's owner.
    pub dir_owner: u32,
    /// The directory's permission bits.
    pub dir_mode: u32,
    /// The socket is a socket.
    pub sock_is_socket: bool,
    /// The socket's owner.
    pub sock_owner: u32,
    /// The socket's permission bits.
    pub sock_mode: u32,
}

/// Whether we (`viewer`, an effective uid) may use a socket with these
/// facts of a process running as `target`: the runtime's own rules for its
/// directory and socket, and the server's rule for its peers (the same
/// uid, or root).
pub(crate) fn check_target(facts: &Facts, target: u32, viewer: u32) -> Result<(), String> {
    if viewer != target && viewer != 0 {
        return Err(format!(
            "the process runs as uid {target} and we are uid {viewer}: only the same user or root may attach"
        ));
    }
    if facts.dir_symlink {
        return Err("its socket directory is a symlink".into());
    }
    if !facts.dir_is_dir {
        return Err("its socket directory is not a directory".into());
    }
    if facts.dir_owner != target {
        return Err(format!(
            "its socket directory belongs to uid {}, not to the process's uid {target}",
            facts.dir_owner
        ));
    }
    if facts.dir_mode & 0o077 != 0 {
        return Err(format!(
            "its socket directory has mode {:03o}; it must be 0700",
            facts.dir_mode
        ));
    }
    if !facts.sock_is_socket {
        return Err("its socket path is not a socket".into());
    }
    if facts.sock_owner != target {
        return Err(format!(
            "its socket belongs to uid {}, not to the process's uid {target}",
            facts.sock_owner
        ));
    }
    if facts.sock_mode & 0o077 != 0 {
        return Err(format!(
            "its socket has mode {:03o}; it must be 0600",
            facts.sock_mode
        ));
    }
    Ok(())
}

/// Most symlinks followed while resolving one path (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// `path` (absolute, as the target sees it) resolved inside `root` (its
/// `/proc/PID/root`): every symlink is followed as the target would follow
/// it — an absolute one from `root`, `..` never above `root` — so no link
/// the target made can lead us out of its filesystem. The last component
/// is not followed (it is checked not to be a symlink).
pub(crate) fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut todo: Vec<OsString> = components(path);
    todo.reverse();
    // The resolved components below root.
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(name) = todo.pop() {
        if name == ".." {
            done.pop();
            continue;
        }
        if todo.is_empty() {
            done.push(name);
            break;
        }
        let here: PathBuf = done.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        let next = here.join(&name);
        let meta = std::fs::symlink_metadata(&next)?;
        if !meta.file_type().is_symlink() {
            done.push(name);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(io::Error::other(format!(
                "too many symlinks resolving {}",
                path.display()
            )));
        }
        let target = std::fs::read_link(&next)?;
        if target.is_absolute() {
            done.clear();
        }
        for c in components(&target).into_iter().rev() {
            todo.push(c);
        }
    }
    Ok(done.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// The names and `..`s of `path` (`/` and `.` dropped).
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Where a process's inspect socket is, seen from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The process, by its pid here.
    pub pid: u32,
    /// Its pid in its own pid namespace (the name of its socket); equal to
    /// `pid` when it shares ours.
    pub ns_pid: u32,
    /// The socket, as a path usable from here (through `/proc/PID/root`
    /// for a process in another mount namespace).
    pub socket: PathBuf,
    /// True when the process is in another pid or mount namespace, or has
    /// another root directory.
    pub foreign: bool,
}

/// Why [`locate`] found no socket to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocateError {
    /// There is no process with that pid (or its `/proc` is not ours to
    /// read).
    NoProcess(String),
    /// The process has no socket where it would put one (inspection off,
    /// not ringline, not started yet). `foreign` as in [`Located`].
    NoSocket {
        /// Where it was looked for, and what failed.
        message: String,
        /// True for a process in another namespace or root.
        foreign: bool,
    },
    /// There is a socket, but it breaks the rules (see the module docs):
    /// it is not to be used.
    Refused(String),
}

impl std::fmt::Display for LocateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocateError::NoProcess(m) | LocateError::Refused(m) => f.write_str(m),
            LocateError::NoSocket { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for LocateError {}

/// How a process stands to us: its status and whether it is in another
/// namespace or root.
fn examine(pid: u32) -> io::Result<(Status, bool)> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let text = std::fs::read_to_string(proc.join("status"))?;
    let status = parse_status(&text, pid).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot read uid and pids of /proc/{pid}/status"),
        )
    })?;
    let foreign = status.inner_pid() != Some(pid) || other_root(&proc) || other_mounts(&proc);
    Ok((status, foreign))
}

/// True when the process's root directory is not ours (a container, a
/// chroot). Unknown (not ours to read) counts as ours.
fn other_root(proc: &Path) -> bool {
    match (
        std::fs::metadata(proc.join("root")),
        std::fs::metadata("/proc/self/root"),
    ) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) != (b.dev(), b.ino()),
        _ => false,
    }
}

/// True when the process is in another mount namespace (its `/tmp` may
/// not be ours). Unknown counts as ours.
fn other_mounts(proc: &Path) -> bool {
    match (
        std::fs::read_link(proc.join("ns/mnt")),
        std::fs::read_link("/proc/self/ns/mnt"),
    ) {
        (Ok(a), Ok(b)) => a != b,
        _ => false,
    }
}

/// The socket of process `pid` as it sees it, through `/proc/PID/root`,
/// checked (see the module docs). `foreign` is only passed through to a
/// [`LocateError::NoSocket`].
fn socket_through_root(pid: u32, status: &Status, foreign: bool) -> Result<PathBuf, LocateError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let (inspect_dir, runtime_dir) = std::fs::read(proc.join("environ"))
        .map(|e| parse_environ(&e))
        .unwrap_or_default();
    let dir = choose_dir(inspect_dir, runtime_dir, status.euid);
    let inner = status.inner_pid().unwrap_or(pid);
    let shown = dir.join(format!("{inner}.sock"));
    let context = |e: String| {
        format!(
            "pid {pid}: {} (as the process sees it): {e}",
            shown.display()
        )
    };
    let missing = |e: io::Error| LocateError::NoSocket {
        message: context(e.to_string()),
        foreign,
    };
    let dir = resolve_in_root(&proc.join("root"), &dir).map_err(missing)?;
    let socket = dir.join(format!("{inner}.sock"));
    let dir_meta = std::fs::symlink_metadata(&dir).map_err(missing)?;
    let sock_meta = std::fs::symlink_metadata(&socket).map_err(missing)?;
    let facts = Facts {
        dir_symlink: dir_meta.file_type().is_symlink(),
        dir_is_dir: dir_meta.is_dir(),
        dir_owner: dir_meta.uid(),
        dir_mode: dir_meta.permissions().mode() & 0o777,
        sock_is_socket: sock_meta.file_type().is_socket(),
        sock_owner: sock_meta.uid(),
        sock_mode: sock_meta.permissions().mode() & 0o777,
    };
    check_target(&facts, status.euid, own_uid())
        .map_err(|e| LocateError::Refused(format!("{}; not attaching", context(e))))?;
    Ok(socket)
}

/// Finds the inspect socket of process `pid` (a pid of our namespace):
/// in our socket directory when it shares our namespaces and root and its
/// socket is there; else where the process itself put it, through
/// `/proc/PID/root` (see the module docs).
///
/// An `Err` says why there is no usable socket: no such process, none
/// where it would be, or one that breaks the rules (then it is not used).
pub fn locate(pid: u32) -> Result<Located, LocateError> {
    let (status, foreign) = examine(pid).map_err(|e| {
        LocateError::NoProcess(match e.kind() {
            io::ErrorKind::NotFound => format!("no process with pid {pid}"),
            _ => format!("cannot read /proc/{pid}/status: {e}"),
        })
    })?;
    let ns_pid = status.inner_pid().unwrap_or(pid);
    if !foreign {
        let ours = socket_path(pid);
        let there = std::fs::symlink_metadata(&ours).is_ok_and(|m| m.file_type().is_socket());
        if there {
            return Ok(Located {
                pid,
                ns_pid,
                socket: ours,
                foreign,
            });
        }
    }
    socket_through_root(pid, &status, foreign).map(|socket| Located {
        pid,
        ns_pid,
        socket,
        foreign,
    })
}

/// Every process of another namespace or root (of our uid, or any when we
/// are root) with a usable inspect socket, by pid.
pub(crate) fn list_foreign() -> Vec<Endpoint> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let viewer = own_uid();
    let mut found: Vec<Endpoint> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let (status, foreign) = examine(pid).ok()?;
            if !foreign || (viewer != 0 && status.euid != viewer) {
                return None;
            }
            let path = socket_through_root(pid, &status, foreign).ok()?;
            Some(Endpoint {
                pid,
                ns_pid: status.inner_pid().filter(|&p| p != pid),
                path,
                alive: true,
            })
        })
        .collect();
    found.sort_by_key(|e| e.pid);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{DirBuilderExt, symlink};

    const STATUS: &str = "Name:\tdemo\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t31337\nNgid:\t0\nPid:\t31337\nPPid:\t31336\nTracerPid:\t0\nUid:\t1000\t1001\t1000\t1001\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t\nNStgid:\t31337\t1\nNSpid:\t31337\t1\nNSpgid:\t31336\t0\nNSsid:\t31336\t0\nThreads:\t3\n";

    #[test]
    fn status_gives_the_effective_uid_and_the_innermost_pid() {
        let s = parse_status(STATUS, 31337).unwrap();
        assert_eq!(s.euid, 1001);
        assert_eq!(s.ns_pids, [31337, 1]);
        assert_eq!(s.inner_pid(), Some(1));
        // Three levels deep.
        let deep = STATUS.replace("NSpid:\t31337\t1", "NSpid:\t31337\t77\t5");
        assert_eq!(parse_status(&deep, 31337).unwrap().inner_pid(), Some(5));
        // A kernel without NSpid: the pid itself.
        let old = STATUS.replace("NSpid:\t31337\t1\n", "");
        assert_eq!(parse_status(&old, 31337).unwrap().ns_pids, [31337]);
        // No Uid line: unusable.
        assert_eq!(parse_status("Name:\tx\n", 1), None);
    }

    #[test]
    fn environ_gives_the_two_directories() {
        let env =
            b"PATH=/bin\0RINGLINE_INSPECT_DIR=/run/rl\0HOME=/root\0XDG_RUNTIME_DIR=/run/user/7\0";
        let (i, r) = parse_environ(env);
        assert_eq!(i.as_deref(), Some(std::ffi::OsStr::new("/run/rl")));
        assert_eq!(r.as_deref(), Some(std::ffi::OsStr::new("/run/user/7")));
        assert_eq!(parse_environ(b"X_RINGLINE_INSPECT_DIR=/no\0"), (None, None));
        assert_eq!(parse_environ(b""), (None, None));
    }

    fn good() -> Facts {
        Facts {
            dir_symlink: false,
            dir_is_dir: true,
            dir_owner: 1000,
            dir_mode: 0o700,
            sock_is_socket: true,
            sock_owner: 1000,
            sock_mode: 0o600,
        }
    }

    #[test]
    fn a_foreign_socket_keeps_the_runtimes_rules() {
        assert_eq!(check_target(&good(), 1000, 1000), Ok(()));
        assert_eq!(check_target(&good(), 1000, 0), Ok(()), "root may attach");
        let cases = [
            (good(), 1000, 1001, "only the same user or root"),
            (good(), 0, 1000, "only the same user or root"),
            (
                Facts {
                    dir_symlink: true,
                    ..good()
                },
                1000,
                1000,
                "symlink",
            ),
            (
                Facts {
                    dir_is_dir: false,
                    ..good()
                },
                1000,
                1000,
                "not a directory",
            ),
            (
                Facts {
                    dir_owner: 0,
                    ..good()
                },
                1000,
                0,
                "belongs to uid 0",
            ),
            (
                Facts {
                    dir_mode: 0o755,
                    ..good()
                },
                1000,
                1000,
                "mode 755",
            ),
            (
                Facts {
                    dir_mode: 0o710,
                    ..good()
                },
                1000,
                1000,
                "mode 710",
            ),
            (
                Facts {
                    sock_is_socket: false,
                    ..good()
                },
                1000,
                1000,
                "not a socket",
            ),
            (
                Facts {
                    sock_owner: 65534,
                    ..good()
                },
                1000,
                1000,
                "socket belongs to uid 65534",
            ),
            (
                Facts {
                    sock_mode: 0o666,
                    ..good()
                },
                1000,
                1000,
                "mode 666",
            ),
        ];
        for (facts, target, viewer, why) in cases {
            let err = check_target(&facts, target, viewer).unwrap_err();
            assert!(err.contains(why), "{facts:?} {target} {viewer}: {err}");
        }
    }

    /// A private temp directory, removed on drop.
    struct Temp(PathBuf);

    impl Temp {
        fn new(tag: &str) -> Temp {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!(
                "ringline-schema-ns-{}-{n}-{tag}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::DirBuilder::new().mode(0o700).create(&p).unwrap();
            Temp(p)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_targets_root() {
        let t = Temp::new("root");
        let root = t.0.join("root");
        std::fs::create_dir_all(root.join("private/tmp/ringline-0")).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        // An absolute link: from the target's root, not ours.
        symlink("/private/tmp", root.join("tmp")).unwrap();
        // A relative one, and one that climbs above the root.
        symlink("../private/tmp", root.join("run/tmp")).unwrap();
        symlink("../../../../../../private", root.join("up")).unwrap();
        let r = |p: &str| resolve_in_root(&root, Path::new(p)).unwrap();
        assert_eq!(r("/tmp/ringline-0"), root.join("private/tmp/ringline-0"));
        assert_eq!(
            r("/run/tmp/ringline-0"),
            root.join("private/tmp/ringline-0")
        );
        assert_eq!(r("/up/tmp/ringline-0"), root.join("private/tmp/ringline-0"));
        assert_eq!(r("/../../tmp/x"), root.join("private/tmp/x"));
        // The last component is left alone, for the symlink check.
        symlink("/private/tmp/ringline-0", root.join("private/tmp/link")).unwrap();
        assert_eq!(r("/tmp/link"), root.join("private/tmp/link"));
        // A loop is an error, not a hang.
        symlink("/loop", root.join("loop")).unwrap();
        assert!(resolve_in_root(&root, Path::new("/loop/x")).is_err());
        // A missing component is an error.
        assert!(resolve_in_root(&root, Path::new("/nope/x")).is_err());
    }

    #[test]
    fn a_process_in_our_namespaces_is_not_foreign_and_a_missing_one_is_named() {
        let (status, foreign) = examine(std::process::id()).unwrap();
        assert!(!foreign);
        assert_eq!(status.euid, own_uid());
        assert_eq!(status.inner_pid(), Some(std::process::id()));
        let err = locate(4_194_999).unwrap_err();
        assert!(matches!(err, LocateError::NoProcess(_)), "{err}");
        assert!(
            err.to_string().contains("no process with pid 4194999"),
            "{err}"
        );
        // We have no socket: looked for where we would put one.
        let err = locate(std::process::id()).unwrap_err();
        assert!(
            matches!(err, LocateError::NoSocket { foreign: false, .. }),
            "{err}"
        );
    }
}
