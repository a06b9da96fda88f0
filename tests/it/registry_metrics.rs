//! The metrics exposition through the registry's public interface: series and labels exactly as
//! `docs/metrics.md` promises, reload semantics, bounded per-pod series, self-monitoring, no log
//! text in labels, and a real `promtool check metrics` over the output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use oauthwatch::classifier::{AlertCondition, Rule, RuleSet, Severity};
use oauthwatch::registry::{ManualClock, Registry, SourceLabels};
use oauthwatch::sources::{DropReason, K8sRef, SourceObserver};

const T0: u64 = 1_790_000_000;

fn rule(id: &str, codes: &[&str], catch_all: bool, count: u64, window: u64) -> Rule {
    Rule {
        id: id.to_string(),
        provider: "zoom".to_string(),
        codes: codes.iter().map(|c| c.to_string()).collect(),
        message: format!("message of {id}"),
        description: format!("description of {id}"),
        severity: if catch_all {
            Severity::Info
        } else {
            Severity::Warning
        },
        alert: AlertCondition {
            count,
            window: Duration::from_secs(window),
        },
        summary: format!("Summary of {id}"),
        remediation: format!("Fix {id}: check \"the\" settings.\nThen retry."),
        catch_all,
    }
}

/// A single-code rule, a two-code row, and the catch-all.
fn three_rules() -> Vec<Rule> {
    vec![
        rule("invalid_authorization_code", &["4734"], false, 5, 300),
        rule("invalid_client", &["4702", "4704"], false, 1, 60),
        rule("unclassified", &[], true, 10, 600),
    ]
}

fn source(name: &str, k8s: bool) -> SourceLabels {
    SourceLabels {
        name: name.to_string(),
        kubernetes_metadata: k8s,
    }
}

fn k8s(ns: &str, pod: &str) -> K8sRef {
    K8sRef {
        namespace: ns.to_string(),
        pod: pod.to_string(),
        container: "app".to_string(),
    }
}

type Labels = BTreeMap<String, String>;

/// Samples of a text exposition: (metric name, labels, value).
fn parse(text: &str) -> Vec<(String, Labels, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let (n, v) = line.split_once(' ').expect("sample line");
                out.push((n.to_string(), Labels::new(), v.trim().parse().unwrap()));
                continue;
            }
        };
        let mut labels = Labels::new();
        let mut chars = rest.char_indices().peekable();
        let mut end = 0;
        loop {
            let mut key = String::new();
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                if c == '}' {
                    end = i;
                    break;
                }
                if c != ',' {
                    key.push(c);
                }
            }
            if key.is_empty() {
                break;
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(o) => value.push(o),
                        None => panic!("bad escape in {line}"),
                    },
                    '"' => break,
                    o => value.push(o),
                }
            }
            labels.insert(key, value);
        }
        let value = rest[end + 1..].trim();
        out.push((name.to_string(), labels, value.parse().unwrap()));
    }
    out
}

fn text(reg: &Registry) -> String {
    String::from_utf8(reg.encode()).expect("exposition is UTF-8")
}

fn series<'a>(samples: &'a [(String, Labels, f64)], name: &str) -> Vec<&'a (String, Labels, f64)> {
    samples.iter().filter(|(n, _, _)| n == name).collect()
}

