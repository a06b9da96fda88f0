//! HTTPS for the endpoint: a rustls server config (ring provider, TLS 1.2 and 1.3) from a PEM
//! certificate chain and private key, as in the exporter-toolkit `tls_server_config`.
//!
//! The files are read once, when the server starts; a bad path or PEM fails start-up with the
//! file named, instead of failing every handshake later.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use crate::config::TlsFiles;

/// A TLS acceptor for `files`, offering HTTP/1.1 over ALPN.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    let certs = read_certs(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::TlsFile {
            path: files.key_file.clone(),
            reason: format!(
                "does not match the certificate in {}: {e}",
                files.cert_file.display()
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn open(path: &Path) -> Result<BufReader<File>, ServeError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: "no `CERTIFICATE` block found".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServeError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: format!("bad PEM: {e}"),
        })?
        .ok_or_else(|| ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: "no private key found (PKCS#8, PKCS#1 or SEC1 PEM block)".into(),
        })
}
