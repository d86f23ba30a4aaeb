//! Where policy traffic may go, down to the address. gate resolves a host in
//! its own code, checks every address it resolves to against the grants, and
//! dials only addresses it checked: an allowed name pointing at 127.0.0.1,
//! 10.x or 169.254.169.254 is refused before any connection is made.
//!
//! Every capability that opens connections for a policy goes through
//! [`checked_addrs`] (or [`connect`], which dials its result).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::grants::{Grants, HttpDenial, Origin};

/// Why an address is not an ordinary public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Loopback,
    Private,
    LinkLocal,
    UniqueLocal,
    Unspecified,
    /// A cloud provider's instance metadata service.
    Metadata,
    /// 100.64.0.0/10, carrier-grade NAT.
    Shared,
    Multicast,
    Broadcast,
    Reserved,
}

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Special::Loopback => "loopback",
            Special::Private => "private",
            Special::LinkLocal => "link-local",
            Special::UniqueLocal => "unique-local",
            Special::Unspecified => "unspecified",
            Special::Metadata => "cloud metadata",
            Special::Shared => "shared (carrier-grade NAT)",
            Special::Multicast => "multicast",
            Special::Broadcast => "broadcast",
            Special::Reserved => "reserved",
        })
    }
}

/// What kind of special address `ip` is; `None` for a public address.
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4)
/// are judged by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Option<Special> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Special> {
    let [a, b, c, d] = ip.octets();
    let special = match (a, b, c, d) {
        // AWS, GCP, Azure…; Alibaba; Oracle.
        (169, 254, 169, 254) | (100, 100, 100, 200) | (192, 0, 0, 192) => Special::Metadata,
        (0, ..) => Special::Unspecified,
        (127, ..) => Special::Loopback,
        (10, ..) | (192, 168, ..) => Special::Private,
        (172, 16..=31, ..) => Special::Private,
        (169, 254, ..) => Special::LinkLocal,
        (100, 64..=127, ..) => Special::Shared,
        (192, 0, 0, _) => Special::Reserved,
        // Benchmarking (RFC 2544), where fake-IP DNS of local proxies
        // answers; and the documentation ranges (RFC 5737).
        (198, 18..=19, ..) => Special::Reserved,
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => Special::Reserved,
        (255, 255, 255, 255) => Special::Broadcast,
        (224..=239, ..) => Special::Multicast,
        (240..=255, ..) => Special::Reserved,
        _ => return None,
    };
    Some(special)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Special> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some(Special::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Special::Loopback);
    }
    match s {
        // IPv4-compatible (deprecated) and NAT64.
        [0, 0, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            classify_v4(embedded(hi, lo))
        }
        // Local-use NAT64 (RFC 8215): translated by the site, to anywhere.
        [0x64, 0xff9b, 1, ..] => Some(Special::Private),
        // 6to4 carries the IPv4 address in the second and third segments.
        [0x2002, hi, lo, ..] => classify_v4(embedded(hi, lo)),
        // Documentation (RFC 3849, RFC 9637).
        [0x2001, 0xdb8, ..] => Some(Special::Reserved),
        [first, ..] if first & 0xfff0 == 0x3ff0 => Some(Special::Reserved),
        // AWS's IPv6 metadata endpoint.
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => Some(Special::Metadata),
        [first, ..] if first & 0xfe00 == 0xfc00 => Some(Special::UniqueLocal),
        [first, ..] if first & 0xffc0 == 0xfe80 => Some(Special::LinkLocal),
        // Site-local, deprecated but still routed privately here and there.
        [first, ..] if first & 0xffc0 == 0xfec0 => Some(Special::Private),
        [first, ..] if first & 0xff00 == 0xff00 => Some(Special::Multicast),
        _ => None,
    }
}

