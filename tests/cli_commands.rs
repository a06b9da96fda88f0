//! `scan`, `classify` and `check` through the real binary, on real files and stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const APP_LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/classifier/app.log"
);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oauthwatch"))
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scan_json_counts_each_shape_once_with_line_numbers() {
    let v = json(&run(&["scan", "--format", "json", APP_LOG], None));
    assert_eq!(v["lines"], 12);
    // The pretty-printed body (lines 3-7) is one record.
    assert_eq!(v["records"], 8);
    let rules = v["rules"].as_array().unwrap();
    let got: Vec<(String, u64, u64, u64)> = rules
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
                r["first_line"].as_u64().unwrap(),
                r["last_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("invalid_authorization_code".into(), 2, 8, 12),
            ("invalid_client".into(), 1, 2, 2),
            ("authorization_code_expired".into(), 1, 9, 9),
            ("token_revoked".into(), 1, 3, 3),
        ],
        "most frequent first, ties in rule-file order; the Google lookalike is not counted"
    );
    let first = rules[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "codes",
            "count",
            "first_line",
            "last_line",
            "remediation",
            "rule",
            "severity",
            "summary"
        ]
    );
    assert_eq!(first["codes"], serde_json::json!(["4734"]));
    assert_eq!(first["severity"], "warning");
    assert!(first["remediation"]
        .as_str()
        .unwrap()
        .contains("refresh_token"));
    assert_eq!(rules[1]["codes"], serde_json::json!(["4702", "4704"]));
}

#[test]
fn scan_reads_stdin_and_counts_lines_across_inputs() {
    let data = std::fs::read(APP_LOG).unwrap();
    let from_stdin = json(&run(&["scan", "--format", "json", "-"], Some(&data)));
    let from_file = json(&run(&["scan", "--format", "json", APP_LOG], None));
    assert_eq!(from_stdin, from_file);
    let twice = json(&run(
        &["scan", "--format", "json", APP_LOG, "-"],
        Some(&data),
    ));
    assert_eq!(twice["lines"], 24);
    let first = &twice["rules"][0];
    assert_eq!(first["rule"], "invalid_authorization_code");
    assert_eq!(first["count"], 4);
    assert_eq!(first["first_line"], 8);
    assert_eq!(first["last_line"], 24);
}

#[test]
fn scan_catch_all_has_empty_codes() {
    let input = b"zoom refresh failed: 400 (Bad Request) {\"error\":\"invalid_grant\"}\n";
    let v = json(&run(&["scan", "--format", "json", "-"], Some(input)));
    assert_eq!(v["rules"][0]["rule"], "unclassified");
    assert_eq!(v["rules"][0]["codes"], serde_json::json!([]));
}

#[test]
fn scan_provider_flag_counts_unmarked_lines() {
    // Zoom's own body counts with no provider declared (its shape is the evidence)…
    let input = b"{\"reason\":\"Invalid Token!\",\"error\":\"invalid_grant\"}\n";
    let v = json(&run(&["scan", "--format", "json", "-"], Some(input)));
    assert_eq!(v["rules"][0]["rule"], "token_revoked");
    // …a bare OAuth error that names no one counts only from a Zoom-only source.
    let input = b"Error while refreshing tokens: 400 (Bad Request) {\"error\":\"invalid_grant\"}\n";
    let v = json(&run(&["scan", "--format", "json", "-"], Some(input)));
    assert_eq!(v["rules"], serde_json::json!([]));
    let v = json(&run(
        &["scan", "--provider", "zoom", "--format", "json", "-"],
        Some(input),
    ));
    assert_eq!(v["rules"][0]["rule"], "unclassified");
}

#[test]
fn scan_text_is_a_table_for_a_person() {
    let out = run(&["scan", APP_LOG], None);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("12 lines, 8 records, 5 OAuth failures in 4 rule(s)"),
        "{text}"
    );
    assert!(text.contains("COUNT  CODES"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("invalid_authorization_code"))
        .unwrap();
    for part in ["2", "4734", "warning", "8..12"] {
        assert!(row.contains(part), "{row}");
    }
    assert!(text.contains("What to do: An authorization code can be exchanged once"));
    let pos = |id: &str| text.find(id).unwrap();
    assert!(pos("invalid_authorization_code") < pos("token_revoked"));
    assert!(!text.contains("mk1Cq8Pap6"), "no secrets in the summary");
}