fn value(samples: &[(String, Labels, f64)], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_rule_and_source_series_starts_at_zero_with_exact_labels() {
    let reg = Registry::new(10);
    reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false), source("worker", true)],
    );
    let s = parse(&text(&reg));
    let errors: BTreeSet<Labels> = series(&s, "oauthwatch_errors_total")
        .into_iter()
        .map(|(_, l, v)| {
            assert_eq!(*v, 0.0);
            l.clone()
        })
        .collect();
    let mut want = BTreeSet::new();
    for (code, rule) in [
        ("4734", "invalid_authorization_code"),
        ("4702,4704", "invalid_client"),
        ("unknown", "unclassified"),
    ] {
        for src in ["api", "worker"] {
            want.insert(labels(&[
                ("provider", "zoom"),
                ("code", code),
                ("rule", rule),
                ("source", src),
            ]));
        }
    }
    assert_eq!(errors, want);
    // Hints exist (at 0) for every rule × source, with severity.
    let hints = series(&s, "oauthwatch_alert_hint");
    assert_eq!(hints.len(), 6);
    assert!(hints.iter().all(|(_, _, v)| *v == 0.0));
    assert_eq!(
        value(
            &s,
            "oauthwatch_alert_hint",
            &[("rule", "invalid_client"), ("source", "worker")]
        ),
        Some(0.0)
    );
    let hint_labels: BTreeSet<String> = hints[0].1.keys().cloned().collect();
    assert_eq!(
        hint_labels,
        ["code", "provider", "rule", "severity", "source"]
            .map(String::from)
            .into()
    );
    assert_eq!(series(&s, "oauthwatch_alert_window_matches").len(), 6);
    // No per-pod series before a match.
    assert!(series(&s, "oauthwatch_pod_errors_total").is_empty());
}

/// rule_info names each rule and its rule file's version, and carries no long text: the
/// summary and remediation live in the generated alerts (a label value of hundreds of
/// characters breaks `label_value_length_limit`, and two instances with different texts would
/// give one rule two series).
#[test]
fn rule_info_carries_identifiers_and_the_rule_file_hash_only() {
    let reg = Registry::new(10);
    reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false)],
    );
    let s = parse(&text(&reg));
    let info = series(&s, "oauthwatch_rule_info");
    assert_eq!(info.len(), 3);
    let two = info
        .iter()
        .find(|(_, l, _)| l["rule"] == "invalid_client")
        .unwrap();
    assert_eq!(two.2, 1.0);
    assert_eq!(
        two.1,
        labels(&[
            ("provider", "zoom"),
            ("code", "4702,4704"),
            ("rule", "invalid_client"),
            ("severity", "warning"),
            ("rules_sha256", ""),
        ])
    );
    for (_, l, _) in &info {
        assert!(!l.contains_key("summary") && !l.contains_key("remediation"));
    }

    let r = [("rule", "unclassified")];
    assert_eq!(value(&s, "oauthwatch_alert_threshold", &r), Some(10.0));
    assert_eq!(
        value(&s, "oauthwatch_alert_window_seconds", &r),
        Some(600.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_rule_info", &[("rule", "unclassified")]).map(|_| ()),
        Some(())
    );
    assert_eq!(
        value(
            &s,
            "oauthwatch_rule_info",
            &[("code", "unknown"), ("severity", "info")]
        ),
        Some(1.0)
    );
    // A set loaded from a rule file carries that file's SHA-256, as `sha256sum` prints it.
    let text_of_file = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/zoom-oauth.toml"
    ));
    let embedded = RuleSet::from_toml(text_of_file, "zoom-oauth.toml").unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, text_of_file.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let reg = Registry::new(10);
    reg.install(Arc::new(embedded), &[source("api", false)]);
    let s = parse(&text(&reg));
    let info = series(&s, "oauthwatch_rule_info");
    assert!(!info.is_empty());
    for (_, l, _) in &info {
        assert_eq!(l["rules_sha256"], hex, "{l:?}");
    }
}

