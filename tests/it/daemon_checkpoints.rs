//! Checkpoints through the real daemon.
//!
//! A crash loop does not multiply counts: the real daemon is SIGKILLed again and again early in
//! its life (long before one `checkpoint_interval`) while it works through a backlog, and the
//! total counted over every run stays within the lines written plus the documented bound per
//! kill ([`CHECKPOINT_BYTES`] / [`CHECKPOINT_RECORDS`] of acknowledged work, plus what is
//! acknowledged while one checkpoint is written). Nothing is lost either: the last run, stopped
//! gracefully, checkpoints the file's end.
//!
//! A checkpoint that no longer fits its file (offset beyond the size, another file in its
//! inode, the file gone) is logged as a warning naming the file before the file is read again.

use crate::support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::daemon::{metric_value, Daemon};
use crate::support::DEADLINE;
use oauthwatch::sources::{CHECKPOINT_BYTES, CHECKPOINT_RECORDS};

const LINE: &str = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ";

/// Failures classified and counted (read records may still wait in the queue; this is what a
/// kill would make count again).
const COUNTED: (&str, &[(&str, &str)]) = (
    "oauthwatch_errors_total",
    &[("source", "app"), ("rule", "invalid_authorization_code")],
);

fn counted_in(metrics: &str) -> u64 {
    metric_value(metrics, COUNTED.0, COUNTED.1).unwrap_or(0.0) as u64
}

fn records(d: &Daemon) -> u64 {
    counted_in(&d.metrics())
}

fn start(config: &std::path::Path, state: &std::path::Path) -> Daemon {
    Daemon::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--log-format",
            "text",
        ],
        Stdio::null(),
    )
}

#[test]
fn a_crash_loop_counts_again_at_most_the_documented_bound_per_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    let written: u64 = 200_000;
    let mut text = String::with_capacity(written as usize * (LINE.len() + 8));
    for i in 0..written {
        text.push_str(LINE);
        text.push_str(&format!(" n={i}\n"));
    }
    std::fs::write(&log, &text).unwrap();
    let line_bytes = text.len() as u64 / written;
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "checkpoint_interval = \"5s\"\nwatch_config = false\n[[sources]]\nname = \"app\"\npaths = [\"{}\"]\nformat = \"plain\"\nprovider = \"zoom\"\nstart_at = \"beginning\"\n",
            log.display()
        ),
    )
    .unwrap();
    let state = tmp.path().join("state");

    // Kill each run once it has counted a share of the backlog, and at the latest after 3 s
    // (before the first `checkpoint_interval`; the issue saw kills at 1.5-4.7 s), as a crash
    // loop would.
    let kills = 4u64;
    let mut counted = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for k in 0..kills {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let want = 20_000 + seed % 15_000;
        let d = start(&config, &state);
        let started = Instant::now();
        let mut last = 0;
        while last < want && started.elapsed() < Duration::from_secs(3) {
            last = records(&d);
            std::thread::sleep(Duration::from_millis(5));
        }
        last = last.max(records(&d));
        d.signal(libc::SIGKILL);
        let mut d = d;
        let _ = d.child.wait();
        eprintln!(
            "run {k}: killed after {:?}, {last} records counted",
            started.elapsed()
        );
        counted += last;
    }

    let d = start(&config, &state);
    let end = Instant::now() + DEADLINE * 4;
    let mut settled = (0, Instant::now());
    loop {
        let m = d.metrics();
        let n = counted_in(&m);
        let lag = metric_value(&m, "oauthwatch_source_lag_bytes", &[("source", "app")]);
        if n != settled.0 {
            settled = (n, Instant::now());
        } else if lag == Some(0.0) && settled.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(
            Instant::now() < end,
            "last run never caught up; {n} counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    counted += settled.0;
    assert_eq!(d.stop(), 0);

    // Nothing lost: the final checkpoint is at the file's end.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("checkpoints-app.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["files"][0]["offset"].as_u64(),
        Some(text.len() as u64),
        "{saved}"
    );

    // The bound per kill: below either threshold, whichever comes first, plus as much again
    // for what is acknowledged while a checkpoint is being written.
    let per_kill = 2 * CHECKPOINT_RECORDS.min(CHECKPOINT_BYTES / line_bytes + 1);
    let again = counted.saturating_sub(written);
    eprintln!(
        "written {written}, counted {counted} over {kills} kills: {again} counted again (bound {})",
        kills * per_kill
    );
    assert!(
        counted <= written + kills * per_kill,
        "{counted} counted for {written} written over {kills} kills; bound {} per kill",
        per_kill
    );
}

