//! The endpoint is safe to expose: bounded header size, header-read and idle timeouts, a cap
//! on connections, and bad clients (garbage, silence, slowloris) that never stall a scrape.
//! Also graceful, bounded shutdown. Real TCP on 127.0.0.1; no assertion on elapsed time.

use crate::support;

use std::time::Duration;

use crate::support::http::{http_with, sample_metrics, start, TestSite};
use oauthwatch::exporter::HttpOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const LONG: Duration = Duration::from_secs(120);

/// Requests with `extra` bytes of header values.
fn request_with_header_bytes(extra: usize) -> String {
    format!(
        "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(extra)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_headers_are_refused_and_the_server_keeps_serving() {
    let http = HttpOptions {
        max_header_bytes: 1024,
        ..HttpOptions::default()
    };
    let server = start(TestSite::new(), http).await;

    // Just under the cap is fine.
    let ok = server.request(&request_with_header_bytes(900)).await;
    assert_eq!(ok.status, 200);

    // Over the cap but inside hyper's minimum buffer (the exact check), and far beyond the
    // buffer (the memory bound): 431, or the connection is closed without a response.
    for extra in [2_000, 64 * 1024] {
        let mut c = server.connect().await;
        c.send(request_with_header_bytes(extra).as_bytes()).await;
        // None: closed (or reset) while we were still writing, which is also a refusal.
        if let Some(r) = c.response().await {
            assert_eq!(r.status, 431, "{extra} header bytes");
        }
        c.expect_closed().await;
    }

    let r = server.get("/metrics").await;
    assert_eq!((r.status, r.body), (200, sample_metrics()));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_header_clients_are_cut_off_by_the_header_read_timeout() {
    let server = start(TestSite::new(), http_with(Duration::from_millis(300), LONG)).await;

    // Connects and sends nothing.
    let mut silent = server.connect().await;
    // Sends half a request head and stops.
    let mut partial = server.connect().await;
    partial.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n").await;
    // Slowloris: keeps trickling header bytes, which must not extend the deadline. Without
    // the timeout it would hold the connection for the whole test deadline.
    let mut trickle = server.connect().await;
    trickle.send(b"GET /metrics HTTP/1.1\r\n").await;
    let (mut r, mut w) = tokio::io::split(trickle.stream);
    let trickler = tokio::spawn(async move {
        for _ in 0..600 {
            if w.write_all(b"X-A: b\r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    silent.expect_closed().await;
    partial.expect_closed().await;
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(
        support::DEADLINE,
        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut buf),
    )
    .await;
    assert!(closed.is_ok(), "the slowloris connection was kept open");
    trickler.abort();

    assert_eq!(server.get("/healthz").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = start(TestSite::new(), http_with(LONG, Duration::from_millis(300))).await;
    let mut c = server.connect().await;
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.response().await.expect("response").status, 200);
    // hyper alone would keep it until its header-read backstop (two minutes here).
    c.expect_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_may_idle_longer_than_the_header_read_timeout() {
    // Prometheus reuses its connection every scrape interval; the short header timeout must
    // not close it between scrapes (hyper's own timeout would).
    let header_read = Duration::from_millis(200);
    let server = start(TestSite::new(), http_with(header_read, LONG)).await;
    let mut c = server.connect().await;
    for _ in 0..2 {
        c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
        let r = c
            .response()
            .await
            .expect("the connection was closed while idle");
        assert_eq!(r.status, 200);
        tokio::time::sleep(header_read * 5).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_over_the_cap_wait_only_while_every_slot_has_a_request_in_flight() {
    let site = TestSite::new();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    *site.gate.lock().unwrap() = Some((entered_tx, release_rx));
    let http = HttpOptions {
        max_connections: 1,
        ..http_with(LONG, LONG)
    };
    let server = start(site, http).await;

    // The first connection holds the only slot with a request being handled.
    let mut first = server.connect().await;
    first
        .send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(support::DEADLINE))
        .await
        .unwrap()
        .expect("the request reached the site");

    // A busy connection is never evicted: the second one waits.
    let mut second = server.connect().await;
    second
        .send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert!(
        second.silent_for(Duration::from_millis(500)).await,
        "a connection over the cap was served while every slot was busy"
    );

    // Once the first response is out, the first connection is only idle: the waiting one
    // takes its slot without waiting for the 2-minute idle timeout.
    release_tx.send(()).unwrap();
    let r = first
        .response()
        .await
        .expect("the in-flight request finished");
    assert_eq!((r.status, r.body), (200, sample_metrics()));
    let r = second
        .response()
        .await
        .expect("served once the slot is free");
    assert_eq!(r.status, 200);
    first.expect_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_at_the_cap_is_evicted_for_a_new_one() {
    let http = HttpOptions {
        max_connections: 1,
        ..http_with(LONG, LONG)
    };
    let server = start(TestSite::new(), http).await;
    let mut first = server.connect().await;
    first
        .send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(first.response().await.expect("first").status, 200);
    // The kept-alive first connection holds the only slot; a new one evicts it.
    let r = server.get("/metrics").await;
    assert_eq!((r.status, r.body), (200, sample_metrics()));
    first.expect_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_more_idle_and_slowloris_sockets_than_the_cap_never_keep_healthz_out() {
    // Timeouts far longer than the test: only eviction can make room.
    let http = HttpOptions {
        max_connections: 8,
        first_byte_timeout: LONG,
        ..http_with(LONG, LONG)
    };
    let server = start(TestSite::new(), http).await;
    let mut held = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        if i % 2 == 1 {
            // Slowloris: half a request head, never finished.
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nX-A: b\r\n").await;
        }
        held.push(s);
    }
    for _ in 0..3 {
        let r = tokio::time::timeout(support::DEADLINE, server.get("/healthz"))
            .await
            .expect("/healthz got no answer while idle sockets were held");
        assert_eq!(r.status, 200);
        let r = tokio::time::timeout(support::DEADLINE, server.get("/metrics"))
            .await
            .expect("/metrics got no answer while idle sockets were held");
        assert_eq!((r.status, r.body), (200, sample_metrics()));
    }
    drop(held);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_sends_nothing_is_closed_at_the_first_byte_timeout() {
    let http = HttpOptions {
        first_byte_timeout: Duration::from_secs(2),
        ..http_with(LONG, LONG)
    };
    let server = start(TestSite::new(), http).await;
    // Silent: closed long before the two-minute header-read timeout.
    let mut silent = server.connect().await;
    silent.expect_closed().await;
    // One byte, then nothing: the header-read timeout applies instead, so it stays open.
    let mut started = server.connect().await;
    started.send(b"G").await;
    assert!(
        started.silent_for(Duration::from_secs(3)).await,
        "a connection that had begun its request was closed by the first-byte timeout"
    );
    started
        .send(b"ET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(started.response().await.expect("response").status, 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_idle_sockets_never_stall_a_scrape() {
    let server = start(TestSite::new(), HttpOptions::default()).await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let garbage: Vec<Vec<u8>> = vec![
        b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
        (0..=255u8).cycle().take(4096).collect(),
        vec![b'A'; 100_000],
        // A TLS ClientHello's first bytes, sent to a plaintext port.
        vec![
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
        b"GET / HTTP/1.1\r\nHost: t\r\nBroken header line\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
        b"\r\n\r\n\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n".to_vec(),
    ];
    let mut bad = Vec::new();
    for g in &garbage {
        let mut c = server.connect().await;
        c.send(g).await;
        bad.push(c);
    }

    let r = server.get("/metrics").await;
    assert_eq!((r.status, r.body), (200, sample_metrics()));

    // Garbage gets a 4xx (hyper's 400) or a closed socket, never a success; then it is closed.
    for (mut c, g) in bad.into_iter().zip(&garbage) {
        if let Some(r) = c.response().await {
            assert!(
                (400..500).contains(&r.status),
                "{} for {:?}",
                r.status,
                &g[..g.len().min(40)]
            );
        }
        c.expect_closed().await;
    }
    drop(idle);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_holding_every_slot_are_evicted_so_scrapes_get_through() {
    let http = HttpOptions {
        max_connections: 4,
        ..http_with(Duration::from_millis(300), LONG)
    };
    let server = start(TestSite::new(), http).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Every slot is taken by a silent socket; the header-read timeout frees them.
    let r = server.get("/metrics").await;
    assert_eq!((r.status, r.body), (200, sample_metrics()));
    drop(idle);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_refuses_new_ones_and_returns() {
    let server = start(TestSite::new(), http_with(LONG, LONG)).await;
    let addr = server.addr;
    let mut c = server.connect().await;
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.response().await.expect("response").status, 200);

    server.stop().await.expect("serve returns Ok");
    c.expect_closed().await;
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_lets_an_in_flight_request_finish() {
    let site = TestSite::new();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel();
    *site.gate.lock().unwrap() = Some((entered_tx, release_rx));
    let mut server = start(site, http_with(LONG, LONG)).await;
    let addr = server.addr;

    let mut c = server.connect().await;
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(support::DEADLINE))
        .await
        .unwrap()
        .expect("the request reached the site");

    server.begin_shutdown();
    // Shutdown has begun once the listener is gone.
    let refused = tokio::time::timeout(support::DEADLINE, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the listener stayed open after shutdown");

    release_tx.send(()).unwrap();
    let r = c.response().await.expect("the in-flight request finished");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!((r.status, r.body), (200, sample_metrics()));
    c.expect_closed().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_a_client_never_finishes_its_request() {
    let server = start(TestSite::new(), http_with(LONG, LONG)).await;
    let mut c = server.connect().await;
    c.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n").await;
    // Make sure the connection is being served (not just queued) before shutting down.
    let mut probe = server.connect().await;
    probe
        .send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    assert_eq!(probe.response().await.expect("probe").status, 200);
    // Returns within the drain timeout (5 s), far below the two-minute header timeout.
    server.stop().await.unwrap();
    c.expect_closed().await;
}
