//! The fuzzer's oracle: what the protocol promises for a stream of
//! request lines, and whether the responses a client read keep it.

use super::*;

/// What a response line must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Hello,
    Snapshot,
    Ops,
    Tasks,
    Connections,
    /// A dump written, or refused when no recorder runs.
    Dump,
    Subscribed,
    Error(&'static str),
}

/// The responses a stream of bytes must get, worked out from the
/// protocol's rules (not from the server's code): one per non-blank
/// complete line, up to and including the first line over the limit; an
/// unfinished last line gets an answer only once it is over the limit.
pub(super) fn expected(stream: &[u8]) -> Vec<Expect> {
    let mut out = Vec::new();
    let mut rest = stream;
    while let Some(at) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..=at];
        rest = &rest[at + 1..];
        if line.len() > MAX_REQUEST_LINE {
            out.push(Expect::Error("oversize"));
            return out;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        out.push(match serde_json::from_slice::<Request>(text) {
            Err(_) => Expect::Error("bad_request"),
            Ok(r) if r.version().is_some_and(|v| !speaks(v)) => {
                Expect::Error("unsupported_version")
            }
            Ok(Request::Hello { .. }) => Expect::Hello,
            Ok(Request::Snapshot { .. }) => Expect::Snapshot,
            Ok(Request::Ops { .. }) => Expect::Ops,
            Ok(Request::Tasks { .. }) => Expect::Tasks,
            Ok(Request::Connections { .. }) => Expect::Connections,
            Ok(Request::Dump { .. }) => Expect::Dump,
            Ok(Request::Subscribe { .. }) => Expect::Subscribed,
        });
    }
    if rest.len() > MAX_REQUEST_LINE {
        out.push(Expect::Error("oversize"));
    }
    out
}

/// What a client got, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Got {
    /// Refused at the cap: `busy`, then closed.
    Busy,
    /// Served: this many response lines, all as expected.
    Served(u64),
}

/// Checks the lines a client read against what it must get. Subscription
/// snapshots may come between answers once a subscribe was served.
pub(super) fn check_responses(lines: &[Vec<u8>], want: &[Expect]) -> Result<Got, String> {
    let parsed: Vec<Response> = lines
        .iter()
        .map(|l| {
            serde_json::from_slice(l).map_err(|e| {
                format!(
                    "not a JSON response ({e}): {:?}",
                    String::from_utf8_lossy(l)
                )
            })
        })
        .collect::<Result<_, _>>()?;
    if let Some(Response::Error { error, .. }) = parsed.first()
        && error == "busy"
    {
        return if parsed.len() == 1 {
            Ok(Got::Busy)
        } else {
            Err(format!("{} lines after busy", parsed.len() - 1))
        };
    }
    let mut got = parsed.iter();
    let mut subscribed = false;
    for (i, w) in want.iter().enumerate() {
        loop {
            let Some(r) = got.next() else {
                return Err(format!(
                    "response {i} of {} missing ({w:?}); got {} lines",
                    want.len(),
                    lines.len()
                ));
            };
            let ok = match (w, r) {
                (Expect::Hello, Response::Hello(h)) => h.protocol_version == PROTOCOL_VERSION,
                (Expect::Snapshot | Expect::Subscribed, Response::Snapshot { .. }) => true,
                (Expect::Ops, Response::Ops { .. }) => true,
                (Expect::Tasks, Response::Tasks { .. }) => true,
                (Expect::Connections, Response::Connections { .. }) => true,
                (Expect::Dump, Response::Dumped { .. }) => true,
                (Expect::Dump, Response::Error { error, .. }) => error == "dump_failed",
                (Expect::Error(code), Response::Error { error, .. }) => error == code,
                _ => false,
            };
            if ok {
                break;
            }
            if subscribed && matches!(r, Response::Snapshot { .. }) {
                continue;
            }
            return Err(format!("response {i}: want {w:?}, got {r:?}"));
        }
        subscribed |= *w == Expect::Subscribed;
    }
    for extra in got {
        if !(subscribed && matches!(extra, Response::Snapshot { .. })) {
            return Err(format!("unexpected extra response {extra:?}"));
        }
    }
    Ok(Got::Served(parsed.len() as u64))
}

pub(super) fn preview(stream: &[u8]) -> String {
    let s = String::from_utf8_lossy(&stream[..stream.len().min(600)]).into_owned();
    format!("{s}… ({} bytes)", stream.len())
}
