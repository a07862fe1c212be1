//! End-to-end tests of the real `ringline-top` binary against a real demo
//! process (`runtime/examples/demo.rs`, built on first use): `--once
//! --json`, `--list`, `--demo`, the TUI driven in tmux, and the flight
//! recorder's `--dump`, `--record`, `--replay`.

mod e2e {
    pub mod attach;
    pub mod kernel;
    pub mod once;
    pub mod procs;
    pub mod replay;
    pub mod tmux;
    pub mod util;
}
