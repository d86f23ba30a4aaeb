//! What can be broken at run time, and the middleware that breaks it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::app::error_response;

/// Upper bound for `latency_ms` accepted over HTTP, so a typo cannot park
/// requests (and a graceful shutdown) for hours.
pub const MAX_LATENCY_MS: u64 = 60_000;

/// Faults to inject; the default is a healthy service.
///
/// Missing fields deserialize to their healthy default, so a JSON body
/// describes the complete fault set, not a change to the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered with 500, in `0..=1`; applied
    /// deterministically (see the crate docs).
    pub error_rate: f64,
    /// Delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// Whether the database is reachable, as `/ready` and system status report it.
    pub db_up: bool,
    /// Whether migrations ran, as `/ready` and system status report it.
    pub migrations_applied: bool,
    /// Exact request path to the status it answers with instead of its handler.
    pub path_status: BTreeMap<String, u16>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency_ms: 0,
            db_up: true,
            migrations_applied: true,
            path_status: BTreeMap::new(),
        }
    }
}

impl Faults {
    /// Checks the limits `PUT /admin/faults` enforces.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be within 0..=1, got {}",
                self.error_rate
            ));
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!(
                "latency_ms must be at most {MAX_LATENCY_MS}, got {}",
                self.latency_ms
            ));
        }
        if let Some((path, code)) = self
            .path_status
            .iter()
            .find(|(_, code)| !(100..=599).contains(*code))
        {
            return Err(format!(
                "path_status[{path:?}] must be within 100..=599, got {code}"
            ));
        }
        Ok(())
    }
}

/// One million: error rates are tracked in parts per million.
const PPM: u32 = 1_000_000;

/// The live fault set of one server plus the error-rate accumulator.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    faults: Faults,
    // Integer parts per million rather than f64: summing 0.1 ten times in
    // floating point gives 0.999..., which would make the tenth request
    // pass and every count in a test off by one.
    acc_ppm: u32,
}

/// How a request that passed the fault middleware must be treated.
#[derive(Debug, PartialEq)]
enum Plan {
    Status(StatusCode),
    Proceed { delay: Duration, fail: bool },
}

/// Which faults an endpoint is subject to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scope {
    /// Liveness: only path overrides, never latency or errors.
    StatusOnly,
    All,
}

