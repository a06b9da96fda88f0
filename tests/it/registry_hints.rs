//! Alert hints over time (a manual clock drives the windows) and the `/hints` report: what it
//! lists, in which order, with which fields, and that it stays bounded and free of secrets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use oauthwatch::classifier::redact::normalize_reason;
use oauthwatch::classifier::{AlertCondition, Rule, RuleSet, Severity};
use oauthwatch::registry::{
    ManualClock, MatchRecorder, ReasonCount, Registry, SourceLabels, REASONS_SHOWN,
    RECENT_FIRING_SECS, SAMPLE_MAX_CHARS,
};

/// 2026-09-21T14:13:20Z.
const T0: u64 = 1_790_000_000;

fn rule(id: &str, codes: &[&str], catch_all: bool, count: u64, window: u64) -> Rule {
    Rule {
        id: id.to_string(),
        provider: "zoom".to_string(),
        codes: codes.iter().map(|c| c.to_string()).collect(),
        message: String::new(),
        description: String::new(),
        severity: if catch_all {
            Severity::Info
        } else {
            Severity::Critical
        },
        alert: AlertCondition {
            count,
            window: Duration::from_secs(window),
        },
        summary: format!("Summary of {id}"),
        remediation: format!("Remediation of {id}"),
        catch_all,
    }
}

const CODE: usize = 0; // 3 matches in 60 s
const CLIENT: usize = 1; // two codes, 1 match in 300 s
const CATCH_ALL: usize = 2; // 1000 matches in 600 s

fn setup(sources: &[&str]) -> (Arc<ManualClock>, Registry, Arc<MatchRecorder>) {
    let clock = Arc::new(ManualClock::new(T0));
    let reg = Registry::with_clock(10, clock.clone());
    let rules = RuleSet::without_matchers(vec![
        rule("invalid_authorization_code", &["4734"], false, 3, 60),
        rule("invalid_client", &["4702", "4704"], false, 1, 300),
        rule("unclassified", &[], true, 1000, 600),
    ]);
    let sources: Vec<SourceLabels> = sources
        .iter()
        .map(|s| SourceLabels {
            name: s.to_string(),
            kubernetes_metadata: false,
        })
        .collect();
    let tally = reg.install(Arc::new(rules), &sources);
    (clock, reg, tally)
}

/// The value of `name{rule=..,source=..}` in the exposition.
fn gauge(reg: &Registry, name: &str, rule: &str, source: &str) -> f64 {
    let text = String::from_utf8(reg.encode()).unwrap();
    let rule = format!("rule=\"{rule}\"");
    let source = format!("source=\"{source}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&rule) && l.contains(&source))
        .unwrap_or_else(|| panic!("no {name} {rule} {source} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn hint(reg: &Registry, rule: &str, source: &str) -> f64 {
    gauge(reg, "oauthwatch_alert_hint", rule, source)
}

#[test]
fn alert_hint_turns_on_at_the_threshold_and_off_when_the_window_passes() {
    let (clock, reg, tally) = setup(&["api"]);
    let m = || tally.record_match(0, CODE, b"record", None, None);
    m();
    clock.advance(Duration::from_secs(10));
    m();
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 0.0);
    assert_eq!(
        gauge(
            &reg,
            "oauthwatch_alert_window_matches",
            "invalid_authorization_code",
            "api"
        ),
        2.0
    );
    clock.advance(Duration::from_secs(10));
    m();
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 1.0);
    // The first match (T0) leaves the 60 s window at T0+60: nothing else has to happen.
    clock.set(T0 + 59);
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 1.0);
    clock.set(T0 + 60);
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 0.0);
    assert_eq!(
        gauge(
            &reg,
            "oauthwatch_alert_window_matches",
            "invalid_authorization_code",
            "api"
        ),
        2.0
    );
    clock.set(T0 + 80);
    assert_eq!(
        gauge(
            &reg,
            "oauthwatch_alert_window_matches",
            "invalid_authorization_code",
            "api"
        ),
        0.0
    );
    // The counter is not a window: it keeps counting.
    assert_eq!(
        gauge(
            &reg,
            "oauthwatch_errors_total",
            "invalid_authorization_code",
            "api"
        ),
        3.0
    );
}

