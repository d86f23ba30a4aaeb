//! The roots a run trusts for TLS: the system's and every `--ca-file`
//! (`ca_file` in gate.toml). One set serves every https connection gate
//! makes: policies' HTTP requests, their TLS checks, and gate's own requests
//! (Prometheus, webhooks), so a stage behind an internal CA needs one flag,
//! and a certificate is judged the same way wherever it shows up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why the run's trust settings cannot be used. Means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read CA file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA file {path} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    Empty { path: PathBuf },
    #[error("CA file {path}: certificate {index} is not usable as a root: {reason}")]
    Bad {
        path: PathBuf,
        index: usize,
        reason: String,
    },
}

/// The roots a run trusts: the system's and the `--ca-file`s. Cheap to
/// clone; the clones share one verifier.
#[derive(Debug, Clone)]
pub struct Trust {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    extra: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl Trust {
    /// Reads every `--ca-file` now, so a bad file stops the run before any
    /// check; the system roots are read on first use.
    pub fn new(ca_files: &[PathBuf]) -> Result<Trust, TrustError> {
        let mut extra = Vec::new();
        for path in ca_files {
            extra.extend(read_ca_file(path)?);
        }
        Ok(Trust {
            shared: Arc::new(Shared {
                extra,
                verifier: OnceLock::new(),
            }),
        })
    }

    /// The verifier of these roots, made on first use: reading the system's
    /// certificates takes milliseconds, which a run over plain http never
    /// pays.
    pub fn verifier(&self) -> Result<Arc<WebPkiServerVerifier>, String> {
        self.shared
            .verifier
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                // Unreadable system certificates are skipped; the rest
                // still count.
                let system = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(system.certs);
                for cert in &self.shared.extra {
                    roots
                        .add(cert.clone())
                        .map_err(|e| format!("a --ca-file root is not usable: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(
                        "no trusted roots: the system has no CA certificates (install \
                         ca-certificates) and no --ca-file was given"
                            .into(),
                    );
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| format!("cannot build the certificate verifier: {e}"))
            })
            .clone()
    }

    /// The TLS configuration of an HTTP client that trusts these roots,
    /// offering HTTP/2 and HTTP/1.1. Making it reads no certificate: the
    /// roots are loaded at the first handshake that needs them.
    pub fn http_client_config(&self) -> rustls::ClientConfig {
        let provider = provider();
        let verifier = Verified {
            trust: self.clone(),
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            // `dangerous` is rustls's door for any verifier of one's own;
            // this one verifies exactly as WebPkiServerVerifier does.
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// [`Trust::verifier`] behind rustls's verifier interface, made only when
/// the first certificate is to be verified. A verifier that cannot be made
/// (no roots at all) fails that handshake with the reason.
#[derive(Debug)]
struct Verified {
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.trust
            .verifier()
            .map_err(rustls::Error::General)?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why a TLS connection failed, in words an operator can act on: the
/// certificate's fault as [`untrusted_reason`] says it, or a server that
/// does not speak TLS on that port.
pub fn failure_reason(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer in TLS (is this port plain http?)".into()
        }
        rustls::Error::AlertReceived(alert) => {
            format!("the server refused the handshake ({alert:?})")
        }
        other => untrusted_reason(other, false),
    }
}

/// The TLS error `cause` is, or wraps in I/O errors (hyper and
/// tokio-rustls pass it on so); `io::Error::source` skips what it wraps, so
/// each is opened here.
pub fn find_tls_error<'a>(
    mut cause: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// Why a chain is not trusted, in words an operator can act on; the same
/// words whether a TLS check or an https request met it.
pub fn untrusted_reason(error: &rustls::Error, self_signed: bool) -> String {
    let rustls::Error::InvalidCertificate(cert) = error else {
        return error.to_string();
    };
    match cert {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the certificate is not valid yet".into()
        }
        CertificateError::UnknownIssuer if self_signed => {
            "the certificate is self-signed and not among the trusted roots (system roots or --ca-file)"
                .into()
        }
        CertificateError::UnknownIssuer => {
            "the certificate is not signed by a trusted root (system roots or --ca-file)".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the certificate is not valid for this host name ({error})")
        }
        CertificateError::Revoked => "the certificate is revoked".into(),
        _ => error.to_string(),
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut certs = Vec::new();
    for (index, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| TrustError::Bad {
            path: path.to_owned(),
            index: index + 1,
            reason: e.to_string(),
        })?;
        // Check it parses as a root here, where the file can be named.
        webpki_check(&cert).map_err(|reason| TrustError::Bad {
            path: path.to_owned(),
            index: index + 1,
            reason,
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn webpki_check(cert: &CertificateDer<'_>) -> Result<(), String> {
    RootCertStore::empty()
        .add(cert.clone().into_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("gate-trust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let error = Trust::new(std::slice::from_ref(&missing)).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Trust::new(&[empty]).unwrap_err();
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
    }

    #[test]
    fn reasons_are_plain() {
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(
            untrusted_reason(&expired, false),
            "the certificate has expired"
        );
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(untrusted_reason(&unknown, true).contains("self-signed"));
        assert!(!untrusted_reason(&unknown, false).contains("self-signed"));
        let plain = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(failure_reason(&plain).contains("plain http"));
        assert!(failure_reason(&unknown).contains("--ca-file"));
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::Expired);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let outer = std::io::Error::other(inner);
        assert_eq!(find_tls_error(&outer), Some(&tls));
        assert_eq!(find_tls_error(&std::io::Error::other("refused")), None);
    }
}
