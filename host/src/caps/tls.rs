//! `gate:policy/tls`: a TLS handshake with an allowed host to read the
//! certificate it presents. The chain is verified against the system roots
//! and the run's `--ca-file`s, but a chain that does not verify still
//! completes the handshake: its facts are what the check wants to judge
//! (nothing is sent over the connection, which is closed right away).
//!
//! No client certificate is presented, not even the run's `--client-cert`:
//! reading the server's certificate needs none, and this handshake goes
//! on with servers whose chain does not verify. A server that demands one
//! ends the handshake only after it has shown its chain and proved it holds
//! the key, so the facts are known all the same.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use x509_parser::extensions::GeneralName;

use crate::bindings::gate::policy::tls::{Certificate, Host, Peer, TlsError};
use crate::grants::{HttpDenial, Origin};
use crate::net::NetError;
use crate::state::{HostState, HttpCall};
use crate::tape::Answer;
use crate::trust::{config_builder, failure_reason, find_tls_error, untrusted_reason};

/// What the record/replay tape keeps of each handshake (see [`crate::tape`]).
pub type InspectAnswer = Answer<Peer, TlsError>;

impl Host for HostState {
    async fn inspect(
        &mut self,
        host: String,
        port: u16,
    ) -> wasmtime::Result<Result<Peer, TlsError>> {
        self.count_call()?;
        let started = Instant::now();
        let request = serde_json::json!({ "host": host, "port": port });
        let allowed = self.tls_peer(&host, port);
        let result = match allowed {
            // Refused by the grants before the tape is asked, as in
            // `http.send`: a fixture's answer cannot grant a host.
            Err(refusal) if !self.tape.is_record() => Err(refusal),
            allowed => self
                .taped(
                    "tls.inspect",
                    move || request,
                    async |state| {
                        InspectAnswer::from(match allowed {
                            Ok(peer) => state.handshake(peer).await,
                            Err(refusal) => Err(refusal),
                        })
                    },
                )
                .await?
                .into_result(),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let error = result.as_ref().err().map(explain);
        self.keep_call(HttpCall {
            method: "TLS".into(),
            url: format!("{}:{port}", bracketed(&host)),
            status: None,
            elapsed_ms,
            error,
            permanent: matches!(
                result,
                Err(TlsError::Denied(_) | TlsError::InvalidRequest(_))
            ),
        });
        Ok(result)
    }
}

/// A host and port the grants allow a handshake with.
struct TlsPeer {
    host: String,
    port: u16,
    origin: Origin,
    name: ServerName<'static>,
}

impl HostState {
    /// Judges a handshake's host and port by the run's grants, with no I/O.
    fn tls_peer(&self, host: &str, port: u16) -> Result<TlsPeer, TlsError> {
        let host = host.trim().to_ascii_lowercase();
        if host.is_empty() || port == 0 {
            return Err(TlsError::InvalidRequest(format!(
                "`{host}:{port}` is not a host and port"
            )));
        }
        // The allow-list HTTP uses: an https origin on that host and port.
        let probe = format!("https://{}:{port}/", bracketed(&host));
        let origin = self
            .session
            .grants
            .http_url(&probe)
            .map_err(|denial| match denial {
                HttpDenial::Denied(why) => TlsError::Denied(why),
                HttpDenial::Invalid(why) => TlsError::InvalidRequest(why),
            })
            .and_then(|url| {
                Origin::of(&url).ok_or_else(|| {
                    TlsError::InvalidRequest(format!("`{host}:{port}` is not a host and port"))
                })
            })?;
        let name = ServerName::try_from(host.clone())
            .map_err(|e| TlsError::InvalidRequest(format!("`{host}` is not a server name: {e}")))?;
        Ok(TlsPeer {
            host,
            port,
            origin,
            name,
        })
    }

