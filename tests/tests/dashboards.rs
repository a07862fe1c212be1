//! The Grafana dashboards and Prometheus alert rules in `dashboards/`,
//! checked against the one list of metric names
//! (`ringline::stats::catalog::METRICS`, STYLE.md rule 14): a panel, a
//! template variable or a rule naming a metric the catalog does not list
//! fails here. Also: stable uids, the template variables, `${datasource}`
//! on every panel, the selectors every panel query filters by, and — when
//! `promtool` is on PATH (Debian package `prometheus`) — `promtool check
//! rules` and the rules' own unit tests (`promtool test rules`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ringline::stats::catalog::{METRICS, MetricDef, MetricKind};
use serde_json::Value;

const DASHBOARDS: &[(&str, &str)] = &[
    ("ringline-overview.json", "ringline-overview"),
    ("ringline-stuck-ops.json", "ringline-stuck-ops"),
];
const RULES: &str = "ringline.rules.yml";
const RULE_TESTS: &str = "ringline.rules.test.yml";
const VARIABLES: &[&str] = &["datasource", "job", "instance", "worker"];
/// Series a histogram is exported as, besides its own name.
const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("dashboards")
}

fn read(name: &str) -> String {
    let path = dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"))
}

/// The catalog entry a series name belongs to: the name itself, or a
/// histogram's `_bucket`/`_sum`/`_count` series.
fn resolve(series: &str) -> Option<&'static MetricDef> {
    let exact = METRICS.iter().find(|d| d.name == series);
    exact.or_else(|| {
        let base = HISTOGRAM_SUFFIXES
            .iter()
            .find_map(|s| series.strip_suffix(*s))?;
        METRICS
            .iter()
            .find(|d| d.name == base && d.kind == MetricKind::Histogram)
    })
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// A `ringline_…` name starting at byte `i` of `s` (not in the middle of a
/// longer identifier), and where it ends.
fn name_at(s: &str, i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if !s[i..].starts_with("ringline_") || (i > 0 && is_name_byte(b[i - 1])) {
        return None;
    }
    let end = (i..b.len())
        .find(|&j| !is_name_byte(b[j]))
        .unwrap_or(b.len());
    Some((&s[i..end], end))
}

/// Every `ringline_…` name in free text (descriptions, annotations, test
/// series): documentation must not name stale metrics either.
fn names_in_text(s: &str) -> Vec<String> {
    (0..s.len())
        .filter(|&i| s.is_char_boundary(i))
        .filter_map(|i| name_at(s, i))
        .map(|(n, _)| n.to_owned())
        .collect()
}

/// One metric a PromQL expression selects: its name and the text between
/// the braces right after it (empty without braces).
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: String,
}

/// Every `ringline_…` metric selected by a PromQL expression, skipping
/// quoted strings (label values are not metric names).
fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => match name_at(expr, i) {
                Some((name, end)) => {
                    let rest = expr[end..].trim_start();
                    let matchers = match rest.strip_prefix('{') {
                        Some(m) => m.split('}').next().unwrap_or_default(),
                        None => "",
                    };
                    out.push(Selector {
                        name: name.to_owned(),
                        matchers: matchers.to_owned(),
                    });
                    i = end;
                }
                None => i += 1,
            },
        }
    }
    out
}

/// Fails with every name in `names` the catalog does not list.
fn assert_known(what: &str, names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let names: BTreeSet<String> = names.into_iter().collect();
    let unknown: Vec<_> = names.iter().filter(|n| resolve(n).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "{what} names metrics not in ringline::stats::catalog::METRICS: {unknown:?}"
    );
    names
}

/// Every panel, rows' nested panels included.
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(nested) = p.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Every string in a JSON document, with the key it is the value of.
fn strings<'a>(v: &'a Value, key: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
    match v {
        Value::String(s) => out.push((key, s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

/// The PromQL `expr` of every alert rule: a line-based reading of the
/// rules file (inline value or an indented block scalar after `|`/`>`).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with(['|', '>']) {
            let block = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .map(|l| l.trim())
                .collect::<Vec<_>>();
            out.push(block.join("\n").trim().to_owned());
        } else {
            out.push(value.trim_matches(['"', '\'']).to_owned());
        }
    }
    out
}

