//! Asynchronous file I/O on native io_uring opcodes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Limits of the filesystem layer, per worker.
#[derive(Clone, Debug)]
pub struct FsConfig {
    /// Files open at once.
    pub max_files: u16,
    /// File operations in flight at once.
    pub max_commands_in_flight: u16,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            max_files: 64,
            max_commands_in_flight: 256,
        }
    }
}

/// Cleans up after a file op whose future was dropped, once the kernel is
/// done with it (e.g. closes a file that was opened for nobody).
pub(crate) fn reap_orphan(
    _worker: &crate::worker::Worker,
    slot: crate::driver::uring::ops::OpSlot,
    _result: i32,
) {
    drop(slot);
}

/// Future of a file operation whose output is a byte count or status.
#[must_use = "futures do nothing unless awaited"]
pub struct DiskIoFuture {
    _private: (),
}

impl Future for DiskIoFuture {
    type Output = io::Result<i32>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "file I/O is not available in this build",
        )))
    }
}
