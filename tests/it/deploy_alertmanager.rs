//! The shipped Alertmanager configuration and notification template, with the real tools: the
//! config passes `amtool check-config`; the template, rendered by `amtool template render` and
//! by a running Alertmanager posting to Slack (a recorder on 127.0.0.1), shows the summary, the
//! description, "What to do" with the rule file's remediation, and the runbook link; and a
//! not-ready instance inhibits its own source alerts, not another instance's.

use std::process::Command;
use std::time::Duration;

use crate::support::alerting::{
    free_ports, http, repo, start_alertmanager, test_alertmanager_config, wait_for, Recorder,
};
use oauthwatch::alerting::{rules_yaml, AlertSettings};
use oauthwatch::classifier::RuleSet;
use serde_json::{json, Value};

/// The annotations the generated rules give the alert for `rule_id` (description rendered as
/// Prometheus would, for a deployment `prod`).
fn generated_annotations(rule_id: &str) -> Value {
    let yaml = rules_yaml(&RuleSet::embedded(), &AlertSettings::shipped());
    let doc: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    for group in doc["groups"].as_sequence().unwrap() {
        for r in group["rules"].as_sequence().unwrap() {
            if r["labels"]["rule"].as_str() == Some(rule_id) {
                let a = &r["annotations"];
                return json!({
                    "summary": a["summary"].as_str().unwrap(),
                    "description": format!("12 Zoom OAuth failures (rule {rule_id}) in the last 10m in namespace=prod job=oauthwatch."),
                    "remediation": a["remediation"].as_str().unwrap(),
                    "runbook_url": a["runbook_url"].as_str().unwrap(),
                });
            }
        }
    }
    panic!("no generated alert for {rule_id}");
}

fn labels(rule_id: &str, severity: &str) -> Value {
    json!({
        "alertname": "OAuthTokenFailures", "cluster": "eu1", "namespace": "prod",
        "job": "oauthwatch", "provider": "zoom", "code": "4734", "rule": rule_id,
        "severity": severity,
    })
}

#[test]
fn example_alertmanager_config_is_valid() {
    let out = Command::new("amtool")
        .arg("check-config")
        .arg(repo("deploy/alertmanager/alertmanager.yml"))
        .output()
        .expect("amtool (Debian's prometheus-alertmanager) is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 templates"), "{text}");
    assert!(text.contains("2 inhibit rules"), "{text}");
}