/// Names after `key:` (e.g. `- alert: X`, `alertname: X`), in file order.
fn values_of(yaml: &str, key: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(key))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
        .collect()
}

#[test]
fn dashboards_name_only_catalog_metrics_and_filter_by_the_variables() {
    let mut used = BTreeSet::new();
    for &(file, _) in DASHBOARDS {
        let dash = dashboard(file);
        let mut all = Vec::new();
        strings(&dash, "", &mut all);
        let mut exprs = Vec::new();
        for &(key, s) in &all {
            if matches!(key, "expr" | "query" | "definition") {
                used.extend(assert_known(file, selectors(s).into_iter().map(|x| x.name)));
            } else {
                assert_known(&format!("{file} ({key})"), names_in_text(s));
            }
            if key == "expr" {
                exprs.push(s);
            }
        }
        assert!(exprs.len() >= 10, "{file}: only {} queries", exprs.len());
        // Every selector filters by the variables, so a panel shows what the
        // dashboard's pickers say.
        for expr in exprs {
            let sels = selectors(expr);
            assert!(
                !sels.is_empty(),
                "{file}: {expr:?} names no ringline metric"
            );
            for sel in sels {
                let def = resolve(&sel.name).expect("checked above");
                let mut wanted = vec![r#"job=~"$job""#, r#"instance=~"$instance""#];
                if def.labels.contains(&"worker") {
                    wanted.push(r#"worker=~"$worker"#);
                }
                for w in wanted {
                    assert!(
                        sel.matchers.contains(w),
                        "{file}: {} in {expr:?} lacks {w}",
                        sel.name
                    );
                }
            }
        }
    }
    // The overview shows every area the issue lists.
    for name in [
        "ringline_worker_loop_iterations_total",
        "ringline_worker_busy_seconds_total",
        "ringline_worker_heartbeat_age_seconds",
        "ringline_ops_submitted_total",
        "ringline_ops_in_flight",
        "ringline_op_latency_seconds_bucket",
        "ringline_slab_used",
        "ringline_slab_capacity",
        "ringline_slab_exhausted_total",
        "ringline_graveyard_depth",
        "ringline_graveyard_oldest_age_seconds",
        "ringline_ring_cq_overflow_total",
        "ringline_ops_stuck",
        "ringline_worker_ops_stuck",
        "ringline_connections_active",
        "ringline_bytes_sent_total",
    ] {
        assert!(used.contains(name), "no dashboard query uses {name}");
    }
}

#[test]
fn dashboards_have_stable_uids_variables_and_datasource() {
    let ds = serde_json::json!({ "type": "prometheus", "uid": "${datasource}" });
    for &(file, uid) in DASHBOARDS {
        let dash = dashboard(file);
        assert_eq!(dash["uid"], uid, "{file}: uid");
        assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file}: schemaVersion"
        );
        // `id` null: importing creates the dashboard instead of overwriting one.
        assert!(dash["id"].is_null(), "{file}: id must be null");

        let vars = dash["templating"]["list"].as_array().expect("templating");
        let var = |name: &str| {
            vars.iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no ${name} variable"))
        };
        for &name in VARIABLES {
            var(name);
        }
        assert_eq!(var("datasource")["type"], "datasource");
        assert_eq!(var("datasource")["query"], "prometheus");
        for name in ["job", "instance", "worker"] {
            let v = var(name);
            assert_eq!(v["type"], "query", "{file}: ${name}");
            assert_eq!(v["datasource"], ds, "{file}: ${name} datasource");
            let q = v["query"].as_str().unwrap_or_default();
            assert!(
                q.starts_with("label_values(") && q.ends_with(&format!(", {name})")),
                "{file}: ${name} query {q:?}"
            );
        }

        let mut ids = BTreeSet::new();
        for p in panels(&dash) {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: a panel without a title");
            assert!(
                ids.insert(p["id"].as_u64().expect("panel id")),
                "{file}: duplicate panel id ({title})"
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(p["datasource"], ds, "{file}: {title}: datasource");
            assert!(
                p["description"].as_str().is_some_and(|d| d.len() > 20),
                "{file}: {title}: describe what it shows"
            );
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file}: {title}: no query");
            for t in targets {
                assert_eq!(t["datasource"], ds, "{file}: {title}: target datasource");
                assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()));
            }
        }
    }
}

