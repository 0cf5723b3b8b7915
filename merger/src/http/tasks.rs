//! The tasks API: list, read, create, cancel, retry, roll back.

use super::*;
use crate::request::{parse_create_tasks, shown_cluster, RequestError};

pub(super) fn submitted_json(s: &Submitted) -> (&'static str, Value) {
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

#[derive(Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    cluster: Option<String>,
    database: Option<String>,
    table: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn list_tasks(
    State(svc): State<Svc>,
    _: Caller<ListTasks>,
    Query(q): Query<ListQuery>,
) -> Response {
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

pub(super) async fn get_task(
    State(svc): State<Svc>,
    _: Caller<ReadTasks>,
    Path(id): Path<u64>,
) -> Response {
    match svc.store.get(id) {
        Ok(t) => Json(t).into_response(),
        Err(e) => task_error(id, e),
    }
}

pub(super) async fn create_tasks(
    State(svc): State<Svc>,
    caller: Caller<CreateTasks>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Caller { who, peer, .. } = caller;
    let body = match body_or_error(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let checked = parse_create_tasks(&body).and_then(|req| {
        if svc.settings.cluster(&req.cluster).is_none() {
            Err(RequestError::Rejected(format!(
                "unknown cluster {:?}",
                shown_cluster(&req.cluster)
            )))
        } else {
            Ok(req)
        }
    });
    let req = match checked {
        Ok(req) => req,
        Err(e) => {
            svc.audit(
                &who.name,
                &peer.to_string(),
                "create task",
                e.outcome(),
                json!({ "reason": e.to_string() }),
            )
            .await;
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
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

pub(super) async fn cancel_task(
    State(svc): State<Svc>,
    caller: Caller<CancelTasks>,
    Path(id): Path<u64>,
) -> Response {
    let Caller { who, peer, .. } = caller;
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

pub(super) async fn roll_back_task(
    State(svc): State<Svc>,
    caller: Caller<RollBackMerges>,
    Path(id): Path<u64>,
) -> Response {
    let Caller { who, peer, .. } = caller;
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

pub(super) async fn retry_task(
    State(svc): State<Svc>,
    caller: Caller<RetryTasks>,
    Path(id): Path<u64>,
) -> Response {
    let Caller { who, peer, .. } = caller;
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
