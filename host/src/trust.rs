//! A run's TLS settings: the roots it trusts (the system's and every
//! `--ca-file`, `ca_file` in gate.toml) and the client certificate it
//! presents to a server that asks for one (`--client-cert`, `client_cert`).
//! One set serves every TLS connection gate makes: policies' HTTP requests,
//! their TLS checks, and gate's own requests (Prometheus, webhooks), so a
//! stage behind an internal CA or a mesh that demands client certificates
//! needs one flag each, and a certificate is judged the same way wherever it
//! shows up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WantsClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ConfigBuilder, DigitallySignedStruct,
    RootCertStore, SignatureScheme,
};

/// Why the run's TLS settings cannot be used. Means exit code 2. No
/// variant quotes a file's content: a key file's is a secret.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
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
    #[error(
        "client certificate file {path} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
    )]
    NoClientCert { path: PathBuf },
    #[error("client certificate file {path}: certificate {index} is not PEM: {reason}")]
    BadClientCert {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error(
        "{path} holds no private key (`-----BEGIN PRIVATE KEY-----`){}",
        if *.beside_cert { ": give the key's file with --client-key (client_key in gate.toml)" } else { "" }
    )]
    NoClientKey { path: PathBuf, beside_cert: bool },
    #[error(
        "the client key in {path} is encrypted, which gate cannot read: decrypt it into a file \
         only gate's user can read (`openssl pkey -in KEY -out KEY.plain`)"
    )]
    EncryptedClientKey { path: PathBuf },
    #[error("the client key in {path} is not usable: {reason}")]
    BadClientKey { path: PathBuf, reason: String },
    #[error("the client key {key} does not belong to the client certificate {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

impl TrustError {
    /// Whether the client key, not its certificate, is what is wrong (one
    /// that belongs to another certificate included), so that a problem is
    /// shown at `client_key` when that is where it was given.
    pub fn concerns_client_key(&self) -> bool {
        match self {
            TrustError::Read { what, .. } => *what == CLIENT_KEY_FILE,
            TrustError::NoClientKey { .. }
            | TrustError::EncryptedClientKey { .. }
            | TrustError::BadClientKey { .. }
            | TrustError::KeyMismatch { .. } => true,
            TrustError::Empty { .. }
            | TrustError::Bad { .. }
            | TrustError::NoClientCert { .. }
            | TrustError::BadClientCert { .. } => false,
        }
    }
}

/// Where the run's client certificate is (`--client-cert`), and its key
/// (`--client-key`) when that is not in the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
}

/// The roots a run trusts (the system's and the `--ca-file`s) and the
/// client certificate it presents. Cheap to clone; the clones share one
/// verifier.
#[derive(Debug, Clone)]
pub struct Trust {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    extra: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
    identity: Option<Arc<CertifiedKey>>,
}

impl Trust {
    /// Reads every `--ca-file` and the client certificate and key now, so a
    /// bad file stops the run before any check; the system roots are read
    /// on first use.
    pub fn new(
        ca_files: &[PathBuf],
        identity: Option<&IdentityFiles>,
    ) -> Result<Trust, TrustError> {
        let mut extra = Vec::new();
        for path in ca_files {
            extra.extend(read_ca_file(path)?);
        }
        let identity = identity.map(read_identity).transpose()?.map(Arc::new);
        Ok(Trust {
            shared: Arc::new(Shared {
                extra,
                verifier: OnceLock::new(),
                identity,
            }),
        })
    }

