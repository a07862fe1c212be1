//! The Worker view: one worker in full — its loop, current task, ring,
//! network, graveyard and pools, its ops table and its in-flight ops older
//! than the threshold. `↑`/`↓` step through workers.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row};

use super::{Theme, ops, render_table, stuck, table, worker_name};
use crate::model::rows::{flag_names, target_text, worker_detail};
use crate::model::{Model, units};

/// In-flight rows shown at most.
const MAX_STUCK_ROWS: usize = 5;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let (Some(win), Some(id)) = (model.window(), model.focused_worker()) else {
        return;
    };
    let Some(d) = worker_detail(win, id) else {
        return;
    };
    let s = &d.snapshot;
    let e = &s.executor;
    let name = worker_name(model, id);
    let state = if e.parked {
        "parked (waiting for events)".to_owned()
    } else {
        format!(
            "running, heartbeat {}",
            units::duration_ns(e.heartbeat_age_ns)
        )
    };
    let current = match (e.current_task, e.current_poll_age_ns) {
        (Some(t), Some(age)) => format!("task {t} for {}", units::duration_ns(age)),
        (Some(t), None) => format!("task {t}"),
        _ => "-".to_owned(),
    };
    let g = &s.graveyard;
    let slabs: Vec<String> = s
        .slabs
        .iter()
        // In-use pools only: the line has room for a handful (the Slabs
        // view lists all).
        .filter(|sl| sl.capacity > 0 && sl.used > 0)
        .map(|sl| format!("{} {}/{}", sl.slab, sl.used, sl.capacity))
        .collect();
    let label = |t: &str| Span::styled(format!("{t:<10}"), theme.column());
    let mut info = vec![
        Line::from(vec![
            Span::styled(format!("worker {name}"), theme.header()),
            Span::raw(format!("  runtime {}  {}  {state}", id.runtime, d.backend)),
        ]),
        Line::from(vec![
            label("loop"),
            Span::raw(format!(
                "{}/s  busy {}  polls {}/s  tasks {}  longest turn {}  timer overdue {}",
                units::opt_rate(d.row.loop_rate),
                units::opt_percent(d.row.busy),
                units::opt_rate(d.polls_rate),
                e.tasks,
                units::duration_ns(e.longest_turn_ns),
                units::opt_duration_ns(e.timer_overdue_ns)
            )),
        ]),
        Line::from(vec![label("polling"), Span::raw(current)]),
        Line::from(vec![
            label("ring"),
            Span::raw(format!(
                "sqe {}/s  enter {}/s  cqe {}/s  cq overflow {}  sq full {}",
                units::opt_rate(d.sqe_rate),
                units::opt_rate(d.enter_rate),
                units::opt_rate(d.cqe_rate),
                s.ring.cq_overflow_total,
                s.ring.sq_full_total
            )),
        ]),
        Line::from(vec![
            label("net"),
            Span::raw(format!(
                "{} conns  in {}/s  out {}/s  accepted {}  connected {}  closed {}",
                s.net.connections_active,
                d.bytes_in_rate
                    .map_or_else(|| "-".to_owned(), |r| units::bytes(r as u64)),
                d.bytes_out_rate
                    .map_or_else(|| "-".to_owned(), |r| units::bytes(r as u64)),
                s.net.connections_accepted_total,
                s.net.connections_connected_total,
                s.net.connections_closed_total
            )),
        ]),
        Line::from(vec![
            label("pressure"),
            Span::raw(format!(
                "paused {}  unconsumed {}  pauses {}  linger resets {}",
                s.net.connections_recv_paused,
                units::bytes(s.net.recv_buffered_bytes),
                s.net.recv_pauses_total,
                s.net.linger_resets_total
            )),
        ]),
        Line::from(vec![
            label("graveyard"),
            Span::raw(format!(
                "depth {}  {}  oldest {}  parked {}  reaped {}  abandoned {}",
                g.depth,
                units::bytes(g.bytes),
                units::opt_duration_ns(g.oldest_age_ns),
                g.parked_total,
                g.reaped_total,
                g.abandoned
            )),
        ]),
        Line::from(vec![label("slabs"), Span::raw(slabs.join("  "))]),
    ];
    info.push(Line::raw(""));
    let info_height = info.len() as u16;

    let threshold = model.thresholds.stuck_after;
    let mut stuck_ops: Vec<_> = s
        .in_flight
        .iter()
        .filter(|op| op.age_ns >= threshold.as_nanos() as u64)
        .collect();
    stuck_ops.sort_by_key(|op| std::cmp::Reverse(op.age_ns));
    let stuck_height = if stuck_ops.is_empty() {
        0
    } else {
        (stuck_ops.len().min(MAX_STUCK_ROWS) + 2) as u16
    };
    let [info_area, ops_area, stuck_area] = Layout::vertical([
        Constraint::Length(info_height),
        Constraint::Min(3),
        Constraint::Length(stuck_height),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(info), info_area);
    let rows = model.worker_op_rows();
    ops::draw_table(frame, ops_area, model, &rows, None, theme);
    if !stuck_ops.is_empty() {
        let [title, list] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(stuck_area);
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    "in flight ≥ {} on this worker",
                    units::duration_ns(threshold.as_nanos() as u64)
                ),
                theme.column(),
            )),
            title,
        );
        let lines: Vec<Row<'_>> = stuck_ops
            .iter()
            .take(MAX_STUCK_ROWS)
            .map(|op| {
                Row::new(vec![
                    name.clone(),
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
            stuck::stuck_widths(),
            theme,
        );
        render_table(frame, list, t, None);
    }
}
