//! End-to-end tests of the runtime core: one test binary, one module per
//! area. Every scenario runs once per backend (`<scenario>::uring` today;
//! `<scenario>::mio` joins with the mio backend, see
//! `ringline_tests::backend_test!`); a backend this machine cannot run is
//! skipped with its reason printed.

// Handlers implement `AsyncEventHandler::on_accept`, whose signature is
// `fn(..) -> impl Future + 'static`; clippy suggests `async fn`, which
// would not satisfy the trait's `'static` bound on the returned future.
#![allow(clippy::manual_async_fn)]

// A crate root outside `main.rs` looks for modules beside itself, so each
// area names its file under `core/`.

#[path = "core/channels.rs"]
mod channels;
#[path = "core/echo.rs"]
mod echo;
#[path = "core/fixed_files.rs"]
mod fixed_files;
#[path = "core/lifecycle.rs"]
mod lifecycle;
#[path = "core/limits.rs"]
mod limits;
#[path = "core/outbound.rs"]
mod outbound;
#[path = "core/pressure.rs"]
mod pressure;
#[path = "core/recv_buffers.rs"]
mod recv_buffers;
#[path = "core/send_bytes.rs"]
mod send_bytes;
#[path = "core/shared_receivers.rs"]
mod shared_receivers;
#[path = "core/tasks.rs"]
mod tasks;
#[path = "core/time.rs"]
mod time;
#[path = "core/udp.rs"]
mod udp;
#[path = "core/unix_paths.rs"]
mod unix_paths;
#[path = "core/wrong_worker.rs"]
mod wrong_worker;
