//! Pieces the views share: text bars, the table look, worker names.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{HighlightSpacing, Row, Table, TableState};

use super::Theme;
use crate::model::Model;
use crate::model::rows::WorkerId;

/// A text bar of `width` cells filled to `ratio`, eighth-cell precise.
pub fn bar(ratio: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (ratio.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    let rest = eighths % 8;
    if rest != 0 {
        s.push(PARTS[rest]);
    }
    let pad = width - s.chars().count();
    s.extend(std::iter::repeat_n('·', pad));
    s
}

/// How a worker is named on screen.
pub fn worker_name(model: &Model, id: WorkerId) -> String {
    model
        .latest()
        .map(|s| crate::model::rows::worker_label(s, id))
        .unwrap_or_else(|| id.worker.to_string())
}

/// A table with the shared look: bold headings, `>` and reverse video on
/// the selected row (visible without colour), one space between columns.
pub(super) fn table<'a>(
    headings: &[&'static str],
    rows: Vec<Row<'a>>,
    widths: Vec<Constraint>,
    theme: Theme,
) -> Table<'a> {
    Table::new(rows, widths)
        .header(Row::new(headings.to_vec()).style(theme.column()))
        .column_spacing(1)
        .row_highlight_style(theme.selected())
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always)
}

/// Renders `table` with row `selected` highlighted (and scrolled to).
pub(super) fn render_table(
    frame: &mut Frame<'_>,
    area: Rect,
    table: Table<'_>,
    selected: Option<usize>,
) {
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}
