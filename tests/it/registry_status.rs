//! What the registry tells the status page and `/readyz`, through its public interface with a
//! hand-driven clock: each rule's last hour summed over sources, per-source state that
//! survives a reload, the files-matched gauge and its removal, and the lag account.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use oauthwatch::classifier::{AlertCondition, Rule, RuleSet, Severity};
use oauthwatch::registry::{ManualClock, Registry, SourceLabels};
use oauthwatch::sources::file::identity::FileId;
use oauthwatch::sources::{LagMeter, SourceObserver, SourceSpec};

/// A whole minute, so per-minute buckets are easy to reason about.
const T0: u64 = 1_800_000_000;

fn rule(id: &str, code: &str, severity: Severity) -> Rule {
    Rule {
        id: id.to_string(),
        provider: "zoom".to_string(),
        codes: vec![code.to_string()],
        message: String::new(),
        description: String::new(),
        severity,
        alert: AlertCondition {
            count: 3,
            window: Duration::from_secs(300),
        },
        summary: format!("Summary of {id}"),
        remediation: format!("Fix {id}"),
        catch_all: false,
    }
}

fn labels(names: &[&str]) -> Vec<SourceLabels> {
    names
        .iter()
        .map(|n| SourceLabels {
            name: n.to_string(),
            kubernetes_metadata: false,
        })
        .collect()
}

fn spec(name: &str, glob: &str) -> SourceSpec {
    SourceSpec {
        name: name.to_string(),
        paths: vec![glob.to_string()],
        exclude: vec!["*.gz".to_string()],
        format: Default::default(),
        provider: None,
        start_at: Default::default(),
        stdin: false,
        kubernetes_metadata: false,
    }
}

fn setup() -> (
    Arc<ManualClock>,
    Registry,
    Arc<oauthwatch::registry::MatchRecorder>,
) {
    let clock = Arc::new(ManualClock::new(T0));
    let reg = Registry::with_clock(10, clock.clone());
    let rules = RuleSet::without_matchers(vec![
        rule("invalid_client", "4702", Severity::Critical),
        rule("token_revoked", "4741", Severity::Warning),
    ]);
    let tally = reg.install(Arc::new(rules), &labels(&["app", "api"]));
    reg.describe_sources(&[
        spec("app", "/var/log/app/*.log"),
        spec("api", "/srv/api/*.log"),
    ]);
    (clock, reg, tally)
}

fn gauge(reg: &Registry, name: &str, source: &str) -> Option<String> {
    let text = String::from_utf8(reg.encode()).unwrap();
    let prefix = format!("{name}{{source=\"{source}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
}

#[test]
fn each_rules_last_hour_is_summed_over_sources_minute_by_minute_and_ages_out() {
    let (clock, reg, tally) = setup();
    tally.record_match(0, 0, b"r", None, None);
    tally.record_match(1, 0, b"r", None, None);
    clock.advance(Duration::from_secs(120));
    tally.record_match(0, 0, b"r", None, None);
    let status = reg.status();
    assert_eq!(
        status.rules.len(),
        1,
        "rules without failures have no history"
    );
    let h = &status.rules[0];
    assert_eq!(
        (h.rule.as_str(), h.severity.as_str()),
        ("invalid_client", "critical")
    );
    assert_eq!(h.per_minute.len(), 60);
    assert_eq!(&h.per_minute[57..], &[2, 0, 1]);
    clock.advance(Duration::from_secs(58 * 60));
    assert_eq!(reg.status().rules[0].per_minute.iter().sum::<u64>(), 1);
    clock.advance(Duration::from_secs(3 * 60));
    assert!(reg.status().rules.is_empty());
}

#[test]
fn sources_report_globs_files_matched_lines_and_last_read_and_survive_a_reload() {
    let (clock, reg, _tally) = setup();
    // Before the first discovery nothing is known and no gauge is exported.
    assert_eq!(gauge(&reg, "oauthwatch_source_files_matched", "app"), None);
    assert_eq!(reg.status().sources[0].files_matched, None);
    reg.files_matched(0, 0);
    reg.files_matched(1, 2);
    reg.read(1, 300, 3, 3);
    assert_eq!(
        gauge(&reg, "oauthwatch_source_files_matched", "app").as_deref(),
        Some("0")
    );
    assert_eq!(
        reg.source_warnings(),
        vec![
            "source `app`: no file matches /var/log/app/*.log (exclude *.gz); nothing is read \
             from it until one appears"
                .to_string()
        ]
    );
    let s = reg.status();
    assert_eq!(s.sources[0].globs, vec!["/var/log/app/*.log".to_string()]);
    assert_eq!(s.sources[1].files_matched, Some(2));
    assert_eq!(s.sources[1].lines, 3);
    assert_eq!(
        s.sources[1].last_read.as_deref(),
        Some(oauthwatch::registry::rfc3339(T0).as_str())
    );
    assert_eq!(s.sources[0].last_read, None);

    // A reload that drops `app` and keeps `api`: app's gauge goes, api's state stays.
    clock.advance(Duration::from_secs(10));
    let rules = RuleSet::without_matchers(vec![rule("invalid_client", "4702", Severity::Critical)]);
    reg.install(Arc::new(rules), &labels(&["api"]));
    assert_eq!(gauge(&reg, "oauthwatch_source_files_matched", "app"), None);
    assert_eq!(
        gauge(&reg, "oauthwatch_source_files_matched", "api").as_deref(),
        Some("2")
    );
    let s = reg.status();
    assert_eq!(s.sources.len(), 1);
    assert_eq!(s.sources[0].globs, vec!["/srv/api/*.log".to_string()]);
    assert_eq!(s.sources[0].files_matched, Some(2));
    assert!(reg.source_warnings().is_empty());
}

#[test]
fn lag_is_read_from_the_sources_account_at_every_scrape() {
    let (_clock, reg, _tally) = setup();
    let meter = Arc::new(LagMeter::default());
    reg.track_lag(0, meter.clone());
    let acked = Arc::new(AtomicU64::new(100));
    let a = FileId { dev: 1, ino: 1 };
    let b = FileId { dev: 1, ino: 2 };
    meter.set(a, 1000, &acked);
    meter.set(b, 50, &Arc::new(AtomicU64::new(0)));
    assert_eq!(
        gauge(&reg, "oauthwatch_source_lag_bytes", "app").as_deref(),
        Some("950")
    );
    // The consumer acknowledges: no report from the reader is needed for the gauge to move.
    acked.store(1000, std::sync::atomic::Ordering::Release);
    assert_eq!(
        gauge(&reg, "oauthwatch_source_lag_bytes", "app").as_deref(),
        Some("50")
    );
    meter.remove(b);
    assert_eq!(reg.status().sources[0].lag_bytes, 0);
}
