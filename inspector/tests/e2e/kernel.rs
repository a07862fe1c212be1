//! The kernel view (`/proc`, no agent) of processes without an inspect
//! socket: fio on io_uring, the published ringline 0.1.2 echo server, and
//! today's echo server with `RINGLINE_INSPECT=0` — rings, pending counts,
//! threads, and the Send-Q of a connection whose peer stopped reading.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::procs::{
    Proc, backed_up_socket, client_that_stops_reading, echo_012_binary, example_binary, once_json,
    start_echo,
};
use super::util::{TOP, TempDir, stdout_of, wait_until};

/// Checks what every kernel document has: its own format, the kernel as
/// its source, why there is no agent, and each ring's counters.
fn assert_kernel_document(v: &Value, pid: u32) {
    assert_eq!(v["format"], "ringline-top/kernel", "{v:#}");
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["source"], "kernel");
    assert_eq!(v["pid"], pid);
    assert!(
        v["no_agent"].as_str().is_some_and(|w| !w.is_empty()),
        "says why there is no agent: {v:#}"
    );
    for ring in v["rings"].as_array().expect("rings") {
        let Some(st) = ring["state"].as_object() else {
            continue; // the ring's lock was held: no counters
        };
        for field in [
            "sq_entries",
            "sq_head",
            "sq_tail",
            "cached_sq_head",
            "cq_entries",
            "cq_head",
            "cq_tail",
            "cached_cq_tail",
            "sqes_pending",
            "cqes_pending",
            "user_files",
            "user_bufs",
            "cq_overflow",
        ] {
            assert!(st[field].is_u64(), "{field} in {ring:#}");
        }
    }
    assert!(
        v["threads"]
            .as_array()
            .expect("threads")
            .iter()
            .any(|t| t["tid"] == pid && t["state"].is_string()),
        "{v:#}"
    );
}

/// The rings whose counters the kernel printed.
fn ring_states(v: &Value) -> Vec<&Value> {
    v["rings"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| &r["state"])
                .filter(|s| s.is_object())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fio_on_io_uring_shows_its_ring_and_threads() {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("SKIPPED: fio is not installed (scripts/test.sh installs it)");
        return;
    }
    let dir = TempDir::new("fio");
    let file = dir.0.join("data");
    let child = Command::new("fio")
        .args([
            "--name=kernel-view",
            "--ioengine=io_uring",
            "--thread",
            "--rw=randread",
            "--bs=4k",
            "--size=8m",
            "--iodepth=32",
            "--time_based",
            "--runtime=60",
        ])
        .arg(format!("--filename={}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fio");
    let fio = Proc {
        child,
        _dir: Some(dir),
    };
    let own = TempDir::new("fio-own");
    let v = wait_until(Duration::from_secs(30), "fio's ring", || {
        let v = once_json(fio.pid(), &own.0);
        (!ring_states(&v).is_empty()).then_some(v)
    });
    assert_kernel_document(&v, fio.pid());
    assert_eq!(v["process"], "fio");
    // --iodepth=32: fio's ring has 32 SQ entries.
    assert!(
        ring_states(&v).iter().any(|s| s["sq_entries"] == 32),
        "{v:#}"
    );
    // The job thread beside the main one.
    assert!(v["threads"].as_array().unwrap().len() >= 2, "{v:#}");

    // The text form says whose view it is.
    let out = Command::new(TOP)
        .env("RINGLINE_INSPECT_DIR", &own.0)
        .args(["--pid", &fio.pid().to_string(), "--once"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("the KERNEL's view"), "{text}");
    assert!(text.contains("io_uring instances (1)"), "{text}");
}

/// Serves `addr` a client that stops reading, then waits for the kernel
/// view to show the server's rings and the backed-up connection.
fn backed_up_echo(server: &Proc, addr: SocketAddr, workers: usize) -> Value {
    let _client = client_that_stops_reading(addr);
    let own = TempDir::new("echo-own");
    let v = wait_until(
        Duration::from_secs(30),
        "the echo connection's Send-Q",
        || {
            let v = once_json(server.pid(), &own.0);
            backed_up_socket(&v, addr).is_some().then_some(v)
        },
    );
    assert_kernel_document(&v, server.pid());
    let rings = v["rings"].as_array().unwrap();
    assert!(
        rings.len() >= workers,
        "one ring per worker at least: {v:#}"
    );
    // The listener is there too, and every socket is one of its fds.
    assert!(
        v["tcp"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["state"] == "LISTEN" && s["local"] == addr.to_string().as_str()),
        "{v:#}"
    );
    let sock = backed_up_socket(&v, addr).unwrap();
    assert!(sock["send_q"].as_u64().unwrap() > 0, "{sock:#}");
    v
}

#[test]
fn a_ringline_process_with_inspection_off_shows_rings_and_a_backed_up_send_queue() {
    let bin = example_binary("echo_server");
    let (server, addr) = start_echo(&bin, 2, &[("RINGLINE_INSPECT", "0")]);
    let v = backed_up_echo(&server, addr, 2);
    // Every ring was set up by ringline: the counters are there (or the
    // lock was held at that instant), and its registered file table too.
    assert!(!ring_states(&v).is_empty(), "{v:#}");
    assert!(
        ring_states(&v)
            .iter()
            .any(|s| s["user_files"].as_u64().is_some_and(|n| n > 0)),
        "ringline registers a file table: {v:#}"
    );
}

#[test]
fn the_published_ringline_0_1_2_shows_rings_and_a_backed_up_send_queue() {
    let bin = match echo_012_binary() {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("SKIPPED: cannot build the ringline 0.1.2 echo server: {e}");
            return;
        }
    };
    let (server, addr) = start_echo(&bin, 1, &[]);
    let v = backed_up_echo(&server, addr, 1);
    assert!(!ring_states(&v).is_empty(), "{v:#}");
}
