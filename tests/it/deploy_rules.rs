//! The shipped Prometheus and Alertmanager files are valid for the real tools, the alert
//! rules are exactly what `oauthwatch alerts` generates from the rule file and
//! `deploy/prometheus/alerts.toml` (`UPDATE_RULES=1 cargo test --test it deploy_rules` rewrites
//! them), and their unit tests (firing, not firing, exact annotation text) pass under `promtool`.

use std::path::{Path, PathBuf};
use std::process::Command;

use oauthwatch::alerting::{rules_yaml, self_alert_names, self_anchor, AlertSettings, RULE_ALERT};
use oauthwatch::classifier::RuleSet;
use oauthwatch::reference::rule_anchor;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

/// Run a tool, panic with its output unless it exits 0; returns stdout + stderr.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (is it installed? ./scripts/test installs it): {e}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The shipped rules file is the generator's output for the embedded rules and the shipped
/// settings file.
#[test]
fn shipped_rules_are_generated_from_the_rule_file_and_settings() {
    let rules = RuleSet::embedded();
    let settings_path = deploy("prometheus/alerts.toml");
    let settings_text = std::fs::read_to_string(&settings_path).unwrap();
    let settings = AlertSettings::parse(&settings_text, "alerts.toml", &rules).unwrap();
    assert_eq!(
        settings,
        AlertSettings::shipped(),
        "the binary embeds alerts.toml"
    );
    let generated = rules_yaml(&rules, &settings);
    let path = deploy("prometheus/oauthwatch.rules.yml");
    if std::env::var_os("UPDATE_RULES").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let shipped = std::fs::read_to_string(&path).unwrap();
    if shipped != generated {
        let line = shipped
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                shipped.lines().count().min(generated.lines().count()),
                |i| i,
            )
            + 1;
        panic!(
            "deploy/prometheus/oauthwatch.rules.yml is out of date with the rule file or \
             alerts.toml (first difference at line {line}); run \
             `UPDATE_RULES=1 cargo test --test it deploy_rules`"
        );
    }
}

/// What a user runs: `oauthwatch alerts` prints the shipped file; `--settings` with an
/// override changes that rule's threshold and nothing else; a bad settings file is refused
/// with its file, line and field.
#[test]
fn the_alerts_command_prints_the_rules_and_honours_settings() {
    let bin = env!("CARGO_BIN_EXE_oauthwatch");
    let out = Command::new(bin).arg("alerts").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let shipped = std::fs::read_to_string(deploy("prometheus/oauthwatch.rules.yml")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), shipped);

    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("alerts.toml");
    let base = std::fs::read_to_string(deploy("prometheus/alerts.toml")).unwrap();
    std::fs::write(
        &custom,
        base.replace(
            "https://github.com/oauthwatch/oauthwatch/blob/main/README.md",
            "https://runbooks.example.internal/oauthwatch",
        ) + "\n[rules.invalid_client]\ncount = 1\nwindow = \"2m\"\n",
    )
    .unwrap();
    let out_file = dir.path().join("rules.yml");
    let out = Command::new(bin)
        .args(["alerts", "--settings"])
        .arg(&custom)
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains(
        "increase(oauthwatch_errors_total{job=~\\\".*oauthwatch.*\\\",rule=\\\"invalid_client\\\"}[2m])) >= 1\""
    ), "{text}");
    assert!(text.contains("https://runbooks.example.internal/oauthwatch#rule-invalid_client"));
    assert!(!text.contains("github.com"));
    let changed = shipped
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(shipped.lines().count(), text.lines().count());
    // invalid_client's comment, expression and description (window and count), and every
    // runbook_url.
    assert_eq!(
        changed,
        3 + shipped.matches("runbook_url:").count(),
        "{text}"
    );
    run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(&out_file),
    );

    // `--config`: the rule files the daemon's config names (here, the shipped rules with one
    // rule's threshold edited) are the ones alerted on.
    let rules_file = dir.path().join("my-rules.toml");
    let shipped_rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/zoom-oauth.toml"),
    )
    .unwrap();
    let edited = shipped_rules.replacen(
        "alert = { count = 3, window = \"5m\" }",
        "alert = { count = 7, window = \"7m\" }",
        1,
    );
    assert_ne!(edited, shipped_rules, "the rule file's first 3-in-5m rule");
    std::fs::write(&rules_file, edited).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "rules = [\"my-rules.toml\"]\n[[sources]]\nname = \"app\"\npaths = [\"/var/log/app/*.log\"]\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["alerts", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("[7m])) >= 7\""),
        "the config's rule file is used: {text}"
    );

    std::fs::write(&custom, base + "\n[rules.invalid_clinet]\ncount = 1\n").unwrap();
    let out = Command::new(bin)
        .args(["alerts", "--settings"])
        .arg(&custom)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    let line = std::fs::read_to_string(&custom)
        .unwrap()
        .lines()
        .position(|l| l.contains("invalid_clinet"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("alerts.toml:{line}:")) && err.contains("rules.invalid_clinet"),
        "{err}"
    );
    assert!(err.contains("no rule `invalid_clinet`"), "{err}");
}

