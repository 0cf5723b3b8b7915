//! The audit log, the metrics page, the digest on demand.

use super::*;

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn audit(
    State(svc): State<Svc>,
    _: Caller<ReadAudit>,
    Query(q): Query<AuditQuery>,
) -> Response {
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

pub(super) async fn metrics(State(svc): State<Svc>) -> Response {
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

/// Sends the daily digest now (also a way to test the channels).
pub(super) async fn send_digest(State(svc): State<Svc>, caller: Caller<SendDigest>) -> Response {
    let Caller { who, peer, .. } = caller;
    let Some(notifier) = &svc.notifier else {
        return error(
            StatusCode::NOT_FOUND,
            "no notification channel is configured",
        );
    };
    // Alerts remembered with the last group commit are part of it.
    if let Err(e) = svc.flush_audit().await {
        tracing::warn!(error = %e, "pending writes not flushed before the digest");
    }
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
