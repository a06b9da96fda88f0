//! `scan`, `classify` and `check` through the real binary, on real files and stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{gzip, zstd};

const APP_LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/classifier/app.log"
);

fn bin() -> Command {
    crate::support::oauthwatch()
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
            "first_file",
            "first_line",
            "last_file",
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
fn scan_reads_stdin_and_numbers_lines_within_each_input() {
    let data = std::fs::read(APP_LOG).unwrap();
    let from_stdin = json(&run(&["scan", "--format", "json", "-"], Some(&data)));
    let from_file = json(&run(&["scan", "--format", "json", APP_LOG], None));
    assert_eq!(from_stdin["rules"][0]["first_file"], "-");
    assert_eq!(without_files(from_stdin), without_files(from_file));
    let twice = json(&run(
        &["scan", "--format", "json", APP_LOG, "-"],
        Some(&data),
    ));
    assert_eq!(twice["lines"], 24, "totals count across inputs");
    let first = &twice["rules"][0];
    assert_eq!(first["rule"], "invalid_authorization_code");
    assert_eq!(first["count"], 4);
    assert_eq!(first["first_line"], 8);
    assert_eq!(first["first_file"], APP_LOG);
    assert_eq!(
        first["last_line"], 12,
        "line 12 of the second input, not 24"
    );
    assert_eq!(first["last_file"], "-");
}

/// `big.log:1998426` was printed for line 1998413 of `big.log`: numbers ran on across files.
#[test]
fn scan_text_prints_per_file_line_numbers_after_each_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let hit = "zoom {\"reason\":\"Code is expired\",\"error\":\"invalid_grant\"}\n";
    std::fs::write(&a, format!("x\ny\n{hit}z\n")).unwrap();
    std::fs::write(&b, format!("{hit}\n\n{hit}")).unwrap();
    let out = run(&["scan", a.to_str().unwrap(), b.to_str().unwrap()], None);
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.contains("authorization_code_expired"))
        .unwrap();
    assert!(
        row.ends_with(&format!("{}:3..{}:4", a.display(), b.display())),
        "{row}"
    );
    let v = json(&run(
        &[
            "scan",
            "--format",
            "json",
            b.to_str().unwrap(),
            a.to_str().unwrap(),
        ],
        None,
    ));
    let r = &v["rules"][0];
    assert_eq!(
        (
            &r["first_file"],
            &r["first_line"],
            &r["last_file"],
            &r["last_line"]
        ),
        (
            &serde_json::json!(b.to_str().unwrap()),
            &serde_json::json!(1),
            &serde_json::json!(a.to_str().unwrap()),
            &serde_json::json!(3)
        )
    );
}

#[test]
fn scan_catch_all_has_empty_codes() {
    let input = b"zoom refresh failed: 400 (Bad Request) {\"error\":\"invalid_grant\"}\n";
    let v = json(&run(&["scan", "--format", "json", "-"], Some(input)));
    assert_eq!(v["rules"][0]["rule"], "unclassified");
    assert_eq!(v["rules"][0]["codes"], serde_json::json!([]));
}

