//! The TUI's kernel-view thread: reads `/proc` once per refresh interval
//! while the kernel view is wanted (shown, or standing in for an agent that
//! does not answer) and sends it to the app loop as
//! [`Event::Kernel`](crate::model::Event::Kernel).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Duration;

use crate::model::Event;

/// The app loop's handle on the kernel-view thread.
#[derive(Debug, Clone)]
pub struct KernelFeed {
    wanted: Arc<AtomicBool>,
}

impl KernelFeed {
    /// Whether the view is needed now; while not, `/proc` is not read.
    pub fn want(&self, wanted: bool) {
        self.wanted.store(wanted, Ordering::Relaxed);
    }
}

/// [`spawn`] for the target's pid, when it has one (not for `--socket`).
pub fn spawn_for(
    pid: Option<u32>,
    interval: Duration,
    events: Sender<Event>,
) -> Result<Option<KernelFeed>, String> {
    pid.map(|pid| spawn(pid, interval, events))
        .transpose()
        .map_err(|e| format!("cannot start the kernel-view thread: {e}"))
}

/// How often the thread looks whether it is wanted while it is not.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Starts the thread for process `pid`. It ends when the receiving side is
/// dropped.
pub fn spawn(pid: u32, interval: Duration, events: Sender<Event>) -> std::io::Result<KernelFeed> {
    let feed = KernelFeed {
        wanted: Arc::new(AtomicBool::new(false)),
    };
    let wanted = feed.wanted.clone();
    thread::Builder::new()
        .name("ringline-top-kernel".into())
        .spawn(move || {
            loop {
                if !wanted.load(Ordering::Relaxed) {
                    thread::sleep(IDLE_CHECK);
                    continue;
                }
                let view = super::read(pid, None).map(Box::new);
                if events.send(Event::Kernel(view)).is_err() {
                    return;
                }
                thread::sleep(interval);
            }
        })?;
    Ok(feed)
}
