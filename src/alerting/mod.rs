//! The Prometheus rules for oauthwatch, generated from the rule file and one settings file.
//!
//! Paging happens in PromQL on the failure counters, not on the daemon's in-process alert hint:
//! one alert per rule, `sum by (<deployment labels>, provider, code, rule)
//! (increase(oauthwatch_errors_total{rule="…"}[window])) >= count`, with the rule's count,
//! window, severity, summary and remediation taken from the rule file. A sum over instances and
//! sources makes a fleet's failures add up; counters survive restarts (`increase` handles the
//! reset) and missed scrapes; `keep_firing_for` rides out the rest. The daemon's hint stays for
//! `/hints` and the status page.
//!
//! [`AlertSettings`] is the one place a user customises the rules, like a monitoring mixin's
//! config: selector, deployment labels, expected jobs, runbook URL, `for`, `keep_firing_for`,
//! and per-rule overrides. Its shipped version is `deploy/prometheus/alerts.toml` (compiled in as
//! [`DEFAULT_SETTINGS`]); `oauthwatch alerts` prints [`rules_yaml`] and
//! `tests/it/deploy_rules.rs` keeps `deploy/prometheus/oauthwatch.rules.yml` equal to it.
//! Pure: text in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::classifier::{Rule, RuleSet, Severity};
use crate::diag::{Diagnostic, Diagnostics};
use crate::duration::{format_duration, parse_duration};
use crate::reference::{one_line, provider_title as title, rule_anchor};

/// The shipped settings (`deploy/prometheus/alerts.toml`), used when no settings file is given.
pub const DEFAULT_SETTINGS: &str = include_str!("../../deploy/prometheus/alerts.toml");

/// The name of [`DEFAULT_SETTINGS`] in diagnostics.
pub const DEFAULT_SETTINGS_ORIGIN: &str = "<embedded>/alerts.toml";

/// The alert name every per-rule alert carries; the `rule` label tells them apart, so one
/// Alertmanager route and one silence matcher cover them all.
pub const RULE_ALERT: &str = "OAuthTokenFailures";

/// How the generated rules select, group, link and time their alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// PromQL label matchers added to every oauthwatch selector (`job=~".*oauthwatch.*"`).
    pub selector: String,
    /// Labels that identify a deployment; every aggregation keeps them.
    pub deployment_labels: Vec<String>,
    /// Scrape jobs whose absence from discovery pages.
    pub expected_jobs: Vec<String>,
    /// Runbook base URL; alerts append `#rule-<id>` or `#alert-<name>`.
    pub runbook_url: String,
    /// `for` of the per-rule alerts.
    pub for_: Duration,
    /// `keep_firing_for` of the per-rule alerts.
    pub keep_firing_for: Duration,
    /// Range of the recording rules' `rate()`.
    pub rate_window: Duration,
    /// `for` of the instance-down and job-down alerts.
    pub down_for: Duration,
    /// How long a source must match no file before it alerts.
    pub no_files_for: Duration,
    /// Per-rule overrides of the rule file's alert condition, by rule id.
    pub rules: BTreeMap<String, RuleOverride>,
}

/// A per-rule override: any field left out keeps the rule file's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleOverride {
    /// Failures within the window that fire the alert.
    pub count: Option<u64>,
    /// The window of `increase()`.
    pub window: Option<Duration>,
    /// The `severity` label.
    pub severity: Option<Severity>,
    /// `for` of this rule's alert.
    pub for_: Option<Duration>,
    /// No alert for this rule.
    pub disabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    selector: String,
    deployment_labels: Vec<Spanned<String>>,
    #[serde(default)]
    expected_jobs: Vec<String>,
    runbook_url: String,
    #[serde(rename = "for")]
    for_: Spanned<String>,
    keep_firing_for: Spanned<String>,
    rate_window: Spanned<String>,
    down_for: Spanned<String>,
    no_files_for: Spanned<String>,
    #[serde(default)]
    rules: BTreeMap<Spanned<String>, RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    count: Option<Spanned<u64>>,
    window: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<String>>,
    #[serde(default)]
    disabled: bool,
}