    async fn handshake(&mut self, peer: TlsPeer) -> Result<Peer, TlsError> {
        let TlsPeer {
            host,
            port,
            origin,
            name,
        } = peer;
        let inner = self.session.trust.verifier().map_err(TlsError::Handshake)?;
        let recorder = Arc::new(Recorder {
            inner,
            seen: Mutex::new(None),
            proven: Mutex::new(None),
        });
        let config = config_builder(recorder.clone()).with_no_client_auth();
        let timeout = self.request_timeout(None);
        let connect = async {
            // Only addresses checked against the grants are dialled, as for
            // HTTP: a name allowed by the list cannot lead to a private one.
            let tcp = crate::net::connect(&self.session.grants, &origin, &self.session.names)
                .await
                .map_err(|e| match e {
                    NetError::Denied(why) => TlsError::Denied(why),
                    NetError::Resolve(why) | NetError::Connect(why) => {
                        TlsError::Connect(format!("{host}:{port}: {why}"))
                    }
                })?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            connector.connect(name, tcp).await.map_err(|e| {
                TlsError::Handshake(format!("{host}:{port}: {}", handshake_reason(&e)))
            })
        };
        let version = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(stream)) => stream.get_ref().1.protocol_version(),
            // Ended by the server after its chain and its proof of the key
            // (it wanted a client certificate): the facts stand.
            Ok(Err(TlsError::Handshake(why))) => match recorder.proven() {
                Some(version) => Some(version),
                None => return Err(TlsError::Handshake(why)),
            },
            Ok(Err(other)) => return Err(other),
            Err(_) => {
                return Err(TlsError::Timeout(
                    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
                ));
            }
        };
        let protocol = match version {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let Some(seen) = recorder.seen.lock().expect("not poisoned").take() else {
            return Err(TlsError::Handshake(format!(
                "{host}:{port}: the server presented no certificate"
            )));
        };
        let certificate = describe(&seen.chain[0])
            .map_err(|e| TlsError::Handshake(format!("{host}:{port}: {e}")))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let days_left = (certificate.not_after as f64 - now) / 86_400.0;
        let self_signed = certificate.subject == certificate.issuer;
        Ok(Peer {
            days_left,
            chain_length: seen.chain.len() as u32,
            trusted: seen.verdict.is_ok(),
            untrusted_reason: seen
                .verdict
                .err()
                .map(|e| untrusted_reason(&e, self_signed)),
            protocol,
            certificate,
        })
    }
}

/// `[::1]` for IPv6 literals, the host as is otherwise.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn handshake_reason(error: &std::io::Error) -> String {
    match find_tls_error(error) {
        Some(tls) => failure_reason(tls),
        None => error.to_string(),
    }
}

/// The one-line form kept in the check's record of calls.
pub fn explain(error: &TlsError) -> String {
    match error {
        TlsError::Denied(why) => format!("denied: {why}"),
        TlsError::InvalidRequest(why) => format!("invalid request: {why}"),
        TlsError::Connect(why) => format!("connect: {why}"),
        TlsError::Handshake(why) => format!("handshake: {why}"),
        TlsError::Timeout(ms) => format!("timeout after {ms} ms"),
    }
}

struct Seen {
    chain: Vec<CertificateDer<'static>>,
    verdict: Result<(), rustls::Error>,
}

/// Verifies as rustls would, but records the verdict instead of aborting
/// the handshake on it. Handshake signatures are still checked: the server
/// must hold the key of the certificate it showed.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
    /// The protocol under which the server proved it holds the key of the
    /// chain in `seen`, once it has.
    proven: Mutex<Option<rustls::ProtocolVersion>>,
}

impl Recorder {
    /// The protocol of the server's proof, if it showed a chain and proved
    /// its key.
    fn proven(&self) -> Option<rustls::ProtocolVersion> {
        let seen = self.seen.lock().expect("not poisoned").is_some();
        let proven = *self.proven.lock().expect("not poisoned");
        proven.filter(|_| seen)
    }

    fn prove(
        &self,
        version: rustls::ProtocolVersion,
        verdict: Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if verdict.is_ok() {
            *self.proven.lock().expect("not poisoned") = Some(version);
        }
        verdict
    }
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seen")
            .field("chain", &self.chain.len())
            .field("verdict", &self.verdict)
            .finish()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        *self.seen.lock().expect("not poisoned") = Some(Seen { chain, verdict });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.prove(
            rustls::ProtocolVersion::TLSv1_2,
            self.inner.verify_tls12_signature(message, cert, dss),
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.prove(
            rustls::ProtocolVersion::TLSv1_3,
            self.inner.verify_tls13_signature(message, cert, dss),
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The facts of one DER certificate.
fn describe(der: &CertificateDer<'_>) -> Result<Certificate, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("the server's certificate cannot be parsed: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(extension)) = cert.subject_alternative_name() {
        for name in &extension.value.general_names {
            match name {
                GeneralName::DNSName(dns) => sans.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    Ok(Certificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_literals_are_bracketed() {
        assert_eq!(bracketed("::1"), "[::1]");
        assert_eq!(bracketed("a.example"), "a.example");
    }
}
