//! The HTTP exporter: `/metrics`, `/healthz`, `/readyz`, `/hints`, and `/`.
//!
//! A hardened HTTP/1.1 server in the manner of ntpd-rs's metrics endpoint: GET and HEAD only,
//! a cap on request header bytes, header-read and idle timeouts, a cap on concurrent
//! connections, and bad clients that only ever hold their own connection. Optional HTTPS and
//! basic auth follow the Prometheus exporter-toolkit web config.
//!
//! - `server`: accept loop, connection cap, per-connection driver, graceful shutdown;
//! - `activity`: the per-connection timeout policy (pure) and the I/O wrapper feeding it;
//! - `routes`: paths, methods, access checks and content types;
//! - `encoding`: gzip negotiation; `page`: the HTML page; `auth`: basic auth;
//!   `tls`: certificate loading.
//!
//! The server knows nothing about metrics: it serves whatever [`Site`] the daemon hands it,
//! which keeps it testable with a stand-in site.

mod activity;
pub(crate) mod auth;
mod encoding;
mod page;
mod routes;
mod server;
pub(crate) mod tls;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::registry::{HintsReport, StatusReport};

/// Listen backlog asked for on the endpoint's socket (the kernel caps it at `somaxconn`).
/// Under a flood of new connections the accept loop evicts idle ones as fast as it accepts,
/// but connections still queue in the kernel meanwhile; a short backlog (tokio binds with
/// 128 here) overflows and drops a probe's SYN, costing it a one-second retransmit.
const LISTEN_BACKLOG: i32 = 4096;

/// TLS for the endpoint (as in the Prometheus exporter-toolkit web config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// The endpoint's hardening and access control (the config file's `[http]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Concurrent connections served; more wait in the accept queue.
    pub max_connections: usize,
    /// Time allowed for a new connection's first byte (a socket that stays silent longer is
    /// closed; capped at `header_read_timeout`).
    pub first_byte_timeout: Duration,
    /// Time allowed to send the request headers.
    pub header_read_timeout: Duration,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
    /// Request headers larger than this are refused.
    pub max_header_bytes: usize,
    /// Serve HTTPS with these files.
    pub tls: Option<TlsFiles>,
    /// Basic-auth users and their bcrypt password hashes; empty = no auth.
    pub basic_auth_users: BTreeMap<String, String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_connections: 64,
            first_byte_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_header_bytes: 8192,
            tls: None,
            basic_auth_users: BTreeMap::new(),
        }
    }
}

/// What the endpoint serves; the daemon implements it over its registry.
///
/// The methods are called on the runtime for every request, so they must be quick in-memory
/// work (encoding a registry is), never I/O.
pub trait Site: Send + Sync + 'static {
    /// `/metrics` body, Prometheus text exposition format 0.0.4.
    fn metrics(&self) -> Vec<u8>;
    /// `/hints` data (served as JSON, rendered on `/`).
    fn hints(&self) -> HintsReport;
    /// `/readyz`: rules loaded and sources open.
    fn ready(&self) -> bool;
    /// What the status page `/` shows; by default the hints alone.
    fn status(&self) -> StatusReport {
        StatusReport {
            hints: self.hints(),
            ready: self.ready(),
            ..StatusReport::default()
        }
    }
    /// Conditions `/readyz` names without failing (a source whose globs match no file yet),
    /// one sentence each.
    fn readiness_notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Errors that stop the endpoint from starting (bad TLS files, bad password hashes).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// TLS could not be set up (protocol configuration).
    #[error("TLS: {0}")]
    Tls(String),
    /// A TLS certificate or key file could not be read or used.
    #[error("TLS: {}: {reason}", path.display())]
    TlsFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A `basic_auth_users` entry is not a usable bcrypt hash.
    #[error("http.basic_auth_users: user `{user}`: not a usable bcrypt hash: {reason}")]
    BasicAuthHash {
        /// The user whose hash is bad (the hash itself is not repeated).
        user: String,
        /// What bcrypt said.
        reason: String,
    },
    /// The system random source failed (needed for the credential cache key).
    #[error("no system randomness available for the basic-auth cache key")]
    NoRandomness,
}

/// Serve `site` on an already-bound listener until `shutdown` resolves, then close
/// connections gracefully (in-flight requests finish, within a bounded time).
///
/// Returns an error only when the TLS files or password hashes in `http` are unusable; that
/// check happens before the first connection is accepted. Once serving, bad clients and
/// accept errors are logged at debug level (warn for resource exhaustion) and never end it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Arc<dyn Site>,
    http: HttpOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let tls = http.tls.as_ref().map(tls::acceptor).transpose()?;
    let auth = auth::BasicAuth::new(&http.basic_auth_users)?;
    // listen(2) again on a listening socket only changes its backlog.
    if let Err(e) = socket2::SockRef::from(&listener).listen(LISTEN_BACKLOG) {
        tracing::debug!(error = %e, "cannot raise the listen backlog; keeping the default");
    }
    let timeouts = activity::Timeouts {
        first_byte: http.first_byte_timeout,
        header_read: http.header_read_timeout,
        idle: http.idle_timeout,
    };
    let server = Arc::new(server::Server {
        router: routes::Router::new(site, auth),
        http1: server::Server::http1_builder(http.max_header_bytes, &timeouts),
        timeouts,
        tls,
    });
    server.run(listener, http.max_connections, shutdown).await;
    Ok(())
}
