//! Where inspect sockets live, as readers find them: one directory per
//! user, one socket per process named by its pid.
//!
//! Directory, in order: `$RINGLINE_INSPECT_DIR`, `$XDG_RUNTIME_DIR/ringline`,
//! `/tmp/ringline-<uid>`. The runtime creates it private (0700) and checks
//! it before serving there; that side stays in the runtime.
//!
//! One uid throughout, [`own_uid`]: the effective one. It owns what a
//! process creates (the directory, the socket), it is what `SO_PEERCRED`
//! reports for peers, and it is what the directory must belong to. In a
//! setuid program the real uid differs; naming the fallback directory by
//! it (as `getuid` did) put a root-owned `/tmp/ringline-<user>` where the
//! user's own processes then refuse to serve.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

// SAFETY: these are the POSIX prototypes on every unix ringline builds on
// (Linux, macOS, the BSDs): `uid_t` is `u32` and `pid_t` is `i32` there.
// Both calls take plain integers and touch no memory of ours, so no
// argument can make them undefined behaviour: they are declared `safe`.
// Declared here rather than taken from `libc` so that this crate depends on
// serde alone.
unsafe extern "C" {
    safe fn geteuid() -> u32;
    safe fn kill(pid: i32, sig: i32) -> i32;
}

/// `EPERM`: 1 on Linux, macOS and the BSDs alike.
const EPERM: i32 = 1;

/// The uid whose inspect sockets these are: the effective uid (see the
/// module docs). The runtime checks its directory and its peers against
/// the same value.
pub fn own_uid() -> u32 {
    geteuid()
}

/// The directory inspect sockets of this user live in.
pub fn socket_dir() -> PathBuf {
    choose_dir(
        std::env::var_os("RINGLINE_INSPECT_DIR"),
        std::env::var_os("XDG_RUNTIME_DIR"),
        own_uid(),
    )
}

/// [`socket_dir`] from its inputs: the two variables (empty counts as
/// unset) and the uid.
// Not API: public for the runtime's test that the directory is chosen and
// checked with the same uid.
#[doc(hidden)]
pub fn choose_dir(
    inspect_dir: Option<OsString>,
    runtime_dir: Option<OsString>,
    uid: u32,
) -> PathBuf {
    if let Some(dir) = inspect_dir.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = runtime_dir.filter(|d| !d.is_empty()) {
        return Path::new(&dir).join("ringline");
    }
    PathBuf::from(format!("/tmp/ringline-{uid}"))
}

/// The inspect socket of process `pid`.
pub fn socket_path(pid: u32) -> PathBuf {
    socket_dir().join(format!("{pid}.sock"))
}

/// An inspect socket found in [`socket_dir`], or (on Linux) of a process
/// in another namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The process it belongs to, by its pid here.
    pub pid: u32,
    /// Its pid in its own pid namespace, the name of its socket, when that
    /// differs from `pid` (a process in a container).
    pub ns_pid: Option<u32>,
    /// The socket.
    pub path: PathBuf,
    /// False when no process with that pid exists any more (a stale socket
    /// its process could not remove, e.g. after `SIGKILL`).
    pub alive: bool,
}

/// Every inspect socket of this user, by pid: those in [`socket_dir`],
/// and on Linux those of processes in other namespaces or roots (a
/// container, a private `/tmp`) found through `/proc` — of any user when
/// we are root (see [`locate`](super::locate)).
pub fn list() -> Vec<Endpoint> {
    let mut found = list_in(&socket_dir());
    add_foreign(&mut found);
    found
}

/// Adds the processes of other namespaces to `found` (those already
/// there, by pid, are not added twice).
#[cfg(target_os = "linux")]
fn add_foreign(found: &mut Vec<Endpoint>) {
    let ours: Vec<u32> = found.iter().filter(|e| e.alive).map(|e| e.pid).collect();
    found.extend(
        super::namespaces::list_foreign()
            .into_iter()
            .filter(|e| !ours.contains(&e.pid)),
    );
    found.sort_by_key(|e| e.pid);
}

/// Only Linux has namespaces to look into.
#[cfg(not(target_os = "linux"))]
fn add_foreign(_found: &mut Vec<Endpoint>) {}

/// Every inspect socket in `dir` (`<pid>.sock` names only), by pid; empty
/// when `dir` cannot be read.
pub fn list_in(dir: &Path) -> Vec<Endpoint> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Endpoint> = entries
        .flatten()
        .filter_map(|e| {
            let pid = pid_of(&e.file_name())?;
            let meta = std::fs::symlink_metadata(e.path()).ok()?;
            meta.file_type().is_socket().then(|| Endpoint {
                pid,
                ns_pid: None,
                path: e.path(),
                alive: pid_alive(pid),
            })
        })
        .collect();
    found.sort_by_key(|e| e.pid);
    found
}

/// The pid of a `<pid>.sock` name.
fn pid_of(name: &OsStr) -> Option<u32> {
    name.to_str()?.strip_suffix(".sock")?.parse().ok()
}

/// True when a process with `pid` exists (even one we may not signal).
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 only checks that the process exists.
    if kill(pid, 0) == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_names() {
        assert_eq!(pid_of(OsStr::new("4242.sock")), Some(4242));
        assert_eq!(pid_of(OsStr::new(".4242.sock.123")), None);
        assert_eq!(pid_of(OsStr::new("x.sock")), None);
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn pid_one_exists_and_a_pid_past_the_maximum_does_not() {
        // pid 1 is init: alive, and not ours to signal unless we are root,
        // so this also covers the EPERM answer.
        assert!(pid_alive(1));
        // pid_max is at most 2^22 on Linux, 99 999 on macOS.
        assert!(!pid_alive(4_194_999));
        assert!(!pid_alive(u32::MAX), "not a pid_t");
    }

    #[test]
    fn own_uid_owns_what_we_create() {
        let path = std::env::temp_dir().join(format!("ringline-schema-uid-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(owner, own_uid());
    }
}
