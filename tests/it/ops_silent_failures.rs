//! What the daemon must say instead of failing silently, and the small things an operator
//! trips on, each through the real binary (real files, signals, sockets) or, for the lag
//! account, through the real sources and registry with a consumer that does not consume.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::daemon::{collect_stderr, http_get, metric_value, Daemon};
use crate::support::{append, DEADLINE};

const DISABLED: &str =
    "zoom token error: {\"reason\":\"The app has been disabled\",\"error\":\"invalid_client\"} request_id=SECRETLESS-MARKER-77\n";

fn bin() -> Command {
    crate::support::oauthwatch()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn wait_until(what: &str, d: &Daemon, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen; stderr:\n{}", d.logs());
}

#[test]
fn a_source_matching_no_file_is_named_in_logs_metrics_readyz_and_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let glob = format!("{}/*.log", logs.display());
    let cfg = dir.path().join("config.toml");
    write(
        &cfg,
        &format!(
            "state_dir = \"state\"\npoll_interval = \"200ms\"\n[[sources]]\nname = \"app\"\n\
             paths = [\"{glob}\"]\nstart_at = \"beginning\"\n"
        ),
    );
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());

    // A WARN at start naming the source and its glob.
    wait_until("the no-match warning", &d, || {
        d.logs()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("no file matches") && l.contains(&glob))
    });
    let m = d.metrics();
    assert_eq!(
        metric_value(&m, "oauthwatch_source_files_matched", &[("source", "app")]),
        Some(0.0),
        "{m}"
    );
    // Still ready (the application may create its log later), but /readyz says why it is
    // worth a look.
    let (status, body) = d.get("/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ready\n"), "{body}");
    assert!(
        body.contains(&format!("source `app`: no file matches {glob}")),
        "{body}"
    );
    let (_, page) = d.get("/");
    assert!(
        page.contains("Source <strong>app</strong> matches no file"),
        "{page}"
    );
    assert!(page.contains(&format!("<code>{glob}</code>")), "{page}");

    // The application starts logging: the gauge moves, the daemon says so, readyz is plain.
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("app.log"), DISABLED);
    d.wait_metric("oauthwatch_source_files_matched", &[("source", "app")], 1.0);
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "app_disabled"), ("source", "app")],
        1.0,
    );
    assert!(
        d.logs().contains("the source's globs match files again"),
        "{}",
        d.logs()
    );
    assert_eq!(d.get("/readyz"), (200, "ready".to_string()));
    // The warning was logged once, not at every poll.
    let warnings = d.logs().matches("no file matches").count();
    assert_eq!(warnings, 1, "{}", d.logs());
    assert_eq!(d.stop(), 0);
}

#[test]
fn alert_hint_transitions_are_logged_once_each_without_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/short-window.toml");
    let cfg = dir.path().join("config.toml");
    write(
        &cfg,
        &format!(
            "state_dir = \"state\"\nrules = [\"{}\"]\n[[sources]]\nname = \"app\"\npaths = [\"{}\"]\n",
            rules.display(),
            log.display()
        ),
    );
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    append(&log, &DISABLED.repeat(3));
    wait_until("the hint-on line", &d, || {
        d.logs().contains("alert hint on")
    });
    // The window is 3 s: with no more matches the hint turns off, and the daemon's own tick
    // logs it although nobody scrapes.
    wait_until("the hint-off line", &d, || {
        d.logs().contains("alert hint off")
    });
    let logs = d.logs();
    let on: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("alert hint on"))
        .collect();
    let off: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("alert hint off"))
        .collect();
    assert_eq!((on.len(), off.len()), (1, 1), "{logs}");
    for field in ["INFO", "rule=app_disabled", "source=app", "threshold=2"] {
        assert!(on[0].contains(field), "{field} missing in {}", on[0]);
    }
    assert!(on[0].contains("count_in_window="), "{}", on[0]);
    assert!(off[0].contains("count_in_window=0"), "{}", off[0]);
    assert!(
        !logs.contains("SECRETLESS-MARKER-77"),
        "a record reached the logs:\n{logs}"
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn a_provider_no_rule_file_declares_is_an_error_with_its_line_in_check_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("typo.toml");
    write(
        &cfg,
        "state_dir = \"state\"\n[[sources]]\nname = \"app\"\npaths = [\"x/*.log\"]\nprovider = \"zooom\"\n",
    );
    let want = format!(
        "{}:5:12: sources[0].provider: source `app`: no loaded rule file declares provider `zooom` (declared: `zoom`)",
        cfg.display()
    );
    let out = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&want), "{stderr}");
    assert!(
        stderr.contains(&format!("1 problem(s) in {}", cfg.display())),
        "{stderr}"
    );

    let out = bin()
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&want), "{stderr}");

    let out = bin()
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--path",
            "x/*.log",
            "--provider",
            "zooom",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("<command line>: --provider: source `files`: no loaded rule file declares provider `zooom`"),
        "{stderr}"
    );

    // A running daemon keeps its config when a reload brings the typo.
    let good = dir.path().join("good.toml");
    let text = "state_dir = \"state\"\nwatch_config = false\n[[sources]]\nname = \"app\"\npaths = [\"x/*.log\"]\nprovider = \"zoom\"\n";
    write(&good, text);
    let d = Daemon::start(&["--config", good.to_str().unwrap()], Stdio::null());
    write(&good, &text.replace("\"zoom\"", "\"zooom\""));
    d.signal(libc::SIGHUP);
    d.wait_metric(
        "oauthwatch_config_reloads_total",
        &[("result", "failure")],
        1.0,
    );
    assert!(
        d.logs().contains(&format!(
            "{}:6:12: sources[0].provider: source `app`: no loaded rule file declares provider `zooom`",
            good.display()
        )),
        "{}",
        d.logs()
    );
    assert_eq!(d.stop(), 0);
}

