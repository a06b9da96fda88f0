//! One redactor for every output: a corpus of secret shapes (tests/fixtures/secrets/) must not
//! leak through `redact`, any endpoint, any CLI output, or the daemon's own logs.

use crate::support;

use std::path::{Path, PathBuf};

use oauthwatch::classifier::redact::redact;

/// One corpus entry: a log line, the secrets in it, and text that must stay readable.
pub struct Case {
    pub shape: String,
    pub line: String,
    pub secrets: Vec<String>,
    pub keep: Vec<String>,
}

fn corpus_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets/corpus.jsonl")
}

fn corpus() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_path()).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let strings = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            };
            Case {
                shape: v["shape"].as_str().unwrap().to_string(),
                line: v["line"].as_str().unwrap().to_string(),
                secrets: strings("secrets"),
                keep: strings("keep"),
            }
        })
        .collect()
}

/// Every secret of the corpus that appears in `output` (named by its shape).
fn leaks<'a>(cases: &'a [Case], output: &str) -> Vec<(&'a str, &'a str)> {
    cases
        .iter()
        .flat_map(|c| {
            c.secrets
                .iter()
                .map(move |s| (c.shape.as_str(), s.as_str()))
        })
        .filter(|(_, s)| output.contains(s))
        .collect()
}

#[test]
fn redact_hides_every_secret_shape_and_keeps_the_words() {
    let cases = corpus();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for c in &cases {
        let out = redact(c.line.as_bytes());
        for s in &c.secrets {
            if out.contains(s.as_str()) {
                failures.push(format!("{}: leaked {s}: {out}", c.shape));
            }
        }
        for k in &c.keep {
            if !out.contains(k.as_str()) {
                failures.push(format!("{}: lost {k:?}: {out}", c.shape));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn bin() -> std::process::Command {
    crate::support::oauthwatch()
}

/// Run the CLI with `stdin`; returns stdout and stderr together.
fn cli(args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = bin()
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn all_lines(cases: &[Case]) -> String {
    cases.iter().map(|c| format!("{}\n", c.line)).collect()
}

#[test]
fn no_cli_output_leaks_a_secret() {
    let cases = corpus();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, all_lines(&cases)).unwrap();
    let log = log.to_str().unwrap();
    let input = all_lines(&cases);

    let mut outputs = Vec::new();
    for args in [
        &["classify"][..],
        &["classify", "--all"],
        &["classify", "--provider", "zoom"],
        &["classify", "--all", "--provider", "zoom"],
    ] {
        outputs.push((args.join(" "), cli(args, input.as_bytes())));
    }
    for args in [
        &["scan", log][..],
        &["scan", "--format", "json", log],
        &["scan", "--provider", "zoom", log],
    ] {
        outputs.push((args.join(" "), cli(args, b"")));
    }
    // `check` over a rule file whose examples carry secrets, and a config with secrets in
    // unknown or wrongly typed keys: problems are reported without echoing the values.
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/zoom-oauth.toml"),
    )
    .unwrap();
    let bad_example = cases
        .iter()
        .map(|c| format!("'''{}'''", c.line.replace("'''", "")))
        .collect::<Vec<_>>()
        .join(", ");
    let rules = rules.replacen("no_match = []", &format!("no_match = [{bad_example}]"), 1);
    let rules_path = dir.path().join("rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "client_secret = \"{}\"\n[http]\nmax_connections = \"{}\"\n[http.basic_auth_users]\nops = \"{}\"\n",
            cases[13].secrets[0], cases[16].secrets[0], cases[17].secrets[0]
        ),
    )
    .unwrap();
    outputs.push((
        "check".into(),
        cli(
            &[
                "check",
                "--rules",
                rules_path.to_str().unwrap(),
                "--config",
                config_path.to_str().unwrap(),
            ],
            b"",
        ),
    ));

    let classify_all = &outputs[1].1;
    assert!(
        classify_all
            .lines()
            .filter(|l| l.contains("excerpt"))
            .count()
            >= cases.len(),
        "classify --all printed fewer excerpts than records:\n{classify_all}"
    );
    assert!(
        outputs.last().unwrap().1.contains("problem"),
        "{}",
        outputs.last().unwrap().1
    );
    for (what, out) in &outputs {
        let leaked = leaks(&cases, out);
        assert!(leaked.is_empty(), "`{what}` leaked {leaked:?}:\n{out}");
    }
}

/// Feed the corpus through a real daemon, one line at a time, and read every endpoint after
/// each line (a sample shows the latest record per rule), with the daemon logging at trace
/// level; no secret may appear anywhere.
#[test]
fn no_endpoint_or_daemon_log_leaks_a_secret() {
    let cases = corpus();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let state = dir.path().join("state");
    let daemon = support::daemon::Daemon::start(
        &[
            "--path",
            log.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--start-at",
            "beginning",
            "--log-level",
            "trace",
        ],
        std::process::Stdio::null(),
    );
    let mut seen = String::new();
    for (i, c) in cases.iter().enumerate() {
        support::append(&log, &format!("{}\n", c.line));
        daemon.wait_metric(
            "oauthwatch_source_lines_total",
            &[("source", "files")],
            (i + 1) as f64,
        );
        for path in ["/hints", "/", "/metrics", "/readyz", "/healthz"] {
            let (status, body) = daemon.get(path);
            assert_eq!(status, 200, "{path}: {body}");
            let leaked = leaks(&cases, &body);
            assert!(
                leaked.is_empty(),
                "{path} after {:?} leaked {leaked:?}:\n{body}",
                c.shape
            );
            if path == "/hints" {
                seen.push_str(&body);
            }
        }
    }
    // The samples were really shown (redacted), so the check above saw them.
    assert!(seen.contains("<redacted>"), "{seen}");
    assert!(seen.contains("Invalid Token!"), "{seen}");
    let logs = daemon.logs();
    assert_eq!(daemon.stop(), 0);
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "not logging at trace:\n{logs}"
    );
    let leaked = leaks(&cases, &logs);
    assert!(
        leaked.is_empty(),
        "the daemon's log leaked {leaked:?}:\n{logs}"
    );
}
