//! What a run grants its policies. Every capability asks here before any I/O,
//! so a denial is decided in one place and names what to grant.

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use crate::bindings::Capability;

/// An HTTP origin: scheme, host and port, matched exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// One `--allow-host` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    /// `https://api.example.com:8443`: exactly that origin.
    Origin(Origin),
    /// `api.example.com:8443`: that host and port, over http or https.
    HostPort(String, u16),
    /// `api.example.com`: that host on the default port of http or https.
    Host(String),
}

impl AllowedHost {
    pub fn parse(text: &str) -> Result<AllowedHost, String> {
        let text = text.trim();
        if text.contains("://") {
            let url = Url::parse(text).map_err(|e| format!("`{text}` is not a valid URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "`{text}`: only http and https hosts can be allowed"
                ));
            }
            if url.path() != "/" || url.query().is_some() {
                return Err(format!(
                    "`{text}`: allow an origin (scheme://host:port), not a path"
                ));
            }
            return Origin::of(&url)
                .map(AllowedHost::Origin)
                .ok_or_else(|| format!("`{text}` has no host"));
        }
        // Reuse the URL parser for host syntax (IPv6 brackets, IDNA).
        let url = Url::parse(&format!("http://{text}"))
            .map_err(|e| format!("`{text}` is not a host or host:port: {e}"))?;
        if url.path() != "/" || url.username() != "" || url.query().is_some() {
            return Err(format!("`{text}` is not a host or host:port"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{text}` has no host"))?;
        let host = host.to_ascii_lowercase();
        Ok(match url.port() {
            Some(port) => AllowedHost::HostPort(host, port),
            None if text.ends_with(":80") => AllowedHost::HostPort(host, 80),
            None => AllowedHost::Host(host),
        })
    }

    fn allows(&self, origin: &Origin) -> bool {
        match self {
            AllowedHost::Origin(allowed) => allowed == origin,
            AllowedHost::HostPort(host, port) => *host == origin.host && *port == origin.port,
            AllowedHost::Host(host) => {
                *host == origin.host
                    && matches!(
                        (origin.scheme.as_str(), origin.port),
                        ("http", 80) | ("https", 443)
                    )
            }
        }
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHost::Origin(origin) => origin.fmt(f),
            AllowedHost::HostPort(host, port) => write!(f, "{host}:{port}"),
            AllowedHost::Host(host) => f.write_str(host),
        }
    }
}

/// Everything a run gives its policies: where the stack is, which hosts may
/// be reached, the environment's name, params and secrets.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub target: Option<Url>,
    pub allowed_hosts: Vec<AllowedHost>,
    pub env_name: String,
    pub params: BTreeMap<String, String>,
    /// Secret values by the name a policy asks for.
    pub secrets: BTreeMap<String, String>,
    /// The Prometheus server policies may query (`--prometheus`).
    pub prometheus: Option<Prometheus>,
}

/// A granted Prometheus server.
#[derive(Debug, Clone)]
pub struct Prometheus {
    /// Base URL; `api/v1/query` is resolved against it.
    pub url: Url,
    pub auth: Option<PrometheusAuth>,
}

/// Credentials for Prometheus, resolved from a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum PrometheusAuth {
    Bearer(String),
    Basic { user: String, password: String },
}

impl fmt::Debug for PrometheusAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrometheusAuth::Bearer(_) => f.write_str("Bearer([REDACTED])"),
            PrometheusAuth::Basic { user, .. } => write!(f, "Basic({user}:[REDACTED])"),
        }
    }
}

/// How `--prometheus-auth` names credentials: `bearer:SECRET` (the secret is
/// the token) or `basic:SECRET` (the secret is `user:password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrometheusAuthSpec {
    Bearer(String),
    Basic(String),
}

impl PrometheusAuthSpec {
    pub fn parse(text: &str) -> Result<PrometheusAuthSpec, String> {
        match text.split_once(':') {
            Some(("bearer", name)) if !name.is_empty() => {
                Ok(PrometheusAuthSpec::Bearer(name.to_owned()))
            }
            Some(("basic", name)) if !name.is_empty() => {
                Ok(PrometheusAuthSpec::Basic(name.to_owned()))
            }
            _ => Err(format!("`{text}` is not bearer:SECRET or basic:SECRET")),
        }
    }

    /// Reads the credentials from the run's secrets (keyed as
    /// [`crate::caps::context::secret_key`] does).
    pub fn resolve(&self, secrets: &BTreeMap<String, String>) -> Result<PrometheusAuth, String> {
        let (name, basic) = match self {
            PrometheusAuthSpec::Bearer(name) => (name, false),
            PrometheusAuthSpec::Basic(name) => (name, true),
        };
        let key = crate::caps::context::secret_key(name);
        let value = secrets.get(&key).ok_or_else(|| {
            format!("the Prometheus credentials need secret `{name}`: export GATE_SECRET_{key}")
        })?;
        if !basic {
            return Ok(PrometheusAuth::Bearer(value.clone()));
        }
        let (user, password) = value
            .split_once(':')
            .ok_or_else(|| format!("secret `{name}` must be `user:password` for basic auth"))?;
        Ok(PrometheusAuth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

impl Grants {
    /// `None` when the capability is granted, else what to grant.
    pub fn missing(&self, capability: Capability) -> Option<&'static str> {
        match capability {
            Capability::Http if self.target.is_some() || !self.allowed_hosts.is_empty() => None,
            Capability::Http => {
                Some("http: give the stack's URL with --target URL (or --allow-host HOST)")
            }
            Capability::Metrics if self.prometheus.is_some() => None,
            Capability::Metrics => Some("metrics: give the Prometheus URL with --prometheus URL"),
            Capability::Docker => {
                Some("docker: this version of gate does not provide Docker engine queries yet")
            }
            Capability::Tls => {
                Some("tls: this version of gate does not provide TLS certificate checks yet")
            }
        }
    }

    /// Resolves a policy's URL (absolute, or a path against the target) and
    /// checks it against the grants. Nothing is sent before this says yes.
    pub fn http_url(&self, raw: &str) -> Result<Url, HttpDenial> {
        let url = match Url::parse(raw) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let base = self.target.as_ref().ok_or_else(|| {
                    HttpDenial::Invalid(format!(
                        "relative URL `{raw}` needs a target: run with --target URL"
                    ))
                })?;
                base.join(raw)
                    .map_err(|e| HttpDenial::Invalid(format!("bad URL `{raw}`: {e}")))?
            }
            Err(e) => return Err(HttpDenial::Invalid(format!("bad URL `{raw}`: {e}"))),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpDenial::Invalid(format!(
                "URL `{url}`: only http and https are supported"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpDenial::Invalid(
                "credentials in URLs are refused: send an Authorization header from a secret"
                    .into(),
            ));
        }
        let origin = Origin::of(&url)
            .ok_or_else(|| HttpDenial::Invalid(format!("URL `{url}` has no host")))?;
        let allowed = self.target.as_ref().and_then(Origin::of).as_ref() == Some(&origin)
            || self.allowed_hosts.iter().any(|a| a.allows(&origin));
        if allowed {
            Ok(url)
        } else {
            Err(HttpDenial::Denied(format!(
                "{origin} is not allowed for this run (allowed: {}); grant it with --allow-host {}:{}",
                self.describe_allowed(),
                origin.host_for_flag(),
                origin.port
            )))
        }
    }

    fn describe_allowed(&self) -> String {
        let mut allowed: Vec<String> = self
            .target
            .iter()
            .filter_map(Origin::of)
            .map(|o| o.to_string())
            .collect();
        allowed.extend(self.allowed_hosts.iter().map(|a| a.to_string()));
        if allowed.is_empty() {
            "nothing".to_owned()
        } else {
            allowed.join(", ")
        }
    }
}

impl Origin {
    fn host_for_flag(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpDenial {
    Denied(String),
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(target: &str, allow: &[&str]) -> Grants {
        Grants {
            target: Some(Url::parse(target).unwrap()),
            allowed_hosts: allow
                .iter()
                .map(|a| AllowedHost::parse(a).unwrap())
                .collect(),
            ..Grants::default()
        }
    }

    #[test]
    fn target_origin_only() {
        let g = grants("http://127.0.0.1:8080", &[]);
        assert_eq!(
            g.http_url("/health").unwrap().as_str(),
            "http://127.0.0.1:8080/health"
        );
        assert!(g.http_url("http://127.0.0.1:8080/x").is_ok());
        let denied = g.http_url("http://127.0.0.1:8081/x").unwrap_err();
        assert!(
            matches!(&denied, HttpDenial::Denied(m) if m.contains("http://127.0.0.1:8081") && m.contains("--allow-host 127.0.0.1:8081")),
            "{denied:?}"
        );
        assert!(matches!(
            g.http_url("https://127.0.0.1:8080/"),
            Err(HttpDenial::Denied(_))
        ));
        assert!(matches!(
            g.http_url("http://169.254.169.254/latest"),
            Err(HttpDenial::Denied(_))
        ));
        assert!(matches!(
            g.http_url("http://[::1]:8080/"),
            Err(HttpDenial::Denied(_))
        ));
        assert!(matches!(
            g.http_url("file:///etc/passwd"),
            Err(HttpDenial::Invalid(_))
        ));
        assert!(matches!(
            g.http_url("http://u:p@127.0.0.1:8080/"),
            Err(HttpDenial::Invalid(_))
        ));
    }

    #[test]
    fn allow_host_forms() {
        let g = grants(
            "http://127.0.0.1:1",
            &[
                "api.example.com",
                "db.example.com:5000",
                "https://x.example.com:8443",
            ],
        );
        assert!(g.http_url("https://API.example.com/v1").is_ok());
        assert!(g.http_url("http://api.example.com/v1").is_ok());
        assert!(g.http_url("https://api.example.com:444/").is_err());
        assert!(g.http_url("http://db.example.com:5000/").is_ok());
        assert!(g.http_url("https://db.example.com:5000/").is_ok());
        assert!(g.http_url("https://x.example.com:8443/").is_ok());
        assert!(g.http_url("http://x.example.com:8443/").is_err());
        assert!(g.http_url("https://evil.example.com/").is_err());
        assert!(AllowedHost::parse("http://x/path").is_err());
        assert!(AllowedHost::parse("ftp://x").is_err());
        assert_eq!(
            AllowedHost::parse("[::1]:80").unwrap(),
            AllowedHost::HostPort("[::1]".into(), 80)
        );
    }

    #[test]
    fn relative_without_target() {
        let g = Grants {
            allowed_hosts: vec![AllowedHost::parse("a.example").unwrap()],
            ..Grants::default()
        };
        assert!(matches!(g.http_url("/x"), Err(HttpDenial::Invalid(m)) if m.contains("--target")));
        assert_eq!(g.missing(Capability::Http), None);
        assert!(Grants::default().missing(Capability::Http).is_some());
    }

    #[test]
    fn prometheus_auth_from_secrets() {
        let secrets: BTreeMap<String, String> = [
            ("PROM_TOKEN".to_owned(), "t0k".to_owned()),
            ("PROM_LOGIN".to_owned(), "gate:pa:ss".to_owned()),
        ]
        .into();
        let bearer = PrometheusAuthSpec::parse("bearer:prom_token").unwrap();
        assert_eq!(
            bearer.resolve(&secrets),
            Ok(PrometheusAuth::Bearer("t0k".into()))
        );
        let basic = PrometheusAuthSpec::parse("basic:prom-login").unwrap();
        assert_eq!(
            basic.resolve(&secrets),
            Ok(PrometheusAuth::Basic {
                user: "gate".into(),
                password: "pa:ss".into()
            })
        );
        let missing = PrometheusAuthSpec::parse("bearer:nope")
            .unwrap()
            .resolve(&secrets)
            .unwrap_err();
        assert!(missing.contains("GATE_SECRET_NOPE"), "{missing}");
        assert!(PrometheusAuthSpec::parse("token:x").is_err());
        assert!(PrometheusAuthSpec::parse("bearer:").is_err());
        assert!(!format!("{:?}", PrometheusAuth::Bearer("t0k".into())).contains("t0k"));
    }
}