#[test]
fn a_checkpoint_that_no_longer_fits_its_file_is_logged_before_reading_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let (shrunk, replaced, gone) = (
        dir.join("shrunk.log"),
        dir.join("replaced.log"),
        dir.join("gone.log"),
    );
    for f in [&shrunk, &replaced, &gone] {
        support::append(f, "");
    }
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "watch_config = false\n[[sources]]\nname = \"app\"\npaths = [\"{}/*.log\"]\nformat = \"plain\"\nprovider = \"zoom\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let state = tmp.path().join("state");
    let d = start(&config, &state);
    let line = format!("{LINE}\n");
    for f in [&shrunk, &replaced, &gone] {
        support::append(f, &line.repeat(3));
    }
    d.wait_metric(COUNTED.0, COUNTED.1, 9.0);
    assert_eq!(d.stop(), 0);

    // While down: one file is truncated and rewritten shorter, one gets other first bytes in
    // the same inode, one is deleted.
    std::fs::write(&shrunk, &line).unwrap();
    let other = format!(
        "{} other first bytes\n{line}{line}{line}{line}",
        "x".repeat(40)
    );
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new()
            .write(true)
            .open(&replaced)
            .unwrap(),
        other.as_bytes(),
        0,
    )
    .unwrap();
    std::fs::remove_file(&gone).unwrap();

    let d = start(&config, &state);
    // Each is read from its beginning: 1 + 4 failures.
    d.wait_metric(COUNTED.0, COUNTED.1, 5.0);
    let logs = d.logs();
    assert_eq!(d.stop(), 0);
    let warned = |what: &str, file: &std::path::Path| {
        logs.lines().any(|l| {
            l.contains("WARN") && l.contains(what) && l.contains(&file.display().to_string())
        })
    };
    assert!(warned("beyond the file's size", &shrunk), "{logs}");
    assert!(warned("does not match its checkpoint", &replaced), "{logs}");
    assert!(warned("in the checkpoint is gone", &gone), "{logs}");
}

/// The small case on the shipped DaemonSet config: 5 counted, SIGTERM, 7 appended,
/// the kubelet renames `0.log` and starts a new one with 3: after the restart, 10 more.
#[test]
fn daemonset_restart_drains_a_file_the_kubelet_rotated_while_it_was_down() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (etc, containers, pods) = (
        root.join("etc"),
        root.join("var/log/containers"),
        root.join("var/log/pods"),
    );
    for d in [&etc, &containers, &pods] {
        std::fs::create_dir_all(d).unwrap();
    }
    for (key, text) in support::daemon::configmap_data("daemonset.yaml") {
        let text = text.replace(
            "\"/var/log/containers/*.log\"",
            &format!("\"{}/*.log\"", containers.display()),
        );
        std::fs::write(etc.join(key), text).unwrap();
    }
    let dir = pods.join("shop_web-7d9f5_0b1c2d3e-aaaa-bbbb-cccc-000000000001/app");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("0.log");
    support::append(&log, "");
    std::os::unix::fs::symlink(
        &log,
        containers.join(format!("web-7d9f5_shop_app-{}.log", "4f".repeat(32))),
    )
    .unwrap();
    let cri = |n: usize| format!("2026-11-24T20:01:02.123456789Z stderr F {LINE}\n").repeat(n);
    let config = etc.join("config.toml");
    let state = root.join("state");
    let counted = [
        ("source", "containers"),
        ("rule", "invalid_authorization_code"),
    ];

    let d = start(&config, &state);
    d.wait_metric("oauthwatch_files_watched", &[("source", "containers")], 1.0);
    support::append(&log, &cri(5));
    d.wait_metric(COUNTED.0, &counted, 5.0);
    assert_eq!(d.stop(), 0);

    support::append(&log, &cri(7));
    std::fs::rename(&log, dir.join("0.log.20261124-200500")).unwrap();
    support::append(&log, &cri(3));

    let d = start(&config, &state);
    d.wait_metric(COUNTED.0, &counted, 10.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        metric_value(&d.metrics(), COUNTED.0, &counted),
        Some(10.0),
        "{}",
        d.logs()
    );
    assert_eq!(d.stop(), 0);
}
