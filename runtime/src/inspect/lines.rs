//! Splitting a client's byte stream into request lines, in bounded memory.
//!
//! The server reads a client at most [`READ_CHUNK`] bytes at a time and
//! pushes each read here at once, so the buffer never holds more than
//! [`MAX_REQUEST_LINE`] bytes between reads, nor more than
//! `MAX_REQUEST_LINE + READ_CHUNK` during one: a line longer than the limit
//! (complete or not) is handed out as soon as it is seen to be too long,
//! and the splitter takes nothing after it.
//!
//! A pure type (no I/O, no clock), so the fuzzers feed it directly.

use super::wire::MAX_REQUEST_LINE;

/// Bytes the server reads from a client per `read` call.
pub(crate) const READ_CHUNK: usize = 4096;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already searched for a newline, so a
    /// long line fed a byte at a time costs linear, not quadratic, time.
    scanned: usize,
    /// An oversize line was handed out: nothing more is taken.
    overflowed: bool,
}

impl LineSplitter {
    /// Appends `chunk` and moves every complete line (newline included)
    /// into `lines`, in order. A line longer than [`MAX_REQUEST_LINE`] —
    /// complete, or unterminated and already past the limit — is moved out
    /// as the last line and ends the stream: this and every later push take
    /// nothing more. Returns whether that has happened.
    pub(crate) fn push(&mut self, chunk: &[u8], lines: &mut Vec<Vec<u8>>) -> bool {
        if self.overflowed {
            return true;
        }
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + at + 1;
            lines.push(self.buf[start..end].to_vec());
            self.scanned = end;
            if end - start > MAX_REQUEST_LINE {
                return self.overflow();
            }
            start = end;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_REQUEST_LINE {
            // A line that never ends: refuse it now rather than buffer on.
            lines.push(std::mem::take(&mut self.buf));
            return self.overflow();
        }
        false
    }

    fn overflow(&mut self) -> bool {
        self.overflowed = true;
        self.buf = Vec::new();
        self.scanned = 0;
        true
    }

    /// Bytes of an unfinished line held now.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated for the buffer now (what it costs in memory).
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// True once an oversize line ended the stream.
    #[cfg(test)]
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, LineSplitter) {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        for c in chunks {
            s.push(c, &mut lines);
        }
        (lines, s)
    }

    #[test]
    fn lines_come_out_whole_however_the_bytes_arrive() {
        let text = b"{\"cmd\":\"hello\"}\n\n  x \n{\"cmd\":\"snap";
        let (whole, s) = split(&[text]);
        assert_eq!(
            whole,
            [&b"{\"cmd\":\"hello\"}\n"[..], b"\n", b"  x \n"].map(<[u8]>::to_vec)
        );
        assert_eq!(s.buffered(), b"{\"cmd\":\"snap".len());
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(split(&bytes).0, whole);
        let threes: Vec<&[u8]> = text.chunks(3).collect();
        assert_eq!(split(&threes).0, whole);
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_byte_more_ends_the_stream() {
        let mut fits = vec![b'a'; MAX_REQUEST_LINE - 1];
        fits.push(b'\n');
        let (lines, s) = split(&[&fits, b"next\n"]);
        assert_eq!(lines.len(), 2);
        assert!(!s.overflowed());

        let mut over = vec![b'a'; MAX_REQUEST_LINE];
        over.push(b'\n');
        let (lines, s) = split(&[b"ok\n", &over, b"ignored\n"]);
        assert_eq!(lines.len(), 2, "the oversize line is the last one");
        assert_eq!(lines[1].len(), MAX_REQUEST_LINE + 1);
        assert!(s.overflowed() && s.buffered() == 0);
    }

    #[test]
    fn an_endless_line_is_cut_once_past_the_limit() {
        let mut s = LineSplitter::default();
        let mut lines = Vec::new();
        let chunk = [b'x'; 1000];
        let mut pushes = 0;
        while !s.push(&chunk, &mut lines) {
            pushes += 1;
            assert!(s.buffered() <= MAX_REQUEST_LINE);
        }
        assert_eq!(pushes, MAX_REQUEST_LINE / 1000);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].len() > MAX_REQUEST_LINE);
        assert!(lines[0].len() <= MAX_REQUEST_LINE + chunk.len());
        assert!(s.push(b"more\n", &mut lines) && lines.len() == 1);
    }
}
