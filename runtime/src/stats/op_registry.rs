//! The op registry: every in-flight one-shot op of a worker mirrored into
//! a fixed table of seqlock records that any thread can read without locks
//! while the worker runs, or is wedged. It answers "which ops have been in
//! flight longer than T, and what are they?".
//!
//! Slots are not allocated: an op's slot follows from what already owns
//! it, so registering costs no search and no free list:
//!
//! ```text
//!  slot 0 ─────────── op_slots ──── +conns ──── +conns ──── +conns ─── +udp
//!  │ connect, fs_*    │ send        │ close     │ shutdown  │ udp_send  │
//!  │ (op-table index) │ (conn index)│           │           │ socket×slot
//! ```
//!
//! Each of those owners has at most one op of that kind in flight. The
//! table is allocated zeroed (a few MiB of address space for 16k
//! connections, resident only where slots were used).
//!
//! Lifecycle of a record: the worker pushes the SQE and queues the record
//! (`registered`); right before it enters the kernel it stamps every queued
//! record with that batch's time and publishes it (`stamp`); the CQE
//! clears it (`completed`), feeding the latency histogram.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::seqlock::{SeqRecord, zeroed_table};
use super::{InFlightOp, OpTarget};
use crate::op::{OpKind, UserData};
use crate::peer::PeerAddr;

/// Record words: tag, submitted_at_ns, task, target value, path bytes ×3:
/// with the sequence word, one 64-byte cache line per record.
const WORDS: usize = 7;
/// Bytes of a path kept in a record.
pub(crate) const PATH_PREFIX: usize = 24;

// Word 0 ("tag") bit layout:
//   0..8   op kind + 1 (0: empty slot)
//   8..16  flags
//  16..24  target type
//  24..32  path prefix length
const FLAG_IN_GRAVEYARD: u64 = 1 << 8;
const FLAG_CANCEL: u64 = 2 << 8;
const FLAG_TRUNCATED: u64 = 4 << 8;
const TARGET_NONE: u64 = 0;
const TARGET_CONN: u64 = 1;
const TARGET_FD: u64 = 2;
const TARGET_PATH: u64 = 3;

/// Regions of the table: op slots, sends, closes, shutdowns, UDP sends.
const REGIONS: usize = 5;

/// How many times a reader retries a record the worker is rewriting.
const READ_TRIES: u32 = 8;

/// What an op works on, as the submitter knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Nothing worth naming.
    None,
    /// A connection slot (its peer is in the peer table).
    Conn(u32),
    /// An open file.
    Fd(i32),
    /// A path (bytes, without the NUL).
    Path(&'a [u8]),
}

/// Sizes of the registry's regions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RegistryLayout {
    pub(crate) op_slots: u32,
    pub(crate) conns: u32,
    pub(crate) udp_sockets: u32,
    pub(crate) udp_slots: u32,
    /// Task slots (the task registry's size, not the op registry's).
    pub(crate) tasks: u32,
}

impl RegistryLayout {
    fn len(&self) -> usize {
        self.op_slots as usize
            + 3 * self.conns as usize
            + self.udp_sockets as usize * self.udp_slots as usize
    }

    /// The regions as (first slot, length), in slot order.
    fn regions(&self) -> [(usize, usize); REGIONS] {
        let (ops, conns) = (self.op_slots as usize, self.conns as usize);
        let udp = self.udp_sockets as usize * self.udp_slots as usize;
        [
            (0, ops),
            (ops, conns),
            (ops + conns, conns),
            (ops + 2 * conns, conns),
            (ops + 3 * conns, udp),
        ]
    }

    /// The slot of an op, or `None` for kinds the registry does not track
    /// (multishot ops, cancels, the wake read) and out-of-range owners:
    /// the reference for [`OpRegistry::slot`]'s table.
    #[cfg(test)]
    pub(crate) fn slot(&self, kind: OpKind, ud: UserData) -> Option<usize> {
        let index = ud.index();
        let (base, i, len) = match kind {
            // Ops a future waits on live in the op table.
            k if k == OpKind::Connect || k.is_fs() => (0, index, self.op_slots),
            OpKind::Send => (self.op_slots as usize, index, self.conns),
            OpKind::Close => (
                self.op_slots as usize + self.conns as usize,
                index,
                self.conns,
            ),
            OpKind::Shutdown => (
                self.op_slots as usize + 2 * self.conns as usize,
                index,
                self.conns,
            ),
            OpKind::UdpSend => {
                if index >= self.udp_sockets || ud.generation() >= self.udp_slots {
                    return None;
                }
                let base = self.op_slots as usize + 3 * self.conns as usize;
                return Some(base + (index * self.udp_slots + ud.generation()) as usize);
            }
            _ => return None,
        };
        (i < len).then_some(base + i as usize)
    }
}

