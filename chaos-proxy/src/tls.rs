//! TLS for every tool, on rustls with the *ring* provider (it builds with a C
//! compiler alone, where aws-lc-rs needs cmake, and it is all the checker needs:
//! TLS 1.2 and 1.3 with the usual suites). [`Connector`] is the client side
//! (`check-server`, `replay`, `fuzz` and the proxy's upstream), [`Acceptor`] the
//! server side (`check-client` and the proxy's listener); [`Conn`] is a plain or
//! TLS connection the checker and the proxy read and write alike.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Plaintext a [`Conn`] may hold after looking ahead; looking ahead stops there.
const MAX_AHEAD: usize = 64 * 1024;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a TLS client decides whether to trust the server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The operating system's roots.
    #[default]
    System,
    /// Only the certificates in this PEM file (a private CA).
    CaFile(std::path::PathBuf),
    /// Any certificate: no verification at all (`--insecure`).
    Insecure,
}

/// Opens TLS connections: the trust settings, built once and shared.
#[derive(Clone)]
pub struct Connector {
    config: Arc<ClientConfig>,
    /// Sent as SNI and verified instead of the URL's host, when set.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector that trusts as `trust` says; a bad or empty CA file, or a
    /// system without roots, is a one-line error naming it.
    pub fn new(trust: &Trust) -> Result<Connector, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let config = match trust {
            Trust::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            Trust::CaFile(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| {
                        format!(
                            "CA file {}: a certificate is not usable: {e}",
                            path.display()
                        )
                    })?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
                .with_no_client_auth(),
        };
        Ok(Connector {
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// The tokio-rustls connector underneath, for code that drives TLS itself
    /// (the benchmark's TLS copy proxy and load generator).
    pub fn tokio_connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }

    /// The default: the system's roots, loaded once per process.
    pub fn system() -> Result<Connector, String> {
        static SYSTEM: OnceLock<Result<Connector, String>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| Connector::new(&Trust::System))
            .clone()
    }

    /// Runs the TLS handshake over `tcp`; `host` (without IPv6 brackets) is the
    /// name sent as SNI and verified unless [`Connector::server_name`] is set.
    /// An error is one line naming the host and the reason.
    pub async fn connect(&self, tcp: TcpStream, host: &str) -> Result<Conn, String> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| format!("TLS: {name:?} is not a valid server name"))?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        match connector.connect(server_name, tcp).await {
            Ok(s) => Ok(Conn::new(Io::Client(Box::new(s)))),
            Err(e) => Err(format!(
                "TLS handshake with {name} failed: {}",
                one_line(&e)
            )),
        }
    }
}

/// The system's roots; none at all is an error (a TLS client that trusts nothing
/// would only ever fail).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "TLS: no system root certificates found{why}; give --ca-file PEM or --insecure"
        ));
    }
    Ok(roots)
}

/// Accepts `--insecure` connections: every certificate is taken, signatures on
/// the handshake are still checked so the connection works as TLS.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Accepts TLS connections with one certificate chain and key.
#[derive(Clone)]
pub struct Acceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    /// SHA-256 of the leaf certificate, as `AB:CD:...` (what browsers and
    /// `openssl x509 -fingerprint -sha256` show).
    pub fingerprint: String,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    /// From PEM files: the certificate chain (leaf first) and its private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Acceptor, String> {
        let chain = read_certs(cert)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "TLS key {}: no usable private key ({})",
                key.display(),
                one_line(&e)
            )
        })?;
        Acceptor::new(chain, key)
    }

    /// A fresh self-signed certificate for `names` (DNS names or IP addresses);
    /// returns the acceptor and the certificate as PEM, for clients to trust.
    pub fn self_signed(names: &[String]) -> Result<(Acceptor, String), String> {
        let made = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| format!("TLS: cannot make a self-signed certificate: {e}"))?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|e| format!("TLS: generated key unusable: {e}"))?;
        let acceptor = Acceptor::new(vec![made.cert.der().clone()], key)?;
        Ok((acceptor, made.cert.pem()))
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Acceptor, String> {
        let fingerprint = fingerprint(&chain[0]);
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS: the certificate and key do not go together: {e}"))?;
        Ok(Acceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            fingerprint,
        })
    }

    /// The tokio-rustls acceptor underneath, for code that drives TLS itself
    /// (the benchmark's TLS echo server and copy proxy).
    pub fn tokio_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        self.acceptor.clone()
    }

    /// Runs the server side of the TLS handshake; an error is one line.
    pub async fn accept(&self, tcp: TcpStream) -> Result<Conn, String> {
        match self.acceptor.accept(tcp).await {
            Ok(s) => Ok(Conn::new(Io::Server(Box::new(s)))),
            Err(e) => Err(format!("TLS handshake failed: {}", one_line(&e))),
        }
    }
}

