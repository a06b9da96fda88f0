//! Shared by the `tests/http_*.rs` suites: a stand-in [`Site`], a server started on
//! `127.0.0.1:0` that the test stops itself, and a small raw HTTP/1.1 client (raw, because the
//! hardening tests must send what no well-behaved client would).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauthwatch::exporter::HttpOptions;
use oauthwatch::exporter::{serve, ServeError, Site};
use oauthwatch::registry::{HintEntry, HintsReport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::DEADLINE;

/// A `Site` whose answers the test controls.
pub struct TestSite {
    pub metrics: Mutex<Vec<u8>>,
    pub hints: Mutex<HintsReport>,
    pub ready: AtomicBool,
    /// When set, `metrics()` reports entry on the first channel and then blocks until the
    /// second one yields (or is dropped): an in-flight request the test can hold open.
    pub gate: Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

/// A metrics body long enough to be worth compressing.
pub fn sample_metrics() -> Vec<u8> {
    let mut s = String::from(
        "# HELP oauthwatch_errors_total OAuth token-endpoint failures by code.\n\
         # TYPE oauthwatch_errors_total counter\n",
    );
    for (i, code) in ["4700", "4702,4704", "4733", "4734", "4741", "unknown"]
        .iter()
        .enumerate()
    {
        s.push_str(&format!(
            "oauthwatch_errors_total{{provider=\"zoom\",code=\"{code}\",rule=\"r{i}\",source=\"app\"}} {i}\n"
        ));
    }
    s.into_bytes()
}

/// One active hint whose sample is hostile HTML.
pub fn sample_hints() -> HintsReport {
    HintsReport {
        generated_at: "2026-11-24T20:00:00Z".into(),
        hints: vec![HintEntry {
            rule: "invalid_authorization_code".into(),
            provider: "zoom".into(),
            codes: vec!["4734".into()],
            code: "4734".into(),
            source: "app".into(),
            severity: "warning".into(),
            summary: "Invalid authorization code".into(),
            remediation: "Exchange each authorization code exactly once & promptly".into(),
            active: true,
            count_in_window: 12,
            threshold: 5,
            window_seconds: 300,
            first_seen: "2026-11-24T19:55:00Z".into(),
            last_seen: "2026-11-24T19:59:59Z".into(),
            sample: r#"{"reason":"Invalid authorization code <script>alert(1)</script> \"><img src=x onerror=alert(2)>","error":"invalid_grant"}"#.into(),
            unmatched_reasons: vec![],
                            last_fired: None,
        }],
    }
}

impl TestSite {
    pub fn new() -> Arc<TestSite> {
        Arc::new(TestSite {
            metrics: Mutex::new(sample_metrics()),
            hints: Mutex::new(sample_hints()),
            ready: AtomicBool::new(true),
            gate: Mutex::new(None),
        })
    }
}

impl Site for TestSite {
    fn metrics(&self) -> Vec<u8> {
        let gate = self.gate.lock().unwrap().take();
        if let Some((entered, release)) = gate {
            let _ = entered.send(());
            // Hand this worker's other tasks to another thread while blocking, as a real
            // slow handler would not stall the rest of the runtime.
            tokio::task::block_in_place(|| {
                let _ = release.recv_timeout(DEADLINE);
            });
        }
        self.metrics.lock().unwrap().clone()
    }
    fn hints(&self) -> HintsReport {
        self.hints.lock().unwrap().clone()
    }
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// A server under test.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

/// Serve `site` with `http` on a fresh loopback port.
pub async fn start(site: Arc<TestSite>, http: HttpOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, site, http, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

impl Running {
    /// Resolve the shutdown future (serve keeps draining in the background).
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shut down and wait for `serve` to return.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.begin_shutdown();
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("serve did not return after shutdown")
            .expect("serve panicked")
    }

    /// A new plain TCP connection.
    pub async fn connect(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.expect("connect"))
    }

    /// One GET on a new connection.
    pub async fn get(&self, path: &str) -> Response {
        self.request(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
            .await
    }

    /// One raw request on a new connection.
    pub async fn request(&self, raw: &str) -> Response {
        let mut c = self.connect().await;
        c.send(raw.as_bytes()).await;
        c.response().await.expect("a response")
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client over any stream, keeping leftover bytes between responses.
pub struct Client<S> {
    pub stream: S,
    buf: Vec<u8>,
    /// The last request was HEAD (its response has no body).
    head: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
            head: false,
        }
    }

    /// Write bytes; errors are ignored (the server may have closed on us, which the tests
    /// then observe on the read side).
    pub async fn send(&mut self, raw: &[u8]) {
        self.head = raw.starts_with(b"HEAD ");
        let _ = self.stream.write_all(raw).await;
        let _ = self.stream.flush().await;
    }

    /// Read one response; `None` if the connection closed (or reset) before a whole one came.
    pub async fn response(&mut self) -> Option<Response> {
        tokio::time::timeout(DEADLINE, self.read_response())
            .await
            .expect("no response before the deadline")
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn read_response(&mut self) -> Option<Response> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let len = if self.head {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().expect("numeric content-length"))
                .unwrap_or(0)
        };
        while self.buf.len() < len {
            if !self.fill().await {
                return None;
            }
        }
        let body = self.buf.drain(..len).collect();
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// Wait until the server closes the connection (EOF or reset), discarding what it sends.
    /// Panics if it is still open at the deadline.
    pub async fn expect_closed(&mut self) {
        let closed = tokio::time::timeout(DEADLINE, async {
            let mut chunk = [0u8; 4096];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server kept the connection open");
    }

    /// True if nothing at all arrives within `wait` (used only to check that something does
    /// *not* happen; a slow machine can only make this pass, never fail wrongly).
    pub async fn silent_for(&mut self, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        tokio::time::timeout(wait, self.stream.read(&mut byte))
            .await
            .is_err()
    }
}

/// HTTP settings for tests: defaults with the given timeouts.
pub fn http_with(header_read: Duration, idle: Duration) -> HttpOptions {
    HttpOptions {
        header_read_timeout: header_read,
        idle_timeout: idle,
        ..HttpOptions::default()
    }
}
