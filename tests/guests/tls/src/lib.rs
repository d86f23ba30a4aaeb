//! Test fixture: reports what a TLS handshake with `--param host=… port=…`
//! saw, so tests can assert the facts the host returns.

use gate_sdk::{
    Capability, Check, CheckResult, Error, Measurement, Policy, PolicyKind, Result, context,
    export_policy, tls,
};

fn policy() -> Policy {
    Policy::new("tls", PolicyKind::Gate)
        .check(Check::new("facts", "the peer certificate's facts", facts).needs(Capability::Tls))
        .check(
            Check::new(
                "certificate",
                "the certificate is trusted and valid for `min_cert_days`",
                certificate,
            )
            .needs(Capability::Tls),
        )
}

export_policy!(policy);

fn endpoint() -> Result<(String, u16)> {
    let host = context::require_param("host")?;
    let port = context::param("port")
        .ok_or_else(|| Error::Other("give --param port=…".into()))?
        .parse()
        .map_err(|e| Error::Other(format!("bad port: {e}")))?;
    Ok((host, port))
}

fn facts() -> Result<CheckResult> {
    let (host, port) = endpoint()?;
    let peer = tls::inspect(&host, port)?;
    let c = &peer.certificate;
    Ok(CheckResult::pass(format!(
        "subject={} | issuer={} | sans={} | trusted={} | reason={} | protocol={} | chain={} | not_before={} | not_after={}",
        c.subject,
        c.issuer,
        c.sans.join(","),
        peer.trusted,
        peer.untrusted_reason.as_deref().unwrap_or("-"),
        peer.protocol,
        peer.chain_length,
        c.not_before,
        c.not_after,
    ))
    .with(Measurement::new("days_left", peer.days_left, "days")))
}

fn certificate() -> Result<CheckResult> {
    let (host, port) = endpoint()?;
    let min_days: f64 = context::param_or("min_cert_days", 14.0)?;
    tls::cert_valid_for(&host, port, min_days)
}
