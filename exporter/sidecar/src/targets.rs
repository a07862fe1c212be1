//! The processes the sidecar serves: found by scanning the inspect
//! directory, each followed by one thread holding a `subscribe` stream, and
//! dropped when its stream ends (the process exited or stopped answering).
//!
//! ```text
//!  scan (every --rescan) ──▶ new live pid ──▶ follow thread: hello, subscribe
//!                                                │ snapshot every --interval
//!                                                ▼
//!                                   latest[pid] = (process, snapshot)
//!                                                │ stream ends
//!                                                ▼
//!                                   latest.remove(pid): its series are gone
//! ```
//!
//! Snapshots are pushed on the interval rather than fetched at scrape time:
//! a scrape then costs no socket round trip per process, and a process
//! that is slow to answer (stopped, swapping) cannot make a scrape time
//! out — its series are at most one interval (plus the client's 5 s read
//! timeout, after which it is dropped) old.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ringline_exporter::{RenderOptions, Source, text};
use ringline_schema::inspect::{self, Client};
use ringline_schema::stats::{Snapshot, TaskInfo};

/// Most tasks fetched per process and interval (the server's own cap).
const TASKS_LIMIT: usize = 10_000;

/// Which processes to serve.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// Only this pid.
    One(u32),
    /// Every live process with a socket in the inspect directory, and on
    /// Linux every one in another namespace (`inspect::list`).
    All,
}

/// What is known of a followed process.
#[derive(Debug, Default)]
struct Followed {
    /// Its name from `hello` (None while attaching).
    process: Option<String>,
    /// Its latest snapshot (None until the first arrives).
    snapshot: Option<Arc<Snapshot>>,
    /// Its task list as of that snapshot (None from a process too old to
    /// list them, protocol 1).
    tasks: Option<Arc<Vec<TaskInfo>>>,
}

/// Every process being followed, by pid.
#[derive(Debug)]
pub(crate) struct Targets {
    scope: Scope,
    interval: Duration,
    followed: Mutex<BTreeMap<u32, Followed>>,
}

impl Targets {
    pub(crate) fn new(scope: Scope, interval: Duration) -> Arc<Targets> {
        Arc::new(Targets {
            scope,
            interval,
            followed: Mutex::new(BTreeMap::new()),
        })
    }

    fn followed(&self) -> MutexGuard<'_, BTreeMap<u32, Followed>> {
        // The map stays consistent at every unlock: a panicking holder
        // cannot leave it half-written.
        self.followed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts following every live process in scope that is not followed
    /// yet.
    pub(crate) fn scan(self: &Arc<Self>) {
        let found = inspect::list().into_iter().filter(|e| e.alive);
        for endpoint in found {
            if matches!(self.scope, Scope::One(pid) if endpoint.pid != pid) {
                continue;
            }
            let pid = endpoint.pid;
            {
                let mut followed = self.followed();
                if followed.contains_key(&pid) {
                    continue;
                }
                followed.insert(pid, Followed::default());
            }
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("follow-{pid}"))
                .spawn(move || {
                    let end = me.follow(pid, endpoint.path);
                    me.followed().remove(&pid);
                    if let Err(e) = end {
                        eprintln!("ringline-exporter: dropped pid {pid}: {e}");
                    }
                });
            if let Err(e) = spawned {
                self.followed().remove(&pid);
                eprintln!("ringline-exporter: cannot start a thread to follow pid {pid}: {e}");
            }
        }
    }

    /// Follows one process until its snapshot stream ends.
    fn follow(&self, pid: u32, path: PathBuf) -> io::Result<()> {
        let at = path.display().to_string();
        let context = |what: &'static str| {
            let at = at.clone();
            move |e: io::Error| io::Error::new(e.kind(), format!("{what} {at}: {e}"))
        };
        let mut client = Client::connect_path(&path).map_err(context("connecting to"))?;
        let hello = client.hello().map_err(context("hello over"))?;
        // Task lists come over a second connection (the first one becomes
        // the snapshot stream), from processes that can list them.
        let mut tasks_client = if hello.protocol_version >= 2 {
            Client::connect_path(&path).ok()
        } else {
            None
        };
        let mut stream = client
            .subscribe(self.interval)
            .map_err(context("subscribing over"))?;
        eprintln!(
            "ringline-exporter: following pid {pid} ({}, workers: {})",
            hello.process, hello.workers
        );
        loop {
            let snapshot = stream
                .next_snapshot()
                .map_err(context("reading snapshots from"))?;
            let tasks = tasks_client
                .as_mut()
                .and_then(|c| c.tasks(Duration::ZERO, TASKS_LIMIT).ok());
            let mut followed = self.followed();
            let entry = followed.entry(pid).or_default();
            entry.process = Some(hello.process.clone());
            entry.snapshot = Some(Arc::new(snapshot));
            entry.tasks = tasks.map(Arc::new);
        }
    }

    /// Renders every followed process's latest snapshot with `pid` and
    /// `process` labels.
    pub(crate) fn render(&self, options: &RenderOptions, out: &mut String) {
        type Latest = (u32, String, Arc<Snapshot>, Option<Arc<Vec<TaskInfo>>>);
        let latest: Vec<Latest> = self
            .followed()
            .iter()
            .filter_map(|(&pid, f)| {
                Some((
                    pid,
                    f.process.clone()?,
                    f.snapshot.clone()?,
                    f.tasks.clone(),
                ))
            })
            .collect();
        let sources: Vec<Source<'_>> = latest
            .iter()
            .filter_map(|(pid, process, snapshot, tasks)| {
                let source = match tasks {
                    Some(tasks) => Source::new(snapshot).with_tasks(tasks),
                    None => Source::new(snapshot),
                };
                // Neither name is a catalog label, so both are accepted.
                source
                    .with_label("pid", pid.to_string())
                    .and_then(|s| s.with_label("process", process.as_str()))
                    .ok()
            })
            .collect();
        text::render(&sources, options, out);
    }
}
