//! The per-worker file table: which [`File`] handles are live, the
//! descriptor each one names, and how many fs commands are in flight.
//!
//! ```text
//!            reserve()            finish_open(fd)          close()
//!   Free ───────────────► Opening ───────────────► Open ───────────► Free
//!    ▲   (open submitted)    │      (CQE: fd ≥ 0)        (generation+1)
//!    └───────────────────────┘
//!      release(): the open failed, or its future was dropped
//! ```
//!
//! An open descriptor is an `Rc<OwnedFd>`: the slot holds one reference
//! and every op in flight on the file holds another (in its op slot's
//! hold), so the `Rc`'s count is the file's in-flight count plus one.
//! `close` frees the slot and bumps its generation at once (every copy of
//! the handle is stale from then on) but the descriptor is closed only when
//! the last reference goes, i.e. when the last op on it has completed.
//! The kernel therefore never sees a descriptor number that was closed
//! and reused under an op.
//!
//! A `File` also carries the id of the table that issued it. Ids are
//! unique in the process (not worker gids, which are reused once a
//! worker exits), so a handle used on another worker, or on a later
//! runtime of the same thread, is rejected rather than resolved.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::op::FsHold;
use super::{File, FsConfig};
use crate::driver::ops::OpTable;
use crate::error::Error;
use crate::stats::fd_paths;
use crate::stats::kinds::SlabUsage;

/// Source of process-unique table ids; 0 is never issued.
static NEXT_TABLE_ID: AtomicU32 = AtomicU32::new(1);

enum Entry {
    Free,
    /// Taken by an `open` whose CQE has not arrived.
    Opening,
    Open(Rc<FileFd>),
}

/// An open file's descriptor, named in the stats' descriptor table (see
/// `stats::fd_paths`) from its open until right before it is closed: by
/// `into_owned` for `fs::close`, or when the last reference drops.
#[derive(Debug)]
pub(crate) struct FileFd {
    /// `None` only inside `into_owned`, which takes it out.
    fd: Option<OwnedFd>,
}

impl FileFd {
    /// `fd`, opened by `path` (when known: recorded for the stats).
    pub(crate) fn new(fd: OwnedFd, path: Option<&[u8]>) -> FileFd {
        if let Some(path) = path {
            fd_paths::record(fd.as_raw_fd(), path);
        }
        FileFd { fd: Some(fd) }
    }

    /// The descriptor, to be closed by the caller: its name is forgotten
    /// first.
    pub(crate) fn into_owned(mut self) -> Option<OwnedFd> {
        let fd = self.fd.take();
        if let Some(fd) = &fd {
            fd_paths::forget(fd.as_raw_fd());
        }
        fd
    }
}

impl AsRawFd for FileFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

impl Drop for FileFd {
    fn drop(&mut self) {
        // Before the `OwnedFd` field closes the number.
        if let Some(fd) = &self.fd {
            fd_paths::forget(fd.as_raw_fd());
        }
    }
}

struct FileSlot {
    generation: u32,
    entry: Entry,
}

/// A slot taken by an `open` in flight; see the module diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reserved {
    index: u16,
    generation: u32,
}

