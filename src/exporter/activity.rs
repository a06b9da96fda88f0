//! Per-connection timeouts: when a connection has had its chance and must be closed.
//!
//! hyper's own `header_read_timeout` restarts whenever it waits for a request head, including
//! while a keep-alive connection sits idle between scrapes, so it cannot tell "slow headers"
//! from "idle". This module can, in the way Go's `net/http` does:
//!
//! - a new connection must send its first byte within `first_byte_timeout` (much shorter than
//!   `header_read_timeout`: a real client writes its request, or its TLS hello, as soon as it
//!   is connected), and deliver a complete request head within `header_read_timeout` of being
//!   accepted (a socket that sends nothing, or trickles bytes, is closed);
//! - after a response, a keep-alive connection may stay silent for `idle_timeout`; once the
//!   first byte of its next request arrives, the head must be complete within
//!   `header_read_timeout`;
//! - while a response is being written, the connection must make progress at least every
//!   `idle_timeout` (a client that stops reading cannot hold a connection slot forever);
//! - while the handler runs, no timeout applies (handlers are bounded in-process work).
//!
//! When every connection slot is taken, the accept loop evicts one connection to make room
//! (see [`Rank`]): the one quiet the longest — silent, stuck in a partial request head, or
//! idle between requests — and one still writing out a response only last. A connection whose
//! request is being handled is never evicted.
//!
//! [`ConnClock`] is the pure policy (it takes instants as parameters, so it is unit-tested
//! directly); [`Tracked`] is the I/O wrapper that feeds it, and [`Activity`] the shared cell
//! through which the wrapper, the request handler and the connection driver meet.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The limits the policy enforces (from `[http]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed for a new connection's first byte (capped at `header_read`).
    pub first_byte: Duration,
    /// Time allowed to deliver a complete request head.
    pub header_read: Duration,
    /// Time a keep-alive connection may stay silent, or a response write may stall.
    pub idle: Duration,
}

/// Why a connection's time ran out (for the debug log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A new connection sent nothing at all in time.
    FirstByte,
    /// The request head was not complete in time.
    HeaderRead,
    /// The keep-alive connection stayed idle too long (or a response write stalled).
    Idle,
}

/// What one connection has been doing, and the deadline that follows from it.
#[derive(Debug, Clone)]
pub struct ConnClock {
    /// Since when the connection has been waiting for a request head to complete: set at
    /// accept, and again by the first byte after a response; cleared when a head is parsed.
    awaiting_head_since: Option<Instant>,
    /// Handlers running now (more than one only with pipelining).
    handlers: usize,
    /// Last time bytes moved in either direction.
    last_io: Instant,
    /// Whether the peer has sent any byte since the connection was accepted.
    heard: bool,
    /// A response was produced and has not been flushed out yet.
    responding: bool,
    /// Whether the connection's task has tried to read from it.
    polled: bool,
}

/// How long a just-accepted connection is spared from eviction while its request arrives and
/// its task gets to read it (a flood of new sockets must not evict a probe before that).
pub const FRESH_GRACE: Duration = Duration::from_millis(50);

/// What a connection is doing, as far as eviction cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Accepted, nothing received yet (its task has looked).
    Silent,
    /// Part of a request head received, not all of it.
    PartialHead,
    /// Between requests (keep-alive).
    Idle,
    /// Accepted less than [`FRESH_GRACE`] ago; its task found nothing to read yet (its request
    /// may be on its way).
    Fresh,
    /// Its task has not tried to read yet: its request may be waiting in the socket.
    Unread,
    /// Writing a response out; evicted last, as that would cut the response short.
    Responding,
}

impl ConnClock {
    /// A connection accepted at `now`: its first request head is due within `header_read`.
    pub fn new(now: Instant) -> ConnClock {
        ConnClock {
            awaiting_head_since: Some(now),
            handlers: 0,
            last_io: now,
            heard: false,
            responding: false,
            polled: false,
        }
    }

    /// Bytes arrived. Returns true when this started a new request head, which can move the
    /// deadline earlier (the driver must recompute it).
    pub fn on_read(&mut self, now: Instant) -> bool {
        self.last_io = now;
        if !self.heard {
            // Leaving the first-byte deadline for the (later) header-read one.
            self.heard = true;
            return true;
        }
        if self.handlers == 0 && self.awaiting_head_since.is_none() {
            self.awaiting_head_since = Some(now);
            return true;
        }
        false
    }

