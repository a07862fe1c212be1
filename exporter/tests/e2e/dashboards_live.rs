//! Every panel query, template-variable query and alert expression in
//! `dashboards/`, run through a real Prometheus (Debian's `prometheus`
//! package) that scrapes two real ringline processes every second: this
//! test process (echo + fs load, a FIFO read stuck on every worker) through
//! the embedded exporter, and `inspect-target` (echo, a stuck FIFO read)
//! through the sidecar only. A query that Prometheus rejects, or that
//! returns no series, fails the test. Skipped, with the reason printed,
//! where `prometheus` is not installed.
//!
//! How each is run:
//! - panel queries with `$instance` and `$worker` as `.*` and
//!   `$__rate_interval` as 5 s (≥ 4 scrape intervals, as Grafana's own
//!   lower bound); `$job` as `.*` and then as each job alone, and each of
//!   the three must answer with series;
//! - `label_values(SELECTOR, LABEL)` variables through
//!   `/api/v1/label/LABEL/values?match[]=SELECTOR` (what Grafana calls), the
//!   same way; the `job` values must name both jobs;
//! - alert expressions as written must evaluate without error, and
//!   `RinglineOpsStuck` must fire for both jobs (both processes have a stuck
//!   op); with their threshold comparisons removed (`x >= 1` → `x`), which
//!   a healthy process does not cross, they must return series of both jobs.
//!
//! `RINGLINE_DASHBOARDS_DIR` points the test at another copy of the
//! dashboards (to see it fail on a broken one without touching the repo).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ringline_exporter::Builder;
use serde_json::Value;

use crate::util::{
    PrivateDir, Proc, eventually, get, inspect_target_bin, launch_with_stuck_read, percent_encode,
    prometheus_binary, spawn_prometheus, spawn_sidecar, spawn_target_with_echo, traffic,
};

/// The two Prometheus jobs: this process's embedded exporter, and the
/// sidecar serving `inspect-target`.
const JOBS: [&str; 2] = ["embedded", "sidecar"];
/// What `$__rate_interval` becomes: at least 4 × the 1 s scrape interval.
const RATE_INTERVAL: &str = "5s";
/// The alert that must fire as written: both processes have a stuck op.
const STUCK_ALERT: &str = "RinglineOpsStuck";
/// How long answers without (enough) series are retried once every target
/// has been scraped a few times.
const RETRY_FOR: Duration = Duration::from_secs(15);

// ── What the dashboards and rules ask ──

/// The directory holding the dashboards and rules.
fn dashboards_dir() -> PathBuf {
    match std::env::var_os("RINGLINE_DASHBOARDS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .join("dashboards"),
    }
}

/// Every `expr` string in a dashboard, with the title of the nearest
/// enclosing object that has one (the panel), in document order.
fn panel_queries(dash: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, title: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(o) => {
                let title = o.get("title").and_then(Value::as_str).unwrap_or(title);
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("expr", Value::String(e)) => out.push((title.to_owned(), e.clone())),
                        _ => walk(x, title, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, title, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dash, "", &mut out);
    out
}

/// The query of every `query` template variable: name and query text.
fn variable_queries(dash: &Value) -> Vec<(String, String)> {
    let list = dash["templating"]["list"].as_array();
    list.into_iter()
        .flatten()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            // Older models keep the query as a string, newer ones as
            // `{ "query": … }`.
            let q = v["query"]
                .as_str()
                .or_else(|| v["query"]["query"].as_str())
                .unwrap_or_default();
            (v["name"].as_str().unwrap_or("?").to_owned(), q.to_owned())
        })
        .collect()
}

/// `label_values(SELECTOR, LABEL)` or `label_values(LABEL)`: the label and
/// the selector, if any.
fn label_values_of(q: &str) -> Option<(String, Option<String>)> {
    let args = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    Some(match args.rsplit_once(',') {
        Some((sel, label)) => (label.trim().to_owned(), Some(sel.trim().to_owned())),
        None => (args.trim().to_owned(), None),
    })
}

