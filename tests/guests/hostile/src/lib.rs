//! A deliberately misbehaving policy (`hostile`, kind smoke): test fixtures
//! proving that the runner's sandbox holds. Never run it against anything
//! that matters.
//!
//! | check         | misbehaviour | the host should |
//! |---------------|--------------|-----------------|
//! | `ok`          | none, passes without I/O | report pass |
//! | `spin`        | loops forever | stop it at the deadline |
//! | `hog`         | allocates 1 MiB chunks forever | stop it at the memory cap |
//! | `panic`       | panics with `hostile panic`, secret `api_token` (if set) and escapes | report an error, the secret redacted, the escapes neutralised |
//! | `forbidden`   | GETs `--param forbidden_url` (needs HTTP) | deny the request |
//! | `sleepy`      | sleeps an hour | cut the sleep at the deadline |
//! | `leak-secret` | puts secret `api_token` in its message and log | redact it |
//! | `escape`      | writes terminal escape sequences | neutralise them |
//! | `flood`       | logs 10 000 000 debug lines | cap the log |
//! | `recurse`     | recurses without bound | stop it at the wasm stack limit |
//! | `big-arg`     | passes a 200 MiB string to a host call | refuse it (host-call argument limit) |
//! | `snoop`       | reads files, env vars and args through WASI | see nothing (passes saying so) |
//! | `socket`      | opens a TCP socket to `--param socket_addr` | be refused (passes saying so) |
//! | `redirect`    | GETs `--param redirect_url` following redirects (needs HTTP) | deny the hop to a forbidden host |
//! | `huge-result` | passes with a 1 MiB message and 50 000 measurements | refuse the result (result limit) |
//! | `grab`        | holds WASI pollables without bound | stop it at the resource-table cap |
//! | `call-flood`  | makes 1 500 small failing calls and 2 × `--param flood_huge=N` (default 3) with a URL or host of `--param flood_kib=N` KiB (default 64) | keep a bounded record of them (passes if all were refused) |

use std::hint::black_box;
use std::time::Duration;

use gate_sdk::{
    Capability, Check, CheckResult, Error, Measurement, Policy, PolicyKind, Result, context,
    export_policy, http, log, tls,
};

/// Colours, resets, and sets the terminal title: harmless if the host
/// neutralises escapes, visible if it does not.
const ESCAPES: &str = "\x1b[31mred\x1b[0m\x1b]0;title\x07";
const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const FLOOD_LINES: u32 = 10_000_000;

fn policy() -> Policy {
    Policy::new("hostile", PolicyKind::Smoke)
        .version(env!("CARGO_PKG_VERSION"))
        .check(Check::new("ok", "passes without doing anything", ok))
        .check(Check::new("spin", "loops forever", spin))
        .check(Check::new("hog", "allocates memory forever", hog))
        .check(Check::new("panic", "panics", panic))
        .check(
            Check::new(
                "forbidden",
                "requests a host the run does not allow",
                forbidden,
            )
            .needs(Capability::Http),
        )
        .check(Check::new("sleepy", "sleeps for an hour", sleepy))
        .check(Check::new(
            "leak-secret",
            "reports the api_token secret",
            leak_secret,
        ))
        .check(Check::new(
            "escape",
            "reports terminal escape sequences",
            escape,
        ))
        .check(Check::new("flood", "logs ten million lines", flood))
        .check(Check::new("recurse", "recurses without bound", recurse))
        .check(Check::new(
            "big-arg",
            "passes 200 MiB to a host call",
            big_arg,
        ))
        .check(Check::new("snoop", "reads files, env and args", snoop))
        .check(Check::new("socket", "opens a TCP socket", socket))
        .check(
            Check::new(
                "redirect",
                "follows a redirect to a host the run does not allow",
                redirect,
            )
            .needs(Capability::Http),
        )
        .check(Check::new(
            "huge-result",
            "returns a huge message and measurement list",
            huge_result,
        ))
        .check(Check::new(
            "grab",
            "holds host resources without bound",
            grab,
        ))
        .check(Check::new(
            "call-flood",
            "makes thousands of failing calls with huge URLs and hosts",
            call_flood,
        ))
}