    /// Bytes were written.
    pub fn on_write(&mut self, now: Instant) {
        self.last_io = now;
    }

    /// A request head was parsed and its handler started.
    pub fn on_handler_start(&mut self, now: Instant) {
        self.handlers += 1;
        self.awaiting_head_since = None;
        self.last_io = now;
    }

    /// A handler returned its response (which hyper now writes).
    pub fn on_handler_end(&mut self, now: Instant) {
        self.handlers = self.handlers.saturating_sub(1);
        self.responding = true;
        self.last_io = now;
    }

    /// The connection's task tried to read (whether or not bytes were there).
    pub fn on_poll_read(&mut self) {
        self.polled = true;
    }

    /// Everything written so far has been flushed to the socket.
    pub fn on_flushed(&mut self) {
        self.responding = false;
    }

    /// When the connection must be closed if nothing changes, and why; `None` while a
    /// handler runs.
    pub fn deadline(&self, limits: Timeouts) -> Option<(Instant, Expiry)> {
        if self.handlers > 0 {
            None
        } else if let Some(since) = self.awaiting_head_since {
            if self.heard {
                Some((since + limits.header_read, Expiry::HeaderRead))
            } else {
                let first = limits.first_byte.min(limits.header_read);
                Some((since + first, Expiry::FirstByte))
            }
        } else {
            Some((self.last_io + limits.idle, Expiry::Idle))
        }
    }
}

impl ConnClock {
    /// The request-head clock starts again at `now` (after a TLS handshake, which had its own
    /// budget).
    pub fn restart_head(&mut self, now: Instant) {
        if self.handlers == 0 {
            self.awaiting_head_since = Some(now);
        }
    }

    /// Where this connection stands in the eviction order, or `None` while a request is being
    /// handled (never evicted). See [`Rank`] for the order.
    pub fn eviction_rank(&self, now: Instant) -> Option<Rank> {
        if self.handlers > 0 {
            return None;
        }
        let fresh = !self.heard
            && self
                .awaiting_head_since
                .is_some_and(|since| now.saturating_duration_since(since) < FRESH_GRACE);
        let stage = if !self.polled {
            Stage::Unread
        } else if fresh {
            Stage::Fresh
        } else if !self.heard {
            Stage::Silent
        } else if self.awaiting_head_since.is_some() {
            Stage::PartialHead
        } else if self.responding {
            Stage::Responding
        } else {
            Stage::Idle
        };
        Some(Rank {
            stage,
            quiet_since: self.last_io,
        })
    }
}

/// A connection's place in the eviction order; the lowest is evicted first.
///
/// The one quiet the longest goes first, whatever it is doing: a socket that never sent a
/// byte grows older with every moment, a slowloris is judged by its last trickled byte, an
/// idle keep-alive by its last response. Spared until those are gone, in this order: a
/// connection accepted a moment ago ([`Stage::Fresh`]), one whose task has not read from it
/// yet (its request may be waiting), and one writing a response (evicting it would cut the
/// response short) — the longest quiet first within each. A probe's or a scrape's
/// connection sends its request at once, so under a flood of new sockets it is read, and
/// then busy, before its turn could come. Equal times go by [`Stage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// What the connection is doing.
    pub stage: Stage,
    /// When bytes last moved on it (or it was accepted).
    pub quiet_since: Instant,
}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> std::cmp::Ordering {
        let spared = |r: &Rank| match r.stage {
            Stage::Silent | Stage::PartialHead | Stage::Idle => 0,
            Stage::Fresh => 1,
            Stage::Unread => 2,
            Stage::Responding => 3,
        };
        spared(self)
            .cmp(&spared(other))
            .then(self.quiet_since.cmp(&other.quiet_since))
            .then(self.stage.cmp(&other.stage))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The connection to evict among `candidates` (key, rank): the lowest rank; ties go to the
/// first seen. `None` when every connection has a request in flight.
pub fn pick_victim<K>(candidates: impl IntoIterator<Item = (K, Option<Rank>)>) -> Option<K> {
    candidates
        .into_iter()
        .filter_map(|(k, rank)| rank.map(|r| (r, k)))
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, k)| k)
}

/// A connection's clock, shared by its I/O wrapper, its handlers and its driver.
#[derive(Debug)]
pub struct Activity {
    clock: Mutex<ConnClock>,
    /// Woken when the deadline may have moved earlier.
    pub changed: Notify,
    /// Cancelled when the accept loop evicts this connection to make room for a new one.
    evict: CancellationToken,
    /// Set at the first read attempt (spares the clock's lock on every later one).
    polled: std::sync::atomic::AtomicBool,
}

