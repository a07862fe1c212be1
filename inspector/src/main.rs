//! `ringline-top`: attach to a running ringline process by pid and watch
//! its workers, ops, pools and stuck operations live — or print one
//! snapshot (`--once`, `--json`) for scripts and tickets.
//!
//! ```text
//! ringline-top --pid 4242          # the TUI
//! ringline-top --list              # attachable processes
//! ringline-top --once --json       # the only live process, as JSON
//! ringline-top --demo              # a demo workload to look at
//! ringline-top --replay DUMP       # a flight-recorder dump, every view
//! ringline-top --record F --pid P  # record from outside, same format
//! ringline-top --pid P --dump      # have the process write a dump
//! ringline-top --diff A B@-10      # what grew between two moments
//! ```
//!
//! Layout: `model/` (state, rows, alerts; no ratatui), `ui/` (drawing),
//! `input.rs` (the key table), `app.rs` (the loop), `feed.rs` (the socket
//! thread), `replay.rs` (a recording as the model's source), `recorder.rs`
//! (`--record`), `diff.rs`, `once.rs`, `target.rs`, `demo.rs`,
//! `terminal.rs`.

mod app;
mod demo;
mod diff;
mod feed;
#[cfg(test)]
mod fixtures;
mod input;
mod kernel;
mod model;
mod once;
mod recorder;
mod replay;
mod target;
mod terminal;
mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ringline_schema::inspect::Client;

use replay::Replay;
use target::{Choice, Target};

