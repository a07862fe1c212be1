//! The frame around every view: title bar, alerts, tabs, footer, and the
//! dispatch to the current view (or the help screen). In a replay, the
//! title bar names the trigger, a timeline line with the scrub bar sits
//! above the footer, and a marked diff base opens the diff panel over the
//! lower half of the view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::model::timeline::DiffPanel;
use crate::model::{Connection, Model, View, units};

use super::{Theme, conns, help, kernel, ops, overview, slabs, stuck, tasks, worker};

/// Alert lines shown at most; the rest are counted.
const MAX_ALERT_LINES: usize = 3;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, model: &Model, theme: Theme) {
    let alerts = alert_lines(model, theme);
    let replay_rows = u16::from(model.replay.is_some());
    let [header, alerts_area, tabs, body, timeline, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(alerts.len() as u16),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(replay_rows),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(model, theme)), header);
    frame.render_widget(Paragraph::new(alerts), alerts_area);
    frame.render_widget(Paragraph::new(tab_line(model, theme)), tabs);
    if model.help {
        help::draw(frame, body, theme);
    } else if model.view == View::Kernel || (model.agent_missing() && model.kernel.is_some()) {
        kernel::draw(frame, body, model, theme);
    } else if model.latest().is_none() {
        let text = match &model.connection {
            Connection::Disconnected { .. } => "no data yet: waiting for the process",
            _ => "waiting for the first snapshot…",
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()), body);
    } else {
        match model.view {
            View::Overview => overview::draw(frame, body, model, theme),
            View::Ops => ops::draw(frame, body, model, theme),
            View::Slabs => slabs::draw(frame, body, model, theme),
            View::Stuck => stuck::draw(frame, body, model, theme),
            View::Worker => worker::draw(frame, body, model, theme),
            View::Tasks => tasks::draw(frame, body, model, theme),
            View::Connections => conns::draw(frame, body, model, theme),
            View::Kernel => kernel::draw(frame, body, model, theme),
        }
    }
    if let Some(t) = &model.replay {
        let text = t.line(usize::from(timeline.width));
        frame.render_widget(Paragraph::new(text).style(theme.column()), timeline);
    }
    if let Some(diff) = &model.diff
        && !model.help
    {
        draw_diff(frame, body, diff, theme);
    }
    frame.render_widget(Paragraph::new(footer_line(model, theme)), footer);
}

/// The replay's diff panel, over the lower part of `body`.
fn draw_diff(frame: &mut Frame<'_>, body: Rect, diff: &DiffPanel, theme: Theme) {
    let want = diff.lines.len() as u16 + 2;
    let height = want
        .min(body.height.saturating_sub(body.height / 3))
        .max(3)
        .min(body.height);
    let area = Rect {
        y: body.y + body.height - height,
        height,
        ..body
    };
    frame.render_widget(Clear, area);
    let lines: Vec<Line<'static>> = diff.lines.iter().map(|l| Line::raw(l.clone())).collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::TOP)
                .title(diff.title.clone())
                .title_style(theme.header()),
        ),
        area,
    );
}

fn header_line(model: &Model, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::styled("ringline-top", theme.header())];
    match &model.hello {
        Some(h) => {
            spans.push(Span::raw(format!(
                "  {} (pid {})  {}  {} worker{}  v{}",
                h.process,
                h.pid,
                h.backend,
                h.workers,
                if h.workers == 1 { "" } else { "s" },
                h.version
            )));
            if let Some(s) = model.latest() {
                let up = s.taken_at_unix_ns.saturating_sub(h.start_time_unix_ns);
                spans.push(Span::raw(format!("  up {}", units::duration_ns(up))));
            }
        }
        None => spans.push(Span::raw(format!("  attaching to {}…", model.target))),
    }
    if let Some(t) = &model.replay {
        spans.push(Span::styled(
            format!("  REPLAY {}: {}", t.trigger.name(), t.message),
            theme.warning(),
        ));
    }
    if model.paused {
        spans.push(Span::styled("  PAUSED", theme.warning()));
    }
    Line::from(spans)
}

/// The alert bar: the disconnected banner, then alerts (critical first),
/// or one "no alerts" line.
fn alert_lines(model: &Model, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Connection::Disconnected { reason } = &model.connection {
        lines.push(Line::styled(
            format!(
                "✗ disconnected — re-attaching to {} ({reason})",
                model.target
            ),
            theme.critical(),
        ));
    }
    let alerts = model.alerts();
    for a in alerts.iter().take(MAX_ALERT_LINES) {
        let (mark, style) = if a.rule.is_critical() {
            ("✗", theme.critical())
        } else {
            ("!", theme.warning())
        };
        lines.push(Line::styled(format!("{mark} {}", a.message), style));
    }
    if alerts.len() > MAX_ALERT_LINES {
        lines.push(Line::styled(
            format!("  … and {} more", alerts.len() - MAX_ALERT_LINES),
            theme.warning(),
        ));
    }
    if lines.is_empty() {
        let text = if model.latest().is_some() {
            "✓ no alerts"
        } else {
            ""
        };
        lines.push(Line::styled(text, theme.ok()));
    }
    lines
}

fn tab_line(model: &Model, theme: Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        let mut title = format!(" {} {} ", i + 1, v.title());
        if *v == View::Stuck {
            let n = model.stuck_rows().len();
            if n > 0 {
                title = format!(" {} {} ({n}) ", i + 1, v.title());
            }
        }
        let style = if *v == model.view {
            theme.selected()
        } else {
            ratatui::style::Style::new()
        };
        spans.push(Span::styled(title, style));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

fn footer_line(model: &Model, theme: Theme) -> Line<'static> {
    if model.editing_filter {
        return Line::from(vec![
            Span::styled("filter: ", theme.column()),
            Span::raw(format!("{}▏", model.filter)),
            Span::styled("  (Enter keeps, Esc clears)", theme.dim()),
        ]);
    }
    let mut text = format!(
        "? help  q quit  sort: {}  threshold: {}",
        model.sort_by(model.view).as_str(),
        units::duration_ns(model.thresholds.stuck_after.as_nanos() as u64),
    );
    if model.replay.is_some() {
        text.push_str("  ←/→ frame  Home/End  d diff base");
    } else {
        text.push_str(&format!(
            "  refresh: {}",
            units::duration_ns(model.interval.as_nanos() as u64)
        ));
    }
    if !model.filter.is_empty() {
        text.push_str(&format!("  filter: {}", model.filter));
    }
    if model.back_depth() > 0 {
        text.push_str("  Esc: back");
    }
    Line::styled(text, theme.dim())
}
