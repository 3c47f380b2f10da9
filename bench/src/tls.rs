//! TLS for the benchmark's TLS rows, on the same stack as `wschaos` (rustls with
//! the *ring* provider, tokio-rustls, the safe default protocol versions; see
//! chaos-proxy/src/tls.rs): a private CA and a server certificate for
//! 127.0.0.1 ([`make_certs`]), the server side ([`acceptor`]) and the client
//! side trusting that CA alone ([`connector`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The name every TLS client of the benchmark sends and verifies: the only host
/// it connects to.
pub const SERVER_NAME: &str = "127.0.0.1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The files [`make_certs`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The CA certificate: what clients trust (`--ca-file`, `--upstream-ca`).
    pub ca: PathBuf,
    /// The server certificate (signed by the CA, for 127.0.0.1 and localhost).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Generates a private CA and a server certificate it signed for 127.0.0.1 and
/// localhost (ECDSA P-256, as `wschaos::tls::TestPki`), and writes `ca.pem`,
/// `cert.pem` and `key.pem` into `dir` (created if missing).
pub fn make_certs(dir: &Path) -> anyhow::Result<CertFiles> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wschaos-bench test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params =
        rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wschaos-bench test server");
    let cert = params.signed_by(&key, &ca)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = CertFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    for (path, pem) in [
        (&files.ca, ca.pem()),
        (&files.cert, cert.pem()),
        (&files.key, key.serialize_pem()),
    ] {
        std::fs::write(path, pem).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files)
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("certificate file {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "certificate file {}: no CERTIFICATE block in it",
        path.display()
    );
    Ok(certs)
}

/// The server side: `cert` (chain, leaf first) and `key`, PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("TLS key {}: no usable private key", key.display()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not go together")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The client side, trusting only the certificates in the PEM file `ca`.
pub fn connector(ca: &Path) -> anyhow::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots
            .add(cert)
            .with_context(|| format!("CA file {}: a certificate is not usable", ca.display()))?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// [`SERVER_NAME`] as rustls wants it.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("an IP address is a valid server name")
}