#[test]
fn hints_are_per_source() {
    let (_clock, reg, tally) = setup(&["api", "batch"]);
    for _ in 0..3 {
        tally.record_match(1, CODE, b"r", None, None);
    }
    tally.record_match(0, CODE, b"r", None, None);
    tally.record_match(0, CODE, b"r", None, None);
    assert_eq!(hint(&reg, "invalid_authorization_code", "batch"), 1.0);
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 0.0);
    let report = reg.hints();
    let active: Vec<_> = report.hints.iter().filter(|h| h.active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].source, "batch");
}

#[test]
fn hints_report_lists_active_first_with_rule_text_counts_and_times() {
    let (clock, reg, tally) = setup(&["api"]);
    assert!(reg.hints().hints.is_empty(), "nothing matched yet");
    tally.record_match(0, CODE, b"first code failure", None, None);
    clock.advance(Duration::from_secs(5));
    tally.record_match(0, CODE, b"second code failure", None, None);
    clock.advance(Duration::from_secs(5));
    tally.record_match(0, CLIENT, b"client failure", None, None);
    clock.advance(Duration::from_secs(5));

    let report = reg.hints();
    assert_eq!(report.generated_at, "2026-09-21T14:13:35Z");
    assert_eq!(report.hints.len(), 2);
    let client = &report.hints[0];
    assert!(client.active, "the active hint comes first");
    assert_eq!(client.rule, "invalid_client");
    assert_eq!(client.codes, vec!["4702", "4704"]);
    assert_eq!(client.code, "4702,4704");
    assert_eq!(client.provider, "zoom");
    assert_eq!(client.source, "api");
    assert_eq!(client.severity, "critical");
    assert_eq!(client.summary, "Summary of invalid_client");
    assert_eq!(client.remediation, "Remediation of invalid_client");
    assert_eq!(client.count_in_window, 1);
    assert_eq!(client.threshold, 1);
    assert_eq!(client.window_seconds, 300);
    assert_eq!(client.first_seen, "2026-09-21T14:13:30Z");
    assert_eq!(client.last_seen, "2026-09-21T14:13:30Z");
    assert_eq!(client.last_fired.as_deref(), Some("2026-09-21T14:13:35Z"));
    assert!(!client.sample.is_empty());
    assert!(client.unmatched_reasons.is_empty());

    let code = &report.hints[1];
    assert!(!code.active);
    assert_eq!(code.rule, "invalid_authorization_code");
    assert_eq!(code.count_in_window, 2);
    assert_eq!(code.threshold, 3);
    assert_eq!(code.first_seen, "2026-09-21T14:13:20Z");
    assert_eq!(code.last_seen, "2026-09-21T14:13:25Z");
    assert_eq!(code.last_fired, None);

    // The JSON shape `/hints` serves.
    let json = serde_json::to_value(&report).unwrap();
    let entry = json["hints"][0].as_object().unwrap();
    for key in [
        "rule",
        "provider",
        "codes",
        "code",
        "source",
        "severity",
        "summary",
        "remediation",
        "active",
        "count_in_window",
        "threshold",
        "window_seconds",
        "first_seen",
        "last_seen",
        "last_fired",
        "sample",
    ] {
        assert!(entry.contains_key(key), "{key} missing from {entry:?}");
    }
    assert_eq!(json["hints"][1]["last_fired"], serde_json::Value::Null);
}

#[test]
fn an_entry_leaves_the_report_when_its_window_passes_unless_it_fired() {
    let (clock, reg, tally) = setup(&["api"]);
    tally.record_match(0, CODE, b"r", None, None); // below threshold
    tally.record_match(0, CLIENT, b"r", None, None); // fires
    clock.advance(Duration::from_secs(301));
    let report = reg.hints();
    assert_eq!(report.hints.len(), 1, "{report:?}");
    let h = &report.hints[0];
    assert_eq!(h.rule, "invalid_client");
    assert!(!h.active);
    assert_eq!(h.count_in_window, 0);
    assert_eq!(h.last_fired.as_deref(), Some("2026-09-21T14:13:20Z"));
    // A day after it last fired, it is gone too.
    clock.set(T0 + RECENT_FIRING_SECS);
    assert!(reg.hints().hints.is_empty());
}

