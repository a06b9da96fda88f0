//! The registry: the only module that knows metric names. Counters per rule and source, rule
//! info, alert hints (sliding windows), the `/hints` data, and the daemon's self-monitoring.
//!
//! Guarantees:
//! - every label value comes from the rule and config files, except the per-pod labels of
//!   `oauthwatch_pod_errors_total`, which come from container log file names and are bounded
//!   ([`pods`]); nothing from log text ever becomes a label value;
//! - every rule × source series exists (at 0) from the moment its rule set is installed, and a
//!   reload keeps the counts and windows of series that remain;
//! - nothing here runs per line: sources report per chunk ([`SourceObserver`](crate::sources::SourceObserver), lock-free), the
//!   classifier reports per matching record ([`MatchRecorder::record_match`]: the series' own
//!   short lock, and the per-pod table's for Kubernetes sources);
//! - memory is bounded: windows by bucket count, samples by length, reason tables and pod
//!   series by entries, the status page's history by 60 per-minute counters per series;
//! - an alert hint turning on or off is logged once per transition (identifiers and counts,
//!   never the record).
//!
//! How the daemon drives it:
//!
//! ```text
//! let registry = Arc::new(Registry::new(config.max_pod_series));      // system clock
//! let recorder = registry.install(rules.clone(), &source_labels);      // at start
//! registry.describe_sources(&specs);                                   // globs, for `/`
//! Sources::start(specs, opts, tx, registry.clone())                    // SourceObserver
//! registry.set_ready(true);                                            // rules loaded, sources open
//! // classify loop, per matching record:
//! recorder.record_match(batch.source, c.rule, record, c.reason, batch.k8s.as_deref());
//! // reload: on success `recorder = registry.install(new_rules, &labels); registry.reload_result(true)`,
//! //         on failure `registry.reload_result(false)` (old rules and recorder stay)
//! // every few seconds: registry.tick()  (hint transitions are logged even without scrapes)
//! // exporter: metrics() = registry.encode(), hints() = registry.hints(), ready() = registry.is_ready(),
//! //           status() = registry.status() (the `/` page), readiness_notes() = registry.source_warnings()
//! ```

mod clock;
mod families;
mod hints;
mod history;
mod pods;
pub(crate) mod reasons;
pub(crate) mod report;
mod series;
mod source_metrics;
mod status;
mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use prometheus::{Encoder, TextEncoder};

use clock::SystemClock;
pub use clock::{rfc3339, Clock, ManualClock};
use families::{Families, LiveSet, RELOAD_RESULTS};
pub use hints::{REASONS_SHOWN, RECENT_FIRING_SECS, SAMPLE_MAX_CHARS};
use pods::PodBook;
pub use report::{HintEntry, HintsReport, ReasonCount, RuleHistory, SourceStatus, StatusReport};
pub use series::MatchRecorder;
pub(crate) use series::REASON_TABLE_CAPACITY;
use series::{Cell, SeriesKey};
pub use source_metrics::SourceLabels;
use source_metrics::{SourceMetrics, SourceRuntime};

/// The build's git revision and compiler, from `build.rs`.
const REVISION: &str = match option_env!("OAUTHWATCH_BUILD_REVISION") {
    Some(r) => r,
    None => "unknown",
};

