//! Basic auth with bcrypt hashes (exporter-toolkit style): what needs credentials, what stays
//! open for probes, the challenge, and that credentials never reach the logs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::support::http::{sample_metrics, start, TestSite};
use base64::Engine;
use oauthwatch::exporter::HttpOptions;
use oauthwatch::exporter::{serve, ServeError};

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse:battery staple";

fn auth_http() -> HttpOptions {
    let mut users = BTreeMap::new();
    // Cost 4 keeps the suite quick; the daemon accepts any cost.
    users.insert(USER.to_string(), bcrypt::hash(PASSWORD, 4).unwrap());
    users.insert(
        "grafana".to_string(),
        bcrypt::hash("another one", 4).unwrap(),
    );
    HttpOptions {
        basic_auth_users: users,
        ..HttpOptions::default()
    }
}

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn get_with_auth(path: &str, authorization: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {authorization}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_hints_and_page_need_valid_credentials() {
    capture_logs();
    let server = start(TestSite::new(), auth_http()).await;
    let good = format!("Basic {}", basic(USER, PASSWORD));
    for path in ["/metrics", "/hints", "/"] {
        let r = server.get(path).await;
        assert_eq!(r.status, 401, "{path} without credentials");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"oauthwatch\""),
            "{path}"
        );
        for bad in [
            format!("Basic {}", basic(USER, "wrong")),
            format!("Basic {}", basic("grafana", PASSWORD)),
            format!("Basic {}", basic("nobody", PASSWORD)),
            format!("Bearer {}", basic(USER, PASSWORD)),
            "Basic not-base64!".to_string(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(USER)
            ),
        ] {
            let r = server.request(&get_with_auth(path, &bad)).await;
            assert_eq!(r.status, 401, "{path} with {bad}");
        }
        let r = server.request(&get_with_auth(path, &good)).await;
        assert_eq!(r.status, 200, "{path} with good credentials");
    }
    let r = server.request(&get_with_auth("/metrics", &good)).await;
    assert_eq!(r.body, sample_metrics());
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_stay_open_without_credentials() {
    capture_logs();
    let server = start(TestSite::new(), auth_http()).await;
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(server.get("/readyz").await.status, 200);
    // Unknown paths and methods are answered before credentials are checked.
    assert_eq!(server.get("/nope").await.status, 404);
    let r = server
        .request("DELETE /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(r.status, 405);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_scrapes_on_one_connection_stay_authorised() {
    capture_logs();
    let server = start(TestSite::new(), auth_http()).await;
    let good = format!("Basic {}", basic(USER, PASSWORD));
    let mut c = server.connect().await;
    for _ in 0..20 {
        c.send(get_with_auth("/metrics", &good).as_bytes()).await;
        assert_eq!(c.response().await.expect("response").status, 200);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_bad_password_hash_fails_start_up_naming_the_user() {
    capture_logs();
    let mut http = auth_http();
    http.basic_auth_users
        .insert("ops".to_string(), "$2y$10$not-a-real-hash".to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve(listener, TestSite::new(), http, std::future::pending())
        .await
        .expect_err("a bad hash must fail start-up");
    assert!(
        matches!(err, ServeError::BasicAuthHash { ref user, .. } if user == "ops"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-a-real-hash"), "{err}");
}

/// Collects everything this test binary logs (at trace level) into one buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Install the capturing subscriber as the global default, once for the whole binary, so it
/// sees the server's tasks on every runtime thread (a thread-local default would miss them).
/// Every test here calls it, so all their logs are checked for secrets.
fn capture_logs() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let sink = captured.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || sink.clone())
                .with_ansi(false)
                .init();
            captured
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_logs() {
    let captured = capture_logs();
    let server = start(TestSite::new(), auth_http()).await;
    let wrong = basic(USER, "hunter2-wrong");
    let good = basic(USER, PASSWORD);
    for auth in [
        format!("Basic {wrong}"),
        format!("Basic {good}"),
        format!("Basic {good}"),
        "Basic %%%garbage".to_string(),
    ] {
        let _ = server.request(&get_with_auth("/metrics", &auth)).await;
    }
    // A malformed request carrying credentials: hyper rejects it, we log the rejection.
    let _ = server
        .request(&format!(
            "GET /metrics HTTP/1.1\r\nAuthorization: Basic {good}\r\nBroken line\r\n\r\n"
        ))
        .await;
    // Client-invented methods and paths are not logged either (both are 404/405 material).
    for raw in [
        "Tok3nMethodXYZ /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /callback?code=authcodeXYZ HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = server.request(raw).await;
        assert!(r.status == 404 || r.status == 405, "{raw}");
    }
    server.stop().await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("basic auth failed"),
        "the capture must see the server's logs:\n{logs}"
    );
    for secret in [
        PASSWORD,
        "hunter2-wrong",
        &wrong,
        &good,
        "%%%garbage",
        USER,
        "Tok3nMethodXYZ",
        "authcodeXYZ",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}
