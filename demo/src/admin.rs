//! Run-time fault injection over HTTP (`/admin/*`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::{AppState, error_response};
use crate::faults::Faults;

/// `GET /admin/faults`.
pub(crate) async fn get_faults(State(state): State<AppState>) -> Json<Faults> {
    Json(state.faults.get())
}

/// `PUT /admin/faults`: replaces all faults; omitted fields become healthy.
// The body is parsed by hand rather than with the `Json` extractor, which
// answers 422 in plain text for unknown fields; clients get 400 with a JSON
// message naming the problem instead, and no Content-Type is required.
pub(crate) async fn put_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(err) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("invalid faults: {err}"));
        }
    };
    if let Err(problem) = faults.validate() {
        return error_response(
            StatusCode::BAD_REQUEST,
            &format!("invalid faults: {problem}"),
        );
    }
    state.faults.set(faults.clone());
    Json(faults).into_response()
}

/// `POST /admin/reset`: back to healthy.
pub(crate) async fn reset(State(state): State<AppState>) -> Json<Faults> {
    state.faults.set(Faults::default());
    Json(Faults::default())
}
