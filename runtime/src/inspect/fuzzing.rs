//! Entry points for fuzzers of the inspect protocol's request decoder. Not
//! part of ringline's API: hidden from the docs, may change in any release.
//!
//! [`decode_in_chunks`] runs bytes through exactly what a client's bytes
//! meet on the inspect socket — the server's line splitter, fed one read at
//! a time, and its request handling — minus the socket, and panics when an
//! invariant breaks. The `cargo fuzz` target `inspect_decoder` (in `fuzz/`)
//! calls [`decode_fuzz_input`]; the structured fuzzer (a unit test of this
//! module's crate) replays the persisted corpus through it too.

use super::answer::{Subscribe, answer};
use super::lines::{self, LineSplitter};
use super::wire::{MAX_REQUEST_LINE, Request, Response, speaks};

/// Most bytes the server takes from a client in one read.
pub const READ_CHUNK: usize = lines::READ_CHUNK;

/// What one decode saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Complete request lines, the oversize one included.
    pub lines: usize,
    /// Response lines the server would send.
    pub responses: usize,
    /// Of which error responses.
    pub errors: usize,
    /// Whether an oversize line ended the stream (the server then closes).
    pub closed: bool,
    /// Most bytes of an unfinished line held between two reads.
    pub peak_buffered: usize,
    /// Most bytes allocated for them.
    pub peak_allocated: usize,
}

/// Feeds `data` to the request decoder in reads of `chunk_sizes` bytes
/// (cycled; each clamped to `1..=READ_CHUNK`, as the server never reads
/// more at once; empty means `READ_CHUNK`), answers every line as the
/// server would, and returns the counts.
///
/// # Panics
///
/// When an invariant of the decoder breaks — that is the fuzzer's finding:
/// the buffer holds more than `MAX_REQUEST_LINE` bytes between reads (or
/// its allocation more than twice `MAX_REQUEST_LINE + READ_CHUNK`); a line
/// comes out without its newline (other than an oversize one) or after the
/// stream ended; an oversize line is not refused with `oversize` and a
/// close, or another line is; a non-blank line gets no response or a blank
/// one gets one; a response is not exactly one line of JSON that reads back
/// as a `Response`; a request that parses is refused as malformed, or one
/// that does not parse is served.
pub fn decode_in_chunks(data: &[u8], chunk_sizes: &[usize]) -> Decoded {
    let mut splitter = LineSplitter::default();
    let mut out = Decoded::default();
    let mut lines = Vec::new();
    let mut rest = data;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(READ_CHUNK).clamp(1, READ_CHUNK);
        let (chunk, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        assert!(
            splitter.buffered() <= MAX_REQUEST_LINE,
            "{} bytes buffered between reads",
            splitter.buffered()
        );
        out.peak_buffered = out.peak_buffered.max(splitter.buffered());
        out.peak_allocated = out.peak_allocated.max(splitter.allocated());
        assert!(
            splitter.allocated() <= 2 * (MAX_REQUEST_LINE + READ_CHUNK),
            "{} bytes allocated for one client's input",
            splitter.allocated()
        );
        let was_closed = out.closed;
        out.closed = splitter.push(chunk, &mut lines);
        assert!(
            !was_closed || lines.is_empty(),
            "a line after the stream ended"
        );
        for line in lines.drain(..) {
            check_line(&line, &mut out);
        }
    }
    out
}

/// [`decode_in_chunks`] with the chunk sizes taken from the input itself:
/// the low 3 bits of the first byte say how many of the next bytes are
/// sizes (byte `b` is `b + 1` bytes below 128, else `(b - 127) * 32`, up
/// to [`READ_CHUNK`]); the rest is the stream. Every byte string is a valid
/// input, so a fuzzer's mutations explore chunking and content together.
pub fn decode_fuzz_input(data: &[u8]) -> Decoded {
    let Some((&head, rest)) = data.split_first() else {
        return decode_in_chunks(&[], &[]);
    };
    let n = usize::from(head & 7).min(rest.len());
    let (size_bytes, stream) = rest.split_at(n);
    let sizes: Vec<usize> = size_bytes
        .iter()
        .map(|&b| match b {
            0..128 => usize::from(b) + 1,
            _ => (usize::from(b) - 127) * 32,
        })
        .collect();
    decode_in_chunks(stream, &sizes)
}

