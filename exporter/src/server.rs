//! HTTP: `/metrics` (gzip when asked), `/-/healthy`, `/-/ready` and a landing page.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::snapshot::Registry;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/", get(landing))
        .with_state(registry)
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(registry).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn metrics(State(registry): State<Arc<Registry>>, headers: HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        })
        .unwrap_or(false);
    let body = tokio::task::spawn_blocking(move || {
        let page = crate::metrics::render(&registry);
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(page.len() / 8),
                flate2::Compression::fast(),
            );
            enc.write_all(page.as_bytes())
                .and_then(|_| enc.finish())
                .map(|b| (b, true))
        } else {
            Ok((page.into_bytes(), false))
        }
    })
    .await;
    match body {
        Ok(Ok((bytes, true))) => (
            [
                (header::CONTENT_TYPE, TEXT_FORMAT),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            bytes,
        )
            .into_response(),
        Ok(Ok((bytes, false))) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], bytes).into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering metrics failed\n",
        )
            .into_response(),
    }
}

async fn ready(State(registry): State<Arc<Registry>>) -> Response {
    let waiting: Vec<&str> = registry
        .clusters
        .iter()
        .filter(|c| c.health().last_duration_seconds.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, "Ready.\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("First scan still running: {}\n", waiting.join(", ")),
        )
            .into_response()
    }
}

async fn landing() -> Html<&'static str> {
    Html(concat!(
        "<html><head><title>smallfiles exporter</title></head><body><h1>smallfiles exporter</h1>",
        "<p>Small files in Hive/Impala tables. Version ",
        env!("CARGO_PKG_VERSION"),
        ".</p><ul><li><a href=\"/metrics\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>",
        "<li><a href=\"/-/ready\">Readiness</a></li></ul></body></html>"
    ))
}
