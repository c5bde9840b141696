//! The daemon's HTTP server: `GET /healthz` (the process is alive), `GET /readyz` (the
//! database answers within 500 ms, its migrations are current, a source is enabled, and the
//! daemon is not shutting down) and `GET /metrics` (Prometheus text, see `metrics`; it too
//! waits at most 500 ms for the database). It owns the routes, not what they report.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::metrics::{DATABASE_PROBE_TIMEOUT, Metrics};
use crate::sync::Source;

/// What the routes read.
pub struct ServerState {
    pub pool: PgPool,
    pub settings: Settings,
    pub sources: Vec<Arc<Source>>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the daemon begins to shut down: `/readyz` then answers 503.
    pub stopping: CancellationToken,
    /// Why the daemon syncs nothing (no source is enabled): `/readyz` answers 503 with it.
    pub not_syncing: Option<String>,
}

pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<ServerState>>) -> (StatusCode, String) {
    if state.stopping.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    if let Some(why) = &state.not_syncing {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    }
    let probe = tokio::time::timeout(
        DATABASE_PROBE_TIMEOUT,
        crate::db::pending_migrations(&state.pool),
    );
    match probe.await {
        Ok(Ok(pending)) if pending.is_empty() => (StatusCode::OK, "ready\n".into()),
        Ok(Ok(pending)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("migrations not applied: {pending:?}\n"),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database: {}\n", crate::http::error_chain(&e)),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "database: no answer within {} ms\n",
                DATABASE_PROBE_TIMEOUT.as_millis()
            ),
        ),
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let sources: Vec<&Source> = state.sources.iter().map(AsRef::as_ref).collect();
    let text = state
        .metrics
        .render(&state.pool, &state.settings, &sources)
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
