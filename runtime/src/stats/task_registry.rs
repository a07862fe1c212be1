//! The task registry: every live task of a worker mirrored into a fixed
//! table of seqlock records, one per task slot, that any thread reads
//! without locks while the worker runs or is wedged — the tasks' side of
//! what the op registry does for kernel ops. It answers "which code waits,
//! on what, since when".
//!
//! A record is written by its worker only, at three moments:
//!
//! ```text
//!  spawn ──▶ scheduled ──poll──▶ idle / scheduled ──wake──▶ scheduled ── … ──▶ end (cleared)
//!            (since the wake)    (since the poll's end; its wait)
//! ```
//!
//! A running task is not written at poll start: the executor's published
//! current task (and poll start) says so, one store instead of a record
//! write. The wait a poll ended on is what the futures it polled reported
//! (`StatsWriter::parked`, the first one of the poll), with the user-code
//! location of the call that made the future (`#[track_caller]`).
//! Locations are stored as pointers to the program's static
//! [`Location`]s, which live as long as the process.

use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::seqlock::{SeqRecord, zeroed_table};
use super::{Site, TaskKind, TaskState, WaitTarget};
use crate::op::OpKind;

/// Record words (with the sequence word, two cache lines).
const WORDS: usize = 15;

// Word indices.
const TAG: usize = 0;
const ID: usize = 1;
const SPAWN_SITE: usize = 2;
const NAME_PTR: usize = 3;
const NAME_LEN: usize = 4;
/// `since << 2 | state`: one store when a wake changes it.
const STATE: usize = 5;
const POLLS: usize = 6;
const BUSY: usize = 7;
/// Wakes from within the task's own poll. (Wakes that queued it are
/// its polls, less the first, plus one while it is queued: each such wake
/// leads to exactly one poll.)
const SELF_WAKES: usize = 8;
const AWAIT_SITE: usize = 9;
const WAIT_CODE: usize = 10;
const WAIT_VALUE: usize = 11;
const WAIT_EXTRA: usize = 12;

// Tag bits: 0 live, 2..4 kind, 32..64 the connection of a connection task.
const LIVE: u64 = 1;
const KIND_SHIFT: u32 = 2;
const CONN_SHIFT: u32 = 32;

// State word: 0..2 the state, the rest the ticks it has held since.
const STATE_SCHEDULED: u64 = 1;
const STATE_IDLE: u64 = 2;
const STATE_MASK: u64 = 3;

/// A state word: `state` since `ticks`.
#[inline]
pub(crate) fn state_word(scheduled: bool, ticks: u64) -> u64 {
    ticks << 2
        | if scheduled {
            STATE_SCHEDULED
        } else {
            STATE_IDLE
        }
}

/// Whether a state word says scheduled, and since when (ticks).
#[inline]
pub(crate) fn decode_state(word: u64) -> (bool, u64) {
    (word & STATE_MASK == STATE_SCHEDULED, word >> 2)
}

/// What a task is, as its record stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Spawned,
    Conn(u32),
    OnStart,
}

impl Kind {
    fn encode(self) -> u64 {
        match self {
            Kind::Spawned => 0,
            Kind::Conn(conn) => 1 << KIND_SHIFT | u64::from(conn) << CONN_SHIFT,
            Kind::OnStart => 2 << KIND_SHIFT,
        }
    }

    fn decode(tag: u64) -> TaskKind {
        match (tag >> KIND_SHIFT) & 3 {
            1 => TaskKind::Connection {
                connection: (tag >> CONN_SHIFT) as u32,
            },
            2 => TaskKind::OnStart,
            _ => TaskKind::Spawned,
        }
    }
}

/// What a future waits on, as it reports it when it returns `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Bytes or EOF on connection slot `0`.
    Recv(u32),
    /// Its bytes of connection slot `0` being handed to the kernel.
    Send(u32),
    /// A datagram on UDP socket `0`.
    UdpRecv(u32),
    /// A kernel op of its own.
    Op(OpKind),
    /// A timer firing at this stats-clock time.
    Timer(u64),
    /// A message on channel `channel`; `holder` last used its sending side
    /// (task number + 1, 0 when unknown).
    ChannelRecv { channel: u64, holder: u64 },
    /// Room on channel `channel`; `holder` last used its receiving side.
    ChannelSend { channel: u64, holder: u64 },
    /// The end of the task with this number.
    Join(u64),
    /// A blocking-pool job or a name lookup.
    Pool,
}

