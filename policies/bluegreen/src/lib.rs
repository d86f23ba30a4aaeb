//! Blue-green switch gate (`bluegreen`, kind gate): run it before sending
//! traffic to the standby colour; it passes only when the standby is ready
//! to take it.
//!
//! The stack is a Docker Compose project with one service per colour (e.g.
//! `blue` and `green`). Every check is blocking and needs the Docker engine
//! (`--docker`); `standby-ready` also needs HTTP to the standby, whose URL
//! is the run's `--target`.
//!
//! | check | verifies |
//! |-------|----------|
//! | `standby-healthy` | every container of service `standby` is running and healthy |
//! | `standby-tag` | every container of service `standby` runs image tag `expected_tag`, by default the run's `--release` |
//! | `standby-ready` | `GET /ready` on the target answers 200, and the target is an address the standby publishes (inconclusive when nothing ties it to the standby) |
//!
//! # Parameters
//!
//! | name | meaning |
//! |------|---------|
//! | `compose_project` | the Docker Compose project (required) |
//! | `standby` | the compose service of the colour about to go live, e.g. `green` (required) |
//! | `expected_tag` | the image tag that passed stage (default: the run's `--release`; required without one) |

use std::net::IpAddr;

use gate_sdk::docker::{self, Container, Port};
use gate_sdk::http;
use gate_sdk::{
    Capability, Check, CheckResult, Measurement, Policy, PolicyKind, Result, context, export_policy,
};

fn policy() -> Policy {
    Policy::new("bluegreen", PolicyKind::Gate)
        .version(env!("CARGO_PKG_VERSION"))
        .check(
            Check::new(
                "standby-healthy",
                "every container of the `standby` colour is running and healthy",
                standby_healthy,
            )
            .needs(Capability::Docker),
        )
        .check(
            Check::new(
                "standby-tag",
                "the `standby` colour runs image tag `expected_tag` (default: the release)",
                standby_tag,
            )
            .needs(Capability::Docker),
        )
        .check(
            Check::new(
                "standby-ready",
                "the `standby` colour answers GET /ready with 200 at the target",
                standby_ready,
            )
            .needs(Capability::Http)
            .needs(Capability::Docker),
        )
}

export_policy!(policy);

/// The project, the standby's service name, and its containers.
fn standby() -> Result<(String, String, Vec<Container>)> {
    let project = context::require_param("compose_project")?;
    let standby = context::require_param("standby")?;
    let mut containers = docker::compose_containers(&project)?;
    containers.retain(|c| c.compose_service.as_deref() == Some(standby.as_str()));
    Ok((project, standby, containers))
}

fn standby_healthy() -> Result<CheckResult> {
    let (project, standby, containers) = standby()?;
    if containers.is_empty() {
        return Ok(no_standby(&project, &standby));
    }
    Ok(docker::judge_health(
        &format!("{project}/{standby}"),
        &containers,
    ))
}

fn standby_tag() -> Result<CheckResult> {
    let expected = context::param_or_release("expected_tag")?;
    let (project, standby, containers) = standby()?;
    Ok(docker::judge_image_tag(
        &project,
        Some(&standby),
        &containers,
        &expected,
    ))
}

fn standby_ready() -> Result<CheckResult> {
    let target = context::require_target()?;
    let (project, standby, containers) = standby()?;
    if containers.is_empty() {
        return Ok(no_standby(&project, &standby));
    }
    if let Some(untied) = untied_target(&target, &standby, &containers) {
        return Ok(untied);
    }
    let response = http::get("/ready")?;
    let elapsed = Measurement::new("elapsed", response.elapsed_ms(), "ms");
    Ok(if response.status() == 200 {
        CheckResult::pass(format!(
            "standby `{standby}` answered 200 at `{}`",
            response.url()
        ))
        .with(elapsed)
    } else {
        CheckResult::fail(format!(
            "standby `{standby}`: {}",
            response.status_error("200")
        ))
        .with(elapsed)
    })
}

fn no_standby(project: &str, standby: &str) -> CheckResult {
    CheckResult::fail(format!(
        "compose project `{project}` has no container of service `{standby}`: is the standby colour deployed?"
    ))
}

/// The verdict when the target is not shown to be the standby, so that a
/// `--target` at the live colour never passes on the live colour's
/// `/ready`: `fail` when it is another port or address than the standby
/// publishes, `inconclusive` when nothing ties it to the standby either
/// way; `None` when it is an address the standby publishes.
fn untied_target(target: &str, standby: &str, containers: &[Container]) -> Option<CheckResult> {
    let published: Vec<&Port> = containers.iter().flat_map(|c| &c.ports).collect();
    if published.is_empty() {
        return Some(CheckResult::inconclusive(format!(
            "standby `{standby}` publishes no port, so nothing shows that the target {target} \
             is the standby and not the live colour: publish the standby's port (`ports:` in \
             the compose file) and point --target there"
        )));
    }
    let mut shown: Vec<String> = published.iter().map(|p| shown_port(p)).collect();
    shown.sort();
    shown.dedup();
    let shown = shown.join(", ");
    let Some((host, port)) = target_host_port(target) else {
        return Some(CheckResult::inconclusive(format!(
            "cannot read the host and port of the target {target}: give --target as \
             http://HOST:PORT, where standby `{standby}` publishes {shown}"
        )));
    };
    let reached: Vec<Option<bool>> = published
        .iter()
        .filter(|p| p.host_port == port)
        .map(|p| reached_at(&p.host_ip, &host))
        .collect();
    if reached.contains(&Some(true)) {
        None
    } else if reached.contains(&None) {
        Some(CheckResult::inconclusive(format!(
            "standby `{standby}` publishes {shown}, and nothing shows that `{host}` is that \
             address: point --target at the address itself"
        )))
    } else {
        Some(CheckResult::fail(format!(
            "the target {target} is not the standby `{standby}`: it publishes {shown}, so \
             --target must point there"
        )))
    }
}