#[test]
fn a_hint_fires_even_if_its_window_passes_between_two_scrapes() {
    let (clock, reg, tally) = setup(&["api"]);
    for _ in 0..3 {
        tally.record_match(0, CODE, b"r", None, None);
    }
    clock.advance(Duration::from_secs(120));
    let report = reg.hints();
    assert_eq!(report.hints.len(), 1);
    assert_eq!(
        report.hints[0].last_fired.as_deref(),
        Some("2026-09-21T14:13:20Z")
    );
}

#[test]
fn catch_all_lists_the_most_frequent_normalised_reasons_bounded() {
    let (_clock, reg, tally) = setup(&["api"]);
    let mut expected: HashMap<String, u64> = HashMap::new();
    for i in 0..60u64 {
        let reason = format!("Unexpected failure kind-{} for user {}", i % 30, 1000 + i);
        for _ in 0..=(i % 30) {
            tally.record_match(0, CATCH_ALL, b"record", Some(reason.as_bytes()), None);
            *expected
                .entry(normalize_reason(reason.as_bytes()))
                .or_default() += 1;
        }
    }
    // Reasons of other rules are not collected.
    tally.record_match(0, CODE, b"r", Some(b"Invalid authorization code"), None);
    let mut want: Vec<ReasonCount> = expected
        .into_iter()
        .map(|(reason, count)| ReasonCount { reason, count })
        .collect();
    want.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    want.truncate(REASONS_SHOWN);

    let report = reg.hints();
    let entry = report
        .hints
        .iter()
        .find(|h| h.rule == "unclassified")
        .unwrap();
    assert_eq!(entry.code, "unknown");
    assert!(entry.codes.is_empty());
    assert!(entry.unmatched_reasons.len() <= REASONS_SHOWN);
    assert_eq!(entry.unmatched_reasons, want);
    let code = report
        .hints
        .iter()
        .find(|h| h.rule == "invalid_authorization_code")
        .unwrap();
    assert!(code.unmatched_reasons.is_empty());
}

#[test]
fn samples_are_redacted_and_bounded() {
    let (_clock, reg, tally) = setup(&["api"]);
    let secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.SECRETsignature0123456789";
    let mut record =
        format!("{{\"error\":\"invalid_grant\",\"access_token\":\"{secret}\",\"pad\":\"");
    record.push_str(&"x ".repeat(100_000));
    record.push_str("\"}");
    tally.record_match(0, CLIENT, record.as_bytes(), None, None);
    let h = &reg.hints().hints[0];
    assert!(!h.sample.contains(secret));
    assert!(!h.sample.contains("SECRETsignature"));
    assert!(
        h.sample.chars().count() <= SAMPLE_MAX_CHARS + 2,
        "{} chars",
        h.sample.chars().count()
    );
}

#[test]
fn a_reload_keeps_windows_and_follows_changed_alert_conditions() {
    let (clock, reg, tally) = setup(&["api"]);
    for _ in 0..2 {
        tally.record_match(0, CODE, b"r", None, None);
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 0.0);
    // Same rule, now alerting at 2 matches and with a new severity.
    let mut changed = rule("invalid_authorization_code", &["4734"], false, 2, 60);
    changed.severity = Severity::Warning;
    reg.install(
        Arc::new(RuleSet::without_matchers(vec![changed])),
        &[SourceLabels {
            name: "api".to_string(),
            kubernetes_metadata: false,
        }],
    );
    assert_eq!(hint(&reg, "invalid_authorization_code", "api"), 1.0);
    let text = String::from_utf8(reg.encode()).unwrap();
    assert!(text.contains("severity=\"warning\""));
    assert!(
        !text.contains("severity=\"critical\""),
        "old severity series removed"
    );
    let h = &reg.hints().hints[0];
    assert_eq!(h.first_seen, "2026-09-21T14:13:20Z");
    assert_eq!(h.threshold, 2);
    assert_eq!(h.severity, "warning");
}
