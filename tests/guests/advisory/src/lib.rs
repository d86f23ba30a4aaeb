//! Test fixture: a policy whose checks are all non-blocking (advice that
//! never decides a run), to show that such a policy alone cannot pass and
//! beside others changes nothing. Its one check GETs `--param url=…`
//! (default: the target's `/health`).

use gate_sdk::http::Request;
use gate_sdk::{
    Capability, Check, CheckResult, Policy, PolicyKind, Result, context, export_policy,
};

fn policy() -> Policy {
    Policy::new("advisory", PolicyKind::Smoke).check(
        Check::new("health", "GET `url` answers 2xx (advice only)", health)
            .needs(Capability::Http)
            .non_blocking(),
    )
}

export_policy!(policy);

fn health() -> Result<CheckResult> {
    let url = context::param("url").unwrap_or_else(|| "/health".to_owned());
    let response = Request::get(&url).send()?;
    let message = format!("GET {url} → {}", response.status());
    if response.is_success() {
        Ok(CheckResult::pass(message))
    } else {
        Ok(CheckResult::fail(message))
    }
}
