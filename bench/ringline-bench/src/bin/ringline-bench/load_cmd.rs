//! `ringline-bench load`: load on one echo server already listening, its
//! numbers as JSON (for profiling a server by hand).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use ringline_bench::report::{RunReport, ServerCpu};
use ringline_bench::{cpu, loadgen, matrix};

use crate::{ClientArgs, write_json};

#[derive(clap::Args, Clone)]
pub(crate) struct LoadArgs {
    /// The echo server's address.
    addr: std::net::SocketAddr,
    /// Connections.
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Message size (`64`, `4k`, …).
    #[arg(long, default_value = "64", value_parser = matrix::parse_size)]
    size: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    #[command(flatten)]
    clients: ClientArgs,
    /// The server's pid, to report its CPU time and ops per core-second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// CPUs to pin the client threads to, comma-separated.
    #[arg(long, value_delimiter = ',')]
    client_cpus: Vec<usize>,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub(crate) fn load(args: &LoadArgs) -> io::Result<()> {
    let load = loadgen::Load {
        addr: args.addr,
        connections: args.conns,
        threads: args.clients.threads.max(1),
        message_size: args.size,
        duration: Duration::from_secs_f64(args.secs),
        client_cpus: args.client_cpus.clone(),
        rate: args.clients.rate,
        wait: args.clients.client_wait.wait(),
    };
    let mut samples = Vec::new();
    let outcome = loadgen::run(&load, || {
        if let Some(pid) = args.server_pid {
            samples.push(cpu::process_cpu(pid).and_then(|t| Ok((t, cpu::user_system(pid)?))));
        }
    })?;
    let cpu = match samples.as_slice() {
        [Ok((t0, (u0, s0))), Ok((t1, (u1, s1)))] => ServerCpu {
            total: t1.saturating_sub(*t0),
            user: u1.saturating_sub(*u0),
            system: s1.saturating_sub(*s0),
        },
        [] => ServerCpu::default(),
        _ => return Err(io::Error::other("could not sample the server's CPU time")),
    };
    let report = RunReport::new(
        &args.addr.to_string(),
        &outcome,
        cpu,
        args.clients.rate.is_some(),
    );
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(io::Error::other)?
    );
    Ok(())
}
