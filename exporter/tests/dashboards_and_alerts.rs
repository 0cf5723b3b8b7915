//! The product's face, proven on real data: every dashboard panel's PromQL runs on a real
//! Prometheus scraping a real exporter and merger, every metric a panel or rule names is one
//! the running binaries export (or a recording rule defines), and a firing
//! HiveTableTooManySmallFiles travels through a real Alertmanager to a webhook receiver and
//! to the merger. Needs `../shared/` (metastore schema), `prometheus` and
//! `prometheus-alertmanager` (installed by .ci/run).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::require_shared;
use smallfiles_testkit::webhdfs::{spawn, ServerOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()));
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 4, "overview, table, merges, exporter health");
    out
}

/// (dashboard, panel title, expr) of every query.
fn queries() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                out.push((
                    name.clone(),
                    p["title"].as_str().unwrap_or("").to_string(),
                    t["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

/// Metric names in a PromQL expression or rule: our families and `up`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let in_string = bytes[..start].iter().filter(|c| **c == '"').count() % 2 == 1;
            let label_name = bytes.get(i) == Some(&'=')
                || bytes.get(i..i + 2) == Some(&['!', '='])
                || bytes.get(i..i + 2) == Some(&['=', '~']);
            if !in_string && !label_name && (word.starts_with("smallfiles") || word == "up") {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

fn rule_files() -> Vec<PathBuf> {
    vec![
        repo().join("alerts/smallfiles.rules.yml"),
        repo().join("alerts/smallfiles-overrides.yml"),
    ]
}

/// Names of recording rules, and every expression of every rule.
fn rules() -> (HashSet<String>, Vec<(String, String)>) {
    let mut recorded = HashSet::new();
    let mut exprs = Vec::new();
    for f in rule_files() {
        let v: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        for g in v["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let name = r["record"]
                    .as_str()
                    .or(r["alert"].as_str())
                    .unwrap()
                    .to_string();
                if r["record"].is_string() {
                    recorded.insert(name.clone());
                }
                exprs.push((name, r["expr"].as_str().unwrap().to_string()));
            }
        }
    }
    (recorded, exprs)
}

#[test]
fn dashboards_are_well_formed() {
    for (name, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["name"] == "datasource"),
            "{name}: datasource variable"
        );
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{name}: variable {} uses the datasource variable",
                v["name"]
            );
        }
        assert!(
            d["uid"]
                .as_str()
                .is_some_and(|u| u.starts_with("smallfiles-")),
            "{name}: stable uid"
        );
        for l in d["links"].as_array().unwrap() {
            assert_eq!(l["includeVars"], true, "{name}: links carry the variables");
        }
        let mut ids = HashSet::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{name}: every panel has a title");
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{name}: panel ids are unique ({title})"
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}/{title}: datasource variable"
            );
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
            assert!(!unit.is_empty(), "{name}/{title}: unit set");
            assert!(
                !p["description"].as_str().unwrap_or("").is_empty(),
                "{name}/{title}: described"
            );
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap_or("");
                assert!(!expr.is_empty(), "{name}/{title}: a query");
                assert!(
                    !expr.contains("prod") && !expr.contains("demo"),
                    "{name}/{title}: no hard-coded cluster"
                );
            }
        }
    }
}

#[test]
fn metric_name_extraction() {
    let names = metric_names(
        r#"sum by (cluster) (rate(smallfiles_hdfs_requests_total{cluster=~"$cluster",op="x"}[5m])) / smallfiles:cluster_files:sum + up{job="smallfiles-exporter"}"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            "smallfiles:cluster_files:sum",
            "smallfiles_hdfs_requests_total",
            "up"
        ]
    );
}

/// Families a binary exports: those it declares with `# TYPE` (counters not yet incremented
/// have no sample) and those with samples.
fn families(page: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for decl in page.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut words = decl.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        out.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                out.insert(format!("{name}{suffix}"));
            }
        }
    }
    for s in smallfiles_testkit::prom::parse(page) {
        out.insert(s.name.clone());
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = s.name.strip_suffix(suffix) {
                out.insert(base.to_string());
            }
        }
    }
    out
}

fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "5m")
        .replace("$cluster", "prod")
        .replace("$database", "sales")
        .replace("$table", "orders")
}

