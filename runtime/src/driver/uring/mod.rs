//! The io_uring backend: one ring per worker, a provided-buffer ring for
//! stream receives (and one for UDP when the worker has UDP sockets), and
//! the translation of each [`Sqe`] into a submission queue entry.
//!
//! Connections use *direct descriptors*: the ring has a sparse registered
//! file table of `min(Config::fixed_files, max_connections, RLIMIT_NOFILE)`
//! slots, and a connection whose slab index is below that is installed at
//! slot = its index when it opens ([`Io::install`], a synchronous
//! `IORING_REGISTER_FILES_UPDATE`, so a failure falls back to the plain
//! descriptor for that connection alone). Its receive, send, shutdown and
//! close then name the slot (`types::Fixed`), which skips the kernel's
//! per-op `fdget`/`fdput` (an atomic on the file in a multithreaded
//! process). The descriptor stays open beside the slot for `setsockopt`
//! and `getpeername`; the close shuts it at once and empties the slot with
//! a fixed `IORING_OP_CLOSE`, ordered after every op on the connection,
//! whose completion is the last one the slot waits for, so the slab index
//! (and slot) is reused only once the slot is empty. Without a table
//! (`fixed_files(0)`, or registration refused: old kernel, `EMFILE`,
//! `ENOMEM`) every connection uses its descriptor, as on the mio backend.

pub(crate) mod buf_ring;
pub(crate) mod ring;

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use self::buf_ring::BufRing;
use self::ring::Ring;
use super::Cqe;
use super::buffers::Buffers;
use super::sqe::{FdRef, Link, Sqe};
use crate::config::Config;
use crate::error::Error;
use crate::op::UserData;
use crate::stats::RingTotals;

/// The io_uring side of a worker's driver. Dropped only when the kernel
/// holds no pointer into it (the owning driver leaks it otherwise).
pub(crate) struct Io {
    // Field order is drop order: the ring goes first, so the buffer rings
    // are unregistered with it before their memory is freed.
    ring: Ring,
    pub(crate) bufs: Buffers<BufRing>,
    /// Slots of the ring's registered file table (0: none, connections use
    /// their descriptors).
    fixed_slots: u32,
}

/// How an SQE names socket `fd`: its slot with `IOSQE_FIXED_FILE`, or
/// its descriptor. Exactly what the crate writes for `types::Fixed(slot)`
/// (the slot in the fd field, plus the flag), but one opcode built for
/// both cases, with no branch on the hot send path.
#[inline(always)]
fn sqe_fd(fd: FdRef) -> (types::Fd, squeue::Flags) {
    match fd.slot() {
        Some(slot) => (types::Fd(slot as RawFd), squeue::Flags::FIXED_FILE),
        None => (types::Fd(fd.raw), squeue::Flags::empty()),
    }
}

impl Io {
    pub(crate) fn new(config: &Config, with_udp: bool) -> Result<Io, Error> {
        let mut ring = Ring::new(config.sq_entries).map_err(|e| ring_setup_error(&e))?;
        // Io is built on the worker thread, which is the ring's only
        // submitter; a refusal (kernel before 5.18) keeps entering by fd.
        ring.register_ring_fd();
        let fixed_slots = register_file_table(&ring, config);
        let bufs = BufRing::new(
            &ring,
            config.recv_buffer.ring_size,
            config.recv_buffer.buffer_size,
            config.recv_buffer.bgid,
        )
        .map_err(|e| Error::BufferRegistration(format!("provided buffer ring: {e}")))?;
        let udp_bufs = if with_udp {
            let b = BufRing::new(
                &ring,
                config.udp_recv_buffer.ring_size,
                config.udp_recv_buffer.buffer_size,
                config.udp_recv_buffer.bgid,
            )
            .map_err(|e| Error::BufferRegistration(format!("UDP provided buffer ring: {e}")))?;
            Some(b)
        } else {
            None
        };
        Ok(Io {
            ring,
            bufs: Buffers {
                stream: bufs,
                udp: udp_bufs,
            },
            fixed_slots,
        })
    }

    /// Puts connection socket `fd` in file-table slot `slot` (the
    /// connection's slab index, so a slot is free whenever its index is):
    /// the socket as its ops will name it, on the slot, or on its
    /// descriptor alone when the table is off, smaller than `slot`, or the
    /// update fails. Counted either way.
    pub(crate) fn install(&mut self, slot: u32, fd: RawFd) -> FdRef {
        if slot < self.fixed_slots
            && let Ok(1) = self.ring.submitter().register_files_update(slot, &[fd])
        {
            self.ring.counters.fixed_file_conns += 1;
            return FdRef { raw: fd, slot };
        }
        self.ring.counters.raw_fd_conns += 1;
        FdRef::raw(fd)
    }

