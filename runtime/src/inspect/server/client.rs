//! One connected client: the bytes of its unfinished request line, the
//! complete requests waiting for answers, the output not yet written, and
//! the clocks its deadlines run on (see the server's module docs).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::Token;

use super::super::answer::{Subscribe, answer};
use super::super::lines::{LineSplitter, READ_CHUNK};
use super::{IDLE, READ_BUDGET, Response, STALL};

/// See the module docs.
pub(super) struct Client {
    pub(super) stream: mio::net::UnixStream,
    pub(super) token: Token,
    /// The last readiness edge has not been read to `WouldBlock` yet.
    pub(super) readable: bool,
    input: LineSplitter,
    /// Complete request lines read and not yet answered; the client is not
    /// read again until this is empty, which bounds it to one read
    /// ([`READ_BUDGET`] + [`READ_CHUNK`] bytes).
    pub(super) requests: VecDeque<Vec<u8>>,
    output: Vec<u8>,
    /// Bytes of `output` already written.
    written: usize,
    /// Last time a byte arrived (for half-sent requests).
    input_progress: Instant,
    /// Last time output moved (or was queued into an empty buffer).
    output_progress: Instant,
    /// Last request.
    active: Instant,
    pub(super) subscription: Option<(Duration, Instant)>,
    /// The peer closed its side: finish writing, then drop.
    eof: bool,
    /// Drop once the output is flushed (after a fatal error line).
    closing: bool,
    pub(super) dead: bool,
    /// The most output this client held at any moment since the server
    /// last looked (see `Server::output_peak`).
    pub(super) output_peak: usize,
}

impl Client {
    /// A client just admitted; it is read at once, since bytes may have
    /// arrived before its registration.
    pub(super) fn new(stream: mio::net::UnixStream, token: Token, now: Instant) -> Client {
        Client {
            stream,
            token,
            readable: true,
            input: LineSplitter::default(),
            requests: VecDeque::new(),
            output: Vec::new(),
            written: 0,
            input_progress: now,
            output_progress: now,
            active: now,
            subscription: None,
            eof: false,
            closing: false,
            dead: false,
            output_peak: 0,
        }
    }

    /// What this client holds in memory now (tests and fuzzers).
    #[cfg(test)]
    pub(super) fn buffers(&self) -> super::ClientBuffers {
        super::ClientBuffers {
            input: self.input.buffered(),
            input_allocated: self.input.allocated(),
            output_pending: self.pending(),
        }
    }

    pub(super) fn pending(&self) -> usize {
        self.output.len() - self.written
    }

    /// Whether the client is read: not after EOF or a fatal error, and not
    /// while requests already read wait for their answers.
    pub(super) fn reading(&self) -> bool {
        !self.eof && !self.closing && self.requests.is_empty()
    }

    /// Queues `response`, or drops the client if that would hold more than
    /// `max_output` bytes for it.
    pub(super) fn queue(&mut self, response: &Response, now: Instant, max_output: usize) {
        if self.pending() == 0 {
            self.output.clear();
            self.written = 0;
            self.output_progress = now;
        }
        let line = response.to_line();
        if self.pending() + line.len() > max_output {
            self.dead = true;
            return;
        }
        self.output.extend_from_slice(&line);
        self.output_peak = self.output_peak.max(self.pending());
    }

    /// Writes what is pending, then answers the waiting requests in order
    /// while the socket takes each answer whole (see the module docs).
    pub(super) fn serve(&mut self, now: Instant, started_at_unix_ns: u64, max_output: usize) {
        loop {
            self.flush(now);
            if self.dead || self.pending() > 0 {
                return;
            }
            let Some(line) = self.requests.pop_front() else {
                return;
            };
            if self.requests.is_empty() {
                // Reading resumes: a half-sent line's stall clock starts now.
                self.input_progress = now;
            }
            self.answer(&line, now, started_at_unix_ns, max_output);
        }
    }

    pub(super) fn flush(&mut self, now: Instant) {
        while self.pending() > 0 {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.written += n;
                    self.output_progress = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }

    /// Reads what is there (at most [`READ_BUDGET`] bytes) and queues the
    /// complete lines as requests. Each read goes through the splitter at
    /// once, which bounds what is buffered (see `lines`); after an oversize
    /// line the client is closing and is not read again.
    pub(super) fn read(&mut self, now: Instant) {
        let mut buf = [0u8; READ_CHUNK];
        let mut lines = Vec::new();
        let mut taken = 0;
        while taken <= READ_BUDGET {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    taken += n;
                    self.input_progress = now;
                    if self.input.push(&buf[..n], &mut lines) {
                        self.closing = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        self.requests.extend(lines);
    }

    /// Answers one request line.
    fn answer(&mut self, line: &[u8], now: Instant, started_at_unix_ns: u64, max_output: usize) {
        self.active = now;
        let answer = answer(line, started_at_unix_ns);
        match answer.subscription {
            Subscribe::Keep => {}
            Subscribe::Stop => self.subscription = None,
            Subscribe::Start(interval) => self.subscription = Some((interval, now + interval)),
        }
        if let Some(response) = &answer.response {
            self.queue(response, now, max_output);
        }
        if answer.close {
            self.closing = true;
        }
    }

    /// Marks the client dead when a deadline passed or it is finished.
    pub(super) fn check_deadlines(&mut self, now: Instant) {
        // Input stalls only while we read: waiting requests mean we are
        // the ones not reading.
        let stalled_in = self.requests.is_empty()
            && self.input.buffered() > 0
            && now - self.input_progress > STALL;
        let stalled_out = self.pending() > 0 && now - self.output_progress > STALL;
        let idle = self.subscription.is_none()
            && self.input.buffered() == 0
            && self.requests.is_empty()
            && self.pending() == 0
            && now - self.active > IDLE;
        let finished =
            (self.eof || self.closing) && self.requests.is_empty() && self.pending() == 0;
        if stalled_in || stalled_out || idle || finished {
            self.dead = true;
        }
    }
}
