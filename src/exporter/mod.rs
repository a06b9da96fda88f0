//! The HTTP exporter: `/metrics`, `/healthz`, `/readyz`, `/hints`, and `/`.
//!
//! OWNER: exporter helper. The public items below are the seam the rest of the crate uses;
//! keep their names and signatures (add to them freely). (SKELETON)

use std::future::Future;
use std::sync::Arc;

use crate::config::Http;
use crate::registry::HintsReport;

/// What the endpoint serves; the daemon implements it over its registry.
pub trait Site: Send + Sync + 'static {
    /// `/metrics` body, Prometheus text exposition format 0.0.4.
    fn metrics(&self) -> Vec<u8>;
    /// `/hints` data (served as JSON, rendered on `/`).
    fn hints(&self) -> HintsReport;
    /// `/readyz`: rules loaded and sources open.
    fn ready(&self) -> bool;
}

/// Errors that stop the endpoint from starting (bad TLS files, ...).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Serve `site` on an already-bound listener until `shutdown` resolves, then close
/// connections gracefully (in-flight requests finish, within a bounded time).
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Arc<dyn Site>,
    http: Http,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let _ = (listener, site, http);
    shutdown.await;
    Ok(())
}