#[test]
fn matches_count_per_rule_and_source() {
    let reg = Registry::new(10);
    let tally = reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false), source("worker", false)],
    );
    for _ in 0..3 {
        tally.record_match(1, 1, b"invalid_client", None, None);
    }
    tally.record_match(0, 0, b"code", None, None);
    // Out-of-range indices are ignored, not a panic.
    tally.record_match(2, 0, b"x", None, None);
    tally.record_match(0, 9, b"x", None, None);
    let s = parse(&text(&reg));
    let v = |rule, src| {
        value(
            &s,
            "oauthwatch_errors_total",
            &[("rule", rule), ("source", src)],
        )
    };
    assert_eq!(v("invalid_client", "worker"), Some(3.0));
    assert_eq!(v("invalid_client", "api"), Some(0.0));
    assert_eq!(v("invalid_authorization_code", "api"), Some(1.0));
    assert_eq!(v("unclassified", "api"), Some(0.0));
    // invalid_client alerts on one match in 60 s: active for worker only.
    assert_eq!(
        value(
            &s,
            "oauthwatch_alert_hint",
            &[("rule", "invalid_client"), ("source", "worker")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "oauthwatch_alert_hint",
            &[("rule", "invalid_client"), ("source", "api")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "oauthwatch_alert_window_matches",
            &[("rule", "invalid_client"), ("source", "worker")]
        ),
        Some(3.0)
    );
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/registry/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn no_label_value_comes_from_log_text() {
    let reg = Registry::new(2);
    let tally = reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false), source("pods", true)],
    );
    let records = fixture("secret_records.txt");
    for (i, record) in records.lines().enumerate() {
        let reason = record.split("reason").nth(1).unwrap_or(record);
        for rule in 0..3 {
            tally.record_match(
                i % 2,
                rule,
                record.as_bytes(),
                Some(reason.as_bytes()),
                Some(&k8s("payments", &format!("web-{i}"))),
            );
        }
    }
    let out = text(&reg);
    for secret in fixture("secret_strings.txt").lines() {
        assert!(!out.contains(secret), "secret {secret} in metrics");
    }
    for fragment in [
        "weird",
        "Totally new",
        "invalid_grant",
        "server_error",
        "12345",
    ] {
        assert!(!out.contains(fragment), "log text {fragment:?} in metrics");
    }
    // Every label value is from the rules, the config, the fixed enumerations, the build, or
    // the (bounded) pod identity from file names.
    let mut allowed: BTreeSet<String> = BTreeSet::new();
    for r in three_rules() {
        allowed.extend([
            r.id.clone(),
            r.provider.clone(),
            r.code_label(),
            r.severity.as_str().to_string(),
        ]);
    }
    allowed.extend(
        [
            "api",
            "pods",
            "line_too_long",
            "record_too_long",
            "malformed_wrapper",
            "permission_denied",
            "not_found",
            "io",
            "success",
            "failure",
            "payments",
            "web-0",
            "web-1",
            "app",
            "_overflow",
            // rules_sha256 of a set built without a rule file.
            "",
        ]
        .map(String::from),
    );
    for (name, labels, _) in parse(&out) {
        for (k, v) in labels {
            if name == "oauthwatch_build_info" {
                continue;
            }
            assert!(
                allowed.contains(&v),
                "{name}{{{k}={v:?}}} is not from rules/config"
            );
        }
    }
    // The /hints JSON shows samples and reasons, but never a secret.
    let json = serde_json::to_string(&reg.hints()).unwrap();
    for secret in fixture("secret_strings.txt").lines() {
        assert!(!json.contains(secret), "secret {secret} in /hints");
    }
}

