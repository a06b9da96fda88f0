//! The `/hints` view: the rule × source series that matched recently, newest and busiest
//! first, with their rule texts, a redacted sample and (catch-all rules) the reasons seen.

use super::reasons::truncate_chars;
use super::{lock, rfc3339, HintEntry, HintsReport, Registry};
use crate::classifier::redact::redact_record;

/// Longest sample shown in `/hints`, in characters (after redaction).
pub const SAMPLE_MAX_CHARS: usize = 1000;

/// Reason texts shown per catch-all entry in `/hints`.
pub const REASONS_SHOWN: usize = 20;

/// An inactive hint stays in `/hints` this long after its alert condition last held.
pub const RECENT_FIRING_SECS: u64 = 24 * 3600;

/// Most entries in one `/hints` report.
pub const MAX_HINT_ENTRIES: usize = 200;

impl Registry {
    /// The `/hints` report, windows brought up to date first.
    pub fn hints(&self) -> HintsReport {
        let now = self.clock.now_secs();
        let order = lock(&self.installed).order.clone();
        let mut hints = Vec::new();
        for cell in &order {
            let mut st = lock(&cell.state);
            let (count, active) = st.refresh(now, &cell.pod.labels);
            let recently_fired = st
                .last_fired
                .is_some_and(|t| now.saturating_sub(t) < RECENT_FIRING_SECS);
            if count == 0 && !active && !recently_fired {
                continue;
            }
            let [provider, code, rule, source] = cell.pod.labels.clone();
            let raw_sample = st.sample.clone();
            let last_seen = st.last_seen.unwrap_or(0);
            let mut entry = HintEntry {
                rule,
                provider,
                codes: st.rule.codes.clone(),
                code,
                source,
                severity: st.rule.severity.as_str().to_string(),
                summary: st.rule.summary.clone(),
                remediation: st.rule.remediation.clone(),
                active,
                count_in_window: count,
                threshold: st.rule.alert.count,
                window_seconds: st.window.window_secs(),
                first_seen: st.first_seen.map(rfc3339).unwrap_or_default(),
                last_seen: st.last_seen.map(rfc3339).unwrap_or_default(),
                last_fired: st.last_fired.map(rfc3339),
                sample: String::new(),
                unmatched_reasons: st
                    .reasons
                    .as_ref()
                    .map(|t| t.top(REASONS_SHOWN))
                    .unwrap_or_default(),
            };
            drop(st);
            entry.sample = display_sample(&raw_sample);
            hints.push((entry, last_seen));
        }
        hints.sort_by(|(a, a_last), (b, b_last)| {
            b.active
                .cmp(&a.active)
                .then(b.count_in_window.cmp(&a.count_in_window))
                .then(b_last.cmp(a_last))
                .then_with(|| (&a.rule, &a.source).cmp(&(&b.rule, &b.source)))
        });
        hints.truncate(MAX_HINT_ENTRIES);
        HintsReport {
            generated_at: rfc3339(now),
            hints: hints.into_iter().map(|(e, _)| e).collect(),
        }
    }
}

/// A kept raw record as `/hints` shows it: secrets redacted, bounded in length.
fn display_sample(raw: &[u8]) -> String {
    if raw.is_empty() {
        return String::new();
    }
    let redacted = redact_record(raw);
    let cut = truncate_chars(&redacted, SAMPLE_MAX_CHARS);
    if cut.len() < redacted.len() {
        format!("{cut} …")
    } else {
        redacted
    }
}
