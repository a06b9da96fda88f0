//! The endpoints over real TCP on 127.0.0.1: what each path serves, content types, gzip,
//! HEAD, 404 and 405.

use crate::support;

use std::io::Read;
use std::sync::atomic::Ordering;

use crate::support::http::{sample_hints, sample_metrics, start, TestSite};
use oauthwatch::exporter::HttpOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_as_prometheus_text() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.body, sample_metrics());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_gzipped_when_the_client_accepts_gzip() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let r = server
        .request("GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .expect("a valid gzip body");
    assert_eq!(plain, sample_metrics());
    assert!(r.body.len() < plain.len());

    // A refusal by q-value gets plain text.
    let r = server
        .request("GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0, br\r\n\r\n")
        .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, sample_metrics());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_ok_and_readyz_follows_the_site() {
    let site = TestSite::new();
    site.ready.store(false, Ordering::SeqCst);
    let server = start(site.clone(), HttpOptions::default()).await;

    let r = server.get("/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));

    let r = server.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "not ready");

    site.ready.store(true, Ordering::SeqCst);
    let r = server.get("/readyz").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ready"));
    // Liveness does not depend on readiness.
    site.ready.store(false, Ordering::SeqCst);
    assert_eq!(server.get("/healthz").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_are_the_report_as_json() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let r = server.get("/hints").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let got: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(got, serde_json::to_value(sample_hints()).unwrap());
    assert_eq!(got["hints"][0]["rule"], "invalid_authorization_code");
    assert_eq!(got["hints"][0]["count_in_window"], 12);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_page_shows_active_hints_with_log_text_escaped() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let r = server.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|csp| csp.contains("default-src 'none'")));
    let html = r.text();
    for expected in [
        "<a href=\"metrics\">",
        "<a href=\"hints\">",
        "<a href=\"healthz\">",
        "<a href=\"readyz\">",
        "<strong>invalid_authorization_code</strong>",
        "<td data-label=\"Codes\">4734</td>",
        "Invalid authorization code",
        "Exchange each authorization code exactly once &amp; promptly",
        "12 <span class=\"muted\">(alert at 5 in 5m)</span>",
        "2026-11-24T19:59:59Z",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_gets_the_headers_without_a_body() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let mut c = server.connect().await;
    c.send(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let head = c.response().await.expect("HEAD response");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(sample_metrics().len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    // No stray body bytes on the wire: the next response on the connection parses cleanly.
    c.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let next = c.response().await.expect("GET after HEAD");
    assert_eq!((next.status, next.text().as_str()), (200, "ok"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_other_than_get_and_head_get_405_with_allow() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        for path in ["/metrics", "/", "/healthz"] {
            let r = server
                .request(&format!(
                    "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
                ))
                .await;
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} {path}");
        }
    }
    // CONNECT's target is an authority, with no path: still 405, not 404 (and so is any
    // other unsupported method on an unknown path).
    for raw in [
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "CONNECT 127.0.0.1:9742 HTTP/1.1\r\nHost: t\r\n\r\n",
        "CONNECT /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ] {
        let r = server.request(raw).await;
        assert_eq!(r.status, 405, "{raw:?}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{raw:?}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_get_404() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    for path in [
        "/nope",
        "/metrics/",
        "/Metrics",
        "/index.html",
        "/../etc/passwd",
    ] {
        assert_eq!(server.get(path).await.status, 404, "{path}");
    }
    // A query string does not change the route.
    assert_eq!(server.get("/metrics?debug=1").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keep_alive_connection_serves_many_scrapes() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let mut c = server.connect().await;
    for path in ["/metrics", "/hints", "/", "/healthz", "/nope", "/metrics"] {
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await;
        let r = c.response().await.expect("response on the same connection");
        assert_eq!(r.status, if path == "/nope" { 404 } else { 200 }, "{path}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_metrics_bodies_pass_through_the_small_header_buffer() {
    // Thousands of pod series make multi-megabyte bodies; the 8 KiB header cap must not
    // limit responses.
    let site = TestSite::new();
    let big: Vec<u8> = (0..60_000)
        .flat_map(|i| format!("oauthwatch_pod_errors_total{{pod=\"p{i}\"}} {i}\n").into_bytes())
        .collect();
    *site.metrics.lock().unwrap() = big.clone();
    let server = start(site, HttpOptions::default()).await;
    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big);
    let r = server
        .request("GET /metrics HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
        .await;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .expect("a valid gzip body");
    assert!(plain == big);
    server.stop().await.unwrap();
}

/// A site whose `metrics` panics (a bug elsewhere in the daemon).
struct PanickingSite;

impl oauthwatch::exporter::Site for PanickingSite {
    fn metrics(&self) -> Vec<u8> {
        panic!("bug in the registry");
    }
    fn hints(&self) -> oauthwatch::registry::HintsReport {
        sample_hints()
    }
    fn ready(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_site_costs_one_request_a_500_not_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(oauthwatch::exporter::serve(
        listener,
        std::sync::Arc::new(PanickingSite),
        HttpOptions::default(),
        async move {
            let _ = rx.await;
        },
    ));
    let mut c = support::http::Client::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.response().await.expect("a 500").status, 500);
    // The same connection still serves.
    c.send(b"GET /hints HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.response().await.expect("hints").status, 200);
    tx.send(()).unwrap();
    tokio::time::timeout(support::DEADLINE, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