/// `amtool template render` (Alertmanager's template engine) over every shipped template.
#[test]
fn amtool_renders_summary_remediation_and_runbook_in_every_template() {
    let rule_id = "invalid_client";
    let ann = generated_annotations(rule_id);
    let remediation = ann["remediation"].as_str().unwrap().to_string();
    let alert = json!({
        "status": "firing", "labels": labels(rule_id, "critical"), "annotations": ann,
        "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph", "fingerprint": "1",
    });
    let data = json!({
        "receiver": "oncall-pager", "status": "firing", "alerts": [alert],
        "groupLabels": {"alertname": "OAuthTokenFailures", "rule": rule_id},
        "commonLabels": labels(rule_id, "critical"), "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
    });
    let dir = tempfile::tempdir().unwrap();
    let data_file = dir.path().join("data.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let render = |name: &str, kind: &str| -> String {
        let out = Command::new("amtool")
            .args(["template", "render"])
            .arg(format!(
                "--template.glob={}",
                repo("deploy/alertmanager/oauthwatch.tmpl").display()
            ))
            .arg(format!("--template.text={{{{ template \"{name}\" . }}}}"))
            .arg(format!("--template.data={}", data_file.display()))
            .arg(format!("--template.type={kind}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let title = render("oauthwatch.slack.title", "text");
    assert_eq!(
        title,
        "[FIRING:1] OAuthTokenFailures invalid_client (cluster=eu1 namespace=prod job=oauthwatch)"
    );
    assert_eq!(render("oauthwatch.email.subject", "text"), title);
    let runbook = ann["runbook_url"].as_str().unwrap();
    for (name, kind) in [
        ("oauthwatch.slack.text", "text"),
        ("oauthwatch.email.text", "text"),
        ("oauthwatch.email.html", "html"),
    ] {
        let out = render(name, kind);
        let summary = ann["summary"].as_str().unwrap();
        let (want_remediation, want_summary) = match (kind, name) {
            ("html", _) => (html_escape(&remediation), html_escape(summary)),
            (_, "oauthwatch.slack.text") => (slack_escape(&remediation), slack_escape(summary)),
            _ => (remediation.clone(), summary.to_string()),
        };
        assert!(out.contains(&want_summary), "{name}: no summary in\n{out}");
        assert!(
            out.contains(&want_remediation),
            "{name}: no remediation in\n{out}"
        );
        assert!(out.contains("What to do"), "{name}\n{out}");
        assert!(out.contains(runbook), "{name}: no runbook link in\n{out}");
        assert!(
            out.contains("12 Zoom OAuth failures"),
            "{name}: no description\n{out}"
        );
        assert!(
            out.contains("namespace=prod"),
            "{name}: no deployment\n{out}"
        );
    }
}

/// Slack's mrkdwn escaping.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The template escapes Slack's control characters, so a remediation with `<` is not a link.
#[test]
fn slack_text_escapes_ampersand_and_angle_brackets() {
    let data = json!({
        "receiver": "r", "status": "firing",
        "alerts": [{"status": "firing", "labels": labels("x", "warning"),
                    "annotations": {"summary": "a < b", "description": "d",
                                    "remediation": "Use <client_id> & retry", "runbook_url": "u"},
                    "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}],
        "groupLabels": {}, "commonLabels": labels("x", "warning"), "commonAnnotations": {},
        "externalURL": "http://am",
    });
    let dir = tempfile::tempdir().unwrap();
    let data_file = dir.path().join("data.json");
    std::fs::write(&data_file, data.to_string()).unwrap();
    let out = Command::new("amtool")
        .args(["template", "render"])
        .arg(format!(
            "--template.glob={}",
            repo("deploy/alertmanager/oauthwatch.tmpl").display()
        ))
        .arg("--template.text={{ template \"oauthwatch.slack.text\" . }}")
        .arg(format!("--template.data={}", data_file.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("*What to do:* Use &lt;client_id&gt; &amp; retry"),
        "{text}"
    );
    assert!(text.contains("*a &lt; b*"), "{text}");
}

/// Go's html/template escaping of text.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
        .replace('"', "&#34;")
}

/// A running Alertmanager with the shipped routes, grouping, inhibition and template: the
/// Slack message it posts carries the remediation, and a not-ready instance's source alert is
/// inhibited while the same alert of a ready instance is not.
#[test]
fn alertmanager_renders_the_slack_template_and_inhibits_source_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::start();
    let [port] = free_ports::<1>();
    let am_addr = format!("127.0.0.1:{port}");
    let mut am = start_alertmanager(
        dir.path(),
        &am_addr,
        &test_alertmanager_config(&recorder.addr),
    );

    let rule_id = "invalid_authorization_code";
    let ann = generated_annotations(rule_id);
    let source_alert = |instance: &str| {
        json!({
            "labels": {"alertname": "OauthwatchNotReading", "job": "oauthwatch", "namespace": "prod",
                       "instance": instance, "source": "app", "kind": "permission_denied",
                       "severity": "warning"},
            "annotations": {"summary": "s", "description": "d", "remediation": "r",
                            "runbook_url": "u"},
        })
    };
    let alerts = json!([
        {"labels": labels(rule_id, "warning"), "annotations": ann},
        {"labels": {"alertname": "OauthwatchNotReady", "job": "oauthwatch", "namespace": "prod",
                    "instance": "a:9742", "severity": "warning"},
         "annotations": {"summary": "s", "description": "d", "remediation": "r", "runbook_url": "u"}},
        source_alert("a:9742"),
        source_alert("b:9742"),
    ]);
    let (status, body) = http(&am_addr, "POST", "/api/v2/alerts", &alerts.to_string());
    assert_eq!(status, 200, "{body}");

    let diag = || {
        format!(
            "--- alertmanager ---\n{}\n--- posted ---\n{:?}",
            am.tail(),
            recorder.posted.lock().unwrap()
        )
    };
    let slack = wait_for("the Slack message for the rule alert", &diag, || {
        recorder
            .bodies("/slack/oncall-chat")
            .into_iter()
            .map(|(_, v)| v)
            .find(|v| v.to_string().contains(rule_id))
    });
    let att = &slack["attachments"][0];
    let remediation = ann["remediation"].as_str().unwrap();
    assert_eq!(
        att["title"],
        format!(
            "[FIRING:1] OAuthTokenFailures {rule_id} (cluster=eu1 namespace=prod job=oauthwatch)"
        ),
        "{slack}"
    );
    let text = att["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("*What to do:* {}", slack_escape(remediation))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "*{}*",
            slack_escape(ann["summary"].as_str().unwrap())
        )),
        "{text}"
    );
    assert!(
        text.contains(ann["runbook_url"].as_str().unwrap()),
        "{text}"
    );

    // Inhibition: instance a is not ready, so its source alert is muted; b's is not.
    let inhibited = wait_for("the inhibition to apply", &diag, || {
        let (_, body) = http(&am_addr, "GET", "/api/v2/alerts", "");
        let list: Vec<Value> = serde_json::from_str(&body).ok()?;
        let by_instance = |i: &str| {
            list.iter()
                .find(|a| {
                    a["labels"]["alertname"] == "OauthwatchNotReading"
                        && a["labels"]["instance"] == i
                })
                .map(|a| a["status"]["inhibitedBy"].as_array().map_or(0, Vec::len))
        };
        match (by_instance("a:9742")?, by_instance("b:9742")?) {
            (a, b) if a > 0 => Some((a, b)),
            _ => None,
        }
    });
    assert_eq!(
        inhibited.1, 0,
        "the ready instance's alert is not inhibited"
    );
    std::thread::sleep(Duration::from_secs(2));
    let notified: Vec<String> = recorder
        .webhook_alerts()
        .into_iter()
        .filter(|(_, a)| a["labels"]["alertname"] == "OauthwatchNotReading")
        .map(|(_, a)| a["labels"]["instance"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        notified.contains(&"b:9742".to_string()),
        "{notified:?}\n{}",
        diag()
    );
    assert!(!notified.contains(&"a:9742".to_string()), "{notified:?}");
    am.stop();
}
