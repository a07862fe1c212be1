//! The Ops view: per op kind (summed over workers) its completion rate,
//! in-flight count, p50/p99/p99.9/max latency and error counts, and below
//! the table the selected op's latency distribution, one bar per power of
//! two. The Worker view reuses both for one worker's ops.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row};

use super::{Theme, bar, render_table, table};
use crate::model::rows::{OpRow, octaves};
use crate::model::{Model, View, units};

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.op_rows();
    let selected = model.selected(View::Ops);
    let [table_area, chart_area] =
        Layout::vertical([Constraint::Fill(3), Constraint::Fill(2)]).areas(area);
    draw_table(frame, table_area, model, &rows, Some(selected), theme);
    if let Some(op) = rows.get(selected) {
        draw_chart(frame, chart_area, model, op, theme);
    }
}

/// The op table (also the Worker view's).
pub(super) fn draw_table(
    frame: &mut Frame<'_>,
    area: Rect,
    model: &Model,
    rows: &[OpRow],
    selected: Option<usize>,
    theme: Theme,
) {
    let multi = model.latest().is_some_and(|s| s.runtimes.len() > 1);
    let lines: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            let name = if multi {
                format!("{}/{}", r.runtime, r.op)
            } else {
                r.op.clone()
            };
            let lat = |ns: Option<u64>| {
                if r.multishot {
                    "-".to_owned()
                } else {
                    units::opt_duration_ns(ns)
                }
            };
            Row::new(vec![
                name,
                units::opt_rate(r.rate),
                r.in_flight.to_string(),
                lat(r.p50_ns),
                lat(r.p99_ns),
                lat(r.p999_ns),
                lat(r.max_ns),
                r.completed_error_total.to_string(),
                r.completed_cancelled_total.to_string(),
            ])
        })
        .collect();
    let t = table(
        &[
            "OP",
            "RATE/s",
            "IN-FLIGHT",
            "P50",
            "P99",
            "P99.9",
            "MAX",
            "ERR",
            "CANCEL",
        ],
        lines,
        vec![
            Constraint::Length(14),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(5),
            Constraint::Length(6),
        ],
        theme,
    );
    render_table(frame, area, t, selected.filter(|_| !rows.is_empty()));
}

/// The latency distribution of `op`: one line per power of two.
pub(super) fn draw_chart(
    frame: &mut Frame<'_>,
    area: Rect,
    model: &Model,
    op: &OpRow,
    theme: Theme,
) {
    let span = model
        .window()
        .and_then(|w| w.first.map(|f| w.latest.interval(f)))
        .map_or_else(
            || "since start".to_owned(),
            |d| format!("over the last {}", units::duration_ns(d.as_nanos() as u64)),
        );
    let mut lines = vec![Line::styled(
        format!(
            "latency of {} {span}: {} sample{}",
            op.op,
            op.latency.count,
            if op.latency.count == 1 { "" } else { "s" }
        ),
        theme.column(),
    )];
    let octaves = octaves(&op.latency);
    if op.multishot {
        lines.push(Line::styled(
            "multishot op: armed once, completes many times; no latency",
            theme.dim(),
        ));
    } else if octaves.is_empty() {
        lines.push(Line::styled("no completions in this window", theme.dim()));
    }
    let max = octaves.iter().map(|o| o.count).max().unwrap_or(0).max(1);
    let width = usize::from(area.width).saturating_sub(32).clamp(10, 60);
    for o in octaves
        .iter()
        .take(usize::from(area.height.saturating_sub(1)))
    {
        let range = match o.upper_ns {
            Some(u) => format!(
                "{:>7} – {:<7}",
                units::duration_ns(o.lower_ns),
                units::duration_ns(u)
            ),
            None => format!("{:>7} – {:<7}", units::duration_ns(o.lower_ns), "∞"),
        };
        let ratio = o.count as f64 / max as f64;
        lines.push(Line::from(vec![
            Span::raw(format!("{range} ")),
            Span::styled(bar(ratio, width), theme.usage(0.0)),
            Span::raw(format!(" {}", o.count)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
