//! Answering one request line: the pure half of the inspect server (no
//! socket, no clock), which the server applies to its client and the
//! fuzzers call directly.

use std::time::Duration;

use super::wire::{
    Hello, MAX_REQUEST_LINE, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION, Request, Response,
    RuntimeInfo, speaks,
};
use crate::stats;

/// Shortest subscription interval.
const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// Default and largest `ops`, `tasks` and `connections` answers.
const OPS_LIMIT_DEFAULT: usize = 100;
const OPS_LIMIT_MAX: usize = 10_000;

/// What serving one request line does to its client.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The response line, if any (a blank line gets none).
    pub(crate) response: Option<Response>,
    /// What becomes of the client's subscription.
    pub(crate) subscription: Subscribe,
    /// Close the client once the response is flushed.
    pub(crate) close: bool,
}

/// A request's effect on the client's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subscribe {
    /// Unchanged (blank and refused lines).
    Keep,
    /// Ended (any other request served).
    Stop,
    /// (Re)started at this interval.
    Start(Duration),
}

/// Answers one request line (newline included); see [`Answer`].
pub(crate) fn answer(line: &[u8], started_at_unix_ns: u64) -> Answer {
    let refuse = |response: Response, close: bool| Answer {
        response: Some(response),
        subscription: Subscribe::Keep,
        close,
    };
    if line.len() > MAX_REQUEST_LINE {
        return refuse(
            Response::error(
                "oversize",
                format!("request lines are at most {MAX_REQUEST_LINE} bytes"),
            ),
            true,
        );
    }
    let text = line.trim_ascii();
    if text.is_empty() {
        return Answer {
            response: None,
            subscription: Subscribe::Keep,
            close: false,
        };
    }
    let request: Request = match serde_json::from_slice(text) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                Response::error(
                    "bad_request",
                    format!(
                        "{e}; expected one JSON object per line, e.g. {{\"cmd\":\"snapshot\"}} \
                         (commands: hello, snapshot, ops, tasks, connections, dump, subscribe)"
                    ),
                ),
                false,
            );
        }
    };
    if let Some(v) = request.version()
        && !speaks(v)
    {
        return refuse(
            Response::error(
                "unsupported_version",
                format!(
                    "this process speaks inspect protocol {OLDEST_PROTOCOL_VERSION} to \
                     {PROTOCOL_VERSION}, not {v}"
                ),
            ),
            false,
        );
    }
    let mut subscription = Subscribe::Stop;
    let response = match request {
        Request::Hello { .. } => Response::Hello(hello(started_at_unix_ns)),
        Request::Snapshot { .. } => snapshot_response(),
        Request::Ops {
            min_age_ms, limit, ..
        } => {
            let limit = limit.unwrap_or(OPS_LIMIT_DEFAULT).min(OPS_LIMIT_MAX);
            let mut ops = stats::stuck_ops(Duration::from_millis(min_age_ms));
            ops.truncate(limit);
            Response::Ops { min_age_ms, ops }
        }
        Request::Tasks {
            min_idle_ms, limit, ..
        } => {
            let limit = limit.unwrap_or(OPS_LIMIT_DEFAULT).min(OPS_LIMIT_MAX);
            let mut tasks = stats::tasks(Duration::from_millis(min_idle_ms));
            tasks.truncate(limit);
            Response::Tasks { min_idle_ms, tasks }
        }
        Request::Connections { limit, .. } => {
            let limit = limit.unwrap_or(OPS_LIMIT_DEFAULT).min(OPS_LIMIT_MAX);
            let mut connections = stats::connections();
            connections.truncate(limit);
            Response::Connections { connections }
        }
        Request::Dump { .. } => {
            match stats::request_dump("asked for over the inspect socket".into()) {
                Ok(path) => Response::Dumped {
                    path: path.display().to_string(),
                },
                Err(e) => Response::error("dump_failed", e.to_string()),
            }
        }
        Request::Subscribe { interval_ms, .. } => {
            subscription = Subscribe::Start(Duration::from_millis(interval_ms).max(MIN_INTERVAL));
            snapshot_response()
        }
    };
    Answer {
        response: Some(response),
        subscription,
        close: false,
    }
}

/// The answer to `snapshot`, and each message of a subscription.
pub(crate) fn snapshot_response() -> Response {
    Response::Snapshot {
        snapshot: stats::snapshot(),
    }
}

fn hello(started_at_unix_ns: u64) -> Hello {
    let snap = stats::snapshot();
    let runtimes: Vec<RuntimeInfo> = snap
        .runtimes
        .iter()
        .map(|r| RuntimeInfo {
            id: r.id,
            backend: r.backend.clone(),
            workers: r.workers.len(),
            started_at_unix_ns: r.started_at_unix_ns,
            config: r.config.clone(),
        })
        .collect();
    Hello {
        protocol_version: PROTOCOL_VERSION,
        pid: std::process::id(),
        process: process_name(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: crate::driver::current_backend().to_string(),
        workers: runtimes.iter().map(|r| r.workers).sum(),
        start_time_unix_ns: started_at_unix_ns,
        runtimes,
        histogram: stats::Layout::current(),
    }
}

/// This process's name, from `/proc/self/comm` (empty if unreadable).
#[cfg(target_os = "linux")]
fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// This process's name: its executable's file name (there is no
/// `/proc/self/comm` here); empty if unknown.
#[cfg(not(target_os = "linux"))]
fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}
