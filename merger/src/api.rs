//! The HTTP API: Alertmanager webhooks, tasks, audit, metrics. Every mutating call and every
//! webhook is audited with who, from where, what and the outcome.

// Handlers answer with a full Response on both paths; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::alerts::{
    parse_webhook, triage, valid_database, valid_identifier, valid_partition, Triage,
};
use crate::auth::{AuthFailure, Identity, Role};
use crate::error::Error;
use crate::model::{Strategy, Target, TaskState};
use crate::runtime::{Request, Service, Submitted};
use crate::store::TaskFilter;

type Svc = Arc<Service>;

pub fn router(svc: Svc) -> Router {
    let limit = svc.settings.merger.max_body_size.0 as usize;
    Router::new()
        .route("/api/v1/alertmanager", post(alertmanager))
        .route("/api/v1/tasks", get(list_tasks).post(create_tasks))
        .route("/api/v1/tasks/{id}", get(get_task))
        .route("/api/v1/tasks/{id}/cancel", post(cancel_task))
        .route("/api/v1/tasks/{id}/retry", post(retry_task))
        .route("/api/v1/tasks/{id}/rollback", post(roll_back_task))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/dingtalk/{robot}", post(dingtalk_bridge))
        .route("/api/v1/notify/digest", post(send_digest))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(svc)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The authorized caller, or returns the answer that refused them (as `?` would).
macro_rules! caller {
    ($svc:expr, $headers:expr, $peer:expr, $role:expr, $action:expr) => {
        match authorize(&$svc, &$headers, $peer, $role, $action).await {
            Ok(who) => who,
            Err(refused) => return refused,
        }
    };
}

/// Checks the caller's token and role; failures are answered and audited.
async fn authorize(
    svc: &Service,
    headers: &HeaderMap,
    peer: SocketAddr,
    min: Role,
    action: &str,
) -> Result<Identity, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match svc.auth.authenticate(header) {
        Ok(id) if id.role >= min => Ok(id),
        Ok(id) => {
            svc.audit(
                &id.name,
                &peer.to_string(),
                action,
                "forbidden",
                json!({ "needs": format!("{min:?}").to_lowercase() }),
            )
            .await;
            Err(error(
                StatusCode::FORBIDDEN,
                format!("token {} may not {action}", id.name),
            ))
        }
        Err(f) => {
            svc.audit("-", &peer.to_string(), action, "unauthorized", json!({ "why": if f == AuthFailure::Missing { "no credentials" } else { "invalid credentials" } })).await;
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                if f == AuthFailure::Missing {
                    "authentication required"
                } else {
                    "invalid credentials"
                },
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"smallfiles\""
                    .parse()
                    .expect("static header"),
            );
            Err(r)
        }
    }
}

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    body.map_err(|r| error(r.status(), format!("request body: {}", r.body_text())))
}

fn submitted_json(s: &Submitted) -> (&'static str, Value) {
    match s {
        Submitted::Queued(id) => ("queued", json!({ "outcome": "queued", "task_id": id })),
        Submitted::Duplicate(id) => (
            "duplicate",
            json!({ "outcome": "duplicate", "task_id": id }),
        ),
        Submitted::Cooldown { until } => (
            "cooldown",
            json!({ "outcome": "cooldown", "until": chrono::DateTime::from_timestamp(*until, 0).map(|t| t.to_rfc3339()) }),
        ),
        Submitted::Rejected(r) => ("rejected", json!({ "outcome": "rejected", "reason": r })),
        Submitted::Deferred(r) => ("deferred", json!({ "outcome": "deferred", "reason": r })),
    }
}

