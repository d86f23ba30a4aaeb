//! The proxies gate's own requests (Prometheus, webhooks: hosts the operator
//! named) go through, from the environment as curl reads it: `http_proxy`,
//! `https_proxy`, `all_proxy` and `no_proxy`, in either case. A CI runner
//! that reaches the outside only through a proxy can still post to Slack.
//! Loopback (`localhost`, `127.0.0.0/8`, `::1`) is always reached directly,
//! as Go's clients do, so a local Prometheus is never sent to a corporate
//! proxy. Policy traffic never goes through a proxy (see
//! [`crate::caps::http`]): where it may go is the allow-list's to say.

use reqwest::{NoProxy, Proxy};

/// How reqwest makes a proxy for one scheme, or for all.
type MakeProxy = fn(String) -> reqwest::Result<Proxy>;

/// Hosts never sent through a proxy, whatever `no_proxy` says.
const ALWAYS_DIRECT: &str = "localhost,127.0.0.0/8,::1";

/// The proxies the environment names, read through `var` (the process's
/// environment in a run). A value that is not a proxy URL is an error
/// naming the variable.
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Vec<Proxy>, String> {
    // Lower case first, as curl reads them.
    let read = |name: &str| {
        [name.to_ascii_lowercase(), name.to_owned()]
            .into_iter()
            .find_map(|n| {
                let value = var(&n).filter(|value| !value.trim().is_empty())?;
                Some((n, value))
            })
    };
    let direct = match read("NO_PROXY") {
        Some((_, list)) => format!("{list},{ALWAYS_DIRECT}"),
        None => ALWAYS_DIRECT.to_owned(),
    };
    let mut proxies = Vec::new();
    let schemes: [(&str, MakeProxy); 3] = [
        ("HTTP_PROXY", Proxy::http),
        ("HTTPS_PROXY", Proxy::https),
        ("ALL_PROXY", Proxy::all),
    ];
    for (name, make) in schemes {
        let Some((var_name, url)) = read(name) else {
            continue;
        };
        let proxy = make(url.trim().to_owned())
            .map_err(|e| {
                let why = crate::caps::http::failure_text(e);
                // Not the value: a proxy URL may hold a password.
                format!("{var_name} is not a proxy URL: {why}")
            })?
            .no_proxy(NoProxy::from_string(&direct));
        proxies.push(proxy);
    }
    Ok(proxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn reads_each_variable_in_either_case() {
        assert_eq!(from_env(env(&[])).unwrap().len(), 0);
        let both = from_env(env(&[
            ("http_proxy", "http://proxy:3128"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("all_proxy", "  "),
            ("ALL_PROXY", ""),
        ]))
        .unwrap();
        assert_eq!(both.len(), 2, "an empty variable names no proxy");
    }

    #[test]
    fn a_bad_proxy_url_names_its_variable() {
        let error = from_env(env(&[("https_proxy", "http://user:pw@[bad")])).unwrap_err();
        assert!(
            error.starts_with("https_proxy is not a proxy URL"),
            "{error}"
        );
        assert!(
            !error.contains("pw"),
            "a proxy's password stays out: {error}"
        );
    }
}
