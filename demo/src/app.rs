//! Routing: which endpoint gets which middleware, and the shared state.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::faults::{self, FaultState};
use crate::metrics::{self, Metrics};
use crate::{Config, admin, api};

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) faults: Arc<FaultState>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) started: Instant,
}

impl AppState {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            faults: Arc::default(),
            metrics: Arc::default(),
            started: Instant::now(),
        }
    }
}

pub(crate) fn router(state: AppState) -> Router {
    let liveness = Router::new()
        .route("/health", get(api::health))
        .route_layer(from_fn_with_state(
            state.faults.clone(),
            faults::inject_status_only,
        ));
    let service = Router::new()
        .route("/ready", get(api::ready))
        .route("/api/v1/health", get(api::api_health))
        .route("/api/v1/products", get(api::products))
        .route("/api/v1/system/status", get(api::system_status))
        .route_layer(from_fn_with_state(state.faults.clone(), faults::inject));
    // Not subject to faults: they are how faults are controlled and observed.
    let control = Router::new()
        .route("/metrics", get(metrics::scrape))
        .route(
            "/admin/faults",
            get(admin::get_faults).put(admin::put_faults),
        )
        .route("/admin/reset", post(admin::reset));

    Router::new()
        .merge(liveness)
        .merge(service)
        .merge(control)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        // Last, so it wraps everything above, fallbacks included.
        .layer(from_fn_with_state(state.metrics.clone(), metrics::observe))
        .with_state(state)
}

/// The `{"error": "..."}` body every failure uses.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}
