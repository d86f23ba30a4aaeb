//! Test fixture: GETs the URL given in `--param url=…`, following up to
//! `--param follow=N` redirects (default 0) and sending `--param token=…` as
//! a bearer token when given, so tests can point a policy anywhere and see
//! what the allow-list lets through. With `--param body_hex=…` it also
//! fails unless the body is exactly those bytes. With `--param
//! show_header=NAME` its message ends with every value of that header,
//! each in brackets; with `--param show_release=1`, with the run's release
//! (`--release`). `--param header=NAME:VALUE` sends that header too.

use gate_sdk::http::Request;
use gate_sdk::{
    Capability, Check, CheckResult, Error, Policy, PolicyKind, Result, context, export_policy,
};

fn policy() -> Policy {
    Policy::new("fetch", PolicyKind::Smoke)
        .check(Check::new("get", "GET `url` answers 2xx", get).needs(Capability::Http))
}

export_policy!(policy);

fn get() -> Result<CheckResult> {
    let url = context::param("url").ok_or_else(|| Error::Other("give --param url=…".into()))?;
    let follow = context::param_or("follow", 0u32)?;
    let mut request = Request::get(&url).follow_redirects(follow);
    if let Some(token) = context::param("token") {
        request = request.bearer(token);
    }
    if let Some(header) = context::param("header") {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Error::Other("give --param header=NAME:VALUE".into()))?;
        request = request.header(name.trim(), value.trim());
    }
    let response = request.send()?;
    let mut message = format!("GET {url} → {} from {}", response.status(), response.url());
    if let Some(name) = context::param("show_header") {
        message.push_str(&format!(" {name}:"));
        for value in response.header_values(&name) {
            message.push_str(&format!(" [{value}]"));
        }
    }
    if context::param("show_release").is_some() {
        match context::release() {
            Some(release) => message.push_str(&format!(" for release [{release}]")),
            None => message.push_str(" for no release"),
        }
    }
    if let Some(want) = context::param("body_hex") {
        let got: String = response.body().iter().map(|b| format!("{b:02x}")).collect();
        if got != want {
            return Ok(CheckResult::fail(format!(
                "{message}: body {got}, not {want}"
            )));
        }
    }
    if response.is_success() {
        Ok(CheckResult::pass(message))
    } else {
        Ok(CheckResult::fail(message))
    }
}
