//! Draws a [`Model`]: a title bar, the alerts, the view tabs, the current
//! view (or the help screen) and a footer with the active sort, filter and
//! threshold. Pure functions of the model: the same model draws the same
//! screen, which is what the `TestBackend` tests rely on.

mod conns;
mod help;
mod kernel;
mod ops;
mod overview;
mod parts;
mod screen;
mod slabs;
mod stuck;
mod tasks;
mod theme;
mod worker;

#[cfg(test)]
mod tests;

use parts::{bar, render_table, table, worker_name};
pub use screen::draw;
pub use theme::Theme;