/// Watch a running ringline process: workers, ops, pools, stuck operations.
///
/// Without --pid or --socket, attaches to the only live ringline process
/// of this user, or lists them when there are several.
#[derive(Debug, Parser)]
#[command(name = "ringline-top", version)]
struct Cli {
    /// Attach to this process (its socket in the inspect directory).
    #[arg(long, value_name = "PID", conflicts_with_all = ["socket", "list", "demo", "replay", "diff"])]
    pid: Option<u32>,
    /// Attach through this inspect socket.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["list", "demo", "replay", "diff"])]
    socket: Option<PathBuf>,
    /// List attachable processes (stale sockets marked) and exit.
    #[arg(long, conflicts_with_all = ["once", "demo"])]
    list: bool,
    /// Refresh interval in milliseconds (the server's floor is 50); default
    /// 1000, with --record 100.
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    interval: Option<u64>,
    /// Stuck-op threshold in milliseconds (Stuck view, alerts, --once);
    /// `+`/`-` change it in the TUI.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    threshold: u64,
    /// Print one snapshot as a table and exit.
    #[arg(long)]
    once: bool,
    /// With --once or --diff: print JSON (schemas in the README) instead
    /// of text.
    #[arg(long)]
    json: bool,
    /// Start the demo workload as a child process and attach to it; it is
    /// stopped when ringline-top exits.
    #[arg(long, conflicts_with_all = ["replay", "record", "dump", "diff"])]
    demo: bool,
    /// Replay a flight-recorder dump (written by the process, or by
    /// --record) in every view instead of attaching; with --once, print
    /// one of its frames.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["list", "record", "dump", "diff"])]
    replay: Option<PathBuf>,
    /// With --replay --once: the frame at T seconds from the trigger
    /// (`-10`, `-2.5`, `0`, `+1`, `-500ms`, `-1m`); default the last.
    #[arg(
        long,
        value_name = "T",
        requires = "replay",
        allow_hyphen_values = true
    )]
    at: Option<String>,
    /// Record the process from outside into FILE (the dump format) until
    /// Ctrl-C, SIGTERM, --duration or the process exits.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["list", "once", "dump", "diff"])]
    record: Option<PathBuf>,
    /// With --record: stop after SECS seconds.
    #[arg(long, value_name = "SECS", requires = "record", value_parser = parse_secs)]
    duration: Option<Duration>,
    /// Ask the process to write a flight-recorder dump; print its path.
    #[arg(long, conflicts_with_all = ["list", "once", "diff"])]
    dump: bool,
    /// Print what grew or appeared from dump A to dump B; each is FILE
    /// (its last frame) or FILE@T (T as for --at).
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with_all = ["list", "once"])]
    diff: Option<Vec<String>>,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringline-top: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, String> {
    let mut stdout = std::io::stdout().lock();
    if cli.list {
        target::print_list(&mut stdout, &ringline_schema::inspect::list())
            .map_err(|e| format!("cannot write the list: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let stuck_after = Duration::from_millis(cli.threshold);
    if cli.json && !cli.once && cli.diff.is_none() {
        usage_error("--json goes with --once or --diff");
    }
    if let Some(pair) = &cli.diff {
        return diff(&mut stdout, pair, cli.json, stuck_after);
    }
    let at = match cli.at.as_deref().map(replay::parse_at).transpose() {
        Ok(at) => at,
        Err(e) => usage_error(&e),
    };
    if at.is_some() && !cli.once {
        usage_error("--at goes with --replay FILE --once");
    }
    // The TUI, the demo and --record exit through their own paths on
    // SIGTERM/SIGINT (terminal restored, child reaped, file written); a
    // plain --once or --dump keeps the default dispositions so Ctrl-C
    // stops it at once.
    if cli.demo || cli.record.is_some() || !(cli.once || cli.dump) {
        terminal::signals::install();
    }
    if let Some(file) = &cli.replay {
        let mut replay = Replay::open(file)?;
        if cli.once {
            let out = once::replay(&mut replay, at, cli.json, stuck_after)?;
            stdout
                .write_all(out.as_bytes())
                .map_err(|e| format!("cannot write the output: {e}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        drop(stdout);
        app::replay(replay, stuck_after)?;
        return Ok(ExitCode::SUCCESS);
    }
    let demo = if cli.demo { Some(demo::start()?) } else { None };
    let target = match (&demo, cli.pid, &cli.socket) {
        (Some(d), ..) => Target {
            socket: d.socket.clone(),
            label: format!("demo pid {}", d.pid),
            pid: Some(d.pid),
            refused: None,
        },
        (None, Some(pid), _) => Target::pid(pid),
        (None, None, Some(path)) => Target::socket(path.clone()),
        (None, None, None) => {
            match target::choose(&mut stdout).map_err(|e| format!("cannot write the list: {e}"))? {
                Choice::Attach(t) => t,
                Choice::Listed => return Ok(ExitCode::SUCCESS),
            }
        }
    };
    if cli.dump {
        let path = dump(&target)?;
        writeln!(stdout, "{}", path.display())
            .map_err(|e| format!("cannot write the output: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = &cli.record {
        let interval = Duration::from_millis(cli.interval.unwrap_or(100));
        let out = recorder::run(&target, file, interval, cli.duration)?;
        stdout
            .write_all(out.as_bytes())
            .map_err(|e| format!("cannot write the output: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.once {
        let out = kernel::once_or_kernel(&target, cli.json, stuck_after)?;
        stdout
            .write_all(out.as_bytes())
            .map_err(|e| format!("cannot write the output: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    drop(stdout);
    if let Some(d) = &demo {
        d.quiet();
    }
    let interval = Duration::from_millis(cli.interval.unwrap_or(1000));
    app::run(&target, interval, stuck_after)?;
    if let Some(d) = &demo {
        eprintln!("ringline-top: stopping the demo (pid {})", d.pid);
    }
    Ok(ExitCode::SUCCESS)
}

/// Exits with status 2 and clap's usage message: a bad command line.
fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// `--dump`: has the process write a flight-recorder dump; its path.
fn dump(target: &Target) -> Result<PathBuf, String> {
    let context = |what: &str, e: std::io::Error| format!("{what} {}: {e}", target.label);
    let mut client =
        Client::connect_path(&target.socket).map_err(|e| context("cannot attach to", e))?;
    let hello = client.hello().map_err(|e| context("no hello from", e))?;
    if hello.protocol_version < feed::TASKS_PROTOCOL {
        return Err(format!(
            "{} speaks inspect protocol {}: dumps came with protocol 2 (a newer ringline); `ringline-top --record FILE` records it from outside",
            target.label, hello.protocol_version
        ));
    }
    client.dump().map_err(|e| context("no dump from", e))
}

/// `--diff A B`: what grew or appeared from A to B.
fn diff(
    out: &mut impl Write,
    pair: &[String],
    json: bool,
    stuck_after: Duration,
) -> Result<ExitCode, String> {
    let mut moments = Vec::new();
    let mut opened: Vec<(String, Replay)> = Vec::new();
    for text in pair {
        let (file, at) = replay::parse_moment(text)?;
        let replay = match opened.iter().find(|(f, _)| *f == file) {
            Some((_, r)) => r.clone(),
            None => {
                let r = Replay::open(std::path::Path::new(&file))?;
                opened.push((file.clone(), r.clone()));
                r
            }
        };
        let last = replay.recording().frames.len() - 1;
        let i = at.map_or(last, |ns| replay.index_at(ns));
        moments.push(replay.moment(i));
    }
    let d = diff::diff(&moments[0], &moments[1], stuck_after);
    let text = if json {
        serde_json::to_string_pretty(&d).map_err(|e| format!("cannot encode the diff: {e}"))? + "\n"
    } else {
        diff::text(&d)
    };
    out.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write the output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    const README: &str = include_str!("../README.md");

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn the_readme_names_only_flags_that_exist() {
        let known: Vec<String> = super::Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        // Cargo's own flags in the README's `cargo` command lines.
        let cargo = ["release", "bin", "example"];
        // The sidecar's and kubectl's, in the container section.
        let others = ["all", "image", "target"];
        let mut rest = README;
        while let Some(i) = rest.find("--") {
            rest = &rest[i + 2..];
            let flag: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            // `---` of table rules, `--` of argument separators.
            if !flag.starts_with(|c: char| c.is_ascii_lowercase())
                || cargo.contains(&flag.as_str())
                || others.contains(&flag.as_str())
            {
                continue;
            }
            assert!(
                known.contains(&flag),
                "README names --{flag}, which does not exist"
            );
        }
        for flag in &known {
            if flag != "help" && flag != "version" {
                assert!(
                    README.contains(&format!("--{flag}")),
                    "--{flag} undocumented"
                );
            }
        }
    }

    #[test]
    fn the_readme_lists_every_key() {
        for b in crate::input::KEYS {
            for label in b.label.split(", ") {
                if !label.chars().all(|c| c.is_ascii_digit()) {
                    assert!(
                        README.contains(&format!("`{label}`")),
                        "key {label} undocumented"
                    );
                }
            }
        }
    }
}