impl Wait {
    /// `(code, value, extra)`; code 0 is "nothing".
    pub(crate) fn encode(self) -> (u64, u64, u64) {
        match self {
            Wait::Recv(c) => (1, c.into(), 0),
            Wait::Send(c) => (2, c.into(), 0),
            Wait::UdpRecv(s) => (3, s.into(), 0),
            Wait::Op(kind) => (4, kind as u64, 0),
            Wait::Timer(at) => (5, at, 0),
            Wait::ChannelRecv { channel, holder } => (6, channel, holder),
            Wait::ChannelSend { channel, holder } => (7, channel, holder),
            Wait::Join(task) => (8, task, 0),
            Wait::Pool => (9, 0, 0),
        }
    }

    fn decode(code: u64, value: u64, extra: u64) -> Option<Wait> {
        Some(match code {
            1 => Wait::Recv(value as u32),
            2 => Wait::Send(value as u32),
            3 => Wait::UdpRecv(value as u32),
            4 => Wait::Op(OpKind::from_tag(value as u8)?),
            5 => Wait::Timer(value),
            6 => Wait::ChannelRecv {
                channel: value,
                holder: extra,
            },
            7 => Wait::ChannelSend {
                channel: value,
                holder: extra,
            },
            8 => Wait::Join(value),
            9 => Wait::Pool,
            _ => return None,
        })
    }

    /// The wire form, with times relative to `now_ns`.
    pub(crate) fn target(self, now_ns: u64) -> WaitTarget {
        let task = |holder: u64| holder.checked_sub(1);
        match self {
            Wait::Recv(connection) => WaitTarget::Recv { connection },
            Wait::Send(connection) => WaitTarget::Send { connection },
            Wait::UdpRecv(socket) => WaitTarget::UdpRecv { socket },
            Wait::Op(kind) => WaitTarget::Op {
                op: kind.as_str().to_owned(),
            },
            Wait::Timer(at) => WaitTarget::Timer {
                fires_in_ns: (at as i128 - now_ns as i128).clamp(i64::MIN.into(), i64::MAX.into())
                    as i64,
            },
            Wait::ChannelRecv { channel, holder } => WaitTarget::ChannelRecv {
                channel,
                senders: task(holder).into_iter().collect(),
            },
            Wait::ChannelSend { channel, holder } => WaitTarget::ChannelSend {
                channel,
                receiver: task(holder),
            },
            Wait::Join(task) => WaitTarget::Join { task },
            Wait::Pool => WaitTarget::Pool,
        }
    }
}

/// The wait a poll ended on, with the call that made the future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parked {
    pub(crate) wait: Wait,
    pub(crate) site: &'static Location<'static>,
}

/// A task as its record says, decoded (ages still in ticks).
#[derive(Debug, Clone)]
pub(crate) struct RawTask {
    pub(crate) id: u64,
    pub(crate) kind: TaskKind,
    pub(crate) name: Option<&'static str>,
    pub(crate) spawn_site: Option<&'static Location<'static>>,
    pub(crate) scheduled: bool,
    pub(crate) since_ticks: u64,
    pub(crate) polls: u64,
    pub(crate) busy_ticks: u64,
    pub(crate) wakes: u64,
    pub(crate) self_wakes: u64,
    pub(crate) parked: Option<Parked>,
}

impl RawTask {
    /// The state the record says (the reader knows better for the task
    /// being polled now).
    pub(crate) fn state(&self) -> TaskState {
        if self.scheduled {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        }
    }
}

/// A location as the wire carries it.
pub(crate) fn site(location: &Location<'_>) -> Site {
    Site {
        file: location.file().to_owned(),
        line: location.line(),
        column: location.column(),
    }
}

