//! Following redirects in the policy, for [`Request::follow_redirects`]:
//! every hop is a new request that the host checks against the run's
//! allow-list like any other, so a redirect cannot lead anywhere a policy
//! could not have asked for itself.
//!
//! The URL handling here only decides where the next hop goes and whether
//! it changes origin; the host parses every URL it is sent for real. Any
//! `Location` this code cannot read with certainty is refused rather than
//! guessed at.

use super::{HttpError, Method, Request};

/// Statuses that carry a `Location` to follow.
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Headers that belong to the origin they were set for, never sent to
/// another: credentials, and the `Host` a server routes by (a virtual host
/// of the first origin means nothing at the next).
const ORIGIN_HEADERS: [&str; 4] = ["authorization", "cookie", "proxy-authorization", "host"];

/// `(scheme, authority, rest)` of an absolute http(s) URL. The authority
/// ends where the URL standard ends it, backslash included.
fn split(url: &str) -> Option<(String, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    Some((scheme, &rest[..end], &rest[end..]))
}

/// The origin (scheme, host, port) of an absolute http(s) URL; `None` when
/// it cannot be told for sure, which counts as another origin.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let (scheme, authority, _) = split(url)?;
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (format!("[{host}]"), after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        },
    };
    let port = match port {
        None | Some("") => {
            if scheme == "https" {
                443
            } else {
                80
            }
        }
        Some(port) => port.parse().ok()?,
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// Whether `url` starts with a scheme (`mailto:`, `https:`…).
pub(super) fn has_scheme(url: &str) -> bool {
    let Some((scheme, _)) = url.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `url` made absolute the way the host does it: a URL without a scheme is
/// resolved against the target. `None` when there is no way to tell.
pub(super) fn absolute(url: &str, target: Option<&str>) -> Option<String> {
    if has_scheme(url) {
        return split(url).map(|_| url.to_owned());
    }
    resolve(target?, url).ok()
}

/// Where `location` (a `Location` header) leads from `base`, an absolute
/// URL. Fragments are dropped: they are never sent.
pub(super) fn resolve(base: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("the Location header is empty".into());
    }
    if location
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(format!(
            "Location `{}` holds spaces, control characters or backslashes",
            location.escape_debug()
        ));
    }
    let location = location.split('#').next().unwrap_or_default();
    if has_scheme(location) {
        return match split(location) {
            Some(_) => Ok(location.to_owned()),
            None => Err(format!(
                "Location `{location}` is not http or https; only those are followed"
            )),
        };
    }
    let (scheme, authority, rest) = split(base)
        .ok_or_else(|| format!("cannot resolve Location `{location}` against `{base}`"))?;
    if let Some(network_path) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{network_path}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{authority}{location}"));
    }
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    if location.starts_with('?') {
        return Ok(format!("{scheme}://{authority}{path}{location}"));
    }
    let dir = path.rfind('/').map_or("/", |end| &path[..=end]);
    Ok(format!("{scheme}://{authority}{dir}{location}"))
}

/// The request for the next hop: to `to`, from `from` (both absolute).
/// Credentials and `Host` are dropped when the origin changes, for good; 303, and 301
/// or 302 after a POST, continue as a GET without a body, as browsers do;
/// 307 and 308 repeat the request as it was.
pub(super) fn next_request(mut request: Request, status: u16, from: &str, to: String) -> Request {
    let same_origin = matches!((origin(from), origin(&to)), (Some(a), Some(b)) if a == b);
    if !same_origin {
        request
            .headers
            .retain(|(name, _)| !ORIGIN_HEADERS.iter().any(|c| name.eq_ignore_ascii_case(c)));
    }
    let to_get = match status {
        303 => request.method != Method::Head,
        301 | 302 => request.method == Method::Post,
        _ => false,
    };
    if to_get {
        request.method = Method::Get;
        request.body = None;
        request.headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("content-type")
                && !name.eq_ignore_ascii_case("content-length")
        });
    }
    request.url = to;
    request
}

