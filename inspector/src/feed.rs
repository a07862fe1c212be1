//! The feed threads. One attaches to the inspect socket (`hello` once per
//! attach, then a `subscribe` stream), forwards what it gets to the app
//! loop as model [`Event`]s, and when the connection drops or cannot be
//! made, reports it once and retries until the process is back.
//!
//! A subscription keeps its connection busy (the server pushes snapshots
//! on it until the client leaves), so the side requests — `tasks`,
//! `connections`, `ops` — go over a second connection, from a second
//! thread, and only while the shown view needs them ([`Queries::want`]):
//! at once when the need changes, then once per refresh interval. The
//! connection is closed while nothing is needed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use ringline_schema::inspect::Client;

use crate::model::Event;
use crate::model::tasks::{Fetched, Needs};

/// How many entries each side request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `tasks`' limit.
    pub tasks: usize,
    /// `connections`' limit.
    pub connections: usize,
    /// `ops`' limit.
    pub ops: usize,
}

/// The first inspect protocol version with `tasks` and `connections`.
pub const TASKS_PROTOCOL: u32 = 2;

/// Asks `client` (of a server speaking `protocol`) what `needs` names.
/// Returns the answers as events, and whether the connection broke (a
/// refused request leaves it usable). A server too old for a request
/// gives [`Fetched::Unsupported`], never an error.
pub fn ask(
    client: &mut Client,
    protocol: u32,
    needs: &Needs,
    limits: Limits,
) -> (Vec<Event>, bool) {
    let mut broken = false;
    let mut events = Vec::new();
    if let Some(min_age) = needs.ops {
        let r = client.ops(min_age, limits.ops);
        events.push(Event::Ops(fetched(r, &mut broken)));
    }
    let new_enough = protocol >= TASKS_PROTOCOL;
    if let Some(min_idle) = needs.tasks {
        events.push(Event::Tasks(if !new_enough {
            Fetched::Unsupported
        } else if broken {
            Fetched::Failed("the connection broke".into())
        } else {
            fetched(client.tasks(min_idle, limits.tasks), &mut broken)
        }));
    }
    if needs.connections {
        events.push(Event::Connections(if !new_enough {
            Fetched::Unsupported
        } else if broken {
            Fetched::Failed("the connection broke".into())
        } else {
            fetched(client.connections(limits.connections), &mut broken)
        }));
    }
    (events, broken)
}

/// An answer as a [`Fetched`]: a refusal as unsupported (an older server
/// refuses a version or a command it does not know) or failed; any other
/// error breaks the connection.
fn fetched<T>(r: io::Result<T>, broken: &mut bool) -> Fetched<T> {
    match r {
        Ok(v) => Fetched::Ready(v),
        Err(e) => {
            let text = e.to_string();
            if text.contains("refused the request (unsupported_version)")
                || text.contains("refused the request (bad_request)")
            {
                Fetched::Unsupported
            } else {
                if !text.contains("refused the request") {
                    *broken = true;
                }
                Fetched::Failed(text)
            }
        }
    }
}

/// The app loop's handle on the side-request thread.
#[derive(Debug, Clone)]
pub struct Queries {
    shared: Arc<(Mutex<Needs>, Condvar)>,
}

impl Queries {
    /// What the shown view needs now; a change is asked for at once.
    pub fn want(&self, needs: Needs) {
        let (lock, changed) = &*self.shared;
        let mut current = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if *current != needs {
            *current = needs;
            changed.notify_one();
        }
    }
}

/// Pause between attach attempts: quick enough to catch a restarted
/// process within a refresh, slow enough to cost nothing while waiting.
const RETRY: Duration = Duration::from_millis(500);

/// Starts the threads. They end when the receiving side is dropped (they
/// notice on their next send; the process exits without joining them).
pub fn spawn(socket: PathBuf, interval: Duration, events: Sender<Event>) -> io::Result<Queries> {
    let queries = Queries {
        shared: Arc::new((Mutex::new(Needs::default()), Condvar::new())),
    };
    let (side_socket, side_events, side) = (socket.clone(), events.clone(), queries.clone());
    thread::Builder::new()
        .name("ringline-top-feed".into())
        .spawn(move || run(&socket, interval, &events))?;
    thread::Builder::new()
        .name("ringline-top-queries".into())
        .spawn(move || run_queries(&side_socket, interval, &side, &side_events))?;
    Ok(queries)
}

