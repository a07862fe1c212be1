//! The Connections view: one row per connection — worker, index,
//! direction, age, bytes in and out, buffered and queued bytes, ops in
//! flight, paused/closing, the task serving it and that task's state, and
//! the peer. Enter goes to its task.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use super::tasks::fetch_status;
use super::{Theme, render_table, table, worker_name};
use crate::model::rows::WorkerId;
use crate::model::tasks::{CONNECTION_LIMIT, conn_flags};
use crate::model::{Model, View, units};

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.conn_rows();
    let [title_area, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let title = match fetch_status(&model.connections, "connections") {
        Some(status) => status,
        None => {
            let mut t = format!(
                "{} connection{}, sorted by {}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                model.sort_by(View::Connections).as_str()
            );
            if model
                .connections
                .ready()
                .is_some_and(|c| c.len() >= CONNECTION_LIMIT)
            {
                t.push_str(&format!(" (the {CONNECTION_LIMIT} oldest)"));
            }
            if let Some(crate::model::RowKey::Conn(k)) = model.missing(View::Connections) {
                t.push_str(&format!(
                    "; connection {} of worker {} is not listed (closed)",
                    k.index, k.worker
                ));
            }
            t
        }
    };
    frame.render_widget(
        Paragraph::new(Line::styled(title, theme.column())),
        title_area,
    );
    let lines: Vec<Row<'_>> = rows
        .iter()
        .map(|c| {
            let id = WorkerId {
                runtime: c.runtime,
                worker: c.worker,
            };
            Row::new(vec![
                worker_name(model, id),
                c.index.to_string(),
                if c.outbound { "out" } else { "in" }.to_owned(),
                units::duration_ns(c.age_ns),
                units::bytes(c.bytes_in),
                units::bytes(c.bytes_out),
                units::bytes(c.buffered_bytes),
                units::bytes(c.queued_bytes),
                c.ops_in_flight.to_string(),
                conn_flags(c).join(","),
                c.task.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                c.task_state.map_or("-", |s| s.name()).to_owned(),
                c.peer.clone().unwrap_or_else(|| "-".to_owned()),
            ])
        })
        .collect();
    let t = table(
        &[
            "WORKER", "CONN", "DIR", "AGE", "IN", "OUT", "BUFFERED", "QUEUED", "OPS", "FLAGS",
            "TASK", "STATE", "PEER",
        ],
        lines,
        vec![
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(3),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(3),
            Constraint::Length(14),
            Constraint::Length(15),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
        theme,
    );
    let selected = (!rows.is_empty()).then(|| model.selected(View::Connections));
    render_table(frame, table_area, t, selected);
}
