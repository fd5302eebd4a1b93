//! TLS for `cloudflare:sockets` (`secureTransport: "on"`, and `startTls()`): rustls with the ring
//! provider and the webpki roots, the same library, provider and roots the gateway's https
//! (reqwest) uses, plus the certificate authorities the operator lists in `[egress]
//! sockets_extra_roots` (PEM files, read once at start).
//!
//! Guarantees: the server's certificate chain is verified against those roots and must name the
//! host tenant code connected to (or its `expectedServerHostname`); TLS 1.2 or 1.3 only; a
//! handshake takes at most [`HANDSHAKE_TIMEOUT`]. Trusts: the roots; the operator's PEM files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::tcp_relay::BoxIo;

/// The longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the sockets' TLS could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("egress.sockets_extra_roots {path:?}: {why}")]
    Roots { path: String, why: String },
    #[error("cannot configure TLS for sockets: {0}")]
    Rustls(String),
}

/// The client configuration: the webpki roots and the PEM certificates in `extra`.
pub fn client_config(extra: &[String]) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in extra {
        let bad = |why: String| TlsConfigError::Roots {
            path: path.clone(),
            why,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(Path::new(path))
            .map_err(|e| bad(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("holds no certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS client handshake over `io` for `host` (a DNS name or an IP address): the secured
/// connection, or why not (words tenant code can be shown).
pub async fn handshake(config: &Arc<ClientConfig>, io: BoxIo, host: &str) -> Result<BoxIo, String> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(unbracketed.to_owned())
        .map_err(|_| format!("{host:?} is not a name a TLS certificate can be checked against"))?;
    let connector = TlsConnector::from(Arc::clone(config));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, io)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => Err(format!("the TLS handshake failed: {e}")),
        Err(_) => Err("the TLS handshake timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        assert!(client_config(&[]).is_ok());
        let dir = std::env::temp_dir().join(format!("stockade-tcp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        let e = client_config(&[empty.display().to_string()]).expect_err("no certificate");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        let missing = dir.join("missing.pem").display().to_string();
        assert!(client_config(&[missing]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
