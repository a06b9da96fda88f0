//! Sliding-window match counts for alert hints. Pure: every call takes `now` (seconds since the
//! Unix epoch) as a parameter, so tests drive time directly.
//!
//! A window keeps per-bucket counts, not one entry per match, so its memory is bounded by
//! [`MAX_BUCKETS`] whatever the match rate. Buckets are one second wide for windows up to
//! `MAX_BUCKETS` seconds; longer windows use wider buckets (resolution `window / MAX_BUCKETS`),
//! which moves the moment a match leaves the window by less than one bucket.
//!
//! Guarantee: with one-second buckets, a match recorded at second `t` is counted exactly while
//! `t <= now < t + window`. If the wall clock steps backwards, matches are counted in the latest
//! bucket and nothing expires until time catches up: counts never go negative or get lost early.

use std::collections::VecDeque;
use std::time::Duration;

/// Most buckets one window keeps (its memory bound).
pub const MAX_BUCKETS: u64 = 600;

/// Matches inside a sliding time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlidingWindow {
    /// Seconds per bucket (>= 1).
    width: u64,
    /// Buckets that make up the window.
    span: u64,
    /// `(bucket index, matches)` in increasing index order; only non-empty buckets.
    buckets: VecDeque<(u64, u64)>,
    /// Sum of the buckets' counts.
    total: u64,
}

fn geometry(window: Duration) -> (u64, u64) {
    let secs = window.as_secs().max(1);
    let width = secs.div_ceil(MAX_BUCKETS);
    (width, secs.div_ceil(width))
}

impl SlidingWindow {
    /// An empty window of length `window` (at least one second).
    pub fn new(window: Duration) -> SlidingWindow {
        let (width, span) = geometry(window);
        SlidingWindow {
            width,
            span,
            buckets: VecDeque::new(),
            total: 0,
        }
    }

    /// The window's length in seconds.
    pub fn window_secs(&self) -> u64 {
        self.width * self.span
    }

    /// Count one match at `now`.
    pub fn record(&mut self, now: u64) {
        self.record_n(now, 1);
    }

    /// Count `n` matches at `now`.
    pub fn record_n(&mut self, now: u64, n: u64) {
        let mut idx = now / self.width;
        match self.buckets.back_mut() {
            Some(last) if last.0 >= idx => {
                // Same bucket, or the clock stepped back: keep the latest bucket.
                idx = last.0;
                last.1 += n;
            }
            _ => self.buckets.push_back((idx, n)),
        }
        self.total += n;
        self.expire(idx);
    }

    /// Matches inside the window at `now` (drops the buckets that have left it).
    pub fn count(&mut self, now: u64) -> u64 {
        self.expire(now / self.width);
        self.total
    }

    /// Whether no match is kept (none recorded, or all expired at the last count).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Seconds from `now` until the oldest match kept leaves the window (at least 1), the
    /// next moment the count can fall; `None` when empty.
    pub fn next_expiry(&self, now: u64) -> Option<u64> {
        self.buckets
            .front()
            .map(|&(idx, _)| ((idx + self.span) * self.width).saturating_sub(now).max(1))
    }

    /// Change the window length, keeping the matches that fall inside the new one.
    pub fn reconfigure(&mut self, window: Duration, now: u64) {
        let (width, span) = geometry(window);
        if (width, span) == (self.width, self.span) {
            return;
        }
        let old = std::mem::take(&mut self.buckets);
        let old_width = self.width;
        self.width = width;
        self.span = span;
        self.total = 0;
        for (idx, n) in old {
            self.record_n(idx * old_width, n);
        }
        self.expire(now / width);
    }

    /// Drop buckets that are `span` or more buckets older than bucket `current`.
    fn expire(&mut self, current: u64) {
        while let Some(&(idx, n)) = self.buckets.front() {
            if current >= idx + self.span {
                self.buckets.pop_front();
                self.total -= n;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_counts_exactly_for_the_window_length() {
        let mut w = SlidingWindow::new(Duration::from_secs(60));
        w.record(1000);
        assert_eq!(w.count(1000), 1);
        assert_eq!(w.count(1059), 1);
        assert_eq!(w.count(1060), 0);
    }

    #[test]
    fn matches_leave_one_by_one() {
        let mut w = SlidingWindow::new(Duration::from_secs(10));
        for t in 0..5 {
            w.record(100 + t);
        }
        w.record(104);
        assert_eq!(w.count(104), 6);
        assert_eq!(w.count(110), 5);
        assert_eq!(w.count(113), 2);
        assert_eq!(w.count(114), 0);
    }

    #[test]
    fn memory_is_bounded_whatever_the_rate() {
        let mut w = SlidingWindow::new(Duration::from_secs(86_400));
        for t in 0..200_000u64 {
            w.record(t);
            w.record(t);
        }
        assert!(w.buckets.len() as u64 <= MAX_BUCKETS);
        // 144-second buckets: the window covers 86_400 s, to within one bucket.
        let c = w.count(199_999);
        assert!((86_400 * 2 - 2 * 144..=86_400 * 2).contains(&c), "{c}");
        assert_eq!(w.window_secs(), 86_400);
    }

    #[test]
    fn clock_stepping_back_loses_nothing() {
        let mut w = SlidingWindow::new(Duration::from_secs(30));
        w.record(500);
        w.record(490);
        assert_eq!(w.count(495), 2);
        assert_eq!(w.count(529), 2);
        assert_eq!(w.count(530), 0);
    }

    #[test]
    fn reconfigure_keeps_matches_inside_the_new_window() {
        let mut w = SlidingWindow::new(Duration::from_secs(600));
        w.record(1000);
        w.record(1500);
        w.reconfigure(Duration::from_secs(300), 1550);
        assert_eq!(w.count(1550), 1);
        w.reconfigure(Duration::from_secs(3600), 1550);
        assert_eq!(w.count(1550), 1);
        assert_eq!(w.window_secs(), 3600);
    }

    #[test]
    fn zero_window_is_one_second() {
        let mut w = SlidingWindow::new(Duration::ZERO);
        w.record(7);
        assert_eq!(w.count(7), 1);
        assert_eq!(w.count(8), 0);
    }

    proptest::proptest! {
        /// Against a model that keeps every match's time: with one-second buckets the counts
        /// agree exactly, whatever the sequence of matches, clock steps and reads.
        #[test]
        fn agrees_with_a_list_of_match_times(
            window in 1u64..=MAX_BUCKETS,
            steps in proptest::collection::vec((0u64..90, 0u8..4), 1..300),
        ) {
            let mut w = SlidingWindow::new(Duration::from_secs(window));
            let mut model: Vec<u64> = Vec::new();
            let mut now = 1_000_000u64;
            for (advance, action) in steps {
                now += advance;
                match action {
                    0 | 1 => {
                        w.record(now);
                        model.push(now);
                    }
                    _ => {
                        let want = model.iter().filter(|&&t| t <= now && now < t + window).count();
                        proptest::prop_assert_eq!(w.count(now), want as u64);
                    }
                }
            }
        }
    }
}
