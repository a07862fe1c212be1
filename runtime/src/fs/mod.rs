//! Asynchronous file I/O on native io_uring opcodes (`openat`, `read`,
//! `write`, `fsync`, `statx`, `renameat`, `unlinkat`, `mkdirat`): no
//! blocking syscall on a worker thread, except `close(2)` in [`close`].
//!
//! Every call submits one SQE through the worker's op table and returns a
//! future; every future works the same way:
//!
//! ```text
//!  fs::read_into(..) ──► op slot {kind, hold} ──SQE──► kernel
//!        │                   hold = FsHold { permit, fd (Rc), path(s),
//!        │                                   buffer, statx buffer, … }
//!        ▼
//!   ReadFuture ──poll──► CQE in? ──► slot freed, hold handed back:
//!        │                            buffer returned, fd ref and
//!        │                            command permit released
//!     dropped
//!        ▼
//!   slot parked in the graveyard (hold and its bytes kept, counted),
//!   ASYNC_CANCEL submitted ──CQE──► `reap_orphan`: an fd opened for
//!   nobody is closed, the hold is dropped only now
//! ```
//!
//! Design choices, each documented where it lives:
//!
//! * Files are plain descriptors from `openat` (`O_CLOEXEC`), not
//!   io_uring fixed files: no registration step, no second table to keep in
//!   step, and `close` stays a plain `close(2)`.
//! * A [`File`] is an index into the worker's file table plus the slot's
//!   generation and the table's process-unique id (see `table.rs`): a closed,
//!   reused or foreign handle is an error, never another file.
//! * Every op holds an `Rc` of its file's descriptor, so [`close`] while
//!   ops are in flight defers the real `close(2)` until the last of them
//!   completes: no op ever reaches a reused descriptor number.
//! * Limits ([`FsConfig`]) are checked before any SQE is built; exceeding
//!   one is an error value, never a panic or a wait.

mod current;
mod handle;
mod io;
mod meta;
mod op;
mod open;
mod path;
mod table;

pub use crate::config::FsConfig;
pub use handle::{File, OpenFlags};
pub use io::{ReadFuture, WriteFuture, fsync, read, read_into, write, write_from};
pub use meta::{Metadata, StatFuture, stat};
pub use op::DiskIoFuture;
pub use open::{OpenFuture, close, create, open};
pub use path::{mkdir, remove, rename};

pub(crate) use current::{Fs, enter, try_with};

pub(crate) use table::FsState;
