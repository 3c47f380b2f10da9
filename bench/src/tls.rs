//! TLS for the benchmark's TLS rows: `wschaos::tls` itself (rustls with the
//! *ring* provider), so the TLS echo server, the TLS copy proxy and the load
//! generator speak exactly what `wschaos proxy` does. They drive tokio-rustls
//! directly with the acceptor and connector it builds.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wschaos::tls::{Acceptor, Connector, TestPki, Trust};

/// The name every TLS client of the benchmark sends and verifies: the only host
/// it connects to.
pub const SERVER_NAME: &str = "127.0.0.1";

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

/// A private CA and a server certificate it signed for 127.0.0.1 and localhost
/// ([`TestPki`]), written as `ca.pem`, `cert.pem` and `key.pem` into `dir`.
pub fn make_certs(dir: &Path) -> anyhow::Result<CertFiles> {
    let pki = TestPki::generate(&[SERVER_NAME, "localhost"]).map_err(anyhow::Error::msg)?;
    let (ca, cert, key) = pki
        .write(dir)
        .with_context(|| format!("cannot write certificates in {}", dir.display()))?;
    Ok(CertFiles { ca, cert, key })
}

/// The server side: `cert` (chain, leaf first) and `key`, PEM files.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    Ok(Acceptor::from_pem_files(cert, key)
        .map_err(anyhow::Error::msg)?
        .tokio_acceptor())
}

/// The client side, trusting only the certificates in the PEM file `ca`.
pub fn connector(ca: &Path) -> anyhow::Result<TlsConnector> {
    Ok(Connector::new(&Trust::CaFile(ca.to_owned()))
        .map_err(anyhow::Error::msg)?
        .tokio_connector())
}

/// [`SERVER_NAME`] as rustls wants it.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("an IP address is a valid server name")
}
