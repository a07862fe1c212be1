//! Replay's place in a recording, as the screen shows it: which frame of
//! how many, its time relative to the trigger, the trigger itself, and the
//! scrub bar (`|====^==B=T|`).

use ringline_schema::record::TriggerKind;

use super::units;

/// A move along a recording (keys `←`, `→`, `Home`, `End`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// One frame back.
    Prev,
    /// One frame on.
    Next,
    /// The first frame.
    First,
    /// The last frame.
    Last,
}

/// Where a replay is.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The recording's file, for the header.
    pub file: String,
    /// What made the process write it.
    pub trigger: TriggerKind,
    /// The trigger's message.
    pub message: String,
    /// The current frame's index.
    pub index: usize,
    /// Frames in the recording.
    pub frames: usize,
    /// The current frame's resolution, ms.
    pub res_ms: u32,
    /// The current frame's time relative to the trigger, ns.
    pub at_ns: i64,
    /// The first frame's time relative to the trigger, ns.
    pub first_ns: i64,
    /// The last frame's time relative to the trigger, ns.
    pub last_ns: i64,
    /// The diff base's time relative to the trigger, when one is marked.
    pub base_ns: Option<i64>,
}

/// `-12.3s`, `+0.20s`, `0s`: a time relative to the trigger.
pub fn offset_text(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let sign = if ns < 0 { '-' } else { '+' };
    format!("{sign}{}", units::duration_ns(ns.unsigned_abs()))
}

impl Timeline {
    /// The scrub bar, `width` characters wide (at least 3): `|` at both
    /// ends, `=` for the span, `T` where the trigger is (clamped to the
    /// span), `B` at the diff base and `^` at the current frame (which
    /// wins over the others).
    pub fn bar(&self, width: usize) -> String {
        let inner = width.max(3) - 2;
        let span = (self.last_ns - self.first_ns).max(1) as f64;
        let col = |ns: i64| {
            let f = (ns.clamp(self.first_ns, self.last_ns) - self.first_ns) as f64 / span;
            ((f * (inner - 1) as f64).round() as usize).min(inner - 1)
        };
        let mut cells = vec!['='; inner];
        cells[col(0)] = 'T';
        if let Some(b) = self.base_ns {
            cells[col(b)] = 'B';
        }
        cells[col(self.at_ns)] = '^';
        format!("|{}|", cells.into_iter().collect::<String>())
    }

    /// The line above the footer: the position, then the bar filling the
    /// rest of `width`.
    pub fn line(&self, width: usize) -> String {
        let head = format!(
            "replay {:>7} frame {}/{} ({} ms)  {} … {}  ",
            offset_text(self.at_ns),
            self.index + 1,
            self.frames,
            self.res_ms,
            offset_text(self.first_ns),
            offset_text(self.last_ns),
        );
        let room = width.saturating_sub(head.chars().count()).max(12);
        format!("{head}{}", self.bar(room))
    }
}

/// The diff panel of a replay: the current frame against the marked base.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffPanel {
    /// Its title (which frames).
    pub title: String,
    /// The diff, as `ringline-top --diff` prints it.
    pub lines: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(at_ns: i64) -> Timeline {
        Timeline {
            file: "f".into(),
            trigger: TriggerKind::Stall,
            message: "m".into(),
            index: 0,
            frames: 10,
            res_ms: 1000,
            at_ns,
            first_ns: -10_000_000_000,
            last_ns: 0,
            base_ns: None,
        }
    }

    #[test]
    fn the_bar_marks_the_span_the_trigger_and_the_position() {
        assert_eq!(timeline(-10_000_000_000).bar(13), "|^=========T|");
        assert_eq!(timeline(-5_000_000_000).bar(13), "|=====^====T|");
        assert_eq!(timeline(0).bar(13), "|==========^|", "the position wins");
        let mut t = timeline(-1_000_000_000);
        t.base_ns = Some(-10_000_000_000);
        assert_eq!(t.bar(13), "|B========^T|");
        assert_eq!(t.bar(0), "|^|", "never narrower than 3");
    }

    #[test]
    fn offsets_read_as_relative_times() {
        assert_eq!(offset_text(-12_300_000_000), "-12.3s");
        assert_eq!(offset_text(200_000_000), "+200ms");
        assert_eq!(offset_text(0), "0s");
        let line = timeline(-5_000_000_000).line(80);
        assert!(
            line.starts_with("replay  -5.00s frame 1/10 (1000 ms)  -10.0s … 0s  |"),
            "{line}"
        );
        assert!(line.ends_with("T|"), "{line}");
        assert_eq!(line.chars().count(), 80);
    }
}
