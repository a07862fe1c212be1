//! `ringline-exporter`: a sidecar that serves the metrics of ringline
//! processes which did not embed an exporter, read over their inspect
//! sockets, on one Prometheus `/metrics` endpoint.
//!
//! ```text
//! ringline-exporter --all                  # every ringline process of this user (containers too)
//! ringline-exporter --pid 4242 --listen 127.0.0.1:9465
//! ```
//!
//! Every series carries `pid` and `process` (the name `hello` reports)
//! besides the catalog's labels; processes that start are picked up on the
//! next scan (`--rescan`), and the series of one that exits disappear as
//! soon as its socket closes. The HTTP endpoint is the library's (same
//! routes, limits and deadlines as the embedded one).
//!
//! A package of its own (`ringline-exporter-sidecar`) so that it links no
//! runtime: it reads snapshots with `ringline-schema`'s client and renders
//! them with `ringline-exporter` built without its `embedded` feature.

mod targets;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ringline_exporter::{Buckets, Builder, DEFAULT_REQUEST_TIMEOUT, RenderOptions};

use targets::{Scope, Targets};

/// Serve the metrics of running ringline processes to Prometheus.
///
/// Attaches over the inspect socket (in $RINGLINE_INSPECT_DIR, else
/// $XDG_RUNTIME_DIR/ringline, else /tmp/ringline-<uid>) to one process or
/// to every live one of this user, and serves them all on one /metrics
/// endpoint with `pid` and `process` labels. On Linux, processes in other
/// namespaces (containers) are found through /proc/PID/root and labelled
/// with their pid here (of every user, when run as root).
#[derive(Debug, Parser)]
#[command(name = "ringline-exporter", version)]
struct Cli {
    /// Serve this process (followed again if it stops answering and
    /// comes back).
    #[arg(
        long,
        value_name = "PID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pid: Option<u32>,
    /// Serve every live ringline process of this user (on Linux also those
    /// in containers); processes that start or exit are picked up and
    /// dropped.
    #[arg(long)]
    all: bool,
    /// Address of the /metrics endpoint. Loopback by default; 0.0.0.0:PORT
    /// exposes it to other hosts.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9465")]
    listen: String,
    /// Milliseconds between snapshots of each process; scrapes serve the
    /// latest one (the inspect server's floor is 50).
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    interval: u64,
    /// Milliseconds between scans of the inspect directory for processes
    /// that started.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    rescan: u64,
    /// In-flight ops at least this many milliseconds old count in
    /// ringline_ops_stuck (dashboards and alerts assume 1000).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    stuck_after: u64,
    /// Render every latency-histogram boundary (241 `le` per series)
    /// instead of the powers of two (31).
    #[arg(long)]
    all_buckets: bool,
    /// Scrapes served at once; more concurrent ones get 503.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_scrapes: u64,
    /// Milliseconds a scrape may take, connect to last byte; slower
    /// clients are dropped.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    scrape_timeout: u64,
    /// Milliseconds a connection may take to send its request; one that
    /// sends nothing is answered 408 and gives back its scrape slot.
    #[arg(long, value_name = "MS",
          default_value_t = DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scope = match cli.pid {
        Some(pid) => Scope::One(pid),
        None => Scope::All,
    };
    let options = RenderOptions {
        stuck_after: Duration::from_millis(cli.stuck_after),
        buckets: if cli.all_buckets {
            Buckets::All
        } else {
            Buckets::PowersOfTwo
        },
    };
    let targets = Targets::new(scope, Duration::from_millis(cli.interval));
    let rendered = targets.clone();
    let exporter = Builder::new()
        .listen(cli.listen.as_str())
        .max_scrapes(usize::try_from(cli.max_scrapes).unwrap_or(usize::MAX))
        .scrape_timeout(Duration::from_millis(cli.scrape_timeout))
        .request_timeout(Duration::from_millis(cli.request_timeout))
        .serve_with(move |out: &mut String| rendered.render(&options, out));
    let exporter = match exporter {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ringline-exporter: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts and tests read the real address (port 0 picks one) here.
    println!("ringline-exporter: serving {}", exporter.url());
    let _ = std::io::stdout().flush();
    let dir = ringline_schema::inspect::socket_dir();
    match scope {
        Scope::One(pid) => eprintln!(
            "ringline-exporter: serving pid {pid} while {} answers",
            ringline_schema::inspect::socket_path(pid).display()
        ),
        Scope::All => eprintln!(
            "ringline-exporter: serving every ringline process with a socket in {}",
            dir.display()
        ),
    }
    loop {
        targets.scan();
        std::thread::sleep(Duration::from_millis(cli.rescan));
    }
}
