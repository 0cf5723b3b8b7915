//! The HTTP API, thin handlers by concern: `alerts.rs` (Alertmanager webhooks and the DingTalk
//! bridge), `tasks.rs` (tasks: list, read, create, cancel, retry, roll back), `admin.rs` (audit
//! log, metrics, digest). Who may call what is `caller.rs`, an extractor that answers and audits
//! refusals; the server around them (`server.rs`) bounds requests and makes every error JSON.
//! Every mutating call and every webhook is audited with who, from where, what and the outcome.

// Handlers answer with a full Response on both paths; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::alerts::{parse_webhook, triage, Triage};
mod admin;
mod alerts;
mod caller;
mod tasks;

use crate::db::TaskFilter;
use crate::error::Error;
use crate::model::{Target, TaskState};
use crate::runtime::{Request, Service, Submitted};
use admin::*;
use alerts::*;
use caller::*;
use tasks::*;

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

fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    body.map_err(|r| error(r.status(), format!("request body: {}", r.body_text())))
}
