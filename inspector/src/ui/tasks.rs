//! The Tasks view: one row per task — worker, id, name, kind, state and
//! for how long, polls, busy time, wakes/self-wakes, verdict, await site
//! and what it waits on — and below the table the selected task in full:
//! spawn site, await site, the verdict's message and where Enter leads.
//! The Stuck view reuses the detail and the status lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use ringline_schema::stats::{InFlightOp, TaskInfo};

use super::{Theme, render_table, table, worker_name};
use crate::model::rows::WorkerId;
use crate::model::tasks::{
    self, Fetched, Link, NEEDS_NEWER, TASK_LIMIT, kind_text, short_site, site_text, state_text,
    task_label, wait_text,
};
use crate::model::{Model, RowKey, View, units};

/// Lines of the detail below the table.
pub(super) const DETAIL: u16 = 5;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let rows = model.task_rows();
    let [title_area, table_area, detail_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(DETAIL),
    ])
    .areas(area);
    let title = match fetch_status(&model.tasks, "tasks") {
        Some(status) => status,
        None => {
            let mut t = format!(
                "{} task{}, sorted by {}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                model.sort_by(View::Tasks).as_str()
            );
            if model.tasks.ready().is_some_and(|t| t.len() >= TASK_LIMIT) {
                t.push_str(&format!(" (the {TASK_LIMIT} longest idle)"));
            }
            if let Some(key) = model.missing(View::Tasks) {
                t.push_str(&format!("; {} is not listed", key_text(key)));
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
        .map(|t| {
            Row::new(vec![
                worker_name(model, worker_of(t)),
                t.id.to_string(),
                t.name.clone().unwrap_or_else(|| "-".to_owned()),
                kind_text(&t.kind),
                state_text(t.state, t.state_for_ns),
                t.polls.to_string(),
                units::duration_ns(t.busy_ns),
                format!("{}/{}", t.wakes, t.self_wakes),
                t.verdict.kind.name().to_owned(),
                short_site(t.await_site.as_ref()),
                wait_text(&t.waiting_on),
            ])
        })
        .collect();
    let t = table(
        &[
            "WORKER",
            "TASK",
            "NAME",
            "KIND",
            "STATE",
            "POLLS",
            "BUSY",
            "WAKE/SELF",
            "VERDICT",
            "AWAIT",
            "WAITING ON",
        ],
        lines,
        vec![
            Constraint::Length(6),
            Constraint::Length(15),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(21),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ],
        theme,
    );
    let selected = model.selected(View::Tasks);
    render_table(frame, table_area, t, (!rows.is_empty()).then_some(selected));
    if let Some(t) = rows.get(selected) {
        frame.render_widget(Paragraph::new(task_detail(model, t, theme)), detail_area);
    }
}

/// The worker of task `t`.
pub(super) fn worker_of(t: &TaskInfo) -> WorkerId {
    WorkerId {
        runtime: t.runtime,
        worker: t.worker,
    }
}

/// Why a side answer has no rows to show, if it has none: not asked yet,
/// an older process, or a failure.
pub(super) fn fetch_status<T>(f: &Fetched<Vec<T>>, what: &str) -> Option<String> {
    match f {
        Fetched::Ready(_) => None,
        Fetched::Pending => Some(format!("asking the process for its {what}…")),
        Fetched::Unsupported => Some(format!("{what}: {NEEDS_NEWER}")),
        Fetched::Failed(e) => Some(format!("cannot list {what}: {e}")),
    }
}

/// A row named by its key, for "… is not listed".
fn key_text(key: &RowKey) -> String {
    match key {
        RowKey::Task(k) => format!("task {} (finished, or beyond the list)", k.id),
        RowKey::Conn(k) => format!("connection {} of worker {} (closed)", k.index, k.worker),
        RowKey::Op(k) => format!("the {} op (completed)", k.op),
    }
}

/// Where Enter leads, in words.
pub(super) fn link_text(link: &Link) -> String {
    match link {
        Link::Task(k) => format!("task {}", k.id),
        Link::Conn(k) => format!("connection {}", k.index),
        Link::Op(k) => format!("its {} op", k.op),
        Link::Worker(id) => format!("worker {}", id.worker),
    }
}

/// Task `t` in full: what it is, where it was spawned, where it waits and
/// on what, the verdict, and where Enter leads.
pub(super) fn task_detail(model: &Model, t: &TaskInfo, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::styled(
            format!(
                "{}  {}  worker {}  {}  polls {}  busy {}  wakes {} (self {})",
                task_label(t),
                kind_text(&t.kind),
                worker_name(model, worker_of(t)),
                state_text(t.state, t.state_for_ns),
                t.polls,
                units::duration_ns(t.busy_ns),
                t.wakes,
                t.self_wakes
            ),
            theme.column(),
        ),
        Line::raw(format!("spawned at {}", site_text(t.spawn_site.as_ref()))),
        Line::raw(format!(
            "waits at   {}  on {}",
            site_text(t.await_site.as_ref()),
            wait_text(&t.waiting_on)
        )),
        Line::styled(
            format!("{}: {}", t.verdict.kind.name(), t.verdict.message),
            verdict_style(t.verdict.kind, theme),
        ),
    ];
    if let Some(link) = tasks::task_link(t) {
        lines.push(Line::styled(
            format!("Enter: {}", link_text(&link)),
            theme.dim(),
        ));
    }
    lines
}

/// Stuck op `op` in full: where its task waits and the verdict.
pub(super) fn op_detail(op: &InFlightOp, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!(
            "{} for {}  task {}",
            op.op,
            units::duration_ns(op.age_ns),
            op.task.map_or_else(|| "-".to_owned(), |t| t.to_string())
        ),
        theme.column(),
    )];
    lines.push(Line::raw(format!(
        "waited on at {}",
        site_text(op.await_site.as_ref())
    )));
    match &op.verdict {
        Some(v) => lines.push(Line::styled(
            format!("{}: {}", v.kind.name(), v.message),
            verdict_style(v.kind, theme),
        )),
        None => lines.push(Line::styled(
            "no verdict (the process does not explain its ops)",
            theme.dim(),
        )),
    }
    lines.push(Line::styled(
        format!("Enter: {}", link_text(&tasks::op_link(op))),
        theme.dim(),
    ));
    lines
}

/// Deadlocks and lost wake-ups in red, other stuck verdicts in yellow.
pub(super) fn verdict_style(
    kind: ringline_schema::stats::VerdictKind,
    theme: Theme,
) -> ratatui::style::Style {
    match tasks::severity(kind) {
        0..=3 => theme.critical(),
        4..=7 => theme.warning(),
        _ => ratatui::style::Style::new(),
    }
}
