//! The sidecar's promise: editing its ConfigMap reloads config and rules with no SIGHUP and no
//! restart. This test lays the sidecar manifest's ConfigMap out exactly as the kubelet does
//! (`..<timestamp>/<key>` directories, a `..data` symlink to the current one, and `<key> ->
//! ..data/<key>` links), starts the real daemon on it, then updates it the kubelet's way (a new
//! timestamped directory and an atomic rename of a new `..data` symlink) and watches /metrics.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::daemon::{configmap_data, metric_value, Daemon};
use crate::support::DEADLINE;
use oauthwatch::classifier::RuleSet;

/// A ConfigMap volume as the kubelet's atomic writer maintains it.
struct ConfigMapVolume {
    dir: PathBuf,
    generation: u32,
}

impl ConfigMapVolume {
    fn create(dir: &Path, data: &[(String, String)]) -> ConfigMapVolume {
        let mut v = ConfigMapVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.update(data);
        for (key, _) in data {
            symlink(format!("..data/{key}"), dir.join(key)).unwrap();
        }
        v
    }

    /// Write a new generation and swap `..data` to it atomically, then remove the old one.
    fn update(&mut self, data: &[(String, String)]) {
        self.generation += 1;
        let name = format!(
            "..2026_11_24_20_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        let gen_dir = self.dir.join(&name);
        std::fs::create_dir(&gen_dir).unwrap();
        for (key, text) in data {
            std::fs::write(gen_dir.join(key), text).unwrap();
        }
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        symlink(&name, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// Wait until `f(metrics)` holds; panics with the last scrape and the daemon's log.
fn wait_metrics(d: &Daemon, what: &str, f: impl Fn(&str) -> bool) {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < DEADLINE {
        last = d.metrics();
        if f(&last) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}\n--- last /metrics ---\n{last}\n--- log ---\n{}",
        d.logs()
    );
}

/// `rules_sha256="<hex>"` of a rule file's text, as oauthwatch_rule_info carries it.
fn sha_label(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("rules_sha256=\"{hex}\"")
}

fn rule_info_line<'a>(metrics: &'a str, rule: &str) -> Option<&'a str> {
    metrics
        .lines()
        .find(|l| l.starts_with("oauthwatch_rule_info{") && l.contains(&format!("rule=\"{rule}\"")))
}

#[test]
fn configmap_update_reloads_rules_without_sighup() {
    let data = configmap_data("sidecar.yaml");
    let rules_text = &data
        .iter()
        .find(|(k, _)| k == "zoom-oauth.toml")
        .expect("rules key")
        .1;
    let rule = {
        let set = RuleSet::embedded();
        set.rules()[set.find("invalid_authorization_code").unwrap()].clone()
    };
    let first_line = rule.remediation.lines().next().unwrap().trim().to_string();
    assert_eq!(
        rules_text.matches(first_line.as_str()).count(),
        1,
        "the remediation's first line appears once in the ConfigMap's rule file"
    );
    let marker = "Edited in the ConfigMap:";

    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("etc-oauthwatch");
    std::fs::create_dir(&mount).unwrap();
    let state = tmp.path().join("state");
    let mut volume = ConfigMapVolume::create(&mount, &data);
    let config = mount.join("config.toml");
    let daemon = Daemon::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            // The harness reads `listen=ADDR` from text logs; the manifest logs JSON.
            "--log-format",
            "text",
        ],
        Stdio::null(),
    );
    let loaded = sha_label(rules_text);
    wait_metrics(&daemon, "the ConfigMap's rules to be loaded", |m| {
        rule_info_line(m, "invalid_authorization_code").is_some_and(|l| l.contains(&loaded))
    });
    let before = daemon.metrics();
    assert!(!before.contains(marker));
    let successes = |m: &str| {
        metric_value(
            m,
            "oauthwatch_config_reloads_total",
            &[("result", "success")],
        )
        .unwrap_or(0.0)
    };
    let failures = |m: &str| {
        metric_value(
            m,
            "oauthwatch_config_reloads_total",
            &[("result", "failure")],
        )
        .unwrap_or(0.0)
    };
    let ok_before = successes(&before);

    // Edit the rule's remediation in the ConfigMap: the kubelet swaps `..data`.
    let edited: Vec<(String, String)> = data
        .iter()
        .map(|(k, v)| {
            let v = if k == "zoom-oauth.toml" {
                v.replacen(&first_line, &format!("{marker} {first_line}"), 1)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    volume.update(&edited);
    let edited_sha = sha_label(
        &edited
            .iter()
            .find(|(k, _)| k == "zoom-oauth.toml")
            .expect("rules key")
            .1,
    );
    wait_metrics(
        &daemon,
        "the edited rule file's hash in oauthwatch_rule_info",
        |m| {
            rule_info_line(m, "invalid_authorization_code").is_some_and(|l| l.contains(&edited_sha))
                && successes(m) > ok_before
        },
    );
    let after = daemon.metrics();
    assert_eq!(
        metric_value(&after, "oauthwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // A broken edit is rejected: the edited rules stay, the failure is visible.
    let failed_before = failures(&after);
    let broken: Vec<(String, String)> = edited
        .iter()
        .map(|(k, v)| {
            let v = if k == "zoom-oauth.toml" {
                format!("{v}\n[[rules]]\nid = \n")
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    volume.update(&broken);
    wait_metrics(&daemon, "the rejected reload", |m| {
        failures(m) > failed_before
            && metric_value(m, "oauthwatch_config_last_reload_successful", &[]) == Some(0.0)
    });
    let last = daemon.metrics();
    assert!(
        rule_info_line(&last, "invalid_authorization_code")
            .is_some_and(|l| l.contains(&edited_sha)),
        "the last good rules stay in effect"
    );
    assert_eq!(daemon.stop(), 0);
}
