//! What a run grants its policies. Every capability asks here before any I/O,
//! so a denial is decided in one place and names what to grant.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::bindings::Capability;

/// Bytes of a policy's URL or host that an error message repeats.
const SHOWN_BYTES: usize = 512;

/// An HTTP origin: scheme, host and port, matched exactly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// One `--allow-host` entry (or `allow_hosts` item), like Spin's
/// `allowed_outbound_hosts`: an optional scheme, a host pattern and a port.
///
/// | entry | allows |
/// | --- | --- |
/// | `api.example.com` | that host over http on 80 or https on 443 |
/// | `api.example.com:8443` | that host and port, over http or https |
/// | `https://api.example.com:8443` | exactly that origin |
/// | `*.example.com` | any name under example.com (not example.com itself) |
/// | `api.example.com:*` | that host on any port |
/// | `10.1.2.3:8080`, `[fd00::1]:443` | that address (and names resolving to it, see [`Grants::names_address`]) |
/// | `10.0.0.0/8:8080`, `[fd00::/8]` | every address of the range |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `None`: http or https.
    pub scheme: Option<String>,
    pub host: HostPattern,
    pub port: PortRule,
}

/// The host part of an [`AllowedHost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// A DNS name, matched exactly (lower case, IDNA-normalised).
    Name(String),
    /// `*.example.com`, kept as `example.com`: any name ending in
    /// `.example.com`, at any depth.
    Subdomains(String),
    /// An IP address, matched by URLs that name it.
    Ip(IpAddr),
    /// An address range in CIDR form; `net` has its host bits cleared.
    Range { net: IpAddr, prefix: u8 },
}

/// The port part of an [`AllowedHost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRule {
    /// No port given: 80 for http, 443 for https.
    Default,
    Exact(u16),
    /// `:*`
    Any,
}

