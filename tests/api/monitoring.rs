//! What operators watch: every metric in `/metrics` is described (HELP, TYPE, units in
//! its name), and the Grafana dashboard and the alert rules name only metrics the server
//! exports, so neither can silently go stale after a rename.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::admin::{admin_app_with, ALICE};
use crate::common::{assert_envelope, metric_sum, TestApp};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// One metric family of a scrape: its `# TYPE`, whether it has a `# HELP`, and the
/// names of its samples.
#[derive(Default, Debug)]
struct Family {
    kind: Option<String>,
    help: bool,
    samples: BTreeSet<String>,
}

/// Families by name. A sample `x_bucket`/`x_sum`/`x_count` belongs to family `x` when
/// `x` is declared a histogram or summary.
fn families(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("HELP"), Some(name)) => {
                out.entry(name.to_owned()).or_default().help = true;
            }
            (Some("#"), Some("TYPE"), Some(name)) => {
                out.entry(name.to_owned()).or_default().kind = words.next().map(str::to_owned);
            }
            _ => {}
        }
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let sample = line.split(['{', ' ']).next().unwrap_or_default().to_owned();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|suffix| sample.strip_suffix(suffix))
            .find(|base| {
                out.get(*base)
                    .and_then(|f| f.kind.as_deref())
                    .is_some_and(|k| k == "histogram" || k == "summary")
            })
            .unwrap_or(&sample)
            .to_owned();
        out.entry(family).or_default().samples.insert(sample);
    }
    out
}

/// An app with admin keys whose foreign countries get one SMS a day.
async fn app() -> Option<TestApp> {
    admin_app_with(|s| {
        s.sms.foreign_country_daily = 1;
        s.sms.per_ip_hourly = 100;
    })
    .await
}

/// Requests that make the server record what a running service records: sign-in (SMS),
/// a list, an admin ban, a 404, and a foreign country's budget used up (the by-country
/// series exist only once a country tripped).
async fn exercise(app: &TestApp) {
    let me = app.new_user().await;
    let other = app.new_user().await;
    app.relate(&me, other.user_id, "follow").await;
    app.list(&me, "follow", 1, 20).await;
    let res = app
        .client
        .post(app.url("/admin/users/ban"))
        .bearer_auth(ALICE)
        .json(&json!({"user_id": other.user_id, "reason": "monitoring test"}))
        .send()
        .await
        .expect("ban");
    let v: Value = res.json().await.expect("envelope");
    assert_envelope(&v, 0);
    let res = app.client.get(app.url("/no/such/route")).send().await;
    assert_eq!(res.expect("404").status(), 404);
    for (phone, code) in [("7400123461", 0), ("7400123462", 429)] {
        let v = app
            .post_form(
                "/sms/send",
                &[("nation_code", "44"), ("phone", phone)],
                None,
            )
            .await;
        assert_envelope(&v, code);
    }
}

