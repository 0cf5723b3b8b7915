//! The merger binary end to end: real Alertmanager payloads and a real Alertmanager, a real
//! metastore in MariaDB and PostgreSQL (official schema from `../shared/`), redb on disk,
//! kill -9. The API over both databases is in `api.rs`, a task's life (crash and recovery,
//! limits, the first failure's alert, overlaps, windows, a real Alertmanager) in
//! `lifecycle.rs`; here, the merger under test. Skips when `../shared/` is absent.

mod api;
mod lifecycle;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::metastore::{TableSpec, TestDb};
use smallfiles_testkit::process::{free_port, Running};

pub const AM_TOKEN: &str = "am-secret-token-0001";
pub const OPS_TOKEN: &str = "ops-secret-token-0002";
pub const VIEW_TOKEN: &str = "viewer-secret-token-0003";

pub struct Harness {
    pub _db: TestDb,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    pub merger: Option<Running>,
    pub http: reqwest::Client,
    pub shared: PathBuf,
    pub runs: u32,
}

pub fn metastore(kind: MetastoreKind, shared: &Path) -> TestDb {
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
    pub async fn start(kind: MetastoreKind, shared: &Path, extra: &str) -> Harness {
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

    pub async fn restart(&mut self) {
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

    pub fn kill9(&mut self) {
        self.merger.take().expect("a running merger").kill9();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("merger-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
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

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
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

    pub fn fixture(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.shared.join("fixtures/alertmanager").join(name)).unwrap()
    }

    pub async fn task(&self, id: u64) -> Value {
        self.get(&format!("/api/v1/tasks/{id}"), VIEW_TOKEN).await.1
    }

    pub async fn wait_state(&self, id: u64, states: &[&str]) -> Value {
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

    pub async fn all_tasks(&self) -> Vec<Value> {
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

pub fn alert_payload(labels: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "4", "status": "firing", "receiver": "merger", "groupKey": "{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
        "alerts": [{ "status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-11-26T12:00:00Z",
                     "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0123456789abcdef" }]
    }))
    .unwrap()
}
