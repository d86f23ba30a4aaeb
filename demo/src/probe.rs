//! `sample-service probe`: the container health check. A `FROM scratch`
//! image has no shell or curl, so the service binary probes itself: one
//! bounded HTTP/1.1 GET over a plain TCP socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Where the probe looks by default: the service's own `/health`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/health";

const TIMEOUT: Duration = Duration::from_secs(2);
/// Enough for a status line and headers; the body is not read.
const MAX_ANSWER: u64 = 8 << 10;

/// GETs `url` (`http://IP:PORT/path`); `Ok` with a one-line summary when it
/// answers 200, `Err` saying what happened otherwise.
pub fn probe(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: the probe speaks plain http:// to an IP:PORT"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| format!("`{authority}` is not IP:PORT"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("GET {path}: cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("GET {path}: {e}"))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: sample-service-probe\r\n\r\n"
    )
    .map_err(|e| format!("GET {path}: cannot send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| format!("GET {path}: no answer: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or("nothing");
    if status == "200" {
        Ok(format!("GET {path} answered 200"))
    } else {
        Err(format!("GET {path} answered {status}"))
    }
}