/// See the module docs. Written by its worker only; read by anyone.
pub(crate) struct OpRegistry {
    layout: RegistryLayout,
    /// Per region, one past the highest slot index ever used: readers scan
    /// only that far, not the whole table (sized for every possible
    /// connection, most of which a process never has at once).
    used: [AtomicUsize; REGIONS],
    /// `layout.regions()`, computed once.
    regions: [(usize, usize); REGIONS],
    /// Per op kind, where its slots are (see [`Region`]): one indexed load
    /// on the hot path instead of `RegistryLayout::slot`'s match.
    by_kind: [Region; OpKind::COUNT],
    records: Box<[SeqRecord<WORDS>]>,
    /// Per connection slot: its peer (family/port word, two address words).
    peers: Box<[SeqRecord<3>]>,
}

/// Where one op kind's records are: `len == 0` for kinds not tracked.
#[derive(Debug, Clone, Copy, Default)]
struct Region {
    /// First slot.
    base: u32,
    /// Slots (the owner's index must be below it).
    len: u32,
    /// Which of the `REGIONS` (for the `used` bound).
    region: u8,
}

/// An op's record: its index in the table, and in its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) at: usize,
    region: u8,
    index: u32,
}

/// The worker-side list of records written this iteration and waiting for
/// their batch's submit time (a record without one reads as not yet
/// submitted).
#[derive(Debug, Default)]
pub(crate) struct RegistryQueue {
    unstamped: Vec<u32>,
}

impl OpRegistry {
    pub(crate) fn new(layout: RegistryLayout) -> OpRegistry {
        let regions = layout.regions();
        let by_kind = std::array::from_fn(|k| {
            let kind = OpKind::ALL[k];
            let region = match kind {
                k if k == OpKind::Connect || k.is_fs() => 0,
                OpKind::Send => 1,
                OpKind::Close => 2,
                OpKind::Shutdown => 3,
                OpKind::UdpSend => 4,
                _ => return Region::default(),
            };
            let (base, len) = regions[region];
            Region {
                base: base as u32,
                len: len as u32,
                region: region as u8,
            }
        });
        OpRegistry {
            layout,
            used: Default::default(),
            regions,
            by_kind,
            records: zeroed_table(layout.len()),
            peers: zeroed_table(layout.conns as usize),
        }
    }

    #[cfg(test)]
    pub(crate) fn layout(&self) -> &RegistryLayout {
        &self.layout
    }

    /// The record of an op, as [`RegistryLayout::slot`] places it, or
    /// `None` for kinds the registry does not track.
    #[inline]
    pub(crate) fn slot(&self, kind: OpKind, ud: UserData) -> Option<Slot> {
        let r = self.by_kind[kind as usize];
        let index = if kind == OpKind::UdpSend {
            let l = &self.layout;
            if ud.index() >= l.udp_sockets || ud.generation() >= l.udp_slots {
                return None;
            }
            ud.index() * l.udp_slots + ud.generation()
        } else {
            ud.index()
        };
        (index < r.len).then_some(Slot {
            at: (r.base + index) as usize,
            region: r.region,
            index,
        })
    }

    /// Queues the record of an op just pushed (worker only).
    #[inline]
    pub(crate) fn registered(
        &self,
        queue: &mut RegistryQueue,
        slot: Slot,
        kind: OpKind,
        task: Option<u64>,
        target: Target<'_>,
    ) {
        let mut words = [0u64; WORDS];
        let (target_type, value) = match target {
            Target::None => (TARGET_NONE, 0),
            Target::Conn(index) => (TARGET_CONN, index as u64),
            Target::Fd(fd) => (TARGET_FD, fd as u32 as u64),
            Target::Path(path) => {
                let n = path.len().min(PATH_PREFIX);
                let mut bytes = [0u8; PATH_PREFIX];
                bytes[..n].copy_from_slice(&path[..n]);
                for (i, chunk) in bytes.chunks_exact(8).enumerate() {
                    words[4 + i] = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                }
                let truncated = if path.len() > PATH_PREFIX {
                    FLAG_TRUNCATED
                } else {
                    0
                };
                words[0] = (n as u64) << 24 | truncated;
                (TARGET_PATH, 0)
            }
        };
        words[0] |= (kind as u64 + 1) | target_type << 16;
        // words[1], the submit time, stays 0 until `stamp`.
        words[2] = task.map_or(0, |t| t.wrapping_add(1));
        words[3] = value;
        self.records[slot.at].write(&words);
        queue.unstamped.push(slot.at as u32);
        let used = &self.used[slot.region as usize];
        let index = slot.index as usize;
        // Single writer: a plain load and store; Release so a reader that
        // sees the new bound also sees the record written above.
        if index >= used.load(Ordering::Relaxed) {
            used.store(index + 1, Ordering::Release);
        }
    }

