//! The help screen, rendered from `input::KEYS` so it can never disagree
//! with the keys that work.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::input::KEYS;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, theme: Theme) {
    let width = KEYS
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    // The keys come first and must all show; the heading goes when the
    // screen is too short for both (the notes below may then be cut).
    let mut lines = Vec::new();
    if KEYS.len() < usize::from(area.height) {
        lines.push(Line::styled("keys", theme.column()));
    }
    for b in KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<width$}", b.label), theme.header()),
            Span::raw(format!("  {}", b.help)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "alerts: worker stalled (no loop iteration for ≥ 1s while not parked), op stuck (≥ threshold),",
        theme.dim(),
    ));
    lines.push(Line::styled(
        "graveyard growing, slab ≥ 90% used, completion-queue overflow",
        theme.dim(),
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Enter on a task: the op, connection, joined task or channel peer it waits on; on a stuck op",
        theme.dim(),
    ));
    lines.push(Line::styled(
        "or a connection: its task. Stuck tasks: not running for ≥ threshold, except sleeps and quiet",
        theme.dim(),
    ));
    lines.push(Line::styled(
        "peers (deadlocks, lost wake-ups and a busy worker first). Filter tokens: state:idle, verdict:deadlock",
        theme.dim(),
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "replay (--replay FILE): every view over the recording; the bottom line shows the frame's time from",
        theme.dim(),
    ));
    lines.push(Line::styled(
        "the trigger and the scrub bar (^ here, T the trigger, B the diff base); rates are between frames",
        theme.dim(),
    ));
    lines.push(Line::styled(
        "(the 1 s series reaches back a minute, the 100 ms one a few seconds); d marks a base, Esc clears",
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines), area);
}