/// One fs command counted against `FsConfig::max_commands_in_flight`;
/// released when dropped (with the op's hold, however the op ends).
pub(crate) struct Permit(Rc<Cell<u32>>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A worker's filesystem state; see the module docs.
pub(crate) struct FsState {
    id: u32,
    limits: Option<FsConfig>,
    slots: Vec<FileSlot>,
    /// Free slot indices, popped from the back (lowest index first).
    free: Vec<u16>,
    /// Commands in flight; shared with every [`Permit`] so that dropping
    /// an op's hold (anywhere, under any borrow) releases its command.
    commands: Rc<Cell<u32>>,
    files_high_water: usize,
    files_exhausted: u64,
    commands_high_water: Cell<u32>,
    commands_exhausted: Cell<u64>,
    /// File ops in flight, and what each lends the kernel.
    pub(crate) ops: OpTable<Box<FsHold>>,
}

impl FsState {
    /// This table's process-unique id.
    #[cfg(test)]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The state for `Config::fs` (`None`: the layer is disabled); its op
    /// table's user data indices start at `ops_base`.
    pub(crate) fn new(config: Option<&FsConfig>, ops_base: u32) -> FsState {
        let op_slots = config.map_or(0, |c| u32::from(c.max_commands_in_flight));
        let files = config.map_or(0, |c| c.max_files);
        FsState {
            id: NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed),
            limits: config.cloned(),
            slots: (0..files)
                .map(|_| FileSlot {
                    generation: 0,
                    entry: Entry::Free,
                })
                .collect(),
            free: (0..files).rev().collect(),
            commands: Rc::new(Cell::new(0)),
            files_high_water: 0,
            files_exhausted: 0,
            commands_high_water: Cell::new(0),
            commands_exhausted: Cell::new(0),
            ops: OpTable::new(op_slots, ops_base),
        }
    }

    /// The limits, or the "disabled" error when `Config::fs` is `None`.
    pub(crate) fn limits(&self) -> io::Result<&FsConfig> {
        self.limits.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "filesystem disabled: Config::fs is None (set it to Some(FsConfig::default()) \
                 to use ringline::fs)",
            )
        })
    }

    /// Counts one more command in flight, or fails at the limit.
    pub(crate) fn permit(&self) -> io::Result<Permit> {
        let max = self.limits()?.max_commands_in_flight;
        let n = self.commands.get();
        if n >= u32::from(max) {
            self.commands_exhausted
                .set(self.commands_exhausted.get() + 1);
            return Err(io::Error::other(Error::ResourceLimit(format!(
                "fs commands exhausted: {max} already in flight on this worker \
                 (await or drop some, or raise FsConfig::max_commands_in_flight)"
            ))));
        }
        self.commands.set(n + 1);
        self.commands_high_water
            .set(self.commands_high_water.get().max(n + 1));
        Ok(Permit(self.commands.clone()))
    }

    /// Commands in flight (including dropped ops the kernel still runs).
    #[cfg(test)]
    pub(crate) fn commands_in_flight(&self) -> u32 {
        self.commands.get()
    }

    /// Takes a free slot for an `open` about to be submitted.
    pub(crate) fn reserve(&mut self) -> io::Result<Reserved> {
        let max = self.limits()?.max_files;
        let Some(index) = self.free.pop() else {
            self.files_exhausted += 1;
            return Err(io::Error::other(Error::ResourceLimit(format!(
                "fs file table full: all {max} slots are open or opening on this worker \
                 (close files, or raise FsConfig::max_files)"
            ))));
        };
        self.files_high_water = self
            .files_high_water
            .max(self.slots.len() - self.free.len());
        let slot = &mut self.slots[index as usize];
        slot.entry = Entry::Opening;
        Ok(Reserved {
            index,
            generation: slot.generation,
        })
    }

    /// The open of `r` succeeded: the slot now owns `fd`, opened by
    /// `path` (bytes, no NUL; named in the stats when given).
    pub(crate) fn finish_open(&mut self, r: Reserved, fd: OwnedFd, path: Option<&[u8]>) -> File {
        let slot = &mut self.slots[r.index as usize];
        debug_assert!(matches!(slot.entry, Entry::Opening) && slot.generation == r.generation);
        slot.entry = Entry::Open(Rc::new(FileFd::new(fd, path)));
        File {
            index: r.index,
            generation: r.generation,
            table: self.id,
        }
    }

    /// The open of `r` failed or was abandoned: the slot is free again.
    pub(crate) fn release(&mut self, r: Reserved) {
        let slot = &mut self.slots[r.index as usize];
        if slot.generation != r.generation || !matches!(slot.entry, Entry::Opening) {
            debug_assert!(false, "released a slot that was not reserved: {r:?}");
            return;
        }
        self.free_slot(r.index);
    }

    fn free_slot(&mut self, index: u16) {
        let slot = &mut self.slots[index as usize];
        slot.entry = Entry::Free;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
    }

    /// Finds the slot `file` names, or says why it cannot.
    fn lookup(&self, file: File) -> io::Result<&Rc<FileFd>> {
        self.limits()?;
        if file.table != self.id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "fs::File used on a worker that did not open it (files are worker-local; \
                 or its runtime has shut down)",
            ));
        }
        match self.slots.get(file.index as usize) {
            Some(FileSlot {
                generation,
                entry: Entry::Open(fd),
            }) if *generation == file.generation => Ok(fd),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stale fs::File: it was closed (its slot may now hold another file)",
            )),
        }
    }

    /// A reference to `file`'s descriptor for an op about to use it.
    pub(crate) fn fd(&self, file: File) -> io::Result<Rc<FileFd>> {
        self.lookup(file).cloned()
    }

    /// Closes `file`'s handle: the slot is free and every copy of the
    /// handle stale at once. Returns the descriptor when no op holds it any
    /// more (the caller closes it now); otherwise the last op to complete
    /// closes it.
    pub(crate) fn close(&mut self, file: File) -> io::Result<Option<OwnedFd>> {
        self.lookup(file)?;
        let slot = &mut self.slots[file.index as usize];
        let Entry::Open(fd) = std::mem::replace(&mut slot.entry, Entry::Free) else {
            unreachable!("lookup found an open slot")
        };
        self.free_slot(file.index);
        Ok(Rc::try_unwrap(fd).ok().and_then(FileFd::into_owned))
    }

    /// Slots open or opening.
    #[cfg(test)]
    pub(crate) fn files_in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Closes every file still open (shutdown). A descriptor an op still
    /// uses stays open until that op's hold lets go of it.
    pub(crate) fn close_all(&mut self) {
        for index in 0..self.slots.len() {
            if matches!(self.slots[index].entry, Entry::Open(_)) {
                self.free_slot(index as u16);
            }
        }
    }

    /// Occupancy of the file table and of the command limit.
    pub(crate) fn usage(&self) -> (SlabUsage, SlabUsage) {
        let files = SlabUsage {
            used: (self.slots.len() - self.free.len()) as u64,
            capacity: self.slots.len() as u64,
            high_water: self.files_high_water as u64,
            exhausted_total: self.files_exhausted,
        };
        let commands = SlabUsage {
            used: self.commands.get() as u64,
            capacity: self
                .limits
                .as_ref()
                .map_or(0, |l| l.max_commands_in_flight as u64),
            high_water: self.commands_high_water.get() as u64,
            exhausted_total: self.commands_exhausted.get(),
        };
        (files, commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(files: u16, commands: u16) -> FsState {
        FsState::new(
            Some(&FsConfig {
                max_files: files,
                max_commands_in_flight: commands,
            }),
            0,
        )
    }

    fn dev_null() -> OwnedFd {
        std::fs::File::open("/dev/null")
            .expect("open /dev/null")
            .into()
    }

    #[test]
    fn disabled_table_refuses_everything() {
        let mut s = FsState::new(None, 0);
        let e = s.reserve().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(e.to_string().contains("filesystem disabled"), "{e}");
        assert!(s.permit().is_err());
    }

    #[test]
    fn closed_handle_is_stale_even_after_its_slot_is_reused() {
        let mut s = state(1, 4);
        let r = s.reserve().unwrap();
        let a = s.finish_open(r, dev_null(), None);
        assert!(s.fd(a).is_ok());
        assert!(s.close(a).unwrap().is_some(), "no op in flight: close now");
        assert_eq!(s.fd(a).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let r = s.reserve().unwrap();
        let b = s.finish_open(r, dev_null(), None);
        assert_eq!(a.index(), b.index());
        assert_ne!(a, b);
        assert!(s.fd(a).is_err(), "old handle must not reach the new file");
        assert!(s.close(a).is_err());
        assert!(s.fd(b).is_ok());
    }

    #[test]
    fn close_with_ops_in_flight_defers_the_descriptor() {
        let mut s = state(2, 4);
        let r = s.reserve().unwrap();
        let f = s.finish_open(r, dev_null(), None);
        let in_flight = s.fd(f).unwrap();
        assert!(s.close(f).unwrap().is_none(), "an op still holds the fd");
        assert_eq!(s.files_in_use(), 0, "the slot is free at once");
        assert_eq!(Rc::strong_count(&in_flight), 1, "the op's is the last ref");
    }

    #[cfg(feature = "stats")]
    #[test]
    fn a_file_is_named_until_its_descriptor_is_closed() {
        let named = |fd| fd_paths::path_of(fd).filter(|p| p == "/named/by/open");
        let mut s = state(2, 4);
        let r = s.reserve().unwrap();
        let f = s.finish_open(r, dev_null(), Some(b"/named/by/open"));
        let fd = s.fd(f).unwrap().as_raw_fd();
        assert!(named(fd).is_some(), "recorded at open");
        let fd = s.close(f).unwrap().expect("no op in flight");
        assert!(named(fd.as_raw_fd()).is_none(), "forgotten before close(2)");
        // With an op in flight the last reference forgets it.
        let r = s.reserve().unwrap();
        let f = s.finish_open(r, dev_null(), Some(b"/named/by/open"));
        let in_flight = s.fd(f).unwrap();
        let raw = in_flight.as_raw_fd();
        assert!(s.close(f).unwrap().is_none());
        assert!(named(raw).is_some(), "still open under the op");
        drop(in_flight);
        assert!(named(raw).is_none(), "forgotten as the op let go");
    }

    #[test]
    fn handle_from_another_table_is_rejected() {
        let mut a = state(2, 4);
        let mut b = state(2, 4);
        let r = a.reserve().unwrap();
        let f = a.finish_open(r, dev_null(), None);
        let r = b.reserve().unwrap();
        let _ = b.finish_open(r, dev_null(), None);
        let e = b.fd(f).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("worker-local"), "{e}");
    }

    #[test]
    fn file_table_exhaustion_names_the_limit_and_recovers() {
        let mut s = state(2, 4);
        let r1 = s.reserve().unwrap();
        let _r2 = s.reserve().unwrap();
        let e = s.reserve().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.to_string().contains("FsConfig::max_files"), "{e}");
        s.release(r1);
        assert!(s.reserve().is_ok());
    }

    #[test]
    fn permits_count_commands_until_dropped() {
        let s = state(1, 2);
        let p1 = s.permit().unwrap();
        let p2 = s.permit().unwrap();
        let e = s.permit().err().expect("third permit refused");
        assert!(
            e.to_string().contains("FsConfig::max_commands_in_flight"),
            "{e}"
        );
        drop(p1);
        assert_eq!(s.commands_in_flight(), 1);
        let _p3 = s.permit().unwrap();
        drop(p2);
        assert_eq!(s.commands_in_flight(), 1);
    }

    #[test]
    fn table_ids_are_unique() {
        assert_ne!(state(1, 1).id(), state(1, 1).id());
    }
}