#[test]
fn reload_keeps_remaining_counters_and_drops_removed_series() {
    let clock = Arc::new(ManualClock::new(T0));
    let reg = Registry::with_clock(10, clock.clone());
    let first = reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", true), source("old", false)],
    );
    first.record_match(0, 1, b"x", None, Some(&k8s("ns", "p1")));
    first.record_match(0, 1, b"x", None, Some(&k8s("ns", "p1")));
    first.record_match(0, 0, b"x", None, None);
    first.record_match(1, 0, b"x", None, None);
    reg.read(1, 100, 2, 2);
    reg.read(0, 50, 1, 1);
    clock.advance(Duration::from_secs(10));

    // invalid_authorization_code is removed, source "old" is removed, a new rule and source appear.
    let mut next = three_rules();
    next.remove(0);
    next.push(rule("token_revoked", &["4741"], false, 3, 60));
    let second = reg.install(
        Arc::new(RuleSet::without_matchers(next)),
        &[source("api", true), source("new", false)],
    );
    let s = parse(&text(&reg));
    let v = |name, rule: &str, src: &str| value(&s, name, &[("rule", rule), ("source", src)]);
    assert_eq!(
        v("oauthwatch_errors_total", "invalid_client", "api"),
        Some(2.0)
    );
    assert_eq!(
        v("oauthwatch_alert_hint", "invalid_client", "api"),
        Some(1.0)
    );
    assert_eq!(
        v("oauthwatch_alert_window_matches", "invalid_client", "api"),
        Some(2.0)
    );
    assert_eq!(
        v("oauthwatch_errors_total", "token_revoked", "api"),
        Some(0.0)
    );
    assert_eq!(
        v("oauthwatch_errors_total", "token_revoked", "new"),
        Some(0.0)
    );
    assert_eq!(
        v("oauthwatch_pod_errors_total", "invalid_client", "api"),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_source_bytes_total", &[("source", "api")]),
        Some(50.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_source_bytes_total", &[("source", "new")]),
        Some(0.0)
    );
    for (name, l, _) in &s {
        assert_ne!(
            l.get("rule").map(String::as_str),
            Some("invalid_authorization_code"),
            "{name} of a removed rule"
        );
        assert_ne!(
            l.get("source").map(String::as_str),
            Some("old"),
            "{name} of a removed source"
        );
    }
    // The old tally may still be used briefly by the classifier loop: harmless.
    first.record_match(1, 0, b"x", None, None);
    first.record_match(0, 0, b"x", None, Some(&k8s("ns", "p9")));
    second.record_match(1, 2, b"x", None, None);
    let s = parse(&text(&reg));
    assert_eq!(
        value(
            &s,
            "oauthwatch_errors_total",
            &[("rule", "token_revoked"), ("source", "new")]
        ),
        Some(1.0)
    );
    let out = text(&reg);
    assert!(!out.contains("source=\"old\""));
    assert!(
        !out.contains("invalid_authorization_code"),
        "a straggling match must not bring back series of a removed rule"
    );
}

#[test]
fn pod_series_are_bounded_and_overflow_is_labelled() {
    let clock = Arc::new(ManualClock::new(T0));
    let reg = Registry::with_clock(2, clock.clone());
    let tally = reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("plain", false), source("containers", true)],
    );
    for pod in ["a", "b", "c", "d"] {
        tally.record_match(1, 0, b"x", None, Some(&k8s("shop", pod)));
    }
    tally.record_match(1, 0, b"x", None, Some(&k8s("shop", "a")));
    // A source without kubernetes_metadata never gets per-pod series.
    tally.record_match(0, 0, b"x", None, Some(&k8s("shop", "z")));
    let s = parse(&text(&reg));
    let pods: BTreeMap<String, f64> = series(&s, "oauthwatch_pod_errors_total")
        .into_iter()
        .map(|(_, l, v)| {
            assert_eq!(l["source"], "containers");
            assert_eq!(l["rule"], "invalid_authorization_code");
            assert_eq!(l["code"], "4734");
            (
                format!(
                    "{}/{}/{}",
                    l["k8s_namespace"], l["k8s_pod"], l["k8s_container"]
                ),
                *v,
            )
        })
        .collect();
    let want: BTreeMap<String, f64> = [
        ("shop/a/app".to_string(), 2.0),
        ("shop/b/app".to_string(), 1.0),
        ("_overflow/_overflow/_overflow".to_string(), 2.0),
    ]
    .into();
    assert_eq!(pods, want);

    // After an hour without matches, "a" and "b" are idle and make room for new pods.
    clock.advance(Duration::from_secs(1800));
    tally.record_match(1, 0, b"x", None, Some(&k8s("shop", "b")));
    clock.advance(Duration::from_secs(1800));
    tally.record_match(1, 0, b"x", None, Some(&k8s("shop", "e")));
    tally.record_match(1, 0, b"x", None, Some(&k8s("shop", "f")));
    let s = parse(&text(&reg));
    let pods: BTreeSet<String> = series(&s, "oauthwatch_pod_errors_total")
        .into_iter()
        .map(|(_, l, _)| l["k8s_pod"].clone())
        .collect();
    assert_eq!(
        pods,
        ["_overflow", "b", "e"].map(String::from).into(),
        "idle 'a' evicted for 'e'; 'b' was used 30 min ago so 'f' overflows"
    );
}

