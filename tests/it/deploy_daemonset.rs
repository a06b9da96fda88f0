//! The DaemonSet's config on the real daemon: the node layout it mounts (`/var/log/containers`
//! symlinks into `/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`, CRI lines) is rebuilt in a
//! temp dir, the ConfigMap's config is used as shipped except for that root, and a container's
//! Zoom failures come out per code and per namespace/pod/container.

use crate::support;

use std::os::unix::fs::symlink;
use std::process::Stdio;

use crate::support::append;
use crate::support::daemon::{configmap_data, Daemon};

#[test]
fn daemonset_config_counts_container_failures_per_pod() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let etc = root.join("etc");
    let containers = root.join("var/log/containers");
    let pods = root.join("var/log/pods");
    for d in [&etc, &containers, &pods] {
        std::fs::create_dir_all(d).unwrap();
    }
    for (key, text) in configmap_data("daemonset.yaml") {
        let text = if key == "config.toml" {
            assert!(text.contains("\"/var/log/containers/*.log\""), "{text}");
            text.replace(
                "\"/var/log/containers/*.log\"",
                &format!("\"{}/*.log\"", containers.display()),
            )
        } else {
            text
        };
        std::fs::write(etc.join(key), text).unwrap();
    }
    let state = root.join("state");
    let daemon = Daemon::start(
        &[
            "--config",
            etc.join("config.toml").to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--log-format",
            "text",
        ],
        Stdio::null(),
    );

    // A pod starts on the node after the agent: the kubelet creates its log and the symlink.
    let pod_dir = pods.join("shop_web-7d9f5_0b1c2d3e-aaaa-bbbb-cccc-000000000001/app");
    std::fs::create_dir_all(&pod_dir).unwrap();
    let log = pod_dir.join("0.log");
    append(&log, "");
    symlink(
        &log,
        containers.join("web-7d9f5_shop_app-4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b.log"),
    )
    .unwrap();
    // The agent's own log (namespace and container `oauthwatch`) is excluded.
    let own =
        pods.join("oauthwatch_oauthwatch-x2b9q_0b1c2d3e-aaaa-bbbb-cccc-000000000002/oauthwatch");
    std::fs::create_dir_all(&own).unwrap();
    append(
        &own.join("0.log"),
        "2026-11-24T20:01:00.000000000Z stderr F Zoom API error: invalid_request, reason: Invalid authorization code xyz\n",
    );
    symlink(
        own.join("0.log"),
        containers.join("oauthwatch-x2b9q_oauthwatch_oauthwatch-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e.log"),
    )
    .unwrap();
    daemon.wait_metric("oauthwatch_files_watched", &[("source", "containers")], 1.0);
    append(
        &log,
        "2026-11-24T20:01:02.123456789Z stderr F Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ\n\
         2026-11-24T20:01:03.000000001Z stdout F GET /healthz 200\n\
         2026-11-24T20:01:04.000000002Z stderr F Zoom API error: invalid_request, reason: Invalid authorization code ibcgiRImMi_PatCmZLwQxKCZOUJsBwojQ\n",
    );

    let code = [
        ("source", "containers"),
        ("rule", "invalid_authorization_code"),
        ("code", "4734"),
    ];
    daemon.wait_metric("oauthwatch_errors_total", &code, 2.0);
    daemon.wait_metric(
        "oauthwatch_pod_errors_total",
        &[
            ("k8s_namespace", "shop"),
            ("k8s_pod", "web-7d9f5"),
            ("k8s_container", "app"),
            ("rule", "invalid_authorization_code"),
        ],
        2.0,
    );
    let metrics = daemon.metrics();
    assert!(
        !metrics.contains("PatCmZLwQxKCZOUJsBwojQ"),
        "no secret in /metrics"
    );
    assert_eq!(
        support::daemon::metric_value(
            &metrics,
            "oauthwatch_files_watched",
            &[("source", "containers")]
        ),
        Some(1.0),
        "its own log is not tailed"
    );
    assert!(
        !metrics.contains("k8s_namespace=\"oauthwatch\""),
        "{metrics}"
    );
    // No label of ours collides with the target labels a Kubernetes scrape adds.
    for target_label in [
        "{namespace=",
        ",namespace=",
        "{pod=",
        ",pod=",
        "{container=",
        ",container=",
    ] {
        assert!(
            !metrics.contains(target_label),
            "{target_label} in {metrics}"
        );
    }
    assert_eq!(
        support::daemon::metric_value(&metrics, "oauthwatch_errors_total", &code),
        Some(2.0)
    );
    assert_eq!(daemon.stop(), 0);
}
