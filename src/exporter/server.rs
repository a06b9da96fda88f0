//! The accept loop and the per-connection driver (the mini-redis shape: a bound listener in,
//! a shutdown future in, a cap on connections, explicit drain on the way out).
//!
//! - At most `max_connections` connections are served at once. When every slot is taken and a
//!   new connection arrives, the loop evicts the connection quiet the longest — silent, stuck in
//!   a partial request head, or idle between requests; one just accepted, not yet read from, or
//!   writing a response only last (see [`super::activity::Rank`]) — and serves the new one in its place at once (the evicted one closes
//!   on its own; the loop does not wait for it, so a long accept queue of attackers' sockets
//!   drains quickly). Only when every connection has a request in flight does the new one
//!   wait — one accepted socket here, the rest in the kernel's accept queue — until a slot
//!   frees. So idle or slowloris sockets, however many, cannot keep a scrape or a probe out.
//! - Each connection runs in its own task with hyper's HTTP/1 state machine; the per-connection
//!   deadlines of [`super::activity`] close sockets that send nothing, trickle their headers,
//!   idle past `idle_timeout`, or stop reading their response. A TLS handshake must finish
//!   within `header_read_timeout`. Garbage gets hyper's `400` and the socket is closed. None of
//!   this blocks the accept loop, so a bad client only ever holds its own slot.
//! - On shutdown the listener is dropped (new connections are refused), idle keep-alive
//!   connections close at once, in-flight requests finish with `Connection: close`, and after
//!   [`DRAIN_TIMEOUT`] whatever is left is cut off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper::header::{HeaderValue, CONNECTION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::activity::{pick_victim, Activity, Timeouts, Tracked};
use super::routes::Router;
use super::HttpOptions as Http;

/// How long in-flight requests may take to finish once shutdown starts; then connections are
/// closed regardless, so `serve` returns in bounded time.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after an accept error that is not about one connection (out of file descriptors),
/// so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// At the cap with every connection busy, how often the loop looks again for one it may evict
/// (a busy connection becomes evictable when its response is written, without closing).
const CAP_RECHECK: Duration = Duration::from_millis(20);

/// The open connections' activity: the connection cap, and the choice of whom to evict.
#[derive(Default)]
struct OpenConnections {
    conns: Mutex<Table>,
    /// Notified when a connection closes.
    freed: Notify,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    conns: HashMap<u64, Arc<Activity>>,
}

impl OpenConnections {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Plain data; nothing panics while holding the lock.
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make room for one more connection under `cap`: true when there is a free slot, or
    /// when the connection quiet the longest was evicted for it (it closes on its own
    /// at once, without the accept loop waiting for it). False when every connection has a
    /// request in flight.
    fn admit(&self, cap: usize) -> bool {
        let t = self.lock();
        let live = t.conns.values().filter(|a| !a.is_evicted()).count();
        if live < cap {
            return true;
        }
        let candidates = t
            .conns
            .values()
            .filter(|a| !a.is_evicted())
            .map(|a| (a, a.eviction_rank()));
        match pick_victim(candidates) {
            Some(victim) => {
                victim.evict();
                true
            }
            None => false,
        }
    }

    /// Register a connection; it is forgotten when the returned guard drops.
    fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registered {
        let mut t = self.lock();
        t.next_id += 1;
        let id = t.next_id;
        t.conns.insert(id, activity);
        Registered {
            open: self.clone(),
            id,
        }
    }
}

/// Keeps a connection listed in [`OpenConnections`] while its task runs.
struct Registered {
    open: Arc<OpenConnections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open.lock().conns.remove(&self.id);
        self.open.freed.notify_one();
    }
}

/// Everything a connection task needs, shared.
pub struct Server {
    /// Answers the requests.
    pub router: Router,
    /// hyper's HTTP/1 settings (header size cap, backstop timer).
    pub http1: http1::Builder,
    /// Per-connection deadlines.
    pub timeouts: Timeouts,
    /// HTTPS when set.
    pub tls: Option<TlsAcceptor>,
}

