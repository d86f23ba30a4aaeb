//! How gate reaches the granted Docker engine: HTTP/1 over its unix socket
//! or plain TCP, a connection per request, each of which reads at most
//! [`ANSWER_CAP`] bytes. bollard reads an answer whole into memory, so
//! without the cap a broken or hostile engine could make gate hold as much
//! as it cared to send.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes an answer may take on the wire, headers included. The queries a
/// policy can make are answered in kilobytes; a list of thousands of
/// containers in a few MiB.
pub const ANSWER_CAP: u64 = 64 << 20;

/// An engine's answer went past its cap.
#[derive(Debug, thiserror::Error)]
#[error(
    "its answer went past {}, far more than an engine sends for a list, an inspect or a stats \
     query",
    crate::units::format_size(*.0)
)]
pub struct AnswerTooLarge(pub u64);

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// A bollard client of the engine at `address` whose every answer is read
/// up to `cap` bytes; bollard's own timeout per request is `timeout_secs`.
pub fn client(
    address: Address,
    cap: u64,
    timeout_secs: u64,
) -> Result<Docker, bollard::errors::Error> {
    // The connector ignores the URI's authority; over TCP it is the Host
    // header an engine behind a proxy may want.
    let authority = match &address {
        Address::Unix(_) => "http://docker".to_owned(),
        Address::Tcp(host_port) => format!("http://{host_port}"),
    };
    let connector = Connector {
        address: Arc::new(address),
        cap,
    };
    // No idle connections: each request's cap is its own.
    let http = Arc::new(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector),
    );
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let http = Arc::clone(&http);
            async move {
                http.request(request)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some(authority),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
}

/// The cause, if `error`'s chain holds one, of an answer cut at its cap.
pub fn too_large<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e AnswerTooLarge> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| {
        // An io::Error's `source` skips the error it wraps: look inside.
        let inner = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        inner
            .and_then(|inner| inner.downcast_ref())
            .or_else(|| e.downcast_ref())
    })
}

#[derive(Clone)]
struct Connector {
    address: Arc<Address>,
    cap: u64,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Link;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Link>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (address, cap) = (Arc::clone(&self.address), self.cap);
        Box::pin(async move {
            let stream: Box<dyn Stream> = match &*address {
                Address::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
                Address::Tcp(host_port) => {
                    Box::new(tokio::net::TcpStream::connect(host_port.as_str()).await?)
                }
            };
            Ok(Link(TokioIo::new(Capped {
                stream,
                left: cap,
                cap,
            })))
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// A stream that fails a read once `cap` bytes have come in.
struct Capped {
    stream: Box<dyn Stream>,
    left: u64,
    cap: u64,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(AnswerTooLarge(self.cap))));
        }
        // Never more than is left, so the count is exact.
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut limited = buf.take(room);
        let poll = Pin::new(&mut self.stream).poll_read(cx, &mut limited);
        let read = limited.filled().len();
        // SAFETY: `limited` filled these bytes of `buf`'s unfilled part.
        unsafe { buf.assume_init(read) };
        buf.advance(read);
        self.left -= read as u64;
        poll
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The connection hyper drives: [`Capped`], seen through hyper's traits.
struct Link(TokioIo<Capped>);

impl Connection for Link {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Link {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Link {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in engine on a unix socket: `/version` answers a few bytes,
    /// `/containers/json` a list of `list_bytes`.
    async fn fake_engine(listener: tokio::net::UnixListener, list_bytes: usize) {
        // Bounded: the test makes two requests.
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client hung up mid-request");
                request.extend_from_slice(&chunk[..n]);
            }
            let line = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap()
                .to_owned();
            let body = if line.contains("/version") {
                r#"{"Version":"28.2.2","ApiVersion":"1.50"}"#.to_owned()
            } else {
                let item = r#"{"Id":"0123456789abcdef","Names":["/padding"]},"#;
                let items = item.repeat(list_bytes / item.len() + 1);
                format!("[{}]", items.trim_end_matches(','))
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            // The client may stop reading at its cap: a failed write is fine.
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
    }

    #[tokio::test]
    async fn an_answer_past_the_cap_is_refused_and_one_under_it_read() {
        let dir = std::env::temp_dir().join(format!("gate-docker-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("engine.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let engine = tokio::spawn(fake_engine(listener, 1 << 20));
        let docker = client(Address::Unix(socket), 64 << 10, 10).unwrap();
        let version = docker.version().await.expect("a small answer is read");
        assert_eq!(version.version.as_deref(), Some("28.2.2"));
        let error = docker
            .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
            .await
            .expect_err("a 1 MiB answer is over a 64 KiB cap");
        let cut = too_large(&error).unwrap_or_else(|| panic!("the cap is the cause: {error:?}"));
        assert_eq!(cut.0, 64 << 10);
        assert!(cut.to_string().contains("64 KiB"), "{cut}");
        engine.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