    /// The submission queue entry for `sqe` (a socket closed on a file
    /// table slot also has its descriptor closed here, see `Sqe::Close`).
    fn entry(&self, ud: UserData, sqe: Sqe) -> squeue::Entry {
        let cwd = types::Fd(libc::AT_FDCWD);
        let entry = match sqe {
            Sqe::AcceptMulti { fd } => opcode::AcceptMulti::new(types::Fd(fd))
                .flags(libc::SOCK_CLOEXEC)
                .build(),
            Sqe::RecvMulti { fd } => {
                let (fd, fixed) = sqe_fd(fd);
                opcode::RecvMulti::new(fd, self.bufs.stream.bgid())
                    .build()
                    .flags(fixed)
            }
            Sqe::Send { fd, buf, len } => {
                let (fd, fixed) = sqe_fd(fd);
                opcode::Send::new(fd, buf, len)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .flags(fixed)
            }
            Sqe::Connect { fd, addr, len } => {
                opcode::Connect::new(types::Fd(fd), addr, len).build()
            }
            Sqe::Close { fd } => match fd.slot() {
                Some(slot) => {
                    // The table holds its own reference to the socket, so
                    // closing the descriptor now leaves it open (no FIN
                    // yet) and cannot disturb ops queued before the close:
                    // they all name the slot. This SQE empties the slot
                    // (`file_index`), dropping the last reference after
                    // them.
                    let _ = crate::sys::close(fd.raw);
                    opcode::Close::new(types::Fixed(slot)).build()
                }
                None => opcode::Close::new(types::Fd(fd.raw)).build(),
            },
            Sqe::Shutdown { fd, how } => {
                let (fd, fixed) = sqe_fd(fd);
                opcode::Shutdown::new(fd, how).build().flags(fixed)
            }
            Sqe::WakeRead { fd, buf } => opcode::Read::new(types::Fd(fd), buf.cast(), 8).build(),
            Sqe::Read {
                fd,
                buf,
                len,
                offset,
            } => opcode::Read::new(types::Fd(fd), buf, len)
                .offset(offset)
                .build(),
            Sqe::Write {
                fd,
                buf,
                len,
                offset,
            } => opcode::Write::new(types::Fd(fd), buf, len)
                .offset(offset)
                .build(),
            Sqe::Fsync { fd } => opcode::Fsync::new(types::Fd(fd)).build(),
            Sqe::Statx { path, out } => opcode::Statx::new(cwd, path, out.cast())
                .mask(libc::STATX_BASIC_STATS)
                .build(),
            Sqe::OpenAt { path, flags, mode } => opcode::OpenAt::new(cwd, path)
                .flags(flags)
                .mode(mode)
                .build(),
            Sqe::RenameAt { from, to } => opcode::RenameAt::new(cwd, from, cwd, to).build(),
            Sqe::UnlinkAt { path } => opcode::UnlinkAt::new(cwd, path).build(),
            Sqe::MkdirAt { path, mode } => opcode::MkDirAt::new(cwd, path).mode(mode).build(),
            Sqe::RecvMsgMulti { fd, msghdr } => {
                // Armed only on workers with UDP sockets, which have the
                // UDP buffer group.
                let bgid = self.bufs.udp.as_ref().map_or(0, BufRing::bgid);
                opcode::RecvMsgMulti::new(types::Fd(fd), msghdr, bgid).build()
            }
            Sqe::SendMsg { fd, msghdr } => opcode::SendMsg::new(types::Fd(fd), msghdr).build(),
            Sqe::Cancel { target } => opcode::AsyncCancel::new(target.raw()).build(),
            Sqe::CancelAll => opcode::AsyncCancel2::new(types::CancelBuilder::any()).build(),
        };
        entry.user_data(ud.raw())
    }

    /// Queues `sqe`, and with `link` a timeout linked to it.
    ///
    /// # Safety
    ///
    /// Everything `sqe` and `link` point to stays valid and unmoved until
    /// their final completions are reaped.
    pub(crate) unsafe fn push(&mut self, ud: UserData, sqe: Sqe, link: Option<Link>) {
        let first = self.entry(ud, sqe);
        let (first, second) = match link {
            None => (first, None),
            Some(link) => {
                // `types::Timespec` is a transparent wrapper of the kernel's
                // `__kernel_timespec`, which our `Timespec` mirrors field for
                // field.
                let timeout = opcode::LinkTimeout::new(link.ts.cast::<types::Timespec>())
                    .build()
                    .user_data(link.ud.raw());
                (first.flags(squeue::Flags::IO_LINK), Some(timeout))
            }
        };
        // SAFETY: this function's contract is the ring's: what both entries
        // point to outlives their CQEs.
        unsafe { self.ring.push(first, second) };
    }