#[test]
fn promtool_check_rules_is_clean() {
    let text = run_ok(
        Command::new("promtool")
            .args(["check", "rules"])
            .arg(deploy("prometheus/oauthwatch.rules.yml")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(!text.to_lowercase().contains("warn"), "{text}");
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let text = run_ok(
        Command::new("promtool")
            .args(["test", "rules", "oauthwatch.rules.test.yml"])
            .current_dir(deploy("prometheus")),
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn example_prometheus_config_is_valid() {
    run_ok(
        Command::new("promtool")
            .args(["check", "config", "prometheus.yml"])
            .current_dir(deploy("prometheus")),
    );
}

/// Every alert links a runbook: one alert per rule of the rule file, each linking
/// `#rule-<id>` (the anchor `reference::rule_anchor` writes) with the rule's severity; the
/// alerts about oauthwatch itself link `#alert-<name>`, and the README has each such anchor.
#[test]
fn every_alert_has_summary_description_remediation_and_a_runbook_anchor() {
    let text = std::fs::read_to_string(deploy("prometheus/oauthwatch.rules.yml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let rules = RuleSet::embedded();
    let mut per_rule = Vec::new();
    let mut own = Vec::new();
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let ann = &rule["annotations"];
            for key in ["summary", "description", "remediation", "runbook_url"] {
                assert!(
                    ann[key].as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{name}: no {key}"
                );
            }
            let url = ann["runbook_url"].as_str().unwrap();
            let (_, anchor) = url.split_once('#').expect("runbook_url has an anchor");
            let severity = rule["labels"]["severity"].as_str().expect("a severity");
            if name == RULE_ALERT {
                let id = rule["labels"]["rule"].as_str().unwrap();
                let r = &rules.rules()[rules.find(id).unwrap()];
                assert_eq!(anchor, rule_anchor(id), "{name}");
                assert_eq!(severity, r.severity.as_str(), "{id}");
                assert_eq!(ann["remediation"].as_str().unwrap(), r.remediation.trim());
                assert!(rule["keep_firing_for"].as_str().is_some(), "{id}");
                per_rule.push(id.to_string());
            } else {
                assert_eq!(anchor, self_anchor(name), "{name}");
                assert!(
                    readme.contains(&format!("<a id=\"{anchor}\"></a>")),
                    "README lacks the runbook anchor #{anchor}"
                );
                own.push(name.to_string());
            }
        }
    }
    let ids: Vec<String> = rules.rules().iter().map(|r| r.id.clone()).collect();
    assert_eq!(per_rule, ids, "one alert per rule, in rule-file order");
    assert_eq!(own, self_alert_names(&AlertSettings::shipped()));
}

/// Every YAML file under deploy/ parses (multi-document files included).
#[test]
fn every_yaml_file_under_deploy_parses() {
    use serde::Deserialize;
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&deploy(""), &mut files);
    assert!(files.len() >= 7, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            serde_norway::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", f.display()));
        }
    }
}
