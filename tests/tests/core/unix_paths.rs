//! The file a Unix listener lives at: a stale socket file is replaced, a
//! live socket of another listener and a file that is not a socket are
//! left alone (launch fails), and a runtime's exit removes the path only
//! while it is still the socket that runtime created.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use ringline::{Error, RinglineBuilder, ShutdownHandle};
use ringline_tests::{
    Echo, IO_TIMEOUT, TempDir, Workers, backend_test, launch_with, shutdown_and_join, test_config,
};

/// Connects to `path`, sends `msg` and reads it back (the runtime echoes).
fn unix_echo(path: &Path, msg: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("connect to the runtime's socket");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    stream.write_all(msg).expect("write");
    let mut got = vec![0u8; msg.len()];
    stream.read_exact(&mut got).expect("read the echo");
    got
}

/// Asserts that `listener` (bound at `path`) still gets the connections
/// made to `path`: a client sends `msg` and the listener's side reads it.
/// Connections already queued (a runtime's liveness probe connects and
/// hangs up) are read to their EOF and skipped.
fn assert_still_serves(listener: &UnixListener, path: &Path, msg: &[u8]) {
    let mut client = UnixStream::connect(path).expect("connect to the held socket");
    client.write_all(msg).expect("write to the held socket");
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((mut conn, _)) => {
                conn.set_nonblocking(false).expect("blocking");
                conn.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                while got.len() < msg.len() {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) => panic!("reading an accepted connection: {e}"),
                    }
                }
                if got == msg {
                    return;
                }
                assert!(got.is_empty(), "unexpected bytes {got:?}");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "the held listener never got our connection"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept on the held socket: {e}"),
        }
    }
}

/// `(device, inode)` of the file at `path` (not following a symlink).
fn identity(path: &Path) -> (u64, u64) {
    let meta = std::fs::symlink_metadata(path).expect("stat the path");
    (meta.dev(), meta.ino())
}

/// Launches `Echo` listening at `path`; `None` if the backend is
/// unavailable here.
fn launch_at(
    path: &Path,
    backend: ringline::config::BackendChoice,
) -> Option<(ShutdownHandle, Workers)> {
    launch_with::<Echo>(
        RinglineBuilder::new(test_config(backend)).bind_unix(path),
        backend,
    )
}

backend_test! {
    /// A socket file nobody listens on (left by a process that died) is
    /// replaced, and the runtime's own socket is removed when it exits.
    fn a_stale_socket_file_is_replaced(backend) {
        let dir = TempDir::new("unix-stale");
        let path = dir.path().join("app.sock");
        drop(UnixListener::bind(&path).expect("bind the soon-stale socket"));
        assert!(path.exists(), "a closed listener leaves its file behind");
        let Some((shutdown, workers)) = launch_at(&path, backend) else {
            return;
        };
        assert_eq!(unix_echo(&path, b"fresh"), b"fresh");
        shutdown_and_join(&shutdown, workers);
        assert!(!path.exists(), "the runtime's own socket outlived it");
    }
}

backend_test! {
    /// A live socket of another listener is never taken over: launch fails
    /// with `AddrInUse` and that listener keeps its path and its clients.
    fn a_live_socket_is_not_replaced(backend) {
        let dir = TempDir::new("unix-live");
        let path = dir.path().join("app.sock");
        let held = UnixListener::bind(&path).expect("bind the live socket");
        let before = identity(&path);
        let launched = RinglineBuilder::new(test_config(backend))
            .bind_unix(&path)
            .launch::<Echo>();
        match launched {
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::AddrInUse => {
                let message = e.to_string();
                assert!(message.contains(&*path.to_string_lossy()), "{message}");
                assert!(message.contains("listening"), "{message}");
            }
            Err(other) => panic!("expected AddrInUse, got {other}"),
            Ok((shutdown, workers)) => {
                shutdown_and_join(&shutdown, workers);
                panic!("launch took over a live socket");
            }
        }
        assert_eq!(identity(&path), before, "the live socket file was replaced");
        assert_still_serves(&held, &path, b"still mine");

        // A launch that binds a free path first and then meets the live
        // one fails the same way and leaves no file at the free path.
        let free = dir.path().join("free.sock");
        let launched = RinglineBuilder::new(test_config(backend))
            .bind_unix(&free)
            .bind_unix(&path)
            .launch::<Echo>();
        assert!(
            matches!(&launched, Err(Error::Io(e)) if e.kind() == io::ErrorKind::AddrInUse),
            "expected AddrInUse, got {:?}",
            launched.as_ref().err()
        );
        assert!(!free.exists(), "a failed launch left its own socket file behind");
        assert_still_serves(&held, &path, b"still mine");
    }
}

