//! The merger's API end to end: real Alertmanager payloads, a real metastore in MariaDB and
//! PostgreSQL, webhooks, tasks, auth and the audit log.

use super::*;
use serde_json::{json, Value};
use smallfiles_cluster::config::MetastoreKind;
use smallfiles_testkit::require_shared;

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