/// The `expr` of every rule in a Prometheus rules file, with the name of
/// its rule (`alert:` or `record:`): a line-based reading that handles
/// plain and quoted values and `|`/`>` block scalars.
fn rule_exprs(yaml: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    let mut name = String::from("?");
    for (i, line) in lines.iter().enumerate() {
        let key_value = line.trim_start().trim_start_matches("- ");
        if let Some(n) = key_value
            .strip_prefix("alert:")
            .or_else(|| key_value.strip_prefix("record:"))
        {
            name = n.trim().trim_matches(['"', '\'']).to_owned();
            continue;
        }
        let Some(value) = key_value.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        let expr = if value.starts_with(['|', '>']) {
            let block = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .map(|l| l.trim())
                .collect::<Vec<_>>();
            block.join("\n").trim().to_owned()
        } else if let Some(v) = value.strip_prefix('\'') {
            // Single-quoted: `''` is a quote; the value ends at a lone one.
            let (mut text, mut rest) = (String::new(), v);
            while let Some((part, after)) = rest.split_once('\'') {
                text += part;
                match after.strip_prefix('\'') {
                    Some(more) => (text, rest) = (text + "'", more),
                    None => break,
                }
            }
            text
        } else if let Some(v) = value.strip_prefix('"') {
            // Double-quoted: backslash escapes; ends at an unescaped quote.
            let mut text = String::new();
            let mut chars = v.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => text.extend(chars.next()),
                    c => text.push(c),
                }
            }
            text
        } else {
            // A plain scalar ends at a comment.
            value
                .split(" #")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        out.push((name.clone(), expr));
    }
    out
}

/// The end of a number literal starting at `i` (optional sign, digits with
/// an optional point, optional exponent), if one starts there and is not
/// the start of a longer identifier.
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if !b[start..i].iter().any(u8::is_ascii_digit) {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits {
            i = j;
        }
    }
    let name_byte = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':';
    (!b.get(i).is_some_and(name_byte)).then_some(i)
}

/// `expr` without its threshold comparisons: every `OP NUMBER` (OP one of
/// `>= <= == != > <`, optionally with `bool`) outside quotes and label
/// matchers removed, with the space before it. `a / (b > 0) >= 0.9`
/// becomes `a / (b)`. Comparisons between two series are kept.
fn strip_thresholds(expr: &str) -> String {
    let b = expr.as_bytes();
    let mut out = String::new();
    let (mut i, mut copied, mut braces) = (0, 0, 0usize);
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
            }
            b'{' => braces += 1,
            b'}' => braces = braces.saturating_sub(1),
            c @ (b'>' | b'<' | b'=' | b'!') if braces == 0 => {
                let op = match (c, b.get(i + 1)) {
                    (_, Some(b'=')) => 2,
                    (b'>' | b'<', _) => 1,
                    _ => 0,
                };
                if op > 0 {
                    let skip_space = |mut j: usize| {
                        while j < b.len() && b[j].is_ascii_whitespace() {
                            j += 1;
                        }
                        j
                    };
                    let mut j = skip_space(i + op);
                    if b[j..].starts_with(b"bool")
                        && b.get(j + 4).is_some_and(u8::is_ascii_whitespace)
                    {
                        j = skip_space(j + 4);
                    }
                    if let Some(end) = number_end(b, j) {
                        let mut start = i;
                        while start > copied && b[start - 1].is_ascii_whitespace() {
                            start -= 1;
                        }
                        out.push_str(&expr[copied..start]);
                        (copied, i) = (end, end);
                        continue;
                    }
                    i += op;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&expr[copied.min(expr.len())..]);
    out
}

/// A panel query with the dashboard variables filled in: `$job` as `job`,
/// the others as `.*`; `None` if a variable this test does not know is
/// left.
fn substitute(q: &str, job: &str) -> Option<String> {
    let mut q = q.to_owned();
    for (var, value) in [
        ("__rate_interval", RATE_INTERVAL),
        ("__interval", "1s"),
        ("__range", "1m"),
        ("job", job),
        ("instance", ".*"),
        ("worker", ".*"),
    ] {
        q = q
            .replace(&format!("${{{var}}}"), value)
            .replace(&format!("${var}"), value);
    }
    (!q.contains('$')).then_some(q)
}

// ── Asking Prometheus ──

/// One request to Prometheus and what its answer must hold.
#[derive(Debug)]
struct Probe {
    /// The file and the panel, variable or rule it comes from.
    origin: String,
    ask: Ask,
    want: Want,
}