impl FaultState {
    pub(crate) fn get(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Replaces the faults and restarts the error-rate count, so a test that
    /// sets a rate sees the same sequence no matter what ran before.
    pub(crate) fn set(&self, faults: Faults) {
        let mut inner = self.lock();
        inner.faults = faults;
        inner.acc_ppm = 0;
    }

    /// `(db_up, migrations_applied)`, without cloning the path map.
    pub(crate) fn dependencies(&self) -> (bool, bool) {
        let inner = self.lock();
        (inner.faults.db_up, inner.faults.migrations_applied)
    }

    // Everything is decided in one critical section on arrival, so requests
    // are counted in the order they arrive even when latency makes them
    // finish out of order.
    fn plan(&self, path: &str, scope: Scope) -> Plan {
        let mut inner = self.lock();
        if let Some(&code) = inner.faults.path_status.get(path) {
            // In-process callers skip validation; answer something sane.
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Plan::Status(status);
        }
        if scope == Scope::StatusOnly {
            return Plan::Proceed {
                delay: Duration::ZERO,
                fail: false,
            };
        }
        let delay = Duration::from_millis(inner.faults.latency_ms);
        // Clamped because in-process callers skip validation; NaN becomes 0.
        let rate_ppm = (inner.faults.error_rate.clamp(0.0, 1.0) * f64::from(PPM)).round() as u32;
        inner.acc_ppm += rate_ppm;
        let fail = inner.acc_ppm >= PPM;
        if fail {
            inner.acc_ppm -= PPM;
        }
        Plan::Proceed { delay, fail }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing can be left half-updated by a panic here; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Middleware for ordinary endpoints: path overrides, latency and errors.
pub(crate) async fn inject(
    State(faults): State<Arc<FaultState>>,
    req: Request,
    next: Next,
) -> Response {
    apply(&faults, Scope::All, req, next).await
}

/// Middleware for liveness: path overrides only, so `/health` stays fast.
pub(crate) async fn inject_status_only(
    State(faults): State<Arc<FaultState>>,
    req: Request,
    next: Next,
) -> Response {
    apply(&faults, Scope::StatusOnly, req, next).await
}

async fn apply(faults: &FaultState, scope: Scope, req: Request, next: Next) -> Response {
    match faults.plan(req.uri().path(), scope) {
        Plan::Status(status) => error_response(status, "injected status"),
        Plan::Proceed { delay, fail } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if fail {
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "injected failure")
            } else {
                next.run(req).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(faults: Faults) -> FaultState {
        let state = FaultState::default();
        state.set(faults);
        state
    }

    fn failures(state: &FaultState, requests: usize) -> Vec<bool> {
        (0..requests)
            .map(|_| match state.plan("/x", Scope::All) {
                Plan::Proceed { fail, .. } => fail,
                Plan::Status(_) => panic!("unexpected override"),
            })
            .collect()
    }

    #[test]
    fn error_rate_is_exact() {
        let rate = |error_rate| {
            state_with(Faults {
                error_rate,
                ..Faults::default()
            })
        };
        assert_eq!(failures(&rate(0.5), 4), [false, true, false, true]);
        assert_eq!(failures(&rate(0.25), 8).iter().filter(|f| **f).count(), 2);
        assert!(failures(&rate(1.0), 5).iter().all(|f| *f));
        assert!(failures(&rate(0.0), 5).iter().all(|f| !*f));
        assert_eq!(failures(&rate(0.1), 10).iter().filter(|f| **f).count(), 1);
    }

    #[test]
    fn setting_faults_restarts_the_count() {
        let state = state_with(Faults {
            error_rate: 0.5,
            ..Faults::default()
        });
        assert_eq!(failures(&state, 1), [false]);
        state.set(state.get());
        assert_eq!(failures(&state, 2), [false, true]);
    }

    #[test]
    fn health_scope_ignores_latency_and_errors() {
        let state = state_with(Faults {
            error_rate: 1.0,
            latency_ms: 500,
            ..Faults::default()
        });
        assert_eq!(
            state.plan("/health", Scope::StatusOnly),
            Plan::Proceed {
                delay: Duration::ZERO,
                fail: false
            }
        );
    }

    #[test]
    fn path_status_wins() {
        let state = state_with(Faults {
            error_rate: 1.0,
            path_status: [("/health".to_owned(), 503)].into(),
            ..Faults::default()
        });
        assert_eq!(
            state.plan("/health", Scope::StatusOnly),
            Plan::Status(StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn validation_limits() {
        assert!(Faults::default().validate().is_ok());
        let bad = [
            Faults {
                error_rate: 1.5,
                ..Faults::default()
            },
            Faults {
                error_rate: -0.1,
                ..Faults::default()
            },
            Faults {
                latency_ms: MAX_LATENCY_MS + 1,
                ..Faults::default()
            },
            Faults {
                path_status: [("/x".to_owned(), 99)].into(),
                ..Faults::default()
            },
            Faults {
                path_status: [("/x".to_owned(), 600)].into(),
                ..Faults::default()
            },
        ];
        for faults in bad {
            assert!(faults.validate().is_err(), "{faults:?}");
        }
    }

    #[test]
    fn partial_json_takes_defaults_and_unknown_fields_fail() {
        let faults: Faults = serde_json::from_str(r#"{"latency_ms":5}"#).unwrap();
        assert_eq!(
            faults,
            Faults {
                latency_ms: 5,
                ..Faults::default()
            }
        );
        assert!(serde_json::from_str::<Faults>(r#"{"latency":5}"#).is_err());
    }
}
