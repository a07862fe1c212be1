//! Names of file descriptors, for the op registry's `Fd` targets: the
//! path a file was opened by through `ringline::fs` (recorded at open,
//! forgotten when its descriptor is closed), else — for a reader that is
//! not a worker — what `/proc/self/fd/N` links to (Linux only).
//!
//! The table is process-wide, like descriptor numbers. Workers touch its
//! lock only to record or forget one entry, at open and close (never per
//! op); readers copy one path out under it. The `/proc` lookup is a
//! syscall, so it never runs on a worker thread: a snapshot taken there
//! (`this_runtime`, or `snapshot` called from a task) names only the files
//! ringline opened.
//!
//! A descriptor number is reused as soon as it is closed, so an entry is
//! forgotten right before its descriptor is closed, never after. A reader
//! may still pair an op it read a moment ago with the file a reused number
//! names now; the op registry is a picture of the past either way.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::Mutex;

/// Descriptor → path of the files open through `ringline::fs`.
static PATHS: Mutex<BTreeMap<RawFd, String>> = Mutex::new(BTreeMap::new());

thread_local! {
    /// Set on worker threads: no `/proc` lookups here.
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

fn paths() -> std::sync::MutexGuard<'static, BTreeMap<RawFd, String>> {
    PATHS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks the calling thread as a worker: readers on it never resolve
/// descriptors through `/proc`.
pub(crate) fn on_worker_thread() {
    ON_WORKER.with(|w| w.set(true));
}

/// `fd` was just opened by `path` (bytes, without the NUL). Nothing is
/// kept with the `stats` feature off.
pub(crate) fn record(fd: RawFd, path: &[u8]) {
    if super::ENABLED {
        paths().insert(fd, String::from_utf8_lossy(path).into_owned());
    }
}

/// `fd` is about to be closed: its number may name another file next.
pub(crate) fn forget(fd: RawFd) {
    if super::ENABLED {
        paths().remove(&fd);
    }
}

/// The path of `fd`: as recorded at open, else (off worker threads, on
/// Linux) as `/proc/self/fd` names it now; `None` when neither is known.
pub(crate) fn path_of(fd: RawFd) -> Option<String> {
    if let Some(path) = paths().get(&fd) {
        return Some(path.clone());
    }
    if ON_WORKER.with(Cell::get) {
        return None;
    }
    resolve(fd)
}

/// What `/proc/self/fd/<fd>` links to (a path, or e.g. `pipe:[1234]`);
/// `None` for a descriptor that is not open, or off Linux.
#[cfg(target_os = "linux")]
pub(crate) fn resolve(fd: RawFd) -> Option<String> {
    if fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// No `/proc/self/fd` here: unknown.
#[cfg(not(target_os = "linux"))]
pub(crate) fn resolve(_fd: RawFd) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A file in a fresh directory, open, with its canonical path.
    fn temp_file(tag: &str) -> (std::fs::File, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("ringline-fd-paths-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("named.txt");
        let file = std::fs::File::create(&path).unwrap();
        (file, std::fs::canonicalize(&path).unwrap())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn other_descriptors_resolve_through_proc_off_workers_only() {
        let (file, path) = temp_file("proc");
        let fd = file.as_raw_fd();
        let expected = path.to_string_lossy().into_owned();
        assert_eq!(resolve(fd).as_deref(), Some(expected.as_str()));
        assert_eq!(path_of(fd).as_deref(), Some(expected.as_str()));
        let (r, w) = std::io::pipe().unwrap();
        let pipe = resolve(r.as_raw_fd()).unwrap();
        assert!(pipe.starts_with("pipe:["), "{pipe}");
        drop((r, w));
        assert_eq!(resolve(-1), None);
        assert_eq!(resolve(i32::MAX), None, "not open");
        // A worker thread does no syscall for it.
        std::thread::spawn(move || {
            on_worker_thread();
            assert_eq!(path_of(fd), None);
        })
        .join()
        .unwrap();
        drop(file);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[cfg(feature = "stats")]
    #[test]
    fn recorded_paths_win_everywhere_until_forgotten() {
        let (file, path) = temp_file("recorded");
        let fd = file.as_raw_fd();
        record(fd, b"relative/as-opened.txt");
        assert_eq!(path_of(fd).as_deref(), Some("relative/as-opened.txt"));
        std::thread::spawn(move || {
            on_worker_thread();
            assert_eq!(path_of(fd).as_deref(), Some("relative/as-opened.txt"));
        })
        .join()
        .unwrap();
        forget(fd);
        #[cfg(target_os = "linux")]
        assert_eq!(path_of(fd), Some(path.to_string_lossy().into_owned()));
        drop(file);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