fn check_line(line: &[u8], out: &mut Decoded) {
    out.lines += 1;
    let oversize = line.len() > MAX_REQUEST_LINE;
    assert!(
        line.len() <= MAX_REQUEST_LINE + READ_CHUNK,
        "a {}-byte line came out of the splitter",
        line.len()
    );
    assert!(
        oversize || line.ends_with(b"\n"),
        "a line without its newline"
    );
    assert!(
        !line[..line.len().saturating_sub(1)].contains(&b'\n'),
        "two lines in one"
    );
    // The server's clock is not needed: no response depends on it.
    let a = answer(line, 0);
    assert_eq!(a.close, oversize, "close only after an oversize line");
    let Some(response) = a.response else {
        assert!(
            line.trim_ascii().is_empty(),
            "a non-blank line got no response"
        );
        assert_eq!(a.subscription, Subscribe::Keep);
        return;
    };
    out.responses += 1;
    let wire = response.to_line();
    assert!(
        wire.ends_with(b"\n") && wire.iter().filter(|&&b| b == b'\n').count() == 1,
        "a response is one line"
    );
    let back: Response = serde_json::from_slice(&wire).expect("a response reads back");
    assert_eq!(
        std::mem::discriminant(&back),
        std::mem::discriminant(&response)
    );
    let parsed = if oversize {
        None
    } else {
        serde_json::from_slice::<Request>(line.trim_ascii()).ok()
    };
    match (&response, parsed) {
        (Response::Error { error, .. }, _) if oversize => {
            assert_eq!(error, "oversize");
            out.errors += 1;
        }
        (Response::Error { error, .. }, None) => {
            assert_eq!(error, "bad_request", "an unparsable line");
            out.errors += 1;
        }
        (Response::Error { error, .. }, Some(Request::Dump { .. })) if error == "dump_failed" => {
            out.errors += 1;
        }
        (Response::Error { error, .. }, Some(r)) => {
            assert_eq!(error, "unsupported_version", "{r:?} was refused");
            assert!(r.version().is_some_and(|v| !speaks(v)));
            out.errors += 1;
        }
        (served, Some(r)) => {
            let matches = matches!(
                (served, &r),
                (Response::Hello(_), Request::Hello { .. })
                    | (Response::Snapshot { .. }, Request::Snapshot { .. })
                    | (Response::Ops { .. }, Request::Ops { .. })
                    | (Response::Tasks { .. }, Request::Tasks { .. })
                    | (Response::Connections { .. }, Request::Connections { .. })
                    | (Response::Dumped { .. }, Request::Dump { .. })
                    | (Response::Snapshot { .. }, Request::Subscribe { .. })
            );
            assert!(matches, "{r:?} answered with another kind");
            let subscribes = matches!(r, Request::Subscribe { .. });
            assert_eq!(
                matches!(a.subscription, Subscribe::Start(_)),
                subscribes,
                "{r:?}"
            );
        }
        (_, None) => panic!("a line that is no request was served"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_line_is_decoded_whatever_the_chunking() {
        let mut stream = b"{\"cmd\":\"hello\",\"v\":1}\n\n{\"cmd\":\"snapshot\"}\r\n".to_vec();
        stream.extend_from_slice(b"{\"cmd\":\"ops\",\"min_age_ms\":5,\"limit\":2}\n");
        stream.extend_from_slice(b"{\"cmd\":\"subscribe\",\"interval_ms\":1}\n");
        stream.extend_from_slice(b"garbage\n{\"cmd\":\"hello\",\"v\":7}\n");
        let want = Decoded {
            lines: 7,
            responses: 6,
            errors: 2,
            closed: false,
            peak_buffered: 0,
            peak_allocated: 0,
        };
        for sizes in [&[][..], &[1], &[2, 7], &[4096]] {
            let got = decode_in_chunks(&stream, sizes);
            assert_eq!(
                (got.lines, got.responses, got.errors, got.closed),
                (want.lines, want.responses, want.errors, want.closed),
                "{sizes:?}"
            );
        }
        let mut long = vec![b'x'; 3 * MAX_REQUEST_LINE];
        long.extend_from_slice(b"\n{\"cmd\":\"hello\"}\n");
        let got = decode_in_chunks(&long, &[1000]);
        assert!(got.closed && got.lines == 1 && got.errors == 1, "{got:?}");
        assert!(got.peak_buffered <= MAX_REQUEST_LINE, "{got:?}");
    }

    #[test]
    fn fuzz_inputs_choose_their_own_chunking() {
        // Two size bytes (1 and 4096), then the stream.
        let mut input = vec![2u8, 0, 255];
        input.extend_from_slice(b"{\"cmd\":\"snapshot\"}\nnope\n");
        let got = decode_fuzz_input(&input);
        assert_eq!((got.lines, got.responses, got.errors), (2, 2, 1));
        assert_eq!(decode_fuzz_input(&[]), Decoded::default());
        assert_eq!(decode_fuzz_input(&[7]), Decoded::default());
    }
}
