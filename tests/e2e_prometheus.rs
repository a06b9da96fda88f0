//! End to end with the real components: the oauthwatch binary tails a temp log directory, a
//! real Prometheus (1 s scrape and evaluation) scrapes it and evaluates a test copy of the
//! shipped rules (`deploy/prometheus/oauthwatch.rules.yml`, `for:` shortened to 1 s), a real
//! Alertmanager routes the alert to a webhook receiver in this test. Real-shaped Zoom failure
//! lines are appended; the test asserts what each user sees: per-code counters in Prometheus,
//! the alert at the webhook with the rule file's remediation text, the unknown failure in the
//! catch-all, and data behind every panel of the shipped Grafana dashboard.
//!
//! Everything listens on 127.0.0.1, lives in temp dirs, and every process is killed on drop.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{append, Daemon};
use oauthwatch::classifier::RuleSet;
use oauthwatch::reference::rule_anchor;
use serde_json::Value;

/// Longer than the harness's 30 s: Prometheus needs a few evaluation rounds, Alertmanager a
/// group_wait, on a loaded 2-core machine.
const E2E_DEADLINE: Duration = Duration::from_secs(60);

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `N` distinct free ports on 127.0.0.1 (all bound at once, then released for the children).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// A child process killed (and reaped) on drop, with its output in a file for diagnostics.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {name} ({cmd:?}): {e}; ./scripts/test installs it")
            });
        Proc { name, child, log }
    }

    /// The last lines the process logged.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Wait until `GET url` answers 200; panics with the process's log otherwise.
    fn wait_ready(&mut self, addr: &str, path: &str) {
        let start = Instant::now();
        while start.elapsed() < E2E_DEADLINE {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.tail());
            }
            if TcpStream::connect(addr).is_ok() && common::http_get(addr, path).0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{} never became ready:\n{}", self.name, self.tail());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The webhook receiver Alertmanager posts to: a TcpListener thread keeping every body.
