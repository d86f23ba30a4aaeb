//! TLS handshakes to read a server's certificate: to the target's host or a
//! host the run allows (`--allow-host`), verified against the system roots
//! and the run's `--ca-file`s.
//!
//! A check that uses them should declare
//! [`Capability::Tls`](crate::Capability::Tls). A certificate that does not
//! verify (expired, self-signed, unknown issuer, wrong name) is still
//! returned, with [`Peer::trusted`] false and the reason, so a check can
//! report what it saw; [`cert_valid_for`] fails on it.
//!
//! ```no_run
//! use gate_sdk::{tls, CheckResult, Result};
//!
//! fn certificate() -> Result<CheckResult> {
//!     tls::cert_valid_for("api.example.com", 443, 14.0)
//! }
//! ```

use core::fmt;

use crate::result::format_against;
use crate::{CheckResult, Limit, Measurement, Result};

/// A certificate's facts.
///
/// ```
/// use gate_sdk::tls::Certificate;
///
/// let cert = Certificate { subject: "CN=api".into(), issuer: "CN=ca".into(),
///     sans: vec!["api.example.com".into()], not_before: 0, not_after: 86_400, serial: "01".into() };
/// assert_eq!(cert.sans[0], "api.example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Distinguished name, e.g. `CN=api.example.com`.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Subject alternative names: DNS names and IP addresses.
    pub sans: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Serial number, hex.
    pub serial: String,
}

/// What a server presented in a handshake.
///
/// ```
/// use gate_sdk::tls::{Certificate, Peer};
///
/// let peer = Peer {
///     certificate: Certificate { subject: "CN=api".into(), issuer: "CN=api".into(), sans: vec![],
///         not_before: 0, not_after: 0, serial: "01".into() },
///     days_left: -3.5, chain_length: 1, trusted: false,
///     untrusted_reason: Some("the certificate has expired".into()), protocol: "TLSv1.3".into(),
/// };
/// assert!(!peer.trusted);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// The server's own certificate.
    pub certificate: Certificate,
    /// Days until `not_after`; negative once expired.
    pub days_left: f64,
    /// Certificates the server sent, its own included.
    pub chain_length: u32,
    /// Whether the chain verifies for the host name.
    pub trusted: bool,
    /// Why it does not, when it does not.
    pub untrusted_reason: Option<String>,
    /// Negotiated protocol, e.g. `TLSv1.3`.
    pub protocol: String,
}

