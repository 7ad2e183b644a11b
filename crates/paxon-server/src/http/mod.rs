//! What a member serves over plain HTTP beside the gRPC API, on the same
//! client port (HTTP/1.1 and HTTP/2 are told apart per connection) and on
//! `--listen-metrics-urls`: `/metrics` (Prometheus), etcd's `/health`,
//! `/livez` and `/readyz`, and on client URLs the live status page at `/`
//! with the `/status.json` it polls.

pub mod health;
pub mod status;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::grpc::Handle;
use crate::metrics::Metrics;
use health::Probe;

/// The status page: one self-contained file, no external assets.
const STATUS_PAGE: &str = include_str!("status.html");

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct Ops {
    /// The member.
    pub handle: Handle,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
}

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// A client URL: everything.
    Client,
    /// A `--listen-metrics-urls` URL: metrics and health only, as etcd.
    Metrics,
}

/// The routes of `listener`, to merge with the gRPC services.
pub fn routes(ops: Ops, listener: Listener) -> axum::Router {
    let probe_route = |which: Probe| {
        get(move |State(ops): State<Ops>, uri: Uri| probe(ops, which, uri)).with_state(ops.clone())
    };
    let mut router = axum::Router::new()
        .route("/metrics", get(metrics).with_state(ops.clone()))
        .route("/health", probe_route(Probe::Health))
        .route("/livez", probe_route(Probe::Livez))
        .route("/readyz", probe_route(Probe::Readyz));
    if listener == Listener::Client {
        router = router
            .route("/", get(page))
            .route("/status.json", get(status_json).with_state(ops));
    }
    router
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], ops.metrics.render()).into_response()
}

async fn probe(ops: Ops, which: Probe, uri: Uri) -> Response {
    let options = health::Options::parse(uri.query());
    let verdict = health::check(&ops.handle, which, &options).await;
    let body = health::body(&verdict);
    let text = "text/plain; charset=utf-8";
    match verdict {
        Ok(()) => {
            ops.metrics.health_success.inc();
            (StatusCode::OK, [(header::CONTENT_TYPE, text)], body).into_response()
        }
        Err(reason) => {
            ops.metrics.health_failures.inc();
            tracing::warn!(%reason, path = uri.path(), "health check failed");
            // etcd answers with `http.Error`: the JSON and a newline.
            let headers = [
                (header::CONTENT_TYPE, text),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ];
            (
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                format!("{body}\n"),
            )
                .into_response()
        }
    }
}

async fn page() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, STATUS_PAGE).into_response()
}

async fn status_json(State(ops): State<Ops>) -> Response {
    let mut response = match ops.handle.member_status().await {
        Ok(status) => {
            let body = status::render(ops.handle.cluster(), &status, &ops.metrics);
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", error.message()),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
