//! Styles, with and without colour. `NO_COLOR` (set and non-empty, per
//! no-color.org) drops every colour and keeps only bold and reverse video,
//! so selection and alerts stay visible on a monochrome terminal.

use ratatui::style::{Color, Modifier, Style};

/// The styles the views use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to something.
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    /// The monochrome theme.
    #[cfg(test)]
    pub fn plain() -> Theme {
        Theme { color: false }
    }

    /// The colour theme.
    #[cfg(test)]
    pub fn colored() -> Theme {
        Theme { color: true }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// The title bar.
    pub fn header(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Table column headings.
    pub fn column(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// The selected row, the current tab.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A critical alert, the disconnected banner.
    pub fn critical(self) -> Style {
        let s = self.fg(Color::Red).add_modifier(Modifier::BOLD);
        if self.color {
            s
        } else {
            s.add_modifier(Modifier::REVERSED)
        }
    }

    /// A warning.
    pub fn warning(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// "All is well".
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// Secondary text.
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// A bar's filled part at `ratio` (green, yellow from 75 %, red from 90 %).
    pub fn usage(self, ratio: f64) -> Style {
        self.fg(if ratio >= 0.9 {
            Color::Red
        } else if ratio >= 0.75 {
            Color::Yellow
        } else {
            Color::Green
        })
    }
}
