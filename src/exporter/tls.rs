//! HTTPS for the endpoint: a rustls server config (ring provider, TLS 1.2 and 1.3) from a PEM
//! certificate chain and private key, as in the exporter-toolkit `tls_server_config`.
//!
//! The files are read when the server starts; a bad path or PEM fails start-up with the file
//! named. Like exporter-toolkit, certificate rotation needs no restart: at most once a second,
//! a handshake checks whether either file changed (modification time, size, inode — which also
//! catches Kubernetes' symlink swap of a mounted secret) and loads the new pair. A pair that
//! does not load (half-written, mismatched) is logged and the previous one stays in use.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use super::TlsFiles;

/// How often handshakes look at the files for changes.
const RECHECK: Duration = Duration::from_secs(1);

/// A TLS acceptor for `files`, offering HTTP/1.1 over ALPN.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::new(files.clone(), provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Identity of the two files' current contents, as far as `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    cert: Option<(SystemTime, u64, u64)>,
    key: Option<(SystemTime, u64, u64)>,
}

impl Stamp {
    fn of(files: &TlsFiles) -> Stamp {
        let stat = |p: &Path| {
            std::fs::metadata(p).ok().map(|m| {
                (
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    m.len(),
                    m.ino(),
                )
            })
        };
        Stamp {
            cert: stat(&files.cert_file),
            key: stat(&files.key_file),
        }
    }
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked_at: Instant,
}

/// Serves the certificate in `files`, reloading it when the files change.
#[derive(Debug)]
struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

impl ReloadingCert {
    fn new(files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<ReloadingCert, ServeError> {
        let stamp = Stamp::of(&files);
        let key = load(&files, &provider)?;
        Ok(ReloadingCert {
            files,
            provider,
            current: Mutex::new(Current {
                key: Arc::new(key),
                stamp,
                checked_at: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.checked_at.elapsed() >= RECHECK {
            cur.checked_at = Instant::now();
            let stamp = Stamp::of(&self.files);
            if stamp != cur.stamp {
                // Remember the new stamp even if loading fails: retry on the next change,
                // not on every handshake.
                cur.stamp = stamp;
                match load(&self.files, &self.provider) {
                    Ok(key) => {
                        cur.key = Arc::new(key);
                        tracing::info!(
                            cert_file = %self.files.cert_file.display(),
                            "TLS certificate reloaded"
                        );
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "TLS certificate files changed but cannot be used; keeping the previous certificate"
                    ),
                }
            }
        }
        Some(cur.key.clone())
    }
}

/// Read and check the pair.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, ServeError> {
    let certs = read_certs(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| ServeError::TlsFile {
        path: files.key_file.clone(),
        reason: format!(
            "does not match the certificate in {}: {e}",
            files.cert_file.display()
        ),
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let bad = |e| ServeError::TlsFile {
        path: path.to_path_buf(),
        reason: pem_problem(e),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(bad)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if certs.is_empty() {
        return Err(ServeError::TlsFile {
            path: path.to_path_buf(),
            reason: "no `CERTIFICATE` block found".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServeError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| ServeError::TlsFile {
        path: path.to_path_buf(),
        reason: match e {
            pem::Error::NoItemsFound => {
                "no private key found (PKCS#8, PKCS#1 or SEC1 PEM block)".into()
            }
            e => pem_problem(e),
        },
    })
}

/// What is wrong with a PEM file: the I/O error as the OS words it (a missing file, no
/// permission), anything else as bad PEM.
fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::Io(e) => e.to_string(),
        e => format!("bad PEM: {e}"),
    }
}