async fn query(http: &reqwest::Client, prom: &str, expr: &str) -> Result<Vec<Value>, String> {
    let r: Value = http
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if r["status"] != "success" {
        return Err(format!("{}: {}", r["errorType"], r["error"]));
    }
    Ok(r["data"]["result"].as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_and_rule_on_a_real_prometheus_and_alertmanager() {
    let shared = require_shared!();
    if !smallfiles_testkit::process::tool_available("prometheus")
        || !smallfiles_testkit::process::tool_available("prometheus-alertmanager")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // A warehouse on the WebHDFS test server with enough small files to fire the alert.
    let root = t.join("hdfs");
    let mut w = Warehouse::new(&root);
    let db = TestDb::create(MetastoreKind::Mysql, "3.1.0", &shared);
    let mut b = db.builder();
    let wh = "/user/hive/warehouse";
    let sales = b.database("sales", &format!("hdfs://ns{wh}/sales.db"));
    let orders = TableSpec::orc("orders", &format!("hdfs://ns{wh}/sales.db/orders"))
        .partitioned_by(&[("dt", "string")]);
    let id = b.table(sales, &orders);
    for d in 1..=3 {
        let name = format!("dt=2026-11-0{d}");
        let dir = format!("{wh}/sales.db/orders/{name}");
        b.partition(
            id,
            &orders,
            &name,
            &format!("hdfs://ns{dir}"),
            &[("numFiles", "400")],
        );
        w.data("sales", "orders", Some(&name), &dir, &vec![4096; 400]);
    }
    b.table(
        sales,
        &TableSpec::text("events", &format!("hdfs://ns{wh}/sales.db/events"))
            .param("numFiles", "3"),
    );
    w.data(
        "sales",
        "events",
        None,
        &format!("{wh}/sales.db/events"),
        &[200 * MIB, 300 * MIB, 10],
    );
    db.execute(&b.take_statements(500));
    let nn = spawn(ServerOptions::new(&root), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // A webhook receiver that records what Alertmanager delivers.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_port = hook_listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(body.0);
                    "ok"
                }
            }),
        );
        axum::serve(hook_listener, app).await.unwrap();
    });

    let (exp_port, merger_port) = (free_port(), free_port());
    std::fs::write(t.join("am.token"), "am-token-xyz\n").unwrap();
    std::fs::write(t.join("view.token"), "view-token-xyz\n").unwrap();
    let config = write_config(
        t,
        &format!(
            r#"
exporter:
  listen_address: "127.0.0.1:{exp_port}"
defaults:
  small_file_threshold: 64MiB
  scan_interval: 2s
merger:
  listen_address: "127.0.0.1:{merger_port}"
  data_dir: {data}
  dry_run: true
  auth:
    tokens:
      - {{ name: alertmanager, token_file: {tok}, role: trigger }}
      - {{ name: grafana, token_file: {view}, role: viewer }}
clusters:
  - name: prod
    metastore:
      url: {url}
    hdfs:
      namenodes: ["{nn}"]
      user: hive
"#,
            data = t.join("merger").display(),
            tok = t.join("am.token").display(),
            view = t.join("view.token").display(),
            url = db.url(),
            nn = nn.url(),
        ),
    );
    let cfg = config.to_string_lossy().into_owned();
    let mut exporter = Running::start(
        exporter_bin(),
        &["--config.file", &cfg],
        exp_port,
        &t.join("exporter.log"),
    );
    let merger_bin = sibling_binary("smallfiles-merger");
    let mut merger = Running::start(
        merger_bin.to_str().unwrap(),
        &["--config.file", &cfg],
        merger_port,
        &t.join("merger.log"),
    );
    exporter.wait_ok("/-/ready", Duration::from_secs(30)).await;
    merger.wait_ok("/-/ready", Duration::from_secs(30)).await;

    // Every metric a panel or a rule names exists in the running binaries or is recorded.
    let mut known = families(&exporter.get("/metrics").await);
    known.extend(families(&merger.get("/metrics").await));
    known.insert("up".into());
    let (recorded, rule_exprs) = rules();
    known.extend(recorded);
    // The override series are the operator's to record, as the example does.
    let example: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(repo().join("alerts/tests/overrides-example.yml")).unwrap(),
    )
    .unwrap();
    for r in example["groups"][0]["rules"].as_array().unwrap() {
        known.insert(r["record"].as_str().unwrap().to_string());
    }
    for (dash, title, expr) in queries() {
        for m in metric_names(&expr) {
            assert!(
                known.contains(&m),
                "{dash} / {title}: metric {m} is not exported by the exporter or the merger"
            );
        }
    }
    for (rule, expr) in &rule_exprs {
        for m in metric_names(expr) {
            assert!(
                known.contains(&m),
                "rule {rule}: metric {m} is not exported by the exporter or the merger"
            );
        }
    }

    // Alertmanager: the table alert to the test receiver and to the merger.
    let am_config = t.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            r#"
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - receiver: sink
      matchers: ['alertname = "HiveTableTooManySmallFiles"']
      group_by: [cluster, database, table]
      group_wait: 1s
      continue: true
    - receiver: merger
      matchers: ['alertname = "HiveTableTooManySmallFiles"']
      group_by: [cluster, database, table]
      group_wait: 1s
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/hook
  - name: merger
    webhook_configs:
      - url: http://127.0.0.1:{merger_port}/api/v1/alertmanager
        http_config:
          authorization:
            credentials_file: {tok}