impl AlertSettings {
    /// The shipped settings.
    pub fn shipped() -> AlertSettings {
        AlertSettings::parse(
            DEFAULT_SETTINGS,
            DEFAULT_SETTINGS_ORIGIN,
            &RuleSet::embedded(),
        )
        .expect("the shipped alerts.toml is valid (checked by tests)")
    }

    /// Parse and validate a settings file against the rules it will generate alerts for;
    /// every problem is reported with file, line and field.
    pub fn parse(text: &str, origin: &str, rules: &RuleSet) -> Result<AlertSettings, Diagnostics> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            Diagnostics::from(Diagnostic::at_offset(
                origin,
                text,
                offset,
                None,
                e.message().to_string(),
            ))
        })?;
        let mut diags = Diagnostics::default();
        let mut duration = |field: &str, v: &Spanned<String>| -> Duration {
            parse_duration(v.get_ref()).unwrap_or_else(|msg| {
                diags.push(Diagnostic::at_offset(
                    origin,
                    text,
                    v.span().start,
                    Some(field.to_string()),
                    msg,
                ));
                Duration::ZERO
            })
        };
        let for_ = duration("for", &raw.for_);
        let keep_firing_for = duration("keep_firing_for", &raw.keep_firing_for);
        let rate_window = duration("rate_window", &raw.rate_window);
        let down_for = duration("down_for", &raw.down_for);
        let no_files_for = duration("no_files_for", &raw.no_files_for);
        let mut overrides = BTreeMap::new();
        for (id, o) in &raw.rules {
            let field = format!("rules.{}", id.get_ref());
            let window = o
                .window
                .as_ref()
                .map(|w| duration(&format!("{field}.window"), w));
            let rule_for = o
                .for_
                .as_ref()
                .map(|w| duration(&format!("{field}.for"), w));
            overrides.insert(
                id.get_ref().clone(),
                (id.span().start, field, o, window, rule_for),
            );
        }
        let mut rules_out = BTreeMap::new();
        for (id, (offset, field, o, window, rule_for)) in overrides {
            if rules.find(&id).is_none() {
                diags.push(Diagnostic::at_offset(
                    origin,
                    text,
                    offset,
                    Some(field.clone()),
                    format!("no rule `{id}` in the rule files"),
                ));
            }
            if window == Some(Duration::ZERO) {
                let at = o.window.as_ref().map_or(offset, |w| w.span().start);
                diags.push(Diagnostic::at_offset(
                    origin,
                    text,
                    at,
                    Some(format!("{field}.window")),
                    "the window must be longer than 0s",
                ));
            }
            if let Some(c) = o.count.as_ref().filter(|c| *c.get_ref() == 0) {
                diags.push(Diagnostic::at_offset(
                    origin,
                    text,
                    c.span().start,
                    Some(format!("{field}.count")),
                    "count must be at least 1",
                ));
            }
            let severity = o.severity.as_ref().and_then(|s| {
                let parsed = match s.get_ref().as_str() {
                    "info" => Some(Severity::Info),
                    "warning" => Some(Severity::Warning),
                    "critical" => Some(Severity::Critical),
                    _ => None,
                };
                if parsed.is_none() {
                    diags.push(Diagnostic::at_offset(
                        origin,
                        text,
                        s.span().start,
                        Some(format!("{field}.severity")),
                        format!(
                            "unknown severity `{}` (info, warning or critical)",
                            s.get_ref()
                        ),
                    ));
                }
                parsed
            });
            rules_out.insert(
                id,
                RuleOverride {
                    count: o.count.as_ref().map(|c| *c.get_ref()),
                    window,
                    severity,
                    for_: rule_for,
                    disabled: o.disabled,
                },
            );
        }
        for label in &raw.deployment_labels {
            if !is_label_name(label.get_ref()) {
                diags.push(Diagnostic::at_offset(
                    origin,
                    text,
                    label.span().start,
                    Some("deployment_labels".to_string()),
                    format!("`{}` is not a Prometheus label name", label.get_ref()),
                ));
            }
        }
        if rate_window.is_zero() {
            diags.push(Diagnostic::at_offset(
                origin,
                text,
                raw.rate_window.span().start,
                Some("rate_window".to_string()),
                "the window must be longer than 0s",
            ));
        }
        diags.into_result(AlertSettings {
            selector: raw.selector.trim().to_string(),
            deployment_labels: raw
                .deployment_labels
                .into_iter()
                .map(|l| l.into_inner())
                .collect(),
            expected_jobs: raw.expected_jobs,
            runbook_url: raw.runbook_url,
            for_,
            keep_firing_for,
            rate_window,
            down_for,
            no_files_for,
            rules: rules_out,
        })
    }

    /// `cluster, namespace, job`: the deployment labels as a `by (…)` list.
    fn by(&self, extra: &[&str]) -> String {
        self.deployment_labels
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `metric{<selector>,<extra>}`.
    fn select(&self, metric: &str, extra: &str) -> String {
        let parts: Vec<&str> = [self.selector.as_str(), extra]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        format!("{metric}{{{}}}", parts.join(","))
    }

    /// The runbook link of a self-monitoring alert.
    fn self_runbook(&self, alert: &str) -> String {
        format!("{}#{}", self.runbook_url, self_anchor(alert))
    }
}