    /// Finishes a client configuration with the run's client certificate,
    /// offered only to a server that asks for one; without `--client-cert`
    /// the client has none to offer.
    pub fn client_auth(
        &self,
        builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    ) -> ClientConfig {
        match &self.shared.identity {
            Some(key) => builder.with_client_cert_resolver(Arc::new(Present(key.clone()))),
            None => builder.with_no_client_auth(),
        }
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
    pub fn http_client_config(&self) -> ClientConfig {
        let verifier = Verified {
            trust: self.clone(),
            algorithms: provider().signature_verification_algorithms,
        };
        let mut config = self.client_auth(config_builder(Arc::new(verifier)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration of rustls's safe protocol versions that verifies
/// servers with `verifier`, waiting for its client certificate
/// ([`Trust::client_auth`]).
pub fn config_builder(
    verifier: Arc<dyn ServerCertVerifier>,
) -> ConfigBuilder<ClientConfig, WantsClientCert> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        // `dangerous` is rustls's door for any verifier of one's own; each of
        // gate's verifies as WebPkiServerVerifier does.
        .dangerous()
        .with_custom_certificate_verifier(verifier)
}

/// The run's client certificate, for every server that asks: gate has one
/// identity a run, as curl's `--cert` is one a command.
#[derive(Debug)]
struct Present(Arc<CertifiedKey>);

impl ResolvesClientCert for Present {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
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
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server asks for a client certificate: give one with --client-cert".into()
        }
        // Alerts a server sends about the client's certificate.
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA),
        ) => format!("the server refused the client certificate ({alert:?}): check --client-cert"),
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

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TrustError> {
    // PEM bundles are kilobytes, the system's whole CA store under 1 MiB.
    crate::files::read_capped(path, 16 << 20).map_err(|source| TrustError::Read {
        what,
        path: path.to_owned(),
        source: source.into(),
    })
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let bad = |index, reason| TrustError::Bad {
        path: path.to_owned(),
        index,
        reason,
    };
    let certs = pem_certificates(&read("CA file", path)?).map_err(|(i, why)| bad(i, why))?;
    for (index, cert) in certs.iter().enumerate() {
        // Check it parses as a root here, where the file can be named.
        webpki_check(cert).map_err(|reason| bad(index + 1, reason))?;
    }
    if certs.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

const CLIENT_KEY_FILE: &str = "client key file";

/// The client certificate chain (leaf first) and its key, checked to belong
/// together, so that a wrong pair stops the run instead of failing every
/// handshake.
fn read_identity(files: &IdentityFiles) -> Result<CertifiedKey, TrustError> {
    let cert_bytes = read("client certificate file", &files.cert)?;
    let chain =
        pem_certificates(&cert_bytes).map_err(|(index, reason)| TrustError::BadClientCert {
            path: files.cert.clone(),
            index,
            reason,
        })?;
    if chain.is_empty() {
        return Err(TrustError::NoClientCert {
            path: files.cert.clone(),
        });
    }
    let (key_path, key_bytes) = match &files.key {
        Some(path) => (path, read(CLIENT_KEY_FILE, path)?),
        None => (&files.cert, cert_bytes),
    };
    if contains(&key_bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || contains(&key_bytes, b"Proc-Type: 4,ENCRYPTED")
    {
        return Err(TrustError::EncryptedClientKey {
            path: key_path.clone(),
        });
    }
    let key = match PrivateKeyDer::from_pem_slice(&key_bytes) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TrustError::NoClientKey {
                path: key_path.clone(),
                beside_cert: files.key.is_none(),
            });
        }
        Err(e) => {
            return Err(TrustError::BadClientKey {
                path: key_path.clone(),
                reason: e.to_string(),
            });
        }
    };
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TrustError::KeyMismatch {
            cert: files.cert.clone(),
            key: key_path.clone(),
        },
        other => TrustError::BadClientKey {
            path: key_path.clone(),
            reason: other.to_string(),
        },
    })
}

/// The PEM certificates in `bytes`, in order; one that cannot be read is
/// named by its position, from 1.
fn pem_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, (usize, String)> {
    CertificateDer::pem_slice_iter(bytes)
        .enumerate()
        .map(|(index, cert)| cert.map_err(|e| (index + 1, e.to_string())))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
        let error = Trust::new(std::slice::from_ref(&missing), None).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = Trust::new(&[empty], None).unwrap_err();
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
    }

    #[test]
    fn client_identity_errors_name_the_file_and_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("gate-trust-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // PEM framing only: these files fail before any DER is parsed.
        let cert = dir.join("client.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let alone = IdentityFiles {
            cert: cert.clone(),
            key: None,
        };
        let error = Trust::new(&[], Some(&alone)).unwrap_err().to_string();
        assert!(
            error.contains("client.pem holds no private key") && error.contains("--client-key"),
            "{error}"
        );
        let encrypted = dir.join("encrypted.key");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nc2VjcmV0\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let files = IdentityFiles {
            cert: cert.clone(),
            key: Some(encrypted),
        };
        let error = Trust::new(&[], Some(&files)).unwrap_err().to_string();
        assert!(error.contains("encrypted.key is encrypted"), "{error}");
        assert!(
            !error.contains("c2VjcmV0"),
            "a key's content is never quoted: {error}"
        );
        let no_cert = IdentityFiles {
            cert: dir.join("encrypted.key"),
            key: None,
        };
        let error = Trust::new(&[], Some(&no_cert)).unwrap_err().to_string();
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }

    #[test]
    fn a_server_turning_down_the_client_certificate_is_named() {
        let asked = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(failure_reason(&asked).contains("give one with --client-cert"));
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        assert_eq!(
            failure_reason(&refused),
            "the server refused the client certificate (UnknownCA): check --client-cert"
        );
        let other = rustls::Error::AlertReceived(AlertDescription::ProtocolVersion);
        assert!(failure_reason(&other).contains("refused the handshake (ProtocolVersion)"));
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
