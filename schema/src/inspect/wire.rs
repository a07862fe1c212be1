//! The inspect protocol's messages: newline-delimited JSON, one request per
//! line from the client, one or more response lines from the server.
//!
//! ```text
//!  → {"cmd":"hello","v":1}
//!  ← {"type":"hello","protocol_version":1,"pid":4242,"process":"api",...}
//!  → {"cmd":"snapshot"}
//!  ← {"type":"snapshot","snapshot":{...}}
//!  → {"cmd":"ops","min_age_ms":1000,"limit":20}
//!  ← {"type":"ops","min_age_ms":1000,"ops":[{"op":"fs_read","age_ns":37000000000,...}]}
//!  → {"cmd":"tasks","v":2,"min_idle_ms":1000}
//!  ← {"type":"tasks","tasks":[{"id":5,"state":"idle","await_site":{...},"verdict":{...}}]}
//!  → {"cmd":"connections","v":2}
//!  ← {"type":"connections","connections":[{"index":3,"peer":"10.0.0.7:4242",...}]}
//!  → {"cmd":"dump","v":2}
//!  ← {"type":"dumped","path":"/run/user/1000/ringline/ringline-dump-4242-….jsonl"}
//!  → {"cmd":"subscribe","interval_ms":1000}
//!  ← {"type":"snapshot",...}   (every interval, until the client leaves)
//!  → {"cmd":"bogus"}
//!  ← {"type":"error","error":"bad_request","message":"..."}
//! ```
//!
//! Every request may carry `"v"`; a server answers every version from
//! [`OLDEST_PROTOCOL_VERSION`] to [`PROTOCOL_VERSION`] and refuses others
//! with an `unsupported_version` error. Version 2 added `tasks` and
//! `connections`, and the optional await site, task and verdict fields of
//! `ops` entries; a version-1 client never sends the new commands and
//! ignores the new fields, so it keeps working. A client should send the
//! lowest version that has the command (as [`Client`](super::Client)
//! does), so that it also works with older servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{ConnectionInfo, InFlightOp, Layout, Snapshot, TaskInfo};

/// The newest protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 2;

/// The oldest protocol version this build still answers.
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;

/// Whether a server of this build answers requests of version `v`.
pub fn speaks(v: u32) -> bool {
    (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v)
}

/// Longest request line the server reads, newline included; a longer one
/// is answered with an `oversize` error and the client is dropped.
pub const MAX_REQUEST_LINE: usize = 4096;

/// A client's request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Who is there: the process, its runtimes and the histogram layout.
    Hello {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
    },
    /// One snapshot of every runtime.
    Snapshot {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
    },
    /// The in-flight ops at least `min_age_ms` old, oldest first, at most
    /// `limit` of them.
    Ops {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
        /// Minimum age in milliseconds.
        #[serde(default)]
        min_age_ms: u64,
        /// Most ops returned (default 100, at most 10 000).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Every task, longest idle first, with its wait and verdict (protocol
    /// version 2).
    Tasks {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
        /// Only tasks that have not been polled for at least this long
        /// (running tasks are always listed).
        #[serde(default)]
        min_idle_ms: u64,
        /// Most tasks returned (default 100, at most 10 000).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Every connection, oldest first (protocol version 2).
    Connections {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
        /// Most connections returned (default 100, at most 10 000).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Writes a flight-recorder dump now (protocol version 2); answered
    /// with its path.
    Dump {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
    },
    /// A snapshot now and every `interval_ms` (at least 50) until the
    /// client disconnects or sends another request.
    Subscribe {
        /// Protocol version the client speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<u32>,
        /// Milliseconds between snapshots.
        interval_ms: u64,
    },
}

impl Request {
    /// The version the request carries, if any.
    pub fn version(&self) -> Option<u32> {
        match self {
            Request::Hello { v }
            | Request::Snapshot { v }
            | Request::Ops { v, .. }
            | Request::Tasks { v, .. }
            | Request::Connections { v, .. }
            | Request::Dump { v }
            | Request::Subscribe { v, .. } => *v,
        }
    }
}

/// One runtime as `hello` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Process-unique runtime id.
    pub id: u64,
    /// `io_uring` or `mio`.
    pub backend: String,
    /// Worker threads.
    pub workers: usize,
    /// Wall-clock launch time, nanoseconds since 1970.
    pub started_at_unix_ns: u64,
    /// Main settings, as text.
    pub config: BTreeMap<String, String>,
}

/// The server's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the server.
    pub protocol_version: u32,
    /// Process id.
    pub pid: u32,
    /// Process name (`/proc/self/comm` on Linux, the executable's file
    /// name elsewhere).
    pub process: String,
    /// ringline version.
    pub version: String,
    /// Backend of the most recently launched runtime.
    pub backend: String,
    /// Worker threads over every live runtime.
    pub workers: usize,
    /// Wall-clock time the inspect server started, nanoseconds since 1970.
    pub start_time_unix_ns: u64,
    /// Every live runtime.
    pub runtimes: Vec<RuntimeInfo>,
    /// The latency histogram layout every snapshot uses.
    pub histogram: Layout,
}

/// A server message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Answer to `hello`.
    Hello(Hello),
    /// Answer to `snapshot`, and each message of a subscription.
    Snapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Answer to `ops`.
    Ops {
        /// The threshold asked for.
        min_age_ms: u64,
        /// Matching ops, oldest first.
        ops: Vec<InFlightOp>,
    },
    /// Answer to `tasks`.
    Tasks {
        /// The threshold asked for.
        min_idle_ms: u64,
        /// Matching tasks, longest idle first.
        tasks: Vec<TaskInfo>,
    },
    /// Answer to `connections`.
    Connections {
        /// Every connection (up to the limit), oldest first.
        connections: Vec<ConnectionInfo>,
    },
    /// Answer to `dump`: the file written.
    Dumped {
        /// Its path.
        path: String,
    },
    /// A request the server could not serve.
    Error {
        /// Machine-readable code: `bad_request`, `unsupported_version`,
        /// `oversize`, `busy`, `permission_denied`.
        error: String,
        /// What went wrong, for a human.
        message: String,
    },
}

impl Response {
    /// An error response.
    pub fn error(code: &str, message: impl Into<String>) -> Response {
        Response::Error {
            error: code.to_owned(),
            message: message.into(),
        }
    }

    /// The response as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","error":"internal","message":"encode: {e}"}}"#).into_bytes()
        });
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_by_hand_written_json() {
        let r: Request = serde_json::from_str(r#"{"cmd":"hello","v":1}"#).unwrap();
        assert_eq!(r, Request::Hello { v: Some(1) });
        let r: Request = serde_json::from_str(r#"{"cmd":"snapshot"}"#).unwrap();
        assert_eq!(r, Request::Snapshot { v: None });
        let r: Request = serde_json::from_str(r#"{"cmd":"ops","min_age_ms":1000}"#).unwrap();
        assert_eq!(
            r,
            Request::Ops {
                v: None,
                min_age_ms: 1000,
                limit: None
            }
        );
        let r: Request =
            serde_json::from_str(r#"{"cmd":"subscribe","interval_ms":250,"v":1}"#).unwrap();
        assert_eq!(r.version(), Some(1));
        for bad in [
            r#"{"cmd":"nope"}"#,
            r#"{"cmd":"subscribe"}"#,
            r#"{"cmd":"snapshot","extra":1}"#,
            r#"[1,2]"#,
            "",
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_round_trip_as_single_lines() {
        let e = Response::error("busy", "too many clients");
        let line = e.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, e);
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.starts_with(r#"{"type":"error","error":"busy""#),
            "{text}"
        );
    }
}