/// The README anchor of a self-monitoring alert's runbook (`alert-oauthwatchjobdown`).
pub fn self_anchor(alert: &str) -> String {
    format!("alert-{}", alert.to_ascii_lowercase())
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// One rule's alert condition after the settings' overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// Failures within the window that fire.
    pub count: u64,
    /// The `increase()` window.
    pub window: Duration,
    /// The `severity` label.
    pub severity: Severity,
    /// The alert's `for`.
    pub for_: Duration,
}

/// The condition the alert for `rule` uses, or `None` when the settings disable it.
pub fn effective(rule: &Rule, settings: &AlertSettings) -> Option<Effective> {
    let o = settings.rules.get(&rule.id).cloned().unwrap_or_default();
    (!o.disabled).then(|| Effective {
        count: o.count.unwrap_or(rule.alert.count).max(1),
        window: o.window.unwrap_or(rule.alert.window),
        severity: o.severity.unwrap_or(rule.severity),
        for_: o.for_.unwrap_or(settings.for_),
    })
}

/// The PromQL expression of the alert for `rule`.
pub fn rule_expr(rule: &Rule, eff: &Effective, settings: &AlertSettings) -> String {
    format!(
        "sum by ({by}) (increase({sel}[{window}])) >= {count}",
        by = settings.by(&["provider", "code", "rule"]),
        sel = settings.select("oauthwatch_errors_total", &format!("rule=\"{}\"", rule.id)),
        window = format_duration(eff.window),
        count = eff.count,
    )
}

/// One alerting rule, before it becomes YAML.
struct AlertDef {
    name: &'static str,
    /// The `rule` label, on the per-rule alerts: static as well as from the expression, so
    /// that each alerting rule's name and static labels are unique (promtool's lint).
    rule: Option<String>,
    comment: String,
    expr: String,
    for_: Duration,
    keep_firing_for: Option<Duration>,
    severity: &'static str,
    summary: String,
    description: String,
    remediation: String,
    runbook_url: String,
}

