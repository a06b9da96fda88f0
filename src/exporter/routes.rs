//! Requests to responses: which path serves what, method and access checks, content types.
//!
//! | path       | serves                                   | basic auth (when configured) |
//! |------------|------------------------------------------|------------------------------|
//! | `/metrics` | `Site::metrics`, gzip when accepted      | required                     |
//! | `/hints`   | `Site::hints` as JSON                    | required                     |
//! | `/`        | the HTML page ([`super::page`])          | required                     |
//! | `/healthz` | `200 ok` while the server runs           | open, for probes             |
//! | `/readyz`  | `200 ready` / `503 not ready`, + notes   | open, for probes             |
//!
//! The probes stay open because kubelet and load-balancer health checks rarely carry
//! credentials, and they reveal nothing but "up" and "ready". Methods other than GET and HEAD
//! get `405` whatever the target (also `CONNECT host:port`, which has no path); other paths
//! get `404`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::auth::{self, BasicAuth};
use super::{encoding, page, Site};

/// Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/`
    Index,
    /// `/metrics`
    Metrics,
    /// `/hints`
    Hints,
    /// `/healthz`
    Healthz,
    /// `/readyz`
    Readyz,
}

impl Route {
    /// The route for a request path (the query string is not part of it).
    pub fn from_path(path: &str) -> Option<Route> {
        Some(match path {
            "/" => Route::Index,
            "/metrics" => Route::Metrics,
            "/hints" => Route::Hints,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            _ => return None,
        })
    }

    /// Whether basic auth (when configured) guards this route.
    pub fn needs_auth(self) -> bool {
        !matches!(self, Route::Healthz | Route::Readyz)
    }
}

/// Answers requests for one site.
pub struct Router {
    site: Arc<dyn Site>,
    auth: Option<BasicAuth>,
}

impl Router {
    /// A router for `site`, checking credentials with `auth` when set.
    pub fn new(site: Arc<dyn Site>, auth: Option<BasicAuth>) -> Router {
        Router { site, auth }
    }

    /// The response to `req`. The request body is never read: every endpoint is a GET.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        // The method first, whatever the target: `CONNECT host:443` has no path at all, and it
        // is refused like every other method but GET and HEAD.
        if req.method() != Method::GET && req.method() != Method::HEAD {
            tracing::debug!(
                method = loggable(req.method()),
                status = 405,
                "method not allowed"
            );
            let mut resp = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are allowed\n",
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let Some(route) = Route::from_path(req.uri().path()) else {
            tracing::debug!(
                method = loggable(req.method()),
                status = 404,
                "unknown path"
            );
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        if let Some(auth) = self.auth.as_ref().filter(|_| route.needs_auth()) {
            if !auth.allows(req.headers().get(header::AUTHORIZATION)).await {
                tracing::debug!(?route, status = 401, "basic auth failed or missing");
                let mut resp = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(auth::CHALLENGE),
                );
                return resp;
            }
        }
        // A panic in the site (a bug) costs this request a 500, not the connection.
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| match route {
            Route::Metrics => self.metrics(&req),
            Route::Hints => self.hints(),
            Route::Index => self.index(),
            Route::Healthz => text(StatusCode::OK, "ok"),
            Route::Readyz => self.readyz(),
        }));
        answer.unwrap_or_else(|_| {
            tracing::error!(?route, "the handler panicked; answering 500");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        })
    }

    fn metrics<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let body = self.site.metrics();
        let gzip = encoding::accepts_gzip(
            req.headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        let mut resp = if gzip {
            let mut r = response(StatusCode::OK, METRICS_CONTENT_TYPE, encoding::gzip(&body));
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            response(StatusCode::OK, METRICS_CONTENT_TYPE, body)
        };
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        resp
    }

    fn hints(&self) -> Response<Full<Bytes>> {
        // Pretty: on-call engineers read this with curl.
        match serde_json::to_vec_pretty(&self.site.hints()) {
            Ok(mut json) => {
                json.push(b'\n');
                response(StatusCode::OK, "application/json", json)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode /hints");
                text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode hints\n")
            }
        }
    }

    fn index(&self) -> Response<Full<Bytes>> {
        let mut resp = response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            page::render(&self.site.status()),
        );
        // No script, no frames, no outside resources: the page needs none of them.
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(page::content_security_policy()),
        );
        resp
    }

    /// `ready` or `not ready`, then one line per condition worth knowing that does not make
    /// the daemon unready (a source whose globs match no file yet).
    fn readyz(&self) -> Response<Full<Bytes>> {
        let (status, head) = if self.site.ready() {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready")
        };
        let notes = self.site.readiness_notes();
        if notes.is_empty() {
            return text(status, head);
        }
        let mut body = format!("{head}\n");
        for n in notes {
            body.push_str("warning: ");
            body.push_str(&n);
            body.push('\n');
        }
        response(status, "text/plain; charset=utf-8", body)
    }
}

/// The method for a log line: a client can send any token as a method, so only the standard
/// ones are logged verbatim (nothing a client invents reaches the logs).
fn loggable(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    STANDARD
        .iter()
        .find(|m| *m == method)
        .map_or("(non-standard)", |m| m.as_str())
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body)
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_exact_paths() {
        assert_eq!(Route::from_path("/"), Some(Route::Index));
        assert_eq!(Route::from_path("/metrics"), Some(Route::Metrics));
        assert_eq!(Route::from_path("/metrics/"), None);
        assert_eq!(Route::from_path("/METRICS"), None);
        assert_eq!(Route::from_path("/index.html"), None);
        assert!(
            Route::Metrics.needs_auth() && Route::Index.needs_auth() && Route::Hints.needs_auth()
        );
        assert!(!Route::Healthz.needs_auth() && !Route::Readyz.needs_auth());
    }
}