/// The side-request thread: waits for a need (or its next refresh), asks
/// on its own connection, sends the answers. Attach failures are left to
/// the subscription thread to report; this one retries on its next turn.
fn run_queries(socket: &Path, interval: Duration, queries: &Queries, events: &Sender<Event>) {
    let limits = Limits {
        tasks: crate::model::tasks::TASK_LIMIT,
        connections: crate::model::tasks::CONNECTION_LIMIT,
        ops: crate::model::tasks::OPS_LIMIT,
    };
    let mut client: Option<(Client, u32)> = None;
    let mut asked = Needs::default();
    loop {
        let needs = {
            let (lock, changed) = &*queries.shared;
            let mut current = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let due = Instant::now() + interval;
            while *current == asked {
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                current = changed
                    .wait_timeout(current, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            *current
        };
        asked = needs;
        if !needs.any() {
            // Free the server's client slot while nothing is shown.
            client = None;
            continue;
        }
        if client.is_none() {
            let attached = Client::connect_path(socket).and_then(|mut c| {
                let hello = c.hello()?;
                Ok((c, hello.protocol_version))
            });
            match attached {
                Ok(c) => client = Some(c),
                Err(_) => continue,
            }
        }
        let Some((c, protocol)) = client.as_mut() else {
            continue;
        };
        let (answers, broken) = ask(c, *protocol, &needs, limits);
        if broken {
            client = None;
        }
        for event in answers {
            if events.send(event).is_err() {
                return;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;

    use ringline_schema::inspect::wire::{Request, Response};

    use super::*;
    use crate::fixtures;

    const LIMITS: Limits = Limits {
        tasks: 10,
        connections: 10,
        ops: 10,
    };

    /// A fake inspect server on one end of a socket pair: answers `ops`
    /// with the fixture's, and every other request with `refusal` (an
    /// error code); returns the commands it saw.
    fn serve(server: UnixStream, refusal: &'static str) -> thread::JoinHandle<Vec<String>> {
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut out = server.try_clone().unwrap();
            for line in BufReader::new(server).lines().map_while(Result::ok) {
                let request: Request = serde_json::from_str(&line).unwrap();
                let response = match request {
                    Request::Ops { .. } => Response::Ops {
                        min_age_ms: 0,
                        ops: fixtures::explained_ops(),
                    },
                    Request::Tasks { .. } => {
                        seen.push("tasks".to_owned());
                        Response::error(refusal, "no")
                    }
                    Request::Connections { .. } => {
                        seen.push("connections".to_owned());
                        Response::error(refusal, "no")
                    }
                    _ => Response::error("bad_request", "unexpected"),
                };
                out.write_all(&response.to_line()).unwrap();
            }
            seen
        })
    }

    fn all() -> Needs {
        Needs {
            tasks: Some(Duration::ZERO),
            connections: true,
            ops: Some(Duration::from_secs(1)),
        }
    }

    #[test]
    fn a_protocol_1_process_is_not_asked_and_reads_as_unsupported() {
        let (a, b) = UnixStream::pair().unwrap();
        let server = serve(b, "unsupported_version");
        let mut client = Client::from_stream(a).unwrap();
        let (events, broken) = ask(&mut client, 1, &all(), LIMITS);
        drop(client);
        assert!(!broken);
        assert_eq!(
            events,
            [
                Event::Ops(Fetched::Ready(fixtures::explained_ops())),
                Event::Tasks(Fetched::Unsupported),
                Event::Connections(Fetched::Unsupported),
            ]
        );
        assert!(server.join().unwrap().is_empty(), "never asked");
    }

    #[test]
    fn a_refusal_is_unsupported_or_failed_and_keeps_the_connection() {
        let (a, b) = UnixStream::pair().unwrap();
        let server = serve(b, "unsupported_version");
        let mut client = Client::from_stream(a).unwrap();
        let (events, broken) = ask(&mut client, 2, &all(), LIMITS);
        assert!(!broken);
        assert_eq!(events[1], Event::Tasks(Fetched::Unsupported));
        assert_eq!(events[2], Event::Connections(Fetched::Unsupported));
        drop(client);
        assert_eq!(server.join().unwrap(), ["tasks", "connections"]);

        let (a, b) = UnixStream::pair().unwrap();
        let server = serve(b, "busy");
        let mut client = Client::from_stream(a).unwrap();
        let (events, broken) = ask(&mut client, 2, &all(), LIMITS);
        assert!(!broken, "a refusal leaves the connection usable");
        assert!(
            matches!(&events[1], Event::Tasks(Fetched::Failed(e)) if e.contains("(busy)")),
            "{events:?}"
        );
        drop(client);
        server.join().unwrap();
    }

    #[test]
    fn a_dead_server_breaks_the_connection() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut client = Client::from_stream(a).unwrap();
        let (events, broken) = ask(&mut client, 2, &all(), LIMITS);
        assert!(broken);
        assert!(matches!(events[0], Event::Ops(Fetched::Failed(_))));
        assert!(
            matches!(&events[1], Event::Tasks(Fetched::Failed(e)) if e == "the connection broke")
        );
    }
}
