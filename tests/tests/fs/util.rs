//! Helpers of the fs tests: launch a runtime (no bind) whose only work is
//! one scenario per worker, gather the scenario results, and make unique
//! temporary directories.

// Each test binary that includes this file uses a different subset.
#![allow(dead_code)]
// `on_accept` returns a `'static` future, which an `async fn` cannot.
#![allow(clippy::manual_async_fn)]

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ringline::config::BackendChoice;
use ringline::{AsyncEventHandler, Config, ConnCtx, RinglineBuilder};

/// What a scenario reports: `Err` carries the failed check.
pub type Outcome = Result<(), String>;

type Scenario = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = Outcome>>> + Send + Sync>;

/// One launch's scenario and where its workers report.
#[derive(Clone)]
struct Run {
    scenario: Scenario,
    results: Arc<Mutex<Vec<(usize, Outcome)>>>,
    remaining: Arc<AtomicUsize>,
    finished_at: Arc<Mutex<Option<Instant>>>,
}

/// The scenario of the launch in progress; `create_for_worker` (called
/// before `launch` returns) takes a copy. `LAUNCH` keeps parallel tests
/// from swapping it under each other.
static NEXT: Mutex<Option<Run>> = Mutex::new(None);
static LAUNCH: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Runner {
    run: Run,
    worker: usize,
}

impl AsyncEventHandler for Runner {
    fn on_accept(&self, _conn: ConnCtx) -> impl Future<Output = ()> + 'static {
        async {}
    }

    fn on_start(&self) -> Option<Pin<Box<dyn Future<Output = ()> + 'static>>> {
        let run = self.run.clone();
        let worker = self.worker;
        Some(Box::pin(async move {
            let outcome = (run.scenario)(worker).await;
            lock(&run.results).push((worker, outcome));
            if run.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                *lock(&run.finished_at) = Some(Instant::now());
                ringline::request_shutdown().expect("on a worker");
            }
        }))
    }

    fn create_for_worker(worker: usize) -> Self {
        let run = lock(&NEXT).clone().expect("launch sets the scenario");
        Runner { run, worker }
    }
}

/// A small config for one worker: few connection slots, no pools.
pub fn config(backend: BackendChoice) -> Config {
    let mut c = Config {
        backend,
        ..Config::default()
    };
    c.worker.threads = 1;
    c.max_connections = 64;
    c.blocking_threads = 0;
    c.resolver_threads = 0;
    c
}

/// Launches `config.worker.threads` workers, runs `scenario(worker_id)` on
/// each (the last to finish requests shutdown), joins them, and panics on
/// a failed scenario or worker. Returns how long the shutdown took, from
/// the request to the last join.
pub fn run_each<F, Fut>(config: Config, scenario: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + 'static,
{
    let workers = config.worker.threads;
    assert!(workers > 0, "tests name their worker count");
    let run = Run {
        scenario: Arc::new(move |w| Box::pin(scenario(w))),
        results: Arc::new(Mutex::new(Vec::new())),
        remaining: Arc::new(AtomicUsize::new(workers)),
        finished_at: Arc::new(Mutex::new(None)),
    };
    let (shutdown, handles) = {
        let _guard = lock(&LAUNCH);
        *lock(&NEXT) = Some(run.clone());
        let launched = RinglineBuilder::new(config).launch::<Runner>();
        *lock(&NEXT) = None;
        launched.expect("launch")
    };
    for h in handles {
        h.join()
            .expect("worker panicked")
            .expect("worker returned an error");
    }
    ringline_tests::assert_nothing_lost(&shutdown.stats());
    let finished = lock(&run.finished_at).expect("every scenario finished");
    let results = lock(&run.results);
    assert_eq!(results.len(), workers, "every worker reported");
    for (worker, outcome) in results.iter() {
        if let Err(e) = outcome {
            panic!("scenario failed on worker {worker}: {e}");
        }
    }
    finished.elapsed()
}

/// [`run_each`] on one worker.
pub fn run<F, Fut>(config: Config, scenario: F) -> Duration
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Outcome> + 'static,
{
    assert_eq!(config.worker.threads, 1);
    let once = Mutex::new(Some(scenario));
    run_each(config, move |_| {
        let f = lock(&once).take().expect("one worker runs it once");
        f()
    })
}

/// Checks that `r` failed with `kind` (and, if given, a message containing
/// `needle`).
pub fn expect_err<T>(r: io::Result<T>, kind: io::ErrorKind, needle: &str, what: &str) -> Outcome {
    match r {
        Ok(_) => Err(format!("{what}: succeeded, expected {kind:?}")),
        Err(e) if e.kind() != kind => Err(format!(
            "{what}: got {e} ({:?}), expected {kind:?}",
            e.kind()
        )),
        Err(e) if !e.to_string().contains(needle) => {
            Err(format!("{what}: message {e:?} lacks {needle:?}"))
        }
        Err(_) => Ok(()),
    }
}

/// Returns `Err(message)` from the scenario unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// A directory unique to this process and call, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/ringline-fs-<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ringline-fs-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Entries of `/proc/self/fd`: the process's open descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

pub use ringline_tests::{Context, mkfifo};
