//! Shared harness for tests that drive the real `oauthwatch` binary: start it, find the port
//! it bound, scrape it over real HTTP, wait for conditions with generous deadlines, and stop it
//! with real signals.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{oauthwatch, DEADLINE};

/// A running daemon; killed on drop if the test did not stop it.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    /// Everything the daemon wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Daemon {
    /// Start `oauthwatch run ARGS --listen 127.0.0.1:0` and wait until it reports its address.
    pub fn start(args: &[&str], stdin: Stdio) -> Daemon {
        let mut cmd = oauthwatch();
        cmd.arg("run")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start oauthwatch");
        let (tx, rx) = std::sync::mpsc::channel();
        let mut sent = false;
        let stderr = collect_stderr(&mut child, move |line| {
            if !sent {
                if let Some(addr) = listen_addr(line) {
                    let _ = tx.send(addr);
                    sent = true;
                }
            }
        });
        let addr = match rx.recv_timeout(DEADLINE) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "daemon did not report its listen address; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        Daemon {
            child,
            addr,
            stderr,
        }
    }

    /// GET a path; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }

    /// The /metrics body.
    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Wait until the metric sample named by `selector` (name plus the exact label pairs it
    /// must contain) has `value`.
    pub fn wait_metric(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < DEADLINE {
            last = self.metrics();
            if metric_value(&last, name, labels) == Some(value) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{name}{labels:?} never became {value}; last value {:?}; stderr:\n{}",
            metric_value(&last, name, labels),
            self.stderr.lock().unwrap()
        );
    }

    /// Send a signal (`libc::SIGTERM`, `libc::SIGHUP`).
    pub fn signal(&self, sig: i32) {
        super::signal(&self.child, sig);
    }

    /// SIGTERM and wait for exit; returns the exit code.
    pub fn stop(mut self) -> i32 {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!(
                    "daemon did not exit after SIGTERM; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything on stderr so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collect `child`'s stderr (piped) into the returned buffer, line by line, on a thread that
/// shows each line to `on_line` first.
pub fn collect_stderr(
    child: &mut Child,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    let pipe = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            on_line(&line);
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    log
}

/// The address in the daemon's "listening" log line (`listen=127.0.0.1:PORT`).
fn listen_addr(line: &str) -> Option<String> {
    let i = line.find("listen=")?;
    let rest = &line[i + "listen=".len()..];
    let addr: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
        .collect();
    (!addr.ends_with(":0")).then_some(addr)
}

/// `GET path` from `addr`; returns (status, body). Panics if the request fails.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    super::request(addr, "GET", path, "").unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// The value of the first sample of `name` whose labels include all of `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            return line.rsplit(' ').next()?.parse().ok();
        }
    }
    None
}

/// The `data` of the ConfigMap in `deploy/kubernetes/<manifest>`, as (key, text) pairs.
pub fn configmap_data(manifest: &str) -> Vec<(String, String)> {
    use serde::Deserialize;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v = serde_norway::Value::deserialize(doc).unwrap();
        if v["kind"] == "ConfigMap" {
            return v["data"]
                .as_mapping()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
                .collect();
        }
    }
    panic!("no ConfigMap in {}", path.display());
}