    /// Gives every record written this iteration the batch's submit time.
    #[inline]
    pub(crate) fn stamp(&self, queue: &mut RegistryQueue, now_ns: u64) {
        for slot in queue.unstamped.drain(..) {
            let record = &self.records[slot as usize];
            // Completed already (only in the teardown path): stays empty.
            if record.writer_word(0) != 0 {
                // A zero time means "not yet submitted"; clock times are
                // nanoseconds since an epoch in the past, never 0 here.
                record.write_word(1, now_ns.max(1));
            }
        }
    }

    /// Sets `flag` on a live record.
    fn flag(&self, slot: usize, flag: u64) {
        let record = &self.records[slot];
        let tag = record.writer_word(0);
        if tag != 0 {
            record.write_word(0, tag | flag);
        }
    }

    /// The op's future was dropped: its buffers are in the graveyard.
    pub(crate) fn orphaned(&self, slot: usize) {
        self.flag(slot, FLAG_IN_GRAVEYARD);
    }

    /// An `ASYNC_CANCEL` was submitted for the op.
    pub(crate) fn cancel_submitted(&self, slot: usize) {
        self.flag(slot, FLAG_CANCEL);
    }

    /// Clears the op's record; returns its submit time when it was live.
    #[inline]
    pub(crate) fn completed(&self, slot: usize) -> Option<u64> {
        let record = &self.records[slot];
        if record.writer_word(0) == 0 {
            return None;
        }
        let submitted_at = record.writer_word(1);
        // An empty tag is enough: readers ignore the other words.
        record.write_word(0, 0);
        Some(submitted_at)
    }

    /// Records the peer of connection slot `index` (worker only).
    pub(crate) fn set_peer(&self, index: u32, peer: Option<&PeerAddr>) {
        let Some(record) = self.peers.get(index as usize) else {
            return;
        };
        record.write(&encode_peer(peer));
    }

    /// The peer of connection slot `index`, when known (any thread).
    pub(crate) fn peer(&self, index: u32) -> Option<String> {
        self.peers
            .get(index as usize)
            .and_then(|p| p.read(READ_TRIES))
            .and_then(|p| decode_peer(&p))
    }

    /// Every live record, for a snapshot taken at `now_ns`.
    pub(crate) fn read_in_flight(
        &self,
        runtime: u64,
        worker: usize,
        now_ns: u64,
        out: &mut Vec<InFlightOp>,
    ) {
        let live = self
            .regions
            .iter()
            .zip(&self.used)
            .flat_map(|(&(start, len), used)| {
                let n = used.load(Ordering::Acquire).min(len);
                &self.records[start..start + n]
            });
        for record in live {
            let Some(words) = record.read(READ_TRIES) else {
                continue;
            };
            // Empty, or written this iteration and not yet submitted.
            if words[0] == 0 || words[1] == 0 {
                continue;
            }
            if let Some(op) = self.decode(runtime, worker, now_ns, &words) {
                out.push(op);
            }
        }
    }

    fn decode(
        &self,
        runtime: u64,
        worker: usize,
        now_ns: u64,
        w: &[u64; WORDS],
    ) -> Option<InFlightOp> {
        let kind = OpKind::from_tag(((w[0] & 0xff) as u8).checked_sub(1)?)?;
        let target = match (w[0] >> 16) & 0xff {
            TARGET_CONN => OpTarget::Connection {
                index: w[3] as u32,
                peer: self.peer(w[3] as u32),
            },
            TARGET_FD => {
                let fd = w[3] as i32;
                OpTarget::Fd {
                    fd,
                    path: super::fd_paths::path_of(fd),
                }
            }
            TARGET_PATH => {
                let n = ((w[0] >> 24) & 0xff) as usize;
                let mut bytes = Vec::with_capacity(PATH_PREFIX);
                for word in &w[4..WORDS] {
                    bytes.extend_from_slice(&word.to_le_bytes());
                }
                bytes.truncate(n.min(PATH_PREFIX));
                OpTarget::Path {
                    prefix: String::from_utf8_lossy(&bytes).into_owned(),
                    truncated: w[0] & FLAG_TRUNCATED != 0,
                }
            }
            _ => OpTarget::None,
        };
        Some(InFlightOp {
            runtime,
            worker,
            op: kind.as_str().to_owned(),
            age_ns: now_ns.saturating_sub(w[1]),
            task: (w[2] != 0).then(|| w[2].wrapping_sub(1)),
            target,
            in_graveyard: w[0] & FLAG_IN_GRAVEYARD != 0,
            cancel_submitted: w[0] & FLAG_CANCEL != 0,
            await_site: None,
            verdict: None,
        })
    }
}