async fn alertmanager(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Trigger, "post alerts");
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
        Err(reason) => {
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
                let seen = crate::store::SeenAlert {
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
                if let Err(e) = svc.store.record_alert(&target.key(), &seen) {
                    tracing::warn!(error = %e, "alert not remembered for the digest");
                }
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

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    cluster: Option<String>,
    database: Option<String>,
    table: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

async fn list_tasks(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    caller!(svc, headers, peer, Role::Viewer, "list tasks");
    let state = match q.state.as_deref().map(|s| TaskState::parse(s).ok_or(s)) {
        Some(Err(s)) => return error(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let filter = TaskFilter {
        state,
        cluster: q.cluster,
        database: q.database,
        table: q.table,
        before: q.before,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    match svc.store.list(&filter) {
        Ok(tasks) => {
            let next = if tasks.len() == filter.limit {
                tasks.last().map(|t| t.id)
            } else {
                None
            };
            let tasks: Vec<Value> = tasks
                .into_iter()
                .map(|mut t| {
                    t.log.clear();
                    serde_json::to_value(t).unwrap_or(Value::Null)
                })
                .collect();
            Json(json!({ "tasks": tasks, "next_before": next })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn get_task(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    caller!(svc, headers, peer, Role::Viewer, "read tasks");
    match svc.store.get(id) {
        Ok(t) => Json(t).into_response(),
        Err(e) => task_error(id, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    cluster: String,
    database: String,
    table: String,
    #[serde(default)]
    partitions: Vec<String>,
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    dry_run: Option<bool>,
}

async fn create_tasks(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Operator, "create tasks");
    let body = match body_or_error(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            svc.audit(
                &who.name,
                &peer.to_string(),
                "create task",
                "malformed",
                json!({ "reason": e.to_string() }),
            )
            .await;
            return error(StatusCode::BAD_REQUEST, format!("malformed request: {e}"));
        }
    };
    let bad = if svc.settings.cluster(&req.cluster).is_none() {
        Some(format!(
            "unknown cluster {:?}",
            req.cluster.chars().take(64).collect::<String>()
        ))
    } else if !valid_database(&req.database) || !valid_identifier(&req.table) {
        Some(
            "database and table must be Hive identifiers (letters, digits, underscore)".to_string(),
        )
    } else {
        req.partitions
            .iter()
            .find(|p| !valid_partition(p))
            .map(|p| {
                format!(
                    "invalid partition {:?}",
                    p.chars().take(64).collect::<String>()
                )
            })
    };
    if let Some(reason) = bad {
        svc.audit(
            &who.name,
            &peer.to_string(),
            "create task",
            "rejected",
            json!({ "reason": reason }),
        )
        .await;
        return error(StatusCode::BAD_REQUEST, reason);
    }
    let partitions: Vec<Option<String>> = if req.partitions.is_empty() {
        vec![None]
    } else {
        req.partitions.iter().cloned().map(Some).collect()
    };
    let mut results = Vec::new();
    let mut created = false;
    for partition in partitions {
        let target = Target {
            cluster: req.cluster.clone(),
            database: req.database.clone(),
            table: req.table.clone(),
            partition,
        };
        let s = svc
            .submit(Request {
                target,
                strategy: req.strategy.unwrap_or(svc.settings.merger.default_strategy),
                dry_run: req.dry_run.unwrap_or(svc.settings.merger.dry_run)
                    || svc.settings.merger.dry_run,
                requested_by: who.name.clone(),
                fingerprint: None,
                retry_of: None,
            })
            .await;
        created |= matches!(s, Submitted::Queued(_));
        results.push(submitted_json(&s).1);
    }
    let summary = json!({ "results": results });
    svc.audit(&who.name, &peer.to_string(), "create task", "ok", json!({ "request": { "cluster": req.cluster, "database": req.database, "table": req.table }, "results": summary["results"] })).await;
    (
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(summary),
    )
        .into_response()
}

async fn cancel_task(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Operator, "cancel tasks");
    let result = svc.cancel(id, &who.name);
    svc.audit(
        &who.name,
        &peer.to_string(),
        "cancel task",
        if result.is_ok() { "ok" } else { "refused" },
        json!({ "task_id": id }),
    )
    .await;
    match result {
        Ok(t) => Json(t).into_response(),
        Err(e) => task_error(id, e),
    }
}

/// The answer for an error about task `id`: 404, 409 with the reason, or 500.
fn task_error(id: u64, e: Error) -> Response {
    match e {
        Error::NotFound(_) => error(StatusCode::NOT_FOUND, format!("task {id} not found")),
        Error::Conflict(m) => error(StatusCode::CONFLICT, m),
        e => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn roll_back_task(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Operator, "roll back merges");
    let result = svc.roll_back(id, &who.name).await;
    svc.audit(
        &who.name,
        &peer.to_string(),
        "roll back task",
        if result.is_ok() { "ok" } else { "refused" },
        match &result {
            Ok(_) => json!({ "task_id": id }),
            Err(e) => json!({ "task_id": id, "error": e.to_string() }),
        },
    )
    .await;
    match result {
        Ok(t) => Json(t).into_response(),
        Err(e) => task_error(id, e),
    }
}

async fn retry_task(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Operator, "retry tasks");
    let result = svc.retry(id, &who.name).await;
    let (outcome, detail) = match &result {
        Ok(s) => submitted_json(s),
        Err(e) => ("refused", json!({ "error": e.to_string() })),
    };
    svc.audit(
        &who.name,
        &peer.to_string(),
        "retry task",
        outcome,
        json!({ "task_id": id, "result": detail }),
    )
    .await;
    match result {
        Ok(Submitted::Queued(new_id)) => (
            StatusCode::CREATED,
            Json(json!({ "outcome": "queued", "task_id": new_id, "retry_of": id })),
        )
            .into_response(),
        Ok(s) => (StatusCode::CONFLICT, Json(submitted_json(&s).1)).into_response(),
        Err(e) => task_error(id, e),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

async fn audit(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    caller!(svc, headers, peer, Role::Operator, "read the audit log");
    // Entries of requests already answered may still be in the group commit's queue.
    if let Err(e) = svc.flush_audit().await {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    match svc
        .store
        .audit_entries(q.before, q.limit.unwrap_or(100).clamp(1, 1000))
    {
        Ok(entries) => Json(json!({ "entries": entries })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn metrics(State(svc): State<Svc>) -> Response {
    let mut page = svc.metrics.render(&svc.scrape());
    if let Some(n) = &svc.notifier {
        n.render_metrics(&mut page);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        page,
    )
        .into_response()
}

/// Alertmanager → DingTalk: a webhook (v4) forwarded as one markdown message to the robot.
async fn dingtalk_bridge(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(robot): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let who = caller!(
        svc,
        headers,
        peer,
        Role::Trigger,
        "forward alerts to DingTalk"
    );
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
        Err(reason) => {
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

/// Sends the daily digest now (also a way to test the channels).
async fn send_digest(
    State(svc): State<Svc>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let who = caller!(svc, headers, peer, Role::Operator, "send the digest");
    let Some(notifier) = &svc.notifier else {
        return error(
            StatusCode::NOT_FOUND,
            "no notification channel is configured",
        );
    };
    let (subject, text) = match svc.digest() {
        Ok(d) => d,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if let Err(e) = notifier.broadcast(&subject, &text) {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    svc.audit(
        &who.name,
        &peer.to_string(),
        "send digest",
        "queued",
        Value::Null,
    )
    .await;
    Json(json!({ "outcome": "queued", "subject": subject, "text": text })).into_response()
}
