//! The real `ringline-exporter` binary following real `inspect-target`
//! processes through a private inspect directory: picked up when they
//! start, labelled with `pid` and `process`, gone when they die.

use std::time::Duration;

use ringline::stats::catalog;

use crate::util::{
    PrivateDir, eventually, inspect_target_bin, parse, promtool_check, scrape, spawn_sidecar,
    spawn_target,
};

/// The pids whose `ringline_worker_polls_total` series the sidecar serves.
fn pids_served(addr: std::net::SocketAddr) -> Vec<u32> {
    let e = parse(&scrape(addr));
    let pids: std::collections::BTreeSet<u32> = e
        .named("ringline_worker_polls_total")
        .map(|s| {
            s.label("pid")
                .expect("a pid label")
                .parse()
                .expect("a numeric pid")
        })
        .collect();
    pids.into_iter().collect()
}

#[test]
fn sidecar_follows_processes_that_come_and_go() {
    let bin = inspect_target_bin();
    let dir = PrivateDir::new("sidecar");
    let a = spawn_target(&bin, dir.path());
    let (_sidecar, addr) = spawn_sidecar(
        dir.path(),
        &["--all", "--rescan", "200", "--interval", "100"],
    );
    let (pa, wait) = (a.pid(), Duration::from_secs(15));
    eventually("the first target's series", wait, || {
        (pids_served(addr) == [pa]).then_some(())
    });

    // Started after the sidecar: picked up on a re-scan.
    let b = spawn_target(&bin, dir.path());
    let pb = b.pid();
    let mut both = vec![pa, pb];
    both.sort();
    eventually("both targets' series", wait, || {
        (pids_served(addr) == both).then_some(())
    });

    let body = scrape(addr);
    let e = parse(&body);
    for s in &e.samples {
        let pid = s
            .label("pid")
            .unwrap_or_else(|| panic!("no pid label: {s:?}"));
        assert!(pid == pa.to_string() || pid == pb.to_string(), "{s:?}");
        assert_eq!(s.label("process"), Some("inspect-target"), "{s:?}");
    }
    // Each target runs its whole catalog (the stuck FIFO read included).
    for def in catalog::METRICS {
        for pid in [pa.to_string(), pb.to_string()] {
            let found = e
                .samples
                .iter()
                .any(|s| e.family(&s.name) == def.name && s.label("pid") == Some(&pid));
            assert!(found, "{} of pid {pid}", def.name);
        }
    }
    promtool_check(&body, "the sidecar's scrape");
    // Each target's FIFO read counts as stuck once older than 1 s.
    eventually("both FIFO reads stuck", wait, || {
        let e = parse(&scrape(addr));
        let stuck = e
            .named("ringline_ops_stuck")
            .filter(|s| s.label("op") == Some("fs_read") && s.value == 1.0)
            .count();
        (stuck == 2).then_some(())
    });

    // Killed: its series leave, the other's stay.
    a.terminate(Duration::from_secs(5));
    eventually("the killed target's series to go", wait, || {
        (pids_served(addr) == [pb]).then_some(())
    });

    // `--pid` serves that process only.
    let c = spawn_target(&bin, dir.path());
    let (_one, one) = spawn_sidecar(
        dir.path(),
        &[
            "--pid",
            &pb.to_string(),
            "--rescan",
            "200",
            "--interval",
            "100",
        ],
    );
    eventually("--pid's one process", wait, || {
        (pids_served(one) == [pb]).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500)); // a few re-scans
    assert_eq!(pids_served(one), [pb], "pid {} leaked in", c.pid());
    drop((b, c));
}
