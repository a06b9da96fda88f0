//! Where the registry gets the time from. Alert windows and the `/hints` timestamps read a
//! [`Clock`] instead of the system time directly, so tests can move time by hand
//! ([`ManualClock`]) and check that a hint switches on and off at the right moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in whole seconds since the Unix epoch (the resolution of the
/// alert windows and of the RFC 3339 timestamps in `/hints`).
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, now.
    fn now_secs(&self) -> u64;
}

/// The system's wall clock; what the daemon uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    secs: AtomicU64,
}

impl ManualClock {
    /// A clock reading `secs` seconds since the Unix epoch.
    pub fn new(secs: u64) -> ManualClock {
        ManualClock {
            secs: AtomicU64::new(secs),
        }
    }

    /// Move the clock forward by `by` (whole seconds).
    pub fn advance(&self, by: Duration) {
        self.secs.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Set the clock to `secs` seconds since the Unix epoch (may go backwards).
    pub fn set(&self, secs: u64) {
        self.secs.store(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> u64 {
        self.secs.load(Ordering::SeqCst)
    }
}

/// RFC 3339 UTC rendering of a clock reading (`2026-11-24T19:48:26Z`).
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}