/// The whole rules file for `rules` under `settings`, as Prometheus YAML: recording rules, one
/// alert per rule of the rule files, and the alerts about oauthwatch itself.
pub fn rules_yaml(rules: &RuleSet, settings: &AlertSettings) -> String {
    let mut out = String::new();
    out.push_str(
        "# Prometheus recording and alerting rules for oauthwatch.\n\
         #\n\
         # GENERATED by `oauthwatch alerts` from the rule file and deploy/prometheus/alerts.toml;\n\
         # do not edit by hand: change alerts.toml (selector, deployment labels, runbook URL, `for`,\n\
         # per-rule thresholds) or the rule file, and regenerate:\n\
         #     oauthwatch alerts --settings alerts.toml [--rules FILE] > oauthwatch.rules.yml\n\
         # (`UPDATE_RULES=1 cargo test --test it deploy_rules` regenerates the shipped copy.)\n\
         #\n\
         # Load with `rule_files: [oauthwatch.rules.yml]`; Prometheus 2.42 or newer (keep_firing_for).\n\
         # Unit tests: `promtool test rules oauthwatch.rules.test.yml`.\n",
    );
    let _ = writeln!(
        out,
        "# Selector: {}; deployment labels: {}.",
        if settings.selector.is_empty() {
            "(none)"
        } else {
            &settings.selector
        },
        settings.deployment_labels.join(", ")
    );
    out.push_str("groups:\n");

    let rate = format_duration(settings.rate_window);
    out.push_str("  - name: oauthwatch.recording\n    rules:\n");
    recording(
        &mut out,
        "Failures per second per rule and source, per deployment: the dashboard's main graph.",
        &format!("job_rule_source:oauthwatch_errors:rate{rate}"),
        &format!(
            "sum by ({}) (rate({}[{rate}]))",
            settings.by(&["provider", "code", "rule", "source"]),
            settings.select("oauthwatch_errors_total", "")
        ),
    );
    recording(
        &mut out,
        "Lines read per second per source, per deployment (is oauthwatch reading?).",
        &format!("job_source:oauthwatch_source_lines:rate{rate}"),
        &format!(
            "sum by ({}) (rate({}[{rate}]))",
            settings.by(&["source"]),
            settings.select("oauthwatch_source_lines_total", "")
        ),
    );

    out.push_str("\n  - name: oauthwatch.rules\n    rules:\n");
    for rule in rules.rules() {
        let Some(eff) = effective(rule, settings) else {
            let _ = writeln!(out, "      # {}: disabled in the alert settings.", rule.id);
            continue;
        };
        alert(&mut out, &rule_alert(rule, &eff, settings));
    }

    out.push_str("\n  - name: oauthwatch.self\n    rules:\n");
    for def in self_alerts(settings) {
        alert(&mut out, &def);
    }
    out
}

fn rule_alert(rule: &Rule, eff: &Effective, settings: &AlertSettings) -> AlertDef {
    let window = format_duration(eff.window);
    let meaning = one_line(&rule.description);
    let description = format!(
        "{{{{ $value | printf \"%.0f\" }}}} {provider} OAuth failures with code {code} (rule {id}) \
         in the last {window}{where_}; the alert fires at {count}.{meaning}",
        provider = title(&rule.provider),
        code = rule.code_label(),
        id = rule.id,
        where_ = where_clause(settings),
        count = eff.count,
        meaning = if meaning.is_empty() {
            String::new()
        } else {
            format!(" {}", template_literal(&meaning))
        },
    );
    AlertDef {
        name: RULE_ALERT,
        rule: Some(rule.id.clone()),
        comment: format!(
            "{} failures of rule {} ({} code {}) within {window}.",
            eff.count,
            rule.id,
            title(&rule.provider),
            rule.code_label()
        ),
        expr: rule_expr(rule, eff, settings),
        for_: eff.for_,
        keep_firing_for: Some(settings.keep_firing_for),
        severity: eff.severity.as_str(),
        summary: template_literal(&one_line(&rule.summary)),
        description,
        remediation: template_literal(rule.remediation.trim()),
        runbook_url: format!("{}#{}", settings.runbook_url, rule_anchor(&rule.id)),
    }
}

/// ` in cluster=c namespace=n job=j`, each part only when the alert has that label.
fn where_clause(settings: &AlertSettings) -> String {
    let mut out = String::from(" in");
    for l in &settings.deployment_labels {
        let _ = write!(
            out,
            "{{{{ with $labels.{l} }}}} {l}={{{{ . }}}}{{{{ end }}}}"
        );
    }
    out
}