#[actix_web::test]
async fn every_metric_is_described_typed_and_named_with_its_unit() {
    let Some(app) = app().await else {
        return;
    };
    let before = app.metrics().await;
    exercise(&app).await;
    let text = app.metrics().await;
    let families = families(&text);

    let mut wrong = Vec::new();
    for (name, f) in &families {
        if !f.help {
            wrong.push(format!("{name}: no # HELP"));
        }
        match f.kind.as_deref() {
            None => wrong.push(format!("{name}: no # TYPE")),
            Some("counter") if !name.ends_with("_total") => wrong.push(format!(
                "{name}: a counter whose name does not end in _total"
            )),
            Some(k) if k != "counter" && name.ends_with("_total") => {
                wrong.push(format!("{name}: a {k} named like a counter (_total)"))
            }
            // Quantiles cannot be added up over processes: every distribution is a
            // histogram with buckets.
            Some("summary") => wrong.push(format!("{name}: a summary, not a histogram")),
            _ => {}
        }
        let timed = ["duration", "age", "time"].iter().any(|w| name.contains(w));
        if timed && !name.ends_with("_seconds") && !name.ends_with("_seconds_total") {
            wrong.push(format!("{name}: a time without _seconds"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}\n{text}");

    // The process metrics operators expect, as gauges and a counter.
    for (name, kind) in [
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_cpu_seconds_total", "counter"),
    ] {
        let f = families.get(name);
        assert_eq!(
            f.and_then(|f| f.kind.as_deref()),
            Some(kind),
            "{name}\n{text}"
        );
    }
    let rss = crate::common::metric_value(&text, "process_resident_memory_bytes");
    assert!(rss.is_some_and(|b| b > 1e6), "RSS of this process: {rss:?}");

    // Series an alert or a panel keys on exist before their first event, at 0 if nothing
    // happened: every refusal reason, every admin action, every relay failure reason.
    for reason in im_access::metrics::SMS_REFUSALS {
        let series = format!("im_sms_refused_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&series), "{series}");
    }
    for series in [
        "im_admin_actions_total{action=\"users.unban\"}",
        "im_admin_actions_total{action=\"users.delete\"}",
        "im_relay_failures_total{reason=\"broker\"}",
        "im_sms_sends_total{provider=\"file\",outcome=\"failed\"}",
        "im_relay_commit_to_confirm_seconds_bucket{le=\"0.005\"}",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    // The ban is counted.
    let bans = |t: &str| metric_sum(t, "im_admin_actions_total", &["action=\"users.ban\""]);
    assert!(bans(&text) >= bans(&before) + 1.0, "{text}");
}

/// PromQL words that are not metric names.
const PROMQL_WORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "inf",
    "nan",
];

/// Label lists follow these words, in parentheses: `sum by (le, route) (...)`.
const LABEL_LIST_BEFORE: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects: identifiers outside strings, label
/// matchers (`{...}`) and ranges (`[...]`), that are not keywords, function calls,
/// label lists, numbers, durations or Grafana variables (`$x`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Blank out strings, {...} and [...]: what is left is names, calls and operators.
    let mut bare = String::with_capacity(expr.len());
    let (mut quote, mut escaped, mut depth) = (None::<char>, false, 0u32);
    for c in expr.chars() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                bare.push(c);
                continue;
            }
            _ => {}
        }
        bare.push(' ');
    }

    let chars: Vec<char> = bare.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' || c == '$' {
            // A number or duration (5m, 1e3, 0.99) or a Grafana variable: one token.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "._$".contains(chars[i]))
            {
                i += 1;
            }
            continue;
        }
        if c == '(' && skip_label_list {
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_label_list = false;
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_' || c == ':') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let next = chars[i..].iter().find(|c| !c.is_whitespace());
        if LABEL_LIST_BEFORE.contains(&word.as_str()) {
            skip_label_list = true;
        } else if !PROMQL_WORDS.contains(&word.as_str()) && next != Some(&'(') {
            names.insert(word);
        }
    }
    names
}

/// Every PromQL expression of the dashboard: panel targets (rows' panels too) and the
/// query variables (`label_values(metric, label)` selects `metric`).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push(e.clone()),
                        ("query" | "definition", Value::String(q)) => {
                            if let Some(args) = q.strip_prefix("label_values(") {
                                let metric = args.rsplit_once(',').map_or(args, |(m, _)| m);
                                out.push(metric.to_owned());
                            }
                        }
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

fn alert_exprs(yaml: &str) -> Vec<(String, String)> {
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).expect("alerts.yml is YAML");
    let mut out = Vec::new();
    for group in docs[0]["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name").to_owned();
            out.push((name, rule["expr"].as_str().expect("expr").to_owned()));
        }
    }
    out
}