impl AllowedHost {
    pub fn parse(text: &str) -> Result<AllowedHost, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                if !matches!(scheme.as_str(), "http" | "https") {
                    return Err(format!(
                        "`{text}`: only http and https hosts can be allowed"
                    ));
                }
                (Some(scheme), rest)
            }
            None => (None, text),
        };
        // One trailing slash is how origins are often written.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        if rest.contains('@') {
            return Err(format!(
                "`{text}`: allow an origin (scheme://host:port), without credentials"
            ));
        }
        if rest.contains(char::is_whitespace) {
            return Err(format!("`{text}`: a host holds no space"));
        }
        // A slash is a path unless it ends an address range (`10.0.0.0/8`).
        let range = rest.starts_with('[')
            || rest
                .split_once('/')
                .is_some_and(|(addr, _)| addr.parse::<IpAddr>().is_ok());
        if rest.contains(['?', '#']) || rest.contains('/') && !range {
            return Err(format!(
                "`{text}`: allow an origin (scheme://host:port), not a path"
            ));
        }
        let (host, port) = split_host_port(rest).map_err(|why| format!("`{text}`: {why}"))?;
        let port = match port {
            None => PortRule::Default,
            Some("*") => PortRule::Any,
            Some(digits) => match digits.parse::<u16>() {
                Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    PortRule::Exact(port)
                }
                _ => {
                    return Err(format!(
                        "`{text}`: `{digits}` is not a port (1-65535, or * for any)"
                    ));
                }
            },
        };
        let host = HostPattern::parse(host).map_err(|why| format!("`{text}`: {why}"))?;
        Ok(AllowedHost { scheme, host, port })
    }

    /// Whether this entry allows the scheme and port of `origin` (its host
    /// aside).
    fn allows_scheme_and_port(&self, origin: &Origin) -> bool {
        let scheme = match &self.scheme {
            Some(scheme) => *scheme == origin.scheme,
            None => matches!(origin.scheme.as_str(), "http" | "https"),
        };
        let port = match self.port {
            PortRule::Default => default_port(&origin.scheme) == Some(origin.port),
            PortRule::Exact(port) => port == origin.port,
            PortRule::Any => true,
        };
        scheme && port
    }

    fn allows(&self, origin: &Origin) -> bool {
        self.allows_scheme_and_port(origin) && self.host.matches(origin)
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; the port may be `*`.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or("an IPv6 address in brackets lacks its `]`")?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected `{after}` after the IPv6 address")),
            },
        };
    }
    match text.split_once(':') {
        None => Ok((text, None)),
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Err("write IPv6 addresses in brackets: [::1]:8080".into()),
    }
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, String> {
        if let Some((addr, prefix)) = text.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{addr}` is not an IP address (ranges are ADDRESS/BITS)"))?;
            let bits = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`/{prefix}` is not a prefix length (0-{bits})"))?;
            return Ok(HostPattern::Range {
                net: mask(addr, prefix),
                prefix,
            });
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        if text == "*" {
            return Err(
                "`*` would allow every host: name the hosts, or their subdomains with *.example.com"
                    .into(),
            );
        }
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(name) => (true, name),
            None => (false, text),
        };
        // The URL parser's host syntax (IDNA, IPv4 forms such as `127.1`),
        // so entries compare equal to the hosts of parsed URLs.
        match url::Host::parse(name) {
            // Checked on the parsed name: the parser decodes `%2A` into `*`.
            Ok(url::Host::Domain(domain)) if domain.contains('*') => {
                Err("a wildcard may only be the first label: *.example.com".into())
            }
            // The URL parser takes `bad_host!` for a name; no host has one.
            Ok(url::Host::Domain(domain))
                if !domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
            {
                Err(format!(
                    "`{domain}` is not a host name: letters, digits, `-` and `.` (an IP address, \
                     or *.example.com for subdomains)"
                ))
            }
            Ok(url::Host::Domain(domain)) => {
                let domain = domain.to_ascii_lowercase();
                Ok(if wildcard {
                    HostPattern::Subdomains(domain)
                } else {
                    HostPattern::Name(domain)
                })
            }
            Ok(url::Host::Ipv4(ip)) if !wildcard => Ok(HostPattern::Ip(IpAddr::V4(ip))),
            Ok(url::Host::Ipv6(ip)) if !wildcard => Ok(HostPattern::Ip(IpAddr::V6(ip))),
            Ok(_) => Err(format!("`*.{name}`: a wildcard needs a domain name")),
            Err(e) => Err(format!("`{name}` is not a host: {e}")),
        }
    }

    fn matches(&self, origin: &Origin) -> bool {
        match (self, origin.ip()) {
            (HostPattern::Name(name), None) => *name == origin.host,
            (HostPattern::Subdomains(domain), None) => origin
                .host
                .strip_suffix(domain.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            (HostPattern::Ip(ip), Some(host)) => *ip == host,
            (HostPattern::Range { .. }, Some(host)) => self.contains(host),
            _ => false,
        }
    }

    /// Whether the pattern names this address (an address or a range).
    fn contains(&self, ip: IpAddr) -> bool {
        match self {
            HostPattern::Ip(named) => named.to_canonical() == ip.to_canonical(),
            HostPattern::Range { net, prefix } => {
                let ip = if net.is_ipv4() { ip.to_canonical() } else { ip };
                ip.is_ipv4() == net.is_ipv4() && mask(ip, *prefix) == *net
            }
            HostPattern::Name(_) | HostPattern::Subdomains(_) => false,
        }
    }
}

/// `addr` with all but the first `prefix` bits cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

/// Whether `name` is `localhost` or under it: RFC 6761 reserves these for
/// the loopback interface, so naming one is asking for loopback.
fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Range {
                net: IpAddr::V4(ip),
                prefix,
            } => write!(f, "{ip}/{prefix}")?,
            HostPattern::Range {
                net: IpAddr::V6(ip),
                prefix,
            } => write!(f, "[{ip}/{prefix}]")?,
        }
        match self.port {
            PortRule::Default => Ok(()),
            PortRule::Exact(port) => write!(f, ":{port}"),
            PortRule::Any => f.write_str(":*"),
        }
    }
}

/// Everything a run gives its policies: where the stack is, which hosts may
/// be reached, the environment's name, the release, params and secrets.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub target: Option<Url>,
    pub allowed_hosts: Vec<AllowedHost>,
    pub env_name: String,
    /// The release the run judges (`--release`), which a policy may read.
    pub release: Option<String>,
    pub params: BTreeMap<String, String>,
    /// Secret values by the name a policy asks for.
    pub secrets: BTreeMap<String, String>,
    /// The Prometheus server policies may query (`--prometheus`).
    pub prometheus: Option<Prometheus>,
    /// The Docker engine policies may query, read-only (`--docker`).
    pub docker: Option<Url>,
    /// Extra roots TLS handshakes trust (`--ca-file`), besides the system's.
    pub ca_files: Vec<std::path::PathBuf>,
    /// The client certificate TLS handshakes present when asked
    /// (`--client-cert`, `--client-key`).
    pub client_identity: Option<crate::trust::IdentityFiles>,
    /// Read from a fixture's context (`gate test`), not from flags: what to
    /// grant is said in the fixture's terms.
    pub from_fixture: bool,
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
        // The secret must make a variable someone can export.
        let named = crate::caps::context::valid_secret_name;
        match text.split_once(':') {
            Some(("bearer", name)) if !name.is_empty() => {
                named(name)?;
                Ok(PrometheusAuthSpec::Bearer(name.to_owned()))
            }
            Some(("basic", name)) if !name.is_empty() => {
                named(name)?;
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
        let missing = self.missing_flag(capability)?;
        if !self.from_fixture {
            return Some(missing);
        }
        Some(match capability {
            Capability::Http => {
                "http: the fixture's context has no `target` (or `allowed_hosts`) to grant it"
            }
            Capability::Metrics => "metrics: the fixture's context has no `prometheus` to grant it",
            Capability::Docker => "docker: the fixture's context has no `docker` to grant it",
            Capability::Tls => {
                "tls: the fixture's context has no https `target` (or `allowed_hosts`) to grant it"
            }
        })
    }

    /// What [`Grants::missing`] says of a run's flags.
    fn missing_flag(&self, capability: Capability) -> Option<&'static str> {
        match capability {
            Capability::Http if self.target.is_some() || !self.allowed_hosts.is_empty() => None,
            Capability::Http => {
                Some("http: give the stack's URL with --target URL (or --allow-host HOST)")
            }
            Capability::Metrics if self.prometheus.is_some() => None,
            Capability::Metrics => Some("metrics: give the Prometheus URL with --prometheus URL"),
            Capability::Docker if self.docker.is_some() => None,
            Capability::Docker => Some(
                "docker: grant the Docker engine with --docker (the default socket, or --docker unix:///PATH | tcp://HOST:PORT)",
            ),
            // TLS handshakes go where HTTP may go; a plain-http target alone
            // has no certificate to read.
            Capability::Tls
                if self.target.as_ref().is_some_and(|t| t.scheme() == "https")
                    || !self.allowed_hosts.is_empty() =>
            {
                None
            }
            Capability::Tls => {
                Some("tls: give the host with --target https://HOST (or --allow-host HOST:PORT)")
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
                        "relative URL `{}` needs a target: run with --target URL",
                        self.shown(raw)
                    ))
                })?;
                base.join(raw).map_err(|e| {
                    HttpDenial::Invalid(format!("bad URL `{}`: {e}", self.shown(raw)))
                })?
            }
            Err(e) => {
                return Err(HttpDenial::Invalid(format!(
                    "bad URL `{}`: {e}",
                    self.shown(raw)
                )));
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpDenial::Invalid(format!(
                "URL `{}`: only http and https are supported",
                self.shown(url.as_str())
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpDenial::Invalid(
                "credentials in URLs are refused: send an Authorization header from a secret"
                    .into(),
            ));
        }
        let origin = Origin::of(&url).ok_or_else(|| {
            HttpDenial::Invalid(format!("URL `{}` has no host", self.shown(url.as_str())))
        })?;
        self.check_origin(&origin)?;
        Ok(url)
    }

    /// Whether a policy may send `Host: value` with a request to `url`. A
    /// server behind one address (an ingress, a shared proxy) routes by
    /// that header, so it must name the URL's own origin or another one this
    /// run may reach (`value` taken with the URL's scheme, and its default
    /// port when it names none): a run granted the target alone must not
    /// reach every other site served at the target's address.
    pub fn check_host_header(&self, url: &Url, value: &str) -> Result<(), HttpDenial> {
        let shown = self.shown(value);
        let invalid = || {
            HttpDenial::Invalid(format!(
                "the Host header `{shown}` is not a host name or address with an optional port"
            ))
        };
        // Only what a URL's parser leaves as it is: the value judged is the
        // value sent, byte for byte but for case (no `%2E`, no IDNA, no
        // `0x7f.1`, no `a,b.example.com` a suffix match would take).
        let (host, port) = split_host_port(value).map_err(|_| invalid())?;
        let bracketed = value.starts_with('[');
        let host_ok = !host.is_empty()
            && host.chars().all(|c| {
                if bracketed {
                    c.is_ascii_hexdigit() || matches!(c, ':' | '.')
                } else {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
                }
            });
        let port_ok = port.is_none_or(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        });
        if !host_ok || !port_ok {
            return Err(invalid());
        }
        let named = Url::parse(&format!("{}://{value}/", url.scheme())).map_err(|_| invalid())?;
        let written = if bracketed {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        if !named
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(&written))
        {
            return Err(invalid());
        }
        let origin = Origin::of(&named).ok_or_else(invalid)?;
        if Origin::of(url).as_ref() == Some(&origin) {
            return Ok(());
        }
        self.check_origin(&origin).map_err(|denial| match denial {
            HttpDenial::Denied(why) => HttpDenial::Denied(format!(
                "the Host header `{shown}` names another host than the URL's, and {why}"
            )),
            other => other,
        })
    }

    /// A policy's URL or host as an error shows it: cut to
    /// [`SHOWN_BYTES`], since a policy may pass megabytes, and its error
    /// is kept in the check's record and report.
    fn shown(&self, text: &str) -> String {
        if text.len() <= SHOWN_BYTES {
            return text.to_owned();
        }
        let secrets: Vec<String> = self.secrets.values().cloned().collect();
        crate::text::shorten(text, SHOWN_BYTES, &secrets)
    }

    /// Whether the target or an allow-list entry allows `origin` (scheme,
    /// host, port). The addresses its host resolves to are checked apart,
    /// by [`crate::net`].
    pub fn check_origin(&self, origin: &Origin) -> Result<(), HttpDenial> {
        if self.is_target(origin) || self.allowed_hosts.iter().any(|a| a.allows(origin)) {
            Ok(())
        } else {
            Err(HttpDenial::Denied(format!(
                "{} is not allowed for this run (allowed: {}); grant it with --allow-host {}:{}",
                self.shown(&origin.to_string()),
                self.describe_allowed(),
                self.shown(&origin.host_for_flag()),
                origin.port
            )))
        }
    }

    fn is_target(&self, origin: &Origin) -> bool {
        self.target.as_ref().and_then(Origin::of).as_ref() == Some(origin)
    }

    /// Whether `ip`, a loopback, private, link-local… address (see
    /// [`crate::net::classify`]) that `origin`'s host is or resolves to, was
    /// named explicitly for `origin`. Explicit are:
    ///
    /// - the target's origin, whatever its host resolves to: the operator
    ///   chose the stack under test, and stages often live on 10.x;
    /// - an entry naming the address or a range holding it (`10.1.2.3:8080`,
    ///   `10.0.0.0/8`), for the scheme and port the entry allows;
    /// - an entry naming `localhost` (or a name under it) exactly, for
    ///   loopback addresses only.
    ///
    /// Any other name, even one allowed exactly, does not make a special
    /// address explicit: a public-looking name resolving to 10.x or
    /// 169.254.169.254 is what an SSRF looks like.
    pub fn names_address(&self, origin: &Origin, ip: IpAddr) -> bool {
        if self.is_target(origin) {
            return true;
        }
        self.allowed_hosts.iter().any(|entry| {
            entry.allows_scheme_and_port(origin)
                && match &entry.host {
                    HostPattern::Ip(_) | HostPattern::Range { .. } => entry.host.contains(ip),
                    HostPattern::Name(name) => {
                        *name == origin.host
                            && is_localhost(name)
                            && ip.to_canonical().is_loopback()
                    }
                    HostPattern::Subdomains(_) => false,
                }
        })
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
    /// The host as an IP address, when the URL named one.
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host.parse().ok()
    }

    pub(crate) fn host_for_flag(&self) -> String {
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
impl Grants {
    /// A run with this target and these `--allow-host` entries, nothing else.
    pub(crate) fn for_tests(target: &str, allow: &[&str]) -> Grants {
        Grants {
            target: Some(Url::parse(target).unwrap()),
            allowed_hosts: allow
                .iter()
                .map(|a| AllowedHost::parse(a).unwrap())
                .collect(),
            ..Grants::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(target: &str, allow: &[&str]) -> Grants {
        Grants::for_tests(target, allow)
    }

    /// A Host header routes the request at the server: it may name the
    /// URL's own origin or another one the run may reach, nothing else.
    #[test]
    fn a_host_header_names_a_host_the_run_may_reach() {
        let g = grants("http://127.0.0.1:8080", &["shop.example.com"]);
        let url = g.http_url("/health").unwrap();
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1:8080".to_uppercase().as_str(),
            "shop.example.com",
            "SHOP.example.com:80",
        ] {
            assert!(g.check_host_header(&url, ok).is_ok(), "{ok}");
        }
        for denied in [
            "admin.internal",
            "127.0.0.1",
            "127.0.0.1:8081",
            "shop.example.com:8080",
        ] {
            match g.check_host_header(&url, denied) {
                Err(HttpDenial::Denied(why)) => {
                    assert!(
                        why.contains(&format!("the Host header `{denied}`")),
                        "{why}"
                    );
                    assert!(why.contains("--allow-host"), "{why}");
                }
                other => panic!("{denied}: {other:?}"),
            }
        }
        for invalid in [
            "",
            "a b",
            "shop.example.com/x",
            "user@shop.example.com",
            "x?y",
            "a\\b",
            ":80",
            "shop.example.com:99999",
            "shop.example.com:",
            "shop.example.com:+80",
            // What a URL parser rewrites: judged as sent, these would not be
            // the host they parse to.
            "shop%2Eexample.com",
            "SHOP%2eexample.com",
            "admin.internal,x.shop.example.com",
            "0x7f.1:8080",
            "2130706433:8080",
            "bücher.example",
            "[::1",
            "[0:0::1]:8080",
        ] {
            assert!(
                matches!(
                    g.check_host_header(&url, invalid),
                    Err(HttpDenial::Invalid(_))
                ),
                "{invalid:?}"
            );
        }
        let v6 = grants("http://[::1]:8080", &["*.example.com"]);
        let url = v6.http_url("/").unwrap();
        assert!(v6.check_host_header(&url, "[::1]:8080").is_ok());
        assert!(v6.check_host_header(&url, "x.example.com").is_ok());
        assert!(matches!(
            v6.check_host_header(&url, "admin.internal,x.example.com"),
            Err(HttpDenial::Invalid(_))
        ));
        // Over https, a name without a port means 443.
        let g = grants("https://stage.example.com", &["https://api.example.com"]);
        let url = g.http_url("/").unwrap();
        assert!(g.check_host_header(&url, "api.example.com").is_ok());
        assert!(g.check_host_header(&url, "api.example.com:80").is_err());
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
            AllowedHost {
                scheme: None,
                host: HostPattern::Ip("::1".parse().unwrap()),
                port: PortRule::Exact(80)
            }
        );
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let g = grants(
            "http://127.0.0.1:1",
            &["*.example.com", "https://*.api.test:8443"],
        );
        assert!(g.http_url("https://api.example.com/").is_ok());
        assert!(g.http_url("http://a.b.example.com/").is_ok());
        assert!(g.http_url("https://example.com/").is_err());
        assert!(g.http_url("https://evilexample.com/").is_err());
        assert!(g.http_url("https://example.com.evil.net/").is_err());
        assert!(g.http_url("https://api.example.com:8443/").is_err());
        assert!(g.http_url("https://v1.api.test:8443/").is_ok());
        assert!(g.http_url("http://v1.api.test:8443/").is_err());
        // Wildcards never match addresses.
        assert!(g.http_url("http://10.0.0.1/").is_err());
    }

    #[test]
    fn entries_parse_and_print_back() {
        for (text, shown) in [
            ("api.example.com", "api.example.com"),
            ("API.Example.com:8443", "api.example.com:8443"),
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com/", "https://api.example.com"),
            ("HTTP://api.example.com:80", "http://api.example.com:80"),
            ("*.example.com", "*.example.com"),
            ("*.example.com:*", "*.example.com:*"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("127.1", "127.0.0.1"),
            ("[::1]:9000", "[::1]:9000"),
            ("10.1.2.3/8:8080", "10.0.0.0/8:8080"),
            ("[fd00::1/8]", "[fd00::/8]"),
            ("localhost:9000", "localhost:9000"),
        ] {
            let entry = AllowedHost::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(entry.to_string(), shown, "{text}");
            assert_eq!(AllowedHost::parse(shown).unwrap(), entry, "{shown}");
        }
        for (text, why) in [
            ("*", "would allow every host"),
            ("*:80", "would allow every host"),
            ("api.*.com", "first label"),
            // Percent-encoded, as the fuzzer found: decoded, then refused.
            ("%2AX7", "first label"),
            ("%2A.example.com", "first label"),
            ("*.%2A.example.com", "first label"),
            ("*.10.0.0.1", "needs a domain name"),
            ("ftp://x", "only http and https"),
            ("http://x/path", "not a path"),
            ("x?q", "not a path"),
            ("user@x", "without credentials"),
            ("x:0", "not a port"),
            ("x:http", "not a port"),
            ("x:70000", "not a port"),
            ("::1", "brackets"),
            ("[::1", "`]`"),
            ("10.0.0.0/33", "prefix length"),
            ("", "no host"),
            ("exa mple.com", "holds no space"),
            ("bad_host!", "`bad_host!` is not a host name"),
        ] {
            let error = AllowedHost::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn any_port_and_ranges() {
        let g = grants(
            "http://127.0.0.1:1",
            &["api.example.com:*", "192.168.0.0/16:8080"],
        );
        assert!(g.http_url("http://api.example.com:1234/").is_ok());
        assert!(g.http_url("https://api.example.com/").is_ok());
        assert!(g.http_url("http://192.168.7.7:8080/").is_ok());
        assert!(g.http_url("http://192.168.7.7:8081/").is_err());
        assert!(g.http_url("http://192.169.0.1:8080/").is_err());
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
        // A replay names the fixture's key, not a flag `gate test` lacks.
        let replayed = Grants {
            from_fixture: true,
            ..Grants::default()
        };
        for capability in [
            Capability::Http,
            Capability::Metrics,
            Capability::Docker,
            Capability::Tls,
        ] {
            let hint = replayed.missing(capability).unwrap();
            assert!(
                hint.contains("the fixture's context") && !hint.contains("--"),
                "{hint}"
            );
        }
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
        for unexportable in ["bearer:prom token", "basic: ", "bearer:a$b"] {
            let error = PrometheusAuthSpec::parse(unexportable).unwrap_err();
            assert!(error.contains("is not a secret name"), "{error}");
        }
        assert!(!format!("{:?}", PrometheusAuth::Bearer("t0k".into())).contains("t0k"));
    }
}
