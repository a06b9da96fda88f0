//! The `/hints` report: what the registry knows about recent failures, in the JSON shape that
//! `/hints` serves (a public interface) and that the `/` page renders for a person; and the
//! rest of what the status page shows (sources, each rule's last hour).
//!
//! Plain data, shared by the registry (which fills it) and the exporter (which serves it), so
//! neither depends on the other's internals. Every string in it comes from the rule and config
//! files, except `sample` and `unmatched_reasons`, which are redacted/normalised first.

use serde::Serialize;

/// The whole `/hints` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HintsReport {
    /// When the report was made (RFC 3339, UTC).
    pub generated_at: String,
    /// Active hints first (most matches in window first), then recent inactive ones.
    pub hints: Vec<HintEntry>,
}

/// One rule × source that matched recently (within its alert window, or since it last fired).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HintEntry {
    /// Rule id (the `rule` label).
    pub rule: String,
    /// Provider (the `provider` label).
    pub provider: String,
    /// The provider's codes; empty for a catch-all.
    pub codes: Vec<String>,
    /// The `code` label value (`4734`, `4702,4704`, `unknown`).
    pub code: String,
    /// Source name (the `source` label).
    pub source: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The rule's one-line summary.
    pub summary: String,
    /// What to do, from the rule file.
    pub remediation: String,
    /// True while the rule's alert condition holds (`oauthwatch_alert_hint` is 1).
    pub active: bool,
    /// Matches inside the alert window now.
    pub count_in_window: u64,
    /// Matches needed inside the window for the hint to be active.
    pub threshold: u64,
    /// The alert window, in seconds.
    pub window_seconds: u64,
    /// First match since the daemon started (RFC 3339, UTC).
    pub first_seen: String,
    /// Latest match (RFC 3339, UTC).
    pub last_seen: String,
    /// The last time the alert condition was seen holding (RFC 3339, UTC); `null` if never.
    /// Inactive entries stay listed for a day after this, so a morning reader sees what fired.
    pub last_fired: Option<String>,
    /// The latest matching record, secrets redacted, bounded in length.
    pub sample: String,
    /// Catch-all rules only: the most frequent unmatched reason texts, normalised (ids, codes,
    /// tokens replaced) and bounded in number, so rule authors see what to add next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_reasons: Vec<ReasonCount>,
}

/// A normalised reason text and how often it was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// The normalised reason (`Invalid authorization code <token>`).
    pub reason: String,
    /// Times seen since the daemon started (bounded table: rare ones may be evicted).
    pub count: u64,
}

/// Everything the status page `/` shows: the hints, the sources and each rule's last hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusReport {
    pub hints: HintsReport,
    /// Every configured source, in config order.
    pub sources: Vec<SourceStatus>,
    /// Rules with at least one match in the last hour, summed over sources.
    pub rules: Vec<RuleHistory>,
    /// Whether the daemon is ready (`/readyz`).
    pub ready: bool,
}

/// One source as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStatus {
    /// Source name (the `source` label).
    pub name: String,
    /// Reads standard input rather than files.
    pub stdin: bool,
    /// Path globs, absolute (a relative one is shown from the working directory, where
    /// discovery takes it from).
    pub globs: Vec<String>,
    pub exclude: Vec<String>,
    /// Files the globs matched at the latest discovery; `None` for stdin or before the first.
    pub files_matched: Option<u64>,
    /// Files tailed now (matched ones plus rotated ones still being drained).
    pub files_watched: u64,
    /// Bytes not yet classified (`oauthwatch_source_lag_bytes`).
    pub lag_bytes: u64,
    /// Physical lines read since start.
    pub lines: u64,
    /// Records classified since start.
    pub records: u64,
    /// Bytes read since start.
    pub bytes: u64,
    /// When data was last read (RFC 3339, UTC); `None` if never.
    pub last_read: Option<String>,
    /// Open and read failures since start.
    pub read_errors: u64,
    /// Lines truncated, records split or lines passed through unwrapped since start
    /// (`oauthwatch_lines_degraded_total`).
    pub degraded: u64,
}

/// One rule's matches per minute over the last hour (all sources together); `rule`,
/// `provider` and `severity` as in [`HintEntry`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleHistory {
    pub rule: String,
    pub provider: String,
    pub severity: String,
    /// Matches per minute, oldest first, the current minute last (60 values).
    pub per_minute: Vec<u64>,
}
