//! The merger's HTTP API as tests and benchmarks use it: one token, tasks submitted, read and
//! waited for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct MergerApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl MergerApi {
    pub fn new(port: u16, token: &str) -> MergerApi {
        MergerApi {
            base: format!("http://127.0.0.1:{port}"),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GETs `path` with the token and reads the JSON answer.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn task(&self, id: u64) -> Value {
        self.get_json(&format!("/api/v1/tasks/{id}")).await
    }

    /// Queues a merge of one partition; the task's id.
    pub async fn submit(&self, cluster: &str, database: &str, table: &str, partition: &str) -> u64 {
        let (status, r) = self
            .post(
                "/api/v1/tasks",
                json!({"cluster": cluster, "database": database, "table": table, "partitions": [partition]}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        r["results"][0]["task_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no task id: {r}"))
    }

    /// Polls the task until `pred` holds; panics with the task after `timeout`.
    pub async fn wait_task(
        &self,
        id: u64,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let t = self.task(id).await;
            if pred(&t) {
                return t;
            }
            assert!(start.elapsed() < timeout, "task {id} never {what}: {t:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_ended(&self, id: u64, timeout: Duration) -> Value {
        self.wait_task(id, "ended", timeout, |t| {
            matches!(
                t["state"].as_str(),
                Some("succeeded" | "failed" | "rolled_back" | "cancelled")
            )
        })
        .await
    }
}

/// Writes a merger configuration into `dir`: listening on `port`, its store in `dir/data`, a
/// cooldown of 1 s, one operator token (`token`, written to `dir/ops.token`), and `clusters`
/// (the YAML list under `clusters:`). Its path.
pub fn write_operator_config(dir: &Path, port: u16, token: &str, clusters: &str) -> PathBuf {
    std::fs::write(dir.join("ops.token"), token).unwrap();
    let config = dir.join("smallfiles.yml");
    std::fs::write(
        &config,
        format!(
            "merger:\n  listen_address: \"127.0.0.1:{port}\"\n  data_dir: {}\n  cooldown: 1s\n  auth:\n    tokens:\n      - {{ name: ops, token_file: {}, role: operator }}\nclusters:{clusters}",
            dir.join("data").display(),
            dir.join("ops.token").display()
        ),
    )
    .unwrap();
    config
}