const RUSTC: &str = match option_env!("OAUTHWATCH_BUILD_RUSTC") {
    Some(r) => r,
    None => "unknown",
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the latest `install` set up; behind one mutex, taken by `install` and by the readers
/// (encode, tick, hints, status, describe_sources), never per record.
struct Installed {
    cells: HashMap<SeriesKey, Arc<Cell>>,
    /// The cells in the current rule-major order.
    order: Vec<Arc<Cell>>,
    errors: LiveSet,
    rule_info: LiveSet,
    alert_hint: LiveSet,
    window_matches: LiveSet,
    threshold: LiveSet,
    window_seconds: LiveSet,
    per_source: [LiveSet; 9],
    first_install_done: bool,
    /// Per-source runtime state by source name.
    runtime: HashMap<String, Arc<SourceRuntime>>,
}

/// All metrics of one daemon. Cheap to share (`Arc<Registry>`); every method takes `&self`.
pub struct Registry {
    prom: prometheus::Registry,
    fam: Families,
    clock: Arc<dyn Clock>,
    ready: AtomicBool,
    pods: Arc<PodBook>,
    /// Notified when a match lands in an empty window, so the daemon's hint tick, stopped
    /// while every window is empty, starts again (see [`Registry::tick`]).
    wake: Arc<tokio::sync::Notify>,
    next_id: AtomicU64,
    installed: Mutex<Installed>,
    sources: ArcSwap<Vec<SourceMetrics>>,
}

/// `kubernetes.max_pod_series` when the config does not set it.
pub const DEFAULT_MAX_POD_SERIES: usize = 500;

impl Registry {
    /// A registry with the self-monitoring, build-info and process metrics registered.
    pub fn new(max_pod_series: usize) -> Registry {
        Registry::with_clock(max_pod_series, Arc::new(SystemClock))
    }

    /// How long a deleted pod's series stay once its logs are drained
    /// (`kubernetes.pod_series_grace`).
    pub fn set_pod_series_grace(&self, grace: std::time::Duration) {
        self.pods.set_grace(grace.as_secs());
    }

    /// Like [`Registry::new`], reading time from `clock` (tests pass a [`ManualClock`]).
    pub fn with_clock(max_pod_series: usize, clock: Arc<dyn Clock>) -> Registry {
        let prom = prometheus::Registry::new();
        let fam = Families::register(&prom);
        for result in RELOAD_RESULTS {
            fam.reloads.with_label_values(&[result]);
        }
        fam.last_reload_ok.set(1);
        fam.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), REVISION, RUSTC])
            .set(1);
        let pods = Arc::new(PodBook::new(fam.pod_errors.clone(), max_pod_series));
        Registry {
            prom,
            fam,
            clock,
            ready: AtomicBool::new(false),
            pods,
            wake: Arc::new(tokio::sync::Notify::new()),
            next_id: AtomicU64::new(0),
            installed: Mutex::new(Installed {
                cells: HashMap::new(),
                order: Vec::new(),
                errors: LiveSet::new(),
                rule_info: LiveSet::new(),
                alert_hint: LiveSet::new(),
                window_matches: LiveSet::new(),
                threshold: LiveSet::new(),
                window_seconds: LiveSet::new(),
                per_source: std::array::from_fn(|_| LiveSet::new()),
                first_install_done: false,
                runtime: HashMap::new(),
            }),
            sources: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// Record the outcome of a config/rule reload (`oauthwatch_config_reloads_total{result}`,
    /// `..._last_reload_successful`, `..._last_reload_success_timestamp_seconds`). Call it
    /// after every reload attempt, following `install` when it succeeded.
    pub fn reload_result(&self, ok: bool) {
        let f = &self.fam;
        f.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
        f.last_reload_ok.set(ok as i64);
        if ok {
            f.last_reload_ts.set(self.clock.now_secs() as i64);
        }
    }

    /// Mark the daemon ready (rules loaded, sources open) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.fam.ready.set(ready as i64);
    }

    /// Whether the daemon is ready (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Bring every alert window and hint gauge up to `now`; returns the seconds until a match
    /// next leaves a window (`None`: every window is empty).
    fn refresh(&self, now: u64) -> Option<u64> {
        let order = lock(&self.installed).order.clone();
        let mut next: Option<u64> = None;
        for cell in &order {
            let mut st = lock(&cell.state);
            st.refresh(now, &cell.pod.labels);
            if let Some(secs) = st.window.next_expiry(now) {
                next = Some(next.map_or(secs, |n| n.min(secs)));
            }
        }
        next
    }

    /// Bring alert hints up to date (and log those that turned off since the last look), so
    /// a hint that expires is logged even when nobody scrapes. Returns when the next tick can
    /// change anything: when the oldest match leaves its window (the only moment a hint can
    /// turn off; a hint turns on as a match is counted), or `None` once every window is
    /// empty; the daemon then stops ticking until [`Registry::matched_after_quiet`]
    /// resolves, so an idle daemon does not wake up.
    pub fn tick(&self) -> Option<std::time::Duration> {
        self.refresh(self.clock.now_secs())
            .map(std::time::Duration::from_secs)
    }

    /// Resolves once a match lands in an empty window after [`Registry::tick`] returned
    /// `None` (at once if one already did).
    pub async fn matched_after_quiet(&self) {
        self.wake.notified().await;
    }

    /// The text exposition of every metric, alert hints brought up to date first.
    pub fn encode(&self) -> Vec<u8> {
        self.refresh_lag();
        self.refresh(self.clock.now_secs());
        self.pods.sweep(self.clock.now_secs());
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed families, which ours are by
        // construction; an error would leave a partial body, which promtool tests catch.
        let _ = TextEncoder::new().encode(&self.prom.gather(), &mut out);
        out
    }
}