/// (where, metric) for each metric an expression names that the scrape lacks.
/// `up` is made by Prometheus itself.
fn missing(exprs: &[(String, String)], scrape: &str) -> Vec<(String, String)> {
    let exported: BTreeSet<String> = families(scrape)
        .into_values()
        .flat_map(|f| f.samples)
        .collect();
    exprs
        .iter()
        .flat_map(|(at, e)| metric_names(e).into_iter().map(move |m| (at.clone(), m)))
        .filter(|(_, m)| m != "up" && !exported.contains(m))
        .collect()
}

#[actix_web::test]
async fn the_dashboard_and_the_alert_rules_name_only_exported_metrics() {
    let Some(app) = app().await else {
        return;
    };
    exercise(&app).await;
    let scrape = app.metrics().await;

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/im-access.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut exprs: Vec<(String, String)> = dashboard_exprs(&dashboard)
        .into_iter()
        .map(|e| ("dashboard".to_owned(), e))
        .collect();
    let rules = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).expect("rules");
    exprs.extend(alert_exprs(&rules));

    // Not vacuous: both files were read and their expressions parsed into names.
    let named: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| metric_names(e)).collect();
    assert!(exprs.len() > 40, "{exprs:#?}");
    assert!(named.len() > 25, "{named:#?}");

    let missing = missing(&exprs, &scrape);
    assert!(
        missing.is_empty(),
        "named in the dashboard or the rules but not exported: {missing:#?}"
    );

    // The datasource is a variable, so the dashboard imports into any Grafana.
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(variables
        .iter()
        .any(|v| v["type"] == "datasource" && v["name"] == "datasource"));
    let mut targets = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{target}");
            targets += 1;
        }
    }
    assert!(targets > 30);
}

#[test]
fn metric_names_are_found_and_promql_is_not_mistaken_for_them() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le, route) (rate(im_http_request_duration_seconds_bucket{instance=~"$instance", route!~"a{1}b"}[$__rate_interval])))"#
        ),
        ["im_http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names(
            "(max(im_broker_configured) > 0) unless on(job) (max(im_relay_leader) > 0) or x:y:rate5m offset 15m and bool 1e3"
        ),
        ["im_broker_configured", "im_relay_leader", "x:y:rate5m"]
    );
    assert_eq!(
        names("time() - process_start_time_seconds{job='a\\'b'}"),
        ["process_start_time_seconds"]
    );
    assert_eq!(
        names("a / ignoring(state) b * on(instance) group_left(code) c"),
        ["a", "b", "c"]
    );
}

#[test]
fn a_panel_naming_a_metric_the_server_does_not_export_is_reported() {
    let scrape = "# HELP im_x_total x\n# TYPE im_x_total counter\nim_x_total{a=\"1\"} 3\n\
                  # HELP im_h_seconds h\n# TYPE im_h_seconds histogram\n\
                  im_h_seconds_bucket{le=\"+Inf\"} 1\nim_h_seconds_sum 0.1\nim_h_seconds_count 1\n";
    let dashboard = json!({"panels": [
        {"type": "row", "panels": [{"targets": [{"expr": "rate(im_x_total[5m])"}]}]},
        {"targets": [
            {"expr": "histogram_quantile(0.9, rate(im_h_seconds_bucket[5m]))"},
            {"expr": "sum(rate(im_renamed_long_ago_total[5m])) / sum(rate(im_x_total[5m]))"}
        ]}
    ]});
    let exprs: Vec<(String, String)> = dashboard_exprs(&dashboard)
        .into_iter()
        .map(|e| ("dashboard".to_owned(), e))
        .collect();
    assert_eq!(exprs.len(), 3);
    assert_eq!(
        missing(&exprs, scrape),
        [(
            "dashboard".to_owned(),
            "im_renamed_long_ago_total".to_owned()
        )]
    );
    // A histogram's family name alone is no sample: panels must name _bucket/_sum/_count.
    let bare = [("rule".to_owned(), "rate(im_h_seconds[5m])".to_owned())];
    assert_eq!(missing(&bare, scrape).len(), 1);
}