// Peer words: [family (0 none, 1 unix, 4, 6) | port << 16, addr hi, addr lo].
fn encode_peer(peer: Option<&PeerAddr>) -> [u64; 3] {
    use std::net::SocketAddr;
    match peer {
        Some(PeerAddr::Tcp(SocketAddr::V4(a))) => {
            [4 | (a.port() as u64) << 16, u32::from(*a.ip()) as u64, 0]
        }
        Some(PeerAddr::Tcp(SocketAddr::V6(a))) => {
            let bits = u128::from(*a.ip());
            [
                6 | (a.port() as u64) << 16,
                (bits >> 64) as u64,
                bits as u64,
            ]
        }
        Some(PeerAddr::Unix(_)) => [1, 0, 0],
        None => [0, 0, 0],
    }
}

fn decode_peer(w: &[u64; 3]) -> Option<String> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    let port = (w[0] >> 16) as u16;
    match w[0] & 0xffff {
        1 => Some("unix".to_owned()),
        4 => Some(SocketAddr::from((Ipv4Addr::from(w[1] as u32), port)).to_string()),
        6 => {
            let ip = Ipv6Addr::from((w[1] as u128) << 64 | w[2] as u128);
            Some(SocketAddr::from((ip, port)).to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> RegistryLayout {
        RegistryLayout {
            op_slots: 4,
            conns: 3,
            udp_sockets: 2,
            udp_slots: 2,
            tasks: 0,
        }
    }

    #[test]
    fn regions_do_not_overlap_and_cover_the_table() {
        let l = layout();
        let mut seen = std::collections::HashSet::new();
        for i in 0..4 {
            assert!(
                seen.insert(
                    l.slot(OpKind::FsRead, UserData::new(OpKind::FsRead, 0, i))
                        .unwrap()
                )
            );
        }
        for kind in [OpKind::Send, OpKind::Close, OpKind::Shutdown] {
            for i in 0..3 {
                assert!(seen.insert(l.slot(kind, UserData::new(kind, 9, i)).unwrap()));
            }
        }
        for socket in 0..2 {
            for slot in 0..2 {
                let ud = UserData::new(OpKind::UdpSend, slot, socket);
                assert!(seen.insert(l.slot(OpKind::UdpSend, ud).unwrap()));
            }
        }
        assert_eq!(seen.len(), l.len());
        assert!(seen.iter().all(|&s| s < l.len()));
        // Out of range owners and untracked kinds have no slot.
        assert_eq!(
            l.slot(OpKind::Send, UserData::new(OpKind::Send, 0, 3)),
            None
        );
        assert_eq!(
            l.slot(OpKind::UdpSend, UserData::new(OpKind::UdpSend, 2, 0)),
            None
        );
        for kind in [
            OpKind::Recv,
            OpKind::Accept,
            OpKind::Cancel,
            OpKind::Wake,
            OpKind::UdpRecv,
        ] {
            assert_eq!(l.slot(kind, UserData::new(kind, 0, 0)), None);
        }
    }

    #[test]
    fn the_per_kind_table_places_every_op_as_the_layout_does() {
        let r = OpRegistry::new(layout());
        for kind in OpKind::ALL {
            for index in 0..6 {
                for generation in 0..4 {
                    let ud = UserData::new(kind, generation, index);
                    let slot = r.slot(kind, ud);
                    assert_eq!(
                        slot.map(|s| s.at),
                        r.layout().slot(kind, ud),
                        "{kind:?} {ud:?}"
                    );
                    if let Some(slot) = slot {
                        let (start, len) = r.regions[slot.region as usize];
                        assert_eq!(start + slot.index as usize, slot.at, "{kind:?} {ud:?}");
                        assert!((slot.index as usize) < len);
                    }
                }
            }
        }
    }

    #[test]
    fn a_record_is_visible_only_after_its_stamp_and_gone_after_completion() {
        let r = OpRegistry::new(layout());
        let mut q = RegistryQueue::default();
        let ud = UserData::new(OpKind::Send, 0, 1);
        let slot = r.slot(OpKind::Send, ud).unwrap();
        r.set_peer(1, Some(&PeerAddr::Tcp("10.0.0.7:4242".parse().unwrap())));
        r.registered(&mut q, slot, OpKind::Send, Some(77), Target::Conn(1));
        let mut out = Vec::new();
        r.read_in_flight(1, 0, 1_000, &mut out);
        assert!(out.is_empty(), "written, not yet submitted");
        r.cancel_submitted(slot.at);
        r.stamp(&mut q, 400);
        r.read_in_flight(1, 0, 1_000, &mut out);
        assert_eq!(out.len(), 1);
        let op = &out[0];
        assert_eq!(op.op, "send");
        assert_eq!(op.age_ns, 600);
        assert_eq!(op.task, Some(77));
        assert!(op.cancel_submitted && !op.in_graveyard);
        assert_eq!(
            op.target,
            OpTarget::Connection {
                index: 1,
                peer: Some("10.0.0.7:4242".into())
            }
        );
        assert_eq!(r.completed(slot.at), Some(400));
        assert_eq!(r.completed(slot.at), None, "cleared once");
        out.clear();
        r.read_in_flight(1, 0, 1_000, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn paths_fds_and_flags_decode() {
        let r = OpRegistry::new(layout());
        let mut q = RegistryQueue::default();
        let long = b"/var/lib/service/a/very/long/path/to/a/file.dat";
        let op = |i| {
            r.slot(OpKind::FsRead, UserData::new(OpKind::FsRead, 0, i))
                .unwrap()
        };
        r.registered(&mut q, op(0), OpKind::FsOpen, None, Target::Path(long));
        // Never open (beyond any descriptor limit): no path to find.
        r.registered(&mut q, op(1), OpKind::FsRead, Some(5), Target::Fd(i32::MAX));
        r.registered(
            &mut q,
            op(2),
            OpKind::FsStatx,
            None,
            Target::Path(b"/tmp/x"),
        );
        r.stamp(&mut q, 10);
        r.orphaned(1);
        let mut out = Vec::new();
        r.read_in_flight(3, 1, 10, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].target,
            OpTarget::Path {
                prefix: String::from_utf8_lossy(&long[..PATH_PREFIX]).into_owned(),
                truncated: true
            }
        );
        assert_eq!(out[0].task, None);
        assert_eq!(
            out[1].target,
            OpTarget::Fd {
                fd: i32::MAX,
                path: None
            }
        );
        assert!(out[1].in_graveyard);
        assert_eq!(
            out[2].target,
            OpTarget::Path {
                prefix: "/tmp/x".into(),
                truncated: false
            }
        );
        assert!(out.iter().all(|o| o.runtime == 3 && o.worker == 1));
    }

    #[test]
    fn readers_find_records_in_every_region_up_to_the_highest_used() {
        let l = layout();
        let r = OpRegistry::new(l);
        let mut q = RegistryQueue::default();
        let uds = [
            (OpKind::FsWrite, UserData::new(OpKind::FsWrite, 0, 3)),
            (OpKind::Send, UserData::new(OpKind::Send, 0, 2)),
            (OpKind::Close, UserData::new(OpKind::Close, 0, 0)),
            (OpKind::Shutdown, UserData::new(OpKind::Shutdown, 0, 1)),
            (OpKind::UdpSend, UserData::new(OpKind::UdpSend, 1, 1)),
        ];
        for (kind, ud) in uds {
            let slot = r.slot(kind, ud).unwrap();
            assert_eq!(Some(slot.at), l.slot(kind, ud));
            r.registered(&mut q, slot, kind, None, Target::None);
        }
        r.stamp(&mut q, 5);
        let mut out = Vec::new();
        r.read_in_flight(1, 0, 10, &mut out);
        let mut ops: Vec<_> = out.iter().map(|o| o.op.as_str()).collect();
        ops.sort();
        assert_eq!(ops, ["close", "fs_write", "send", "shutdown", "udp_send"]);
    }

    #[test]
    fn peers_round_trip() {
        for peer in ["127.0.0.1:80", "[::1]:65535", "[fe80::1:2]:9"] {
            let a = PeerAddr::Tcp(peer.parse().unwrap());
            assert_eq!(decode_peer(&encode_peer(Some(&a))).as_deref(), Some(peer));
        }
        let unix = PeerAddr::Unix("/run/x.sock".into());
        assert_eq!(
            decode_peer(&encode_peer(Some(&unix))).as_deref(),
            Some("unix")
        );
        assert_eq!(decode_peer(&encode_peer(None)), None);
    }
}
