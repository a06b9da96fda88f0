//! Shared harness for tests that drive the real `oauthwatch` binary: start it, find the port
//! it bound, scrape it over real HTTP, wait for conditions with generous deadlines, and stop it
//! with real signals.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: CI runs on a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauthwatch"));
        cmd.arg("run")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start oauthwatch");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = listen_addr(&line) {
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
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
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
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

/// A minimal HTTP/1.1 GET over a real socket, with a deadline.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match text.find("\r\n\r\n") {
        Some(i) => text[i + 4..].to_string(),
        None => String::new(),
    };
    let chunked = text[..text.find("\r\n\r\n").unwrap_or(0)]
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(&body) } else { body })
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(nl) = rest.find("\r\n") {
        let Ok(len) = usize::from_str_radix(rest[..nl].trim(), 16) else {
            break;
        };
        if len == 0 {
            break;
        }
        let start = nl + 2;
        out.push_str(&rest[start..(start + len).min(rest.len())]);
        rest = &rest[(start + len + 2).min(rest.len())..];
    }
    out
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

/// Append `text` to `path` (creating it), as an application's logger would.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The `data` of the ConfigMap in `deploy/kubernetes/<manifest>`, as (key, text) pairs.
pub fn configmap_data(manifest: &str) -> Vec<(String, String)> {
    use serde::Deserialize;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
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
