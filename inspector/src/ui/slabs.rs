//! The Slabs view: every configured pool of every worker (and the
//! runtime-wide queues) — used, capacity, high water, refusals, and a bar.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::{Theme, bar, render_table, table};
use crate::model::{Model, View, units};

/// Width of the usage bar.
const BAR: usize = 12;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.slab_rows();
    let lines: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            Row::new(vec![
                Cell::from(r.owner.clone()),
                Cell::from(r.slab.clone()),
                Cell::from(r.used.to_string()),
                Cell::from(r.capacity.to_string()),
                Cell::from(r.high_water.to_string()),
                Cell::from(r.exhausted_total.to_string()),
                Cell::from(Line::from(vec![
                    Span::styled(bar(r.ratio, BAR), theme.usage(r.ratio)),
                    Span::raw(format!(" {}", units::percent(r.ratio))),
                ])),
            ])
        })
        .collect();
    let t = table(
        &[
            "WORKER",
            "SLAB",
            "USED",
            "CAPACITY",
            "HIGH",
            "EXHAUSTED",
            "USAGE",
        ],
        lines,
        vec![
            Constraint::Length(6),
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
        theme,
    );
    let selected = (!rows.is_empty()).then(|| model.selected(View::Slabs));
    render_table(frame, area, t, selected);
}