fn location_word(location: Option<&'static Location<'static>>) -> u64 {
    location.map_or(0, |l| l as *const Location<'static> as u64)
}

/// The location a record word points to.
///
/// # Safety
///
/// `word` is 0 or was made by `location_word` in this process (read from a
/// consistent record copy).
unsafe fn location_at(word: u64) -> Option<&'static Location<'static>> {
    let ptr = word as *const Location<'static>;
    // SAFETY: a non-zero word is the address of a `&'static Location`
    // (the caller's contract); statics are never freed.
    unsafe { ptr.as_ref() }
}

/// See the module docs. Written by its worker only; read by anyone.
pub(crate) struct TaskRegistry {
    records: Box<[SeqRecord<WORDS>]>,
    /// One past the highest slot ever used: readers scan that far.
    used: AtomicUsize,
}

impl TaskRegistry {
    /// A registry for `slots` task slots.
    pub(crate) fn new(slots: u32) -> TaskRegistry {
        TaskRegistry {
            records: zeroed_table(slots as usize),
            used: AtomicUsize::new(0),
        }
    }

    /// Task slots.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// A task took slot `index` (worker only); it starts scheduled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawned(
        &self,
        index: u32,
        id: u64,
        kind: Kind,
        spawn_site: Option<&'static Location<'static>>,
        name: Option<&'static str>,
        now_ticks: u64,
    ) {
        let Some(record) = self.records.get(index as usize) else {
            return;
        };
        let mut words = [0u64; WORDS];
        words[TAG] = LIVE | kind.encode();
        words[ID] = id;
        words[SPAWN_SITE] = location_word(spawn_site);
        if let Some(name) = name {
            words[NAME_PTR] = name.as_ptr() as u64;
            words[NAME_LEN] = name.len() as u64;
        }
        words[STATE] = state_word(true, now_ticks);
        record.write(&words);
        let index = index as usize;
        // Single writer: a plain load and store; Release so a reader that
        // sees the new bound also sees the record written above.
        if index >= self.used.load(Ordering::Relaxed) {
            self.used.store(index + 1, Ordering::Release);
        }
    }

    /// The live task in slot `index` changed state (a wake queued it):
    /// one word (worker only).
    #[inline]
    pub(crate) fn set_state(&self, index: u32, state: u64) {
        if let Some(record) = self.records.get(index as usize) {
            record.write_word(STATE, state);
        }
    }

    /// A poll of the live task in slot `index` ended: its state, its
    /// `[polls, busy ticks, self-wakes]`, and the `[site, code, value,
    /// extra]` of the wait it is parked on (worker only; the counts are
    /// the writer's, so nothing is read back).
    #[inline]
    pub(crate) fn polled(&self, index: u32, state: u64, counts: [u64; 3], wait: [u64; 4]) {
        let Some(record) = self.records.get(index as usize) else {
            return;
        };
        record.write_words([
            (STATE, state),
            (POLLS, counts[0]),
            (BUSY, counts[1]),
            (SELF_WAKES, counts[2]),
            (AWAIT_SITE, wait[0]),
            (WAIT_CODE, wait[1]),
            (WAIT_VALUE, wait[2]),
            (WAIT_EXTRA, wait[3]),
        ]);
    }

    /// The task in slot `index` ended (worker only).
    pub(crate) fn ended(&self, index: u32) {
        if let Some(record) = self.records.get(index as usize)
            && record.writer_word(TAG) != 0
        {
            record.write_word(TAG, 0);
        }
    }

    /// Every live record (any thread).
    pub(crate) fn read(&self, out: &mut Vec<RawTask>) {
        let used = self.used.load(Ordering::Acquire).min(self.records.len());
        for record in &self.records[..used] {
            let Some(w) = record.read(8) else {
                continue;
            };
            if w[TAG] & LIVE == 0 {
                continue;
            }
            let name = (w[NAME_PTR] != 0).then(|| {
                let bytes = w[NAME_PTR] as *const u8;
                // SAFETY: the words come from one consistent record copy,
                // written by `spawned` from a `&'static str`: its pointer
                // and length, valid for the process's life.
                unsafe {
                    std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                        bytes,
                        w[NAME_LEN] as usize,
                    ))
                }
            });
            let wait = Wait::decode(w[WAIT_CODE], w[WAIT_VALUE], w[WAIT_EXTRA]);
            let (scheduled, since_ticks) = decode_state(w[STATE]);
            // SAFETY: both words come from a consistent record copy and
            // were made by `location_word` in this process.
            let (spawn_site, await_site) =
                unsafe { (location_at(w[SPAWN_SITE]), location_at(w[AWAIT_SITE])) };
            out.push(RawTask {
                id: w[ID],
                kind: Kind::decode(w[TAG]),
                name,
                spawn_site,
                scheduled,
                since_ticks,
                polls: w[POLLS],
                busy_ticks: w[BUSY],
                wakes: (w[POLLS] + u64::from(scheduled)).saturating_sub(1),
                self_wakes: w[SELF_WAKES],
                parked: wait
                    .zip(await_site)
                    .map(|(wait, site)| Parked { wait, site }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn here() -> &'static Location<'static> {
        Location::caller()
    }

    fn read(r: &TaskRegistry) -> Vec<RawTask> {
        let mut out = Vec::new();
        r.read(&mut out);
        out
    }

    #[test]
    fn a_task_is_scheduled_then_idle_on_its_wait_then_woken_then_gone() {
        let r = TaskRegistry::new(4);
        assert!(read(&r).is_empty());
        let spawned_at = here();
        r.spawned(2, 77, Kind::Conn(5), Some(spawned_at), Some("conn"), 100);
        let t = &read(&r)[0];
        assert_eq!((t.id, t.scheduled, t.since_ticks), (77, true, 100));
        assert_eq!(t.kind, TaskKind::Connection { connection: 5 });
        assert_eq!((t.name, t.spawn_site), (Some("conn"), Some(spawned_at)));
        let waits_at = here();
        let parked = Parked {
            wait: Wait::ChannelRecv {
                channel: 9,
                holder: 4,
            },
            site: waits_at,
        };
        let (code, value, extra) = parked.wait.encode();
        let wait = [location_word(Some(waits_at)), code, value, extra];
        r.polled(2, state_word(false, 130), [1, 20, 0], wait);
        let t = &read(&r)[0];
        assert_eq!(
            (t.scheduled, t.since_ticks, t.polls, t.busy_ticks),
            (false, 130, 1, 20)
        );
        let p = t.parked.expect("parked");
        assert_eq!((p.wait, p.site), (parked.wait, waits_at));
        assert_eq!(
            p.wait.target(0),
            WaitTarget::ChannelRecv {
                channel: 9,
                senders: vec![3]
            }
        );
        r.set_state(2, state_word(true, 160));
        let t = &read(&r)[0];
        assert_eq!((t.scheduled, t.since_ticks), (true, 160));
        assert_eq!((t.polls, t.wakes), (1, 1), "queued by one wake");
        assert!(
            t.parked.is_some(),
            "a wake keeps the wait until the next poll"
        );
        r.polled(2, state_word(false, 170), [2, 25, 1], [0; 4]);
        let t = &read(&r)[0];
        assert_eq!(
            (t.polls, t.busy_ticks, t.wakes, t.self_wakes),
            (2, 25, 1, 1)
        );
        assert!(t.parked.is_none(), "no ringline wait");
        r.ended(2);
        assert!(read(&r).is_empty());
    }

    #[test]
    fn state_words_round_trip() {
        assert_eq!(decode_state(state_word(true, 12345)), (true, 12345));
        assert_eq!(decode_state(state_word(false, 1 << 40)), (false, 1 << 40));
    }

    #[test]
    fn every_wait_round_trips() {
        for wait in [
            Wait::Recv(3),
            Wait::Send(4),
            Wait::UdpRecv(1),
            Wait::Op(OpKind::FsRead),
            Wait::Timer(1234),
            Wait::ChannelRecv {
                channel: 5,
                holder: 0,
            },
            Wait::ChannelSend {
                channel: 6,
                holder: 2,
            },
            Wait::Join(99),
            Wait::Pool,
        ] {
            let (code, value, extra) = wait.encode();
            assert_eq!(Wait::decode(code, value, extra), Some(wait));
        }
        assert_eq!(Wait::decode(0, 0, 0), None);
    }
}
