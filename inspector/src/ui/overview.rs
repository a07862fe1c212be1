//! The Overview: one row per worker — loop rate, busy share, heartbeat,
//! tasks, in-flight ops, connections, graveyard, its fullest pool and the
//! p99 of its ops.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::{Theme, bar, render_table, table};
use crate::model::{Model, View, units};

/// Width of the slab bar.
const BAR: usize = 6;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.worker_rows();
    let lines: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            let heartbeat = if r.parked {
                Cell::from("parked")
            } else if r.heartbeat_age_ns >= model.thresholds.stall_after.as_nanos() as u64 {
                Cell::from(units::duration_ns(r.heartbeat_age_ns)).style(theme.critical())
            } else {
                Cell::from(units::duration_ns(r.heartbeat_age_ns))
            };
            let slab = match &r.fullest_slab {
                Some((name, ratio)) => Cell::from(Line::from(vec![
                    Span::styled(bar(*ratio, BAR), theme.usage(*ratio)),
                    Span::raw(format!(" {:>4} {name}", units::percent(*ratio))),
                ])),
                None => Cell::from("-"),
            };
            Row::new(vec![
                Cell::from(r.label.clone()),
                Cell::from(units::opt_rate(r.loop_rate)),
                Cell::from(units::opt_percent(r.busy)),
                heartbeat,
                Cell::from(r.tasks.to_string()),
                Cell::from(r.in_flight.to_string()),
                Cell::from(r.connections.to_string()),
                Cell::from(r.graveyard_depth.to_string()),
                Cell::from(units::opt_duration_ns(r.p99_ns)),
                slab,
            ])
        })
        .collect();
    let t = table(
        &[
            "WORKER",
            "LOOPS/s",
            "BUSY",
            "HEARTBEAT",
            "TASKS",
            "IN-FLIGHT",
            "CONNS",
            "GRAVEYARD",
            "P99",
            "FULLEST SLAB",
        ],
        lines,
        vec![
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
        theme,
    );
    let selected = (!rows.is_empty()).then(|| model.selected(View::Overview));
    render_table(frame, area, t, selected);
}