#[derive(Debug)]
enum Ask {
    /// An instant query.
    Query(String),
    /// `/api/v1/label/LABEL/values`, with `match[]` when given.
    LabelValues(String, Option<String>),
    /// A query with a dashboard variable this test cannot fill in.
    Unfillable(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Evaluates without error (an alert as written on a healthy process).
    Answer,
    /// At least one series (label values: at least one value).
    Series,
    /// Series whose `job` labels name every job (label values: values
    /// including every job's name). Answers whose series have no `job`
    /// label (aggregated away) only need a series.
    EveryJob,
}

/// Why a probe did not pass: Prometheus rejected it (final), or the answer
/// lacks series (retried until [`RETRY_FOR`] is over).
enum Miss {
    Error(String),
    Lacking(String),
}

impl std::fmt::Display for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ask::Query(q) | Ask::Unfillable(q) => write!(f, "{q}"),
            Ask::LabelValues(label, Some(m)) => write!(f, "label {label} values, match[]={m}"),
            Ask::LabelValues(label, None) => write!(f, "label {label} values"),
        }
    }
}

/// `GET path` on Prometheus's API: the `data` of a successful answer, or
/// what went wrong.
fn api(prom: SocketAddr, path: &str) -> Result<Value, Miss> {
    let (status, body) =
        get(prom, path).map_err(|e| Miss::Error(format!("no answer from Prometheus: {e}")))?;
    let v: Value = serde_json::from_str(&body)
        .map_err(|e| Miss::Error(format!("HTTP {status}, not JSON ({e}): {body}")))?;
    if v["status"] != "success" {
        return Err(Miss::Error(format!(
            "HTTP {status}: {}: {}",
            v["errorType"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or(&body)
        )));
    }
    Ok(v["data"].clone())
}

fn run(prom: SocketAddr, p: &Probe) -> Result<(), Miss> {
    // The names to find: job names in results, or among label values.
    let mut found = BTreeSet::new();
    let (count, labelled) = match &p.ask {
        Ask::Unfillable(_) => {
            return Err(Miss::Error(
                "uses a variable this test cannot fill in".into(),
            ));
        }
        Ask::Query(q) => {
            let data = api(prom, &format!("/api/v1/query?query={}", percent_encode(q)))?;
            if data["resultType"] != "vector" {
                return Err(Miss::Error(format!(
                    "a {} result, not an instant vector",
                    data["resultType"]
                )));
            }
            let result = data["result"].as_array().cloned().unwrap_or_default();
            for s in &result {
                if let Some(job) = s["metric"]["job"].as_str() {
                    found.insert(job.to_owned());
                }
            }
            (result.len(), !found.is_empty())
        }
        Ask::LabelValues(label, matcher) => {
            let mut path = format!("/api/v1/label/{}/values", percent_encode(label));
            if let Some(m) = matcher {
                path += &format!("?{}={}", percent_encode("match[]"), percent_encode(m));
            }
            let data = api(prom, &path)?;
            let values = data.as_array().cloned().unwrap_or_default();
            found.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            (values.len(), label == "job")
        }
    };
    match p.want {
        Want::Answer => Ok(()),
        _ if count == 0 => Err(Miss::Lacking("no series".into())),
        Want::EveryJob if labelled => {
            let missing: Vec<_> = JOBS.iter().filter(|j| !found.contains(**j)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Miss::Lacking(format!(
                    "{count} series, none of job {missing:?}"
                )))
            }
        }
        _ => Ok(()),
    }
}