/// Calls with a URL or host of `--param flood_kib` KiB (each one refused
/// without any I/O), then many small refused calls: a host that kept every
/// call whole would keep twice that per call. The default is small, so that
/// runs of every hostile check under a short deadline end alike; the test
/// of this check asks for megabytes.
fn call_flood() -> Result<CheckResult> {
    const SMALL_CALLS: usize = 1500;
    let number = |name: &str, default: usize| {
        context::param(name)
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let kib = number("flood_kib", 64);
    let huge_calls = number("flood_huge", 3);
    // Built to its exact size: a doubling buffer would need twice the
    // memory under the test's memory limit.
    let prefix = "http://[";
    let mut huge = String::with_capacity(prefix.len() + kib * KIB);
    huge.push_str(prefix);
    huge.extend(std::iter::repeat_n('x', kib * KIB));
    let mut answered = 0;
    for _ in 0..huge_calls {
        answered += usize::from(http::Request::get(huge.as_str()).send().is_ok());
        answered += usize::from(tls::inspect(&huge[prefix.len()..], 443).is_ok());
    }
    for n in 0..SMALL_CALLS {
        answered += usize::from(http::get(&format!("http://[bad-{n}")).is_ok());
    }
    let calls = 2 * huge_calls + SMALL_CALLS;
    if answered > 0 {
        return Ok(CheckResult::fail(format!(
            "{answered} of {calls} malformed calls were answered"
        )));
    }
    Ok(CheckResult::pass(format!(
        "made {calls} calls, {huge_calls} with a {kib} KiB URL and {huge_calls} with a {kib} KiB \
         host; all were refused"
    )))
}

fn redirect() -> Result<CheckResult> {
    let url = context::param("redirect_url").ok_or_else(|| {
        Error::Other(
            "parameter `redirect_url` is not set: pass --param redirect_url=<URL of an allowed \
             host that redirects to one the run does not allow>"
                .to_owned(),
        )
    })?;
    let response = http::Request::get(url).follow_redirects(5).send()?;
    Ok(CheckResult::fail(format!(
        "followed redirects to {} ({})",
        response.url(),
        response.status()
    )))
}

fn huge_result() -> Result<CheckResult> {
    let mut result = CheckResult::pass("x".repeat(MIB));
    for i in 0..50_000 {
        result = result.with(Measurement::new(format!("m{i}"), f64::from(i), "ms"));
    }
    Ok(result)
}

/// WASI's monotonic clock, imported directly: each `subscribe-duration`
/// makes the host hold a pollable until the guest drops it. The interfaces
/// are written out whole, as WASI 0.2.0 has them, since std's own import of
/// them is merged with this one.
mod wasi_clock {
    wit_bindgen::generate!({
        inline: r#"
            package hostile:grab;

            world grab {
                import wasi:clocks/monotonic-clock@0.2.0;
            }

            package wasi:io@0.2.0 {
                interface poll {
                    resource pollable {
                        ready: func() -> bool;
                        block: func();
                    }
                    poll: func(in: list<borrow<pollable>>) -> list<u32>;
                }
            }

            package wasi:clocks@0.2.0 {
                interface monotonic-clock {
                    use wasi:io/poll@0.2.0.{pollable};
                    type instant = u64;
                    type duration = u64;
                    now: func() -> instant;
                    resolution: func() -> duration;
                    subscribe-instant: func(when: instant) -> pollable;
                    subscribe-duration: func(when: duration) -> pollable;
                }
            }
        "#,
        world: "hostile:grab/grab",
        generate_all,
    });
}

fn grab() -> Result<CheckResult> {
    use wasi_clock::wasi::clocks::monotonic_clock::subscribe_duration;
    let mut held = Vec::new();
    for _ in 0..1_000_000 {
        held.push(subscribe_duration(3_600_000_000_000));
    }
    Ok(CheckResult::fail(format!(
        "the host let the check hold {} pollables",
        held.len()
    )))
}

fn recurse() -> Result<CheckResult> {
    #[allow(unconditional_recursion)] // the point of this check
    fn down(depth: u64, trail: &mut [u64; 64]) -> u64 {
        trail[(depth % 64) as usize] = depth;
        // The work after the call keeps it from becoming a loop.
        down(black_box(depth + 1), black_box(trail)) + trail[0]
    }
    let total = down(0, &mut [0; 64]);
    Ok(CheckResult::fail(format!("recursion ended at {total}")))
}

fn big_arg() -> Result<CheckResult> {
    let huge = "x".repeat(200 * MIB);
    log::debug(&huge);
    Ok(CheckResult::fail("the host took a 200 MiB argument"))
}

/// Passes only if the sandbox shows it nothing: no file, no variable, no
/// argument.
fn snoop() -> Result<CheckResult> {
    let file = std::fs::read_to_string("/etc/passwd");
    let listing = std::fs::read_dir("/").map(|d| d.count());
    let vars = std::env::vars().count();
    let args = std::env::args().count();
    let seen = format!(
        "file: {}, dir: {}, env vars: {vars}, args: {args}",
        file.as_ref().map_or_else(
            |e| format!("refused ({e})"),
            |t| format!("READ {} bytes", t.len())
        ),
        listing.as_ref().map_or_else(
            |e| format!("refused ({e})"),
            |n| format!("LISTED {n} entries")
        ),
    );
    if file.is_err() && listing.is_err() && vars == 0 && args == 0 {
        Ok(CheckResult::pass(seen))
    } else {
        Ok(CheckResult::fail(seen))
    }
}

/// Passes only if the socket is refused.
fn socket() -> Result<CheckResult> {
    let addr = context::param("socket_addr").unwrap_or_else(|| "127.0.0.1:9".to_owned());
    match std::net::TcpStream::connect(&addr) {
        Ok(_) => Ok(CheckResult::fail(format!("connected to {addr}"))),
        Err(e) => Ok(CheckResult::pass(format!("socket to {addr} refused: {e}"))),
    }
}

export_policy!(policy);

fn ok() -> Result<CheckResult> {
    Ok(CheckResult::pass("nothing to see here"))
}

fn spin() -> Result<CheckResult> {
    let mut counter = 0u64;
    loop {
        // `black_box` keeps the optimiser from proving the loop useless.
        counter = black_box(counter.wrapping_add(1));
    }
}

fn hog() -> Result<CheckResult> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Fresh wasm pages read as zero, so a zeroed allocation might never
        // be written; fill every byte so the memory is really used.
        let mut chunk = vec![0u8; MIB];
        chunk.fill(0xA5);
        chunks.push(black_box(chunk));
    }
}

