//! Notifications end to end: the merger binary forwarding Alertmanager groups to a DingTalk
//! test endpoint that checks signatures and limits exactly as DingTalk documents them, email to
//! a real SMTP server (aiosmtpd from PyPI), and a real Alertmanager through the bridge.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smallfiles_testkit::dingtalk::{DingTalkServer, RobotOptions};
use smallfiles_testkit::process::{free_port, Running};

const TOKEN: &str = "bridge-token-4242";
const ACCESS: &str = "robot-access-token-777";
const SECRET: &str = "SEC-robot-signing-secret-999";

fn alert_group(names: &[String], description: &str) -> Vec<u8> {
    let alerts: Vec<Value> = names
        .iter()
        .map(|n| json!({ "status": "firing", "labels": { "alertname": n, "cluster": "prod", "severity": "critical" },
                         "annotations": { "summary": format!("{n} is firing"), "description": description, "dashboard": "/d/smallfiles-overview/x?var-cluster=prod" },
                         "startsAt": "2026-11-26T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0000000000000001" }))
        .collect();
    serde_json::to_vec(&json!({ "version": "4", "status": "firing", "receiver": "dingtalk", "groupKey": "{}", "alerts": alerts, "externalURL": "http://am" })).unwrap()
}

struct Merger {
    run: Running,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    port: u16,
    runs: u32,
}

