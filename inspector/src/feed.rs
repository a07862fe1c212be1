//! The feed thread: attaches to the inspect socket (`hello` once per
//! attach, then a `subscribe` stream), forwards what it gets to the app
//! loop as model [`Event`]s, and when the connection drops or cannot be
//! made, reports it once and retries until the process is back.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Duration;

use ringline_schema::inspect::Client;

use crate::model::Event;

/// Pause between attach attempts: quick enough to catch a restarted
/// process within a refresh, slow enough to cost nothing while waiting.
const RETRY: Duration = Duration::from_millis(500);

/// Starts the thread. It ends when the receiving side is dropped (it
/// notices on its next send; the process exits without joining it).
pub fn spawn(socket: PathBuf, interval: Duration, events: Sender<Event>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("ringline-top-feed".into())
        .spawn(move || run(&socket, interval, &events))
        .map(drop)
}

fn run(socket: &Path, interval: Duration, events: &Sender<Event>) {
    let mut last_error: Option<String> = None;
    loop {
        let error = match attach(socket, interval, events, &mut last_error) {
            Ok(Stop) => return,
            Err(e) => e,
        };
        // Report each distinct failure once, not every retry.
        if last_error.as_ref() != Some(&error) {
            if events.send(Event::Disconnected(error.clone())).is_err() {
                return;
            }
            last_error = Some(error);
        }
        thread::sleep(RETRY);
    }
}

/// The receiver is gone: stop.
struct Stop;

/// One attachment: until the stream fails (`Err` with the reason) or the
/// app loop hung up (`Ok(Stop)`).
/// A successful `hello` forgets `last_error`, so the next failure is
/// reported even when it reads the same as an earlier one.
fn attach(
    socket: &Path,
    interval: Duration,
    events: &Sender<Event>,
    last_error: &mut Option<String>,
) -> Result<Stop, String> {
    let mut client = Client::connect_path(socket).map_err(|e| e.to_string())?;
    let hello = client.hello().map_err(|e| e.to_string())?;
    if events.send(Event::Attached(Box::new(hello))).is_err() {
        return Ok(Stop);
    }
    *last_error = None;
    let mut subscription = client.subscribe(interval).map_err(|e| e.to_string())?;
    loop {
        let snapshot = subscription.next_snapshot().map_err(|e| e.to_string())?;
        if events.send(Event::Snapshot(Box::new(snapshot))).is_err() {
            return Ok(Stop);
        }
    }
}
