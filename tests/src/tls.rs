//! A real TLS server on 127.0.0.1 with certificates the test generates
//! (rcgen): valid, expiring, expired, self-signed, or signed by a test CA;
//! optionally demanding a client certificate signed by a test CA.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;

/// A certificate chain (leaf first) and its key, in PEM.
#[derive(Debug, Clone)]
pub struct Certified {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Validity, in days relative to now.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub from_days: i64,
    pub to_days: i64,
}

impl Validity {
    /// Valid from a day ago for `days` more days.
    pub fn for_days(days: i64) -> Validity {
        Validity {
            from_days: -1,
            to_days: days,
        }
    }

    /// Expired `days` days ago.
    pub fn expired(days: i64) -> Validity {
        Validity {
            from_days: -90,
            to_days: -days,
        }
    }
}

fn leaf_params(validity: Validity) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "gate test server");
    let now = OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(validity.from_days);
    params.not_after = now + time::Duration::days(validity.to_days);
    params
}

/// A self-signed certificate for `localhost` and `127.0.0.1`.
pub fn self_signed(validity: Validity) -> Certified {
    let key = KeyPair::generate().expect("key");
    let cert = leaf_params(validity).self_signed(&key).expect("self-sign");
    Certified {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A test certificate authority, written to a PEM file for `--ca-file`.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl TestCa {
    pub fn new() -> TestCa {
        TestCa::named("gate test CA")
    }

    /// A CA of this common name: two CAs of one name look like one to a
    /// verifier, which then finds the signature bad rather than the issuer
    /// unknown.
    pub fn named(common_name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-sign the CA");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate this CA signed; the chain holds the leaf only,
    /// as servers usually send it when the CA is a root.
    pub fn issue(&self, validity: Validity) -> Certified {
        let key = KeyPair::generate().expect("key");
        let cert = leaf_params(validity)
            .signed_by(&key, &self.issuer)
            .expect("sign");
        Certified {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate this CA signed, for `--client-cert`.
    pub fn issue_client(&self, validity: Validity) -> Certified {
        let key = KeyPair::generate().expect("key");
        let mut params = leaf_params(validity);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "gate test client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Certified {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes the CA certificate to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("create the CA's directory");
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("write ca.pem");
        path
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A TLS server on 127.0.0.1 that completes handshakes and closes, or with
/// [`TlsServer::https`] answers one HTTP request per connection; it stops
/// when dropped.
pub struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    client_certificates: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`TlsServer`] serves beyond the handshake.
struct Serving<'a> {
    body: Option<String>,
    clients: Option<&'a TestCa>,
    versions: &'static [&'static rustls::SupportedProtocolVersion],
}

impl TlsServer {
    /// Completes each handshake, then closes the connection.
    pub fn start(certified: &Certified) -> TlsServer {
        TlsServer::serving(
            certified,
            Serving {
                body: None,
                clients: None,
                versions: rustls::DEFAULT_VERSIONS,
            },
        )
    }

    /// An https server: after the handshake it reads one request and
    /// answers it `200` with `body` as JSON, then closes the connection.
    pub fn https(certified: &Certified, body: &str) -> TlsServer {
        TlsServer::serving(
            certified,
            Serving {
                body: Some(body.to_owned()),
                clients: None,
                versions: rustls::DEFAULT_VERSIONS,
            },
        )
    }

    /// As [`TlsServer::https`], but the handshake demands a client
    /// certificate signed by `clients`: without one, or with another, the
    /// server ends it with the alert rustls sends.
    pub fn https_demanding_client_cert(
        certified: &Certified,
        body: &str,
        clients: &TestCa,
    ) -> TlsServer {
        TlsServer::serving(
            certified,
            Serving {
                body: Some(body.to_owned()),
                clients: Some(clients),
                versions: rustls::DEFAULT_VERSIONS,
            },
        )
    }

    /// Completes each handshake that presents a client certificate signed
    /// by `clients`, speaking only `versions` (under TLS 1.2 a handshake
    /// without one ends before the client has finished; under TLS 1.3,
    /// after), then closes the connection.
    pub fn demanding_client_cert(
        certified: &Certified,
        clients: &TestCa,
        versions: &'static [&'static rustls::SupportedProtocolVersion],
    ) -> TlsServer {
        TlsServer::serving(
            certified,
            Serving {
                body: None,
                clients: Some(clients),
                versions,
            },
        )
    }

    fn serving(certified: &Certified, serving: Serving<'_>) -> TlsServer {
        let Serving {
            body,
            clients,
            versions,
        } = serving;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(certified.chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("chain PEM");
        let key = PrivateKeyDer::from_pem_slice(certified.key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("versions");
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots
                    .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("CA PEM"))
                    .expect("CA root");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .expect("server certificate");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let client_certificates = Arc::new(AtomicUsize::new(0));
        let presented = client_certificates.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(stream) = stream {
                    serve(stream, config.clone(), body.as_deref(), &presented);
                }
            }
        });
        TlsServer {
            addr,
            stop,
            connections,
            client_certificates,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn handshakes(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Handshakes completed with a client certificate so far.
    pub fn client_certificates(&self) -> usize {
        self.client_certificates.load(Ordering::SeqCst)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// One connection: handshake, then (with a body) one HTTP exchange, then
/// close. Bounded by socket timeouts and the request's size.
fn serve(
    mut stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    body: Option<&str>,
    presented: &AtomicUsize,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(mut connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    while connection.is_handshaking() {
        if connection.complete_io(&mut stream).is_err() {
            // Send the alert that says why (a client certificate refused),
            // and read what the client sent meanwhile (its request, under
            // TLS 1.3): closing with unread data would reset the connection
            // before the client reads the alert.
            let _ = connection.write_tls(&mut stream);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut rest = [0u8; 4096];
            for _ in 0..64 {
                if matches!(stream.read(&mut rest), Ok(0) | Err(_)) {
                    break;
                }
            }
            return;
        }
    }
    if connection.peer_certificates().is_some() {
        presented.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(body) = body {
        let mut tls = rustls::Stream::new(&mut connection, &mut stream);
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tls.write_all(answer.as_bytes());
    }
    connection.send_close_notify();
    let _ = connection.complete_io(&mut stream);
    let _ = stream.flush();
    let mut rest = [0u8; 64];
    let _ = stream.read(&mut rest);
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
