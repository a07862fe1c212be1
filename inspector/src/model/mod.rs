//! What `ringline-top` knows and shows, without drawing it: the attached
//! process, the last few snapshots, the view state (current view,
//! selection, sort, filter, stuck threshold, pause) and everything derived
//! from them (rows, alerts). No ratatui here: `ui/` draws a [`Model`],
//! `input.rs` turns keys into [`Action`]s, and the app loop feeds
//! [`Event`]s from the inspect socket and performs the [`Effect`]s.

pub mod alerts;
pub mod rows;
mod state;
pub mod table;
pub mod tasks;
pub mod timeline;
pub mod units;

#[cfg(test)]
mod task_tests;
#[cfg(test)]
mod tests;

pub use state::{Action, Connection, Effect, Event, HISTORY, Model, RowKey, StuckRow, View};
