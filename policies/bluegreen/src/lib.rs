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
//! | `standby-ready` | `GET /ready` on the target answers 200, and the target is a port the standby publishes |
//!
//! # Parameters
//!
//! | name | meaning |
//! |------|---------|
//! | `compose_project` | the Docker Compose project (required) |
//! | `standby` | the compose service of the colour about to go live, e.g. `green` (required) |
//! | `expected_tag` | the image tag that passed stage (default: the run's `--release`; required without one) |

use gate_sdk::docker::{self, Container};
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
    if let Some(mismatch) = target_mismatch(&target, &standby, &containers) {
        return Ok(CheckResult::fail(mismatch));
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

/// When the standby publishes ports, the target must be one of them:
/// otherwise the run would judge the live colour's `/ready`, not the
/// standby's.
fn target_mismatch(target: &str, standby: &str, containers: &[Container]) -> Option<String> {
    let published: Vec<u16> = containers
        .iter()
        .flat_map(|c| c.ports.iter().map(|p| p.host_port))
        .collect();
    if published.is_empty() {
        return None;
    }
    let port = target_port(target)?;
    if published.contains(&port) {
        return None;
    }
    let ports: Vec<String> = published.iter().map(u16::to_string).collect();
    Some(format!(
        "the target {target} is not the standby `{standby}`: it publishes port {}, so --target must point there",
        ports.join(", ")
    ))
}

/// The port of an http(s) URL, defaults included.
fn target_port(url: &str) -> Option<u16> {
    let (rest, default) = match url.strip_prefix("http://") {
        Some(rest) => (rest, 80),
        None => (url.strip_prefix("https://")?, 443),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.ends_with(']') {
        return Some(default);
    }
    match authority.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => Some(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_sdk::docker::{Port, State};

    fn green(port: u16) -> Container {
        let mut c = Container::new("shop_green_1", State::Running);
        c.ports.push(Port {
            container_port: 8080,
            protocol: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: port,
        });
        c
    }

    #[test]
    fn the_target_must_be_the_standby() {
        assert_eq!(
            target_mismatch("http://127.0.0.1:18081", "green", &[green(18081)]),
            None
        );
        let wrong = target_mismatch("http://127.0.0.1:18080/", "green", &[green(18081)]).unwrap();
        assert!(wrong.contains("publishes port 18081"), "{wrong}");
        // Behind a proxy the standby publishes nothing: nothing to compare.
        let unpublished = Container::new("shop_green_1", State::Running);
        assert_eq!(
            target_mismatch("https://green.example.com", "green", &[unpublished]),
            None
        );
    }

    #[test]
    fn ports() {
        assert_eq!(target_port("http://127.0.0.1:8080/x"), Some(8080));
        assert_eq!(target_port("http://example.com/x"), Some(80));
        assert_eq!(target_port("https://example.com"), Some(443));
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