/// An error of hop `hop` (1 is the first redirect), saying which hop it was.
pub(super) fn in_hop(error: HttpError, hop: u32, from: &str, to: &str) -> HttpError {
    let at = |text: String| format!("redirect hop {hop} ({from} → {to}): {text}");
    match error {
        HttpError::Denied(text) => HttpError::Denied(at(text)),
        HttpError::InvalidRequest(text) => HttpError::InvalidRequest(at(text)),
        HttpError::Connect(text) => HttpError::Connect(at(text)),
        HttpError::Other(text) => HttpError::Other(at(text)),
        numeric => numeric,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_urls() {
        let base = "http://127.0.0.1:8080/api/v1/items?page=2";
        for (location, expected) in [
            ("https://other.example/x", "https://other.example/x"),
            ("HTTP://Other.example/x#frag", "HTTP://Other.example/x"),
            ("//cdn.example/a", "http://cdn.example/a"),
            ("/login?next=/x", "http://127.0.0.1:8080/login?next=/x"),
            ("?page=3", "http://127.0.0.1:8080/api/v1/items?page=3"),
            ("other", "http://127.0.0.1:8080/api/v1/other"),
            ("../up", "http://127.0.0.1:8080/api/v1/../up"),
        ] {
            assert_eq!(
                resolve(base, location).as_deref(),
                Ok(expected),
                "{location}"
            );
        }
        assert_eq!(
            resolve("http://h:1", "x").as_deref(),
            Ok("http://h:1/x"),
            "a base without a path"
        );
        for (location, why) in [
            ("", "empty"),
            ("http://evil.example\\@good.example/", "backslashes"),
            ("/a b", "spaces"),
            ("/a\r\nSet-Cookie: x", "control"),
            ("file:///etc/passwd", "only those are followed"),
            ("javascript:alert(1)", "only those are followed"),
        ] {
            let error = resolve(base, location).unwrap_err();
            assert!(error.contains(why), "{location}: {error}");
        }
    }

    #[test]
    fn absolute_urls_resolve_paths_against_the_target() {
        let target = Some("http://127.0.0.1:8080/");
        assert_eq!(
            absolute("/health", target).as_deref(),
            Some("http://127.0.0.1:8080/health")
        );
        assert_eq!(
            absolute("https://x.example/", None).as_deref(),
            Some("https://x.example/")
        );
        assert_eq!(absolute("/health", None), None);
        assert_eq!(absolute("ftp://x/", target), None);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("http://Example.COM/x"),
            Some(("http".into(), "example.com".into(), 80))
        );
        assert_eq!(
            origin("http://example.com:80/"),
            origin("http://example.com/")
        );
        assert_eq!(
            origin("https://example.com:443"),
            origin("HTTPS://example.com/")
        );
        assert_ne!(
            origin("http://example.com/"),
            origin("https://example.com/")
        );
        assert_ne!(
            origin("http://example.com:81/"),
            origin("http://example.com/")
        );
        assert_eq!(
            origin("http://[::1]:9000/"),
            Some(("http".into(), "[::1]".into(), 9000))
        );
        // What cannot be told for sure is another origin.
        assert_eq!(origin("http://user@example.com/"), None);
        assert_eq!(origin("http://example.com:port/"), None);
    }

    fn authed_post() -> Request {
        Request::post("/login")
            .bearer("t0k")
            .header("Cookie", "session=1")
            .header("X-Trace", "abc")
            .json(&[1])
            .follow_redirects(3)
    }

    #[test]
    fn credentials_stay_within_the_origin() {
        let from = "http://127.0.0.1:8080/login";
        let same = next_request(
            authed_post(),
            307,
            from,
            "http://127.0.0.1:8080/v2/login".into(),
        );
        assert_eq!(same.headers().len(), 4, "{:?}", same.headers());
        assert_eq!(same.method(), Method::Post);
        assert_eq!(same.body_bytes(), Some(&b"[1]"[..]));

        for to in [
            "http://other.example:8080/login",
            "http://127.0.0.1:8081/login",
            "https://127.0.0.1:8080/login",
        ] {
            let cross = next_request(authed_post(), 308, from, to.into());
            let names: Vec<&str> = cross.headers().iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["X-Trace", "content-type"], "{to}");
            assert_eq!(cross.url(), to);
            assert_eq!(cross.method(), Method::Post, "308 keeps the method");
        }
    }

    #[test]
    fn a_host_header_stays_within_the_origin() {
        let request = || Request::get("/").header("Host", "shop.example.com");
        let from = "http://127.0.0.1:8080/";
        let same = next_request(request(), 302, from, "http://127.0.0.1:8080/a".into());
        assert_eq!(same.headers().len(), 1);
        let cross = next_request(request(), 302, from, "http://other.example/".into());
        assert!(cross.headers().is_empty(), "{:?}", cross.headers());
    }

    #[test]
    fn see_other_turns_into_get() {
        let from = "http://127.0.0.1:8080/login";
        let to = "http://127.0.0.1:8080/home".to_owned();
        let next = next_request(authed_post(), 303, from, to.clone());
        assert_eq!(next.method(), Method::Get);
        assert_eq!(next.body_bytes(), None);
        assert!(
            next.headers()
                .iter()
                .all(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
        );
        assert_eq!(
            next_request(authed_post(), 302, from, to.clone()).method(),
            Method::Get
        );
        let head = Request::new(Method::Head, "/x");
        assert_eq!(
            next_request(head, 303, from, to.clone()).method(),
            Method::Head
        );
        let put = Request::new(Method::Put, "/x").body("b");
        let kept = next_request(put, 302, from, to);
        assert_eq!(
            (kept.method(), kept.body_bytes()),
            (Method::Put, Some(&b"b"[..]))
        );
    }

    #[test]
    fn hop_errors_name_the_hop() {
        let error = in_hop(
            HttpError::Denied("http://10.0.0.1:80 is not allowed".into()),
            2,
            "http://a/x",
            "http://10.0.0.1/",
        );
        assert_eq!(
            error,
            HttpError::Denied(
                "redirect hop 2 (http://a/x → http://10.0.0.1/): http://10.0.0.1:80 is not allowed"
                    .into()
            )
        );
        assert_eq!(
            in_hop(HttpError::Timeout(5), 1, "a", "b"),
            HttpError::Timeout(5)
        );
    }
}
