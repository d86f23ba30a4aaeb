//! The SDK for writing gate policies: sandboxed WebAssembly components that
//! encode promotion gates, rollback triggers and smoke tests.
//!
//! A policy is a Rust `cdylib` crate built for `wasm32-wasip2`. It declares a
//! [`Policy`] made of named [`Check`]s and hands it to [`export_policy!`]. The
//! gate runner asks the policy to describe itself, then runs each check in a
//! fresh instance. A check returns a [`CheckResult`] (pass, warn, fail or
//! inconclusive, with a one-line message and [`Measurement`]s) or an [`Error`],
//! which the runner reports as `error`.
//!
//! Checks reach the outside world only through the host:
//!
//! * [`http`]: requests to the target (`--target`) and hosts the run allows;
//!   paths such as `/health` are resolved against the target.
//! * [`metrics`]: Prometheus queries (`--prometheus URL`), with [`metrics::measure`]
//!   for gates and [`metrics::sustained`] for alert-style rollback triggers.
//! * [`docker`]: read-only Docker engine queries (`--docker`), with
//!   [`docker::compose_healthy`] (or [`docker::compose_healthy_with_jobs`],
//!   for a stack with one-shot jobs), [`docker::image_tag_is`] and
//!   [`docker::resources_within`] for compose stacks.
//! * [`tls`]: the certificate a server presents, with
//!   [`tls::cert_valid_for`] for expiry checks.
//! * [`context`]: the target, the environment name, `--param`s and secrets.
//! * [`log`]: lines attached to the check's report.
//!
//! # A complete policy
//!
//! ```no_run
//! use gate_sdk::{
//!     export_policy, http, judge, Capability, Check, CheckResult, Limit, Policy, PolicyKind,
//!     Result,
//! };
//!
//! /// `/ready` must answer 200.
//! fn ready() -> Result<CheckResult> {
//!     let response = http::get("/ready")?;
//!     if response.status() == 200 {
//!         Ok(CheckResult::pass("/ready answered 200"))
//!     } else {
//!         Ok(CheckResult::fail(format!("/ready answered {}", response.status())))
//!     }
//! }
//!
//! /// None of ten requests to the product list may fail (5xx or no
//! /// response), and they must average under 300 ms: a failing service
//! /// answers fast, so the failures count first.
//! fn latency() -> Result<CheckResult> {
//!     let samples = http::sample(10, |_| http::Request::get("/api/v1/products"))?;
//!     if samples.errors() > 0 {
//!         return Ok(CheckResult::fail(format!(
//!             "{} of {} requests failed: {}",
//!             samples.errors(),
//!             samples.count(),
//!             samples.first_failures().join("; ")
//!         )));
//!     }
//!     Ok(judge("latency_avg", samples.mean_ms(), "ms", Limit::Below(300.0)))
//! }
//!
//! fn policy() -> Policy {
//!     Policy::new("example", PolicyKind::Gate)
//!         .version(env!("CARGO_PKG_VERSION"))
//!         .check(Check::new("ready", "GET /ready answers 200", ready).needs(Capability::Http))
//!         .check(
//!             Check::new("latency", "average latency under 300 ms", latency)
//!                 .needs(Capability::Http)
//!                 .non_blocking(),
//!         )
//! }
//!
//! export_policy!(policy);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm`
//! file rustc writes is already a component.
//!
//! # Testing natively
//!
//! The host exists only inside gate. Natively (`cargo test`), every call a
//! check makes to the host is answered by a [`mock::MockHost`]: set the
//! target, params, secrets and the answers to HTTP requests, Prometheus
//! queries, Docker engine calls and TLS handshakes in Rust, run a check with
//! [`mock::MockHost::run`], and assert its outcome. A call the mock has no
//! answer for panics, naming it.
//!
//! ```
//! use gate_sdk::http::{Method, Response};
//! use gate_sdk::mock::MockHost;
//! use gate_sdk::{http, Check, CheckResult, Outcome, Policy, PolicyKind};
//!
//! let policy = Policy::new("example", PolicyKind::Gate).check(Check::new("ready", "", || {
//!     Ok(CheckResult::pass(format!("answered {}", http::get("/ready")?.status())))
//! }));
//! let host = MockHost::new().http(Method::Get, "/ready", Response::new("/ready", 200, vec![], "", 1.0));
//! assert_eq!(host.run(&policy, "ready")?.outcome, Outcome::Pass);
//! # Ok::<(), gate_sdk::Error>(())
//! ```

#![deny(missing_docs)]

mod error;
mod host;
mod policy;
mod result;

pub mod context;
pub mod docker;
pub mod http;
pub mod log;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod mock;
pub mod tls;

pub use error::{Error, Result};
pub use policy::{Capability, Check, Policy, PolicyKind};
pub use result::{CheckResult, Limit, Measurement, Outcome, judge};

/// Glue used by [`export_policy!`]; not part of the API.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __private {
    /// Bindings generated from the WIT contract, the SDK's copy of the
    /// workspace's `wit/` (kept identical by `cargo xtask wit`, checked by
    /// this crate's tests and `cargo xtask lint`).
    ///
    /// `pub_export_macro` makes the generated `export!` macro usable from
    /// policy crates. [`export_policy!`](crate::export_policy!) always names
    /// this module through `$crate`, so `default_bindings_module` only
    /// matters to someone calling `export!` by hand.
    #[allow(clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            world: "policy",
            path: "wit",
            pub_export_macro: true,
            default_bindings_module: "gate_sdk::__private::bindings",
        });
    }

    pub use crate::policy::{describe, run_check};
    pub use bindings::exports::gate::policy::checks::{CheckResult, Guest, PolicyInfo};
    pub use std::string::String;
}
