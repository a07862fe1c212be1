//! End-to-end tests of `ringline::fs`: each test launches a runtime with
//! no listener, runs its scenario in `on_start` against real files in a
//! temporary directory, requests shutdown and joins the workers.
//!
//! The descriptor-leak check lives in its own binary (`fs_fd_leak.rs`):
//! counting `/proc/self/fd` is only meaningful with no test running beside
//! it.

#[macro_use]
#[path = "fs/util.rs"]
mod util;

#[path = "fs/basic.rs"]
mod basic;
#[path = "fs/cancel.rs"]
mod cancel;
#[path = "fs/errors.rs"]
mod errors;
#[path = "fs/pools.rs"]
mod pools;
#[path = "fs/special.rs"]
mod special;
