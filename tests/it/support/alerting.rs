//! Shared by the tests that run the real Prometheus and Alertmanager (`e2e_prometheus.rs`,
//! `deploy_alertmanager.rs`): child processes killed on drop, an HTTP receiver on 127.0.0.1
//! that records what Alertmanager posts (webhook and Slack bodies), Prometheus queries, and the
//! shipped Alertmanager configuration made fit for a test (1 s timers, every receiver pointed
//! at the recorder, the shipped template, grouping and inhibition unchanged).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longer than the harness's 30 s: Prometheus needs a few evaluation rounds, Alertmanager a
/// group_wait, on a loaded 2-core machine. Only ever an upper bound.
pub const E2E_DEADLINE: Duration = Duration::from_secs(90);

/// A path in the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `N` distinct free ports on 127.0.0.1 (all bound at once, then released for the children).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// A child process killed (and reaped) on drop, with its output in a file for diagnostics.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Start `cmd`, its stdout and stderr to `<dir>/<name>.log` (appended: a restarted
    /// process keeps one log).
    pub fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
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
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Wait until `GET path` on `addr` answers 200; panics with the process's log otherwise.
    pub fn wait_ready(&mut self, addr: &str, path: &str) {
        let start = Instant::now();
        while start.elapsed() < E2E_DEADLINE {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.tail());
            }
            if TcpStream::connect(addr).is_ok() && http(addr, "GET", path, "").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{} never became ready:\n{}", self.name, self.tail());
    }

    /// SIGTERM, then wait (bounded) for the exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        super::signal(&self.child, libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < E2E_DEADLINE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the recorder received.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The request path (`/webhook/oncall-chat`, `/slack/oncall-chat`).
    pub path: String,
    /// The body, as text.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

/// The receiver Alertmanager posts to: a TcpListener thread keeping every request.
pub struct Recorder {
    pub addr: String,
    pub posted: Arc<Mutex<Vec<Posted>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Listen on 127.0.0.1:0 until dropped.
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let posted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, halt) = (posted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some((path, body)) = read_post(stream) {
                            sink.lock().unwrap().push(Posted {
                                path,
                                body,
                                at: Instant::now(),
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Recorder {
            addr,
            posted,
            stop,
            thread: Some(thread),
        }
    }

    /// The JSON bodies posted to paths starting with `prefix`, in arrival order.
    pub fn bodies(&self, prefix: &str) -> Vec<(Instant, Value)> {
        self.posted
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.path.starts_with(prefix))
            .filter_map(|p| Some((p.at, serde_json::from_str::<Value>(&p.body).ok()?)))
            .collect()
    }

    /// Every alert of every webhook notification (the `alerts` arrays, flattened), with the
    /// time its notification arrived.
    pub fn webhook_alerts(&self) -> Vec<(Instant, Value)> {
        self.bodies("/webhook/")
            .into_iter()
            .flat_map(|(at, v)| {
                v["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| (at, a))
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one HTTP request (headers, then Content-Length bytes of body), answer 200.
fn read_post(mut s: TcpStream) -> Option<(String, String)> {
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
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let len: usize = head
        .to_ascii_lowercase()
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
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    Some((
        path,
        String::from_utf8_lossy(&buf[header_end..]).into_owned(),
    ))
}

/// An HTTP/1.1 request over a real socket; returns (status, body), or status 0 if the
/// request failed (the process is not listening yet, or went away).
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    super::request(addr, method, path, body).unwrap_or((0, String::new()))
}

/// Percent-encode a query parameter.
pub fn encode(q: &str) -> String {
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
pub fn instant_query(prom: &str, q: &str) -> Vec<Value> {
    let (status, body) = http(
        prom,
        "GET",
        &format!("/api/v1/query?query={}", encode(q)),
        "",
    );
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("bad JSON from Prometheus ({status}) for {q}: {e}: {body}"));
    assert_eq!(v["status"], "success", "query {q} failed: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The value of a one-series instant query, if it has exactly one series.
pub fn scalar(prom: &str, q: &str) -> Option<f64> {
    match instant_query(prom, q).as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Poll `f` until it returns Some, or panic with `what` and the processes' logs.
pub fn wait_for<T>(what: &str, diag: &dyn Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < E2E_DEADLINE {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}\n{}", diag());
}

/// The shipped `deploy/alertmanager/alertmanager.yml` made fit for a test: its routes,
/// grouping, inhibition, template and Slack texts unchanged; timers at 1 s; every receiver
/// posting to the recorder (`/slack/<receiver>` with the shipped Slack template, and a webhook
/// `/webhook/<receiver>` with send_resolved) instead of Slack and email.
pub fn test_alertmanager_config(recorder: &str) -> String {
    let text = std::fs::read_to_string(repo("deploy/alertmanager/alertmanager.yml")).unwrap();
    let mut doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    doc["global"] = serde_norway::from_str("{resolve_timeout: 5m}").unwrap();
    let templates = doc["templates"].as_sequence_mut().unwrap();
    for t in templates.iter_mut() {
        let rel = t.as_str().unwrap().to_string();
        *t = repo("deploy/alertmanager")
            .join(rel)
            .display()
            .to_string()
            .into();
    }
    for (k, v) in [
        ("group_wait", "1s"),
        ("group_interval", "1s"),
        ("repeat_interval", "1h"),
    ] {
        doc["route"][k] = v.into();
    }
    for r in doc["receivers"].as_sequence_mut().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let slack = r["slack_configs"]
            .as_sequence()
            .and_then(|s| s.first())
            .cloned();
        let map = r.as_mapping_mut().unwrap();
        map.clear();
        map.insert("name".into(), name.clone().into());
        let hook: serde_norway::Value = serde_norway::from_str(&format!(
            "[{{url: 'http://{recorder}/webhook/{name}', send_resolved: true}}]"
        ))
        .unwrap();
        map.insert("webhook_configs".into(), hook);
        if let Some(mut s) = slack {
            s["api_url"] = format!("http://{recorder}/slack/{name}").into();
            s["send_resolved"] = true.into();
            map.insert("slack_configs".into(), vec![s].into());
        }
    }
    serde_norway::to_string(&doc).unwrap()
}

/// Start Alertmanager on `addr` with `config`, data under `dir`; waits until ready.
pub fn start_alertmanager(dir: &Path, addr: &str, config: &str) -> Proc {
    let am_dir = dir.join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    std::fs::write(am_dir.join("alertmanager.yml"), config).unwrap();
    let mut am = Proc::spawn(
        "alertmanager",
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                am_dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", am_dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address="),
        dir,
    );
    am.wait_ready(addr, "/-/ready");
    am
}
