//! The TLS options the commands share: how a client verifies a `wss://` server
//! (`check-server`, `replay`, `fuzz`), and which certificate a server presents
//! (`check-client`). Every file is read and checked before any work starts.

use std::path::PathBuf;

use anyhow::bail;

use crate::tls::{Acceptor, Connector, Trust};

/// How `wss://` targets are verified.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientTls {
    /// Trust only the CA certificates in this PEM file (a private CA) for
    /// wss:// targets, instead of the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify wss:// targets' certificates at all (a warning is printed).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
}

impl ClientTls {
    /// The options as they were given, for a command line printed to repeat it.
    pub fn flags(&self) -> String {
        match (&self.ca_file, self.insecure) {
            (Some(p), _) => format!(" --ca-file {}", p.display()),
            (None, true) => " --insecure".to_owned(),
            (None, false) => String::new(),
        }
    }

    /// The connector, when a `wss://` URL is among `urls`; `None` otherwise (and
    /// a warning when TLS options were given for plain targets only).
    pub fn connector<'a>(
        &self,
        urls: impl IntoIterator<Item = &'a crate::url::WsUrl>,
    ) -> anyhow::Result<Option<Connector>> {
        let any_tls = urls.into_iter().any(|u| u.tls);
        let given = self.ca_file.is_some() || self.insecure;
        if !any_tls {
            if given {
                eprintln!("warning: --ca-file/--insecure have no effect: no target is wss://");
            }
            return Ok(None);
        }
        let trust = match (&self.ca_file, self.insecure) {
            (Some(path), _) => Trust::CaFile(path.clone()),
            (None, true) => {
                eprintln!(
                    "warning: --insecure: server certificates are not verified; anyone on the path can read and change the traffic"
                );
                Trust::Insecure
            }
            (None, false) => Trust::System,
        };
        Ok(Some(Connector::new(&trust).map_err(anyhow::Error::msg)?))
    }
}

/// Which certificate a wschaos server presents (`check-client`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerTls {
    /// Serve wss://: the certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve wss:// with a certificate made at start-up for localhost and the
    /// listen address; its SHA-256 fingerprint is printed on stderr.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,
}

impl ServerTls {
    /// The acceptor, or `None` for plain ws://. `host` is the listen address,
    /// named in a self-signed certificate.
    pub fn acceptor(&self, host: &str) -> anyhow::Result<Option<Acceptor>> {
        match (&self.tls_cert, &self.tls_key, self.tls_self_signed) {
            (Some(cert), Some(key), false) => Ok(Some(
                Acceptor::from_pem_files(cert, key).map_err(anyhow::Error::msg)?,
            )),
            (None, None, true) => {
                let mut names = vec!["localhost".to_owned()];
                if host != "localhost" && !host.is_empty() {
                    names.push(host.to_owned());
                }
                let (acceptor, _pem) = Acceptor::self_signed(&names).map_err(anyhow::Error::msg)?;
                eprintln!(
                    "TLS: self-signed certificate for {}; SHA-256 fingerprint {}",
                    names.join(", "),
                    acceptor.fingerprint
                );
                Ok(Some(acceptor))
            }
            (None, None, false) => Ok(None),
            _ => bail!("give --tls-cert and --tls-key together, or --tls-self-signed"),
        }
    }
}

/// The proxy's TLS: towards clients (`--tls-cert`/`--tls-key`) and towards the
/// server (`--upstream-tls` and its options).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProxyTlsArgs {
    /// Terminate TLS from clients (they connect with wss://): the certificate
    /// chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Speak TLS to the server (a wss:// upstream), verified with the system's
    /// roots unless --upstream-ca or --upstream-insecure.
    #[arg(long)]
    pub upstream_tls: bool,
    /// Trust only the CA certificates in this PEM file for the upstream.
    #[arg(long, value_name = "PEM")]
    pub upstream_ca: Option<PathBuf>,
    /// Do not verify the upstream's certificate (a warning is printed).
    #[arg(long, conflicts_with = "upstream_ca")]
    pub upstream_insecure: bool,
    /// The name sent as SNI and verified in the upstream's certificate
    /// (default: the --upstream host).
    #[arg(long, value_name = "NAME")]
    pub upstream_sni: Option<String>,
}

impl ProxyTlsArgs {
    /// Reads and checks every file; one line naming the problem.
    pub fn build(&self) -> anyhow::Result<crate::tls::ProxyTls> {
        proxy_tls(
            self.tls_cert.as_deref().zip(self.tls_key.as_deref()),
            self.upstream_tls,
            self.upstream_ca.as_deref(),
            self.upstream_insecure,
            self.upstream_sni.as_deref(),
        )
    }
}

/// The proxy's TLS from its settings (command line or config file): `listen` is
/// the certificate and key clients see; `upstream` turns on TLS to the server,
/// trusting `ca` (else the system's roots, or nothing with `insecure`) and
/// verifying `sni` when given.
pub fn proxy_tls(
    listen: Option<(&std::path::Path, &std::path::Path)>,
    upstream: bool,
    ca: Option<&std::path::Path>,
    insecure: bool,
    sni: Option<&str>,
) -> anyhow::Result<crate::tls::ProxyTls> {
    let listen = listen
        .map(|(cert, key)| Acceptor::from_pem_files(cert, key))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if !upstream {
        if ca.is_some() || insecure || sni.is_some() {
            bail!(
                "an upstream CA, upstream-insecure or upstream SNI needs upstream TLS on (--upstream-tls, upstream_tls = true in a config file, or a wss:// upstream)"
            );
        }
        return Ok(crate::tls::ProxyTls {
            listen,
            upstream: None,
        });
    }
    let trust = match (ca, insecure) {
        (Some(_), true) => bail!("give an upstream CA file or insecure, not both"),
        (Some(path), false) => Trust::CaFile(path.to_owned()),
        (None, true) => {
            eprintln!(
                "warning: the upstream's certificate is not verified; anyone on the path can read and change the traffic"
            );
            Trust::Insecure
        }
        (None, false) => Trust::System,
    };
    let mut connector = Connector::new(&trust).map_err(anyhow::Error::msg)?;
    if let Some(name) = sni {
        if rustls::pki_types::ServerName::try_from(name).is_err() {
            bail!("upstream SNI {name:?} is not a valid server name");
        }
        connector.server_name = Some(name.to_owned());
    }
    Ok(crate::tls::ProxyTls {
        listen,
        upstream: Some(connector),
    })
}
