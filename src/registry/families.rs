//! Every metric family the daemon exports: names, help texts and label names. This is the only
//! place metric names live (`docs/metrics.md` is their public contract; keep the two in step).

use std::collections::HashSet;

use prometheus::core::{MetricVec, MetricVecBuilder};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Labels of `oauthwatch_errors_total` (and the first four of the per-pod counter).
pub const SERIES_LABELS: [&str; 4] = ["provider", "code", "rule", "source"];
/// Labels of `oauthwatch_rule_info`: identifiers only. Long texts (summary, remediation) are
/// not label values: they would break `label_value_length_limit`, and a rule edited on some
/// instances before others would give one rule two series. They live in the generated alerts.
pub const RULE_INFO_LABELS: [&str; 5] = ["provider", "code", "rule", "severity", "rules_sha256"];
/// Labels of `oauthwatch_pod_errors_total`. The pod's own labels are `k8s_*`, so they cannot
/// collide with the `namespace`, `pod` and `container` target labels a Kubernetes scrape config
/// or PodMonitor attaches (Prometheus would rename ours to `exported_*`).
pub const POD_LABELS: [&str; 7] = [
    "provider",
    "code",
    "rule",
    "source",
    "k8s_namespace",
    "k8s_pod",
    "k8s_container",
];
/// The per-pod label values used once `max_pod_series` is reached.
pub const OVERFLOW: &str = "_overflow";
/// `oauthwatch_lines_degraded_total{reason}` values, in `DropReason` order.
pub const DEGRADED_REASONS: [&str; 3] = ["line_too_long", "record_too_long", "malformed_wrapper"];
/// `oauthwatch_read_errors_total{kind}` values; any other kind counts as `io`.
pub const READ_ERROR_KINDS: [&str; 3] = ["permission_denied", "not_found", "io"];
/// `oauthwatch_config_reloads_total{result}` values.
pub const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// The registered metric families of one registry.
pub struct Families {
    pub errors: IntCounterVec,
    pub rule_info: IntGaugeVec,
    pub alert_hint: IntGaugeVec,
    pub window_matches: IntGaugeVec,
    pub threshold: IntGaugeVec,
    pub window_seconds: IntGaugeVec,
    pub pod_errors: IntCounterVec,
    pub lines: IntCounterVec,
    pub records: IntCounterVec,
    pub bytes: IntCounterVec,
    pub degraded: IntCounterVec,
    pub files_watched: IntGaugeVec,
    pub files_matched: IntGaugeVec,
    pub rotations: IntCounterVec,
    pub truncations: IntCounterVec,
    pub read_errors: IntCounterVec,
    pub checkpoint_failures: IntCounter,
    pub lag: IntGaugeVec,
    pub reloads: IntCounterVec,
    pub last_reload_ok: IntGauge,
    pub last_reload_ts: IntGauge,
    pub ready: IntGauge,
    pub build_info: IntGaugeVec,
}

fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn gauges(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric definition")
}

