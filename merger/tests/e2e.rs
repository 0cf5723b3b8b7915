//! The merger binary end to end: real Alertmanager payloads and a real Alertmanager, a real
//! metastore in MariaDB/PostgreSQL (official schema from `../shared/`), redb on disk, kill -9.
//! Skips when `../shared/` is absent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};
use smallfiles_testkit::require_shared;

const AM_TOKEN: &str = "am-secret-token-0001";
const OPS_TOKEN: &str = "ops-secret-token-0002";
const VIEW_TOKEN: &str = "viewer-secret-token-0003";

struct Harness {
    _db: TestDb,
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    merger: Option<Running>,
    http: reqwest::Client,
    shared: PathBuf,
    runs: u32,
}

fn metastore(kind: MetastoreKind, shared: &Path) -> TestDb {
    let db = TestDb::create(kind, "3.1.0", shared);
    let mut b = db.builder();
    let w = "hdfs://ns/user/hive/warehouse";
    let sales = b.database("sales", &format!("{w}/sales.db"));
    let orders = TableSpec::orc("orders", &format!("{w}/sales.db/orders"))
        .partitioned_by(&[("dt", "string")]);
    let id = b.table(sales, &orders);
    for d in ["2026-11-24", "2026-11-25"] {
        b.partition(
            id,
            &orders,
            &format!("dt={d}"),
            &format!("{w}/sales.db/orders/dt={d}"),
            &[],
        );
    }
    b.table(
        sales,
        &TableSpec::text("events", &format!("{w}/sales.db/events")),
    );
    b.table(
        sales,
        &TableSpec::parquet("ext", "hdfs://ns/data/ext").external(),
    );
    b.table(sales, &TableSpec::view("v_orders"));
    db.execute(&b.take_statements(500));
    db
}

impl Harness {
    async fn start(kind: MetastoreKind, shared: &Path, extra: &str) -> Harness {
        let db = metastore(kind, shared);
        let dir = tempfile::tempdir().unwrap();
        for (f, t) in [
            ("am.token", AM_TOKEN),
            ("ops.token", OPS_TOKEN),
            ("ro.token", VIEW_TOKEN),
        ] {
            std::fs::write(dir.path().join(f), format!("{t}\n")).unwrap();
        }
        let port = free_port();
        let config = dir.path().join("smallfiles.yml");
        std::fs::write(
            &config,
            format!(
                r#"
merger:
  listen_address: "127.0.0.1:{port}"
  data_dir: {data}
  auth:
    tokens:
      - {{ name: alertmanager, token_file: {d}/am.token, role: trigger }}
      - {{ name: ops, token_file: {d}/ops.token, role: operator }}
      - {{ name: grafana, token_file: {d}/ro.token, role: viewer }}
  cooldown: 1h
{dry_run}  max_body_size: 64KiB
{extra}
clusters:
  - name: prod
    metastore:
      url: {url}
"#,
                data = dir.path().join("data").display(),
                d = dir.path().display(),
                url = db.url(),
                // Dry runs unless the test says otherwise.
                dry_run = if extra.contains("dry_run:") {
                    ""
                } else {
                    "  dry_run: true\n"
                },
            ),
        )
        .unwrap();
        let mut h = Harness {
            _db: db,
            dir,
            config,
            port,
            merger: None,
            http: reqwest::Client::new(),
            shared: shared.to_path_buf(),
            runs: 0,
        };
        h.restart().await;
        h
    }

    async fn restart(&mut self) {
        self.runs += 1;
        let log = self.dir.path().join(format!("merger-{}.log", self.runs));
        let bin = env!("CARGO_BIN_EXE_smallfiles-merger");
        let mut m = Running::start(
            bin,
            &["--config.file", &self.config.to_string_lossy()],
            self.port,
            &log,
        );
        m.wait_ok("/-/ready", Duration::from_secs(20)).await;
        self.merger = Some(m);
    }