/// `port 8082 on 127.0.0.1`, or `port 8082` when bound on every address.
fn shown_port(port: &Port) -> String {
    if bound_everywhere(&port.host_ip) {
        format!("port {}", port.host_port)
    } else {
        format!("port {} on {}", port.host_port, port.host_ip)
    }
}

/// Docker leaves the address empty, or gives `0.0.0.0` or `::`, for a port
/// bound on every address of the engine's machine.
fn bound_everywhere(host_ip: &str) -> bool {
    host_ip.is_empty()
        || host_ip
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
}

/// Whether a port bound on `host_ip` is the one reached at `host`; `None`
/// when that cannot be told here: a host name other than `localhost` would
/// take a DNS lookup, which a policy cannot make.
fn reached_at(host_ip: &str, host: &str) -> Option<bool> {
    if bound_everywhere(host_ip) {
        return Some(true);
    }
    let bound: IpAddr = host_ip.parse().ok()?;
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(ip == bound),
        Err(_) if host.eq_ignore_ascii_case("localhost") => Some(bound.is_loopback()),
        Err(_) => None,
    }
}

/// The host (IPv6 without its brackets) and port of an http(s) URL,
/// default ports included.
fn target_host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default) = match url.strip_prefix("http://") {
        Some(rest) => (rest, 80),
        None => (url.strip_prefix("https://")?, 443),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_sdk::Outcome;
    use gate_sdk::docker::State;

    fn green(host_ip: &str, port: u16) -> Container {
        let mut c = Container::new("shop_green_1", State::Running);
        c.ports.push(Port {
            container_port: 8080,
            protocol: "tcp".into(),
            host_ip: host_ip.into(),
            host_port: port,
        });
        c
    }

    fn outcome(target: &str, containers: &[Container]) -> Option<Outcome> {
        untied_target(target, "green", containers).map(|r| r.outcome)
    }

    #[test]
    fn the_target_must_be_the_standby() {
        assert_eq!(
            outcome("http://127.0.0.1:18081", &[green("127.0.0.1", 18081)]),
            None
        );
        assert_eq!(
            outcome("http://localhost:18081/", &[green("127.0.0.1", 18081)]),
            None
        );
        assert_eq!(
            outcome("http://shop.internal:18081", &[green("", 18081)]),
            None
        );
        assert_eq!(outcome("http://[::1]:18081", &[green("::", 18081)]), None);
        let wrong = untied_target(
            "http://127.0.0.1:18080/",
            "green",
            &[green("127.0.0.1", 18081)],
        )
        .unwrap();
        assert_eq!(wrong.outcome, Outcome::Fail);
        assert!(
            wrong.message.contains("publishes port 18081 on 127.0.0.1"),
            "{}",
            wrong.message
        );
        // The live colour on the same port, bound to another address.
        assert_eq!(
            outcome("http://127.0.0.2:18081", &[green("127.0.0.1", 18081)]),
            Some(Outcome::Fail)
        );
    }

    #[test]
    fn a_target_nothing_ties_to_the_standby_is_inconclusive() {
        // Behind a proxy the standby publishes nothing: no proof either way.
        let unpublished = Container::new("shop_green_1", State::Running);
        let result = untied_target("https://green.example.com", "green", &[unpublished]).unwrap();
        assert_eq!(result.outcome, Outcome::Inconclusive);
        assert!(
            result.message.contains("publishes no port"),
            "{}",
            result.message
        );
        // A name gate cannot resolve, for a port bound to one address.
        assert_eq!(
            outcome("http://green.internal:18081", &[green("10.0.0.5", 18081)]),
            Some(Outcome::Inconclusive)
        );
        assert_eq!(
            outcome("ftp://127.0.0.1:18081", &[green("127.0.0.1", 18081)]),
            Some(Outcome::Inconclusive)
        );
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            target_host_port("http://127.0.0.1:8080/x"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(
            target_host_port("http://Example.com/x"),
            Some(("example.com".into(), 80))
        );
        assert_eq!(
            target_host_port("https://example.com"),
            Some(("example.com".into(), 443))
        );
        assert_eq!(
            target_host_port("http://[::1]:8082"),
            Some(("::1".into(), 8082))
        );
        assert_eq!(
            target_host_port("http://user@host:81"),
            Some(("host".into(), 81))
        );
        assert_eq!(target_host_port("http://host:port"), None);
    }

    #[test]
    fn describes_blocking_docker_checks() {
        let policy = policy();
        assert_eq!(policy.name(), "bluegreen");
        for check in policy.checks() {
            assert!(check.is_blocking());
            assert!(check.needed().contains(&Capability::Docker));
        }
    }
}
