//! The `run` command end to end through its real interfaces: the binary, real files, real
//! signals and real HTTP scrapes.

use crate::support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::support::append;
use crate::support::daemon::{metric_value, Daemon};

/// The failure from the first forum thread, as the app logged it.
const REUSED_CODE: &str = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ\n";
/// The failure from the second forum thread (a Python dict repr with a typographic quote).
const PKCE_MISMATCH: &str = "ERROR:app.zoom:token exchange failed: {'reason': 'Invalid authorization code jH8sFKaViM_RSTLNTS-Tk-_mCVkEdZpAQ', 'error': 'invalid_grant’}\n";
/// A Zoom token-endpoint failure no row of the table describes.
const UNKNOWN: &str = "2026-11-23T10:00:01Z ERROR auth: Zoom API error: invalid_request, reason: Quantum flux capacitor misaligned\n";
const NOISE: &str = "2026-11-23T10:00:02Z INFO http: GET /health 200 0.4ms\n";

fn errors(metrics: &str, rule: &str, source: &str) -> Option<f64> {
    metric_value(
        metrics,
        "oauthwatch_errors_total",
        &[("rule", rule), ("source", source)],
    )
}

#[test]
fn stdin_is_classified_and_metrics_are_served_until_sigterm() {
    let mut d = Daemon::start(&["--stdin", "--provider", "zoom"], Stdio::piped());
    {
        let mut stdin = d.child.stdin.take().unwrap();
        for l in [REUSED_CODE, NOISE, PKCE_MISMATCH, NOISE, UNKNOWN] {
            stdin.write_all(l.as_bytes()).unwrap();
        }
    } // closing stdin: end of input
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "stdin")],
        2.0,
    );
    d.wait_metric(
        "oauthwatch_errors_total",
        &[
            ("rule", "unclassified"),
            ("code", "unknown"),
            ("source", "stdin"),
        ],
        1.0,
    );
    // After end of input the daemon keeps serving: a later scrape still sees the counts.
    std::thread::sleep(Duration::from_millis(500));
    let m = d.metrics();
    assert_eq!(errors(&m, "invalid_authorization_code", "stdin"), Some(2.0));
    assert_eq!(
        metric_value(&m, "oauthwatch_source_lines_total", &[("source", "stdin")]),
        Some(5.0)
    );
    // Every rule is pre-initialised at zero.
    assert_eq!(errors(&m, "token_revoked", "stdin"), Some(0.0));
    assert_eq!(d.stop(), 0);
}