#[test]
fn scan_catch_all_lists_the_redacted_reasons_it_saw_most_frequent_first() {
    let mut input = String::new();
    for (reason, n) in [
        (
            "Account 123456 suspended for token tk_9f8e7d6c5b4a39281706",
            1,
        ),
        (
            "Invalid redirect for code Zq7xW2mK9pL4vB8nR3tY6uI1oP5aS0dF",
            3,
        ),
    ] {
        for _ in 0..n {
            input.push_str(&format!(
                "zoom refresh failed: 400 {{\"reason\":\"{reason}\",\"error\":\"invalid_grant\"}}\n"
            ));
        }
    }
    let v = json(&run(
        &["scan", "--format", "json", "-"],
        Some(input.as_bytes()),
    ));
    let catch_all = &v["rules"][0];
    assert_eq!(catch_all["rule"], "unclassified");
    assert_eq!(catch_all["count"], 4);
    let reasons = catch_all["unmatched_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0]["count"], 3);
    assert_eq!(
        reasons[0]["reason"], "Invalid redirect for code <redacted>",
        "normalised as /hints shows it"
    );
    assert_eq!(reasons[1]["count"], 1);
    let text = String::from_utf8(run(&["scan", "-"], Some(input.as_bytes())).stdout).unwrap();
    let first = text
        .find("Invalid redirect for code <redacted>")
        .expect(&text);
    let second = text.find("Account <n> suspended").expect(&text);
    assert!(first < second, "most frequent first: {text}");
    for secret in [
        "Zq7xW2mK9pL4vB8nR3tY6uI1oP5aS0dF",
        "tk_9f8e7d6c5b4a39281706",
        "123456",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // A rule with its own code has no reasons list.
    let v = json(&run(&["scan", "--format", "json", APP_LOG], None));
    assert!(v["rules"][0].get("unmatched_reasons").is_none());
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

/// A `scan --format json` document without the input names, to compare runs over inputs
/// named differently.
fn without_files(mut v: serde_json::Value) -> serde_json::Value {
    for r in v["rules"].as_array_mut().unwrap() {
        let r = r.as_object_mut().unwrap();
        assert!(r.remove("first_file").is_some() && r.remove("last_file").is_some());
    }
    v
}

/// `scan app.log.2.gz` printed "3 lines, 3 records, 0 OAuth failures": compressed bytes read
/// as text.
#[test]
fn scan_and_classify_decompress_gzip_and_zstd_files_and_stdin() {
    let plain = std::fs::read(APP_LOG).unwrap();
    let want = json(&run(&["scan", "--format", "json", APP_LOG], None));
    let dir = tempfile::tempdir().unwrap();
    // Names that do not say what is inside: the magic bytes decide.
    let gz = dir.path().join("app.log.2");
    let zst = dir.path().join("app.log.3");
    std::fs::write(&gz, gzip(&plain)).unwrap();
    std::fs::write(&zst, zstd(&plain)).unwrap();
    for (path, bytes) in [(&gz, gzip(&plain)), (&zst, zstd(&plain))] {
        let path = path.to_str().unwrap();
        let v = json(&run(&["scan", "--format", "json", path], None));
        assert_eq!(v["rules"][0]["first_file"], path);
        assert_eq!(without_files(v), without_files(want.clone()), "{path}");
        let from_stdin = json(&run(&["scan", "--format", "json", "-"], Some(&bytes)));
        assert_eq!(
            without_files(from_stdin),
            without_files(want.clone()),
            "{path} on stdin"
        );
        let out = run(&["classify"], Some(&bytes));
        assert!(out.status.success());
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines.len(),
            5,
            "{path}: classify reads decompressed records"
        );
        assert_eq!(lines[0]["rule"], "invalid_client");
    }
}

/// Decompression streams: a file much larger than one read chunk, in several gzip members.
#[test]
fn scan_streams_large_multi_member_gzip() {
    let hit = "2024-05-01T10:00:00Z ERROR zoom {\"reason\":\"Code is expired\",\"error\":\"invalid_grant\"}\n";
    let filler =
        "2024-05-01T10:00:00Z INFO request served in 12ms for account 42 path /api/v2/users\n";
    let mut part = String::new();
    for i in 0..40_000 {
        part.push_str(if i % 10_000 == 9_999 { hit } else { filler });
    }
    let mut bytes = gzip(part.as_bytes());
    bytes.extend(gzip(part.as_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log.gz");
    std::fs::write(&path, &bytes).unwrap();
    let v = json(&run(
        &["scan", "--format", "json", path.to_str().unwrap()],
        None,
    ));
    assert_eq!(v["lines"], 80_000);
    assert_eq!(v["rules"][0]["count"], 8);
    assert_eq!(v["rules"][0]["first_line"], 10_000);
    assert_eq!(v["rules"][0]["last_line"], 80_000);
}

#[test]
fn scan_reports_corrupt_compressed_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(APP_LOG).unwrap();
    for (name, mut bytes) in [("cut.gz", gzip(&plain)), ("cut.zst", zstd(&plain))] {
        bytes.truncate(bytes.len() / 2);
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(&["scan", path.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("error reading {}", path.display())),
            "{err}"
        );
        let kind = if name.ends_with("gz") { "gzip" } else { "zstd" };
        assert!(err.contains(&format!("({kind} input)")), "{err}");
    }
}

#[test]
fn scan_a_directory_reads_its_files_sorted_recursively_skipping_hidden_ones() {
    let plain = std::fs::read(APP_LOG).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("old")).unwrap();
    std::fs::create_dir_all(d.join(".cache")).unwrap();
    std::fs::write(d.join("app.log"), &plain).unwrap();
    std::fs::write(d.join("app.log.1"), &plain).unwrap();
    std::fs::write(d.join("old/app.log.2.gz"), gzip(&plain)).unwrap();
    std::fs::write(d.join("old/app.log.3.zst"), zstd(&plain)).unwrap();
    std::fs::write(d.join(".cache/app.log"), &plain).unwrap();
    std::fs::write(d.join(".app.log.swp"), &plain).unwrap();
    let v = json(&run(
        &["scan", "--format", "json", d.to_str().unwrap()],
        None,
    ));
    assert_eq!(v["lines"], 4 * 12, "four files, hidden ones skipped");
    let r = &v["rules"][0];
    assert_eq!(r["rule"], "invalid_authorization_code");
    assert_eq!(r["count"], 8);
    assert_eq!(r["first_file"], d.join("app.log").to_str().unwrap());
    assert_eq!(
        r["last_file"],
        d.join("old/app.log.3.zst").to_str().unwrap()
    );
    let out = run(&["scan", d.join("missing").to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&["scan", empty.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no files to scan"));
}

#[test]
fn scan_warns_naming_the_file_when_input_is_not_text() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("core.dump");
    let mut x = 0x9E3779B97F4A7C15u64;
    let noise: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&binary, &noise).unwrap();
    let xz = dir.path().join("app.log.4.xz");
    let mut xz_bytes = vec![0xfd, b'7', b'z', b'X', b'Z', 0x00];
    xz_bytes.extend_from_slice(&noise[..1000]);
    std::fs::write(&xz, xz_bytes).unwrap();
    let out = run(
        &[
            "scan",
            APP_LOG,
            binary.to_str().unwrap(),
            xz.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "a warning, not a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("warning: {} is mostly not text", binary.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("skipping {}: it is xz-compressed", xz.display())),
        "{err}"
    );
    assert!(
        !err.contains(&format!("{APP_LOG} is mostly")),
        "a log is text: {err}"
    );
    let out = run(&["classify"], Some(&noise));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standard input is mostly not text"), "{err}");
    let out = run(&["scan", APP_LOG], None);
    assert!(out.stderr.is_empty(), "no warning for text");
}

/// A pseudo-terminal: (master, slave), the slave 120x40.
fn pty() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors, which we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Lines of a child's stdout as they arrive.
fn line_channel(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

const HELD: &[u8] = b"2024-05-01T10:00:06Z ERROR zoom_client: {'reason': 'Invalid authorization code jH8sFKaViM_RSTLNTS-Tk-_mCVkEdZpAQ', 'error': 'invalid_grant'}\n";

/// Interactive `classify` withheld a line containing `ERROR` until the next line arrived.
#[test]
fn classify_on_a_terminal_prints_a_held_error_line_without_waiting_for_the_next() {
    let (mut master, slave) = pty();
    let mut child = bin()
        .arg("classify")
        .stdin(std::process::Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_channel(child.stdout.take().unwrap());
    master.write_all(HELD).unwrap();
    let got = lines.recv_timeout(std::time::Duration::from_secs(20));
    // End of input on a terminal: ^D at the start of a line.
    master.write_all(b"\x04").unwrap();
    let status = child.wait().unwrap();
    let got = got.expect("the held line is printed while the terminal waits for more");
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["rule"], "invalid_authorization_code");
    assert!(status.success());
}

#[test]
fn classify_from_a_quiet_pipe_prints_a_held_line_after_the_multiline_timeout() {
    let mut child = bin()
        .arg("classify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_channel(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    // A message line and its trace arrive together and stay one record; the pipe stays open.
    let mut both = HELD.to_vec();
    both.extend_from_slice(b"    at Client.refresh (client.js:42)\n");
    stdin.write_all(&both).unwrap();
    let got = lines.recv_timeout(std::time::Duration::from_secs(20));
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let v: serde_json::Value =
        serde_json::from_str(&got.expect("printed before end of input")).unwrap();
    assert_eq!(v["rule"], "invalid_authorization_code");
    assert!(
        v["excerpt"].as_str().unwrap().contains("client.js:42"),
        "the trace joined its message: {v}"
    );
    assert!(lines.recv().is_err(), "one record");
}

/// `scan -` drew a meaningless bar (N of N, empty, eta 0s).
#[test]
fn scan_from_a_pipe_shows_a_spinner_with_lines_records_and_rate_on_a_terminal() {
    let (mut master, slave) = pty();
    let mut cmd = bin();
    cmd.args(["scan", "-"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::process::Stdio::from(slave));
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let drawn = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child (the last holder of the slave) exits.
        while let Ok(n) = std::io::Read::read(&mut master, &mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let mut stdin = child.stdin.take().unwrap();
    let data = std::fs::read(APP_LOG).unwrap();
    for _ in 0..3 {
        stdin.write_all(&data).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("36 lines"));
    let drawn = drawn.join().unwrap();
    assert!(
        drawn.contains(" lines, ") && drawn.contains(" records, ") && drawn.contains(" lines/s"),
        "{drawn:?}"
    );
    assert!(!drawn.contains("eta"), "no bar for a stream: {drawn:?}");
}
