//! The registry: the only module that knows metric names. Counters per rule and source, rule
//! info, alert hints (sliding windows), the `/hints` data, and the daemon's self-monitoring.
//!
//! Guarantees:
//! - every label value comes from the rule and config files, except the per-pod labels of
//!   `oauthwatch_pod_errors_total`, which come from container log file names and are bounded
//!   ([`pods`]); nothing from log text ever becomes a label value;
//! - every rule × source series exists (at 0) from the moment its rule set is installed, and a
//!   reload keeps the counts and windows of series that remain;
//! - nothing here runs per line: sources report per chunk ([`SourceObserver`], lock-free), the
//!   classifier reports per matching record ([`Tally::record_match`], one short lock);
//! - memory is bounded: windows by bucket count, samples by length, reason tables and pod
//!   series by entries, the status page's history by [`history::MINUTES`] counters per series;
//! - an alert hint turning on or off is logged once per transition (identifiers and counts,
//!   never the record).
//!
//! How the daemon drives it:
//!
//! ```text
//! let registry = Arc::new(Registry::new(config.max_pod_series));      // system clock
//! let tally = registry.install(rules.clone(), &source_labels);         // at start
//! registry.describe_sources(&specs);                                   // globs, for `/`
//! Sources::start(specs, opts, tx, registry.clone())                    // SourceObserver
//! registry.set_ready(true);                                            // rules loaded, sources open
//! // classify loop, per matching record:
//! tally.record_match(batch.source, c.rule, record, c.reason, batch.k8s.as_deref());
//! // reload: on success `tally = registry.install(new_rules, &labels); registry.reload_result(true)`,
//! //         on failure `registry.reload_result(false)` (old rules and tally stay)
//! // every few seconds: registry.tick()  (hint transitions are logged even without scrapes)
//! // exporter: metrics() = registry.encode(), hints() = registry.hints(), ready() = registry.is_ready(),
//! //           status() = registry.status() (the `/` page), readiness_notes() = registry.source_warnings()
//! ```

mod clock;
mod families;
pub mod history;
pub mod pods;
pub mod reasons;
pub mod report;
pub mod window;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use prometheus::{Encoder, IntCounter, IntGauge, TextEncoder};

use crate::classifier::redact::{normalize_reason, redact_record};
use crate::classifier::{Rule, RuleIdx, RuleSet};
use crate::sources::{DropReason, K8sRef, LagMeter, SourceIdx, SourceObserver, SourceSpec};
pub use clock::{rfc3339, Clock, ManualClock, SystemClock};
use families::{Families, LiveSet, DROP_REASONS, READ_ERROR_KINDS, RELOAD_RESULTS};
use history::MinuteHistory;
use pods::{PodBook, PodSlot};
use reasons::{truncate_chars, ReasonTable};
pub use report::{HintEntry, HintsReport, ReasonCount, RuleHistory, SourceStatus, StatusReport};
use window::SlidingWindow;

/// Longest raw record kept as a sample, in bytes; it is cut back to a separator so no
/// half-secret is left for the redactor to miss.
pub const SAMPLE_RAW_MAX_BYTES: usize = 16 * 1024;
/// Longest sample shown in `/hints`, in characters (after redaction).
pub const SAMPLE_MAX_CHARS: usize = 1000;
/// Distinct normalised reason texts kept per catch-all rule × source.
pub const REASON_TABLE_CAPACITY: usize = 300;
/// Reason texts shown per catch-all entry in `/hints`.
pub const REASONS_SHOWN: usize = 20;
/// An inactive hint stays in `/hints` this long after its alert condition last held.
pub const RECENT_FIRING_SECS: u64 = 24 * 3600;
/// Most entries in one `/hints` report.
pub const MAX_HINT_ENTRIES: usize = 200;

/// The build's git revision and compiler, from `build.rs`.
const REVISION: &str = match option_env!("OAUTHWATCH_BUILD_REVISION") {
    Some(r) => r,
    None => "unknown",
};
const RUSTC: &str = match option_env!("OAUTHWATCH_BUILD_RUSTC") {
    Some(r) => r,
    None => "unknown",
};

/// What the registry needs to know about a configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLabels {
    /// The `source` label.
    pub name: String,
    /// Whether per-pod series (`oauthwatch_pod_errors_total`) are kept for it.
    pub kubernetes_metadata: bool,
}

