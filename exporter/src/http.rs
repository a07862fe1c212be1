//! Just enough HTTP/1.1 to answer a Prometheus scrape: read one request
//! head under a deadline, route it, write one response, close.
//!
//! Routing: `GET /metrics` (any query string) → 200 with the body;
//! `HEAD /metrics` → the same headers, no body; another method → 405;
//! another path → 404; a head that is not HTTP/1.0 or 1.1 → 400; a head
//! longer than [`MAX_HEAD`] or with more than 64 headers → 431; no
//! complete head before the deadline → 408. The request line and headers
//! are parsed by httparse; this file only frames, routes and answers.
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

/// Most headers a request may carry; more are answered like an oversized
/// head (431). Prometheus sends five.
const MAX_HEADERS: usize = 64;

/// Routes a complete request head, up to and including the blank line that
/// ends it. httparse checks the request line and the headers (tokens,
/// `HTTP/1.0` or `HTTP/1.1`, no control bytes in the target); a head it
/// cannot parse is a 400.
pub(crate) fn route(head: &[u8]) -> Route {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Route::Error(Status::HeadTooLarge),
        // Partial: the head ended before its request line (only empty
        // lines), which is as malformed as a bad one.
        Ok(httparse::Status::Partial) | Err(_) => return Route::Error(Status::BadRequest),
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Route::Error(Status::BadRequest);
    };
    // Origin form only: no `*`, no absolute URI.
    if !target.starts_with('/') {
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
/// Found here rather than by httparse so that a head is read to its end,
/// under the size cap, before it is judged.
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
            let blank = if buf[end..].starts_with(b"\r\n\r\n") {
                4
            } else {
                2
            };
            return Ok(route(&buf[..end + blank]));
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

    /// [`super::route`] of a head given without its blank line.
    fn route(head: &[u8]) -> Route {
        super::route(&[head, b"\r\n\r\n"].concat())
    }

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
    fn too_many_headers_are_refused_like_an_oversized_head() {
        let head = |n: usize| {
            let mut head = b"GET /metrics HTTP/1.1".to_vec();
            for i in 0..n {
                head.extend_from_slice(format!("\r\nX-{i}: y").as_bytes());
            }
            head
        };
        let ok = Route::Metrics { head_only: false };
        assert_eq!(route(&head(MAX_HEADERS)), ok);
        let too_many = route(&head(MAX_HEADERS + 1));
        assert_eq!(too_many, Route::Error(Status::HeadTooLarge));
    }

    #[test]
    fn head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
