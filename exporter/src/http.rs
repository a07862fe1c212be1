//! Just enough HTTP/1.1 to answer a Prometheus scrape: read one request
//! head under a deadline, route it, write one response, close.
//!
//! Routing: `GET /metrics` (any query string) → 200 with the body;
//! `HEAD /metrics` → the same headers, no body; another method → 405;
//! another path → 404; a head that is not HTTP/1.x → 400; a head longer
//! than [`MAX_HEAD`] → 431; no complete head before the deadline → 408.
//! Every response closes the connection (`Connection: close`): a scraper
//! reconnects once per scrape interval, so keep-alive buys nothing and
//! would let idle clients hold a scrape slot.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Longest request head read. Prometheus sends ~300 bytes; 8 KiB leaves
/// room for proxies' headers and still bounds what a client makes us hold.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// The content type of the text exposition format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A response status this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeadTooLarge,
    Unavailable,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::Unavailable => "503 Service Unavailable",
        }
    }

    /// The plain-text body of an error response: what to do about it.
    fn message(self) -> &'static str {
        match self {
            Status::Ok => "",
            Status::BadRequest => "bad request: send an HTTP/1.1 GET /metrics\n",
            Status::NotFound => "not found: metrics are at /metrics\n",
            Status::MethodNotAllowed => "method not allowed: use GET /metrics\n",
            Status::RequestTimeout => "request timeout: send the request head sooner\n",
            Status::HeadTooLarge => "request head too large: send fewer or shorter headers\n",
            Status::Unavailable => "too many concurrent scrapes: retry later\n",
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The metrics; `head_only` for `HEAD`.
    Metrics { head_only: bool },
    /// An error response.
    Error(Status),
}

/// Routes a complete request head (request line and headers, without the
/// blank line).
pub(crate) fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else {
        return Route::Error(Status::BadRequest);
    };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Error(Status::BadRequest);
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let version_ok = version
        .strip_prefix("HTTP/1.")
        .is_some_and(|minor| minor.len() == 1 && minor.as_bytes()[0].is_ascii_digit());
    let target_ok = target.starts_with('/') && !target.bytes().any(|b| b.is_ascii_control());
    let headers_ok = lines.all(|h| h.split_once(':').is_some_and(|(name, _)| token(name)));
    if !token(method) || !version_ok || !target_ok || !headers_ok {
        return Route::Error(Status::BadRequest);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::Error(Status::MethodNotAllowed),
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/metrics" {
        return Route::Error(Status::NotFound);
    }
    Route::Metrics { head_only }
}

/// Where the end of a request head (the blank line) is in `buf`: the head's
/// length, without the blank line. Bare `\n` line ends are accepted too.
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find(|&i| buf[i..].starts_with(b"\r\n\r\n") || buf[i..].starts_with(b"\n\n"))
}

/// Reads one request head before `deadline`: `Ok(route)`, or `Err` when
/// the client left (nothing to answer).
pub(crate) fn read_request(stream: &mut TcpStream, deadline: Instant) -> Result<Route, io::Error> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        if let Some(end) = head_end(&buf[..filled]) {
            return Ok(route(&buf[..end]));
        }
        if filled == buf.len() {
            return Ok(Route::Error(Status::HeadTooLarge));
        }
        let Some(left) = remaining(deadline) else {
            return Ok(Route::Error(Status::RequestTimeout));
        };
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Route::Error(Status::RequestTimeout));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Time left until `deadline`, `None` when it passed.
fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// Writes a whole response before `deadline` (a slow reader is dropped
/// there), then closes the sending side.
pub(crate) fn respond(
    stream: &mut TcpStream,
    status: Status,
    body: &[u8],
    head_only: bool,
    deadline: Instant,
) -> io::Result<()> {
    let body = if status == Status::Ok {
        body
    } else {
        status.message().as_bytes()
    };
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        status.line(),
        if status == Status::Ok {
            CONTENT_TYPE
        } else {
            "text/plain; charset=utf-8"
        },
        body.len()
    );
    match status {
        Status::MethodNotAllowed => head.push_str("Allow: GET, HEAD\r\n"),
        Status::Unavailable => head.push_str("Retry-After: 1\r\n"),
        _ => {}
    }
    head.push_str("\r\n");
    write_all_by(stream, head.as_bytes(), deadline)?;
    if !head_only {
        write_all_by(stream, body, deadline)?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// `write_all` that gives up at `deadline` however the client paces its
/// reads (a per-call timeout alone would restart with every partial write).
fn write_all_by(stream: &mut TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    // Bounded chunks so one blocked write cannot outlive the deadline by
    // more than its own timeout.
    const CHUNK: usize = 64 * 1024;
    while !data.is_empty() {
        let left = remaining(deadline).ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(&data[..data.len().min(CHUNK)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: text/plain";

    #[test]
    fn routes() {
        let ok = Route::Metrics { head_only: false };
        let cases: &[(&[u8], Route)] = &[
            (GET, ok),
            (b"GET /metrics HTTP/1.0", ok),
            (b"GET /metrics?name[]=x HTTP/1.1\nHost: a", ok),
            (
                b"HEAD /metrics HTTP/1.1",
                Route::Metrics { head_only: true },
            ),
            (b"GET / HTTP/1.1", Route::Error(Status::NotFound)),
            (b"GET /other HTTP/1.1", Route::Error(Status::NotFound)),
            (b"GET /metrics/ HTTP/1.1", Route::Error(Status::NotFound)),
            (
                b"POST /metrics HTTP/1.1\r\nContent-Length: 0",
                Route::Error(Status::MethodNotAllowed),
            ),
            (
                b"DELETE /other HTTP/1.1",
                Route::Error(Status::MethodNotAllowed),
            ),
            (b"", Route::Error(Status::BadRequest)),
            (b"hello", Route::Error(Status::BadRequest)),
            (
                b"\x16\x03\x01\x02\x00\x01\x00",
                Route::Error(Status::BadRequest),
            ),
            (b"GET /metrics HTTP/2.0", Route::Error(Status::BadRequest)),
            (
                b"GET /metrics HTTP/1.1 extra",
                Route::Error(Status::BadRequest),
            ),
            (b"GET  /metrics HTTP/1.1", Route::Error(Status::BadRequest)),
            (b"GET metrics HTTP/1.1", Route::Error(Status::BadRequest)),
            (b"G\"T /metrics HTTP/1.1", Route::Error(Status::BadRequest)),
            (
                b"GET /metrics HTTP/1.1\r\nno colon here",
                Route::Error(Status::BadRequest),
            ),
            (
                b"GET /met\x01rics HTTP/1.1",
                Route::Error(Status::BadRequest),
            ),
            (
                b"GET /metrics HTTP/1.1\r\n\xff: x",
                Route::Error(Status::BadRequest),
            ),
        ];
        for &(head, want) in cases {
            assert_eq!(route(head), want, "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
