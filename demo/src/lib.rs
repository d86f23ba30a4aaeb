//! A small sample HTTP stack for the gate demo and end-to-end tests.
//!
//! Policies and smoke tests need something real to probe, and tests need to
//! break that something on demand. This crate is that target: a handful of
//! endpoints that look like a typical service, plus run-time fault injection
//! on the same port. It only ever listens on loopback.
//!
//! # Endpoints
//!
//! | Method | Path                    | Answer |
//! |--------|-------------------------|--------|
//! | GET    | `/health`               | 200 `{"status":"ok"}` (liveness) |
//! | GET    | `/ready`                | 200 `{"status":"ready","db":"up","migrations":"applied"}`, or 503 `{"status":"not_ready","db":"down",...}` |
//! | GET    | `/api/v1/health`        | 200 `{"status":"ok","version":"<Config::version>"}` |
//! | GET    | `/api/v1/products`      | 200 non-empty array of `{"id","name","price_cents"}` |
//! | GET    | `/api/v1/system/status` | needs `Authorization: Bearer <Config::api_token>`: 401 without it (with `WWW-Authenticate: Bearer`), 403 with a wrong one, else 200 `{"status","db","migrations","uptime_seconds"}` |
//! | GET    | `/metrics`              | Prometheus text format (see below) |
//! | GET    | `/admin/faults`         | current [`Faults`] as JSON |
//! | PUT    | `/admin/faults`         | replace the faults; answers the new [`Faults`] |
//! | POST   | `/admin/reset`          | back to healthy; answers the new [`Faults`] |
//!
//! Anything else is 404 `{"error":"not found"}`; a known path with the wrong
//! method is 405 `{"error":"method not allowed"}`.
//!
//! # Faults
//!
//! Faults are set in-process with [`Server::set_faults`] or over HTTP with
//! `PUT /admin/faults`. The PUT body **replaces** the whole [`Faults`] value:
//! fields left out take their healthy default, they are *not* merged with
//! the current faults. So `{"latency_ms":200}` also clears any error rate set
//! earlier. Unknown fields, bad JSON, `error_rate` outside `0..=1`,
//! `latency_ms` above 60000 and status codes outside `100..=599` are rejected
//! with 400 `{"error":"..."}`.
//!
//! They apply to every endpoint except `/metrics` and `/admin/*`, in order:
//!
//! 1. `path_status["/the/path"]`: answer that status with
//!    `{"error":"injected status"}` at once.
//! 2. `latency_ms`: wait that long before answering.
//! 3. `error_rate`: answer 500 `{"error":"injected failure"}` for that share
//!    of requests. This is deterministic rather than random so tests can be
//!    exact: a per-server accumulator adds the rate on every request and
//!    fails the request that brings it to 1. A rate of 0.5 fails every second
//!    request, 0.25 every fourth, 1.0 all of them. Setting faults restarts
//!    the count.
//!
//! `/health` is liveness and must stay cheap, so only `path_status` applies
//! to it. `db_up` and `migrations_applied` only change `/ready` and
//! `/api/v1/system/status`.
//!
//! # Metrics
//!
//! `/metrics` exposes `http_requests_total{method,path,status}` (counter) and
//! `http_request_duration_seconds{method,path}` (histogram), recorded for
//! every request except `/metrics` and admin ones, after faults are applied,
//! so injected errors and latency show up as a real service's would. `path`
//! is the route template, and `"other"` for unknown paths, so a scanner
//! cannot blow up label cardinality.
//!
//! # Use
//!
//! Tests start a server on its own thread with [`Server::start`]; code that
//! already runs in tokio uses [`serve`]. The `sample-service` binary wraps
//! [`serve`] for scripts.

mod admin;
mod api;
mod app;
mod auth;
mod faults;
mod metrics;
pub mod probe;
pub mod prometheus;
mod server;

pub use faults::Faults;
pub use server::{Server, serve, serve_in_container};

use std::fmt;

/// Static settings of one service instance.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Bearer token `/api/v1/system/status` accepts.
    pub api_token: String,
    /// Reported by `/api/v1/health`, so promotion gates can check what is deployed.
    pub version: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_token: "demo-token".to_owned(),
            version: "1.0.0".to_owned(),
        }
    }
}

// Hand-written so the token never ends up in logs or panic messages.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_token", &"<redacted>")
            .field("version", &self.version)
            .finish()
    }
}
