//! The flight recorder's dump format: what a process kept of its last
//! minute, written by itself when something went wrong (a stalled worker, a
//! panic, a signal, a `dump` request) and replayed by `ringline-top
//! --replay`.
//!
//! A dump is one file of JSON lines:
//!
//! ```text
//! {"header":{"format":"ringline-dump","version":1,"pid":4242,"process":"api","trigger":{..},..}}
//! {"frame":{"unix_ns":..,"monotonic_ns":..,"res_ms":1000,"full":{<State>}}}
//! {"frame":{"unix_ns":..,"monotonic_ns":..,"res_ms":1000,"patch":{..}}}
//! ...
//! {"frame":{"unix_ns":..,"monotonic_ns":..,"res_ms":100,"full":{<State>}}}
//! {"frame":{..,"res_ms":100,"patch":{..}}}
//! ```
//!
//! Frames come in series, one per resolution (the last minute at 1 s, the
//! last seconds at 100 ms), each oldest first: the first frame of a series
//! is a whole [`State`], each later one a [`patch`] against the state
//! before it in the same series. [`Recording::read`] undoes all of it into
//! plain states in time order.
//!
//! A patch is the difference between two JSON values, as small as the
//! change: an object lists only the keys whose values changed (and `"$rm"`
//! those that went away), an array its new length (`"$len"`) and the
//! indexes that changed (as `"$0"`, `"$1"`, …), anything else is replaced
//! whole (`{"$v": value}`). Counters that did not move, workers and pools
//! that did not change, cost nothing.

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::stats::{ConnectionInfo, InFlightOp, Snapshot, TaskInfo};

/// The `format` of every dump header.
pub const FORMAT: &str = "ringline-dump";

/// The dump format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What made a process write a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A worker's heartbeat was older than the stall threshold.
    Stall,
    /// A worker panicked.
    Panic,
    /// The configured signal arrived.
    Signal,
    /// An inspect `dump` request (e.g. `ringline-top --pid P --dump`).
    Request,
    /// Written from outside the process (`ringline-top --record`).
    External,
}

impl TriggerKind {
    /// Every kind, for bounded metric labels.
    pub const ALL: [TriggerKind; 5] = [
        TriggerKind::Stall,
        TriggerKind::Panic,
        TriggerKind::Signal,
        TriggerKind::Request,
        TriggerKind::External,
    ];

    /// The name used on the wire and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Stall => "stall",
            TriggerKind::Panic => "panic",
            TriggerKind::Signal => "signal",
            TriggerKind::Request => "request",
            TriggerKind::External => "external",
        }
    }
}

/// Why and when a dump was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// What happened.
    pub kind: TriggerKind,
    /// When, in wall-clock nanoseconds since 1970.
    pub at_unix_ns: u64,
    /// When, on the process's stats clock (the frames' `monotonic_ns`).
    pub at_monotonic_ns: u64,
    /// The worker it concerns, if one (a stall, a panic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<usize>,
    /// What happened, for a human (the panic message, the stall's length).
    pub message: String,
}

/// The first line of a dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The process the frames describe.
    pub pid: u32,
    /// Its name.
    pub process: String,
    /// The ringline version that wrote it.
    pub ringline_version: String,
    /// Why it was written.
    pub trigger: Trigger,
    /// Each runtime's main settings, by runtime id.
    #[serde(default)]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// The recorder's bytes in memory when the dump was written.
    #[serde(default)]
    pub recorder_bytes: u64,
}

/// What one frame records: the process's snapshot and, trimmed to keep the
/// recorder bounded, its stuck ops, tasks and connections.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Every runtime's counters and pools (latency histograms reduced to
    /// count and sum; in-flight op lists to the oldest few).
    pub snapshot: Snapshot,
    /// The oldest ops in flight, with their await sites and verdicts.
    #[serde(default)]
    pub stuck_ops: Vec<InFlightOp>,
    /// The tasks idle longest (and every running one).
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
    /// The oldest connections.
    #[serde(default)]
    pub connections: Vec<ConnectionInfo>,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// The header (first line only).
    Header(Header),
    /// A recorded moment.
    Frame(FrameLine),
}

/// A recorded moment as a dump line stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLine {
    /// Wall-clock time, nanoseconds since 1970.
    pub unix_ns: u64,
    /// The process's stats clock.
    pub monotonic_ns: u64,
    /// The series' resolution in milliseconds (1000 or 100).
    pub res_ms: u32,
    /// A whole state (the first frame of a series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<Value>,
    /// The change from the series' previous state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
}

