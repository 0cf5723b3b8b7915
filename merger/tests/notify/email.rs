//! Email notifications end to end: the merger binary mailing task outcomes and the digest to a
//! real SMTP server (aiosmtpd from PyPI), in plain text, over STARTTLS and implicit TLS with
//! authentication.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use serde_json::{json, Value};
use smallfiles_testkit::process::{free_port, Running};

/// Whether Python's aiosmtpd is installed; outside CI its tests skip without it.
fn aiosmtpd_installed() -> bool {
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
    }
    ok
}

/// Waits until the SMTP server started as `run` accepts connections on `port`.
fn wait_listening(run: &Running, port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the smtp server did not start: {}",
            run.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs Python's aiosmtpd with a Maildir handler; None when it is not installed (outside CI).
fn smtp_server(dir: &Path) -> Option<(Running, u16)> {
    if !aiosmtpd_installed() {
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
    wait_listening(&run, port);
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
    if !aiosmtpd_installed() {
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
    wait_listening(&run, port);
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