backend_test! {
    /// A second runtime at the path of a running one fails to launch, and
    /// the first keeps serving there.
    fn a_second_runtime_cannot_take_a_running_ones_path(backend) {
        let dir = TempDir::new("unix-second");
        let path = dir.path().join("app.sock");
        let Some((shutdown, workers)) = launch_at(&path, backend) else {
            return;
        };
        let second = RinglineBuilder::new(test_config(backend))
            .bind_unix(&path)
            .launch::<Echo>();
        assert!(
            matches!(&second, Err(Error::Io(e)) if e.kind() == io::ErrorKind::AddrInUse),
            "expected AddrInUse, got {:?}",
            second.as_ref().err()
        );
        assert_eq!(unix_echo(&path, b"first"), b"first");
        shutdown_and_join(&shutdown, workers);
        assert!(!path.exists(), "the first runtime's socket outlived it");
    }
}

backend_test! {
    /// A rolling restart: while the old runtime still runs, the new
    /// process's listener takes the path (its socket file replaces the
    /// old one). The old runtime's exit must leave the new socket alone.
    fn exit_leaves_a_socket_another_listener_put_there(backend) {
        let dir = TempDir::new("unix-restart");
        let path = dir.path().join("app.sock");
        let Some((shutdown, workers)) = launch_at(&path, backend) else {
            return;
        };
        assert_eq!(unix_echo(&path, b"old"), b"old");
        std::fs::remove_file(&path).expect("the new process clears the path");
        let successor = UnixListener::bind(&path).expect("the new process binds");
        let successor_file = identity(&path);
        shutdown_and_join(&shutdown, workers);
        assert_eq!(
            std::fs::symlink_metadata(&path).ok().map(|m| (m.dev(), m.ino())),
            Some(successor_file),
            "the old runtime's exit removed the new process's socket"
        );
        assert_still_serves(&successor, &path, b"new");
    }
}

backend_test! {
    /// A regular file, or a symlink to a live socket, at the path is not a
    /// socket this runtime may replace: launch fails saying so, and the
    /// file is untouched.
    fn a_path_that_is_not_a_socket_is_left_alone(backend) {
        let dir = TempDir::new("unix-file");
        let file = dir.path().join("data.txt");
        std::fs::write(&file, b"precious").expect("write the file");
        let target = dir.path().join("real.sock");
        let held = UnixListener::bind(&target).expect("bind the link's target");
        let link = dir.path().join("link.sock");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        for path in [&file, &link] {
            let launched = RinglineBuilder::new(test_config(backend))
                .bind_unix(path)
                .launch::<Echo>();
            match launched {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let message = e.to_string();
                    assert!(message.contains("not a socket"), "{message}");
                    assert!(message.contains(&*path.to_string_lossy()), "{message}");
                }
                Err(other) => panic!("{}: expected AlreadyExists, got {other}", path.display()),
                Ok((shutdown, workers)) => {
                    shutdown_and_join(&shutdown, workers);
                    panic!("launch bound over {}", path.display());
                }
            }
        }
        assert_eq!(std::fs::read(&file).expect("the file is still there"), b"precious");
        assert!(
            std::fs::symlink_metadata(&link).expect("the link is still there").file_type().is_symlink()
        );
        assert_still_serves(&held, &target, b"untouched");
    }
}
