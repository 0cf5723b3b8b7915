//! The HTTP server around the API (`http/`): what keeps a slow or hostile client from holding
//! the merger. At most `max_connections` connections are served at once (more wait in the
//! kernel's backlog); request headers must arrive within `header_read_timeout` and a body
//! within `body_read_timeout`; a body whose declared length is over `max_body_size` is answered
//! 413 before it is read; URIs and headers are bounded; and every error the server gives —
//! rejections of extractors, unknown routes, wrong methods, these limits — is
//! `{"error": "…"}` with the reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;

/// Longest request URI answered (414 past it).
pub const MAX_URI_BYTES: usize = 8 << 10;
/// Most bytes of request headers answered (431 past it).
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// The bounds of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_body_size: u64,
}

fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// Wraps the API's router: bounded requests, and errors as JSON.
pub fn guarded(app: Router, limits: Limits) -> Router {
    app.layer(axum::middleware::from_fn_with_state(limits, read_bounded))
        .layer(axum::middleware::from_fn(errors_as_json))
}

/// Refuses oversize URIs, headers and declared bodies at once, and reads the body within its
/// time and size bounds before any handler sees it.
async fn read_bounded(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let uri_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return json_error(
            StatusCode::URI_TOO_LONG,
            format!("the request URI is longer than {MAX_URI_BYTES} bytes"),
        );
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_size) {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than merger.max_body_size ({} bytes)",
                limits.max_body_size
            ),
        );
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, limits.max_body_size as usize);
    let bytes = match tokio::time::timeout(limits.body_read_timeout, limited.collect()).await {
        Err(_) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within merger.body_read_timeout ({:?})",
                    limits.body_read_timeout
                ),
            )
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than merger.max_body_size ({} bytes)",
                    limits.max_body_size
                ),
            )
        }
        Ok(Err(e)) => return json_error(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An error answered in text (an extractor's rejection, 404, 405) becomes `{"error": "…"}`
/// with the same status and the text as the reason.
async fn errors_as_json(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match body.collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let reason = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let mut out = json_error(status, reason);
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// Serves `app` on `listener` until the future is dropped: HTTP/1.1, at most
/// `max_connections` at once, headers within `header_read_timeout`.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, limits: Limits) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req.map(Body::new))
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_HEADER_BYTES * 4);
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended");
            }
        });
    }
}