"#,
            tok = t.join("am.token").display(),
        ),
    )
    .unwrap();
    let am = smallfiles_testkit::process::start_alertmanager(&am_config, t).await;
    let am_port = am.port;

    // Prometheus with the project's rules; `for:` shortened so the test need not wait an hour.
    let prom = smallfiles_testkit::process::start_prometheus(
        t,
        &[
            ("smallfiles-exporter", exp_port),
            ("smallfiles-merger", merger_port),
        ],
        Some(am_port),
    )
    .await;
    let prom_port = prom.port;
    let promurl = format!("http://127.0.0.1:{prom_port}");
    let http = reqwest::Client::new();

    // The alert reaches the test receiver with the contract's labels, and the merger.
    let start = Instant::now();
    let alert = loop {
        let got = received.lock().unwrap().clone();
        if let Some(a) = got
            .iter()
            .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["labels"]["alertname"] == "HiveTableTooManySmallFiles")
        {
            break a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the alert never arrived; prometheus log:\n{}\nalertmanager log:\n{}",
            prom.log_text(),
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(alert["status"], "firing");
    for (k, v) in [
        ("cluster", "prod"),
        ("database", "sales"),
        ("table", "orders"),
        ("severity", "warning"),
        ("job", "smallfiles-exporter"),
    ] {
        assert_eq!(alert["labels"][k], v, "{alert}");
    }
    assert!(alert["annotations"]["dashboard"]
        .as_str()
        .unwrap()
        .contains("var-table=orders"));
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("sales.orders on prod has 1.2k small files"),
        "{alert}"
    );
    // events has 1 small file of 3: no alert for it.
    assert!(!received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
        .any(|a| a["labels"]["table"] == "events"));
    // The merger made the alert's table a task and ran it (a dry run) to the end.
    let start = Instant::now();
    let task = loop {
        let tasks: serde_json::Value = http
            .get(merger.url("/api/v1/tasks"))
            .bearer_auth("view-token-xyz")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ended = tasks["tasks"].as_array().and_then(|ts| {
            ts.iter()
                .find(|t| t["state"] != "pending" && t["state"] != "running")
                .cloned()
        });
        if let Some(t) = ended {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the merger never ran the alert's task: {tasks}\n{}",
            merger.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(task["target"]["cluster"], "prod", "{task}");
    assert_eq!(task["target"]["database"], "sales", "{task}");
    assert_eq!(task["target"]["table"], "orders", "{task}");
    assert_eq!(task["requested_by"], "alertmanager", "{task}");
    assert_eq!(task["dry_run"], true, "{task}");
    assert_eq!(task["state"], "succeeded", "{task}");

    // Every panel's query, with Grafana's variables substituted, answers with series.
    let start = Instant::now();
    let mut failures;
    loop {
        failures = Vec::new();
        for (dash, title, expr) in queries() {
            let q = substitute(&expr);
            match query(&http, &promurl, &q).await {
                Ok(r) if !r.is_empty() => {}
                Ok(_) => failures.push(format!("{dash} / {title}: no series for {q}")),
                Err(e) => failures.push(format!("{dash} / {title}: {e} in {q}")),
            }
        }
        if failures.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        failures.is_empty(),
        "panels failing:\n{}",
        failures.join("\n")
    );

    // The recording rules evaluate on the same data.
    for (rule, expr) in &rule_exprs {
        if rule.contains(':') && !rule.contains("override") {
            let r = query(&http, &promurl, rule)
                .await
                .unwrap_or_else(|e| panic!("{rule}: {e} ({expr})"));
            assert!(!r.is_empty(), "recording rule {rule} has no series");
        }
    }
    let ratio = query(
        &http,
        &promurl,
        r#"smallfiles:table_small_file_ratio{table="orders"}"#,
    )
    .await
    .unwrap();
    assert_eq!(ratio[0]["value"][1], "1");
    drop(json!(null));
    nn.stop().await;
}

fn run_tool(bin: &str, args: &[&str]) {
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(repo().join("alerts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rules_pass_promtool_and_alertmanager_config_passes_amtool() {
    if !smallfiles_testkit::process::tool_available("promtool")
        || !smallfiles_testkit::process::tool_available("amtool")
    {
        return;
    }
    run_tool(
        "promtool",
        &[
            "check",
            "rules",
            "smallfiles.rules.yml",
            "smallfiles-overrides.yml",
            "tests/overrides-example.yml",
        ],
    );
    run_tool(
        "promtool",
        &[
            "test",
            "rules",
            "tests/smallfiles.test.yml",
            "tests/overrides.test.yml",
        ],
    );
    run_tool("amtool", &["check-config", "alertmanager.example.yml"]);
    run_tool(
        "promtool",
        &["check", "config", "../deploy/prometheus/prometheus.yml"],
    );
    // Every alert has a firing case in the unit tests.
    let tests = std::fs::read_to_string(repo().join("alerts/tests/smallfiles.test.yml")).unwrap();
    for (name, _) in rules().1.iter().filter(|(n, _)| !n.contains(':')) {
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "alert {name} has no promtool test"
        );
    }
}
