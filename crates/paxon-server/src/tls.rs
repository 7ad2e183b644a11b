//! TLS with etcd's flags, through rustls (ring).
//!
//! Clients: a listener whose URL is `https` serves gRPC over TLS with
//! `--cert-file`/`--key-file`; with `--client-cert-auth` a client must
//! show a certificate signed by `--trusted-ca-file`, as in etcd.
//!
//! Peers: a member dials an `https` peer URL over TLS, checks the peer's
//! certificate against `--peer-trusted-ca-file` (for the host of the URL)
//! and presents its own `--peer-cert-file` as a client certificate, as
//! etcd does; a peer listener whose URL is `https` accepts TLS only, and
//! with `--peer-client-cert-auth` only from peers whose certificate the
//! same CA signed.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::TlsFiles;

/// Longest a client may take over its TLS handshake.
const CLIENT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("--{flag} {}: {e}", path.display()))
}

/// The client side's `ServerTlsConfig` for tonic.
pub fn client_server_config(files: &TlsFiles) -> Result<tonic::transport::ServerTlsConfig, String> {
    // Parse here so that a bad file is reported by name at start-up.
    certificates("cert-file", &files.cert_file)?;
    private_key("key-file", &files.key_file)?;
    let identity = tonic::transport::Identity::from_pem(
        read("cert-file", &files.cert_file)?,
        read("key-file", &files.key_file)?,
    );
    let mut config = tonic::transport::ServerTlsConfig::new()
        .identity(identity)
        .timeout(CLIENT_HANDSHAKE_TIMEOUT);
    if files.client_cert_auth {
        let ca_file = files.trusted_ca_file.as_deref().expect("validated");
        roots("trusted-ca-file", ca_file)?;
        config = config.client_ca_root(tonic::transport::Certificate::from_pem(read(
            "trusted-ca-file",
            ca_file,
        )?));
    }
    Ok(config)
}

/// Both ends of TLS between peers.
#[derive(Clone)]
pub struct PeerTls {
    /// Wraps connections accepted on an `https` peer URL.
    pub acceptor: TlsAcceptor,
    /// Wraps connections dialled to an `https` peer URL.
    pub connector: TlsConnector,
}

impl PeerTls {
    /// Loads `--peer-cert-file` and its friends.
    pub fn load(files: &TlsFiles) -> Result<PeerTls, String> {
        let provider = provider();
        let chain = certificates("peer-cert-file", &files.cert_file)?;
        let key = private_key("peer-key-file", &files.key_file)?;
        let roots = match &files.trusted_ca_file {
            Some(path) => Some(Arc::new(roots("peer-trusted-ca-file", path)?)),
            None => None,
        };
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let server = match (&roots, files.client_cert_auth) {
            (Some(roots), true) => server.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(
                    Arc::clone(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| format!("--peer-trusted-ca-file: {e}"))?,
            ),
            _ => server.with_no_client_auth(),
        };
        let server = server
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("--peer-cert-file/--peer-key-file: {e}"))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots.unwrap_or_else(|| Arc::new(RootCertStore::empty())))
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("--peer-cert-file/--peer-key-file: {e}"))?;
        Ok(PeerTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// The name a peer's certificate must carry: its URL's host (an IP
/// address or a DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(&read(flag, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--{flag} {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--{flag} {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(chain)
}

fn private_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(&read(flag, path)?)
        .map_err(|e| format!("--{flag} {}: no PEM private key ({e})", path.display()))
}

fn roots(flag: &str, path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(flag, path)? {
        roots
            .add(cert)
            .map_err(|e| format!("--{flag} {}: {e}", path.display()))?;
    }
    Ok(roots)
}