/// Resolves host names. The runner uses [`SystemLookup`] behind a
/// [`CachedLookup`]; unit tests of the checker give it names of their own.
pub trait Lookup: Send + Sync {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The system's resolver (getaddrinfo: /etc/hosts, then DNS).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, port)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// How long a name's addresses are reused once resolved. A run's checks ask
/// for the same few hosts over and over (50 smoke checks against one
/// target), and a lookup per request would be a DNS query per request;
/// short enough that each round of `gate watch` sees a DNS switch.
pub const NAME_TTL: Duration = Duration::from_secs(5);

/// Names kept at once; past that, expired ones go, and if none had, all.
const MAX_NAMES: usize = 256;

/// A [`Lookup`] that resolves each host and port once per [`NAME_TTL`]:
/// checks asking at the same time wait for the one lookup in flight.
/// Failures are not kept, so the next request asks again. The addresses it
/// hands out are checked by [`checked_addrs`] on every request, as any
/// lookup's are.
pub struct CachedLookup<L = SystemLookup> {
    inner: L,
    ttl: Duration,
    names: Mutex<HashMap<(String, u16), Arc<Resolution>>>,
}

struct Resolution {
    made: Instant,
    addrs: tokio::sync::OnceCell<Vec<IpAddr>>,
}

impl Default for CachedLookup {
    fn default() -> Self {
        CachedLookup::new(SystemLookup, NAME_TTL)
    }
}

impl<L: Lookup> CachedLookup<L> {
    pub fn new(inner: L, ttl: Duration) -> Self {
        CachedLookup {
            inner,
            ttl,
            names: Mutex::default(),
        }
    }

    /// The entry for `host`:`port`, fresh if the one kept has expired.
    fn entry(&self, host: &str, port: u16) -> Arc<Resolution> {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (host.to_owned(), port);
        if let Some(entry) = names.get(&key)
            && entry.made.elapsed() < self.ttl
        {
            return entry.clone();
        }
        if names.len() >= MAX_NAMES {
            names.retain(|_, entry| entry.made.elapsed() < self.ttl);
            if names.len() >= MAX_NAMES {
                names.clear();
            }
        }
        let entry = Arc::new(Resolution {
            made: Instant::now(),
            addrs: tokio::sync::OnceCell::new(),
        });
        names.insert(key, entry.clone());
        entry
    }
}

impl<L: Lookup> Lookup for CachedLookup<L> {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        let entry = self.entry(host, port);
        Box::pin(async move {
            entry
                .addrs
                .get_or_try_init(|| self.inner.lookup(host, port))
                .await
                .cloned()
        })
    }
}

/// Why no connection was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The grants do not allow the origin, or an address its host resolves
    /// to. Nothing was sent.
    #[error("{0}")]
    Denied(String),
    /// The name could not be resolved.
    #[error("{0}")]
    Resolve(String),
    /// No checked address accepted a connection.
    #[error("{0}")]
    Connect(String),
}

impl From<HttpDenial> for NetError {
    fn from(denial: HttpDenial) -> NetError {
        match denial {
            HttpDenial::Denied(why) | HttpDenial::Invalid(why) => NetError::Denied(why),
        }
    }
}

/// The addresses `origin` may be dialled at: the origin is allowed, its host
/// is resolved here (an IP literal is taken as it is), and every address is
/// checked. One address that is loopback, private, link-local… without
/// being named explicitly ([`Grants::names_address`]) denies the whole
/// origin, so a name cannot mix a public address with an internal one.
pub async fn checked_addrs(
    grants: &Grants,
    origin: &Origin,
    lookup: &dyn Lookup,
) -> Result<Vec<SocketAddr>, NetError> {
    grants.check_origin(origin)?;
    let ips = match origin.ip() {
        Some(ip) => vec![ip],
        None => lookup
            .lookup(&origin.host, origin.port)
            .await
            .map_err(|e| NetError::Resolve(format!("{}: could not resolve: {e}", origin.host)))?,
    };
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(ips.len());
    for ip in ips {
        if let Some(special) = classify(ip)
            && !grants.names_address(origin, ip)
        {
            return Err(NetError::Denied(address_denial(origin, ip, special)));
        }
        let addr = SocketAddr::new(ip, origin.port);
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(NetError::Resolve(format!(
            "{}: the name resolves to no address",
            origin.host
        )));
    }
    Ok(addrs)
}

fn address_denial(origin: &Origin, ip: IpAddr, special: Special) -> String {
    let flag_host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    match origin.ip() {
        Some(_) => format!(
            "{origin}: {ip} is a {special} address, which this run does not allow; \
             nothing was sent (name it with --allow-host {flag_host}:{} to allow it)",
            origin.port
        ),
        None => format!(
            "{origin}: {host} resolves to {ip}, a {special} address, which no entry names; \
             nothing was sent (an allowed name is not enough for {special} addresses: \
             also allow the address with --allow-host {flag_host}:{} if {host} is meant to reach it)",
            origin.port,
            host = origin.host,
        ),
    }
}