#[test]
fn scan_reports_unreadable_inputs_and_bad_rules() {
    let out = run(&["scan", "/nonexistent/app.log"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/app.log"));
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.toml");
    std::fs::write(&rules, "provider = \"x\"\nmarkers = [\"xyz\"]\nbogus = 1\n").unwrap();
    let out = run(&["scan", "--rules", rules.to_str().unwrap(), APP_LOG], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:3:1: bogus: unknown key"));
}

#[test]
fn classify_prints_one_redacted_object_per_record() {
    let data = std::fs::read(APP_LOG).unwrap();
    let out = run(&["classify"], Some(&data));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 5, "only matching records without --all");
    let o = objs.iter().find(|o| o["line"] == 8).unwrap();
    assert_eq!(o["rule"], "invalid_authorization_code");
    assert_eq!(o["codes"], serde_json::json!(["4734"]));
    assert_eq!(o["severity"], "warning");
    assert_eq!(o["reason"], "Invalid authorization code <redacted>");
    assert!(o["excerpt"].as_str().unwrap().contains("<redacted>"));
    assert!(
        !text.contains("mk1Cq8Pap6") && !text.contains("jH8sFKaViM"),
        "{text}"
    );

    let out = run(&["classify", "--all"], Some(&data));
    let all: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 8);
    let google = all.iter().find(|o| o["line"] == 10).unwrap();
    assert_eq!(google["rule"], serde_json::Value::Null);
    assert!(
        google["why"]
            .as_str()
            .unwrap()
            .contains("excluded by `rfc6749_error_description`"),
        "{google}"
    );
    let matched = all.iter().find(|o| o["line"] == 8).unwrap();
    assert!(
        matched["why"]
            .as_str()
            .unwrap()
            .contains("`zoom` evidence `zoom_name`"),
        "{matched}"
    );
    let out = run(
        &["classify", "--all"],
        Some(b"zoom sync: google {\"error\":\"invalid_grant\",\"error_description\":\"Bad Request\"}\n"),
    );
    let o: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(o["rule"], serde_json::Value::Null);
    assert!(
        o["why"].as_str().unwrap().contains("`error_description`"),
        "{o}"
    );
}

#[test]
fn check_accepts_the_embedded_rules() {
    let out = run(&["check"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: <embedded>/zoom-oauth.toml"));
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/zoom-oauth.toml");
    assert_eq!(
        run(&["check", "--rules", shipped], None).status.code(),
        Some(0)
    );
}

#[test]
fn check_reports_every_problem_in_config_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/zoom-oauth.toml"
    ))
    .unwrap();
    // Break the shipped file in four ways.
    let broken = shipped
        .replacen("id = \"token_empty\"", "id = \"token_revoked\"", 1)
        .replacen("window = \"10m\"", "window = \"10 minutes\"", 1)
        .replacen(
            "'''token cannot be empty'''",
            "'''token (cannot be empty'''",
            1,
        )
        .replacen(
            "\nprovider = \"zoom\"\n",
            "\nprovider = \"zoom\"\nproviders = []\n",
            1,
        );
    // The line after `provider = "zoom"`: newlines up to and including the one before it, + 2.
    let providers_line = shipped[..=shipped.find("\nprovider = \"zoom\"\n").unwrap()]
        .matches('\n')
        .count()
        + 2;
    let rules = dir.path().join("zoom.toml");
    std::fs::write(&rules, broken).unwrap();
    let config = dir.path().join("oauthwatch.toml");
    std::fs::write(
        &config,
        "rules = [\"zoom.toml\"]\nlisten = 42\n[[sources]]\nname = \"app\"\npaths = [\"/var/log/app/*.log\"]\n",
    )
    .unwrap();
    let out = run(&["check", "--config", config.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let cfg = config.display().to_string();
    let rf = rules.display().to_string();
    for want in [
        format!("{cfg}:2:10: listen:"),
        format!("{rf}:{providers_line}:1: providers: unknown key"),
        ": rules[0].alert.window: invalid duration `10 minutes`".to_string(),
        ": rules[2].patterns[0]: invalid regex".to_string(),
        ": rules[18].id: duplicate rule id `token_revoked` (first defined on line".to_string(),
    ] {
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
    // Each diagnostic is file:line:column.
    for line in err.lines().filter(|l| l.starts_with(&rf)) {
        let rest = &line[rf.len()..];
        let mut parts = rest.splitn(4, ':');
        assert_eq!(parts.next(), Some(""));
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "{line}");
        assert!(parts.next().unwrap().parse::<u32>().is_ok(), "{line}");
    }
    // The config is broken, so its rules are checked through --rules too: the duplicate id.
    let out = run(&["check", "--rules", rules.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("problem(s) in"), "{err}");
}

#[test]
fn scan_line_numbers_count_blank_lines() {
    let input = b"a\n\n\nb\nzoom {\"reason\":\"Code is expired\",\"error\":\"invalid_grant\"}\n\n  \nc\nzoom {\"reason\":\"Code is expired\",\"error\":\"invalid_grant\"}\n";
    let v = json(&run(&["scan", "--format", "json", "-"], Some(input)));
    assert_eq!(v["lines"], 9);
    assert_eq!(v["rules"][0]["first_line"], 5);
    assert_eq!(v["rules"][0]["last_line"], 9);
}

#[test]
fn check_loads_the_endpoints_tls_files_and_password_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/http");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[http.tls]\ncert_file = \"{fixtures}/server.pem\"\nkey_file = \"{fixtures}/server.key\"\n"
        ),
    )
    .unwrap();
    let out = run(&["check", "--config", good.to_str().unwrap()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[http.tls]\ncert_file = \"missing.pem\"\nkey_file = \"missing.key\"\n[http.basic_auth_users]\nprometheus = \"$2y$10$not-a-real-bcrypt-hash\"\n",
    )
    .unwrap();
    let out = run(&["check", "--config", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml: http.tls:") && err.contains("missing.pem"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: http.basic_auth_users:") && err.contains("prometheus"),
        "{err}"
    );
    assert!(
        !err.contains("not-a-real-bcrypt-hash"),
        "a hash is never echoed: {err}"
    );
}