impl Activity {
    /// For a connection accepted now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            clock: Mutex::new(ConnClock::new(Instant::now())),
            changed: Notify::new(),
            evict: CancellationToken::new(),
            polled: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// See [`ConnClock::eviction_rank`].
    pub fn eviction_rank(&self) -> Option<Rank> {
        self.clock().eviction_rank(Instant::now())
    }

    /// See [`ConnClock::restart_head`].
    pub fn restart_head(&self) {
        self.clock().restart_head(Instant::now());
        self.changed.notify_one();
    }

    /// Ask the connection's driver to close it, to free its slot.
    pub fn evict(&self) {
        self.evict.cancel();
    }

    /// Whether [`Activity::evict`] was called.
    pub fn is_evicted(&self) -> bool {
        self.evict.is_cancelled()
    }

    /// Resolves once the connection is evicted.
    pub async fn evicted(&self) {
        self.evict.cancelled().await
    }

    fn clock(&self) -> MutexGuard<'_, ConnClock> {
        // The clock holds plain data and no code panics while holding the lock.
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current deadline (see [`ConnClock::deadline`]).
    pub fn deadline(&self, limits: Timeouts) -> Option<(Instant, Expiry)> {
        self.clock().deadline(limits)
    }

    /// Mark a handler as running until the returned guard is dropped.
    pub fn handler(self: &Arc<Self>) -> HandlerGuard {
        self.clock().on_handler_start(Instant::now());
        HandlerGuard {
            activity: self.clone(),
        }
    }

    fn on_read(&self) {
        if self.clock().on_read(Instant::now()) {
            self.changed.notify_one();
        }
    }

    fn on_write(&self) {
        self.clock().on_write(Instant::now());
    }

    fn on_flushed(&self) {
        self.clock().on_flushed();
    }

    fn on_poll_read(&self) {
        if !self.polled.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.clock().on_poll_read();
        }
    }
}

/// Keeps a handler counted as running (also when its future is dropped midway).
#[derive(Debug)]
pub struct HandlerGuard {
    activity: Arc<Activity>,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        self.activity.clock().on_handler_end(Instant::now());
        // Leaving the handler state re-arms a deadline the driver is not waiting for yet.
        self.activity.changed.notify_one();
    }
}

