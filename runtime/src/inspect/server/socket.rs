//! The listening socket and the file that names it: bound in the socket
//! directory, re-created when someone deletes or replaces the file, and
//! removed when the process exits (only while it is still ours).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use super::super::socket_dir::{bind_socket, clean_stale, prepare_dir, socket_inode};
use crate::sys;

/// The listening socket and the file that names it.
pub(crate) struct Socket {
    listener: UnixListener,
    dir: PathBuf,
    path: PathBuf,
    inode: u64,
    /// Whether the last re-creation failed (to log once, not every second).
    broken: bool,
}

impl Socket {
    /// Binds the socket in `dir`, or says why inspection is off.
    pub(super) fn create(dir: &Path) -> Option<Socket> {
        if let Err(why) = prepare_dir(dir) {
            eprintln!("ringline: inspection disabled: {why}");
            return None;
        }
        clean_stale(dir);
        match bind(dir) {
            Ok((listener, path)) => {
                let inode = socket_inode(&path).unwrap_or(0);
                remove_at_exit(&path, inode);
                Some(Socket {
                    listener,
                    dir: dir.to_path_buf(),
                    path,
                    inode,
                    broken: false,
                })
            }
            Err(e) => {
                eprintln!(
                    "ringline: inspection disabled: cannot bind {}: {e}",
                    dir.join(format!("{}.sock", std::process::id())).display()
                );
                None
            }
        }
    }

    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    /// Accepts one waiting connection (non-blocking, as the listener).
    pub(super) fn accept(&self) -> io::Result<UnixStream> {
        self.listener.accept().map(|(stream, _)| stream)
    }

    /// Re-creates the socket if its file was deleted or replaced, and
    /// registers the new listener under `token`; true when it did.
    pub(super) fn check(&mut self, registry: &Registry, token: Token) -> bool {
        if socket_inode(&self.path) == Some(self.inode) {
            return false;
        }
        let recreated = prepare_dir(&self.dir)
            .map_err(|why| why.to_string())
            .and_then(|()| bind(&self.dir).map_err(|e| e.to_string()))
            .and_then(|(mut listener, path)| {
                registry
                    .register(&mut listener, token, Interest::READABLE)
                    .map(|()| (listener, path))
                    .map_err(|e| format!("cannot watch it: {e}"))
            });
        match recreated {
            Ok((listener, path)) => {
                eprintln!(
                    "ringline: inspect socket {} was removed or replaced; re-created it",
                    path.display()
                );
                self.inode = socket_inode(&path).unwrap_or(0);
                remove_at_exit(&path, self.inode);
                let _ = registry.deregister(&mut self.listener);
                self.listener = listener;
                self.path = path;
                self.broken = false;
                true
            }
            Err(why) if !self.broken => {
                eprintln!(
                    "ringline: inspect socket {} is gone and cannot be re-created: {why}",
                    self.path.display()
                );
                self.broken = true;
                false
            }
            Err(_) => false,
        }
    }
}

/// Binds this process's socket in `dir`, non-blocking for the poll loop.
fn bind(dir: &Path) -> io::Result<(UnixListener, PathBuf)> {
    let (listener, path) = bind_socket(dir, std::process::id())?;
    listener.set_nonblocking(true)?;
    Ok((UnixListener::from_std(listener), path))
}

/// The socket file to remove at exit (and its inode, to never remove one
/// another process put there).
static AT_EXIT: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

fn remove_at_exit(path: &Path, inode: u64) {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()) = Some((path.to_path_buf(), inode));
    REGISTERED.get_or_init(|| {
        // Takes the lock without blocking and removes a file: nothing
        // that could hang an exit.
        extern "C" fn remove() {
            if let Ok(guard) = AT_EXIT.try_lock()
                && let Some((path, inode)) = guard.as_ref()
                && socket_inode(path) == Some(*inode)
            {
                let _ = std::fs::remove_file(path);
            }
        }
        sys::at_exit(remove);
    });
}