fn self_alerts(s: &AlertSettings) -> Vec<AlertDef> {
    let dep = s.by(&[]);
    let inst = s.by(&["instance"]);
    let src = s.by(&["instance", "source"]);
    let up = s.select("up", "");
    let down_for = format_duration(s.down_for);
    let no_files = format_duration(s.no_files_for);
    let where_ = where_clause(s);
    let mut v = vec![
        AlertDef {
            rule: None,
            name: "OauthwatchJobDown",
            comment: "Every instance of an oauthwatch job is unreachable: nothing is counted."
                .into(),
            expr: format!("max by ({dep}) ({up}) == 0"),
            for_: s.down_for,
            keep_firing_for: None,
            severity: "critical",
            summary: "Every oauthwatch instance of job {{ $labels.job }} is down".into(),
            description: format!(
                "Prometheus has scraped no instance of oauthwatch{where_} for {down_for}: no \
                 OAuth failure of this deployment is being counted or alerted on."
            ),
            remediation:
                "Check the pods or hosts (kubectl get pods -l app.kubernetes.io/name=oauthwatch; \
                 systemctl status oauthwatch), the daemon's log, its /healthz liveness probe, and \
                 that the listen address is reachable from Prometheus."
                    .into(),
            runbook_url: s.self_runbook("OauthwatchJobDown"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchInstanceDown",
            comment: "Some, not all, instances of a job are unreachable.".into(),
            expr: format!("{up} == 0 unless on ({dep}) (max by ({dep}) ({up}) == 0)"),
            for_: s.down_for,
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} is down".into(),
            description: format!(
                "Prometheus has failed to scrape {{{{ $labels.instance }}}}{where_} for \
                 {down_for}; the other instances are up. Failures from that host or pod are not \
                 being counted."
            ),
            remediation:
                "Check that instance's process or container (kubectl logs -c oauthwatch / \
                 journalctl -u oauthwatch), its /healthz liveness probe, and that its listen \
                 address is reachable from Prometheus."
                    .into(),
            runbook_url: s.self_runbook("OauthwatchInstanceDown"),
        },
    ];
    // One absence alert per expected job; with none listed, one on the selector (no oauthwatch
    // target at all).
    let absent: Vec<(String, String)> = if s.expected_jobs.is_empty() {
        if s.selector.is_empty() {
            Vec::new()
        } else {
            vec![(
                format!("absent({up})"),
                format!("any scrape job matching {}", s.selector),
            )]
        }
    } else {
        s.expected_jobs
            .iter()
            .map(|job| {
                (
                    format!("absent(up{{job={}}})", quote(job)),
                    format!("the scrape job {job}"),
                )
            })
            .collect()
    };
    for (expr, what) in absent {
        v.push(AlertDef {
            rule: None,
            name: "OauthwatchJobAbsent",
            comment: format!("No target of {what} in service discovery."),
            expr,
            for_: s.down_for,
            keep_firing_for: None,
            severity: "critical",
            summary:
                "Prometheus has no oauthwatch target{{ with $labels.job }} in job {{ . }}{{ end }}"
                    .into(),
            description: format!(
                "Service discovery has returned no target for {what} for {down_for}: oauthwatch \
                 is not deployed, or the scrape config no longer finds it."
            ),
            remediation: "Check that the DaemonSet or sidecar still exists and its pods carry the \
                 prometheus.io/scrape annotations (or the PodMonitor's labels), and that \
                 Prometheus's scrape config (Status > Targets) still lists the job."
                .into(),
            runbook_url: s.self_runbook("OauthwatchJobAbsent"),
        });
    }
    v.extend([
        AlertDef {
            rule: None,
            name: "OauthwatchNotReady",
            comment: "The daemon answers but is not ready (rules not loaded or sources not open)."
                .into(),
            expr: format!("{} == 0", s.select("oauthwatch_ready", "")),
            for_: Duration::from_secs(300),
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} is not ready".into(),
            description: format!(
                "oauthwatch on {{{{ $labels.instance }}}}{where_} has reported not ready \
                 (rules not loaded or sources not open) for 5m. Its source alerts are \
                 inhibited meanwhile."
            ),
            remediation: "Read /readyz and the daemon's log for the rule or source error, and run \
                 `oauthwatch check --config FILE` on its configuration."
                .into(),
            runbook_url: s.self_runbook("OauthwatchNotReady"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchSourceNoFiles",
            comment: format!(
                "A source's globs have matched no file for {no_files} (typo in the path, wrong mount)."
            ),
            expr: format!(
                "max_over_time({m}[{no_files}]) == 0 and {m} offset {no_files}",
                m = s.select("oauthwatch_source_files_matched", "")
            ),
            for_: Duration::ZERO,
            keep_firing_for: None,
            severity: "warning",
            summary: "Source {{ $labels.source }} of oauthwatch on {{ $labels.instance }} matches no file".into(),
            description: format!(
                "The path globs of source {{{{ $labels.source }}}} on {{{{ $labels.instance }}}}{where_} \
                 have matched no file (after excludes) at any discovery pass for {no_files}: its \
                 failures are not being counted."
            ),
            remediation: "Compare the source's `paths` in the config with the files that exist \
                 (a typo, a changed log directory, a volume not mounted into the container), \
                 check /status, and run `oauthwatch check --config FILE`."
                .into(),
            runbook_url: s.self_runbook("OauthwatchSourceNoFiles"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchNotReading",
            comment: "Files matched by a source cannot be opened or read.".into(),
            expr: format!(
                "sum by ({src}, kind) (increase({}[10m])) > 0",
                s.select("oauthwatch_read_errors_total", "")
            ),
            for_: Duration::from_secs(600),
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} cannot read source {{ $labels.source }} ({{ $labels.kind }})".into(),
            description: format!(
                "{{{{ $value | printf \"%.0f\" }}}} {{{{ $labels.kind }}}} errors opening or reading \
                 files of source {{{{ $labels.source }}}} on {{{{ $labels.instance }}}}{where_} in the \
                 last 10m: failures in those files are not being counted."
            ),
            remediation: "permission_denied: the log files or their directory are not readable by \
                 oauthwatch's user (fix the volume's fsGroup or the file mode). not_found: a file \
                 matched by the globs vanished before it could be opened (rotation racing the \
                 reader; persistent only with a broken rotation). io: read the daemon's log."
                .into(),
            runbook_url: s.self_runbook("OauthwatchNotReading"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchSourceLagGrowing",
            comment: "A source's unread backlog has grown for 10 minutes.".into(),
            expr: format!(
                "{m} > 0 and min_over_time({m}[10m]) > 0 and deriv({m}[10m]) > 0",
                m = s.select("oauthwatch_source_lag_bytes", "")
            ),
            for_: Duration::from_secs(600),
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} is falling behind source {{ $labels.source }}".into(),
            description: format!(
                "{{{{ $value | humanize1024 }}}}B of source {{{{ $labels.source }}}} on \
                 {{{{ $labels.instance }}}}{where_} are unread and the backlog has grown for 10m: \
                 failures are counted late."
            ),
            remediation: "Raise the container's CPU limit, check the daemon's log for read errors, \
                 and check that the log volume is not filling with one noisy file."
                .into(),
            runbook_url: s.self_runbook("OauthwatchSourceLagGrowing"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchReloadFailing",
            comment: "The last config or rule reload was rejected.".into(),
            expr: format!(
                "{} == 0",
                s.select("oauthwatch_config_last_reload_successful", "")
            ),
            for_: Duration::from_secs(120),
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} rejected its new config or rules".into(),
            description: format!(
                "The last reload of oauthwatch on {{{{ $labels.instance }}}}{where_} failed; it \
                 keeps running with the previous config and rules, so edits to them are not in \
                 effect."
            ),
            remediation: "Run `oauthwatch check --config FILE` on the edited files: it lists every \
                 problem with file:line:column. Fix them; the next change (or SIGHUP) reloads."
                .into(),
            runbook_url: s.self_runbook("OauthwatchReloadFailing"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchCheckpointWriteFailing",
            comment: "Read positions cannot be saved.".into(),
            expr: format!(
                "sum by ({inst}) (increase({}[10m])) > 0",
                s.select("oauthwatch_checkpoint_write_failures_total", "")
            ),
            for_: Duration::from_secs(600),
            keep_firing_for: None,
            severity: "warning",
            summary: "oauthwatch on {{ $labels.instance }} cannot save its read positions".into(),
            description: format!(
                "Checkpoint writes failed on {{{{ $labels.instance }}}}{where_} for 10m; after a \
                 restart it would re-read or skip lines."
            ),
            remediation: "Check that the state directory is writable by oauthwatch and its \
                 filesystem is not full."
                .into(),
            runbook_url: s.self_runbook("OauthwatchCheckpointWriteFailing"),
        },
        AlertDef {
            rule: None,
            name: "OauthwatchDroppingLines",
            comment: "Lines are truncated, records split, or container lines passed through unwrapped; \
                 a failure inside them may be missed."
                .into(),
            expr: format!(
                "sum by ({src}, reason) (increase({}[15m])) > 0",
                s.select("oauthwatch_lines_degraded_total", "")
            ),
            for_: Duration::from_secs(900),
            keep_firing_for: None,
            severity: "info",
            summary: "oauthwatch on {{ $labels.instance }} truncates lines or passes them through unwrapped ({{ $labels.reason }})".into(),
            description: format!(
                "{{{{ $value | printf \"%.0f\" }}}} lines of source {{{{ $labels.source }}}} on \
                 {{{{ $labels.instance }}}}{where_} were truncated, split or passed through \
                 unwrapped ({{{{ $labels.reason }}}}) in the last 15m; a failure inside them may be \
                 missed."
            ),
            remediation: "Raise [limits] max_line_bytes / max_record_lines, or set the source's \
                 `format` if a container wrapper is misdetected (malformed_wrapper)."
                .into(),
            runbook_url: s.self_runbook("OauthwatchDroppingLines"),
        },
    ]);
    v
}

/// The names of the alerts about oauthwatch itself, in the generated order (each has a
/// runbook entry under [`self_anchor`] in the README).
pub fn self_alert_names(settings: &AlertSettings) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = self_alerts(settings).iter().map(|a| a.name).collect();
    names.dedup();
    names
}

