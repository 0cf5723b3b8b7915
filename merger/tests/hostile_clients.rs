//! The merger binary against clients that are slow, greedy or malformed: headers dribbled a
//! byte at a time, a declared body far over the limit, a body that never arrives, more
//! connections than allowed, oversize webhooks, bad query strings and paths. Each is refused
//! in bounded time with `{"error": …}`, and the merger keeps answering others.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use smallfiles_testkit::merger_api::MergerApi;
use smallfiles_testkit::process::{free_port, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPS: &str = "ops-token-hostile-0001";
const VIEW: &str = "view-token-hostile-0002";
const TRIGGER: &str = "trigger-token-hostile-0003";

struct Merger {
    _dir: tempfile::TempDir,
    m: Running,
    port: u16,
}

async fn start(extra: &str) -> Merger {
    let dir = tempfile::tempdir().unwrap();
    for (f, t) in [
        ("ops.token", OPS),
        ("view.token", VIEW),
        ("am.token", TRIGGER),
    ] {
        std::fs::write(dir.path().join(f), t).unwrap();
    }
    let port = free_port();
    let config = dir.path().join("smallfiles.yml");
    std::fs::write(
        &config,
        format!(
            "merger:\n  listen_address: \"127.0.0.1:{port}\"\n  data_dir: {}\n  dry_run: true\n  header_read_timeout: 2s\n  body_read_timeout: 2s\n{extra}  auth:\n    tokens:\n      - {{ name: ops, token_file: {d}/ops.token, role: operator }}\n      - {{ name: grafana, token_file: {d}/view.token, role: viewer }}\n      - {{ name: alertmanager, token_file: {d}/am.token, role: trigger }}\nclusters:\n  - name: wh\n    warehouse: file:///nonexistent/w\n",
            dir.path().join("data").display(),
            d = dir.path().display()
        ),
    )
    .unwrap();
    let mut m = Running::start(
        env!("CARGO_BIN_EXE_smallfiles-merger"),
        &["--config.file", &config.to_string_lossy()],
        port,
        &dir.path().join("merger.log"),
    );
    m.wait_ok("/-/ready", Duration::from_secs(20)).await;
    Merger { _dir: dir, m, port }
}

/// Sends raw bytes and reads the whole answer (status line, headers, body).
async fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_and_json(answer: &str) -> (u16, Value) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_are_cut_off_and_others_served() {
    let h = start("").await;
    let http = reqwest::Client::new();

    // A declared body over the limit (1 MiB) is refused at once, before it is sent.
    let started = Instant::now();
    let answer = raw(
        h.port,
        format!("POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPS}\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n\r\n{{").as_bytes(),
    )
    .await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 413, "{answer}");
    assert!(
        body["error"].as_str().unwrap().contains("max_body_size"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A body that stops arriving: 408 after body_read_timeout (2 s).
    let started = Instant::now();
    let answer = raw(
        h.port,
        format!("POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPS}\r\nContent-Length: 100\r\n\r\n{{\"version\"").as_bytes(),
    )
    .await;
    let (status, body) = status_and_json(&answer);
    assert_eq!(status, 408, "{answer}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("body_read_timeout"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );

    // 200 connections dribbling their headers a byte every half second: all are closed by
    // the server within the header timeout, and a normal client is answered meanwhile.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(("127.0.0.1", h.port)).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
        slow.push(s);
    }
    let dribble = tokio::spawn(async move {
        let started = Instant::now();
        let mut open = slow.len();
        while open > 0 && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            open = 0;
            for s in slow.iter_mut() {
                if s.write_all(b"X").await.is_ok() {
                    let mut b = [0u8; 1];
                    match tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => {}
                        _ => open += 1,
                    }
                }
            }
        }
        (open, started.elapsed())
    });
    let r = http
        .get(format!("http://127.0.0.1:{}/-/healthy", h.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (open, took) = dribble.await.unwrap();
    assert_eq!(open, 0, "slow connections still open after {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(h.m.log_text().len() < 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let h = start("  max_connections: 4\n").await;
    // Four connections that send nothing hold every slot until the header timeout.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(("127.0.0.1", h.port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/-/healthy", h.port))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "answered in {waited:?}: the cap did not hold"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_webhooks_bad_queries_and_paths_are_json_errors() {
    let h = start("  max_alerts_per_webhook: 100\n").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", h.port);

    // 30,000 empty alerts: refused with the reason, not worked through.
    let alerts: Vec<Value> = (0..30_000).map(|_| json!({"status": "firing"})).collect();
    let body = json!({"version": "4", "status": "firing", "alerts": alerts});
    let r = http
        .post(url("/api/v1/alertmanager"))
        .bearer_auth(OPS)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("max_alerts_per_webhook"),
        "{v}"
    );

    // Webhooks with ~700 KB group keys: the audit log keeps a bounded summary.
    let key = "k".repeat(700 << 10);
    for _ in 0..5 {
        let body = json!({"version": "4", "status": "firing", "groupKey": key, "alerts": [
            {"status": "firing", "labels": {"alertname": "Other"}}
        ]});
        let r = http
            .post(url("/api/v1/alertmanager"))
            .bearer_auth(OPS)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let audit = http
        .get(url("/api/v1/audit?limit=3"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        audit.len() < 10_000,
        "audit answer of {} bytes",
        audit.len()
    );
    let v: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(v["entries"][0]["detail"]["alerts"], 1, "{v}");

    // Every error is {"error": …} with the reason.
    for (path, status) in [
        ("/api/v1/tasks?limit=-1", 400),
        ("/api/v1/tasks?limit=1e12", 400),
        ("/api/v1/tasks?before=abc", 400),
        ("/api/v1/tasks/-1", 400),
        ("/api/v1/no-such-route", 404),
    ] {
        let r = http.get(url(path)).bearer_auth(OPS).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let v: Value = r.json().await.unwrap();
        assert!(!v["error"].as_str().unwrap_or("").is_empty(), "{path}: {v}");
    }
    let r = http
        .delete(url("/api/v1/tasks"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let long = format!("/api/v1/tasks?cluster={}", "x".repeat(10_000));
    let r = http.get(url(&long)).bearer_auth(OPS).send().await.unwrap();
    assert_eq!(r.status(), 414);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let r = http
        .get(url("/api/v1/tasks"))
        .bearer_auth(OPS)
        .header("x-big", "y".repeat(70_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
}

/// Who may do what: every operator route refuses viewer and trigger tokens (403, audited), the
/// DingTalk bridge refuses a viewer, and basic auth (user = token name) works where bearer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_hold_on_every_route_and_basic_auth_works() {
    let h = start("").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", h.port);
    let operator_posts = [
        "/api/v1/tasks",
        "/api/v1/tasks/1/cancel",
        "/api/v1/tasks/1/retry",
        "/api/v1/tasks/1/rollback",
        "/api/v1/notify/digest",
    ];
    for path in operator_posts {
        for token in [VIEW, TRIGGER] {
            let r = http
                .post(url(path))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{path} with a {token}");
        }
        // The operator gets past authorization (whatever the route then answers).
        let r = http
            .post(url(path))
            .bearer_auth(OPS)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            ![401, 403].contains(&r.status().as_u16()),
            "{path}: {}",
            r.status()
        );
        let r = http
            .post(url(path))
            .basic_auth("ops", Some(OPS))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            ![401, 403].contains(&r.status().as_u16()),
            "{path} with basic auth: {}",
            r.status()
        );
        let r = http
            .post(url(path))
            .basic_auth("ops", Some("wrong"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong basic password");
    }
    for token in [VIEW, TRIGGER] {
        let r = http
            .get(url("/api/v1/audit"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "audit with {token}");
    }
    let r = http
        .post(url("/api/v1/dingtalk/ops"))
        .bearer_auth(VIEW)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the bridge refuses a viewer");
    let r = http
        .get(url("/api/v1/tasks"))
        .basic_auth("grafana", Some(VIEW))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a viewer reads tasks with basic auth");
    // Every refusal is in the audit log.
    let audit = MergerApi::new(h.port, OPS)
        .get_json("/api/v1/audit?limit=1000")
        .await;
    let forbidden = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "forbidden")
        .count();
    assert!(forbidden >= 13, "{forbidden} forbidden entries");
}

/// SIGTERM stops the merger's loops and writes the audit entries still queued: the webhook
/// answered just before the stop is in the audit log after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_the_last_audit_entries() {
    let mut h = start("").await;
    let http = reqwest::Client::new();
    let body = json!({"version": "4", "status": "firing", "groupKey": "last-before-stop", "alerts": [
        {"status": "firing", "labels": {"alertname": "Other"}}
    ]});
    let r = http
        .post(format!("http://127.0.0.1:{}/api/v1/alertmanager", h.port))
        .bearer_auth(OPS)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pid = h.m.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = h.m.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the merger did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}: {}", h.m.log_text());
    assert!(h.m.log_text().contains("merger stopped"));
    // Started again on the same store: the entry is there.
    let config = h._dir.path().join("smallfiles.yml");
    h.m = Running::start(
        env!("CARGO_BIN_EXE_smallfiles-merger"),
        &["--config.file", &config.to_string_lossy()],
        h.port,
        &h._dir.path().join("merger-2.log"),
    );
    h.m.wait_ok("/-/ready", Duration::from_secs(20)).await;
    let audit = MergerApi::new(h.port, OPS)
        .get_json("/api/v1/audit?limit=10")
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"]["group_key"] == "last-before-stop"),
        "{audit}"
    );
}

/// Request smuggling: a request whose length two headers disagree on (two different
/// `Content-Length`s, or `Transfer-Encoding: chunked` beside a `Content-Length`) is where a
/// proxy in front and this server could split a stream differently. Each is refused, or (chunked
/// beside a length) read by its chunks as RFC 9112 says, and answered once, with the connection
/// closed after it: the request hidden behind the body never runs, no task or audit entry of it
/// appears, and the merger goes on answering others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_ambiguous_lengths_smuggle_nothing() {
    let h = start("").await;
    let task = r#"{"cluster":"wh","database":"d","table":"smuggled"}"#;
    let hidden = format!(
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPS}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{task}",
        task.len()
    );
    let body = "{\"version\":\"4\",\"alerts\":[]}";
    let attempts = [
        // Two lengths: the short one ends the body before the hidden request, the long one after.
        format!(
            "POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TRIGGER}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Length: {}\r\n\r\n{body}{hidden}",
            body.len(),
            body.len() + hidden.len()
        ),
        // Chunked and a length: the length covers the hidden request, the chunks do not.
        format!(
            "POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TRIGGER}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n{hidden}",
            body.len() + hidden.len(),
            body.len()
        ),
        // An obfuscated transfer coding a proxy might not recognise.
        format!(
            "POST /api/v1/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TRIGGER}\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\nContent-Length: {}\r\n\r\n{body}{hidden}",
            body.len()
        ),
    ];
    for (i, attempt) in attempts.iter().enumerate() {
        let answer = raw(h.port, attempt.as_bytes()).await;
        let answers = answer.matches("HTTP/1.1 ").count();
        let (status, _) = status_and_json(&answer);
        assert!(
            answers <= 1 && [0, 200, 400, 501].contains(&status),
            "attempt {i}: {answers} answers, status {status}: {answer}"
        );
    }
    for path in ["/api/v1/tasks", "/api/v1/audit"] {
        let seen = MergerApi::new(h.port, OPS).get_json(path).await;
        assert!(
            !seen.to_string().contains("smuggled"),
            "a hidden request ran ({path}): {seen}"
        );
    }
}