/// provider, code, rule, source: the identity of one rule × source series.
type SeriesKey = [String; 4];

/// One rule × source series: its counter and what the alert hint and `/hints` need.
struct Cell {
    counter: IntCounter,
    pod: PodSlot,
    state: Mutex<CellState>,
}

struct CellState {
    /// The rule's current text (severity, summary, ... may change on reload).
    rule: Rule,
    window: SlidingWindow,
    hint_gauge: IntGauge,
    matches_gauge: IntGauge,
    first_seen: Option<u64>,
    last_seen: Option<u64>,
    last_fired: Option<u64>,
    /// The latest matching record, raw and bounded; redacted whenever it is shown.
    sample: Vec<u8>,
    /// Catch-all rules: normalised reason texts.
    reasons: Option<ReasonTable>,
    /// Matches per minute over the last hour (the status page's sparkline).
    history: MinuteHistory,
    /// Whether the hint was active at the last look, to log each transition once.
    hint_on: bool,
}

impl CellState {
    /// Bring the window to `now`, update the hint gauges, and log the hint turning on or
    /// off (`labels`: provider, code, rule, source); returns (count, active).
    fn refresh(&mut self, now: u64, labels: &SeriesKey) -> (u64, bool) {
        let count = self.window.count(now);
        let active = self.rule.alert.count > 0 && count >= self.rule.alert.count;
        if active {
            self.last_fired = Some(now);
        }
        self.hint_gauge.set(active as i64);
        self.matches_gauge.set(count.min(i64::MAX as u64) as i64);
        if active != self.hint_on {
            self.hint_on = active;
            log_transition(labels, active, count, &self.rule, self.window.window_secs());
        }
        (count, active)
    }
}