/// Dials `origin` at its checked addresses, in the order the resolver gave
/// them, for capabilities that speak TCP themselves (TLS). It has no
/// timeout of its own: callers bound it with the request's.
pub async fn connect(
    grants: &Grants,
    origin: &Origin,
    lookup: &dyn Lookup,
) -> Result<TcpStream, NetError> {
    let addrs = checked_addrs(grants, origin, lookup).await?;
    let mut failures = Vec::new();
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    Err(NetError::Connect(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use url::Url;

    use super::*;

    /// Names resolve only as the test says.
    struct FakeLookup(HashMap<&'static str, Vec<IpAddr>>);

    impl Lookup for FakeLookup {
        fn lookup<'a>(
            &'a self,
            host: &'a str,
            _port: u16,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
            let found =
                self.0.get(host).cloned().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "failed to lookup address")
                });
            Box::pin(std::future::ready(found))
        }
    }

    fn names() -> FakeLookup {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        FakeLookup(HashMap::from([
            ("public.example.com", vec![ip("93.184.215.14")]),
            ("internal.example.com", vec![ip("10.1.2.3")]),
            ("metadata.example.com", vec![ip("169.254.169.254")]),
            (
                "mixed.example.com",
                vec![ip("93.184.215.14"), ip("127.0.0.1")],
            ),
            ("mapped.example.com", vec![ip("::ffff:192.168.1.1")]),
            ("localhost", vec![ip("::1"), ip("127.0.0.1")]),
            ("stage.internal", vec![ip("10.9.8.7")]),
            ("nothing.example.com", vec![]),
        ]))
    }

    fn grants(target: &str, allow: &[&str]) -> Grants {
        Grants::for_tests(target, allow)
    }

    fn origin(url: &str) -> Origin {
        Origin::of(&Url::parse(url).unwrap()).unwrap()
    }

    fn check(grants: &Grants, url: &str) -> Result<Vec<SocketAddr>, NetError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(checked_addrs(grants, &origin(url), &names()))
    }

    fn denied(result: Result<Vec<SocketAddr>, NetError>) -> String {
        match result {
            Err(NetError::Denied(why)) => why,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn classifies_special_ranges() {
        let kind = |s: &str| classify(s.parse().unwrap());
        assert_eq!(kind("127.0.0.1"), Some(Special::Loopback));
        assert_eq!(kind("127.8.9.10"), Some(Special::Loopback));
        assert_eq!(kind("10.0.0.1"), Some(Special::Private));
        assert_eq!(kind("172.16.0.1"), Some(Special::Private));
        assert_eq!(kind("172.31.255.255"), Some(Special::Private));
        assert_eq!(kind("172.32.0.1"), None);
        assert_eq!(kind("192.168.0.1"), Some(Special::Private));
        assert_eq!(kind("169.254.169.254"), Some(Special::Metadata));
        assert_eq!(kind("169.254.1.1"), Some(Special::LinkLocal));
        assert_eq!(kind("100.100.100.200"), Some(Special::Metadata));
        assert_eq!(kind("100.64.0.1"), Some(Special::Shared));
        assert_eq!(kind("0.0.0.0"), Some(Special::Unspecified));
        assert_eq!(kind("255.255.255.255"), Some(Special::Broadcast));
        assert_eq!(kind("224.0.0.1"), Some(Special::Multicast));
        assert_eq!(kind("8.8.8.8"), None);
        assert_eq!(kind("198.18.0.1"), Some(Special::Reserved));
        assert_eq!(kind("198.19.255.254"), Some(Special::Reserved));
        assert_eq!(kind("198.20.0.1"), None);
        assert_eq!(kind("203.0.113.7"), Some(Special::Reserved));
        assert_eq!(kind("64:ff9b:1::a00:1"), Some(Special::Private));
        assert_eq!(kind("2001:db8::1"), Some(Special::Reserved));
        assert_eq!(kind("3fff:1::1"), Some(Special::Reserved));
        assert_eq!(kind("2001:4860::8888"), None);
        assert_eq!(kind("::1"), Some(Special::Loopback));
        assert_eq!(kind("::"), Some(Special::Unspecified));
        assert_eq!(kind("fe80::1"), Some(Special::LinkLocal));
        assert_eq!(kind("fd12:3456::1"), Some(Special::UniqueLocal));
        assert_eq!(kind("fd00:ec2::254"), Some(Special::Metadata));
        assert_eq!(kind("ff02::1"), Some(Special::Multicast));
        assert_eq!(kind("2606:4700::1111"), None);
        // IPv4 hidden in IPv6 is judged as IPv4.
        assert_eq!(kind("::ffff:127.0.0.1"), Some(Special::Loopback));
        assert_eq!(kind("::ffff:169.254.169.254"), Some(Special::Metadata));
        assert_eq!(kind("::10.0.0.1"), Some(Special::Private));
        assert_eq!(kind("64:ff9b::a9fe:a9fe"), Some(Special::Metadata));
        assert_eq!(kind("2002:c0a8:0101::1"), Some(Special::Private));
        assert_eq!(kind("::ffff:8.8.8.8"), None);
    }

    #[test]
    fn public_names_resolve_to_checked_addresses() {
        let g = grants("http://127.0.0.1:8080", &["public.example.com"]);
        let addrs = check(&g, "https://public.example.com/").unwrap();
        assert_eq!(addrs, ["93.184.215.14:443".parse().unwrap()]);
    }

    #[test]
    fn an_allowed_name_resolving_to_a_special_address_is_denied() {
        let g = grants(
            "http://127.0.0.1:8080",
            &[
                "internal.example.com",
                "metadata.example.com",
                "*.example.com",
            ],
        );
        let why = denied(check(&g, "http://internal.example.com/"));
        assert!(
            why.contains("internal.example.com resolves to 10.1.2.3, a private address"),
            "{why}"
        );
        assert!(why.contains("--allow-host 10.1.2.3:80"), "{why}");
        let why = denied(check(&g, "http://metadata.example.com/"));
        assert!(
            why.contains("169.254.169.254, a cloud metadata address"),
            "{why}"
        );
        // One internal address among public ones denies the name.
        let why = denied(check(&g, "https://mixed.example.com/"));
        assert!(why.contains("127.0.0.1, a loopback address"), "{why}");
        let why = denied(check(&g, "https://mapped.example.com/"));
        assert!(why.contains("private"), "{why}");
    }

    #[test]
    fn naming_the_address_or_its_range_makes_it_explicit() {
        let g = grants(
            "http://127.0.0.1:8080",
            &["internal.example.com:8443", "10.1.2.3:8443"],
        );
        assert!(check(&g, "https://internal.example.com:8443/").is_ok());
        // The address entry is for 8443 only.
        let g = grants(
            "http://127.0.0.1:8080",
            &["internal.example.com:*", "10.1.2.3:8443"],
        );
        assert!(check(&g, "https://internal.example.com:9000/").is_err());
        let g = grants(
            "http://127.0.0.1:8080",
            &["internal.example.com", "10.0.0.0/8"],
        );
        assert!(check(&g, "http://internal.example.com/").is_ok());
        // A range allows URLs naming an address in it, too.
        assert!(check(&g, "http://10.200.0.1/").is_ok());
        assert!(check(&g, "http://11.0.0.1/").is_err());
    }

    #[test]
    fn localhost_named_exactly_is_explicit_for_loopback() {
        let g = grants("http://127.0.0.1:8080", &["localhost:9000"]);
        let addrs = check(&g, "http://localhost:9000/").unwrap();
        assert_eq!(
            addrs,
            [
                "[::1]:9000".parse().unwrap(),
                "127.0.0.1:9000".parse().unwrap()
            ]
        );
        // Not on another port, and not by wildcard.
        assert!(check(&g, "http://localhost:9001/").is_err());
    }

    #[test]
    fn the_target_is_explicit_whatever_it_resolves_to() {
        let g = grants("http://stage.internal:8080", &[]);
        assert!(check(&g, "http://stage.internal:8080/health").is_ok());
        assert!(check(&g, "http://127.0.0.1:8080/").is_err());
        let g = grants("http://127.0.0.1:8080", &[]);
        assert_eq!(
            check(&g, "http://127.0.0.1:8080/").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        // Another port of the target's address is another origin.
        let why = denied(check(&g, "http://127.0.0.1:8081/"));
        assert!(why.contains("not allowed"), "{why}");
    }

    #[test]
    fn ip_literals_need_an_entry_naming_them() {
        let g = grants("http://127.0.0.1:8080", &["*.example.com", "example.com"]);
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://8.8.8.8/",
        ] {
            let why = denied(check(&g, url));
            assert!(why.contains("not allowed"), "{url}: {why}");
        }
        let g = grants("http://127.0.0.1:8080", &["8.8.8.8", "[::1]:9000"]);
        assert!(check(&g, "http://8.8.8.8/").is_ok());
        assert!(check(&g, "http://[::1]:9000/").is_ok());
    }

    #[test]
    fn resolver_failures_are_not_denials() {
        let g = grants("http://127.0.0.1:8080", &["*.example.com"]);
        assert!(matches!(
            check(&g, "http://unknown.example.com/"),
            Err(NetError::Resolve(why)) if why.contains("unknown.example.com: could not resolve")
        ));
        assert!(matches!(
            check(&g, "http://nothing.example.com/"),
            Err(NetError::Resolve(why)) if why.contains("no address")
        ));
    }

    /// Counts the lookups that reach it. Each answers only after yielding
    /// once, so lookups asked together are in flight at the same time;
    /// `down.example.com` fails.
    #[derive(Default)]
    struct CountingLookup {
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Lookup for CountingLookup {
        fn lookup<'a>(
            &'a self,
            host: &'a str,
            _port: u16,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                tokio::task::yield_now().await;
                match host {
                    "down.example.com" => Err(io::Error::other("no answer")),
                    _ => Ok(vec!["93.184.215.14".parse().unwrap()]),
                }
            })
        }
    }

    impl CachedLookup<CountingLookup> {
        fn calls(&self) -> usize {
            self.inner.calls.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_name_is_resolved_once_for_every_check_asking_together() {
        let cached = CachedLookup::new(CountingLookup::default(), NAME_TTL);
        let answers = block_on(async {
            let asks = (0..8).map(|_| cached.lookup("stage.example.com", 443));
            futures_util::future::join_all(asks).await
        });
        assert_eq!(cached.calls(), 1);
        for answer in answers {
            assert_eq!(
                answer.unwrap(),
                ["93.184.215.14".parse::<IpAddr>().unwrap()]
            );
        }
        // Another port is another entry.
        block_on(cached.lookup("stage.example.com", 8443)).unwrap();
        assert_eq!(cached.calls(), 2);
    }

    #[test]
    fn an_expired_name_and_a_failed_lookup_are_asked_again() {
        let cached = CachedLookup::new(CountingLookup::default(), Duration::ZERO);
        block_on(cached.lookup("stage.example.com", 443)).unwrap();
        block_on(cached.lookup("stage.example.com", 443)).unwrap();
        assert_eq!(cached.calls(), 2);

        let cached = CachedLookup::new(CountingLookup::default(), NAME_TTL);
        for _ in 0..2 {
            let error = block_on(cached.lookup("down.example.com", 443)).unwrap_err();
            assert_eq!(error.to_string(), "no answer");
        }
        assert_eq!(cached.calls(), 2);
    }

    #[test]
    fn cached_addresses_are_still_checked() {
        let cached = CachedLookup::new(names(), NAME_TTL);
        let g = grants("http://127.0.0.1:8080", &["*.example.com"]);
        let run = |url: &str| block_on(checked_addrs(&g, &origin(url), &cached));
        assert!(run("http://public.example.com/").is_ok());
        for _ in 0..2 {
            let why = denied(run("http://internal.example.com/"));
            assert!(why.contains("10.1.2.3"), "{why}");
        }
    }

    #[test]
    fn the_name_cache_is_bounded() {
        let cached = CachedLookup::new(CountingLookup::default(), NAME_TTL);
        block_on(async {
            for n in 0..(MAX_NAMES + 10) {
                cached
                    .lookup(&format!("h{n}.example.com"), 443)
                    .await
                    .unwrap();
            }
        });
        assert!(cached.names.lock().unwrap().len() <= MAX_NAMES);
    }
}
