//! Handlers of the service's own endpoints (what policies probe).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::app::{AppState, error_response};
use crate::auth::check_bearer;

#[derive(Debug, Serialize)]
pub(crate) struct Product {
    id: u32,
    name: &'static str,
    price_cents: u64,
}

const PRODUCTS: [Product; 3] = [
    Product {
        id: 1,
        name: "Espresso beans, 1 kg",
        price_cents: 2490,
    },
    Product {
        id: 2,
        name: "Hand grinder",
        price_cents: 8900,
    },
    Product {
        id: 3,
        name: "Milk jug, 350 ml",
        price_cents: 1250,
    },
];

/// `GET /health`: liveness, deliberately independent of dependencies.
pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: readiness, i.e. whether dependencies are usable.
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let (db_up, migrations_applied) = state.faults.dependencies();
    let ready = db_up && migrations_applied;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "db": db_label(db_up),
        "migrations": migrations_label(migrations_applied),
    });
    (status, Json(body)).into_response()
}

/// `GET /api/v1/health`: reports the deployed version.
pub(crate) async fn api_health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "version": state.config.version }))
}

/// `GET /api/v1/products`.
pub(crate) async fn products() -> Json<[Product; 3]> {
    Json(PRODUCTS)
}

/// `GET /api/v1/system/status`: the one endpoint behind a token.
pub(crate) async fn system_status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(denied) = check_bearer(&headers, &state.config.api_token) {
        return denied.into_response();
    }
    let (db_up, migrations_applied) = state.faults.dependencies();
    Json(json!({
        "status": "ok",
        "db": db_label(db_up),
        "migrations": migrations_label(migrations_applied),
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
    .into_response()
}

/// Fallback for unknown paths.
pub(crate) async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

/// Fallback for known paths with another method.
pub(crate) async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

fn db_label(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn migrations_label(applied: bool) -> &'static str {
    if applied { "applied" } else { "pending" }
}