#[test]
fn exit_on_eof_stops_by_itself() {
    let mut child = crate::support::oauthwatch()
        .args(["run", "--stdin", "--exit-on-eof", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(REUSED_CODE.as_bytes())
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < support::DEADLINE, "did not exit at EOF");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

fn write_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"state_dir = "state"
checkpoint_interval = "200ms"
poll_interval = "1s"
watch_config = false
{extra}
[[sources]]
name = "app"
paths = ["logs/*.log"]
provider = "zoom"
start_at = "beginning"
"#
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    cfg
}

#[test]
fn a_restart_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    for _ in 0..3 {
        append(&log, REUSED_CODE);
        append(&log, NOISE);
    }
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    d.wait_metric("oauthwatch_source_lines_total", &[("source", "app")], 6.0);
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "app")],
        3.0,
    );
    assert_eq!(d.stop(), 0, "graceful stop exits 0");

    // Written while the daemon was down: counted once after the restart, and nothing before
    // it is counted again.
    append(&log, PKCE_MISMATCH);
    append(&log, NOISE);
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    d.wait_metric("oauthwatch_source_lines_total", &[("source", "app")], 2.0);
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "app")],
        1.0,
    );
    std::thread::sleep(Duration::from_secs(1));
    let m = d.metrics();
    assert_eq!(
        metric_value(&m, "oauthwatch_source_lines_total", &[("source", "app")]),
        Some(2.0),
        "nothing read before the stop may be read again"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn secrets_never_leave_the_process() {
    let secrets = [
        "mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ",
        "eyJhbGciOiJIUzUxMiIsInYiOiIyLjAiLCJraWQiOiJhYmMifQ.eyJ2ZXIiOjcsImF1aWQiOiJ4eXoifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        "S3cr3tClientSecretValue42",
        "ya29BearerTokenValue0123456789",
        "Zm9vOmJhcl9jbGllbnRfc2VjcmV0",
    ];
    let lines = [
        format!("ERROR zoom token exchange failed code={} {{\"reason\":\"Invalid authorization code {}\",\"error\":\"invalid_grant\"}}\n", secrets[0], secrets[0]),
        format!("ERROR Zoom API error: invalid_request, reason: Invalid Token! access_token={}\n", secrets[1]),
        format!("ERROR POST https://zoom.us/oauth/token client_secret={} -> {{\"reason\":\"Invalid client_id or client_secret\",\"error\":\"invalid_client\"}}\n", secrets[2]),
        format!("ERROR zoom refresh failed Authorization: Bearer {} {{\"reason\":\"Invalid Token!\",\"error\":\"invalid_request\"}}\n", secrets[3]),
        format!("ERROR zoom token call Authorization: Basic {} {{\"reason\":\"Weird new failure {}\",\"error\":\"invalid_request\"}}\n", secrets[4], secrets[0]),
    ];
    let mut d = Daemon::start(
        &["--stdin", "--provider", "zoom", "--log-level", "trace"],
        Stdio::piped(),
    );
    {
        let mut stdin = d.child.stdin.take().unwrap();
        for l in &lines {
            stdin.write_all(l.as_bytes()).unwrap();
        }
    }
    d.wait_metric("oauthwatch_source_lines_total", &[("source", "stdin")], 5.0);
    let mut outputs = vec![("/metrics".to_string(), d.metrics())];
    for path in ["/hints", "/", "/healthz", "/readyz"] {
        outputs.push((path.to_string(), d.get(path).1));
    }
    let logs_before_stop = d.logs();
    assert_eq!(d.stop(), 0);
    outputs.push(("daemon logs".into(), logs_before_stop));
    for (what, text) in &outputs {
        for s in &secrets {
            assert!(!text.contains(s), "secret {s} leaked into {what}:\n{text}");
        }
    }
}

#[test]
fn reload_rejects_a_broken_rule_file_and_keeps_counters() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("zoom.toml");
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/zoom-oauth.toml"
    ))
    .unwrap();
    std::fs::write(&rules, &good).unwrap();
    let cfg = write_config(dir.path(), "rules = [\"zoom.toml\"]");
    let log = dir.path().join("logs/app.log");
    append(&log, REUSED_CODE);
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    let code = [("rule", "invalid_authorization_code"), ("source", "app")];
    d.wait_metric("oauthwatch_errors_total", &code, 1.0);
    d.wait_metric("oauthwatch_config_last_reload_successful", &[], 1.0);

    std::fs::write(
        &rules,
        format!("{good}\n[[rules]]\nid = \"broken\"\npatterns = [\"(unclosed\"]\n"),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    d.wait_metric(
        "oauthwatch_config_reloads_total",
        &[("result", "failure")],
        1.0,
    );
    d.wait_metric("oauthwatch_config_last_reload_successful", &[], 0.0);
    assert!(
        d.logs().contains("zoom.toml:"),
        "the reload error names the file and line:\n{}",
        d.logs()
    );
    // The old rules still classify.
    append(&log, REUSED_CODE);
    d.wait_metric("oauthwatch_errors_total", &code, 2.0);

    std::fs::write(&rules, &good).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_metric(
        "oauthwatch_config_reloads_total",
        &[("result", "success")],
        1.0,
    );
    d.wait_metric("oauthwatch_config_last_reload_successful", &[], 1.0);
    // Counters of rules that remain are not reset by a reload.
    append(&log, REUSED_CODE);
    d.wait_metric("oauthwatch_errors_total", &code, 3.0);
    assert_eq!(d.stop(), 0);
}

#[test]
fn a_bad_config_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\nbogus_key = 1\n[[sources]]\nname = \"a\"\npaths = [\"x\"]\nformat = \"xml\"\n",
    )
    .unwrap();
    let out = crate::support::oauthwatch()
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:2:1: bogus_key: unknown key"),
        "{err}"
    );
    assert!(
        err.contains("config.toml:6:10: sources[0].format: unknown format `xml`"),
        "{err}"
    );
}

#[test]
fn a_reload_that_changes_the_sources_restarts_them_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    append(&log, REUSED_CODE);
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    let code = [("rule", "invalid_authorization_code"), ("source", "app")];
    d.wait_metric("oauthwatch_errors_total", &code, 1.0);

    // A second glob, whose directory appears only now, and a line written around the reload.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        r#"paths = ["logs/*.log"]"#,
        r#"paths = ["logs/*.log", "more/*.log"]"#,
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::create_dir_all(dir.path().join("more")).unwrap();
    append(&dir.path().join("more/other.log"), PKCE_MISMATCH);
    append(&log, NOISE);
    d.signal(libc::SIGHUP);
    d.wait_metric(
        "oauthwatch_config_reloads_total",
        &[("result", "success")],
        1.0,
    );
    append(&log, REUSED_CODE);
    d.wait_metric("oauthwatch_errors_total", &code, 3.0);
    d.wait_metric("oauthwatch_source_lines_total", &[("source", "app")], 4.0);
    // Nothing read before the reload is read again.
    std::thread::sleep(Duration::from_millis(500));
    let m = d.metrics();
    assert_eq!(
        metric_value(&m, "oauthwatch_source_lines_total", &[("source", "app")]),
        Some(4.0)
    );
    assert_eq!(errors(&m, "invalid_authorization_code", "app"), Some(3.0));
    assert_eq!(d.stop(), 0);
}