/// Every probe the dashboards and rules in `dir` call for, and how many
/// panel queries, variables and alert expressions they came from.
fn probes(dir: &Path) -> (Vec<Probe>, [usize; 3]) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut counts = [0; 3];
    // Panel queries shared by several panels are asked once.
    let mut asked = BTreeSet::new();
    let (mut dashboards, mut rule_files) = (0, 0);
    for file in &files {
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "json" {
            dashboards += 1;
            let dash: Value = serde_json::from_str(&read(file))
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
            let queries = panel_queries(&dash);
            assert!(
                queries.len() >= 5,
                "{}: {} panel queries",
                name(file),
                queries.len()
            );
            for (title, q) in queries {
                counts[0] += 1;
                if !asked.insert(q.clone()) {
                    continue;
                }
                let origin = format!("{}: panel {title:?}", name(file));
                for job in [".*", JOBS[0], JOBS[1]] {
                    let ask = match substitute(&q, job) {
                        Some(q) => Ask::Query(q),
                        None => Ask::Unfillable(q.clone()),
                    };
                    let origin = format!("{origin}, $job={job}");
                    out.push(Probe {
                        origin,
                        ask,
                        want: Want::Series,
                    });
                }
            }
            for (var, q) in variable_queries(&dash) {
                counts[1] += 1;
                let origin = format!("{}: variable ${var}", name(file));
                let Some((label, selector)) = label_values_of(&q) else {
                    // Any other variable query: it must return series.
                    let ask = substitute(&q, ".*").map_or(Ask::Unfillable(q.clone()), Ask::Query);
                    out.push(Probe {
                        origin,
                        ask,
                        want: Want::Series,
                    });
                    continue;
                };
                for job in [".*", JOBS[0], JOBS[1]] {
                    let matcher = selector.as_deref().map(|s| substitute(s, job));
                    let ask = match matcher {
                        Some(None) => Ask::Unfillable(q.clone()),
                        Some(Some(m)) => Ask::LabelValues(label.clone(), Some(m)),
                        None => Ask::LabelValues(label.clone(), None),
                    };
                    let want = if job == ".*" {
                        Want::EveryJob
                    } else {
                        Want::Series
                    };
                    let origin = format!("{origin}, $job={job}");
                    out.push(Probe { origin, ask, want });
                }
            }
        } else if matches!(ext, "yml" | "yaml")
            && read(file).lines().any(|l| l.starts_with("groups:"))
        {
            rule_files += 1;
            let rules = rule_exprs(&read(file));
            assert!(!rules.is_empty(), "{}: no rule expressions", name(file));
            for (rule, expr) in rules {
                counts[2] += 1;
                let origin = format!("{}: {rule}", name(file));
                let stripped = strip_thresholds(&expr);
                let want = if rule == STUCK_ALERT {
                    Want::EveryJob
                } else {
                    Want::Answer
                };
                out.push(Probe {
                    origin: format!("{origin} (as written)"),
                    ask: Ask::Query(expr),
                    want,
                });
                out.push(Probe {
                    origin: format!("{origin} (thresholds removed)"),
                    ask: Ask::Query(stripped),
                    want: Want::EveryJob,
                });
            }
        }
    }
    assert!(
        dashboards >= 2 && rule_files >= 1,
        "{}: {dashboards} dashboards and {rule_files} rules files",
        dir.display()
    );
    let stuck = out
        .iter()
        .any(|p| p.origin.ends_with(&format!("{STUCK_ALERT} (as written)")));
    assert!(stuck, "no {STUCK_ALERT} rule in {}", dir.display());
    (out, counts)
}

/// A child stopped with SIGTERM however the test ends: `inspect-target`
/// removes its temp dir when it exits cleanly, not when killed.
struct Terminated(Option<Proc>);

impl Drop for Terminated {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.terminate(Duration::from_secs(10));
        }
    }
}

#[test]
fn every_dashboard_query_and_alert_expression_answers_from_real_scrapes() {
    let started = Instant::now();
    let Some(bin) = prometheus_binary() else {
        eprintln!("SKIPPED: no `prometheus` binary on PATH (Debian: apt-get install prometheus)");
        return;
    };
    let dir = dashboards_dir();
    let (probes, [panels, variables, alerts]) = probes(&dir);

    // This process: loaded, a FIFO read stuck on each worker, the
    // embedded exporter.
    let rt = launch_with_stuck_read(2);
    let _load = traffic(rt.addr, 2);
    let embedded = Builder::new()
        .port(0)
        .install_recorder(false)
        .serve()
        .expect("serve");
    // `inspect-target` (its FIFO read stuck from the start), under echo,
    // seen only through the sidecar.
    let inspect_dir = PrivateDir::new("dash-live-inspect");
    let (target, target_echo) = spawn_target_with_echo(&inspect_target_bin(), inspect_dir.path());
    let target = Terminated(Some(target));
    let target_load = traffic(target_echo, 1);
    let (sidecar, sidecar_addr) = spawn_sidecar(
        inspect_dir.path(),
        &["--all", "--rescan", "200", "--interval", "200"],
    );

    let work = PrivateDir::new("dash-live-prometheus");
    let targets = [(JOBS[0], embedded.local_addr()), (JOBS[1], sidecar_addr)];
    let (prometheus, prom) = spawn_prometheus(&bin, work.path(), &targets);
    let log = || std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default();

    // A few scrapes of each target (6: `rate` over 5 s has samples to use).
    let scraped = std::panic::catch_unwind(|| {
        eventually("6 scrapes of both targets", Duration::from_secs(30), || {
            let q = percent_encode("count_over_time(up[1m]) >= 6 and up == 1");
            let data = api(prom, &format!("/api/v1/query?query={q}")).ok()?;
            (data["result"].as_array()?.len() == 2).then_some(())
        })
    });
    if scraped.is_err() {
        panic!(
            "Prometheus did not scrape both targets 6 times; its log:\n{}",
            log()
        );
    }

    // Every probe; those lacking series are asked again (the stuck ops need
    // a scrape after they turn 1 s old) until RETRY_FOR is over.
    let mut failures = Vec::new();
    let mut pending: Vec<(&Probe, String)> = probes.iter().map(|p| (p, String::new())).collect();
    let until = Instant::now() + RETRY_FOR;
    loop {
        pending.retain_mut(|(p, why)| match run(prom, p) {
            Ok(()) => false,
            Err(Miss::Error(e)) => {
                failures.push(format!(
                    "{}\n    query: {}\n    error: {e}",
                    p.origin, p.ask
                ));
                false
            }
            Err(Miss::Lacking(w)) => {
                *why = w;
                true
            }
        });
        if pending.is_empty() || Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for (p, why) in pending {
        failures.push(format!("{}\n    query: {}\n    {why}", p.origin, p.ask));
    }

    drop(prometheus);
    drop(sidecar);
    drop(target_load);
    drop(target);
    eprintln!(
        "dashboards_live: {panels} panel queries, {variables} variable queries and {alerts} \
         alert expressions from {} — {} requests to Prometheus — {} failed, in {:.1?}",
        dir.display(),
        probes.len(),
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} dashboard/rule queries failed against real data:\n  {}",
        failures.len(),
        probes.len(),
        failures.join("\n  ")
    );
}

