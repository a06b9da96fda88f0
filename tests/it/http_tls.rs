//! HTTPS: the endpoint serves over TLS with the configured PEM files, bad clients on the TLS
//! port do not stall scrapes, and unusable files fail start-up with the file named.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::support::http::{sample_metrics, start, Client, TestSite};
use oauthwatch::exporter::{serve, ServeError};
use oauthwatch::exporter::{HttpOptions, TlsFiles};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/http")
        .join(name)
}

fn tls_http() -> HttpOptions {
    HttpOptions {
        tls: Some(TlsFiles {
            cert_file: fixture("server.pem"),
            key_file: fixture("server.key"),
        }),
        ..HttpOptions::default()
    }
}

/// A client trusting only the test CA.
fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn https_get(addr: std::net::SocketAddr, name: &str, path: &str) -> support::http::Response {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector()
        .connect(ServerName::try_from(name.to_string()).unwrap(), tcp)
        .await
        .expect("TLS handshake with the test CA");
    let mut c = Client::new(tls);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    c.response().await.expect("a response over TLS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_endpoints() {
    let server = start(TestSite::new(), tls_http()).await;
    let r = https_get(server.addr, "localhost", "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, sample_metrics());
    let r = https_get(server.addr, "127.0.0.1", "/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_stalled_handshakes_on_the_tls_port_do_not_stall_scrapes() {
    let http = HttpOptions {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 3,
        ..tls_http()
    };
    let server = start(TestSite::new(), http).await;
    // Plain HTTP to the TLS port: the handshake fails and the socket is closed.
    let mut plain = server.connect().await;
    plain
        .send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    plain.expect_closed().await;
    // Silent sockets fill every slot; the handshake timeout frees them.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(server.connect().await);
    }
    let r = https_get(server.addr, "localhost", "/metrics").await;
    assert_eq!(r.status, 200);
    for c in &mut silent {
        c.expect_closed().await;
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_gets_nothing() {
    let server = start(TestSite::new(), tls_http()).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let res = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(res.is_err());
    // The server is unaffected.
    assert_eq!(
        https_get(server.addr, "localhost", "/healthz").await.status,
        200
    );
    server.stop().await.unwrap();
}

async fn start_error(http: HttpOptions) -> ServeError {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::time::timeout(
        support::DEADLINE,
        serve(listener, TestSite::new(), http, std::future::pending()),
    )
    .await
    .expect("serve must fail at once, not run")
    .expect_err("unusable TLS files must fail start-up")
}

#[tokio::test]
async fn unusable_tls_files_fail_start_up_naming_the_file() {
    let missing = fixture("no-such.pem");
    let err = start_error(HttpOptions {
        tls: Some(TlsFiles {
            cert_file: missing.clone(),
            key_file: fixture("server.key"),
        }),
        ..HttpOptions::default()
    })
    .await;
    assert!(
        matches!(err, ServeError::TlsFile { ref path, .. } if *path == missing),
        "{err}"
    );
    assert!(err.to_string().contains("no-such.pem"), "{err}");

    // A certificate where the key should be.
    let err = start_error(HttpOptions {
        tls: Some(TlsFiles {
            cert_file: fixture("server.pem"),
            key_file: fixture("server.pem"),
        }),
        ..HttpOptions::default()
    })
    .await;
    assert!(err.to_string().contains("no private key"), "{err}");

    // A key where the certificate should be.
    let err = start_error(HttpOptions {
        tls: Some(TlsFiles {
            cert_file: fixture("server.key"),
            key_file: fixture("server.key"),
        }),
        ..HttpOptions::default()
    })
    .await;
    assert!(err.to_string().contains("no `CERTIFICATE`"), "{err}");

    // The CA's certificate does not match the server's key.
    let err = start_error(HttpOptions {
        tls: Some(TlsFiles {
            cert_file: fixture("ca.pem"),
            key_file: fixture("server.key"),
        }),
        ..HttpOptions::default()
    })
    .await;
    assert!(err.to_string().contains("does not match"), "{err}");
}

/// The leaf certificate the server presents, as DER.
async fn presented_cert(addr: std::net::SocketAddr) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(pem_file: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(fixture(pem_file))
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(fixture("server.pem"), &cert).unwrap();
    std::fs::copy(fixture("server.key"), &key).unwrap();
    let http = HttpOptions {
        tls: Some(TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
        }),
        ..HttpOptions::default()
    };
    let server = start(TestSite::new(), http).await;
    let original = der_of("server.pem");
    assert_eq!(presented_cert(server.addr).await, original);

    // A broken file is not used: handshakes keep presenting the last good certificate.
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    for _ in 0..15 {
        assert_eq!(presented_cert(server.addr).await, original);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A rotated pair is picked up.
    std::fs::copy(fixture("server-rotated.key"), &key).unwrap();
    std::fs::copy(fixture("server-rotated.pem"), &cert).unwrap();
    let rotated = der_of("server-rotated.pem");
    let picked_up = tokio::time::timeout(support::DEADLINE, async {
        while presented_cert(server.addr).await != rotated {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        picked_up.is_ok(),
        "the rotated certificate was never served"
    );
    let r = https_get(server.addr, "localhost", "/metrics").await;
    assert_eq!(r.status, 200);
    server.stop().await.unwrap();
}