/// One INFO line per alert-hint transition: identifiers and counts only, never a record.
fn log_transition(labels: &SeriesKey, active: bool, count: u64, rule: &Rule, window: u64) {
    let [provider, code, rule_id, source] = labels;
    let window = humantime::format_duration(std::time::Duration::from_secs(window));
    if active {
        tracing::info!(
            rule = %rule_id, source = %source, provider = %provider, code = %code,
            severity = %rule.severity.as_str(), count_in_window = count,
            threshold = rule.alert.count, window = %window,
            "alert hint on"
        );
    } else {
        tracing::info!(
            rule = %rule_id, source = %source, provider = %provider, code = %code,
            severity = %rule.severity.as_str(), count_in_window = count,
            threshold = rule.alert.count, window = %window,
            "alert hint off"
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per-source self-monitoring handles, indexed by [`SourceIdx`].
struct SourceMetrics {
    name: String,
    lines: IntCounter,
    records: IntCounter,
    bytes: IntCounter,
    dropped: [IntCounter; 3],
    files_watched: IntGauge,
    rotations: IntCounter,
    truncations: IntCounter,
    read_errors: [IntCounter; 3],
    lag: IntGauge,
    /// What outlives a reload: last read time, matched files, lag meter, globs.
    live: Arc<SourceRuntime>,
}

/// Per-source state that is not a Prometheus series and survives reloads (kept by name).
#[derive(Default)]
struct SourceRuntime {
    /// Unix seconds of the latest read with data; 0 before the first.
    last_read: AtomicU64,
    /// Files the globs matched at the latest discovery; `u64::MAX` before the first report
    /// (and always for stdin sources).
    files_matched: AtomicU64,
    /// The file source's lag account, once it has started.
    meter: Mutex<Option<Arc<LagMeter>>>,
    /// Globs, excludes and kind, for the status page and `/readyz`.
    desc: Mutex<SourceDesc>,
}

/// How a source is configured, as the status page shows it.
#[derive(Debug, Clone, Default)]
struct SourceDesc {
    paths: Vec<String>,
    exclude: Vec<String>,
    stdin: bool,
}

impl SourceRuntime {
    fn new() -> SourceRuntime {
        SourceRuntime {
            files_matched: AtomicU64::new(u64::MAX),
            ..SourceRuntime::default()
        }
    }
}

/// What the latest `install` set up; guarded by one mutex taken at install, encode and hints.
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
    next_id: AtomicU64,
    installed: Mutex<Installed>,
    sources: ArcSwap<Vec<SourceMetrics>>,
}

/// The counters of one installed rule set, indexed by the [`RuleIdx`] of that set. The
/// classifier loop holds it together with the `Arc<RuleSet>` it classifies with, so a reload
/// never mixes indices of two rule sets.
pub struct Tally {
    rules: Arc<RuleSet>,
    n_sources: usize,
    /// `rule * n_sources + source`.
    cells: Vec<Arc<Cell>>,
    /// Per source: whether per-pod series are kept.
    k8s: Vec<bool>,
    pods: Arc<PodBook>,
    clock: Arc<dyn Clock>,
}

impl Tally {
    /// Count one classified record of `source` as an instance of `rule`. `record` is the raw
    /// record (redacted before it is kept as a sample); `reason` is the provider's reason text
    /// (normalised before it is kept, catch-all only). Called once per matching record.
    pub fn record_match(
        &self,
        source: SourceIdx,
        rule: RuleIdx,
        record: &[u8],
        reason: Option<&[u8]>,
        k8s: Option<&K8sRef>,
    ) {
        if source >= self.n_sources {
            return;
        }
        let (Some(cell), Some(r)) = (
            self.cells.get(rule * self.n_sources + source),
            self.rules.rules().get(rule),
        ) else {
            return;
        };
        cell.counter.inc();
        let now = self.clock.now_secs();
        if let (true, Some(k)) = (self.k8s[source], k8s) {
            self.pods.count(&cell.pod, k, now);
        }
        let normalized = match (r.catch_all, reason) {
            (true, Some(text)) if !text.is_empty() => Some(normalize_reason(text)),
            _ => None,
        };
        let mut st = lock(&cell.state);
        st.window.record(now);
        st.history.record(now);
        st.first_seen.get_or_insert(now);
        st.last_seen = Some(now);
        if st.rule.alert.count > 0 && st.window.count(now) >= st.rule.alert.count {
            st.last_fired = Some(now);
            if !st.hint_on {
                // Turned on by this match: update the gauges and log it now, not at the
                // next scrape.
                st.refresh(now, &cell.pod.labels);
            }
        }
        keep_sample(&mut st.sample, record);
        if let Some(n) = normalized {
            st.reasons
                .get_or_insert_with(|| ReasonTable::new(REASON_TABLE_CAPACITY))
                .add(&n);
        }
    }

    /// The rule set these counters are indexed by.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }
}

/// Copy `record` into `sample`, at most [`SAMPLE_RAW_MAX_BYTES`]; a cut record is cut back to
/// the last separator so the redactor sees whole tokens only.
fn keep_sample(sample: &mut Vec<u8>, record: &[u8]) {
    sample.clear();
    if record.len() <= SAMPLE_RAW_MAX_BYTES {
        sample.extend_from_slice(record);
        return;
    }
    let head = &record[..SAMPLE_RAW_MAX_BYTES];
    let cut = head
        .iter()
        .rposition(|b| {
            matches!(
                b,
                b' ' | b'\t' | b',' | b';' | b'&' | b'"' | b'\'' | b'{' | b'}'
            )
        })
        .unwrap_or(0);
    sample.extend_from_slice(&head[..cut]);
    sample.extend_from_slice(" …".as_bytes());
}

fn rule_key(rule: &Rule) -> Vec<String> {
    vec![rule.provider.clone(), rule.code_label(), rule.id.clone()]
}

/// `kubernetes.max_pod_series` when the config does not set it.
pub const DEFAULT_MAX_POD_SERIES: usize = 500;

impl Default for Registry {
    /// A registry on the system clock with the default per-pod bound.
    fn default() -> Registry {
        Registry::new(DEFAULT_MAX_POD_SERIES)
    }
}

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

    /// Install a rule set and the source list (at start and on every successful reload):
    /// pre-initialises every rule × source series at 0, replaces the info and hint series of
    /// rules that are gone, and keeps the counters (and windows) of rules that remain.
    ///
    /// A series is identified by provider, code label, rule id and source name: if any of them
    /// changes, it is a new series. Changed severity, texts or alert conditions of a remaining
    /// series are picked up (the window keeps the matches that fall inside the new length).
    pub fn install(&self, rules: Arc<RuleSet>, sources: &[SourceLabels]) -> Arc<Tally> {
        let now = self.clock.now_secs();
        let f = &self.fam;
        let mut ins = lock(&self.installed);

        let mut cells = HashMap::new();
        let mut order = Vec::with_capacity(rules.rules().len() * sources.len());
        let (mut errors, mut info, mut hint, mut matches, mut threshold, mut window) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        for (idx, rule) in rules.rules().iter().enumerate() {
            let rk = rule_key(rule);
            let severity = rule.severity.as_str().to_string();
            let mut info_labels = rk.clone();
            info_labels.extend([severity.clone(), rules.rules_sha256(idx).to_string()]);
            info.insert(info_labels);
            threshold.insert(rk.clone());
            window.insert(rk.clone());
            for src in sources {
                let key: SeriesKey = [
                    rule.provider.clone(),
                    rule.code_label(),
                    rule.id.clone(),
                    src.name.clone(),
                ];
                let mut hint_labels = rk.clone();
                hint_labels.extend([severity.clone(), src.name.clone()]);
                let hint_gauge = f.alert_hint.with_label_values(&hint_labels);
                let matches_gauge = f.window_matches.with_label_values(&key);
                hint.insert(hint_labels);
                matches.insert(key.to_vec());
                errors.insert(key.to_vec());
                let cell = match ins.cells.get(&key) {
                    Some(cell) => {
                        let mut st = lock(&cell.state);
                        st.window.reconfigure(rule.alert.window, now);
                        st.rule = rule.clone();
                        st.hint_gauge = hint_gauge;
                        st.matches_gauge = matches_gauge;
                        if !rule.catch_all {
                            st.reasons = None;
                        }
                        drop(st);
                        cell.clone()
                    }
                    None => Arc::new(Cell {
                        counter: f.errors.with_label_values(&key),
                        pod: PodSlot::new(
                            self.next_id.fetch_add(1, Ordering::Relaxed),
                            key.clone(),
                        ),
                        state: Mutex::new(CellState {
                            rule: rule.clone(),
                            window: SlidingWindow::new(rule.alert.window),
                            hint_gauge,
                            matches_gauge,
                            first_seen: None,
                            last_seen: None,
                            last_fired: None,
                            sample: Vec::new(),
                            reasons: None,
                            history: MinuteHistory::default(),
                            hint_on: false,
                        }),
                    }),
                };
                order.push(cell.clone());
                cells.insert(key, cell);
            }
        }
        for (key, cell) in &ins.cells {
            if !cells.contains_key(key) {
                self.pods.remove(&cell.pod);
                // Its hint series goes away with it: an active hint ends here.
                let mut st = lock(&cell.state);
                if st.hint_on {
                    st.hint_on = false;
                    let count = st.window.count(now);
                    let window = st.window.window_secs();
                    log_transition(&cell.pod.labels, false, count, &st.rule, window);
                }
            }
        }
        ins.errors.sync(&f.errors, errors);
        ins.rule_info.sync(&f.rule_info, info);
        ins.alert_hint.sync(&f.alert_hint, hint);
        ins.window_matches.sync(&f.window_matches, matches);
        ins.threshold.sync(&f.threshold, threshold);
        ins.window_seconds.sync(&f.window_seconds, window);
        for (idx, rule) in rules.rules().iter().enumerate() {
            let rk = rule_key(rule);
            f.rule_info
                .with_label_values(&{
                    let mut l = rk.clone();
                    l.extend([
                        rule.severity.as_str().to_string(),
                        rules.rules_sha256(idx).to_string(),
                    ]);
                    l
                })
                .set(1);
            f.threshold
                .with_label_values(&rk)
                .set(rule.alert.count.min(i64::MAX as u64) as i64);
            f.window_seconds
                .with_label_values(&rk)
                .set(SlidingWindow::new(rule.alert.window).window_secs() as i64);
        }
        // Hint gauges start from the kept windows (a reload does not blank an active hint).
        for cell in &order {
            lock(&cell.state).refresh(now, &cell.pod.labels);
        }
        ins.cells = cells;
        ins.order = order.clone();

        self.install_sources(&mut ins, sources);
        if !ins.first_install_done {
            ins.first_install_done = true;
            f.last_reload_ts.set(now as i64);
        }
        drop(ins);

        Arc::new(Tally {
            rules,
            n_sources: sources.len(),
            cells: order,
            k8s: sources.iter().map(|s| s.kubernetes_metadata).collect(),
            pods: self.pods.clone(),
            clock: self.clock.clone(),
        })
    }

    /// Create (at 0) the self-monitoring series of `sources`, remove those of sources that are
    /// gone, and point the observer at the new index order.
    fn install_sources(&self, ins: &mut Installed, sources: &[SourceLabels]) {
        let f = &self.fam;
        let one = |_: &str| -> HashSet<Vec<String>> {
            sources.iter().map(|s| vec![s.name.clone()]).collect()
        };
        let with = |values: &[&str]| -> HashSet<Vec<String>> {
            sources
                .iter()
                .flat_map(|s| values.iter().map(|v| vec![s.name.clone(), v.to_string()]))
                .collect()
        };
        let [lines, records, bytes, dropped, files, rotations, truncations, read_errors, lag] =
            &mut ins.per_source;
        lines.sync(&f.lines, one(""));
        records.sync(&f.records, one(""));
        bytes.sync(&f.bytes, one(""));
        dropped.sync(&f.dropped, with(&DROP_REASONS));
        files.sync(&f.files_watched, one(""));
        rotations.sync(&f.rotations, one(""));
        truncations.sync(&f.truncations, one(""));
        read_errors.sync(&f.read_errors, with(&READ_ERROR_KINDS));
        lag.sync(&f.lag, one(""));
        let mut runtime = HashMap::new();
        for s in sources {
            let live = ins
                .runtime
                .get(&s.name)
                .cloned()
                .unwrap_or_else(|| Arc::new(SourceRuntime::new()));
            runtime.insert(s.name.clone(), live);
        }
        for gone in ins.runtime.keys().filter(|n| !runtime.contains_key(*n)) {
            let _ = f.files_matched.remove_label_values(&[gone.as_str()]);
        }
        ins.runtime = runtime;
        let handles = sources
            .iter()
            .map(|s| {
                let n = [s.name.as_str()];
                SourceMetrics {
                    live: ins.runtime[&s.name].clone(),
                    name: s.name.clone(),
                    lines: f.lines.with_label_values(&n),
                    records: f.records.with_label_values(&n),
                    bytes: f.bytes.with_label_values(&n),
                    dropped: DROP_REASONS.map(|r| f.dropped.with_label_values(&[&s.name, r])),
                    files_watched: f.files_watched.with_label_values(&n),
                    rotations: f.rotations.with_label_values(&n),
                    truncations: f.truncations.with_label_values(&n),
                    read_errors: READ_ERROR_KINDS
                        .map(|k| f.read_errors.with_label_values(&[&s.name, k])),
                    lag: f.lag.with_label_values(&n),
                }
            })
            .collect();
        self.sources.store(Arc::new(handles));
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

    /// Bring every alert window and hint gauge up to `now`.
    fn refresh(&self, now: u64) {
        let order = lock(&self.installed).order.clone();
        for cell in &order {
            lock(&cell.state).refresh(now, &cell.pod.labels);
        }
    }

    /// Bring alert hints up to date (and log those that turned off since the last look).
    /// The daemon calls it every few seconds, so a hint that expires is logged even when
    /// nobody scrapes.
    pub fn tick(&self) {
        self.refresh(self.clock.now_secs());
    }

    /// Record how each source is configured (globs, excludes, stdin), for the status page
    /// and `/readyz`. Call after [`Registry::install`] with the same source list.
    pub fn describe_sources(&self, specs: &[SourceSpec]) {
        let ins = lock(&self.installed);
        for spec in specs {
            if let Some(live) = ins.runtime.get(&spec.name) {
                *lock(&live.desc) = SourceDesc {
                    paths: spec
                        .paths
                        .iter()
                        .map(|g| crate::sources::file::unmatched::shown_glob(g))
                        .collect(),
                    exclude: spec.exclude.clone(),
                    stdin: spec.stdin,
                };
            }
        }
    }

    /// Set the lag gauges of file sources from their lag accounts.
    fn refresh_lag(&self) {
        for s in self.sources.load().iter() {
            if let Some(meter) = lock(&s.live.meter).as_ref() {
                s.lag.set(meter.lag().min(i64::MAX as u64) as i64);
            }
        }
    }

    /// Sources whose globs match no file right now, each as one sentence naming the source
    /// and its globs (for `/readyz` and logs).
    pub fn source_warnings(&self) -> Vec<String> {
        self.sources
            .load()
            .iter()
            .filter(|s| s.live.files_matched.load(Ordering::Acquire) == 0)
            .map(|s| {
                let desc = lock(&s.live.desc).clone();
                let mut line = format!(
                    "source `{}`: no file matches {}",
                    s.name,
                    desc.paths.join(", ")
                );
                if !desc.exclude.is_empty() {
                    line.push_str(&format!(" (exclude {})", desc.exclude.join(", ")));
                }
                line.push_str("; nothing is read from it until one appears");
                line
            })
            .collect()
    }

    /// Everything the status page shows: hints, sources, and each rule's last hour.
    pub fn status(&self) -> StatusReport {
        self.refresh_lag();
        let hints = self.hints();
        let now = self.clock.now_secs();
        let sources = self
            .sources
            .load()
            .iter()
            .map(|s| {
                let desc = lock(&s.live.desc).clone();
                let matched = s.live.files_matched.load(Ordering::Acquire);
                let last_read = s.live.last_read.load(Ordering::Acquire);
                SourceStatus {
                    name: s.name.clone(),
                    stdin: desc.stdin,
                    globs: desc.paths,
                    exclude: desc.exclude,
                    files_matched: (matched != u64::MAX).then_some(matched),
                    files_watched: s.files_watched.get().max(0) as u64,
                    lag_bytes: s.lag.get().max(0) as u64,
                    lines: s.lines.get(),
                    records: s.records.get(),
                    bytes: s.bytes.get(),
                    last_read: (last_read > 0).then(|| rfc3339(last_read)),
                    read_errors: s.read_errors.iter().map(IntCounter::get).sum(),
                    dropped: s.dropped.iter().map(IntCounter::get).sum(),
                }
            })
            .collect();
        let order = lock(&self.installed).order.clone();
        let mut rules: Vec<RuleHistory> = Vec::new();
        for cell in &order {
            let st = lock(&cell.state);
            let series = st.history.series(now);
            if series.iter().all(|&c| c == 0) {
                continue;
            }
            let [provider, _, rule, _] = &cell.pod.labels;
            match rules
                .iter_mut()
                .find(|r| &r.rule == rule && &r.provider == provider)
            {
                Some(r) => history::add_into(&mut r.per_minute, &series),
                None => rules.push(RuleHistory {
                    rule: rule.clone(),
                    provider: provider.clone(),
                    severity: st.rule.severity.as_str().to_string(),
                    per_minute: series,
                }),
            }
        }
        StatusReport {
            hints,
            sources,
            rules,
            ready: self.is_ready(),
        }
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

impl SourceObserver for Registry {
    fn read(&self, source: SourceIdx, bytes: u64, lines: u64, records: u64) {
        if let Some(s) = self.sources.load().get(source) {
            s.bytes.inc_by(bytes);
            s.lines.inc_by(lines);
            s.records.inc_by(records);
            if bytes > 0 {
                s.live
                    .last_read
                    .store(self.clock.now_secs(), Ordering::Release);
            }
        }
    }

    fn dropped(&self, source: SourceIdx, reason: DropReason) {
        let i = match reason {
            DropReason::LineTooLong => 0,
            DropReason::RecordTooLong => 1,
            DropReason::MalformedWrapper => 2,
        };
        if let Some(s) = self.sources.load().get(source) {
            s.dropped[i].inc();
            tracing::debug!(source = %s.name, reason = reason.as_str(), "line cut or dropped");
        }
    }

    fn files_watched(&self, source: SourceIdx, count: u64) {
        if let Some(s) = self.sources.load().get(source) {
            s.files_watched.set(count.min(i64::MAX as u64) as i64);
        }
    }

    fn rotated(&self, source: SourceIdx) {
        if let Some(s) = self.sources.load().get(source) {
            s.rotations.inc();
            tracing::debug!(source = %s.name, "file rotation seen");
        }
    }

    fn truncated(&self, source: SourceIdx) {
        if let Some(s) = self.sources.load().get(source) {
            s.truncations.inc();
            tracing::debug!(source = %s.name, "file truncation seen");
        }
    }

    fn read_error(&self, source: SourceIdx, kind: &'static str) {
        let i = READ_ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(READ_ERROR_KINDS.len() - 1);
        if let Some(s) = self.sources.load().get(source) {
            s.read_errors[i].inc();
            tracing::debug!(source = %s.name, kind = READ_ERROR_KINDS[i], "read error counted");
        }
    }

    fn checkpoint_write_failed(&self) {
        self.fam.checkpoint_failures.inc();
        tracing::debug!("checkpoint write failure counted");
    }

    fn lag_bytes(&self, source: SourceIdx, bytes: u64) {
        if let Some(s) = self.sources.load().get(source) {
            s.lag.set(bytes.min(i64::MAX as u64) as i64);
        }
    }

    fn pod_logs(&self, source: SourceIdx, pod: &K8sRef, present: bool) {
        if let Some(s) = self.sources.load().get(source) {
            if present {
                self.pods.present(&s.name, pod);
            } else {
                tracing::debug!(source = %s.name, namespace = %pod.namespace, pod = %pod.pod,
                    container = %pod.container, "pod logs gone and drained; its series retire after the grace");
                self.pods.drained(&s.name, pod, self.clock.now_secs());
            }
        }
    }

    fn files_matched(&self, source: SourceIdx, count: u64) {
        if let Some(s) = self.sources.load().get(source) {
            s.live.files_matched.store(count, Ordering::Release);
            self.fam
                .files_matched
                .with_label_values(&[s.name.as_str()])
                .set(count.min(i64::MAX as u64) as i64);
        }
    }

    fn track_lag(&self, source: SourceIdx, meter: Arc<LagMeter>) {
        if let Some(s) = self.sources.load().get(source) {
            *lock(&s.live.meter) = Some(meter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{AlertCondition, Severity};
    use std::time::Duration;

    /// A log sink for `tracing` that a test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn one_rule(count: u64) -> Arc<RuleSet> {
        Arc::new(RuleSet::without_matchers(vec![Rule {
            id: "invalid_client".into(),
            provider: "zoom".into(),
            codes: vec!["4702".into()],
            message: String::new(),
            description: String::new(),
            severity: Severity::Critical,
            alert: AlertCondition {
                count,
                window: Duration::from_secs(60),
            },
            summary: String::new(),
            remediation: String::new(),
            catch_all: false,
        }]))
    }

    #[test]
    fn each_hint_transition_is_logged_once_with_counts_and_never_the_record() {
        let out = Captured::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let reg = Registry::with_clock(10, clock.clone());
        let sources = [SourceLabels {
            name: "app".into(),
            kubernetes_metadata: false,
        }];
        let record = b"zoom invalid_client SECRET-RECORD-TEXT";
        let logged = |what: &str| {
            String::from_utf8(lock(&out.0).clone())
                .unwrap()
                .matches(what)
                .count()
        };
        tracing::subscriber::with_default(subscriber, || {
            let tally = reg.install(one_rule(2), &sources);
            tally.record_match(0, 0, record, None, None);
            assert_eq!(logged("alert hint"), 0);
            tally.record_match(0, 0, record, None, None);
            assert_eq!(
                logged("alert hint on"),
                1,
                "logged as the threshold is reached"
            );
            tally.record_match(0, 0, record, None, None);
            reg.encode();
            reg.tick();
            assert_eq!(logged("alert hint on"), 1, "once per transition");
            clock.advance(Duration::from_secs(61));
            reg.tick();
            reg.encode();
            assert_eq!(logged("alert hint off"), 1);
            // On again, then the rule is removed by a reload: that ends the hint too.
            tally.record_match(0, 0, record, None, None);
            tally.record_match(0, 0, record, None, None);
            assert_eq!(logged("alert hint on"), 2);
            reg.install(Arc::new(RuleSet::without_matchers(vec![])), &sources);
            assert_eq!(logged("alert hint off"), 2);
        });
        let text = String::from_utf8(lock(&out.0).clone()).unwrap();
        let first = text.lines().next().unwrap();
        for field in [
            "INFO",
            "rule=invalid_client",
            "source=app",
            "count_in_window=2",
            "threshold=2",
            "severity=critical",
        ] {
            assert!(first.contains(field), "{field} not in {first}");
        }
        assert!(!text.contains("SECRET-RECORD-TEXT"), "{text}");
    }

    #[test]
    fn a_long_sample_is_cut_back_to_a_separator() {
        let mut sample = Vec::new();
        let mut record = b"error ".repeat(SAMPLE_RAW_MAX_BYTES / 6);
        record.extend_from_slice(b"Bearer ");
        record.extend_from_slice(&[b'A'; 4096]);
        keep_sample(&mut sample, &record);
        assert!(sample.len() <= SAMPLE_RAW_MAX_BYTES + " …".len());
        assert!(!sample.contains(&b'A'), "no partial token kept");
        keep_sample(&mut sample, b"short");
        assert_eq!(sample, b"short");
    }
}
