//! A real scrape of a real runtime under echo and fs load: every catalog
//! metric is there with the catalog's labels, nothing `ringline_*` is there
//! that the catalog lacks, histograms are well formed, promtool agrees.

use ringline::stats::catalog::{self, METRICS, MetricKind};
use ringline_exporter::Builder;
use std::collections::BTreeSet;

use crate::util::{self, Exposition, launch, parse, scrape, traffic};

/// The `# TYPE` a catalog kind renders as.
fn type_of(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
    }
}

#[test]
fn every_catalog_metric_is_scraped_from_a_real_runtime_and_nothing_else() {
    let rt = launch(2);
    let _load = traffic(rt.addr, 3);
    rt.wait_for_load();
    let exporter = Builder::new()
        .port(0)
        .install_recorder(false)
        .serve()
        .expect("serve");
    let body = scrape(exporter.local_addr());
    let e = parse(&body);
    let ours = rt.id.to_string();

    // Catalog → scrape: each name, with its type and this runtime's series.
    for def in METRICS {
        let kind = e.types.get(def.name).map(String::as_str);
        assert_eq!(kind, Some(type_of(def.kind)), "{}: # TYPE", def.name);
        // Process-wide families (the flight recorder's) carry no runtime.
        let process_wide = !def.labels.contains(&"runtime");
        let of_ours = e
            .samples
            .iter()
            .filter(|s| e.family(&s.name) == def.name)
            .any(|s| process_wide || s.label("runtime") == Some(&ours));
        assert!(of_ours, "{}: no series of runtime {ours}", def.name);
    }
    // Scrape → catalog: every family and every sample is a catalog name
    // (no recorder was installed, so nothing else is there).
    for family in e.types.keys() {
        assert!(
            catalog::def(family).is_some(),
            "{family}: rendered, not in the catalog"
        );
    }
    for s in &e.samples {
        let family = e.family(&s.name);
        let def = catalog::def(family).unwrap_or_else(|| panic!("{}: not in the catalog", s.name));
        let keys: BTreeSet<&str> = s.labels.keys().map(String::as_str).collect();
        let mut want: BTreeSet<&str> = def.labels.iter().copied().collect();
        if s.name.ends_with("_bucket") {
            want.insert("le");
        }
        // Runtime-wide pools (blocking, resolver) carry no worker label.
        if family.starts_with("ringline_slab_") && !keys.contains("worker") {
            want.remove("worker");
        }
        assert_eq!(keys, want, "{}: labels", s.name);
    }
    check_histograms(&e);
    check_values(&e, &rt, &ours);

    // This runtime's series count (2 workers, the op kinds of echo + fs).
    let series = e
        .samples
        .iter()
        .filter(|s| s.label("runtime") == Some(&ours))
        .count();
    let snap = ringline::stats::snapshot();
    let mine = ringline::stats::Snapshot {
        runtimes: snap
            .runtimes
            .into_iter()
            .filter(|r| r.id == rt.id)
            .collect(),
        ..snap
    };
    let samples: Vec<_> = catalog::samples(&mine, catalog::DEFAULT_STUCK_AFTER)
        .into_iter()
        .filter(|s| s.labels.iter().any(|(k, _)| *k == "runtime"))
        .collect();
    // Plus the task series: three states and ten stuck verdicts per worker.
    let task_series = catalog::task_samples(&mine, &[], catalog::DEFAULT_STUCK_AFTER).len();
    assert_eq!(task_series, 2 * 13);
    let histograms = samples
        .iter()
        .filter(|s| matches!(s.value, catalog::Value::Histogram(_)))
        .count();
    // Counts move between the scrape and `mine` only if an op kind first
    // appears in between; the load has used every kind by now.
    assert_eq!(
        series,
        samples.len() + task_series + histograms * 33,
        "34 series per histogram"
    );
    // Reported, not asserted: timing belongs in benchmarks.
    let mut took: Vec<_> = (0..20)
        .map(|_| {
            let start = std::time::Instant::now();
            scrape(exporter.local_addr());
            start.elapsed()
        })
        .collect();
    took.sort();
    eprintln!(
        "2-worker echo + fs runtime: {} catalog series, {series} Prometheus series, \
         {} bytes, median scrape {:?} (all runtimes of this test process)",
        samples.len(),
        body.len(),
        took[took.len() / 2]
    );
    util::promtool_check(&body, "the embedded exporter's scrape");
}

/// Every histogram series: cumulative buckets that never decrease, `+Inf`
/// equal to `_count`, a `_sum`.
fn check_histograms(e: &Exposition) {
    let mut checked = 0;
    for count in e.named("ringline_op_latency_seconds_count") {
        let same = |s: &&util::Sample| {
            s.labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .eq(count.labels.iter())
        };
        let buckets: Vec<_> = e
            .named("ringline_op_latency_seconds_bucket")
            .filter(same)
            .collect();
        assert_eq!(buckets.len(), 32, "{:?}", count.labels);
        assert!(
            buckets.windows(2).all(|w| w[0].value <= w[1].value),
            "not cumulative: {buckets:?}"
        );
        let last = buckets.last().unwrap();
        assert_eq!((last.label("le"), last.value), (Some("+Inf"), count.value));
        assert_eq!(
            e.named("ringline_op_latency_seconds_sum")
                .filter(same)
                .count(),
            1
        );
        checked += 1;
    }
    assert!(checked > 0, "no latency histogram rendered");
}

/// Values that must agree with what the runtime did and how it was set up.
fn check_values(e: &Exposition, rt: &util::Running, ours: &str) {
    let of = |name: &'static str, labels: &'static [(&str, &str)]| {
        e.named(name)
            .filter(|s| s.label("runtime") == Some(ours))
            .filter(|s| labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("ringline_info", &[]), [1.0]);
    let polls = of("ringline_worker_polls_total", &[]);
    assert!(
        polls.len() == 2 && polls.iter().all(|&p| p > 0.0),
        "{polls:?}"
    );
    let capacity = of("ringline_slab_capacity", &[("slab", "connections")]);
    assert_eq!(
        capacity,
        [128.0, 128.0],
        "Config::max_connections per worker"
    );
    let fs_read_ok = of(
        "ringline_ops_completed_total",
        &[("op", "fs_read"), ("result", "ok")],
    );
    assert!(fs_read_ok.iter().sum::<f64>() > 0.0, "{fs_read_ok:?}");
    let sent = of("ringline_bytes_sent_total", &[]);
    assert!(sent.iter().sum::<f64>() > 0.0, "echo traffic: {sent:?}");
    let reads = rt.shutdown.stats().op_total("fs_read").latency.count as f64;
    let scraped: f64 = of("ringline_op_latency_seconds_count", &[("op", "fs_read")])
        .iter()
        .sum();
    assert!(
        scraped > 0.0 && scraped <= reads,
        "fs_read latency count {scraped}, runtime now {reads}"
    );
}

#[test]
fn scrapes_without_any_metrics_recorder_hold_only_ringline_series() {
    let _rt = launch(1);
    let exporter = Builder::new()
        .port(0)
        .install_recorder(false)
        .serve()
        .expect("serve");
    assert!(exporter.prometheus_handle().is_none() && !exporter.recorder_installed());
    let body = scrape(exporter.local_addr());
    assert!(
        body.starts_with("# HELP ringline_info "),
        "{}",
        &body[..body.len().min(200)]
    );
    let e = parse(&body);
    assert!(e.samples.iter().all(|s| s.name.starts_with("ringline_")));
    // `Exporter::render` is what a scrape gets (values move; names do not).
    let direct = parse(&exporter.render());
    assert_eq!(direct.types, e.types);
}