/// A byte stream whose reads and writes are reported to an [`Activity`].
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wrap `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Tracked<S> {
        Tracked { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        self.activity.on_poll_read();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper flushes once a response's bytes have all been handed to the socket.
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(res, Poll::Ready(Ok(()))) {
            self.activity.on_flushed();
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Timeouts = Timeouts {
        first_byte: Duration::from_secs(1),
        header_read: Duration::from_secs(5),
        idle: Duration::from_secs(30),
    };

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn new_connection_must_send_its_head_within_the_header_timeout() {
        let t0 = Instant::now();
        let mut c = ConnClock::new(t0);
        // Silent: the short first-byte deadline.
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 1), Expiry::FirstByte)));
        // The first byte moves it later, to the header-read deadline counted from accept.
        assert!(c.on_read(t0 + Duration::from_millis(500)));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 5), Expiry::HeaderRead)));
        // Trickling bytes does not extend it (slowloris).
        assert!(!c.on_read(at(t0, 4)));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 5), Expiry::HeaderRead)));
    }

    #[test]
    fn first_byte_deadline_never_exceeds_the_header_read_timeout() {
        let t0 = Instant::now();
        let c = ConnClock::new(t0);
        let limits = Timeouts {
            first_byte: Duration::from_secs(10),
            ..LIMITS
        };
        assert_eq!(c.deadline(limits), Some((at(t0, 5), Expiry::FirstByte)));
    }

    #[test]
    fn eviction_takes_the_longest_quiet_spares_busy_and_responding_connections() {
        let t0 = Instant::now();
        let new = |t: Instant| {
            let mut c = ConnClock::new(t);
            c.on_poll_read();
            c
        };
        // Accepted at 2 s and silent since: the oldest quiet.
        let silent_old = new(at(t0, 2));
        // Accepted at 0, trickled a byte at 3 s (slowloris).
        let mut partial = new(t0);
        partial.on_read(at(t0, 3));
        // Answered a request at 4 s, idle since.
        let mut idle = new(t0);
        idle.on_read(t0);
        idle.on_handler_start(t0);
        idle.on_handler_end(at(t0, 4));
        let mut responding = idle.clone();
        idle.on_flushed();
        // Just accepted: the youngest.
        let fresh = new(at(t0, 5));
        // Accepted before all of them, but its task has not read yet.
        let unread = ConnClock::new(t0);
        let mut busy = new(t0);
        busy.on_read(t0);
        busy.on_handler_start(t0);

        assert_eq!(busy.eviction_rank(at(t0, 9)), None);
        assert_eq!(
            silent_old.eviction_rank(at(t0, 9)).unwrap().stage,
            Stage::Silent
        );
        assert_eq!(
            partial.eviction_rank(at(t0, 9)).unwrap().stage,
            Stage::PartialHead
        );
        assert_eq!(idle.eviction_rank(at(t0, 9)).unwrap().stage, Stage::Idle);
        assert_eq!(
            responding.eviction_rank(at(t0, 9)).unwrap().stage,
            Stage::Responding
        );
        responding.on_write(at(t0, 1));

        assert_eq!(
            unread.eviction_rank(at(t0, 9)).unwrap().stage,
            Stage::Unread
        );
        let all = [
            &busy,
            &unread,
            &responding,
            &fresh,
            &idle,
            &partial,
            &silent_old,
        ];
        let pick = |cs: &[&ConnClock]| {
            pick_victim(
                cs.iter()
                    .enumerate()
                    .map(|(i, c)| (i, c.eviction_rank(at(t0, 9)))),
            )
        };
        assert_eq!(pick(&all), Some(6), "the longest quiet goes first");
        assert_eq!(
            pick(&all[..6]),
            Some(5),
            "then the slowloris, by its last byte"
        );
        assert_eq!(pick(&all[..5]), Some(4), "then the idle keep-alive");
        assert_eq!(
            pick(&all[..4]),
            Some(3),
            "a fresh connection only after those"
        );
        assert_eq!(
            pick(&all[..3]),
            Some(1),
            "then one not read from yet; one writing a response last"
        );
        assert_eq!(
            pick(&all[..1]),
            None,
            "a request in flight is never evicted"
        );
        // Same time: the stage decides (silent before partial before idle).
        let a = new(t0);
        let mut b = new(t0);
        b.on_read(t0);
        assert_eq!(pick(&[&b, &a]), Some(1));
        // A silent connection is spared for a moment after accept.
        let just = new(at(t0, 9));
        assert_eq!(just.eviction_rank(at(t0, 9)).unwrap().stage, Stage::Fresh);
        let unread_young = ConnClock::new(at(t0, 9));
        assert_eq!(
            pick(&[&unread_young, &just]),
            Some(1),
            "fresh before unread"
        );
        assert_eq!(
            just.eviction_rank(at(t0, 9) + FRESH_GRACE).unwrap().stage,
            Stage::Silent
        );
    }

    #[test]
    fn no_deadline_while_the_handler_runs_then_idle_timeout() {
        let t0 = Instant::now();
        let mut c = ConnClock::new(t0);
        c.on_handler_start(at(t0, 1));
        assert_eq!(c.deadline(LIMITS), None);
        c.on_handler_end(at(t0, 2));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 32), Expiry::Idle)));
        // Response bytes going out keep a slow but progressing reader alive.
        c.on_write(at(t0, 20));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 50), Expiry::Idle)));
    }

    #[test]
    fn first_byte_after_idle_starts_the_header_clock() {
        let t0 = Instant::now();
        let mut c = ConnClock::new(t0);
        c.on_read(t0);
        c.on_handler_start(at(t0, 1));
        c.on_handler_end(at(t0, 1));
        // Deadline moves earlier: 31 -> 15, so the driver must be told.
        assert!(c.on_read(at(t0, 10)));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 15), Expiry::HeaderRead)));
        assert!(!c.on_read(at(t0, 12)));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 15), Expiry::HeaderRead)));
        c.on_handler_start(at(t0, 13));
        assert_eq!(c.deadline(LIMITS), None);
    }

    #[test]
    fn pipelined_handlers_all_count() {
        let t0 = Instant::now();
        let mut c = ConnClock::new(t0);
        c.on_handler_start(at(t0, 1));
        c.on_handler_start(at(t0, 1));
        c.on_handler_end(at(t0, 2));
        assert_eq!(c.deadline(LIMITS), None);
        c.on_handler_end(at(t0, 3));
        assert_eq!(c.deadline(LIMITS), Some((at(t0, 33), Expiry::Idle)));
    }
}
