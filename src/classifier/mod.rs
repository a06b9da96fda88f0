//! The classifier: which rule, if any, a log record is an instance of.
//!
//! Pure: no I/O beyond reading rule files at load time. A [`RuleSet`] is built once from one
//! or more rule files (`rules/*.toml`, or the Zoom file embedded in the binary), is immutable
//! but for each pattern's regex, compiled the first time a record needs it (`lazy`), and is
//! shared behind an `Arc` by every worker. `classify` is the hot path: it must not
//! allocate, and a literal prefilter dismisses a record that cannot match in one pass.

use std::time::Duration;

/// Index of a rule in [`RuleSet::rules`]; stable for the life of one `RuleSet`.
pub type RuleIdx = usize;

/// How urgent a rule's failures are; becomes the `severity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look, not worth a page.
    Info,
    /// Users are affected; act within working hours.
    Warning,
    /// Logins are failing broadly; act now.
    Critical,
}

impl Severity {
    /// The label value: `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// When a rule's matches become an alert hint: at least `count` within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCondition {
    /// Matches needed inside the window.
    pub count: u64,
    /// Sliding window length.
    pub window: Duration,
}

/// One compiled rule: what the user sees about a kind of failure.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable snake_case id; the `rule` label.
    pub id: String,
    /// Provider the rule belongs to (`zoom`); the `provider` label.
    pub provider: String,
    /// The provider's error codes (`["4702", "4704"]`); empty for the catch-all.
    pub codes: Vec<String>,
    /// The provider's documented error message.
    pub message: String,
    /// What the failure means.
    pub description: String,
    /// Label value for severity.
    pub severity: Severity,
    /// When matches become an alert hint.
    pub alert: AlertCondition,
    /// One-line summary for alerts and tables.
    pub summary: String,
    /// What the on-call engineer should do.
    pub remediation: String,
    /// True for a provider's catch-all rule (`code="unknown"`).
    pub catch_all: bool,
}

impl Rule {
    /// The `code` label value: codes joined by `,` (`4702,4704`), or `unknown` for a catch-all.
    pub fn code_label(&self) -> String {
        if self.catch_all || self.codes.is_empty() {
            "unknown".to_string()
        } else {
            self.codes.join(",")
        }
    }
}

/// What a source knows about who its lines come from; set per source in config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchContext<'a> {
    /// `Some("zoom")` when the source talks only to that provider, so a record need not name
    /// the provider itself to count.
    pub provider: Option<&'a str>,
}

/// The result of classifying one record; borrows from the record, allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification<'r> {
    /// The matched rule.
    pub rule: RuleIdx,
    /// The provider's reason/message text as found in the record (unredacted: redact before
    /// display), used for the catch-all's "what to add next" list.
    pub reason: Option<&'r [u8]>,
}

mod lazy;
mod pattern;
mod prefilter;
pub mod redact;
mod routing;
mod rulefile;
mod set;
pub use set::{RuleSet, EMBEDDED_ORIGIN};
