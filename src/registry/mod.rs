//! The registry: the only module that knows metric names. Counters per rule and source, rule
//! info, alert hints (sliding windows), and the daemon's self-monitoring.
//!
//! OWNER: registry helper. The public items below are the seam the rest of the crate uses;
//! keep their names and signatures (add to them freely). (SKELETON)

pub mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::classifier::{RuleIdx, RuleSet};
use crate::sources::{DropReason, K8sRef, SourceIdx, SourceObserver};
pub use report::{HintEntry, HintsReport, ReasonCount};

/// What the registry needs to know about a configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLabels {
    /// The `source` label.
    pub name: String,
    /// Whether per-pod series (`oauthwatch_pod_errors_total`) are kept for it.
    pub kubernetes_metadata: bool,
}

/// All metrics of one daemon. Cheap to share (`Arc<Registry>`); every method takes `&self`.
#[derive(Default)]
pub struct Registry {
    ready: AtomicBool,
}

/// The counters of one installed rule set, indexed by the [`RuleIdx`] of that set. The
/// classifier loop holds it together with the `Arc<RuleSet>` it classifies with, so a reload
/// never mixes indices of two rule sets.
pub struct Tally {
    _rules: Arc<RuleSet>,
}

impl Tally {
    /// Count one classified record of `source` as an instance of `rule`. `record` is the raw
    /// record (redacted before it is kept as a sample); `reason` is the provider's reason text
    /// (normalised before it is kept, catch-all only). Called once per matching record.
    pub fn record_match(
        &self,
        _source: SourceIdx,
        _rule: RuleIdx,
        _record: &[u8],
        _reason: Option<&[u8]>,
        _k8s: Option<&K8sRef>,
    ) {
    }
}

impl Registry {
    /// A registry with the self-monitoring, build-info and process metrics registered.
    pub fn new(max_pod_series: usize) -> Registry {
        let _ = max_pod_series;
        Registry::default()
    }

    /// Install a rule set and the source list (at start and on every successful reload):
    /// pre-initialises every rule × source series at 0, replaces the info and hint series of
    /// rules that are gone, and keeps the counters (and windows) of rules that remain.
    pub fn install(&self, rules: Arc<RuleSet>, sources: &[SourceLabels]) -> Arc<Tally> {
        let _ = sources;
        Arc::new(Tally { _rules: rules })
    }

    /// Record the outcome of a config/rule reload (`oauthwatch_config_reloads_total{result}`,
    /// `..._last_reload_successful`, `..._last_reload_success_timestamp_seconds`).
    pub fn reload_result(&self, ok: bool) {
        let _ = ok;
    }

    /// Mark the daemon ready (rules loaded, sources open) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the daemon is ready (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The text exposition of every metric, alert hints brought up to date first.
    pub fn encode(&self) -> Vec<u8> {
        Vec::new()
    }

    /// The `/hints` report, windows brought up to date first.
    pub fn hints(&self) -> HintsReport {
        HintsReport::default()
    }
}

impl SourceObserver for Registry {
    fn read(&self, _: SourceIdx, _: u64, _: u64, _: u64) {}
    fn dropped(&self, _: SourceIdx, _: DropReason) {}
    fn files_watched(&self, _: SourceIdx, _: u64) {}
    fn rotated(&self, _: SourceIdx) {}
    fn truncated(&self, _: SourceIdx) {}
    fn read_error(&self, _: SourceIdx, _: &'static str) {}
    fn checkpoint_write_failed(&self) {}
    fn lag_bytes(&self, _: SourceIdx, _: u64) {}
}