    /// Submits, waiting up to `timeout` (`Some(ZERO)`: do not block).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match timeout {
            Some(t) if t.is_zero() => self.ring.submit(),
            t => self.ring.submit_and_wait(t),
        }
    }

    pub(crate) fn reap(&mut self, out: &mut Vec<Cqe>) {
        self.ring.reap(out);
    }

    pub(crate) fn totals(&self) -> &RingTotals {
        &self.ring.counters
    }
}

/// Registers the sparse file table connections are installed in; returns
/// its size (0: none). Past `RLIMIT_NOFILE` the kernel refuses the table,
/// so it is clamped there; a refusal all the same (`EMFILE`, `ENOMEM`, a
/// kernel without sparse tables) is reported once per process and leaves
/// connections on their descriptors.
fn register_file_table(ring: &Ring, config: &Config) -> u32 {
    let nofile = crate::sys::uring::nofile_limit().unwrap_or(u64::MAX);
    let n = config
        .fixed_files
        .min(config.max_connections)
        .min(u32::try_from(nofile).unwrap_or(u32::MAX));
    if n == 0 {
        return 0;
    }
    match ring.submitter().register_files_sparse(n) {
        Ok(()) => n,
        Err(e) => {
            static REPORTED: AtomicBool = AtomicBool::new(false);
            if !REPORTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "ringline: io_uring registered file table of {n} slots refused ({e}); \
                     connections use plain descriptors"
                );
            }
            0
        }
    }
}

/// The opcodes the driver submits, checked by [`probe`].
const OPCODES: [(u8, &str); 18] = [
    (opcode::AcceptMulti::CODE, "accept"),
    (opcode::RecvMulti::CODE, "recv"),
    (opcode::Send::CODE, "send"),
    (opcode::Connect::CODE, "connect"),
    (opcode::Close::CODE, "close"),
    (opcode::Shutdown::CODE, "shutdown"),
    (opcode::Read::CODE, "read"),
    (opcode::Write::CODE, "write"),
    (opcode::Fsync::CODE, "fsync"),
    (opcode::Statx::CODE, "statx"),
    (opcode::OpenAt::CODE, "openat"),
    (opcode::RenameAt::CODE, "renameat"),
    (opcode::UnlinkAt::CODE, "unlinkat"),
    (opcode::MkDirAt::CODE, "mkdirat"),
    (opcode::RecvMsgMulti::CODE, "recvmsg"),
    (opcode::SendMsg::CODE, "sendmsg"),
    (opcode::AsyncCancel::CODE, "async_cancel"),
    (opcode::LinkTimeout::CODE, "link_timeout"),
];

/// Why io_uring cannot run here.
#[derive(Debug)]
pub(crate) struct Unavailable {
    pub(crate) reason: String,
}

/// Checks that this process can run the io_uring backend: a ring with the
/// setup flags the driver uses, a provided-buffer ring, and every opcode
/// it submits.
pub(crate) fn probe() -> Result<(), Unavailable> {
    let ring = Ring::new(8).map_err(|e| Unavailable {
        reason: ring_setup_error(&e).to_string(),
    })?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| Unavailable {
            reason: format!("io_uring opcode probe failed: {e}"),
        })?;
    let missing: Vec<&str> = OPCODES
        .iter()
        .filter(|(code, _)| !probe.is_supported(*code))
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(Unavailable {
            reason: format!("kernel io_uring lacks opcodes: {}", missing.join(", ")),
        });
    }
    BufRing::new(&ring, 1, 64, 0).map_err(|e| Unavailable {
        reason: format!("provided buffer rings unsupported (needs Linux 5.19+): {e}"),
    })?;
    Ok(())
}

/// Describes a ring setup failure with its likely cause.
pub(crate) fn ring_setup_error(e: &io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::ENOMEM) => {
            " (RLIMIT_MEMLOCK too low? raise `ulimit -l` or use fewer sq_entries)"
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (io_uring blocked by seccomp or kernel.io_uring_disabled)"
        }
        Some(libc::ENOSYS) => " (kernel without io_uring)",
        Some(libc::EINVAL) => " (kernel too old for SINGLE_ISSUER/DEFER_TASKRUN: needs Linux 6.1+)",
        _ => "",
    };
    Error::RingSetup(format!("io_uring setup failed: {e}{hint}"))
}