/// The certificates in a PEM file, leaf first; none is an error.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate file {}: {}", path.display(), one_line(&e)))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate file {}: no CERTIFICATE block in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// SHA-256 of a certificate, colon-separated upper-case hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\r', '\n'], " ")
}

enum Io {
    Plain(TcpStream),
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection, plain or TLS. Besides reading and writing it can say, without
/// waiting, whether the peer has sent anything or closed ([`Conn::acted_now`]),
/// and take what is waiting ([`Conn::try_read_now`]); for TLS that is decrypted
/// data (a session ticket is not the peer acting), held here until it is read.
pub struct Conn {
    io: Io,
    ahead: Vec<u8>,
    /// End of stream (or an error) was met while looking ahead.
    ended_ahead: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &self.is_tls())
            .field("ahead", &self.ahead.len())
            .finish()
    }
}

impl From<TcpStream> for Conn {
    fn from(tcp: TcpStream) -> Conn {
        Conn::new(Io::Plain(tcp))
    }
}

impl Conn {
    fn new(io: Io) -> Conn {
        Conn {
            io,
            ahead: Vec::new(),
            ended_ahead: false,
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self.io, Io::Plain(_))
    }

    /// The socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(s) => s,
            Io::Client(s) => s.get_ref().0,
            Io::Server(s) => s.get_ref().0,
        }
    }

    /// The socket, for plain connections only: the proxy splits those into
    /// owned halves, and everything else through `tokio::io::split`.
    pub fn into_plain(self) -> Result<TcpStream, Conn> {
        match self.io {
            Io::Plain(s) if self.ahead.is_empty() && !self.ended_ahead => Ok(s),
            io => Err(Conn { io, ..self }),
        }
    }

    /// Whether the peer has sent data or closed, without waiting and without
    /// taking anything from what [`AsyncRead`] will give.
    pub fn acted_now(&mut self) -> bool {
        if !self.ahead.is_empty() || self.ended_ahead {
            return true;
        }
        let mut cx = Context::from_waker(Waker::noop());
        if let Io::Plain(s) = &self.io {
            let mut b = [0u8; 1];
            return s.poll_peek(&mut cx, &mut ReadBuf::new(&mut b)).is_ready();
        }
        let mut chunk = [0u8; 4096];
        let mut rb = ReadBuf::new(&mut chunk);
        match self.poll_io(&mut cx, &mut rb) {
            Poll::Pending => false,
            Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                self.ahead.extend_from_slice(rb.filled());
                true
            }
            Poll::Ready(_) => {
                self.ended_ahead = true;
                true
            }
        }
    }

    /// Takes what is waiting without waiting: `Ok(0)` at end of stream,
    /// `WouldBlock` when nothing is there.
    pub fn try_read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self).poll_read(&mut cx, &mut rb) {
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
        }
    }

    fn poll_io(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Client(s) => Pin::new(s).poll_read(cx, buf),
            Io::Server(s) => Pin::new(s).poll_read(cx, buf),
        }
    }

    /// Stops looking ahead once this much is held.
    pub fn ahead_full(&self) -> bool {
        self.ahead.len() >= MAX_AHEAD
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.drain(..n);
            return Poll::Ready(Ok(()));
        }
        if this.ended_ahead {
            return Poll::Ready(Ok(()));
        }
        this.poll_io(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Client(s) => Pin::new(s).poll_write(cx, buf),
            Io::Server(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Client(s) => Pin::new(s).poll_flush(cx),
            Io::Server(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Client(s) => Pin::new(s).poll_shutdown(cx),
            Io::Server(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Client(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Server(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Client(s) => s.is_write_vectored(),
            Io::Server(s) => s.is_write_vectored(),
        }
    }
}

/// Connects to `host:port` and, for `tls`, runs the TLS handshake with `host`
/// as the server name; errors are one line naming the address.
pub async fn connect(host: &str, port: u16, tls: Option<&Connector>) -> Result<Conn, String> {
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tcp = TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Conn::from(tcp)),
        Some(c) => {
            let name = host.trim_start_matches('[').trim_end_matches(']');
            c.connect(tcp, name).await
        }
    }
}

/// The proxy's TLS: terminating it from clients (`listen`), and speaking it to
/// the server (`upstream`, whose `server_name` is `--upstream-sni`).
#[derive(Debug, Clone, Default)]
pub struct ProxyTls {
    pub listen: Option<Acceptor>,
    pub upstream: Option<Connector>,
}

/// The host part of `HOST:PORT` (IPv6 brackets removed): the upstream's name
/// for SNI and verification.
pub fn host_of(authority: &str) -> &str {
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Connects to a `ws://` or `wss://` URL: over TLS with `tls`, or with the
/// system's roots when none is given.
pub async fn connect_url(url: &crate::url::WsUrl, tls: Option<&Connector>) -> Result<Conn, String> {
    if !url.tls {
        return connect(&url.host, url.port, None).await;
    }
    let system;
    let connector = match tls {
        Some(c) => c,
        None => {
            system = Connector::system()?;
            &system
        }
    };
    connect(url.host_name(), url.port, Some(connector)).await
}

/// A private CA and a server certificate it signed, as PEM, for tests, the
/// benchmark and trying TLS out: `ca` is what clients trust (`--ca-file`),
/// `cert` and `key` what the server presents.
pub struct TestPki {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl TestPki {
    /// Names are DNS names or IP addresses, e.g. `["localhost", "127.0.0.1"]`.
    pub fn generate(names: &[&str]) -> Result<TestPki, String> {
        let err = |e: rcgen::Error| format!("TLS: cannot make test certificates: {e}");
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wschaos test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wschaos test server");
        let cert = params.signed_by(&key, &ca).map_err(err)?;
        Ok(TestPki {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write(
        &self,
        dir: &Path,
    ) -> io::Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let paths = (
            dir.join("ca.pem"),
            dir.join("cert.pem"),
            dir.join("key.pem"),
        );
        std::fs::write(&paths.0, &self.ca)?;
        std::fs::write(&paths.1, &self.cert)?;
        std::fs::write(&paths.2, &self.key)?;
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(trust: Trust, pki: &TestPki, dir: &Path) -> Result<(Conn, Conn), String> {
        let (_, cert, key) = pki.write(dir).unwrap();
        let acceptor = Acceptor::from_pem_files(&cert, &key)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await
        });
        let client = connect("127.0.0.1", port, Some(&Connector::new(&trust)?)).await;
        let server = server.await.unwrap();
        Ok((client?, server?))
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wschaos-tls-{}-{name}", std::process::id()))
    }

    #[tokio::test]
    async fn a_private_ca_is_trusted_and_data_flows_with_look_ahead() {
        let pki = TestPki::generate(&["localhost", "127.0.0.1"]).unwrap();
        let dir = scratch("ca");
        let (ca, _, _) = pki.write(&dir).unwrap();
        let (mut client, mut server) = pair(Trust::CaFile(ca), &pki, &dir).await.unwrap();
        assert!(client.is_tls() && server.is_tls());
        // A session ticket (TLS 1.3) may arrive: it is not the server acting.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!client.acted_now());
        server.write_all(b"hello").await.unwrap();
        server.flush().await.unwrap();
        let mut waited = 0;
        while !client.acted_now() && waited < 200 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            waited += 1;
        }
        // Looking ahead took nothing away from reading.
        let mut got = [0u8; 5];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        assert!(matches!(
            client.try_read_now(&mut got),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn an_unknown_issuer_is_refused_unless_insecure() {
        let pki = TestPki::generate(&["127.0.0.1"]).unwrap();
        let other = TestPki::generate(&["127.0.0.1"]).unwrap();
        let dir = scratch("other");
        let (wrong_ca, _, _) = other.write(&dir.join("other")).unwrap();
        let e = pair(Trust::CaFile(wrong_ca), &pki, &dir).await.unwrap_err();
        assert!(e.contains("TLS handshake with 127.0.0.1 failed"), "{e}");
        assert_eq!(e.lines().count(), 1);
        assert!(pair(Trust::Insecure, &pki, &dir).await.is_ok());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_files_are_one_line_errors_naming_them() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = Connector::new(&Trust::CaFile(empty.clone())).unwrap_err();
        assert!(
            e.contains("empty.pem") && e.contains("no CERTIFICATE"),
            "{e}"
        );
        let e = Connector::new(&Trust::CaFile(dir.join("missing.pem"))).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
        let pki = TestPki::generate(&["localhost"]).unwrap();
        let (_, cert, _) = pki.write(&dir).unwrap();
        let e = Acceptor::from_pem_files(&cert, &empty).unwrap_err();
        assert!(e.contains("empty.pem") && e.contains("private key"), "{e}");
        let other = TestPki::generate(&["localhost"]).unwrap();
        let (_, _, wrong_key) = other.write(&dir.join("o")).unwrap();
        let e = Acceptor::from_pem_files(&cert, &wrong_key).unwrap_err();
        assert!(e.contains("do not go together"), "{e}");
        assert_eq!(e.lines().count(), 1);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn upstream_host_names() {
        assert_eq!(host_of("example.com:443"), "example.com");
        assert_eq!(host_of("[::1]:8443"), "::1");
        assert_eq!(host_of("127.0.0.1:9"), "127.0.0.1");
    }

    #[test]
    fn self_signed_certificates_carry_their_fingerprint() {
        let (acceptor, pem) = Acceptor::self_signed(&["localhost".into()]).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(acceptor.fingerprint, fingerprint(&der));
        assert_eq!(acceptor.fingerprint.len(), 32 * 3 - 1);
    }
}
