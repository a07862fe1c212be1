//! The Stuck view: ops in flight for at least the threshold (`+`/`-`),
//! oldest first — worker, op, target, age, task and flags.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use super::{Theme, below, render_table, table, worker_name};
use crate::model::rows::{WorkerId, flag_names, target_text};
use crate::model::{Model, View, units};

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.stuck_rows();
    let threshold = units::duration_ns(model.thresholds.stuck_after.as_nanos() as u64);
    let title = if rows.is_empty() {
        format!("no op in flight for ≥ {threshold} (+/- changes the threshold)")
    } else {
        format!(
            "{} op{} in flight for ≥ {threshold}, oldest first (+/- changes the threshold)",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        )
    };
    frame.render_widget(Paragraph::new(Line::styled(title, theme.column())), area);
    let lines: Vec<Row<'_>> = rows
        .iter()
        .map(|op| {
            let id = WorkerId {
                runtime: op.runtime,
                worker: op.worker,
            };
            Row::new(vec![
                worker_name(model, id),
                op.op.clone(),
                target_text(&op.target),
                units::duration_ns(op.age_ns),
                op.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                flag_names(op).join(","),
            ])
        })
        .collect();
    let t = table(
        &["WORKER", "OP", "TARGET", "AGE", "TASK", "FLAGS"],
        lines,
        stuck_widths(),
        theme,
    );
    let selected = (!rows.is_empty()).then(|| model.selected(View::Stuck));
    render_table(frame, below(area, 2), t, selected);
}

/// Column widths of stuck-op tables (also the Worker view's).
pub(super) fn stuck_widths() -> Vec<Constraint> {
    vec![
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(24),
        Constraint::Length(7),
        Constraint::Length(16),
        Constraint::Fill(1),
    ]
}
