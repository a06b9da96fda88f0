//! The daemon's process-level promises, through the real binary: a signal during start-up is
//! acted on once start-up completes, one daemon per state directory, and a deleted pod's
//! per-pod series retire so new pods never land in `_overflow`.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::daemon::{collect_stderr, metric_value, Daemon};
use crate::support::{append, DEADLINE};

const FAILURE: &str = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code";

/// Spawn `oauthwatch run ARGS` with its stderr collected into the returned buffer.
fn spawn(args: &[&str]) -> (Child, Arc<Mutex<String>>) {
    let mut child = crate::support::oauthwatch()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oauthwatch");
    let log = collect_stderr(&mut child, |_| {});
    (child, log)
}

fn wait_for_log(child: &mut Child, log: &Mutex<String>, needle: &str) {
    let start = Instant::now();
    while !log.lock().unwrap().contains(needle) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "daemon exited ({status}) before logging {needle:?}; stderr:\n{}",
                log.lock().unwrap()
            );
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {needle:?} in the daemon's log:\n{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm_and_wait(child: &mut Child) -> Option<i32> {
    crate::support::signal(child, libc::SIGTERM);
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("daemon did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the process catches `sig` (its handler is installed), from /proc.
fn catches(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// Serves `text` to every reader of the FIFO at `path` until dropped: each open by the
/// daemon (start-up, then each reload) reads the whole config.
struct FifoConfig {
    path: std::path::PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FifoConfig {
    fn new(path: &Path) -> FifoConfig {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        FifoConfig {
            path: path.to_path_buf(),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            thread: None,
        }
    }

    /// Start answering reads with `text`: one copy per open by a reader.
    fn serve(&mut self, text: String) {
        let (path, stop) = (self.path.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // Opening for writing waits for a reader.
                let _ = std::fs::write(&path, &text);
                // A reader sees the end of the file only once no writer has the FIFO open:
                // writing again before this reader closed it would hand it a second copy
                // (a config with every key twice). Wait until it is gone; a non-blocking
                // open for writing fails (ENXIO) exactly when no reader has it open.
                while !stop.load(std::sync::atomic::Ordering::SeqCst)
                    && std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(&path)
                        .is_ok()
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }));
    }
}

impl Drop for FifoConfig {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // Unblock a writer waiting for a reader, then let it see the flag.
            while !t.is_finished() {
                let _ = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&self.path)
                    .map(|mut f| std::io::Read::read_to_end(&mut f, &mut Vec::new()));
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = t.join();
        }
    }
}

/// A SIGHUP in the first milliseconds after spawn used to kill the daemon (exit 129): the
/// handler was installed only after the config and rules were loaded. The config here is a
/// FIFO nobody writes to yet, so start-up cannot get past reading it: SIGHUP must already be
/// caught then, and the reload it asks for runs once start-up completes.
#[test]
fn sighup_during_start_up_is_a_reload_once_start_up_completes() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "state_dir = \"{}\"\nwatch_config = false\n[[sources]]\nname = \"app\"\npaths = [\"{}/*.log\"]\n",
        dir.path().join("state").display(),
        dir.path().display()
    );
    for round in 0..3 {
        let mut config = FifoConfig::new(&dir.path().join(format!("config-{round}.toml")));
        let (mut child, log) = spawn(&[
            "--config",
            config.path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        let start = Instant::now();
        while !catches(child.id(), libc::SIGHUP) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("round {round}: daemon exited ({status}) during start-up");
            }
            if start.elapsed() > Duration::from_secs(10) {
                kill(&mut child);
                panic!("round {round}: SIGHUP is not caught before the config is read");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        crate::support::signal(&child, libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: killed by SIGHUP"
        );
        config.serve(text.clone());
        wait_for_log(&mut child, &log, "oauthwatch is running");
        wait_for_log(&mut child, &log, "reloaded config and rules");
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: it keeps running"
        );
        assert_eq!(sigterm_and_wait(&mut child), Some(0), "round {round}");
        assert_eq!(
            log.lock()
                .unwrap()
                .matches("reloaded config and rules")
                .count(),
            1,
            "round {round}: one SIGHUP, one reload"
        );
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Two daemons on one state directory would resume from each other's checkpoints. The
/// second is refused with the directory and the holder's PID; the first keeps running; once
/// it stops, the directory is free again.
#[test]
fn a_second_daemon_on_the_same_state_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log_file = dir.path().join("app.log");
    append(&log_file, &format!("{FAILURE}\n"));
    let glob = dir.path().join("*.log");
    let args = [
        "--path",
        glob.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--start-at",
        "beginning",
    ];
    let first = Daemon::start(&args, Stdio::null());
    let holder = std::fs::read_to_string(state.join(".lock")).unwrap();
    assert_eq!(holder.trim(), first.child.id().to_string());

    let (mut second, log) = spawn(&[&args[..], &["--listen", "127.0.0.1:0"]].concat());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            kill(&mut second);
            panic!(
                "the second daemon was not refused:\n{}",
                log.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the reader thread collect the last lines.
    std::thread::sleep(Duration::from_millis(200));
    let text = log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains(&state.display().to_string()), "{text}");
    assert!(
        text.contains(&format!("PID {}", first.child.id())),
        "names the holder: {text}"
    );
    assert!(!text.contains("oauthwatch is running"), "{text}");

    // The first is unaffected and counts as before.
    first.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code")],
        1.0,
    );
    assert_eq!(first.stop(), 0);

    // Its lock went with it.
    let third = Daemon::start(&args, Stdio::null());
    assert_eq!(third.stop(), 0);
}