/// Panics with the secret in the text, as `.expect(&format!("bad token
/// {token}"))` would, and with terminal escapes.
fn panic() -> Result<CheckResult> {
    let token = context::secret("api_token").unwrap_or_default();
    panic!("hostile panic: bad token {token} {ESCAPES}");
}

fn forbidden() -> Result<CheckResult> {
    let url = context::param("forbidden_url").ok_or_else(|| {
        Error::Other(
            "parameter `forbidden_url` is not set: pass --param forbidden_url=<URL of a host \
             the run does not allow>"
                .to_owned(),
        )
    })?;
    http::get(&url)?;
    Ok(CheckResult::fail("forbidden host answered"))
}

fn sleepy() -> Result<CheckResult> {
    context::sleep(Duration::from_secs(3600));
    Ok(CheckResult::pass("slept for an hour"))
}

fn leak_secret() -> Result<CheckResult> {
    let secret = context::require_secret("api_token")?;
    log::info(format!("the api_token is {secret}"));
    Ok(CheckResult::pass(format!("the api_token is {secret}")))
}

fn escape() -> Result<CheckResult> {
    log::warn(format!("escapes in a log line: {ESCAPES}"));
    Ok(CheckResult::pass(format!(
        "escapes in a message: {ESCAPES}"
    )))
}

fn flood() -> Result<CheckResult> {
    for line in 0..FLOOD_LINES {
        log::debug(format!("flood line {line}"));
    }
    Ok(CheckResult::pass(format!("logged {FLOOD_LINES} lines")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_fixtures() {
        let policy = policy();
        let names: Vec<_> = policy.checks().iter().map(Check::name).collect();
        assert_eq!(
            names,
            [
                "ok",
                "spin",
                "hog",
                "panic",
                "forbidden",
                "sleepy",
                "leak-secret",
                "escape",
                "flood",
                "recurse",
                "big-arg",
                "snoop",
                "socket",
                "redirect",
                "huge-result",
                "grab",
                "call-flood"
            ]
        );
        for check in policy.checks() {
            let expected: &[Capability] = if matches!(check.name(), "forbidden" | "redirect") {
                &[Capability::Http]
            } else {
                &[]
            };
            assert_eq!(check.needed(), expected, "{}", check.name());
        }
        assert!(policy.run_check("ok").unwrap().is_pass());
    }
}
