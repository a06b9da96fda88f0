//! The last hour of matches of one rule × source, per minute, for the status page's sparklines.
//! Pure: every call takes `now` (seconds since the Unix epoch), so tests drive time directly.
//!
//! Memory is fixed ([`MINUTES`] counters) whatever the match rate. A wall clock that steps
//! backwards counts into the latest minute, as the alert windows do: nothing is lost.

/// Minutes of history kept (and drawn).
pub const MINUTES: usize = 60;

/// Per-minute match counts over the last [`MINUTES`] minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteHistory {
    /// Ring of counts; slot `minute % MINUTES` holds `minute`'s count.
    counts: [u64; MINUTES],
    /// The latest minute (seconds / 60) written to the ring; `None` before the first match.
    latest: Option<u64>,
}

impl Default for MinuteHistory {
    fn default() -> MinuteHistory {
        MinuteHistory {
            counts: [0; MINUTES],
            latest: None,
        }
    }
}

impl MinuteHistory {
    /// Count one match at `now`.
    pub fn record(&mut self, now: u64) {
        let minute = self.advance(now / 60);
        self.counts[(minute % MINUTES as u64) as usize] += 1;
    }

    /// Move the ring to `minute` (clearing the minutes skipped); returns the minute to count
    /// into (the latest one when the clock stepped back).
    fn advance(&mut self, minute: u64) -> u64 {
        match self.latest {
            Some(latest) if minute <= latest => latest,
            Some(latest) => {
                let gap = (minute - latest).min(MINUTES as u64);
                for m in (minute + 1 - gap)..=minute {
                    self.counts[(m % MINUTES as u64) as usize] = 0;
                }
                self.latest = Some(minute);
                minute
            }
            None => {
                self.latest = Some(minute);
                minute
            }
        }
    }

    /// The counts of the [`MINUTES`] minutes up to and including `now`'s, oldest first.
    pub fn series(&self, now: u64) -> Vec<u64> {
        let current = now / 60;
        let latest = self.latest.unwrap_or(0);
        (0..MINUTES as u64)
            .map(|back| current.checked_sub(MINUTES as u64 - 1 - back))
            .map(|minute| match (minute, self.latest) {
                (Some(m), Some(_)) if m <= latest && latest - m < MINUTES as u64 => {
                    self.counts[(m % MINUTES as u64) as usize]
                }
                _ => 0,
            })
            .collect()
    }
}

/// Add `other` into `sum`, minute by minute (per-rule totals over its sources).
pub fn add_into(sum: &mut Vec<u64>, other: &[u64]) {
    if sum.len() < other.len() {
        sum.resize(other.len(), 0);
    }
    for (s, o) in sum.iter_mut().zip(other) {
        *s += o;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A whole minute.
    const T0: u64 = 1_800_000_000;

    #[test]
    fn counts_land_in_their_minute_and_age_out_after_an_hour() {
        let mut h = MinuteHistory::default();
        h.record(T0);
        h.record(T0 + 59);
        h.record(T0 + 60);
        let s = h.series(T0 + 60);
        assert_eq!(s.len(), MINUTES);
        assert_eq!(&s[MINUTES - 2..], &[2, 1]);
        assert_eq!(s.iter().sum::<u64>(), 3);
        // 59 minutes later the first minute is the oldest shown; one more and it is gone.
        assert_eq!(h.series(T0 + 59 * 60)[0], 2);
        assert_eq!(h.series(T0 + 60 * 60).iter().sum::<u64>(), 1);
        assert_eq!(h.series(T0 + 61 * 60).iter().sum::<u64>(), 0);
    }

    #[test]
    fn a_long_gap_clears_the_ring_and_a_clock_step_back_counts_in_the_latest_minute() {
        let mut h = MinuteHistory::default();
        h.record(T0);
        h.record(T0 + 3 * 3600);
        assert_eq!(h.series(T0 + 3 * 3600).iter().sum::<u64>(), 1);
        h.record(T0 + 3 * 3600 - 600);
        let s = h.series(T0 + 3 * 3600);
        assert_eq!(s[MINUTES - 1], 2);
        assert_eq!(s.iter().sum::<u64>(), 2);
    }

    #[test]
    fn per_rule_sums_add_minute_by_minute() {
        let mut sum = Vec::new();
        add_into(&mut sum, &[1, 0, 2]);
        add_into(&mut sum, &[0, 3, 1]);
        assert_eq!(sum, vec![1, 3, 3]);
    }
}