#[test]
fn alert_rules_name_only_catalog_metrics_and_are_all_tested() {
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let exprs = rule_exprs(&rules);
    let alerts = values_of(&rules, "alert:");
    assert_eq!(exprs.len(), alerts.len(), "one expr per alert: {alerts:?}");
    for want in [
        "RinglineWorkerStalled",
        "RinglineOpsStuck",
        "RinglineGraveyardGrowing",
        "RinglineSlabNearFull",
        "RinglineCqOverflow",
        "RinglineConnectionsRecvPaused",
    ] {
        assert!(alerts.iter().any(|a| a == want), "no {want} rule");
    }
    for expr in &exprs {
        let names = selectors(expr).into_iter().map(|s| s.name);
        let names = assert_known(RULES, names);
        assert!(!names.is_empty(), "{expr:?} names no ringline metric");
    }
    // Comments, annotations and the test series too.
    assert_known(RULES, names_in_text(&rules));
    assert_known(RULE_TESTS, names_in_text(&tests));
    assert_known("README.md", names_in_text(&read("README.md")));
    // Each rule has a `for:`, a severity and annotations saying what to do.
    for key in ["for:", "severity:", "summary:", "description:"] {
        let n = rules
            .lines()
            .filter(|l| l.trim_start().starts_with(key))
            .count();
        assert_eq!(n, alerts.len(), "every rule needs {key}");
    }
    // promtool checks the outcomes; here only that each rule is exercised
    // both ways: firing and quiet.
    let tested = values_of(&tests, "alertname:");
    for alert in &alerts {
        let cases = tested.iter().filter(|a| *a == alert).count();
        assert!(cases >= 2, "{alert}: needs a firing and a quiet test case");
    }
}

/// Runs `promtool args…` in `dashboards/`; `None` when promtool is not
/// installed.
fn promtool(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("promtool")
        .args(args)
        .current_dir(dir())
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("promtool: {e}"),
    }
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let runs = [["check", "rules", RULES], ["test", "rules", RULE_TESTS]];
    for args in runs {
        let Some(out) = promtool(&args) else {
            eprintln!(
                "SKIPPED: promtool not on PATH (Debian package `prometheus`; \
                 scripts/test.sh installs it): `promtool {}` not run",
                args.join(" ")
            );
            return;
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
        assert!(
            text.contains("SUCCESS"),
            "promtool {}:\n{text}",
            args.join(" ")
        );
    }
}

#[test]
fn the_extraction_sees_what_it_must() {
    let sel = selectors(
        r#"histogram_quantile(0.99, sum by (le) (rate(ringline_op_latency_seconds_bucket{job=~"$job", instance="ringline_not_a_metric"}[5m]))) / ringline_ops_in_flight"#,
    );
    let names: Vec<_> = sel.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ringline_op_latency_seconds_bucket",
            "ringline_ops_in_flight"
        ]
    );
    assert!(sel[0].matchers.starts_with(r#"job=~"$job""#));
    assert!(resolve("ringline_op_latency_seconds_count").is_some());
    assert!(resolve("ringline_ops_in_flight").is_some());
    assert!(
        resolve("ringline_ops_in_flight_bucket").is_none(),
        "a gauge has no buckets"
    );
    assert!(resolve("ringline_op_latency_seconds_total").is_none());
    assert!(resolve("ringline_nope").is_none());
    assert_eq!(
        names_in_text("see ringline-top and xringline_a"),
        Vec::<String>::new()
    );
    let yaml = "  - alert: A\n    expr: |\n      a_metric\n      > 1\n    for: 1m\n  - alert: B\n    expr: 'b > 0'\n";
    assert_eq!(rule_exprs(yaml), ["a_metric\n> 1", "b > 0"]);
    assert_eq!(values_of(yaml, "alert:"), ["A", "B"]);
}
