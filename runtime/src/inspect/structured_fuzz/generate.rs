//! The fuzzer's inputs: a seeded generator, requests valid and mutated,
//! any line a client might send, and chunked writes.

use super::*;

/// xorshift64*: small, seeded, good enough to pick test inputs.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn upto(&mut self, n: usize) -> usize {
        self.below(n as u64 + 1) as usize
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(super) fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A request that parses, with random fields.
pub(super) fn valid_request(rng: &mut Rng) -> Vec<u8> {
    let v = match rng.below(4) {
        0 => None,
        1 => Some(PROTOCOL_VERSION),
        2 => Some(OLDEST_PROTOCOL_VERSION),
        _ => Some(rng.below(5) as u32),
    };
    let big = |rng: &mut Rng| match rng.below(4) {
        0 => 0,
        1 => rng.below(5_000),
        2 => u64::MAX - rng.below(3),
        _ => rng.next(),
    };
    let request = match rng.below(6) {
        0 => Request::Hello { v },
        1 => Request::Snapshot { v },
        3 => Request::Tasks {
            v,
            min_idle_ms: big(rng),
            limit: rng.chance(70).then(|| big(rng) as usize),
        },
        4 => Request::Connections {
            v,
            limit: rng.chance(70).then(|| big(rng) as usize),
        },
        2 => Request::Ops {
            v,
            min_age_ms: big(rng),
            limit: rng.chance(70).then(|| big(rng) as usize),
        },
        _ => Request::Subscribe {
            v,
            interval_ms: if rng.chance(80) {
                rng.below(120)
            } else {
                big(rng)
            },
        },
    };
    serde_json::to_vec(&request).expect("requests serialize")
}

/// A line a client might send, newline included unless it is the stream's
/// end; the bool says whether it is a bad input.
pub(super) fn any_line(rng: &mut Rng) -> (Vec<u8>, bool) {
    let mut line = match rng.below(100) {
        0..30 => return (with_newline(valid_request(rng)), false),
        30..60 => {
            let valid = valid_request(rng);
            mutated(rng, valid)
        }
        60..72 => (0..rng.upto(300))
            .map(|_| rng.byte())
            .filter(|&b| b != b'\n')
            .collect(),
        72..78 => {
            let blanks: &[&[u8]] = &[b"", b" ", b"\t \r", b"\r", b"\x0b\x0c"];
            rng.pick(blanks).to_vec()
        }
        78..84 => {
            // Nesting past serde_json's recursion limit, within the line limit.
            let depth = 100 + rng.upto(1900);
            let (open, close) = *rng.pick(&[(b'[', b']'), (b'{', b'}')]);
            let mut v = vec![open; depth];
            v.extend(std::iter::repeat_n(close, depth));
            v
        }
        84..90 => {
            // Numbers no field can hold.
            let digits: String = (0..1 + rng.upto(3000))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let field = rng.pick(&["min_age_ms", "limit", "interval_ms", "v"]);
            let cmd = rng.pick(&["ops", "subscribe", "hello"]);
            let sign = rng.pick(&["", "-", "0.", "1e"]);
            format!("{{\"cmd\":\"{cmd}\",\"{field}\":{sign}{digits}}}").into_bytes()
        }
        90..96 => {
            // Just at, or past, the line limit.
            let len = MAX_REQUEST_LINE - 2 + rng.upto(4) + rng.upto(8) * rng.upto(1000);
            let fill = *rng.pick(b" x{\"");
            vec![fill; len]
        }
        _ => {
            let keys = rng.pick(&[
                "{\"cmd\":\"hello\",\"cmd\":\"snapshot\"}",
                "{\"CMD\":\"hello\"}",
                "{\"cmd\":\"snapshot\",\"v\":null}",
                "{\"cmd\":\"ops\",\"limit\":-1}",
                "{\"cmd\":\"subscribe\",\"interval_ms\":\"10\"}",
                "\u{feff}{\"cmd\":\"hello\"}",
                "{\"cmd\":\"hello\"} {\"cmd\":\"hello\"}",
                "\"hello\"",
                "null",
                "{\"cmd\":\"hel\\u006co\"}",
            ]);
            keys.as_bytes().to_vec()
        }
    };
    line.push(b'\n');
    (line, true)
}

pub(super) fn with_newline(mut v: Vec<u8>) -> Vec<u8> {
    v.push(b'\n');
    v
}

/// A few random edits of a valid request.
pub(super) fn mutated(rng: &mut Rng, mut v: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let at = rng.upto(v.len());
        match rng.below(9) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 => v.insert(at, rng.byte()),
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => v.truncate(at),
            4 => {
                let piece = v[at..].to_vec();
                v.extend_from_slice(&piece);
            }
            5 => v.insert(at, *rng.pick(&[b'\r', b'\n', 0, 0xff, b'"', b'\\'])),
            6 => {
                let text = *rng.pick(&["\u{1F980}", "\u{0}", "é", "\\ud800", "\\u0000"]);
                v.splice(at..at, text.bytes());
            }
            7 => {
                let text = *rng.pick(&["-1", "1e400", "18446744073709551616", "0.5", "true"]);
                v.splice(at..at, text.bytes());
            }
            _ => {
                v.insert(0, b'[');
                v.push(b']');
            }
        }
    }
    v.retain(|&b| b != b'\n' || rng.chance(50));
    v
}

/// Writes `stream` in random chunks with short pauses (well below `STALL`).
pub(super) fn write_chunked(rng: &mut Rng, w: &mut UnixStream, stream: &[u8]) -> io::Result<()> {
    let mut rest = stream;
    while !rest.is_empty() {
        let most = if rng.chance(50) { 64 } else { 9000 };
        let n = (1 + rng.upto(most)).min(rest.len());
        w.write_all(&rest[..n])?;
        rest = &rest[n..];
        if rng.chance(1) {
            std::thread::sleep(Duration::from_millis(rng.below(20)));
        }
    }
    Ok(())
}