#[test]
fn config_problems_are_listed_in_line_order_and_the_summary_names_only_files_with_problems() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    // `bogus` (line 1) is only found once the whole table is read, after `listen` (line 2).
    write(
        &cfg,
        "bogus = 1\nlisten = \"nowhere\"\n[[sources]]\nname = \"a\"\nformat = \"xml\"\npaths = [\"x\"]\n",
    );
    let out = bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let c = cfg.display().to_string();
    assert!(
        lines[0].starts_with(&format!("{c}:1:1: bogus:")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{c}:2:10: listen:")),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with(&format!("{c}:5:10: sources[0].format:")),
        "{stderr}"
    );
    assert_eq!(lines[3], format!("3 problem(s) in {c}"), "{stderr}");
    assert!(!stderr.contains("<embedded>"), "{stderr}");
}

/// Start the binary with our own `--listen`; returns the child and a receiver of stderr lines.
fn spawn_with_listen(
    args: &[&str],
    dir: &Path,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = bin()
        .arg("run")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    collect_stderr(&mut child, move |line| {
        let _ = tx.send(line.to_string());
    });
    (child, rx)
}

#[test]
fn listen_accepts_a_host_name_and_reports_the_address_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = spawn_with_listen(
        &[
            "--path",
            "app.log",
            "--listen",
            "localhost:0",
            "--state-dir",
            "state",
        ],
        dir.path(),
    );
    let mut seen = Vec::new();
    let bound = loop {
        let line = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no bound line; stderr:\n{}", seen.join("\n")));
        if let Some(i) = line.find("bound=") {
            break line[i + 6..].split_whitespace().next().unwrap().to_string();
        }
        seen.push(line);
    };
    assert!(
        bound.starts_with("127.0.0.1:") || bound.starts_with("[::1]:"),
        "{bound}"
    );
    let (status, body) = http_get(&bound, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok"));
    crate::support::signal(&child, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn address_in_use_says_which_flag_or_key_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let out = bin()
        .args([
            "run",
            "--path",
            "app.log",
            "--state-dir",
            "state",
            "--listen",
            &addr,
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("change --listen to another port"),
        "{stderr}"
    );

    let cfg = dir.path().join("c.toml");
    write(
        &cfg,
        &format!("listen = \"{addr}\"\nstate_dir = \"state\"\n[[sources]]\nname = \"a\"\npaths = [\"x.log\"]\n"),
    );
    let out = bin().args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("change `listen` in {}", cfg.display())),
        "{stderr}"
    );
    drop(taken);
}

#[test]
fn a_reload_logs_one_line_whatever_triggered_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let body = format!(
        "state_dir = \"state\"\nwatch_config = true\n[[sources]]\nname = \"app\"\npaths = [\"{}/a.log\"]\n",
        dir.path().display()
    );
    write(&cfg, &body);
    append(&dir.path().join("a.log"), "");
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    let after_start = || -> Vec<String> {
        d.logs()
            .lines()
            .skip_while(|l| !l.contains("oauthwatch is running"))
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    let reloads = || d.logs().matches("reloaded config and rules").count();
    d.signal(libc::SIGHUP);
    wait_until("the SIGHUP reload", &d, || reloads() == 1);
    // The config changes on disk (a ConfigMap update, an editor's save).
    write(&cfg, &format!("# edited\n{body}"));
    wait_until("the file-change reload", &d, || reloads() == 2);
    std::thread::sleep(Duration::from_millis(300));
    let new = after_start();
    assert_eq!(new.len(), 2, "{}", new.join("\n"));
    assert!(new[0].contains("trigger=SIGHUP"), "{}", new[0]);
    assert!(
        new[1].contains("trigger=config or rule files changed"),
        "{}",
        new[1]
    );
    assert_eq!(d.stop(), 0);
}