impl Merger {
    async fn start(notify: &str, clusters: &str, extra_merger: &str) -> Merger {
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

    async fn spawn(config: &Path, port: u16, dir: &Path, n: u32) -> Running {
        let mut r = Running::start(
            env!("CARGO_BIN_EXE_smallfiles-merger"),
            &["--config.file", &config.to_string_lossy()],
            port,
            &dir.join(format!("merger-{n}.log")),
        );
        r.wait_ok("/-/ready", Duration::from_secs(20)).await;
        r
    }

    async fn restart(&mut self) {
        self.runs += 1;
        let _ = self.run.child.kill();
        let _ = self.run.child.wait();
        self.run = Merger::spawn(&self.config, self.port, self.dir.path(), self.runs).await;
    }

    fn logs(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("merger-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
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

    async fn metric(&self, outcome: &str) -> f64 {
        let page = self.run.get("/metrics").await;
        smallfiles_testkit::prom::value(
            &smallfiles_testkit::prom::parse(&page),
            "smallfiles_notifications_total",
            &[("channel", "dingtalk"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
    }
}

fn robot_config(webhook: &str, secret_file: &Path, window: &str) -> String {
    format!(
        "notify:\n  dingtalk:\n    - name: ops-robot\n      webhook: \"{webhook}\"\n      secret_file: {}\n      at_mobiles: [\"13800000000\"]\n      rate_limit: 20\n      rate_window: {window}\n      throttle: {window}\n  grafana_url: http://grafana.example.com",
        secret_file.display()
    )
}

const WAREHOUSE: &str = "clusters:\n  - name: prod\n    warehouse: file:///nonexistent";

fn texts(msgs: &[Value]) -> String {
    msgs.iter()
        .map(|m| m["markdown"]["text"].as_str().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dingtalk_bridge_limits_aggregation_retries_and_restarts() {
    // The robot allows 20 messages per 3 s window here, as DingTalk allows 20 a minute.
    let ding = DingTalkServer::start(vec![(
        ACCESS,
        RobotOptions {
            per_window: 20,
            window: Duration::from_secs(3),
            throttle: Duration::from_secs(3),
            ..RobotOptions::signed(SECRET)
        },
    )])
    .await;
    let placeholder = tempfile::tempdir().unwrap();
    let secret_path = placeholder.path().join("s");
    std::fs::write(&secret_path, SECRET).unwrap();
    let mut m = Merger::start(
        &robot_config(&ding.webhook(ACCESS), &secret_path, "3s"),
        WAREHOUSE,
        "",
    )
    .await;

    // A burst of 100 alert groups: nothing lost, never over the limit, aggregated.
    let names: Vec<String> = (0..100).map(|i| format!("BurstAlert{i:03}")).collect();
    for n in &names {
        let (s, r) = m
            .post(
                "/api/v1/dingtalk/ops-robot",
                alert_group(std::slice::from_ref(n), "burst"),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let start = Instant::now();
    loop {
        let all = texts(&ding.accepted(ACCESS));
        if names.iter().all(|n| all.contains(n.as_str())) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not all alerts delivered: {} messages",
            ding.accepted(ACCESS).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted = ding.accepted(ACCESS);
    assert!(
        accepted.len() < 100,
        "aggregated: {} messages for 100 alerts",
        accepted.len()
    );
    assert!(
        ding.rejections().iter().all(|(code, _)| *code != 130101),
        "the robot was never throttled: {:?}",
        ding.rejections()
    );
    assert!(m.metric("aggregated").await > 0.0);
    let first = &accepted[0];
    assert_eq!(first["msgtype"], "markdown");
    assert_eq!(first["at"]["atMobiles"][0], "13800000000");
    assert!(first["markdown"]["text"].as_str().unwrap().contains(
        "[Dashboard](http://grafana.example.com/d/smallfiles-overview/x?var-cluster=prod)"
    ));

    // DingTalk failing: retried with backoff until it answers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ding.fail_next(2);
    let before = ding.accepted(ACCESS).len();
    m.post(
        "/api/v1/dingtalk/ops-robot",
        alert_group(&["AfterFailure".to_string()], "retry"),
    )
    .await;
    let start = Instant::now();
    while !texts(&ding.accepted(ACCESS)[before..]).contains("AfterFailure") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never delivered after failures"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(m.metric("failed").await >= 2.0);

    // A body over 20,000 bytes is cut with a note, not refused.
    m.post(
        "/api/v1/dingtalk/ops-robot",
        alert_group(&["HugeAlert".to_string()], &"x".repeat(30_000)),
    )
    .await;
    let start = Instant::now();
    let huge = loop {
        if let Some(h) = ding.accepted(ACCESS).into_iter().find(|x| {
            x["markdown"]["text"]
                .as_str()
                .unwrap()
                .contains("HugeAlert")
        }) {
            break h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "huge message never delivered: {:?}",
            ding.rejections()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(serde_json::to_vec(&huge).unwrap().len() <= 20_000);
    assert!(huge["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    assert!(!ding.rejections().iter().any(|(c, _)| *c == 460101));

    // Pending notifications survive a restart.
    ding.fail_next(1_000_000);
    m.post(
        "/api/v1/dingtalk/ops-robot",
        alert_group(&["SurvivesRestart".to_string()], "persist"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    m.restart().await;
    ding.fail_next(0);
    let start = Instant::now();
    while !texts(&ding.accepted(ACCESS)).contains("SurvivesRestart") {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the pending message was lost in the restart"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Bad requests; secrets nowhere.
    assert_eq!(
        m.post("/api/v1/dingtalk/nope", alert_group(&["x".to_string()], ""))
            .await
            .0,
        404
    );
    assert_eq!(
        m.post("/api/v1/dingtalk/ops-robot", b"{".to_vec()).await.0,
        400
    );
    let page = m.run.get("/metrics").await;
    for secret in [ACCESS, SECRET, TOKEN] {
        assert!(!m.logs().contains(secret), "a secret reached the log");
        assert!(!page.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_secret_is_refused_and_reported_without_secrets() {
    let ding =
        DingTalkServer::start(vec![(ACCESS, RobotOptions::signed("the-right-secret"))]).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, SECRET).unwrap();
    let m = Merger::start(
        &robot_config(&ding.webhook(ACCESS), &wrong, "60s"),
        WAREHOUSE,
        "",
    )
    .await;
    m.post(
        "/api/v1/dingtalk/ops-robot",
        alert_group(&["Signed".to_string()], "x"),
    )
    .await;
    let start = Instant::now();
    while m.metric("failed").await < 1.0 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ding.accepted(ACCESS).is_empty());
    assert!(
        ding.rejections().iter().any(|(c, _)| *c == 310000),
        "{:?}",
        ding.rejections()
    );
    let logs = m.logs();
    assert!(
        logs.contains("errcode 310000"),
        "the failure is logged: {logs}"
    );
    assert!(!logs.contains(ACCESS) && !logs.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_notifies_dingtalk_through_the_bridge() {
    if !smallfiles_testkit::process::tool_available("prometheus-alertmanager") {
        return;
    }
    let ding = DingTalkServer::start(vec![(ACCESS, RobotOptions::signed(SECRET))]).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("s");
    std::fs::write(&secret, SECRET).unwrap();
    let m = Merger::start(
        &robot_config(&ding.webhook(ACCESS), &secret, "60s"),
        WAREHOUSE,
        "",
    )
    .await;
    let am_config = dir.path().join("am.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: ding\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\nreceivers:\n  - name: ding\n    webhook_configs:\n      - url: http://127.0.0.1:{}/api/v1/dingtalk/ops-robot\n        http_config:\n          authorization:\n            credentials_file: {}\n",
            m.port,
            m.dir.path().join("t").display()
        ),
    )
    .unwrap();
    let am = smallfiles_testkit::process::start_alertmanager(&am_config, dir.path()).await;
    let alert = json!([{ "labels": { "alertname": "SmallFilesHdfsDown", "cluster": "prod", "severity": "critical" }, "annotations": { "summary": "No NameNode of prod answers" } }]);
    reqwest::Client::new()
        .post(am.url("/api/v2/alerts"))
        .json(&alert)
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let t = texts(&ding.accepted(ACCESS));
        if t.contains("SmallFilesHdfsDown") {
            assert!(
                t.contains("No NameNode of prod answers") && t.contains("FIRING"),
                "{t}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing reached DingTalk: {}",
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs Python's aiosmtpd with a Maildir handler; None when it is not installed (outside CI).
fn smtp_server(dir: &Path) -> Option<(Running, u16)> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install aiosmtpd (pip)"
        );
        eprintln!("SKIPPED: aiosmtpd is not installed (pip install aiosmtpd)");
        return None;
    }
    let port = free_port();
    let maildir = dir.join("maildir");
    let run = Running::start(
        "python3",
        &[
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            &maildir.to_string_lossy(),
        ],
        port,
        &dir.join("smtp.log"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((run, port))
}

/// Parses the delivered messages with Python's email package: headers and decoded parts.
fn mails(dir: &Path) -> Vec<Value> {
    let script = r#"
import json, mailbox, sys
out = []
for msg in mailbox.Maildir(sys.argv[1], create=False):
    parts = [{"type": p.get_content_type(), "text": p.get_payload(decode=True).decode("utf-8")} for p in msg.walk() if not p.is_multipart()]
    out.append({"from": msg["From"], "to": msg["To"], "subject": str(msg["Subject"]), "content_type": msg.get_content_type(), "parts": parts})
print(json.dumps(out))
"#;
    let maildir = dir.join("maildir");
    if !maildir.exists() {
        return Vec::new();
    }
    let out = std::process::Command::new("python3")
        .args(["-c", script, &maildir.to_string_lossy()])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_for_task_outcomes_and_the_digest() {
    let shared = smallfiles_testkit::require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let Some((_smtp, smtp_port)) = smtp_server(dir.path()) else {
        return;
    };
    let db = smallfiles_testkit::metastore::TestDb::create(
        smallfiles_cluster::config::MetastoreKind::Mysql,
        "3.1.0",
        &shared,
    );
    let mut b = db.builder();
    let d = b.database("sales", "hdfs://ns/w/sales.db");
    b.table(
        d,
        &smallfiles_testkit::metastore::TableSpec::orc("orders", "hdfs://ns/w/sales.db/orders"),
    );
    db.execute(&b.take_statements(100));
    let notify = format!(
        "notify:\n  email:\n    smtp: {{ host: 127.0.0.1, port: {smtp_port} }}\n    from: \"smallfiles <smallfiles@example.com>\"\n    to: [bigdata-ops@example.com, oncall@example.com]\n  events: [task_failed, task_succeeded, daily_digest]"
    );
    let clusters = format!(
        "clusters:\n  - name: prod\n    metastore:\n      url: {}",
        db.url()
    );
    let m = Merger::start(&notify, &clusters, "").await;
    let (s, r) = m.post("/api/v1/tasks", serde_json::to_vec(&json!({"cluster": "prod", "database": "sales", "table": "orders", "dry_run": true})).unwrap()).await;
    assert_eq!(s, 201, "{r}");
    let start = Instant::now();
    let mail = loop {
        if let Some(x) = mails(dir.path()).into_iter().find(|x| {
            x["subject"]
                .as_str()
                .unwrap_or("")
                .contains("merge succeeded")
        }) {
            break x;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no email arrived:\n{}",
            m.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(mail["from"], "smallfiles <smallfiles@example.com>");
    let to = mail["to"].as_str().unwrap();
    assert!(
        to.contains("bigdata-ops@example.com") && to.contains("oncall@example.com"),
        "{to}"
    );
    assert_eq!(
        mail["subject"],
        "[smallfiles] merge succeeded prod: sales.orders"
    );
    assert_eq!(mail["content_type"], "multipart/alternative");
    let parts = mail["parts"].as_array().unwrap();
    let plain = parts
        .iter()
        .find(|p| p["type"] == "text/plain")
        .expect("a plain-text part")["text"]
        .as_str()
        .unwrap()
        .to_string();
    let html = parts
        .iter()
        .find(|p| p["type"] == "text/html")
        .expect("an HTML part")["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        plain.contains("### Merge succeeded: sales.orders")
            && plain.contains("strategy: concatenate"),
        "{plain}"
    );
    assert!(
        html.contains("<h3>Merge succeeded: sales.orders</h3>")
            && html.contains("<li>strategy: concatenate"),
        "{html}"
    );

    // The digest, on demand.
    let (s, r) = m.post("/api/v1/notify/digest", vec![]).await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["text"].as_str().unwrap().contains("merges succeeded: 1"),
        "{r}"
    );
    let start = Instant::now();
    while !mails(dir.path())
        .iter()
        .any(|x| x["subject"].as_str().unwrap_or("").contains("daily digest"))
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no digest email");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // (That a configured SMTP password never reaches the log is proven with AUTH below.)
}

/// A test CA and a server certificate for `localhost` signed by it: (CA, certificate, key).
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=smallfiles test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("req.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p("req.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("cert.pem"),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

fn tls_smtp_server(dir: &Path, mode: &str, cert: &Path, key: &Path) -> Option<(Running, u16)> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install aiosmtpd (pip)"
        );
        eprintln!("SKIPPED: aiosmtpd is not installed");
        return None;
    }
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/smtp_server.py");
    let run = Running::start(
        "python3",
        &[
            &script.to_string_lossy(),
            &port.to_string(),
            &dir.join("maildir").to_string_lossy(),
            mode,
            &cert.to_string_lossy(),
            &key.to_string_lossy(),
            "--auth",
            "mailer",
            "right-smtp-password",
        ],
        port,
        &dir.join(format!("smtp{mode}.log")),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "smtp server did not start: {}",
            run.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((run, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_and_implicit_tls_with_authentication() {
    for (mode, flag) in [("--starttls", "starttls"), ("--tls", "tls")] {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificate(dir.path());
        let Some((_smtp, port)) = tls_smtp_server(dir.path(), mode, &cert, &key) else {
            return;
        };
        let password = "right-smtp-password";
        let pw = dir.path().join("smtp.pw");
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        let notify = format!(
            "notify:\n  email:\n    smtp: {{ host: localhost, port: {port}, {flag}: true, username: mailer, password_file: {}, ca_file: {}, timeout: 5s }}\n    from: smallfiles@example.com\n    to: [ops@example.com]\n  events: [daily_digest]",
            pw.display(),
            ca.display()
        );
        let m = Merger::start(&notify, WAREHOUSE, "").await;
        let (s, _) = m.post("/api/v1/notify/digest", vec![]).await;
        assert_eq!(s, 200);
        let start = Instant::now();
        while mails(dir.path()).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{flag}: nothing delivered:\n{}",
                m.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let page = m.run.get("/metrics").await;
        let sent = smallfiles_testkit::prom::value(
            &smallfiles_testkit::prom::parse(&page),
            "smallfiles_notifications_total",
            &[("channel", "email"), ("outcome", "sent")],
        );
        assert_eq!(sent, Some(1.0), "{flag}");
        assert!(mails(dir.path())[0]["subject"]
            .as_str()
            .unwrap()
            .contains("daily digest"));
        assert!(!m.logs().contains(password), "a password reached the log");
    }
}