/// A recorded moment, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Wall-clock time, nanoseconds since 1970.
    pub unix_ns: u64,
    /// The process's stats clock.
    pub monotonic_ns: u64,
    /// The resolution of the series it came from, in milliseconds.
    pub res_ms: u32,
    /// What was recorded.
    pub state: State,
}

/// A whole dump, decoded: its header and every frame in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The first line.
    pub header: Header,
    /// Every frame of every series, oldest first; a moment both series
    /// recorded appears once (the finer one).
    pub frames: Vec<Frame>,
}

impl Recording {
    /// Reads a dump. Fails on a file of another format or a newer version,
    /// and on a patch without a state before it.
    pub fn read(input: impl BufRead) -> io::Result<Recording> {
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let mut lines = input.lines();
        let first = lines.next().ok_or_else(|| bad("an empty file".into()))??;
        let header = match serde_json::from_str::<Line>(&first) {
            Ok(Line::Header(h)) => h,
            _ => return Err(bad("not a ringline dump (no header line)".into())),
        };
        if header.format != FORMAT {
            return Err(bad(format!("format {:?}, not {FORMAT}", header.format)));
        }
        if header.version > FORMAT_VERSION {
            return Err(bad(format!(
                "dump format version {} is newer than this reader's {FORMAT_VERSION}",
                header.version
            )));
        }
        let mut frames = Vec::new();
        // The last state of each series, as JSON, for its next patch.
        let mut series: BTreeMap<u32, Value> = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let frame = match serde_json::from_str::<Line>(&line) {
                Ok(Line::Frame(f)) => f,
                Ok(Line::Header(_)) => return Err(bad(format!("line {}: a second header", n + 2))),
                Err(e) => return Err(bad(format!("line {}: {e}", n + 2))),
            };
            let value = match (frame.full, frame.patch) {
                (Some(full), _) => full,
                (None, Some(patch)) => {
                    let before = series.get(&frame.res_ms).ok_or_else(|| {
                        bad(format!("line {}: a patch with no state before it", n + 2))
                    })?;
                    apply(before, &patch)
                }
                (None, None) => return Err(bad(format!("line {}: an empty frame", n + 2))),
            };
            let state: State = serde_json::from_value(value.clone())
                .map_err(|e| bad(format!("line {}: {e}", n + 2)))?;
            series.insert(frame.res_ms, value);
            frames.push(Frame {
                unix_ns: frame.unix_ns,
                monotonic_ns: frame.monotonic_ns,
                res_ms: frame.res_ms,
                state,
            });
        }
        frames.sort_by_key(|f| (f.monotonic_ns, f.res_ms));
        // A coarse frame within a fine frame's step of it adds nothing.
        frames.dedup_by(|later, earlier| {
            later.monotonic_ns.abs_diff(earlier.monotonic_ns) < 50_000_000
                && later.res_ms != earlier.res_ms
        });
        Ok(Recording { header, frames })
    }

    /// The frame at or just before stats-clock time `monotonic_ns` (the
    /// first one when all are later).
    pub fn at(&self, monotonic_ns: u64) -> Option<&Frame> {
        let i = self
            .frames
            .partition_point(|f| f.monotonic_ns <= monotonic_ns);
        self.frames.get(i.saturating_sub(1))
    }
}

/// The patch that turns `before` into `after` (`None` when they are
/// equal); see the module docs.
pub fn patch(before: &Value, after: &Value) -> Option<Value> {
    if before == after {
        return None;
    }
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = Map::new();
            for (k, bv) in b {
                match a.get(k) {
                    Some(av) => {
                        if let Some(p) = patch(av, bv) {
                            out.insert(k.clone(), p);
                        }
                    }
                    None => {
                        out.insert(k.clone(), replace(bv));
                    }
                }
            }
            let removed: Vec<Value> = a
                .keys()
                .filter(|k| !b.contains_key(*k))
                .map(|k| Value::String(k.clone()))
                .collect();
            if !removed.is_empty() {
                out.insert("$rm".into(), Value::Array(removed));
            }
            Some(Value::Object(out))
        }
        (Value::Array(a), Value::Array(b)) => {
            let mut out = Map::new();
            out.insert("$len".into(), Value::from(b.len()));
            for (i, bv) in b.iter().enumerate() {
                let p = match a.get(i) {
                    Some(av) => patch(av, bv),
                    None => Some(replace(bv)),
                };
                if let Some(p) = p {
                    out.insert(format!("${i}"), p);
                }
            }
            Some(Value::Object(out))
        }
        _ => Some(replace(after)),
    }
}

fn replace(value: &Value) -> Value {
    let mut out = Map::new();
    out.insert("$v".into(), value.clone());
    Value::Object(out)
}