impl Server {
    /// hyper's HTTP/1 settings for `http`.
    pub fn http1_builder(http: &Http) -> http1::Builder {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new())
            // The exact cap, checked on every complete request head (start line included);
            // over it hyper answers 431 and closes the connection.
            .max_header_size(http.max_header_bytes)
            // The read buffer's cap bounds memory while a head is still incomplete; hyper
            // needs at least 8 KiB. Over it, hyper also answers 431.
            .max_buf_size(http.max_header_bytes.max(8192))
            // Backstop only: the driver's own deadlines (activity.rs) always fire first.
            .header_read_timeout(http.header_read_timeout + http.idle_timeout)
            .keep_alive(true);
        b
    }

    /// Accept and serve until `shutdown` resolves, then drain.
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        max_connections: usize,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let cap = max_connections.max(1);
        let open = Arc::new(OpenConnections::default());
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        'accept: loop {
            // Reap finished connection tasks so the set does not grow with every connection.
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(conn) => conn,
                    Err(e) => {
                        accept_error(e).await;
                        continue;
                    }
                },
            };
            // At the cap, make room by evicting the connection quiet the longest; wait
            // only while every connection has a request in flight (one finishing its request
            // becomes evictable without closing, hence the periodic look).
            while !open.admit(cap) {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'accept,
                    () = open.freed.notified() => {}
                    () = tokio::time::sleep(CAP_RECHECK) => {}
                }
            }
            let activity = Activity::new();
            let registered = open.register(activity.clone());
            tasks.spawn(
                self.clone()
                    .connection(stream, peer, registered, activity, stop.clone()),
            );
        }
        drop(listener);
        stop.cancel();
        let open = tasks.len();
        tracing::debug!(connections = open, "HTTP server stopping");
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::debug!(
                connections = tasks.len(),
                "HTTP connections still open after the drain timeout; closing them"
            );
            tasks.shutdown().await;
        }
    }

    /// One connection from accept to close. `_slot` (its entry in the open-connection list,
    /// which the cap counts) is released when this returns.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        _slot: Registered,
        activity: Arc<Activity>,
        stop: CancellationToken,
    ) {
        // Small responses: send them now rather than waiting for Nagle.
        let _ = stream.set_nodelay(true);
        // Tracked below any TLS layer: the handshake's bytes count as the client's first bytes.
        let stream = Tracked::new(stream, activity.clone());
        match &self.tls {
            None => self.drive(stream, peer, activity, stop).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.timeouts.header_read, acceptor.accept(stream));
                let tls = tokio::select! {
                    r = handshake => r,
                    () = expired(&activity, self.timeouts) => {
                        tracing::debug!(%peer, "TLS client sent nothing in time");
                        return;
                    }
                    () = activity.evicted() => return,
                    () = stop.cancelled() => return,
                };
                match tls {
                    Ok(Ok(tls)) => {
                        // The handshake had its own budget; the request head gets a full one.
                        activity.restart_head();
                        self.drive(tls, peer, activity, stop).await
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    /// Serve HTTP/1 on one connection until it ends, times out, is evicted, or shutdown
    /// completes.
    async fn drive<S>(
        self: &Arc<Self>,
        io: S,
        peer: SocketAddr,
        activity: Arc<Activity>,
        stop: CancellationToken,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = {
            let server = self.clone();
            let activity = activity.clone();
            let stop = stop.clone();
            service_fn(move |req| {
                let server = server.clone();
                let stop = stop.clone();
                let guard = activity.handler();
                async move {
                    let mut resp = server.router.handle(req).await;
                    drop(guard);
                    if stop.is_cancelled() {
                        // Tell the client, so it reconnects elsewhere instead of reusing us.
                        resp.headers_mut()
                            .insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
            })
        };
        let conn = self.http1.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stopping = false;
        let mut evicted = false;
        loop {
            let deadline = activity.deadline(self.timeouts);
            let expired = async {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        // Garbage, oversized headers, resets: the client's problem, not ours.
                        tracing::debug!(%peer, error = %e, "HTTP connection error");
                    }
                    return;
                }
                () = activity.changed.notified() => {}
                () = expired => {
                    // Re-check: activity since the sleep started may have moved the deadline.
                    if let Some((at, why)) = activity.deadline(self.timeouts) {
                        if tokio::time::Instant::now() >= at {
                            tracing::debug!(%peer, reason = ?why, "closing HTTP connection");
                            return;
                        }
                    }
                }
                () = activity.evicted(), if !evicted => {
                    evicted = true;
                    if activity.eviction_rank().is_some() {
                        tracing::debug!(%peer, "closing HTTP connection to make room for a new one");
                        return;
                    }
                    // A request arrived since it was picked: answer it, then close.
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
                () = stop.cancelled(), if !stopping => {
                    // Idle connections close now; a request in flight finishes first and its
                    // response says `Connection: close`.
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                }
            }
        }
    }
}

/// Resolves when the connection's current deadline has passed (following it as it moves).
async fn expired(activity: &Activity, timeouts: Timeouts) {
    loop {
        let Some((at, _)) = activity.deadline(timeouts) else {
            activity.changed.notified().await;
            continue;
        };
        tokio::select! {
            () = tokio::time::sleep_until(at) => {
                if activity
                    .deadline(timeouts)
                    .is_some_and(|(at, _)| tokio::time::Instant::now() >= at)
                {
                    return;
                }
            }
            () = activity.changed.notified() => {}
        }
    }
}

async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    match e.kind() {
        // The peer gave up between SYN and accept: nothing to do.
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted => {
            tracing::debug!(error = %e, "accept failed");
        }
        _ => {
            tracing::warn!(error = %e, "accept failed; retrying");
            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
        }
    }
}