    fn kill9(&mut self) {
        self.merger.take().expect("a running merger").kill9();
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("merger-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn fixture(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.shared.join("fixtures/alertmanager").join(name)).unwrap()
    }

    async fn task(&self, id: u64) -> Value {
        self.get(&format!("/api/v1/tasks/{id}"), VIEW_TOKEN).await.1
    }

    async fn wait_state(&self, id: u64, states: &[&str]) -> Value {
        let start = Instant::now();
        loop {
            let t = self.task(id).await;
            if states.contains(&t["state"].as_str().unwrap_or("")) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "task {id} never reached {states:?}: {t}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn all_tasks(&self) -> Vec<Value> {
        self.get("/api/v1/tasks?limit=1000", VIEW_TOKEN).await.1["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("merger logs:\n{}", self.logs());
        }
    }
}

fn alert_payload(labels: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "status": "firing", "receiver": "merger", "groupKey": "{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{ "status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-11-26T12:00:00Z",
                     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0123456789abcdef" }]
    }))
    .unwrap()
}

async fn webhooks_and_api(kind: MetastoreKind) {
    let shared = require_shared!();
    let h = Harness::start(kind, &shared, "").await;
    let hook = "/api/v1/alertmanager";

    // A table alert becomes a task; the same alert again (HA pair, repeat_interval) does not.
    let (status, body) = h
        .post(
            hook,
            Some(AM_TOKEN),
            h.fixture("contract-firing-table.json"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alerts"][0]["outcome"], "queued", "{body}");
    let events_task = body["alerts"][0]["task_id"].as_u64().unwrap();
    // Still active: a duplicate; already done (dry runs are quick): the cooldown.
    let (_, again) = h
        .post(
            hook,
            Some(AM_TOKEN),
            h.fixture("contract-firing-table.json"),
        )
        .await;
    match again["alerts"][0]["outcome"].as_str() {
        Some("duplicate") => assert_eq!(again["alerts"][0]["task_id"].as_u64(), Some(events_task)),
        Some("cooldown") => assert!(again["alerts"][0]["until"].is_string()),
        other => panic!("{other:?}: {again}"),
    }

    // 50 concurrent identical partition alerts: exactly one task (once the table's own task,
    // which overlaps every partition, has ended).
    h.wait_state(events_task, &["succeeded"]).await;
    let partition = h.fixture("contract-firing-partition.json");
    let replies =
        futures::future::join_all((0..50).map(|_| h.post(hook, Some(AM_TOKEN), partition.clone())))
            .await;
    let outcomes: Vec<&str> = replies
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, 200);
            b["alerts"][0]["outcome"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "queued").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == "duplicate" || **o == "cooldown")
            .count(),
        49
    );
    let tasks = h.all_tasks().await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let part_task = tasks
        .iter()
        .find(|t| t["target"]["partition"] == "dt=2026-11-25")
        .unwrap()["id"]
        .as_u64()
        .unwrap();

    // Resolved alerts and alerts without the contract's labels create nothing.
    let (_, r) = h
        .post(
            hook,
            Some(AM_TOKEN),
            h.fixture("contract-resolved-table.json"),
        )
        .await;
    assert_eq!(r["alerts"][0]["outcome"], "resolved_ignored");
    let (s, r) = h
        .post(
            hook,
            Some(AM_TOKEN),
            h.fixture("alertmanager-0.25.0-webhook-sample-firing.json"),
        )
        .await;
    assert_eq!(s, 200);
    for a in r["alerts"].as_array().unwrap() {
        assert_eq!(a["outcome"], "rejected");
        assert!(
            a["reason"].as_str().unwrap().contains("missing labels"),
            "{a}"
        );
    }
    let (_, r) = h
        .post(
            hook,
            Some(AM_TOKEN),
            h.fixture("alertmanager-0.25.0-webhook-sample-partially-resolved.json"),
        )
        .await;
    assert_eq!(r["alerts"][0]["outcome"], "resolved_ignored");
    assert_eq!(r["alerts"][1]["outcome"], "rejected");

    // Hostile labels are refused before anything reaches SQL; unknown tables after a lookup.
    let base =
        json!({"alertname": "HiveTableTooManySmallFiles", "cluster": "prod", "database": "sales"});
    for (k, v) in [
        ("table", "x; DROP TABLE y".to_string()),
        ("table", "../../etc".into()),
        ("table", "t".repeat(5000)),
        ("database", "sales' OR '1'='1".into()),
        ("partition", "dt=1/../../x".into()),
    ] {
        let mut labels = base.clone();
        labels["table"] = json!("orders");
        labels[k] = json!(v);
        let (s, r) = h.post(hook, Some(AM_TOKEN), alert_payload(labels)).await;
        assert_eq!(s, 200);
        assert_eq!(r["alerts"][0]["outcome"], "rejected", "{k}={v}: {r}");
    }
    let mut labels = base.clone();
    labels["table"] = json!("no_such_table");
    let (_, r) = h.post(hook, Some(AM_TOKEN), alert_payload(labels)).await;
    assert!(
        r["alerts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{r}"
    );
    let mut labels = base.clone();
    labels["table"] = json!("v_orders");
    let (_, r) = h.post(hook, Some(AM_TOKEN), alert_payload(labels)).await;
    assert!(
        r["alerts"][0]["reason"].as_str().unwrap().contains("view"),
        "{r}"
    );
    let (s, r) = h
        .post(
            hook,
            Some(AM_TOKEN),
            br#"{"version":"4","alerts":[{"status":"firing","labels":{"table":"\udc80"}}]}"#
                .to_vec(),
        )
        .await;
    assert_eq!(s, 400, "non-UTF-8 escapes are a malformed body: {r}");
    let (s, r) = h.post(hook, Some(AM_TOKEN), b"{not json".to_vec()).await;
    assert_eq!(s, 400);
    assert!(r["error"].as_str().unwrap().contains("malformed"), "{r}");
    // On its own connection: the server closes it after refusing the body.
    let resp = reqwest::Client::new()
        .post(h.url(hook))
        .bearer_auth(AM_TOKEN)
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let r: Value = resp.json().await.unwrap();
    assert!(
        r["error"].as_str().unwrap().contains("max_body_size"),
        "{r}"
    );
    assert_eq!(h.all_tasks().await.len(), 2, "nothing hostile was queued");

    // Authentication and roles, each audited.
    assert_eq!(h.post(hook, None, partition.clone()).await.0, 401);
    assert_eq!(
        h.post(hook, Some("wrong-token"), partition.clone()).await.0,
        401
    );
    assert_eq!(
        h.post(hook, Some(VIEW_TOKEN), partition.clone()).await.0,
        403
    );
    assert_eq!(
        h.post("/api/v1/tasks", Some(AM_TOKEN), b"{}".to_vec())
            .await
            .0,
        403
    );
    assert_eq!(h.get("/api/v1/audit", VIEW_TOKEN).await.0, 403);
    let (s, audit) = h.get("/api/v1/audit?limit=1000", OPS_TOKEN).await;
    assert_eq!(s, 200);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["outcome"] == "unauthorized"
        && e["who"] == "-"
        && e["peer"].as_str().unwrap().starts_with("127.0.0.1:")));
    assert!(entries
        .iter()
        .any(|e| e["outcome"] == "forbidden" && e["who"] == "grafana"));
    assert!(entries.iter().any(|e| e["action"] == "webhook"
        && e["who"] == "alertmanager"
        && e["outcome"] == "malformed"));
    assert!(
        entries
            .iter()
            .filter(|e| e["action"] == "webhook" && e["outcome"] == "ok")
            .count()
            >= 53
    );

    // The dry runs complete with the statements they would have run.
    let t = h.wait_state(part_task, &["succeeded"]).await;
    assert_eq!(t["resolved_strategy"], "concatenate");
    let log: Vec<&str> = t["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(log.contains(&"dry run, not executed: ALTER TABLE `sales`.`orders` PARTITION (`dt`='2026-11-25') CONCATENATE"), "{log:?}");
    let t = h.wait_state(events_task, &["succeeded"]).await;
    assert_eq!(t["resolved_strategy"], "insert_overwrite");
    assert!(t["statements"].as_array().unwrap().iter().any(|s| s
        .as_str()
        .unwrap()
        .starts_with("CREATE EXTERNAL TABLE `sales`.`smallfiles_task_")
        && s.as_str().unwrap().contains(
            "LIKE `sales`.`events` LOCATION 'hdfs://ns/user/hive/warehouse/sales.db/events_smallfiles_task_"
        )));
    assert!(t["statements"].as_array().unwrap().iter().any(|s| s
        .as_str()
        .unwrap()
        .starts_with("INSERT OVERWRITE TABLE `sales`.`smallfiles_task_")));

    // A manual task, named as the operator typed it, stored as the metastore spells it.
    let (s, r) = h.post("/api/v1/tasks", Some(OPS_TOKEN), serde_json::to_vec(&json!({"cluster": "prod", "database": "SALES", "table": "Orders", "partitions": ["dt=2026-11-24"], "strategy": "concatenate"})).unwrap()).await;
    assert_eq!(s, 201, "{r}");
    let manual = r["results"][0]["task_id"].as_u64().unwrap();
    let t = h.task(manual).await;
    assert_eq!(
        (
            t["target"]["database"].as_str(),
            t["target"]["table"].as_str()
        ),
        (Some("sales"), Some("orders"))
    );
    assert_eq!(t["requested_by"], "ops");
    let (s, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "ext"}))
                .unwrap(),
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        r["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("external"),
        "{r}"
    );
    let (s, _) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "x`y"}))
                .unwrap(),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = h
        .post("/api/v1/tasks", Some(OPS_TOKEN), b"[]".to_vec())
        .await;
    assert_eq!(s, 400);
    h.wait_state(manual, &["succeeded"]).await;
    assert_eq!(
        h.post(
            &format!("/api/v1/tasks/{manual}/cancel"),
            Some(OPS_TOKEN),
            vec![]
        )
        .await
        .0,
        409
    );
    assert_eq!(
        h.post(
            &format!("/api/v1/tasks/{manual}/retry"),
            Some(OPS_TOKEN),
            vec![]
        )
        .await
        .0,
        409
    );
    assert_eq!(
        h.post("/api/v1/tasks/999999/cancel", Some(OPS_TOKEN), vec![])
            .await
            .0,
        404
    );

    // Filters and paging.
    let (_, r) = h
        .get("/api/v1/tasks?table=orders&state=succeeded", VIEW_TOKEN)
        .await;
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2);
    let (_, r) = h.get("/api/v1/tasks?limit=1", VIEW_TOKEN).await;
    let next = r["next_before"].as_u64().unwrap();
    let (_, r2) = h
        .get(&format!("/api/v1/tasks?limit=1&before={next}"), VIEW_TOKEN)
        .await;
    assert!(r2["tasks"][0]["id"].as_u64().unwrap() < next);
    assert_eq!(h.get("/api/v1/tasks?state=bogus", VIEW_TOKEN).await.0, 400);

    // Metrics, promtool-clean; secrets in no log.
    let page = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = smallfiles_testkit::prom::parse(&page);
    let v = |n: &str, l: &[(&str, &str)]| smallfiles_testkit::prom::value(&samples, n, l);
    assert_eq!(
        v("smallfiles_merge_tasks", &[("state", "succeeded")]),
        Some(3.0)
    );
    assert_eq!(
        v(
            "smallfiles_merge_tasks_total",
            &[
                ("cluster", "prod"),
                ("strategy", "concatenate"),
                ("outcome", "succeeded")
            ]
        ),
        Some(2.0)
    );
    assert!(
        v(
            "smallfiles_merge_alerts_received_total",
            &[("outcome", "duplicate")]
        )
        .unwrap()
            + v(
                "smallfiles_merge_alerts_received_total",
                &[("outcome", "cooldown")]
            )
            .unwrap()
            >= 50.0
    );
    assert_eq!(
        v(
            "smallfiles_merge_table_tasks_total",
            &[
                ("cluster", "prod"),
                ("database", "sales"),
                ("table", "events"),
                ("outcome", "succeeded")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(v("smallfiles_merge_queue_oldest_seconds", &[]), Some(0.0));
    smallfiles_testkit::process::promtool_check_metrics(&page);
    let logs = h.logs();
    for secret in [AM_TOKEN, OPS_TOKEN, VIEW_TOKEN] {
        assert!(!logs.contains(secret), "a token reached the log");
        assert!(!page.contains(secret));
        assert!(!audit.to_string().contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_api_on_mariadb() {
    webhooks_and_api(MetastoreKind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_api_on_postgres() {
    webhooks_and_api(MetastoreKind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_running_then_recovery_limits_cancel_and_retry() {
    let shared = require_shared!();
    let mut h = Harness::start(
        MetastoreKind::Mysql,
        &shared,
        "  dry_run_statement_delay: 2s\n  concurrency: { global: 4, per_cluster: 1 }",
    )
    .await;
    let (_, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "orders"}))
                .unwrap(),
        )
        .await;
    let first = r["results"][0]["task_id"].as_u64().unwrap();
    let (_, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "events"}))
                .unwrap(),
        )
        .await;
    let second = r["results"][0]["task_id"].as_u64().unwrap();
    let t = h.wait_state(first, &["running"]).await;
    assert_eq!(
        t["statements"].as_array().unwrap().len(),
        2,
        "a table-level task merges every partition"
    );
    // One per cluster: the second waits while the first runs.
    assert_eq!(h.task(second).await["state"], "pending");

    h.kill9();
    h.restart().await;
    let t = h.task(first).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(t["reason"].as_str().unwrap().contains("interrupted"), "{t}");
    let log: Vec<&str> = t["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        log.iter()
            .any(|l| l.contains("the merger stopped while the task was running")),
        "{log:?}"
    );
    // Nothing lost, nothing duplicated; the queued task carries on.
    assert_eq!(h.all_tasks().await.len(), 2);
    let t = h.wait_state(second, &["running"]).await;
    assert_eq!(t["target"]["table"], "events");

    // Cancel a running task through its engine.
    let (s, _) = h
        .post(
            &format!("/api/v1/tasks/{second}/cancel"),
            Some(OPS_TOKEN),
            vec![],
        )
        .await;
    assert_eq!(s, 200);
    let t = h.wait_state(second, &["cancelled"]).await;
    assert!(t["log"].as_array().unwrap().iter().any(|l| l["message"]
        .as_str()
        .unwrap()
        .contains("cancel requested by ops")));

    // Retry the interrupted task: a fresh id linked to the old one.
    let (s, r) = h
        .post(
            &format!("/api/v1/tasks/{first}/retry"),
            Some(OPS_TOKEN),
            vec![],
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let retry = r["task_id"].as_u64().unwrap();
    assert_ne!(retry, first);
    assert_eq!(h.task(retry).await["retry_of"].as_u64(), Some(first));
    assert_eq!(h.task(first).await["retried_by"].as_u64(), Some(retry));
    assert_eq!(
        h.post(
            &format!("/api/v1/tasks/{first}/retry"),
            Some(OPS_TOKEN),
            vec![]
        )
        .await
        .0,
        409,
        "retried once only"
    );
    h.wait_state(retry, &["succeeded"]).await;
    assert_eq!(h.all_tasks().await.len(), 3);

    // The offline CLI reads the same store once the merger is stopped.
    h.kill9();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smallfiles-merger"))
        .args([
            "--config.file",
            &h.config.to_string_lossy(),
            "tasks",
            "list",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains("cancelled") && text.contains("succeeded") && text.contains("failed"),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smallfiles-merger"))
        .args([
            "--config.file",
            &h.config.to_string_lossy(),
            "tasks",
            "show",
            &first.to_string(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted"));
}

/// The very first failed merge after a start fires `SmallFilesMergeFailed` on a real Prometheus
/// with the project's rules: the counter exists at 0 before it, so `increase()` sees the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_failed_merge_fires_the_alert() {
    let shared = require_shared!();
    if !smallfiles_testkit::process::tool_available("prometheus") {
        return;
    }
    // Real merges, on a cluster with no HiveServer2: every merge fails.
    let h = Harness::start(MetastoreKind::Postgres, &shared, "  dry_run: false").await;
    let prom = smallfiles_testkit::process::start_prometheus(
        h.dir.path(),
        &[("smallfiles-merger", h.port)],
        None,
    )
    .await;
    let query = |q: String| {
        let url = prom.url("/api/v1/query");
        let http = h.http.clone();
        async move {
            let r: Value = http
                .get(url)
                .query(&[("query", q)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["data"]["result"].as_array().cloned().unwrap_or_default()
        }
    };
    let series = "smallfiles_merge_tasks_total{cluster=\"prod\",strategy=\"insert_overwrite\",outcome=\"failed\"}";
    // Prometheus has seen the counter at 0 before anything failed.
    let start = Instant::now();
    while query(format!("count_over_time({series}[1m]) >= 2"))
        .await
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never scraped at 0:\n{}",
            prom.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (s, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "events"}))
                .unwrap(),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let id = r["results"][0]["task_id"].as_u64().unwrap();
    let t = h.wait_state(id, &["failed"]).await;
    assert_eq!(t["resolved_strategy"], "insert_overwrite", "{t}");
    let start = Instant::now();
    let alert = loop {
        let alerts =
            query("ALERTS{alertname=\"SmallFilesMergeFailed\",alertstate=\"firing\"}".into()).await;
        if let Some(a) = alerts.first() {
            break a.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "SmallFilesMergeFailed never fired; the series: {:?}",
            query(series.to_string()).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(alert["metric"]["cluster"], "prod", "{alert}");
    assert_eq!(alert["metric"]["outcome"], "failed", "{alert}");
    assert_eq!(alert["metric"]["strategy"], "insert_overwrite", "{alert}");
    // The failure's reason, and the table's own counter, existed at 0 too.
    let page = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("smallfiles_merge_failures_total{cluster=\"prod\",reason=\"config\"} 1"),
        "{page}"
    );
    assert!(
        page.contains("smallfiles_merge_failures_total{cluster=\"prod\",reason=\"compaction\"} 0"),
        "{page}"
    );
    assert!(page.contains("smallfiles_merge_table_tasks_total{cluster=\"prod\",database=\"sales\",table=\"events\",outcome=\"succeeded\"} 0"), "{page}");
    assert!(
        page.contains("smallfiles_merge_tasks{cluster=\"prod\",state=\"failed\"} 1"),
        "{page}"
    );
    assert!(
        page.contains("smallfiles_merge_queue_oldest_seconds{cluster=\"prod\"} 0"),
        "{page}"
    );
}

/// A task for a table and a task for one of its partitions would merge the same data: while
/// one is active the other is a duplicate, from the API and from webhooks, in both directions
/// and across a restart; tasks of other partitions and tables are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_targets_exclude_each_other() {
    let shared = require_shared!();
    // Closed windows keep every task queued (active) for the whole test.
    let now = chrono::Utc::now();
    let start = (now + chrono::Duration::hours(2)).format("%H:00");
    let end = (now + chrono::Duration::hours(3)).format("%H:00");
    let mut h = Harness::start(
        MetastoreKind::Mysql,
        &shared,
        &format!("  windows: [\"{start}-{end}\"]\n  timezone: UTC"),
    )
    .await;
    let submit = |table: &str, partition: Option<&str>| {
        let mut body = json!({"cluster": "prod", "database": "sales", "table": table});
        if let Some(p) = partition {
            body["partitions"] = json!([p]);
        }
        serde_json::to_vec(&body).unwrap()
    };
    let outcome = |r: &Value| {
        (
            r["results"][0]["outcome"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            r["results"][0]["task_id"].as_u64(),
        )
    };
    let (s, r) = h
        .post("/api/v1/tasks", Some(OPS_TOKEN), submit("orders", None))
        .await;
    assert_eq!(s, 201, "{r}");
    let table_task = r["results"][0]["task_id"].as_u64().unwrap();
    // A partition of that table: the table's task is returned.
    let (_, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            submit("orders", Some("dt=2026-11-24")),
        )
        .await;
    assert_eq!(outcome(&r), ("duplicate".into(), Some(table_task)), "{r}");
    let labels = json!({"alertname": "HiveTableTooManySmallFiles", "cluster": "prod", "database": "sales", "table": "orders", "partition": "dt=2026-11-25"});
    let (s, r) = h
        .post(
            "/api/v1/alertmanager",
            Some(AM_TOKEN),
            alert_payload(labels.clone()),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["alerts"][0]["outcome"], "duplicate", "{r}");
    assert_eq!(r["alerts"][0]["task_id"].as_u64(), Some(table_task), "{r}");
    assert_eq!(h.all_tasks().await.len(), 1);

    // The other direction: a partition task first, then its table.
    h.kill9();
    h.restart().await;
    let (s, r) = h
        .post(
            "/api/v1/tasks/{table_task}/cancel"
                .replace("{table_task}", &table_task.to_string())
                .as_str(),
            Some(OPS_TOKEN),
            vec![],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = h
        .post(
            "/api/v1/alertmanager",
            Some(AM_TOKEN),
            alert_payload(labels),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["alerts"][0]["outcome"], "queued", "{r}");
    let part_task = r["alerts"][0]["task_id"].as_u64().unwrap();
    h.kill9();
    h.restart().await;
    let (_, r) = h
        .post("/api/v1/tasks", Some(OPS_TOKEN), submit("orders", None))
        .await;
    assert_eq!(outcome(&r), ("duplicate".into(), Some(part_task)), "{r}");
    let (_, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            submit("orders", Some("dt=2026-11-25")),
        )
        .await;
    assert_eq!(outcome(&r), ("duplicate".into(), Some(part_task)), "{r}");
    // Another partition of the same table, and another table, are not held up.
    let (s, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            submit("orders", Some("dt=2026-11-24")),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = h
        .post("/api/v1/tasks", Some(OPS_TOKEN), submit("events", None))
        .await;
    assert_eq!(s, 201, "{r}");
    let active: Vec<Value> = h
        .all_tasks()
        .await
        .into_iter()
        .filter(|t| t["state"] != "cancelled")
        .collect();
    assert_eq!(active.len(), 3, "{active:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_wait_outside_the_merge_windows() {
    let shared = require_shared!();
    // A window that is certainly closed now: an hour that starts two hours from now.
    let now = chrono::Utc::now();
    let start = (now + chrono::Duration::hours(2))
        .format("%H:00")
        .to_string();
    let end = (now + chrono::Duration::hours(3))
        .format("%H:00")
        .to_string();
    let h = Harness::start(
        MetastoreKind::Postgres,
        &shared,
        &format!("  windows: [\"{start}-{end}\"]\n  timezone: UTC"),
    )
    .await;
    let (_, r) = h
        .post(
            "/api/v1/tasks",
            Some(OPS_TOKEN),
            serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "events"}))
                .unwrap(),
        )
        .await;
    let id = r["results"][0]["task_id"].as_u64().unwrap();
    h.wait_state(id, &["waiting_window"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.task(id).await["state"], "waiting_window");
    let page = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let oldest = smallfiles_testkit::prom::value(
        &smallfiles_testkit::prom::parse(&page),
        "smallfiles_merge_queue_oldest_seconds",
        &[],
    )
    .unwrap();
    assert!(oldest >= 2.0, "{oldest}");
    // Cancelling a waiting task ends it at once.
    assert_eq!(
        h.post(
            &format!("/api/v1/tasks/{id}/cancel"),
            Some(OPS_TOKEN),
            vec![]
        )
        .await
        .0,
        200
    );
    assert_eq!(h.task(id).await["state"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_delivers_to_the_merger() {
    let shared = require_shared!();
    if !smallfiles_testkit::process::tool_available("prometheus-alertmanager") {
        return;
    }
    let h = Harness::start(MetastoreKind::Mysql, &shared, "").await;
    let am_config = h.dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            r#"
route:
  receiver: merger
  group_by: [cluster, database, table]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: merger
    webhook_configs:
      - url: http://127.0.0.1:{}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: {}
"#,
            h.port,
            h.dir.path().join("am.token").display()
        ),
    )
    .unwrap();
    let am = smallfiles_testkit::process::start_alertmanager(&am_config, h.dir.path()).await;
    let alert = json!([{ "labels": { "alertname": "HiveTableTooManySmallFiles", "cluster": "prod", "database": "sales", "table": "orders", "partition": "dt=2026-11-24", "severity": "warning" }, "annotations": { "summary": "test" } }]);
    let resp = h
        .http
        .post(am.url("/api/v2/alerts"))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let start = Instant::now();
    let task = loop {
        let tasks = h.all_tasks().await;
        if let Some(t) = tasks.first() {
            break t.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Alertmanager never delivered: {}",
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task["target"]["partition"], "dt=2026-11-24");
    assert_eq!(task["requested_by"], "alertmanager");
    assert!(task["alert_fingerprint"]
        .as_str()
        .is_some_and(|f| f.len() == 16));
}
