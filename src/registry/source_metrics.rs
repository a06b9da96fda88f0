//! The sources' self-monitoring: lines, records and bytes read, degraded lines, files watched
//! and matched, rotations, truncations, read errors and lag per source, fed by the sources
//! through [`SourceObserver`], and what the status page and `/readyz` say about each source.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{IntCounter, IntGauge};

use super::families::{DEGRADED_REASONS, READ_ERROR_KINDS};
use super::{lock, Installed, Registry};
use crate::sources::{DropReason, K8sRef, LagMeter, SourceIdx, SourceObserver, SourceSpec};

/// What the registry needs to know about a configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLabels {
    /// The `source` label.
    pub name: String,
    /// Whether per-pod series (`oauthwatch_pod_errors_total`) are kept for it.
    pub kubernetes_metadata: bool,
}

/// Per-source self-monitoring handles, indexed by [`SourceIdx`].
pub(super) struct SourceMetrics {
    pub(super) name: String,
    pub(super) lines: IntCounter,
    pub(super) records: IntCounter,
    pub(super) bytes: IntCounter,
    pub(super) degraded: [IntCounter; 3],
    pub(super) files_watched: IntGauge,
    pub(super) rotations: IntCounter,
    pub(super) truncations: IntCounter,
    pub(super) read_errors: [IntCounter; 3],
    pub(super) lag: IntGauge,
    /// What outlives a reload: last read time, matched files, lag meter, globs.
    pub(super) live: Arc<SourceRuntime>,
}

/// Per-source state that is not a Prometheus series and survives reloads (kept by name).
#[derive(Default)]
pub(super) struct SourceRuntime {
    /// Unix seconds of the latest read with data; 0 before the first.
    pub(super) last_read: AtomicU64,
    /// Files the globs matched at the latest discovery; `u64::MAX` before the first report
    /// (and always for stdin sources).
    pub(super) files_matched: AtomicU64,
    /// The file source's lag account, once it has started.
    pub(super) meter: Mutex<Option<Arc<LagMeter>>>,
    /// Globs, excludes and kind, for the status page and `/readyz`.
    pub(super) desc: Mutex<SourceDesc>,
}

/// How a source is configured, as the status page shows it.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceDesc {
    pub(super) paths: Vec<String>,
    pub(super) exclude: Vec<String>,
    pub(super) stdin: bool,
}

impl SourceRuntime {
    pub(super) fn new() -> SourceRuntime {
        SourceRuntime {
            files_matched: AtomicU64::new(u64::MAX),
            ..SourceRuntime::default()
        }
    }
}

impl Registry {
    /// Create (at 0) the self-monitoring series of `sources`, remove those of sources that are
    /// gone, and point the observer at the new index order.
    pub(super) fn install_sources(&self, ins: &mut Installed, sources: &[SourceLabels]) {
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
        let [lines, records, bytes, degraded, files, rotations, truncations, read_errors, lag] =
            &mut ins.per_source;
        lines.sync(&f.lines, one(""));
        records.sync(&f.records, one(""));
        bytes.sync(&f.bytes, one(""));
        degraded.sync(&f.degraded, with(&DEGRADED_REASONS));
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
                    degraded: DEGRADED_REASONS.map(|r| f.degraded.with_label_values(&[&s.name, r])),
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
    pub(super) fn refresh_lag(&self) {
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
            s.degraded[i].inc();
            tracing::debug!(source = %s.name, reason = reason.as_str(), "line truncated, record split or passed through unwrapped");
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
