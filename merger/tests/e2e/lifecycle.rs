//! The merger binary through a task's life: kill -9 while running and recovery, limits, cancel
//! and retry, the first failed merge firing its alert on a real Prometheus, overlapping
//! targets, the merge windows, and a real Alertmanager delivering to it.

use std::time::{Duration, Instant};

use super::*;
use serde_json::{json, Value};
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::require_shared;

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