struct Webhook {
    addr: String,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, halt) = (bodies.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(body) = read_post(stream) {
                            sink.lock().unwrap().push(body);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Webhook {
            addr,
            bodies,
            stop,
            thread: Some(thread),
        }
    }

    /// Every alert posted so far (the `alerts` arrays of all notifications, flattened).
    fn alerts(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one HTTP request (headers, then Content-Length bytes of body), answer 200.
fn read_post(mut s: TcpStream) -> Option<String> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    Some(String::from_utf8_lossy(&buf[header_end..]).into_owned())
}

/// Percent-encode a query parameter.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query against Prometheus; the `data.result` array (panics on an API error, which
/// means the query itself is wrong).
fn instant_query(prom: &str, q: &str) -> Vec<Value> {
    let (status, body) = common::http_get(prom, &format!("/api/v1/query?query={}", encode(q)));
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("bad JSON from Prometheus ({status}) for {q}: {e}: {body}"));
    assert_eq!(v["status"], "success", "query {q} failed: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The value of a one-series instant query, if it has exactly one series.
fn scalar(prom: &str, q: &str) -> Option<f64> {
    match instant_query(prom, q).as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Poll `f` until it returns Some, or panic with `what` and the processes' logs.
fn wait_for<T>(what: &str, diag: &dyn Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < E2E_DEADLINE {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}\n{}", diag());
}

/// The shipped rules with every `for:` shortened to 1 s (the test copy the issue allows).
fn rules_for_test() -> String {
    let shipped = std::fs::read_to_string(repo("deploy/prometheus/oauthwatch.rules.yml")).unwrap();
    let mut out = String::new();
    for line in shipped.lines() {
        match line.trim_start().strip_prefix("for: ") {
            Some(_) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!("{indent}for: 1s\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    assert!(
        out.contains("for: 1s"),
        "the shipped rules have no `for:` to shorten"
    );
    out
}

/// Every panel query of the shipped dashboard, with Grafana's variables substituted as the
/// dashboard's "All" would: `$provider`/`$source` match everything.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana/oauthwatch.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let q = expr
                .replace("$provider", ".*")
                .replace("$source", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "5m")
                .replace("$__interval", "1s");
            assert!(!q.contains('$'), "unsubstituted variable in {q}");
            out.push((panel["title"].as_str().unwrap().to_string(), q));
        }
    }
    out
}

#[test]
fn alert_with_remediation_reaches_alertmanager_and_dashboard_has_data() {
    let rules = RuleSet::embedded();
    let rule_id = "invalid_authorization_code";
    let rule = &rules.rules()[rules
        .find(rule_id)
        .expect("embedded rules have invalid_authorization_code")];
    let catch_all = &rules.rules()[rules
        .find("unclassified")
        .expect("embedded rules have the catch-all")];
    assert_eq!(catch_all.code_label(), "unknown");

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let logs = root.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    // Some history before the daemon starts: read because of start_at = "beginning".
    append(
        &log,
        "2026-11-24T20:00:00Z INFO user 42 signed in with Zoom\n",
    );

    let config = root.join("config.toml");
    let config_text = "\
state_dir = \"state\"
watch_config = true
checkpoint_interval = \"1s\"
poll_interval = \"1s\"

[limits]
max_line_bytes = 1024
rotated_file_grace = \"10s\"

[[sources]]
name = \"app\"
paths = [\"logs/*.log\"]
provider = \"zoom\"
start_at = \"beginning\"
";
    std::fs::write(&config, config_text).unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], Stdio::null());

    // Alertmanager, routing everything to the webhook with a 1 s group_wait.
    let webhook = Webhook::start();
    let [am_port, prom_port] = free_ports::<2>();
    let am_addr = format!("127.0.0.1:{am_port}");
    let am_dir = root.join("alertmanager");
    std::fs::create_dir(&am_dir).unwrap();
    std::fs::write(
        am_dir.join("alertmanager.yml"),
        format!(
            "route:\n  receiver: test\n  group_by: [alertname, rule]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: http://{}/alert\n        send_resolved: false\n",
            webhook.addr
        ),
    )
    .unwrap();
    let mut alertmanager = Proc::spawn(
        "alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", am_dir.join("data").display()))
            .arg(format!("--web.listen-address={am_addr}"))
            .arg("--cluster.listen-address="),
        root,
    );

    // Prometheus: 1 s scrape and evaluation, the test copy of the shipped rules.
    let prom_addr = format!("127.0.0.1:{prom_port}");
    let prom_dir = root.join("prometheus");
    std::fs::create_dir(&prom_dir).unwrap();
    std::fs::write(prom_dir.join("oauthwatch.rules.yml"), rules_for_test()).unwrap();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [oauthwatch.rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\nscrape_configs:\n  - job_name: oauthwatch\n    static_configs:\n      - targets: ['{}']\n",
            daemon.addr
        ),
    )
    .unwrap();
    let mut prometheus = Proc::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .arg("--rules.alert.resend-delay=1s"),
        root,
    );
    alertmanager.wait_ready(&am_addr, "/-/ready");
    prometheus.wait_ready(&prom_addr, "/-/ready");

    let diag = || {
        format!(
            "--- oauthwatch ---\n{}\n--- prometheus ---\n{}\n--- alertmanager ---\n{}\n--- webhook ---\n{:?}",
            daemon.logs(),
            prometheus.tail(),
            alertmanager.tail(),
            webhook.bodies.lock().unwrap()
        )
    };
    let prom = prom_addr.as_str();
    let sel = format!(
        "provider=\"zoom\",rule=\"{rule_id}\",code=\"{}\",source=\"app\"",
        rule.code_label()
    );

    // Every rule's counter is there at 0 before any failure (rate() works from the first one).
    wait_for("pre-initialised per-code counters", &diag, || {
        let n = instant_query(
            prom,
            "oauthwatch_errors_total{job=\"oauthwatch\",source=\"app\"}",
        )
        .len();
        (n == rules.rules().len()).then_some(())
    });

    // Real-shaped failures, in the shapes the forum threads show, enough to cross the rule's
    // alert count; plus one Zoom failure no rule describes, and lines that are no failure.
    let failures = rule.alert.count.max(1) + 2;
    let mut text = String::new();
    for i in 0..failures {
        let code = format!("mk1Cq8Pap6_PatCmZLwQxKCZOUJsBw{i:04}");
        match i % 3 {
            0 => text.push_str(&format!(
                "2026-11-24T20:01:{:02}Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code {code}\n",
                i % 60
            )),
            1 => text.push_str(&format!(
                "2026-11-24T20:01:{:02}Z ERROR token exchange failed: {{'reason': 'Invalid authorization code {code}', 'error': 'invalid_grant'}}\n",
                i % 60
            )),
            _ => text.push_str(&format!(
                "{{\"ts\":\"2026-11-24T20:01:{:02}Z\",\"level\":\"error\",\"msg\":\"zoom token exchange failed\",\"body\":\"{{\\\"reason\\\":\\\"Invalid authorization code {code}\\\",\\\"error\\\":\\\"invalid_grant\\\"}}\"}}\n",
                i % 60
            )),
        }
        text.push_str("2026-11-24T20:01:30Z INFO GET /healthz 200\n");
    }
    text.push_str(
        "2026-11-24T20:02:00Z ERROR auth: Zoom API error: invalid_request, reason: The flux capacitor rejected this grant\n",
    );
    append(&log, &text);

    // (1) Prometheus sees the per-code counters.
    wait_for("the per-code counter in Prometheus", &diag, || {
        (scalar(prom, &format!("oauthwatch_errors_total{{{sel}}}")) == Some(failures as f64))
            .then_some(())
    });
    // (2) The unknown failure lands in the catch-all, and nowhere else.
    wait_for("the catch-all counter in Prometheus", &diag, || {
        let q = format!(
            "oauthwatch_errors_total{{rule=\"{}\",code=\"unknown\",source=\"app\"}}",
            catch_all.id
        );
        (scalar(prom, &q) == Some(1.0)).then_some(())
    });
    assert_eq!(
        scalar(prom, "sum(oauthwatch_errors_total{source=\"app\"})"),
        Some(failures as f64 + 1.0),
        "only the failures are counted\n{}",
        diag()
    );

    // Events the health panels show: a rotation, a truncated line, a rejected reload.
    let rotated = logs.join("app.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    append(&log, "2026-11-24T20:03:00Z INFO after rotation\n");
    append(
        &log,
        &format!("2026-11-24T20:03:01Z DEBUG {}\n", "x".repeat(4096)),
    );
    wait_for(
        "the rotation and the truncated line in Prometheus",
        &diag,
        || {
            let rot = scalar(prom, "sum(oauthwatch_file_rotations_total{source=\"app\"})")?;
            let dropped = scalar(prom, "sum(oauthwatch_lines_dropped_total{source=\"app\"})")?;
            (rot >= 1.0 && dropped >= 1.0).then_some(())
        },
    );
    std::fs::write(&config, format!("{config_text}\nthis is = = not toml\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for("the failed reload in Prometheus", &diag, || {
        let failed = scalar(
            prom,
            "sum(oauthwatch_config_reloads_total{result=\"failure\"})",
        )?;
        let ok = scalar(prom, "oauthwatch_config_last_reload_successful")?;
        (failed >= 1.0 && ok == 0.0).then_some(())
    });

    // (3) The alert reaches the webhook with the rule's labels and the rule file's text.
    let alert = wait_for("the OAuthTokenFailures alert at the webhook", &diag, || {
        webhook.alerts().into_iter().find(|a| {
            a["labels"]["alertname"] == "OAuthTokenFailures" && a["labels"]["rule"] == rule_id
        })
    });
    let labels = &alert["labels"];
    let ann = &alert["annotations"];
    assert_eq!(alert["status"], "firing", "{alert}");
    assert_eq!(labels["severity"], rule.severity.as_str(), "{alert}");
    assert_eq!(labels["code"], rule.code_label().as_str(), "{alert}");
    assert_eq!(labels["provider"], "zoom", "{alert}");
    // Exactly the rule file's text (trailing whitespace of a TOML multi-line string aside).
    assert_eq!(
        ann["remediation"].as_str().unwrap().trim_end(),
        rule.remediation.trim_end(),
        "{alert}"
    );
    assert_eq!(
        ann["summary"].as_str().unwrap().trim_end(),
        rule.summary.trim_end(),
        "{alert}"
    );
    let description = ann["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "{failures} Zoom OAuth failures with code {}",
            rule.code_label()
        )),
        "{description}"
    );
    assert!(description.ends_with(", from source app."), "{description}");
    assert!(
        ann["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{}", rule_anchor(rule_id))),
        "{alert}"
    );
    // No secret reached the alert.
    assert!(
        !alert.to_string().contains("mk1Cq8Pap6_PatCmZLwQxKCZOUJsBw"),
        "{alert}"
    );

    // No secret reached Prometheus either: no label of any oauthwatch series holds one.
    let stored =
        serde_json::to_string(&instant_query(prom, "{__name__=~\"oauthwatch_.+\"}")).unwrap();
    for secret in ["mk1Cq8Pap6", "PatCmZLwQxKCZOUJsBw", "flux capacitor"] {
        assert!(
            !stored.contains(secret),
            "`{secret}` reached Prometheus: {stored}"
        );
    }

    // (4) Every dashboard panel's query returns series.
    for (panel, q) in dashboard_queries() {
        wait_for(&format!("data for panel `{panel}`: {q}"), &diag, || {
            (!instant_query(prom, &q).is_empty()).then_some(())
        });
    }

    assert_eq!(daemon.stop(), 0, "oauthwatch exits 0 on SIGTERM");
}