#[test]
fn self_monitoring_counts_observer_events() {
    let clock = Arc::new(ManualClock::new(T0));
    let reg = Registry::with_clock(10, clock.clone());
    // Before anything: reload results at 0, last reload successful, not ready.
    let s = parse(&text(&reg));
    assert_eq!(
        value(
            &s,
            "oauthwatch_config_reloads_total",
            &[("result", "failure")]
        ),
        Some(0.0)
    );
    assert_eq!(value(&s, "oauthwatch_ready", &[]), Some(0.0));
    assert!(!reg.is_ready());

    reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false), source("web", false)],
    );
    let exposition = text(&reg);
    assert!(
        !exposition.contains("oauthwatch_lines_dropped_total"),
        "renamed to oauthwatch_lines_degraded_total: nothing is dropped"
    );
    let s = parse(&exposition);
    for reason in ["line_too_long", "record_too_long", "malformed_wrapper"] {
        assert_eq!(
            value(
                &s,
                "oauthwatch_lines_degraded_total",
                &[("source", "web"), ("reason", reason)]
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        value(
            &s,
            "oauthwatch_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        Some(T0 as f64)
    );

    reg.read(1, 4096, 40, 38);
    reg.read(1, 100, 1, 1);
    reg.dropped(1, DropReason::LineTooLong);
    reg.dropped(1, DropReason::MalformedWrapper);
    reg.dropped(1, DropReason::MalformedWrapper);
    reg.files_watched(1, 3);
    reg.rotated(1);
    reg.truncated(1);
    reg.truncated(1);
    reg.read_error(1, "permission_denied");
    reg.read_error(1, "something_else");
    reg.checkpoint_write_failed();
    reg.lag_bytes(1, 12345);
    reg.lag_bytes(0, 7);
    reg.read(7, 1, 1, 1); // unknown source: ignored
    reg.set_ready(true);
    clock.advance(Duration::from_secs(60));
    reg.reload_result(false);
    let s = parse(&text(&reg));
    let web = |name: &str| value(&s, name, &[("source", "web")]);
    assert_eq!(web("oauthwatch_source_bytes_total"), Some(4196.0));
    assert_eq!(web("oauthwatch_source_lines_total"), Some(41.0));
    assert_eq!(web("oauthwatch_source_records_total"), Some(39.0));
    assert_eq!(web("oauthwatch_files_watched"), Some(3.0));
    assert_eq!(web("oauthwatch_file_rotations_total"), Some(1.0));
    assert_eq!(web("oauthwatch_file_truncations_total"), Some(2.0));
    assert_eq!(web("oauthwatch_source_lag_bytes"), Some(12345.0));
    let src_reason = |name, k, v| value(&s, name, &[("source", "web"), (k, v)]);
    assert_eq!(
        src_reason(
            "oauthwatch_lines_degraded_total",
            "reason",
            "malformed_wrapper"
        ),
        Some(2.0)
    );
    assert_eq!(
        src_reason("oauthwatch_lines_degraded_total", "reason", "line_too_long"),
        Some(1.0)
    );
    assert_eq!(
        src_reason("oauthwatch_read_errors_total", "kind", "permission_denied"),
        Some(1.0)
    );
    assert_eq!(
        src_reason("oauthwatch_read_errors_total", "kind", "io"),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_source_lag_bytes", &[("source", "api")]),
        Some(7.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_checkpoint_write_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(value(&s, "oauthwatch_ready", &[]), Some(1.0));
    assert!(reg.is_ready());
    assert_eq!(
        value(
            &s,
            "oauthwatch_config_reloads_total",
            &[("result", "failure")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_config_last_reload_successful", &[]),
        Some(0.0)
    );
    clock.advance(Duration::from_secs(60));
    reg.reload_result(true);
    let s = parse(&text(&reg));
    assert_eq!(
        value(
            &s,
            "oauthwatch_config_reloads_total",
            &[("result", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "oauthwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "oauthwatch_config_last_reload_success_timestamp_seconds",
            &[]
        ),
        Some((T0 + 120) as f64)
    );

    // Build identity and the standard process metrics, without prefix.
    let build = series(&s, "oauthwatch_build_info");
    assert_eq!(build.len(), 1);
    let b = &build[0].1;
    assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
    assert!(!b["revision"].is_empty());
    let rustc = &b["rustc"];
    assert!(
        rustc.split('.').count() >= 3 && rustc.chars().next().unwrap().is_ascii_digit(),
        "rustc version {rustc:?}"
    );
    assert_eq!(build[0].2, 1.0);
    if cfg!(target_os = "linux") {
        for name in [
            "process_start_time_seconds",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(!series(&s, name).is_empty(), "{name} missing");
        }
    }
}

/// A registry with everything that can appear in the output: rules of each kind, sources with
/// and without per-pod series, matches, overflow, drops, reloads.
fn busy_registry() -> Registry {
    let reg = Registry::new(1);
    let tally = reg.install(
        Arc::new(RuleSet::without_matchers(three_rules())),
        &[source("api", false), source("containers", true)],
    );
    let records = fixture("secret_records.txt");
    for (i, record) in records.lines().enumerate() {
        tally.record_match(
            1,
            i % 3,
            record.as_bytes(),
            Some(record.as_bytes()),
            Some(&k8s("shop", &format!("web-{i}"))),
        );
        tally.record_match(0, 1, record.as_bytes(), None, None);
    }
    reg.read(0, 1000, 10, 9);
    reg.dropped(1, DropReason::RecordTooLong);
    reg.read_error(0, "not_found");
    reg.files_watched(1, 2);
    reg.files_matched(1, 2);
    reg.lag_bytes(1, 10);
    reg.checkpoint_write_failed();
    reg.reload_result(false);
    reg.reload_result(true);
    reg.set_ready(true);
    reg
}

#[test]
fn promtool_check_metrics_reports_nothing() {
    let out = busy_registry().encode();
    assert!(out.len() > 1000);
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_string());
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{promtool} not runnable ({e}); install Debian's `prometheus` package")
        });
    child.stdin.take().unwrap().write_all(&out).unwrap();
    let res = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(res.status.success(), "promtool failed: {report}");
    assert_eq!(report.trim(), "", "promtool complained");
}

/// No label value on /metrics is longer than 128 characters, with the real rule file (whose
/// remediations reach hundreds of characters) and per-pod series: a Prometheus with
/// `label_value_length_limit` set would otherwise drop the whole target.
#[test]
fn no_label_value_is_longer_than_128_characters() {
    let reg = Registry::new(10);
    let rules = RuleSet::embedded();
    assert!(
        rules.rules().iter().any(|r| r.remediation.len() > 128),
        "the real rule file has long texts"
    );
    let n = rules.rules().len();
    let tally = reg.install(
        Arc::new(rules),
        &[source("api", false), source("containers", true)],
    );
    for i in 0..n {
        tally.record_match(1, i, b"x", Some(b"reason"), Some(&k8s("shop", "web-7d9f5")));
    }
    let out = String::from_utf8(reg.encode()).unwrap();
    let samples = parse(&out);
    assert!(samples.len() > 5 * n, "{out}");
    let mut longest = (0, String::new());
    for (name, labels, _) in &samples {
        for (k, v) in labels {
            if v.chars().count() > longest.0 {
                longest = (v.chars().count(), format!("{name}{{{k}=...}}"));
            }
        }
    }
    assert!(
        longest.0 <= 128,
        "{} characters in {}",
        longest.0,
        longest.1
    );
}

#[test]
fn exposition_lists_every_documented_metric() {
    let out = String::from_utf8(busy_registry().encode()).unwrap();
    let doc =
        std::fs::read_to_string(format!("{}/docs/metrics.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `oauthwatch_"))
        .map(|l| l.split('`').next().unwrap())
        .collect();
    assert!(documented.len() >= 20, "{documented:?}");
    for name in &documented {
        let full = format!("oauthwatch_{name}");
        assert!(
            out.contains(&format!("# TYPE {full} ")),
            "{full} documented but not exported"
        );
        assert!(readme.contains(&full), "{full} missing from README");
    }
    for line in out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE oauthwatch_"))
    {
        let name = line.split(' ').next().unwrap();
        assert!(
            documented.contains(&name),
            "oauthwatch_{name} exported but not in docs/metrics.md"
        );
    }
}

/// Figures, not assertions: `cargo test --test it registry_metrics::figures -- --ignored --nocapture`
/// (add `CARGO_PROFILE_DEV_OPT_LEVEL=2` for optimised figures). Prints the cost of one
/// `record_match` beside a bare counter increment and a bare mutex lock (baselines measured in
/// the same run), and the `encode()` time and size for 40 rules × 4 sources and 500 pod series.
#[test]
#[ignore]
fn figures() {
    use std::time::Instant;
    let rules: Vec<Rule> = (0..40)
        .map(|i| rule(&format!("rule_{i}"), &["4700"], i == 39, 5, 300))
        .collect();
    let reg = Registry::new(500);
    let tally = reg.install(
        Arc::new(RuleSet::without_matchers(rules)),
        &[
            source("a", false),
            source("b", false),
            source("c", false),
            source("pods", true),
        ],
    );
    let record = fixture("secret_records.txt");
    let record = record.lines().next().unwrap().as_bytes();
    let n = 1_000_000u64;

    let counter = prometheus::IntCounter::new("x_total", "x").unwrap();
    let t = Instant::now();
    for _ in 0..n {
        counter.inc();
    }
    let base_inc = t.elapsed().as_nanos() as f64 / n as f64;
    let m = std::sync::Mutex::new(0u64);
    let t = Instant::now();
    for _ in 0..n {
        *m.lock().unwrap() += 1;
    }
    let base_lock = t.elapsed().as_nanos() as f64 / n as f64;

    let t = Instant::now();
    for i in 0..n {
        tally.record_match((i % 3) as usize, (i % 39) as usize, record, None, None);
    }
    let per_match = t.elapsed().as_nanos() as f64 / n as f64;
    let pods: Vec<K8sRef> = (0..600).map(|i| k8s("ns", &format!("pod-{i}"))).collect();
    let t = Instant::now();
    for i in 0..n {
        let p = &pods[(i % 600) as usize];
        tally.record_match(3, (i % 39) as usize, record, None, Some(p));
    }
    let per_pod_match = t.elapsed().as_nanos() as f64 / n as f64;
    let t = Instant::now();
    for i in 0..n / 10 {
        tally.record_match(
            0,
            39,
            record,
            Some(format!("odd failure {}", i % 50).as_bytes()),
            None,
        );
    }
    let per_catch_all = t.elapsed().as_nanos() as f64 / (n / 10) as f64;

    let rounds = 200;
    let t = Instant::now();
    let mut size = 0;
    for _ in 0..rounds {
        size = reg.encode().len();
    }
    let encode_ms = t.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    let t = Instant::now();
    for _ in 0..rounds {
        let _ = reg.hints();
    }
    let hints_ms = t.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    println!("baseline IntCounter::inc            {base_inc:8.1} ns");
    println!("baseline uncontended Mutex lock     {base_lock:8.1} ns");
    println!("record_match (plain source)         {per_match:8.1} ns");
    println!("record_match (k8s source, 600 pods) {per_pod_match:8.1} ns");
    println!("record_match (catch-all + reason)   {per_catch_all:8.1} ns");
    println!("encode(): {encode_ms:.2} ms, {size} bytes; hints(): {hints_ms:.2} ms");
}
