//! The Kernel view: what `/proc` shows of the process, labelled as the
//! kernel's view — its io_uring instances, its threads and its TCP
//! sockets with their queues. Shown on key `8`, and in place of every view
//! while no agent answers.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row};

use super::{Theme, render_table, table};
use crate::kernel::text::summary;
use crate::model::{Model, table as filter};

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, model: &Model, theme: Theme) {
    let view = match &model.kernel {
        None => {
            frame.render_widget(
                Paragraph::new("KERNEL VIEW: reading /proc…").style(theme.dim()),
                area,
            );
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(format!("KERNEL VIEW: cannot read it: {e}")).style(theme.critical()),
                area,
            );
            return;
        }
        Some(Ok(v)) => v,
    };
    let (sqes, cqes) = view.pending();
    let whose = if model.agent_missing() {
        "KERNEL VIEW — no inspect agent answers — of"
    } else {
        "KERNEL VIEW (not the process's own account) of"
    };
    let title = format!(
        "{whose} {} (pid {}), from /proc: {} ring{}, {sqes} SQE{} and {cqes} CQE{} pending",
        view.process,
        view.pid,
        view.rings.len(),
        plural(view.rings.len()),
        plural(sqes as usize),
        plural(cqes as usize),
    );
    let notes: Vec<Line<'_>> = view
        .notes
        .iter()
        .map(|n| Line::styled(format!("note: {n}"), theme.warning()))
        .collect();
    let ring_rows = view.rings.len().max(1) as u16 + 1;
    let [head, rings, threads, tcp, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(ring_rows),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Length(notes.len() as u16),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title).style(theme.header()), head);
    frame.render_widget(Paragraph::new(notes), foot);

    let ring_lines: Vec<Row<'_>> = view
        .rings
        .iter()
        .map(|r| match &r.state {
            None => Row::new(vec![
                Cell::from(r.fd.to_string()),
                Cell::from("ring lock held: the kernel printed no counters (next refresh)"),
            ])
            .style(theme.warning()),
            Some(s) => {
                let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                let mut note = summary(&s.poll_list);
                if s.lists_skipped {
                    note.push_str(" (lists skipped: lock held)");
                }
                Row::new(vec![
                    Cell::from(r.fd.to_string()),
                    Cell::from(format!("{}/{}", s.sq_entries, s.cq_entries)),
                    Cell::from(format!("{}/{}/{}", s.sq_head, s.sq_tail, s.cached_sq_head)),
                    Cell::from(format!("{}/{}/{}", s.cq_head, s.cq_tail, s.cached_cq_tail)),
                    Cell::from(s.sqes_pending.to_string()),
                    Cell::from(s.cqes_pending.to_string()),
                    Cell::from(s.cq_overflow.to_string()),
                    Cell::from(format!("{}/{}", s.user_files, s.user_bufs)),
                    Cell::from(format!("{}@{}", opt(s.sq_thread), opt(s.sq_thread_cpu))),
                    Cell::from(note),
                ])
            }
        })
        .collect();
    let t = table(
        &[
            "RING FD",
            "SQ/CQ",
            "SQ HEAD/TAIL/CACHED",
            "CQ HEAD/TAIL/CACHED",
            "SQEs",
            "CQEs",
            "OVERFLOW",
            "FILES/BUFS",
            "SQTHREAD",
            "ARMED ON POLL",
        ],
        ring_lines,
        vec![
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(22),
            Constraint::Length(22),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
        theme,
    );
    if view.rings.is_empty() {
        frame.render_widget(
            Paragraph::new("no io_uring instance: this process has no io_uring fd")
                .style(theme.dim()),
            rings,
        );
    } else {
        render_table(frame, rings, t, None);
    }

    let thread_lines: Vec<Row<'_>> = view
        .threads
        .iter()
        .filter(|t| {
            filter::matches(
                &model.filter,
                &format!(
                    "{} {} {}",
                    t.name,
                    t.state_name,
                    t.wchan.as_deref().unwrap_or("")
                ),
            )
        })
        .map(|t| {
            Row::new(vec![
                Cell::from(t.tid.to_string()),
                Cell::from(t.name.clone()),
                Cell::from(format!("{} {}", t.state, t.state_name)),
                Cell::from(format!("{:.2}s", t.cpu_ms as f64 / 1000.0)),
                Cell::from(t.last_cpu.map_or_else(|| "-".to_owned(), |c| c.to_string())),
                Cell::from(t.wchan.clone().unwrap_or_else(|| "-".to_owned())),
            ])
        })
        .collect();
    let t = table(
        &["TID", "THREAD", "STATE", "CPU", "LAST", "WAIT CHANNEL"],
        thread_lines,
        vec![
            Constraint::Length(8),
            Constraint::Length(16),
            Constraint::Length(14),
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Fill(1),
        ],
        theme,
    );
    render_table(frame, threads, t, None);

    let tcp_lines: Vec<Row<'_>> = view
        .tcp
        .iter()
        .filter(|s| {
            filter::matches(
                &model.filter,
                &format!("{} {} {}", s.state, s.local, s.remote),
            )
        })
        .map(|s| {
            let row = Row::new(vec![
                Cell::from(s.fd.map_or_else(|| "ring".to_owned(), |f| f.to_string())),
                Cell::from(s.state),
                Cell::from(s.send_q.to_string()),
                Cell::from(s.recv_q.to_string()),
                Cell::from(s.local.clone()),
                Cell::from(s.remote.clone()),
            ]);
            if s.state == "ESTABLISHED" && s.send_q > 0 {
                row.style(theme.warning())
            } else {
                row
            }
        })
        .collect();
    let t = table(
        &["FD", "TCP STATE", "SEND-Q", "RECV-Q", "LOCAL", "REMOTE"],
        tcp_lines,
        vec![
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(24),
            Constraint::Fill(1),
        ],
        theme,
    );
    render_table(frame, tcp, t, None);
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