/// Why a handshake failed; mirrors the WIT `tls-error`.
///
/// ```
/// use gate_sdk::tls::TlsError;
///
/// let error = TlsError::Denied("api.example.com:443 is not allowed".into());
/// assert!(error.to_string().starts_with("tls denied"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// The host is not allowed for this run; nothing was sent.
    Denied(String),
    /// Bad host name or port.
    InvalidRequest(String),
    /// No TCP connection.
    Connect(String),
    /// The handshake failed.
    Handshake(String),
    /// No handshake within this many milliseconds.
    Timeout(u32),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Denied(why) => write!(f, "tls denied: {why}"),
            TlsError::InvalidRequest(why) => write!(f, "tls: invalid request: {why}"),
            TlsError::Connect(why) => write!(f, "tls: cannot connect: {why}"),
            TlsError::Handshake(why) => write!(f, "tls: handshake failed: {why}"),
            TlsError::Timeout(ms) => write!(f, "tls: no handshake within {ms} ms"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Connects to `host:port` and returns what the server presented.
///
/// ```no_run
/// let peer = gate_sdk::tls::inspect("api.example.com", 443)?;
/// gate_sdk::log::info(format!("{} expires in {:.0} days", peer.certificate.subject, peer.days_left));
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn inspect(host: &str, port: u16) -> Result<Peer> {
    Ok(crate::host::tls_inspect(host, port)?)
}

/// The WIT import, answered by gate (see [`crate::host`]).
#[cfg(target_arch = "wasm32")]
pub(crate) fn wit_inspect(host: &str, port: u16) -> core::result::Result<Peer, TlsError> {
    use crate::__private::bindings::gate::policy::tls as wit;
    let peer = wit::inspect(host, port).map_err(|error| match error {
        wit::TlsError::Denied(why) => TlsError::Denied(why),
        wit::TlsError::InvalidRequest(why) => TlsError::InvalidRequest(why),
        wit::TlsError::Connect(why) => TlsError::Connect(why),
        wit::TlsError::Handshake(why) => TlsError::Handshake(why),
        wit::TlsError::Timeout(ms) => TlsError::Timeout(ms),
    })?;
    let c = peer.certificate;
    Ok(Peer {
        certificate: Certificate {
            subject: c.subject,
            issuer: c.issuer,
            sans: c.sans,
            not_before: c.not_before,
            not_after: c.not_after,
            serial: c.serial,
        },
        days_left: peer.days_left,
        chain_length: peer.chain_length,
        trusted: peer.trusted,
        untrusted_reason: peer.untrusted_reason,
        protocol: peer.protocol,
    })
}

/// The host and port of an `https://` URL (port 443 unless given), or
/// `None` for another scheme.
///
/// ```
/// use gate_sdk::tls::https_endpoint;
///
/// assert_eq!(https_endpoint("https://api.example.com/v1"), Some(("api.example.com".into(), 443)));
/// assert_eq!(https_endpoint("https://127.0.0.1:8443"), Some(("127.0.0.1".into(), 8443)));
/// assert_eq!(https_endpoint("https://[::1]:8443/"), Some(("::1".into(), 8443)));
/// assert_eq!(https_endpoint("http://api.example.com"), None);
/// ```
pub fn https_endpoint(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => 443,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// Passes when `host:port` presents a trusted certificate valid for at
/// least `min_days` more days. See [`judge_certificate`].
///
/// ```no_run
/// use gate_sdk::{tls, CheckResult, Result};
///
/// fn certificate() -> Result<CheckResult> {
///     tls::cert_valid_for("api.example.com", 443, 14.0)
/// }
/// ```
pub fn cert_valid_for(host: &str, port: u16, min_days: f64) -> Result<CheckResult> {
    let peer = inspect(host, port)?;
    Ok(judge_certificate(
        &format!("{host}:{port}"),
        &peer,
        min_days,
    ))
}

/// The verdict of [`cert_valid_for`] on a handshake already made: `fail`
/// when the chain is not trusted (with the reason) or fewer than `min_days`
/// days are left (with the days left and the expiry date).
///
/// ```
/// use gate_sdk::tls::{judge_certificate, Certificate, Peer};
/// use gate_sdk::Outcome;
///
/// let peer = Peer {
///     certificate: Certificate { subject: "CN=api".into(), issuer: "CN=ca".into(), sans: vec![],
///         not_before: 0, not_after: 1_700_000_000, serial: "01".into() },
///     days_left: 5.2, chain_length: 2, trusted: true, untrusted_reason: None, protocol: "TLSv1.3".into(),
/// };
/// let result = judge_certificate("api:443", &peer, 14.0);
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("expires in 5.2 days"));
/// ```
pub fn judge_certificate(endpoint: &str, peer: &Peer, min_days: f64) -> CheckResult {
    let cert = &peer.certificate;
    let limit = Limit::AtLeast(min_days);
    let days =
        Measurement::new("cert_days_left", peer.days_left, "days").threshold(limit.to_string());
    let expiry = format!("{} (not after {})", cert.subject, utc_date(cert.not_after));
    // Shown beside `min_days`: 13.96 days must not read as 14.0 in a line
    // that says "fewer than 14 days".
    let days_text = if peer.days_left < 0.0 {
        format!(
            "expired {} days ago",
            format_against(-peer.days_left, -min_days)
        )
    } else {
        format!(
            "expires in {} days",
            format_against(peer.days_left, min_days)
        )
    };
    let result = if !peer.trusted {
        let why = peer
            .untrusted_reason
            .as_deref()
            .unwrap_or("the chain does not verify");
        CheckResult::fail(format!(
            "certificate of {endpoint} is not trusted: {why}; {expiry}, issuer {}, {days_text}",
            cert.issuer
        ))
    } else if !limit.allows(peer.days_left) {
        CheckResult::fail(format!(
            "certificate of {endpoint} {days_text}, fewer than {min_days} days: {expiry}"
        ))
    } else {
        CheckResult::pass(format!(
            "certificate of {endpoint} is trusted and {days_text}: {expiry}"
        ))
    };
    result.with(days)
}

/// `YYYY-MM-DD` (UTC) of a Unix time, for messages.
fn utc_date(unix: i64) -> String {
    let (year, month, day) = gate_units::civil_date(unix);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn peer(days_left: f64, trusted: bool) -> Peer {
        Peer {
            certificate: Certificate {
                subject: "CN=localhost".into(),
                issuer: "CN=localhost".into(),
                sans: vec!["localhost".into()],
                not_before: 0,
                not_after: 1_767_225_600,
                serial: "01".into(),
            },
            days_left,
            chain_length: 1,
            trusted,
            untrusted_reason: (!trusted).then(|| "the certificate is self-signed".to_owned()),
            protocol: "TLSv1.3".into(),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_767_225_600), "2026-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn verdicts() {
        let good = judge_certificate("h:443", &peer(90.0, true), 14.0);
        assert_eq!(good.outcome, Outcome::Pass);
        assert!(good.message.contains("2026-01-01"), "{}", good.message);
        let untrusted = judge_certificate("h:443", &peer(90.0, false), 14.0);
        assert_eq!(untrusted.outcome, Outcome::Fail);
        assert!(
            untrusted.message.contains("self-signed"),
            "{}",
            untrusted.message
        );
        let expired = judge_certificate("h:443", &peer(-2.0, true), 14.0);
        assert!(
            expired.message.contains("expired 2.0 days ago"),
            "{}",
            expired.message
        );
        let nan = judge_certificate("h:443", &peer(f64::NAN, true), 14.0);
        assert_eq!(nan.outcome, Outcome::Fail);
    }

    #[test]
    fn days_left_never_read_as_the_limit_they_miss() {
        let short = judge_certificate("h:443", &peer(13.96, true), 14.0);
        assert_eq!(short.outcome, Outcome::Fail);
        assert!(
            short
                .message
                .contains("expires in 13.96 days, fewer than 14 days"),
            "{}",
            short.message
        );
        let enough = judge_certificate("h:443", &peer(14.04, true), 14.0);
        assert_eq!(enough.outcome, Outcome::Pass);
        assert!(
            enough.message.contains("expires in 14.04 days"),
            "{}",
            enough.message
        );
    }
}