const CONTAINER_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Lay out one pod the way the kubelet does: its log under /var/log/pods and the link in
/// /var/log/containers. Returns (pod directory, link).
fn create_pod(root: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let pod_dir = root.join("pods").join(format!("shop_{name}_uid-{name}"));
    let container = pod_dir.join("oauth");
    std::fs::create_dir_all(&container).unwrap();
    let log = container.join("0.log");
    append(
        &log,
        &format!("2026-11-23T10:00:00.000000000Z stdout F {FAILURE}\n"),
    );
    let link = root
        .join("containers")
        .join(format!("{name}_shop_oauth-{CONTAINER_ID}.log"));
    std::os::unix::fs::symlink(&log, &link).unwrap();
    (pod_dir, link)
}

fn pod_series(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("oauthwatch_pod_errors_total{"))
        .map(str::to_string)
        .collect()
}

/// 500 pods come and go (10 at a time) with room for 20 per-pod series: once a pod's log
/// directory is gone and its file drained, its series retire, so no failure of a new pod
/// counts under `_overflow`, and the table never holds more than its bound.
#[test]
fn deleted_pods_retire_and_new_pods_never_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("pods")).unwrap();
    std::fs::create_dir_all(root.join("containers")).unwrap();
    let config = root.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "state"
watch_config = false
poll_interval = "1s"

[kubernetes]
max_pod_series = 20
pod_series_grace = "0s"

[limits]
rotated_file_grace = "0s"

[[sources]]
name = "k8s"
paths = ["{}/containers/*.log"]
format = "cri"
provider = "zoom"
start_at = "beginning"
kubernetes_metadata = true
"#,
            root.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()], Stdio::null());
    let total = &[("rule", "invalid_authorization_code"), ("source", "k8s")];
    let mut counted = 0.0;
    for wave in 0..50 {
        let pods: Vec<_> = (0..10)
            .map(|i| create_pod(root, &format!("web-{wave}-{i}")))
            .collect();
        counted += 10.0;
        daemon.wait_metric("oauthwatch_errors_total", total, counted);
        let metrics = daemon.metrics();
        let series = pod_series(&metrics);
        assert!(
            !metrics.contains("pod=\"_overflow\"") && !metrics.contains("k8s_pod=\"_overflow\""),
            "wave {wave}: a new pod landed in _overflow:\n{}",
            series.join("\n")
        );
        assert!(series.len() <= 20, "wave {wave}: {} series", series.len());
        for i in 0..10 {
            let name = format!("web-{wave}-{i}");
            assert!(
                series.iter().any(|s| s.contains(&format!("\"{name}\""))),
                "wave {wave}: no series for {name}:\n{}",
                series.join("\n")
            );
        }
        // The kubelet deletes the pods: links and log directories.
        for (pod_dir, link) in pods {
            std::fs::remove_file(link).unwrap();
            std::fs::remove_dir_all(pod_dir).unwrap();
        }
        daemon.wait_metric("oauthwatch_files_watched", &[("source", "k8s")], 0.0);
    }
    // The last wave's series retire too (grace 0: at the next scrape).
    let start = Instant::now();
    while !pod_series(&daemon.metrics()).is_empty() {
        assert!(start.elapsed() < DEADLINE, "{}", daemon.metrics());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric_value(&daemon.metrics(), "oauthwatch_errors_total", total),
        Some(500.0)
    );
    let logs = daemon.logs();
    assert!(
        !logs.contains("unable to remove watch descriptor"),
        "notify's housekeeping is not logged at the default level:\n{logs}"
    );
    assert_eq!(daemon.stop(), 0);
}