#[test]
fn thresholds_variables_and_rules_are_read_as_meant() {
    for (expr, want) in [
        (
            "ringline_worker_heartbeat_age_seconds >= 1",
            "ringline_worker_heartbeat_age_seconds",
        ),
        ("ringline_worker_ops_stuck > 0", "ringline_worker_ops_stuck"),
        (
            "ringline_slab_used / (ringline_slab_capacity > 0) >= 0.9",
            "ringline_slab_used / (ringline_slab_capacity)",
        ),
        ("increase(x_total[5m]) > bool 1e-3", "increase(x_total[5m])"),
        // Label matchers, strings and comparisons of two series stay.
        (
            r#"x{result!="ok", le=">1"} > y"#,
            r#"x{result!="ok", le=">1"} > y"#,
        ),
        ("x > 0x_not_a_number", "x > 0x_not_a_number"),
        (
            "a >= 1\nor\n(delta(b[10m]) > 0 and b > 0)",
            "a\nor\n(delta(b[10m]) and b)",
        ),
    ] {
        assert_eq!(strip_thresholds(expr), want, "{expr}");
    }

    let q =
        r#"rate(x{job=~"$job", instance=~"${instance}", worker=~"$worker|"}[$__rate_interval])"#;
    assert_eq!(
        substitute(q, "sidecar").as_deref(),
        Some(r#"rate(x{job=~"sidecar", instance=~".*", worker=~".*|"}[5s])"#)
    );
    assert_eq!(substitute("x[$__unknown]", ".*"), None);
    assert_eq!(
        label_values_of(r#"label_values(up{job=~"$job"}, instance)"#),
        Some(("instance".into(), Some(r#"up{job=~"$job"}"#.into())))
    );
    assert_eq!(
        label_values_of("label_values(job)"),
        Some(("job".into(), None))
    );
    assert_eq!(label_values_of("query_result(up)"), None);

    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          a_metric\n          > 1\n        for: 1m\n      - record: r:b\n        expr: 'b > 0' # c\n      - alert: C\n        expr: \"c{l=\\\"v\\\"}\"\n      - alert: D\n        expr: d >= 2 # why\n";
    assert_eq!(
        rule_exprs(yaml),
        [
            ("A".to_owned(), "a_metric\n> 1".to_owned()),
            ("r:b".to_owned(), "b > 0".to_owned()),
            ("C".to_owned(), "c{l=\"v\"}".to_owned()),
            ("D".to_owned(), "d >= 2".to_owned()),
        ]
    );

    let dash = serde_json::json!({
        "panels": [
            { "title": "row", "panels": [{ "title": "inner", "targets": [{ "expr": "a" }] }] },
            { "title": "outer", "targets": [{ "expr": "b" }, { "expr": "c" }] },
        ],
        "templating": { "list": [
            { "name": "ds", "type": "datasource", "query": "prometheus" },
            { "name": "job", "type": "query", "query": { "query": "label_values(up, job)" } },
        ] },
    });
    assert_eq!(
        panel_queries(&dash),
        [("inner", "a"), ("outer", "b"), ("outer", "c")].map(|(t, e)| (t.to_owned(), e.to_owned()))
    );
    assert_eq!(
        variable_queries(&dash),
        [("job".to_owned(), "label_values(up, job)".to_owned())]
    );
}
