//! Alertmanager webhooks become tasks; the Alertmanager → DingTalk bridge.

use super::*;

pub(super) async fn alertmanager(
    State(svc): State<Svc>,
    caller: Caller<PostAlerts>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Caller { who, peer, .. } = caller;
    let body = match body_or_error(body) {
        Ok(b) => b,
        Err(r) => {
            svc.audit(
                &who.name,
                &peer.to_string(),
                "webhook",
                "too_large",
                Value::Null,
            )
            .await;
            return r;
        }
    };
    let hook = match parse_webhook(&body) {
        Ok(h) => h,
        Err(e) => {
            let reason = e.to_string();
            svc.audit(
                &who.name,
                &peer.to_string(),
                "webhook",
                "malformed",
                json!({ "reason": reason }),
            )
            .await;
            return error(StatusCode::BAD_REQUEST, reason);
        }
    };
    let max_alerts = svc.settings.merger.max_alerts_per_webhook;
    if hook.alerts.len() > max_alerts {
        let reason = format!(
            "{} alerts in one webhook, more than merger.max_alerts_per_webhook ({max_alerts})",
            hook.alerts.len()
        );
        svc.audit(
            &who.name,
            &peer.to_string(),
            "webhook",
            "too_many_alerts",
            json!({ "alerts": hook.alerts.len() }),
        )
        .await;
        return error(StatusCode::PAYLOAD_TOO_LARGE, reason);
    }
    let clusters: Vec<&str> = svc
        .settings
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut results = Vec::new();
    let mut deferred = false;
    for alert in &hook.alerts {
        let (outcome, mut detail) = match triage(alert, &svc.settings.merger.alertnames, &clusters)
        {
            Triage::ResolvedIgnored => {
                ("resolved_ignored", json!({ "outcome": "resolved_ignored" }))
            }
            Triage::Rejected(reason) => (
                "rejected",
                json!({ "outcome": "rejected", "reason": reason }),
            ),
            Triage::Candidate(target) => {
                let seen = crate::db::SeenAlert {
                    target: target.clone(),
                    status: alert.status.clone(),
                    summary: alert
                        .annotations
                        .get("summary")
                        .cloned()
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect(),
                    at_unix: chrono::Utc::now().timestamp(),
                };
                svc.remember_alert(target.key(), seen);
                let s = svc
                    .submit(Request {
                        target,
                        strategy: svc.settings.merger.default_strategy,
                        dry_run: svc.settings.merger.dry_run,
                        requested_by: who.name.clone(),
                        fingerprint: Some(alert.fingerprint.clone()).filter(|f| !f.is_empty()),
                        retry_of: None,
                    })
                    .await;
                submitted_json(&s)
            }
        };
        deferred |= outcome == "deferred";
        svc.metrics.alert(outcome);
        detail["fingerprint"] = json!(alert.fingerprint);
        for l in ["cluster", "database", "table", "partition"] {
            if let Some(v) = alert.labels.get(l) {
                detail[l] = json!(v.chars().take(256).collect::<String>());
            }
        }
        results.push(detail);
    }
    let summary = json!({ "group_key": hook.group_key, "alerts": results });
    svc.audit(
        &who.name,
        &peer.to_string(),
        "webhook",
        if deferred { "deferred" } else { "ok" },
        audit_summary(&hook.group_key, &results),
    )
    .await;
    // A metastore that could not be asked is worth Alertmanager's retry; the rest is not.
    let status = if deferred {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(summary)).into_response()
}

/// Targets named in one audit entry at most.
const AUDIT_TARGETS: usize = 20;

/// What the audit log keeps of a webhook: its group, how many alerts and what became of
/// them, and the first targets — bounded, whatever the body held.
fn audit_summary(group_key: &str, results: &[Value]) -> Value {
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for r in results {
        *outcomes
            .entry(r["outcome"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let targets: Vec<String> = results
        .iter()
        .filter(|r| r["task_id"].is_u64())
        .take(AUDIT_TARGETS)
        .map(|r| {
            let part = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mut t = format!("{}/{}.{}", part("cluster"), part("database"), part("table"));
            if let Some(p) = r["partition"].as_str() {
                t.push('/');
                t.push_str(p);
            }
            format!("{t} → task {}", r["task_id"])
        })
        .collect();
    json!({
        "group_key": group_key.chars().take(256).collect::<String>(),
        "alerts": results.len(),
        "outcomes": outcomes,
        "targets": targets,
    })
}

/// Alertmanager → DingTalk: a webhook (v4) forwarded as one markdown message to the robot.
pub(super) async fn dingtalk_bridge(
    State(svc): State<Svc>,
    caller: Caller<ForwardToDingTalk>,
    Path(robot): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Caller { who, peer, .. } = caller;
    let Some(notifier) = svc.notifier.as_ref().filter(|n| n.has_robot(&robot)) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no DingTalk robot named {:?}",
                robot.chars().take(64).collect::<String>()
            ),
        );
    };
    let body = match body_or_error(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let hook = match parse_webhook(&body) {
        Ok(h) => h,
        Err(e) => {
            let reason = e.to_string();
            svc.audit(
                &who.name,
                &peer.to_string(),
                "dingtalk bridge",
                "malformed",
                json!({ "robot": robot, "reason": reason }),
            )
            .await;
            return error(StatusCode::BAD_REQUEST, reason);
        }
    };
    let (title, text) = crate::notify::render::alerts_markdown(
        &hook,
        notifier.config.grafana_url.as_deref(),
        notifier.config.templates_dir.as_deref(),
    );
    if let Err(e) = notifier.to_robot(&robot, &title, &text) {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    svc.audit(
        &who.name,
        &peer.to_string(),
        "dingtalk bridge",
        "queued",
        json!({ "robot": robot, "alerts": hook.alerts.len(), "group_key": hook.group_key }),
    )
    .await;
    Json(json!({ "outcome": "queued", "robot": robot, "alerts": hook.alerts.len() }))
        .into_response()
}
