//! A real Prometheus (Debian's `prometheus` package) scraping the embedded
//! exporter and the sidecar every second; the data must arrive and answer
//! queries. Skipped, with the reason printed, where `prometheus` is not
//! installed.

use std::net::SocketAddr;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use ringline_exporter::Builder;
use serde_json::Value;

use crate::util::{
    PrivateDir, eventually, get, inspect_target_bin, launch, percent_encode, prometheus_binary,
    spawn_prometheus, spawn_sidecar, spawn_target, traffic,
};

/// The result vector of an instant query, `None` while Prometheus is not
/// answering yet.
fn query(prom: SocketAddr, q: &str) -> Option<Vec<Value>> {
    let (status, body) = get(prom, &format!("/api/v1/query?query={}", percent_encode(q))).ok()?;
    let v: Value = serde_json::from_str(&body).ok()?;
    assert_eq!(status, 200, "query {q}: {body}");
    assert_eq!(v["status"], "success", "query {q}: {body}");
    v["data"]["result"].as_array().cloned()
}

/// The sample value of a vector element.
fn value_of(v: &Value) -> f64 {
    v["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a sample value")
}

#[test]
fn prometheus_scrapes_the_embedded_exporter_and_the_sidecar() {
    let Some(bin) = prometheus_binary() else {
        eprintln!("SKIPPED: no `prometheus` binary on PATH (Debian: apt-get install prometheus)");
        return;
    };
    // Embedded: a loaded runtime in this process, plus an application metric.
    let rt = launch(2);
    let _load = traffic(rt.addr, 2);
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("e2e_prom_app_total").increment(5);
    });
    let embedded = Builder::new()
        .port(0)
        .install_recorder(false)
        .prometheus_handle(recorder.handle())
        .serve()
        .expect("serve");
    // Sidecar: a separate ringline process, reached over its inspect socket.
    let inspect_dir = PrivateDir::new("prom-inspect");
    let target = spawn_target(&inspect_target_bin(), inspect_dir.path());
    let (_sidecar, sidecar) = spawn_sidecar(
        inspect_dir.path(),
        &["--all", "--rescan", "200", "--interval", "200"],
    );

    let work = PrivateDir::new("prometheus");
    let targets = [("embedded", embedded.local_addr()), ("sidecar", sidecar)];
    let (prometheus, prom) = spawn_prometheus(&bin, work.path(), &targets);
    let log = || std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default();
    let wait = Duration::from_secs(60);

    let up = || {
        let up = query(prom, "up")?;
        (up.len() == 2 && up.iter().all(|u| value_of(u) == 1.0)).then_some(())
    };
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("both targets up", wait, up)
    }));
    if waited.is_err() {
        panic!("Prometheus never scraped both targets; its log:\n{}", log());
    }
    let (id, pid) = (rt.id, target.pid());
    let checks = [
        // The query the brief names, then each source, then the histogram.
        ("ringline_worker_polls_total".to_owned(), 3),
        (
            format!("ringline_worker_polls_total{{job=\"embedded\",runtime=\"{id}\"}}"),
            2,
        ),
        (
            format!(
                "ringline_worker_polls_total{{job=\"sidecar\",pid=\"{pid}\",process=\"inspect-target\"}}"
            ),
            1,
        ),
        (
            "sum by (job) (ringline_op_latency_seconds_count)".to_owned(),
            2,
        ),
        (
            format!(
                "rate(ringline_op_latency_seconds_bucket{{job=\"embedded\",runtime=\"{id}\",op=\"fs_read\",le=\"+Inf\"}}[10s]) > 0"
            ),
            1,
        ),
        (
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(ringline_op_latency_seconds_bucket{{job=\"embedded\",runtime=\"{id}\",op=\"fs_read\"}}[10s]))) > 0"
            ),
            1,
        ),
        (
            "sum by (pid) (ringline_ops_stuck{job=\"sidecar\",op=\"fs_read\"}) >= 1".to_owned(),
            1,
        ),
    ];
    for (q, want) in &checks {
        // At least `want` series: other runtimes of this test process may
        // add some to the embedded job.
        eventually(q, wait, || query(prom, q).filter(|r| r.len() >= *want));
    }
    let app = query(prom, "e2e_prom_app_total{job=\"embedded\"}").expect("query");
    assert_eq!(
        app.iter().map(value_of).collect::<Vec<_>>(),
        [5.0],
        "{app:?}"
    );

    // Every scrape of both targets succeeded.
    let (status, body) = get(prom, "/api/v1/targets").expect("targets");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    let active = v["data"]["activeTargets"]
        .as_array()
        .expect("activeTargets");
    assert_eq!(active.len(), 2, "{body}");
    for t in active {
        assert_eq!(
            (&t["health"], &t["lastError"]),
            (&Value::from("up"), &Value::from("")),
            "{t}"
        );
    }
    drop(prometheus);
}
