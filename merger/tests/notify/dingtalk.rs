//! DingTalk notifications end to end: the merger binary forwarding Alertmanager groups to a
//! DingTalk test endpoint that checks signatures and limits exactly as DingTalk documents them,
//! and a real Alertmanager through the bridge.

use std::time::{Duration, Instant};

use super::*;
use serde_json::json;
use smallfiles_testkit::dingtalk::{DingTalkServer, RobotOptions};

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