fn recording(out: &mut String, comment: &str, record: &str, expr: &str) {
    let _ = writeln!(out, "      # {comment}");
    let _ = writeln!(out, "      - record: {record}");
    let _ = writeln!(out, "        expr: {}", quote(expr));
}

fn alert(out: &mut String, a: &AlertDef) {
    let _ = writeln!(out, "      # {}", a.comment);
    let _ = writeln!(out, "      - alert: {}", a.name);
    let _ = writeln!(out, "        expr: {}", quote(&a.expr));
    let _ = writeln!(out, "        for: {}", format_duration(a.for_));
    if let Some(k) = a.keep_firing_for {
        let _ = writeln!(out, "        keep_firing_for: {}", format_duration(k));
    }
    let _ = writeln!(out, "        labels:\n          severity: {}", a.severity);
    if let Some(rule) = &a.rule {
        let _ = writeln!(out, "          rule: {}", quote(rule));
    }
    out.push_str("        annotations:\n");
    for (k, v) in [
        ("summary", &a.summary),
        ("description", &a.description),
        ("remediation", &a.remediation),
        ("runbook_url", &a.runbook_url),
    ] {
        let _ = writeln!(out, "          {k}: {}", quote(v));
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Text that Prometheus's template engine prints verbatim: `{{` and `}}` in rule-file text
/// become template actions printing them.
fn template_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push_str("{{ \"{{\" }}");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push_str("{{ \"}}\" }}");
            rest = after;
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::AlertCondition;

    fn rule(id: &str) -> Rule {
        Rule {
            id: id.to_string(),
            provider: "zoom".to_string(),
            codes: vec!["4702".into(), "4704".into()],
            message: "Invalid client.".to_string(),
            description: "The client ID or secret\nis wrong.".to_string(),
            severity: Severity::Critical,
            alert: AlertCondition {
                count: 3,
                window: Duration::from_secs(300),
            },
            summary: "Client rejected".to_string(),
            remediation: "Verify the {{client}} secret.\n".to_string(),
            catch_all: false,
        }
    }

    fn settings(extra: &str, rules: &RuleSet) -> Result<AlertSettings, Diagnostics> {
        let text = format!(
            "selector = 'job=\"ow\"'\ndeployment_labels = [\"cluster\", \"job\"]\n\
             runbook_url = \"https://x/README.md\"\nfor = \"1m\"\nkeep_firing_for = \"10m\"\n\
             rate_window = \"5m\"\ndown_for = \"5m\"\nno_files_for = \"30m\"\n{extra}"
        );
        AlertSettings::parse(&text, "alerts.toml", rules)
    }

    #[test]
    fn the_rule_alert_sums_the_counter_per_deployment_with_the_rule_file_threshold() {
        let set = RuleSet::without_matchers(vec![rule("invalid_client")]);
        let s = settings("", &set).unwrap();
        let r = &set.rules()[0];
        let eff = effective(r, &s).unwrap();
        assert_eq!(
            rule_expr(r, &eff, &s),
            "sum by (cluster, job, provider, code, rule) (increase(oauthwatch_errors_total{job=\"ow\",rule=\"invalid_client\"}[5m])) >= 3"
        );
        let yaml = rules_yaml(&set, &s);
        assert!(yaml.contains("        for: 1m\n        keep_firing_for: 10m\n        labels:\n          severity: critical\n          rule: \"invalid_client\"\n"), "{yaml}");
        assert!(yaml.contains("runbook_url: \"https://x/README.md#rule-invalid_client\""));
        // Rule-file braces are printed, not executed, by Prometheus's templates.
        assert!(
            yaml.contains(r#"remediation: "Verify the {{ \"{{\" }}client{{ \"}}\" }} secret.""#),
            "{yaml}"
        );
        assert!(yaml.contains("in the last 5m in{{ with $labels.cluster }} cluster={{ . }}{{ end }}{{ with $labels.job }} job={{ . }}{{ end }}; the alert fires at 3. The client ID or secret is wrong."), "{yaml}");
    }

    #[test]
    fn overrides_change_threshold_window_severity_and_can_disable() {
        let set = RuleSet::without_matchers(vec![rule("a"), rule("b")]);
        let s = settings(
            "[rules.a]\ncount = 1\nwindow = \"2m\"\nseverity = \"warning\"\nfor = \"0s\"\n[rules.b]\ndisabled = true\n",
            &set,
        )
        .unwrap();
        let eff = effective(&set.rules()[0], &s).unwrap();
        assert_eq!(
            eff,
            Effective {
                count: 1,
                window: Duration::from_secs(120),
                severity: Severity::Warning,
                for_: Duration::ZERO
            }
        );
        assert!(effective(&set.rules()[1], &s).is_none());
        let yaml = rules_yaml(&set, &s);
        assert_eq!(yaml.matches("- alert: OAuthTokenFailures").count(), 1);
        assert!(yaml.contains("# b: disabled in the alert settings."));
    }

    #[test]
    fn bad_settings_name_file_line_and_field() {
        let set = RuleSet::without_matchers(vec![rule("a")]);
        let err = settings("[rules.nope]\ncount = 0\nseverity = \"loud\"\n", &set)
            .unwrap_err()
            .to_string();
        assert!(err.contains("alerts.toml:9:"), "{err}");
        assert!(err.contains("rules.nope"), "{err}");
        assert!(err.contains("no rule `nope`"), "{err}");
        assert!(err.contains("rules.nope.count"), "{err}");
        assert!(err.contains("unknown severity `loud`"), "{err}");
        let err = settings("\nkeep_firing = \"1m\"\n", &set)
            .unwrap_err()
            .to_string();
        assert!(err.contains("alerts.toml:10:"), "{err}");
        assert!(err.contains("keep_firing"), "{err}");
    }

    #[test]
    fn the_shipped_settings_are_valid() {
        let s = AlertSettings::shipped();
        assert_eq!(s.deployment_labels, ["cluster", "namespace", "job"]);
        assert_eq!(s.keep_firing_for, Duration::from_secs(600));
    }

    #[test]
    fn absence_is_per_expected_job_or_on_the_selector() {
        let set = RuleSet::without_matchers(vec![rule("a")]);
        let yaml = rules_yaml(&set, &settings("", &set).unwrap());
        assert!(
            yaml.contains("expr: \"absent(up{job=\\\"ow\\\"})\""),
            "{yaml}"
        );
        assert_eq!(yaml.matches("- alert: OauthwatchJobAbsent").count(), 1);
        let s = settings("expected_jobs = [\"a\", \"b\"]\n", &set).unwrap();
        let yaml = rules_yaml(&set, &s);
        assert!(
            yaml.contains("expr: \"absent(up{job=\\\"a\\\"})\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("expr: \"absent(up{job=\\\"b\\\"})\""),
            "{yaml}"
        );
        assert_eq!(
            self_alert_names(&s)
                .iter()
                .filter(|n| **n == "OauthwatchJobAbsent")
                .count(),
            1
        );
    }

    #[test]
    fn template_literal_leaves_single_braces() {
        assert_eq!(template_literal("{\"a\": 1}"), "{\"a\": 1}");
        assert_eq!(template_literal("}}"), "{{ \"}}\" }}");
    }
}
