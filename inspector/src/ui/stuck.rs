//! The Stuck view: ops in flight for at least the threshold (`+`/`-`),
//! oldest first — worker, op, target, age, task, flags, where its task
//! waits and the verdict — then the stuck tasks (deadlocks, lost
//! wake-ups, a busy worker, waits that do not end) with their spawn and
//! await sites and verdicts, and the selected row in full below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use super::tasks::{self as task_ui, fetch_status, verdict_style, worker_of};
use super::{Theme, render_table, table, worker_name};
use crate::model::rows::{WorkerId, flag_names, target_text};
use crate::model::tasks::{short_site, state_text};
use crate::model::{Model, StuckRow, View, units};

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let ops = model.stuck_rows();
    let stuck_tasks = model.stuck_task_rows();
    let threshold = units::duration_ns(model.thresholds.stuck_after.as_nanos() as u64);
    let title = if ops.is_empty() {
        format!("no op in flight for ≥ {threshold} (+/- changes the threshold)")
    } else {
        format!(
            "{} op{} in flight for ≥ {threshold}, oldest first (+/- changes the threshold)",
            ops.len(),
            if ops.len() == 1 { "" } else { "s" }
        )
    };
    let ops_height = if ops.is_empty() {
        0
    } else {
        // Room for the tasks below: at most half the view.
        (ops.len() as u16 + 1).min((area.height / 2).max(2))
    };
    let gap = u16::from(ops_height > 0);
    let [
        title_area,
        _,
        ops_area,
        _,
        tasks_title,
        tasks_area,
        detail_area,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(ops_height),
        Constraint::Length(gap),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(task_ui::DETAIL),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::styled(title, theme.column())),
        title_area,
    );
    let selected = model.selected(View::Stuck);
    let lines: Vec<Row<'_>> = ops
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
                short_site(op.await_site.as_ref()),
                op.verdict
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |v| v.message.clone()),
            ])
        })
        .collect();
    let t = table(
        &[
            "WORKER", "OP", "TARGET", "AGE", "TASK", "FLAGS", "AWAIT", "VERDICT",
        ],
        lines,
        vec![
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(20),
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(10),
            Constraint::Length(16),
            Constraint::Fill(1),
        ],
        theme,
    );
    render_table(
        frame,
        ops_area,
        t,
        (selected < ops.len()).then_some(selected),
    );

    let tasks_line = match fetch_status(&model.tasks, "tasks") {
        Some(status) => Line::styled(status, theme.dim()),
        None if stuck_tasks.is_empty() => {
            Line::styled(format!("no task stuck for ≥ {threshold}"), theme.column())
        }
        None => Line::styled(
            format!(
                "{} task{} stuck for ≥ {threshold}, the most alarming first",
                stuck_tasks.len(),
                if stuck_tasks.len() == 1 { "" } else { "s" }
            ),
            theme.column(),
        ),
    };
    frame.render_widget(Paragraph::new(tasks_line), tasks_title);
    if !stuck_tasks.is_empty() {
        let lines: Vec<Row<'_>> = stuck_tasks
            .iter()
            .map(|t| {
                Row::new(vec![
                    worker_name(model, worker_of(t)),
                    t.id.to_string(),
                    t.name.clone().unwrap_or_else(|| "-".to_owned()),
                    state_text(t.state, t.state_for_ns),
                    t.verdict.kind.name().to_owned(),
                    short_site(t.spawn_site.as_ref()),
                    short_site(t.await_site.as_ref()),
                    t.verdict.message.clone(),
                ])
                .style(verdict_style(t.verdict.kind, theme))
            })
            .collect();
        let t = table(
            &[
                "WORKER", "TASK", "NAME", "STATE", "VERDICT", "SPAWNED", "AWAIT", "WHY",
            ],
            lines,
            vec![
                Constraint::Length(6),
                Constraint::Length(15),
                Constraint::Length(12),
                Constraint::Length(11),
                Constraint::Length(19),
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Fill(1),
            ],
            theme,
        );
        let sel = selected.checked_sub(ops.len());
        render_table(frame, tasks_area, t, sel);
    }

    let detail = match model.stuck_view_rows().get(selected) {
        Some(StuckRow::Op(op)) => task_ui::op_detail(op, theme),
        Some(StuckRow::Task(t)) => task_ui::task_detail(model, t, theme),
        None => Vec::new(),
    };
    frame.render_widget(Paragraph::new(detail), detail_area);
}

/// Column widths of the Worker view's stuck-op table.
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
