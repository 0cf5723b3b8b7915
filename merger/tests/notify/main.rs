//! Notifications end to end: the merger binary forwarding Alertmanager groups to a DingTalk
//! test endpoint that checks signatures and limits exactly as DingTalk documents them, and a
//! real Alertmanager through the bridge (`dingtalk.rs`); email to a real SMTP server (aiosmtpd
//! from PyPI), plain and over TLS (`email.rs`). Here: the merger with notifications configured
//! and what both share.

mod dingtalk;
mod email;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use smallfiles_testkit::process::{free_port, Running};

pub const TOKEN: &str = "bridge-token-4242";
pub const ACCESS: &str = "robot-access-token-777";
pub const SECRET: &str = "SEC-robot-signing-secret-999";

pub fn alert_group(names: &[String], description: &str) -> Vec<u8> {
    let alerts: Vec<Value> = names
        .iter()
        .map(|n| json!({ "status": "firing", "labels": { "alertname": n, "cluster": "prod", "severity": "critical" },
                         "annotations": { "summary": format!("{n} is firing"), "description": description, "dashboard": "/d/smallfiles-overview/x?var-cluster=prod" },
                         "startsAt": "2026-11-26T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0000000000000001" }))
        .collect();
    serde_json::to_vec(&json!({ "version": "4", "status": "firing", "receiver": "dingtalk", "groupKey": "{}", "alerts": alerts, "externalURL": "http://am" })).unwrap()
}

pub struct Merger {
    pub run: Running,
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub port: u16,
    pub runs: u32,
}

impl Merger {
    pub async fn start(notify: &str, clusters: &str, extra_merger: &str) -> Merger {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(dir.path().join("dingtalk.secret"), format!("{SECRET}\n")).unwrap();
        let port = free_port();
        let config = dir.path().join("smallfiles.yml");
        std::fs::write(
            &config,
            format!(
                "merger:\n  listen_address: \"127.0.0.1:{port}\"\n  data_dir: {}\n  dry_run: true\n  auth:\n    tokens:\n      - {{ name: am, token_file: {}, role: operator }}\n{extra_merger}\n{notify}\n{clusters}\n",
                dir.path().join("data").display(),
                dir.path().join("t").display()
            ),
        )
        .unwrap();
        let run = Merger::spawn(&config, port, dir.path(), 1).await;
        Merger {
            run,
            dir,
            config,
            port,
            runs: 1,
        }
    }

    pub async fn spawn(config: &Path, port: u16, dir: &Path, n: u32) -> Running {
        let mut r = Running::start(
            env!("CARGO_BIN_EXE_smallfiles-merger"),
            &["--config.file", &config.to_string_lossy()],
            port,
            &dir.join(format!("merger-{n}.log")),
        );
        r.wait_ok("/-/ready", Duration::from_secs(20)).await;
        r
    }

    pub async fn restart(&mut self) {
        self.runs += 1;
        let _ = self.run.child.kill();
        let _ = self.run.child.wait();
        self.run = Merger::spawn(&self.config, self.port, self.dir.path(), self.runs).await;
    }

    pub fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("merger-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.run.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn metric(&self, outcome: &str) -> f64 {
        let page = self.run.get("/metrics").await;
        smallfiles_testkit::prom::value(
            &smallfiles_testkit::prom::parse(&page),
            "smallfiles_notifications_total",
            &[("channel", "dingtalk"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
    }
}

pub fn robot_config(webhook: &str, secret_file: &Path, window: &str) -> String {
    format!(
        "notify:\n  dingtalk:\n    - name: ops-robot\n      webhook: \"{webhook}\"\n      secret_file: {}\n      at_mobiles: [\"13800000000\"]\n      rate_limit: 20\n      rate_window: {window}\n      throttle: {window}\n  grafana_url: http://grafana.example.com",
        secret_file.display()
    )
}

pub const WAREHOUSE: &str = "clusters:\n  - name: prod\n    warehouse: file:///nonexistent";

pub fn texts(msgs: &[Value]) -> String {
    msgs.iter()
        .map(|m| m["markdown"]["text"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