/// The paused-daemon case from the issue: lines appended while the daemon is stopped
/// (SIGSTOP), then a catch-up. While it catches up, the lag must be at least what it has not
/// read yet, and it returns to 0 once everything is classified.
#[test]
fn lag_is_unclassified_bytes_while_a_paused_daemon_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "zoom start\n");
    let cfg = dir.path().join("config.toml");
    write(
        &cfg,
        &format!(
            "state_dir = \"state\"\n[limits]\nqueue_capacity = 1\nread_chunk_bytes = 65536\n\
             [[sources]]\nname = \"app\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            log.display()
        ),
    );
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    d.wait_metric("oauthwatch_source_bytes_total", &[("source", "app")], 11.0);
    let line = DISABLED.replace("invalid_client", "invalid_client padding padding padding");
    let mut seen_behind = 0;
    let mut max_lag = 0.0f64;
    for round in 0..3 {
        let base = metric_value(
            &d.metrics(),
            "oauthwatch_source_bytes_total",
            &[("source", "app")],
        )
        .unwrap();
        d.signal(libc::SIGSTOP);
        append(&log, &line.repeat(40_000 << round));
        d.signal(libc::SIGCONT);
        let size = std::fs::metadata(&log).unwrap().len() as f64;
        let start = Instant::now();
        loop {
            let m = d.metrics();
            let read =
                metric_value(&m, "oauthwatch_source_bytes_total", &[("source", "app")]).unwrap();
            let lag =
                metric_value(&m, "oauthwatch_source_lag_bytes", &[("source", "app")]).unwrap();
            if read >= base + 2.0 * 65536.0 && read < size {
                // It has looked at the file since the append: everything not read yet is lag
                // (and more: what was read but not yet classified).
                assert!(
                    lag >= size - read,
                    "lag {lag} < unread {} ({m})",
                    size - read
                );
                seen_behind += 1;
                max_lag = max_lag.max(lag);
            }
            if read == size && lag == 0.0 {
                break;
            }
            assert!(
                start.elapsed() < DEADLINE * 2,
                "no catch-up: read {read} of {size}, lag {lag}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if seen_behind >= 3 {
            break;
        }
    }
    assert!(
        seen_behind >= 3,
        "never scraped while behind: {seen_behind} samples"
    );
    eprintln!("scrapes while behind: {seen_behind}; largest lag seen: {max_lag} bytes");
    assert_eq!(d.stop(), 0);
}

/// A classifier that does not classify: the queue fills, the reader waits, and the lag is
/// exactly the file's size minus what was acknowledged — then falls to 0 as batches are
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_with_a_stalled_consumer_is_size_minus_acknowledged_offset() {
    use oauthwatch::classifier::RuleSet;
    use oauthwatch::registry::{Registry, SourceLabels, DEFAULT_MAX_POD_SERIES};
    use oauthwatch::sources::{SourceObserver, SourceSpec, Sources, SourcesOptions, StartAt};

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    append(
        &log,
        &"zoom padding line that is not a failure at all\n".repeat(100_000),
    );
    let size = std::fs::metadata(&log).unwrap().len();
    let registry = Arc::new(Registry::new(DEFAULT_MAX_POD_SERIES));
    registry.install(
        Arc::new(RuleSet::load_or_embedded(&[]).unwrap()),
        &[SourceLabels {
            name: "app".into(),
            kubernetes_metadata: false,
        }],
    );
    let spec = SourceSpec {
        name: "app".into(),
        paths: vec![log.display().to_string()],
        exclude: vec![],
        format: oauthwatch::framing::Format::Plain,
        provider: None,
        start_at: StartAt::Beginning,
        stdin: false,
        kubernetes_metadata: false,
    };
    let limits = oauthwatch::sources::ReadLimits {
        read_chunk_bytes: 64 * 1024,
        ..Default::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let observer: Arc<dyn SourceObserver> = registry.clone();
    let sources = Sources::start(
        vec![spec],
        SourcesOptions {
            state_dir: dir.path().join("state"),
            checkpoint_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(60),
            limits,
            candidates: None,
        },
        tx,
        observer,
    )
    .unwrap();
    let lag = |r: &Registry| {
        metric_value(
            &String::from_utf8(r.encode()).unwrap(),
            "oauthwatch_source_lag_bytes",
            &[("source", "app")],
        )
        .unwrap() as u64
    };
    // Nothing is consumed: the reader fills the one-batch queue and waits.
    let start = Instant::now();
    while lag(&registry) != size {
        assert!(
            start.elapsed() < DEADLINE,
            "lag {} != size {size}",
            lag(&registry)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        lag(&registry),
        size,
        "a stalled classifier acknowledges nothing"
    );
    assert_eq!(registry.status().sources[0].lag_bytes, size);

    // Acknowledge batch by batch: the lag falls by exactly what was acknowledged.
    let mut acked = 0;
    while acked < size {
        let batch = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let ack = batch.ack.unwrap();
        let offset = ack.offset;
        ack.commit();
        acked = offset;
        assert_eq!(lag(&registry), size - acked);
    }
    assert_eq!(lag(&registry), 0);
    drop(sources.stop().await);
}