/// `before` with `patch` (from [`patch`]) applied.
pub fn apply(before: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    if let Some(v) = p.get("$v") {
        return v.clone();
    }
    if let Some(len) = p.get("$len").and_then(Value::as_u64) {
        let empty = Vec::new();
        let a = before.as_array().unwrap_or(&empty);
        let out = (0..len as usize)
            .map(|i| match (a.get(i), p.get(&format!("${i}"))) {
                (Some(av), Some(ip)) => apply(av, ip),
                (Some(av), None) => av.clone(),
                (None, Some(ip)) => apply(&Value::Null, ip),
                (None, None) => Value::Null,
            })
            .collect();
        return Value::Array(out);
    }
    let mut out = before.as_object().cloned().unwrap_or_default();
    if let Some(Value::Array(removed)) = p.get("$rm") {
        for k in removed.iter().filter_map(Value::as_str) {
            out.remove(k);
        }
    }
    for (k, kp) in p {
        if k == "$rm" {
            continue;
        }
        let next = apply(out.get(k).unwrap_or(&Value::Null), kp);
        out.insert(k.clone(), next);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(a: Value, b: Value) -> Option<Value> {
        let p = patch(&a, &b);
        let got = match &p {
            Some(p) => apply(&a, p),
            None => a.clone(),
        };
        assert_eq!(got, b, "patch {p:?}");
        p
    }

    #[test]
    fn patches_carry_only_the_change_and_apply_back() {
        assert_eq!(round_trip(json!({"a": 1}), json!({"a": 1})), None);
        let p = round_trip(
            json!({"a": 1, "b": {"c": [1, 2, 3], "d": "x"}, "gone": true}),
            json!({"a": 1, "b": {"c": [1, 5, 3, 4], "d": "x"}, "new": null}),
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"b": {"c": {"$len": 4, "$1": {"$v": 5}, "$3": {"$v": 4}}}, "new": {"$v": null}, "$rm": ["gone"]})
        );
        round_trip(json!([1, 2, 3]), json!([1]));
        round_trip(json!({"x": [{"k": 1}]}), json!({"x": {"k": 1}}));
        round_trip(json!("s"), json!({"$v": 1}));
        round_trip(json!(null), json!([[1], {"a": []}]));
    }

    fn state(polls: u64) -> State {
        let mut s = State::default();
        s.snapshot.pid = 7;
        s.snapshot.monotonic_ns = polls;
        s
    }

    #[test]
    fn a_dump_reads_back_into_states_in_time_order() {
        let header = Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            pid: 7,
            process: "p".into(),
            ringline_version: "0".into(),
            trigger: Trigger {
                kind: TriggerKind::Stall,
                at_unix_ns: 1,
                at_monotonic_ns: 2,
                worker: Some(0),
                message: "stalled".into(),
            },
            config: BTreeMap::new(),
            recorder_bytes: 10,
        };
        let mut text = serde_json::to_string(&Line::Header(header.clone())).unwrap() + "\n";
        let mut series = |res_ms: u32, times: &[u64]| {
            let mut before: Option<Value> = None;
            for &t in times {
                let v = serde_json::to_value(state(t)).unwrap();
                let (full, p) = match &before {
                    None => (Some(v.clone()), None),
                    Some(b) => (None, patch(b, &v)),
                };
                let line = Line::Frame(FrameLine {
                    unix_ns: t,
                    monotonic_ns: t * 1_000_000,
                    res_ms,
                    full,
                    patch: p.or(Some(json!({}))),
                });
                text += &(serde_json::to_string(&line).unwrap() + "\n");
                before = Some(v);
            }
        };
        series(1000, &[1000, 2000, 3000]);
        series(100, &[2900, 3000, 3100]);
        let r = Recording::read(text.as_bytes()).unwrap();
        assert_eq!(r.header, header);
        let times: Vec<u64> = r
            .frames
            .iter()
            .map(|f| f.state.snapshot.monotonic_ns)
            .collect();
        assert_eq!(
            times,
            [1000, 2000, 2900, 3000, 3100],
            "merged, coarse duplicates dropped"
        );
        assert_eq!(
            r.at(3_050_000_000).unwrap().state.snapshot.monotonic_ns,
            3000
        );
        assert_eq!(r.at(0).unwrap().state.snapshot.monotonic_ns, 1000);
        assert!(Recording::read(r#"{"frame":{}}"#.as_bytes()).is_err());
        let newer = text.replacen(r#""version":1"#, r#""version":99"#, 1);
        assert!(Recording::read(newer.as_bytes()).is_err());
    }
}