impl Families {
    /// Define every family and register it (with the process collector) in `reg`.
    pub fn register(reg: &prometheus::Registry) -> Families {
        let rule3 = ["provider", "code", "rule"];
        let f = Families {
            errors: counters(
                "oauthwatch_errors_total",
                "OAuth failures classified, per rule and source.",
                &SERIES_LABELS,
            ),
            rule_info: gauges(
                "oauthwatch_rule_info",
                "Always 1: each loaded rule's identifiers, severity, and the SHA-256 of its rule file (texts are in the generated alerts).",
                &RULE_INFO_LABELS,
            ),
            alert_hint: gauges(
                "oauthwatch_alert_hint",
                "1 while the rule's alert condition (N matches within its window) holds for the source, else 0.",
                &["provider", "code", "rule", "severity", "source"],
            ),
            window_matches: gauges(
                "oauthwatch_alert_window_matches",
                "Matches of the rule from the source inside the rule's alert window now.",
                &SERIES_LABELS,
            ),
            threshold: gauges(
                "oauthwatch_alert_threshold",
                "Matches within the alert window that make the alert hint 1 (the rule's alert count).",
                &rule3,
            ),
            window_seconds: gauges(
                "oauthwatch_alert_window_seconds",
                "The rule's alert window, in seconds.",
                &rule3,
            ),
            pod_errors: counters(
                "oauthwatch_pod_errors_total",
                "OAuth failures per Kubernetes pod (sources with kubernetes_metadata); bounded, excess under _overflow.",
                &POD_LABELS,
            ),
            lines: counters(
                "oauthwatch_source_lines_total",
                "Physical lines read.",
                &["source"],
            ),
            records: counters(
                "oauthwatch_source_records_total",
                "Records (after multi-line joining) classified.",
                &["source"],
            ),
            bytes: counters(
                "oauthwatch_source_bytes_total",
                "Bytes read.",
                &["source"],
            ),
            degraded: counters(
                "oauthwatch_lines_degraded_total",
                "Lines truncated, records split, or container lines passed through unwrapped, by \
                 reason; no line is dropped.",
                &["source", "reason"],
            ),
            files_watched: gauges(
                "oauthwatch_files_watched",
                "Files currently tailed.",
                &["source"],
            ),
            files_matched: gauges(
                "oauthwatch_source_files_matched",
                "Files the source's globs match now (after excludes), updated at every \
                 discovery pass; 0 means the source reads nothing. File sources only.",
                &["source"],
            ),
            rotations: counters(
                "oauthwatch_file_rotations_total",
                "File rotations seen (rename, or a new file at the path).",
                &["source"],
            ),
            truncations: counters(
                "oauthwatch_file_truncations_total",
                "File truncations seen (copytruncate, in-place).",
                &["source"],
            ),
            read_errors: counters(
                "oauthwatch_read_errors_total",
                "File open/read failures, by kind.",
                &["source", "kind"],
            ),
            checkpoint_failures: IntCounter::new(
                "oauthwatch_checkpoint_write_failures_total",
                "Checkpoint writes that failed.",
            )
            .expect("valid metric definition"),
            lag: gauges(
                "oauthwatch_source_lag_bytes",
                "Bytes of the source's open files not yet classified: file size minus acknowledged \
                 offset, summed over its files; grows while the daemon falls behind.",
                &["source"],
            ),
            reloads: counters(
                "oauthwatch_config_reloads_total",
                "Config/rule reloads, by result.",
                &["result"],
            ),
            last_reload_ok: gauge(
                "oauthwatch_config_last_reload_successful",
                "1 if the last config/rule reload succeeded (1 at start).",
            ),
            last_reload_ts: gauge(
                "oauthwatch_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful config/rule load.",
            ),
            ready: gauge(
                "oauthwatch_ready",
                "1 once rules are loaded and sources are open.",
            ),
            build_info: gauges(
                "oauthwatch_build_info",
                "Always 1: the build's version, git revision and compiler.",
                &["version", "revision", "rustc"],
            ),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(f.errors.clone()),
            Box::new(f.rule_info.clone()),
            Box::new(f.alert_hint.clone()),
            Box::new(f.window_matches.clone()),
            Box::new(f.threshold.clone()),
            Box::new(f.window_seconds.clone()),
            Box::new(f.pod_errors.clone()),
            Box::new(f.lines.clone()),
            Box::new(f.records.clone()),
            Box::new(f.bytes.clone()),
            Box::new(f.degraded.clone()),
            Box::new(f.files_watched.clone()),
            Box::new(f.files_matched.clone()),
            Box::new(f.rotations.clone()),
            Box::new(f.truncations.clone()),
            Box::new(f.read_errors.clone()),
            Box::new(f.checkpoint_failures.clone()),
            Box::new(f.lag.clone()),
            Box::new(f.reloads.clone()),
            Box::new(f.last_reload_ok.clone()),
            Box::new(f.last_reload_ts.clone()),
            Box::new(f.ready.clone()),
            Box::new(f.build_info.clone()),
        ];
        for c in collectors {
            reg.register(c).expect("metric names are unique");
        }
        #[cfg(target_os = "linux")]
        reg.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process metrics register once");
        f
    }
}

/// The label sets of one family that are exported now, so a reload can remove the ones that
/// are gone and keep (not reset) the ones that remain.
pub struct LiveSet {
    live: HashSet<Vec<String>>,
}

impl LiveSet {
    /// Nothing exported yet.
    pub fn new() -> LiveSet {
        LiveSet {
            live: HashSet::new(),
        }
    }

    /// Make `wanted` the exported label sets of `vec`: remove the others, create missing ones
    /// (at 0), leave the values of the ones that stay.
    pub fn sync<T: MetricVecBuilder>(&mut self, vec: &MetricVec<T>, wanted: HashSet<Vec<String>>) {
        for gone in self.live.difference(&wanted) {
            let _ = vec.remove_label_values(gone);
        }
        for labels in &wanted {
            let _ = vec.with_label_values(labels);
        }
        self.live = wanted;
    }
}
