//! The shipped Prometheus and Alertmanager files are valid for the real tools, and the alert
//! rules' unit tests (firing, not firing, exact annotation text) pass under `promtool`.

use std::path::{Path, PathBuf};
use std::process::Command;

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

#[test]
fn example_alertmanager_config_is_valid() {
    let amtool = ["amtool", "/usr/bin/amtool"]
        .into_iter()
        .find(|t| Command::new(t).arg("--version").output().is_ok());
    let path = deploy("prometheus/alertmanager.yml");
    match amtool {
        Some(t) => {
            run_ok(Command::new(t).arg("check-config").arg(&path));
        }
        None => {
            // Without amtool, at least the YAML and the route's receivers must line up.
            let doc: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert!(doc["route"]["receiver"].is_string());
        }
    }
}

/// Every alert links a runbook: the per-rule alert links `#rule-<id>` (the anchor
/// `reference::rule_anchor` writes), the self-monitoring alerts link `#self-alerts`, and the
/// README has both kinds of anchor.
#[test]
fn every_alert_has_summary_description_remediation_and_a_runbook_anchor() {
    let text = std::fs::read_to_string(deploy("prometheus/oauthwatch.rules.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut alerts = 0;
    for group in doc["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            alerts += 1;
            let ann = &rule["annotations"];
            for key in ["summary", "description", "remediation", "runbook_url"] {
                assert!(
                    ann[key].as_str().is_some_and(|s| !s.trim().is_empty()),
                    "{name}: no {key}"
                );
            }
            let url = ann["runbook_url"].as_str().unwrap();
            let (_, anchor) = url.split_once('#').expect("runbook_url has an anchor");
            if name == "OAuthTokenFailures" {
                assert_eq!(anchor, rule_anchor("{{ $labels.rule }}"), "{name}");
                assert!(
                    rule["labels"]["severity"].is_null(),
                    "severity must come from the rule"
                );
            } else {
                assert_eq!(anchor, "self-alerts", "{name}");
                assert!(
                    rule["labels"]["severity"].is_string(),
                    "{name}: no severity"
                );
                assert!(
                    readme.contains("<a id=\"self-alerts\"></a>"),
                    "README lacks #self-alerts"
                );
            }
        }
    }
    assert!(alerts >= 6, "{alerts} alerts");
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
        for doc in serde_yaml::Deserializer::from_str(&text) {
            serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", f.display()));
        }
    }
}