#[test]
fn readiness_follows_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    d.wait_metric("oauthwatch_ready", &[], 1.0);
    assert_eq!(d.get("/readyz").0, 200);
    assert_eq!(d.get("/healthz").0, 200);
    assert_eq!(d.stop(), 0);
}

#[test]
fn sigterm_stops_the_daemon_while_its_stdin_is_still_open() {
    // `app | oauthwatch run --stdin` in a pod: the app is still running when the pod stops.
    let mut d = Daemon::start(&["--stdin", "--provider", "zoom"], Stdio::piped());
    let mut stdin = d.child.stdin.take().unwrap();
    stdin.write_all(REUSED_CODE.as_bytes()).unwrap();
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "stdin")],
        1.0,
    );
    // The pipe stays open (held here) while the daemon is told to stop.
    assert_eq!(d.stop(), 0);
    drop(stdin);
}

#[test]
fn sigterm_counts_a_last_stdin_line_that_has_no_newline_yet() {
    // Standard input has no checkpoint to resume from: what was read must be counted now.
    let mut d = Daemon::start(&["--stdin", "--provider", "zoom"], Stdio::piped());
    let mut stdin = d.child.stdin.take().unwrap();
    stdin.write_all(REUSED_CODE.trim_end().as_bytes()).unwrap();
    let bytes = REUSED_CODE.trim_end().len() as f64;
    d.wait_metric(
        "oauthwatch_source_bytes_total",
        &[("source", "stdin")],
        bytes,
    );
    let logs = d.stderr.clone();
    assert_eq!(d.stop(), 0);
    let logs = logs.lock().unwrap().clone();
    assert!(
        logs.contains("stopped cleanly records=1 matches=1"),
        "the partial line is classified at the stop:\n{logs}"
    );
    drop(stdin);
}

/// Poll `/metrics` on `addr` until `name{labels}` reaches `value` (a generous deadline).
fn wait_in_process(addr: &str, name: &str, labels: &[(&str, &str)], value: f64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = support::daemon::http_get(addr, "/metrics");
        if status == 200 && metric_value(&body, name, labels) == Some(value) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}{labels:?} never reached {value}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon as a library call, like mini-redis's `server::run(listener, shutdown)`: it
/// serves on a listener the caller bound (`127.0.0.1:0`), reloads when the caller asks
/// through the reloads channel, and stops gracefully when the shutdown future resolves.
#[test]
fn app_run_serves_reloads_and_stops_in_process() {
    use oauthwatch::app::{self, ReloadRequest, Settings};
    use oauthwatch::config::Overlay;

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let log = dir.path().join("logs/app.log");
    append(&log, REUSED_CODE);
    let overlay = Overlay {
        config: Some(cfg.clone()),
        ..Overlay::default()
    };
    let (config, rules) = app::load(&overlay).expect("valid config");
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    let stop = tokio_util::sync::CancellationToken::new();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let shutdown = stop.clone().cancelled_owned();
    let daemon = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let settings = Settings {
                overlay,
                config,
                rules,
                log: None,
            };
            app::run(listener, settings, shutdown, reload_rx).await
        })
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .to_string();
    let code = [("rule", "invalid_authorization_code"), ("source", "app")];
    wait_in_process(&addr, "oauthwatch_errors_total", &code, 1.0);

    // A second source appears in the config file; the reload request applies it.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "[[sources]]\nname = \"other\"\npaths = [\"other/*.log\"]\nstart_at = \"beginning\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    append(&dir.path().join("other/x.log"), REUSED_CODE);
    reload_tx
        .blocking_send(ReloadRequest { trigger: "test" })
        .unwrap();
    wait_in_process(
        &addr,
        "oauthwatch_config_reloads_total",
        &[("result", "success")],
        1.0,
    );
    wait_in_process(
        &addr,
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "other")],
        1.0,
    );
    // The first source was restarted from its checkpoint: nothing counted twice.
    let m = wait_in_process(&addr, "oauthwatch_errors_total", &code, 1.0);
    assert_eq!(
        metric_value(&m, "oauthwatch_source_lines_total", &[("source", "app")]),
        Some(1.0)
    );

    stop.cancel();
    let outcome = daemon.join().expect("the daemon thread");
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the endpoint is closed after the stop"
    );
    let checkpoints: Vec<_> = std::fs::read_dir(dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != ".lock")
        .collect();
    assert!(!checkpoints.is_empty(), "the final checkpoint was written");
}
