//! The rule × source series: one counter per rule and source, with the alert window, the
//! latest sample and the reason table behind its hint, and the handle the classifier loop
//! counts matches through.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus::{IntCounter, IntGauge};

use super::history::MinuteHistory;
use super::pods::{PodBook, PodSlot};
use super::reasons::ReasonTable;
use super::window::SlidingWindow;
use super::{lock, Clock, Registry, SourceLabels};
use crate::classifier::redact::normalize_reason;
use crate::classifier::{Rule, RuleIdx, RuleSet};
use crate::sources::{K8sRef, SourceIdx};

/// Longest raw record kept as a sample, in bytes; it is cut back to a separator so no
/// half-secret is left for the redactor to miss.
pub const SAMPLE_RAW_MAX_BYTES: usize = 16 * 1024;

/// Distinct normalised reason texts kept per catch-all rule × source.
pub const REASON_TABLE_CAPACITY: usize = 300;

/// provider, code, rule, source: the identity of one rule × source series.
pub(super) type SeriesKey = [String; 4];

/// One rule × source series: its counter and what the alert hint and `/hints` need.
pub(super) struct Cell {
    pub(super) counter: IntCounter,
    pub(super) pod: PodSlot,
    pub(super) state: Mutex<CellState>,
}

pub(super) struct CellState {
    /// The rule's current text (severity, summary, ... may change on reload).
    pub(super) rule: Rule,
    pub(super) window: SlidingWindow,
    pub(super) hint_gauge: IntGauge,
    pub(super) matches_gauge: IntGauge,
    pub(super) first_seen: Option<u64>,
    pub(super) last_seen: Option<u64>,
    pub(super) last_fired: Option<u64>,
    /// The latest matching record, raw and bounded; redacted whenever it is shown.
    pub(super) sample: Vec<u8>,
    /// Catch-all rules: normalised reason texts.
    pub(super) reasons: Option<ReasonTable>,
    /// Matches per minute over the last hour (the status page's sparkline).
    pub(super) history: MinuteHistory,
    /// Whether the hint was active at the last look, to log each transition once.
    pub(super) hint_on: bool,
}

impl CellState {
    /// Bring the window to `now`, update the hint gauges, and log the hint turning on or
    /// off (`labels`: provider, code, rule, source); returns (count, active).
    pub(super) fn refresh(&mut self, now: u64, labels: &SeriesKey) -> (u64, bool) {
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

/// Where the classifier loop records matches: the rule × source series of one installed rule
/// set, indexed by the [`RuleIdx`] of that set. The loop holds it together with the
/// `Arc<RuleSet>` it classifies with, so a reload never mixes indices of two rule sets.
pub struct MatchRecorder {
    rules: Arc<RuleSet>,
    n_sources: usize,
    /// `rule * n_sources + source`.
    cells: Vec<Arc<Cell>>,
    /// Per source: whether per-pod series are kept.
    k8s: Vec<bool>,
    pods: Arc<PodBook>,
    clock: Arc<dyn Clock>,
    /// The registry's wake-up for its stopped hint tick.
    wake: Arc<tokio::sync::Notify>,
}

impl MatchRecorder {
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
        if st.window.is_empty() {
            self.wake.notify_one();
        }
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

impl Registry {
    /// Install a rule set and the source list (at start and on every successful reload):
    /// pre-initialises every rule × source series at 0, replaces the info and hint series of
    /// rules that are gone, and keeps the counters (and windows) of rules that remain.
    ///
    /// A series is identified by provider, code label, rule id and source name: if any of them
    /// changes, it is a new series. Changed severity, texts or alert conditions of a remaining
    /// series are picked up (the window keeps the matches that fall inside the new length).
    pub fn install(&self, rules: Arc<RuleSet>, sources: &[SourceLabels]) -> Arc<MatchRecorder> {
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

        Arc::new(MatchRecorder {
            rules,
            n_sources: sources.len(),
            cells: order,
            k8s: sources.iter().map(|s| s.kubernetes_metadata).collect(),
            pods: self.pods.clone(),
            clock: self.clock.clone(),
            wake: self.wake.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{AlertCondition, Severity};
    use crate::registry::ManualClock;
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
            let recorder = reg.install(one_rule(2), &sources);
            recorder.record_match(0, 0, record, None, None);
            assert_eq!(logged("alert hint"), 0);
            recorder.record_match(0, 0, record, None, None);
            assert_eq!(
                logged("alert hint on"),
                1,
                "logged as the threshold is reached"
            );
            recorder.record_match(0, 0, record, None, None);
            reg.encode();
            reg.tick();
            assert_eq!(logged("alert hint on"), 1, "once per transition");
            clock.advance(Duration::from_secs(61));
            reg.tick();
            reg.encode();
            assert_eq!(logged("alert hint off"), 1);
            // On again, then the rule is removed by a reload: that ends the hint too.
            recorder.record_match(0, 0, record, None, None);
            recorder.record_match(0, 0, record, None, None);
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

    /// The daemon's hint tick stops once every window is empty, and the first match after
    /// that wakes it (a permit is kept when nobody waits yet, so none is missed).
    #[test]
    fn tick_says_when_nothing_can_change_and_a_match_after_that_wakes_the_daemon() {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let reg = Registry::with_clock(10, clock.clone());
        let sources = [SourceLabels {
            name: "app".into(),
            kubernetes_metadata: false,
        }];
        let tally = reg.install(one_rule(2), &sources);
        assert_eq!(reg.tick(), None, "no match yet: nothing to tick for");
        let woken = || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(50), reg.matched_after_quiet())
                    .await
                    .is_ok()
            })
        };
        tally.record_match(0, 0, b"zoom invalid_client", None, None);
        assert!(woken(), "a match in an empty window wakes the tick");
        clock.advance(Duration::from_secs(20));
        assert_eq!(
            reg.tick(),
            Some(Duration::from_secs(40)),
            "next look when the match leaves its 60 s window"
        );
        tally.record_match(0, 0, b"zoom invalid_client", None, None);
        assert!(!woken(), "a match in a window already holding one does not");
        clock.advance(Duration::from_secs(41));
        assert_eq!(
            reg.tick(),
            Some(Duration::from_secs(19)),
            "the second match is still inside its window"
        );
        clock.advance(Duration::from_secs(19));
        assert_eq!(reg.tick(), None, "every match left its window");
        tally.record_match(0, 0, b"zoom invalid_client", None, None);
        assert!(woken());
    }
}
