//! The application's own `metrics` after ringline's series. The only test
//! of this binary that installs a global recorder: the others serve with
//! `install_recorder(false)` or a local recorder's handle.

use metrics_exporter_prometheus::PrometheusBuilder;
use ringline_exporter::Builder;

use crate::util::{launch, parse, scrape};

#[test]
fn application_metrics_follow_ringline_series_once() {
    let _rt = launch(1);
    let first = Builder::new().port(0).serve().expect("serve");
    assert!(
        first.recorder_installed(),
        "no recorder was installed before"
    );
    metrics::counter!("e2e_app_requests_total", "path" => "/x\"y").increment(3);
    metrics::gauge!("e2e_app_queue_depth").set(7.0);
    // What ringline's own `metrics` publisher would push into the same
    // recorder: rendered exactly from the snapshot instead, never twice.
    metrics::counter!("ringline_worker_polls_total", "worker" => "0").increment(1);

    let body = scrape(first.local_addr());
    let e = parse(&body); // fails on a second `# TYPE ringline_worker_polls_total`
    assert!(
        body.contains("\ne2e_app_requests_total{path=\"/x\\\"y\"} 3\n"),
        "{body}"
    );
    assert!(body.contains("\ne2e_app_queue_depth 7\n"), "{body}");
    let polls: Vec<_> = e.named("ringline_worker_polls_total").collect();
    assert!(
        !polls.is_empty() && polls.iter().all(|s| s.label("runtime").is_some()),
        "{polls:?}"
    );
    let app_at = body.find("e2e_app_requests_total").unwrap();
    assert!(
        body[..app_at].contains("ringline_info{"),
        "ringline's series first"
    );

    // A recorder is installed now: a second exporter cannot install one,
    // and serves ringline's series alone...
    let second = Builder::new().port(0).serve().expect("serve");
    assert!(!second.recorder_installed() && second.prometheus_handle().is_none());
    let alone = scrape(second.local_addr());
    assert!(!alone.contains("e2e_app_"), "{alone}");
    assert!(alone.contains("ringline_worker_polls_total{"));
    // ...unless given the application's handle.
    let handle = first
        .prometheus_handle()
        .expect("the installed recorder")
        .clone();
    let third = Builder::new()
        .port(0)
        .prometheus_handle(handle)
        .serve()
        .expect("serve");
    assert!(!third.recorder_installed());
    assert!(scrape(third.local_addr()).contains("e2e_app_requests_total{"));
}

#[test]
fn a_local_recorder_handle_is_rendered_without_installing_it() {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("e2e_local_jobs_total").increment(2);
    });
    let e = Builder::new()
        .port(0)
        .install_recorder(false)
        .prometheus_handle(recorder.handle())
        .serve()
        .expect("serve");
    assert!(!e.recorder_installed());
    assert!(scrape(e.local_addr()).contains("\ne2e_local_jobs_total 2\n"));
}
