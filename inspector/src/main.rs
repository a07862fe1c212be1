//! `ringline-top`: attach to a running ringline process by pid and watch
//! its workers, ops, pools and stuck operations live — or print one
//! snapshot (`--once`, `--json`) for scripts and tickets.
//!
//! ```text
//! ringline-top --pid 4242          # the TUI
//! ringline-top --list              # attachable processes
//! ringline-top --once --json       # the only live process, as JSON
//! ringline-top --demo              # a demo workload to look at
//! ```
//!
//! Layout: `model/` (state, rows, alerts; no ratatui), `ui/` (drawing),
//! `input.rs` (the key table), `app.rs` (the loop), `feed.rs` (the socket
//! thread), `once.rs`, `target.rs`, `demo.rs`, `terminal.rs`.

mod app;
mod demo;
mod feed;
#[cfg(test)]
mod fixtures;
mod input;
mod kernel;
mod model;
mod once;
mod target;
mod terminal;
mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use target::{Choice, Target};

/// Watch a running ringline process: workers, ops, pools, stuck operations.
///
/// Without --pid or --socket, attaches to the only live ringline process
/// of this user, or lists them when there are several.
#[derive(Debug, Parser)]
#[command(name = "ringline-top", version)]
struct Cli {
    /// Attach to this process (its socket in the inspect directory).
    #[arg(long, value_name = "PID", conflicts_with_all = ["socket", "list", "demo"])]
    pid: Option<u32>,
    /// Attach through this inspect socket.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["list", "demo"])]
    socket: Option<PathBuf>,
    /// List attachable processes (stale sockets marked) and exit.
    #[arg(long, conflicts_with_all = ["once", "demo"])]
    list: bool,
    /// Refresh interval in milliseconds (the server's floor is 50).
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=3_600_000))]
    interval: u64,
    /// Stuck-op threshold in milliseconds (Stuck view, alerts, --once);
    /// `+`/`-` change it in the TUI.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    threshold: u64,
    /// Print one snapshot as a table and exit.
    #[arg(long)]
    once: bool,
    /// With --once: print JSON (schema in the README) instead of a table.
    #[arg(long, requires = "once")]
    json: bool,
    /// Start the demo workload as a child process and attach to it; it is
    /// stopped when ringline-top exits.
    #[arg(long)]
    demo: bool,
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
    // The TUI and the demo exit through their own paths on SIGTERM/SIGINT
    // (terminal restored, child reaped); a plain --once keeps the default
    // dispositions so Ctrl-C stops it at once.
    if cli.demo || !cli.once {
        terminal::signals::install();
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
    app::run(&target, Duration::from_millis(cli.interval), stuck_after)?;
    if let Some(d) = &demo {
        eprintln!("ringline-top: stopping the demo (pid {})", d.pid);
    }
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
