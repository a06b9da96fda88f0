//! The Kubernetes manifests parse, the configs they embed pass `oauthwatch check`, their rule
//! file is the shipped one, and the properties the README promises hold: shared log volume,
//! probes, resources, a locked-down sidecar, a reload path that needs no SIGHUP, and a
//! DaemonSet that reads CRI logs with bounded per-pod labels and resumes from a host state dir.
//!
//! `UPDATE_MANIFESTS=1 cargo test --test it deploy_manifests` copies rules/zoom-oauth.toml into
//! the manifests' ConfigMaps.

use std::path::{Path, PathBuf};
use std::process::Command;

use oauthwatch::config::Config;
use serde::Deserialize;
use serde_norway::Value;

const RULES_BEGIN: &str = "# BEGIN rules/zoom-oauth.toml";
const RULES_END: &str = "# END rules/zoom-oauth.toml";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn manifests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    assert!(v.len() >= 2, "{v:?}");
    v
}

/// All documents of a multi-document YAML file.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            Value::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], k: &str) -> &'a Value {
    let v = kind(docs, k);
    assert_eq!(v.len(), 1, "expected one {k}");
    v[0]
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The mount path of the volume `volume` in container `c`, if mounted.
fn mount<'a>(c: &'a Value, volume: &str) -> Option<&'a Value> {
    c["volumeMounts"]
        .as_sequence()?
        .iter()
        .find(|m| m["name"] == volume)
}

/// The name of the pod volume backed by ConfigMap `cm`.
fn configmap_volume<'a>(pod: &'a Value, cm: &str) -> &'a str {
    pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == cm)
        .and_then(|v| v["name"].as_str())
        .unwrap_or_else(|| panic!("ConfigMap {cm} is not mounted"))
}

/// Write a ConfigMap's keys into `dir`, as the kubelet would mount them.
fn materialise(cm: &Value, dir: &Path) {
    for (k, v) in cm["data"].as_mapping().unwrap() {
        std::fs::write(dir.join(k.as_str().unwrap()), v.as_str().unwrap()).unwrap();
    }
}

/// The ConfigMap's copy of the rule file, without its marker comments.
fn embedded_rules(cm: &Value) -> String {
    let text = cm["data"]["zoom-oauth.toml"]
        .as_str()
        .expect("a zoom-oauth.toml key");
    let inner = text
        .split_once(&format!("{RULES_BEGIN}\n"))
        .and_then(|(_, rest)| rest.rsplit_once(RULES_END))
        .map(|(body, _)| body)
        .expect("marker comments around the rule file");
    inner.to_string()
}

/// Rewrite the lines between the markers in a manifest with `rules`, indented like the markers.
fn rewrite_rules(path: &Path, rules: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed == RULES_END {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
        }
        if trimmed == RULES_BEGIN {
            let indent = &line[..line.len() - line.trim_start().len()];
            for r in rules.lines() {
                if !r.is_empty() {
                    out.push_str(indent);
                }
                out.push_str(r);
                out.push('\n');
            }
            skipping = true;
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Flags of an `oauthwatch` argv exist in the real binary's help.
pub fn assert_flags_exist(argv: &[&str]) {
    let bin = env!("CARGO_BIN_EXE_oauthwatch");
    let top = Command::new(bin).arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout).into_owned();
    let (sub, flags) = match argv.first() {
        Some(s) if !s.starts_with('-') => (Some(*s), &argv[1..]),
        _ => (None, argv),
    };
    let help = match sub {
        Some(s) => {
            assert!(
                top.contains(&format!("  {s} ")),
                "no subcommand `{s}` in:\n{top}"
            );
            let out = Command::new(bin).args([s, "--help"]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        None => top,
    };
    for f in flags.iter().filter(|f| f.starts_with("--")) {
        let name = f.split('=').next().unwrap();
        assert!(
            help.contains(name),
            "flag {name} not in `oauthwatch {sub:?} --help`:\n{help}"
        );
    }
}

/// `oauthwatch check --config` on the config, with its ConfigMap mounted in a temp dir.
fn check_passes(cm: &Value) -> Config {
    let dir = tempfile::tempdir().unwrap();
    materialise(cm, dir.path());
    let config = dir.path().join("config.toml");
    // The config module already validates it (rule files included by name only).
    let cfg = Config::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let out = crate::support::oauthwatch()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oauthwatch check --config failed for ConfigMap {}:\n{}{}",
        cm["metadata"]["name"].as_str().unwrap_or("?"),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    cfg
}

#[test]
fn every_manifest_parses_and_every_embedded_config_passes_check() {
    let shipped = std::fs::read_to_string(repo("rules/zoom-oauth.toml")).unwrap();
    let mut configs = 0;
    for path in manifests() {
        if std::env::var_os("UPDATE_MANIFESTS").is_some() {
            rewrite_rules(&path, &shipped);
        }
        let docs = documents(&path);
        assert!(!docs.is_empty(), "{}", path.display());
        for d in &docs {
            assert!(
                d["apiVersion"].is_string() && d["kind"].is_string(),
                "{}",
                path.display()
            );
            assert!(d["metadata"]["name"].is_string(), "{}", path.display());
        }
        for cm in kind(&docs, "ConfigMap") {
            if cm["data"]["config.toml"].is_null() {
                continue;
            }
            assert!(
                embedded_rules(cm) == shipped,
                "{}: the ConfigMap's zoom-oauth.toml differs from rules/zoom-oauth.toml; run \
                 `UPDATE_MANIFESTS=1 cargo test --test it deploy_manifests`",
                path.display()
            );
            let cfg = check_passes(cm);
            assert!(
                cfg.watch_config,
                "{}: reload on ConfigMap change needs watch_config",
                path.display()
            );
            assert!(
                cfg.listen.starts_with("0.0.0.0:"),
                "{}: pods must listen on all interfaces",
                path.display()
            );
            configs += 1;
        }
    }
    assert!(configs >= 2, "{configs} configs checked");
}

/// Probes, scrape annotations, port and PodMonitor agree with the config's listen port.
fn assert_scrapable(docs: &[Value], pod_meta: &Value, pod: &Value, cfg: &Config) {
    let port: u16 = cfg.listen.rsplit(':').next().unwrap().parse().unwrap();
    let ow = container(pod, "oauthwatch");
    let ports = ow["ports"].as_sequence().unwrap();
    let named = ports
        .iter()
        .find(|p| p["containerPort"].as_u64() == Some(port as u64))
        .expect("containerPort = the config's listen port");
    let port_name = named["name"].as_str().unwrap();
    assert_eq!(ow["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(ow["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(
        ow["livenessProbe"]["httpGet"]["port"].as_str(),
        Some(port_name)
    );
    assert_eq!(
        ow["readinessProbe"]["httpGet"]["port"].as_str(),
        Some(port_name)
    );
    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(ow["resources"][k][r].is_string(), "resources.{k}.{r}");
        }
    }
    let ann = &pod_meta["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(
        ann["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    let pm = one(docs, "PodMonitor");
    let ep = &pm["spec"]["podMetricsEndpoints"][0];
    assert_eq!(ep["port"].as_str(), Some(port_name));
    assert_eq!(ep["path"], "/metrics");
    for (k, v) in pm["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&pod_meta["labels"][k], v, "PodMonitor selects the pods");
    }
    let args: Vec<&str> = ow["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_flags_exist(&args);
}

/// The config file the container is started with, read from its ConfigMap mount.
fn started_config<'a>(docs: &'a [Value], pod: &Value) -> (&'a Value, String) {
    let ow = container(pod, "oauthwatch");
    let args: Vec<&str> = ow["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let i = args
        .iter()
        .position(|a| *a == "--config")
        .expect("--config");
    let file = Path::new(args[i + 1]);
    for cm in kind(docs, "ConfigMap") {
        let Some(name) = cm["metadata"]["name"].as_str() else {
            continue;
        };
        let vol = configmap_volume(pod, name);
        let m = mount(ow, vol).expect("ConfigMap mounted in oauthwatch");
        assert!(
            m["subPath"].is_null(),
            "subPath mounts never see ConfigMap updates"
        );
        assert_eq!(m["readOnly"], true);
        let dir = Path::new(m["mountPath"].as_str().unwrap());
        if file.parent() == Some(dir) {
            return (cm, dir.display().to_string());
        }
    }
    panic!("--config {} is not in a mounted ConfigMap", file.display());
}

#[test]
fn sidecar_shares_the_log_volume_and_is_locked_down() {
    let docs = documents(&repo("deploy/kubernetes/sidecar.yaml"));
    let deploy = one(&docs, "Deployment");
    let tmpl = &deploy["spec"]["template"];
    let pod = &tmpl["spec"];
    let (cm, _) = started_config(&docs, pod);
    let dir = tempfile::tempdir().unwrap();
    materialise(cm, dir.path());
    let cfg = Config::load(&dir.path().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_scrapable(&docs, &tmpl["metadata"], pod, &cfg);

    // The app and oauthwatch share an emptyDir; the source's globs are inside it.
    let logs = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| {
            !v["emptyDir"].is_null()
                && mount(container(pod, "app"), v["name"].as_str().unwrap()).is_some()
        })
        .expect("an emptyDir mounted in the app");
    let name = logs["name"].as_str().unwrap();
    let app_path = mount(container(pod, "app"), name).unwrap()["mountPath"]
        .as_str()
        .unwrap();
    let ow = container(pod, "oauthwatch");
    let ow_mount = mount(ow, name).expect("oauthwatch mounts the app's log volume");
    assert_eq!(ow_mount["readOnly"], true);
    let ow_path = ow_mount["mountPath"].as_str().unwrap();
    assert_eq!(app_path, ow_path);
    let src = &cfg.sources[0];
    assert!(
        src.paths
            .iter()
            .all(|p| p.starts_with(&format!("{ow_path}/"))),
        "{:?}",
        src.paths
    );
    // State dir is a writable mount (the root filesystem is read-only).
    let state = ow["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| Path::new(m["mountPath"].as_str().unwrap()) == cfg.state_dir)
        .expect("state_dir is a mounted volume");
    assert!(state["readOnly"].is_null() || state["readOnly"] == false);

    // Non-root, read-only root fs, no capabilities, no escalation.
    let sc = &ow["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert!(sc["runAsUser"].as_u64().unwrap() > 0);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
}

#[test]
fn daemonset_tails_cri_logs_with_bounded_pod_labels_and_resumes() {
    let docs = documents(&repo("deploy/kubernetes/daemonset.yaml"));
    let ds = one(&docs, "DaemonSet");
    let tmpl = &ds["spec"]["template"];
    let pod = &tmpl["spec"];
    let (cm, _) = started_config(&docs, pod);
    let dir = tempfile::tempdir().unwrap();
    materialise(cm, dir.path());
    let cfg = Config::load(&dir.path().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_scrapable(&docs, &tmpl["metadata"], pod, &cfg);

    let src = &cfg.sources[0];
    assert_eq!(src.paths, vec!["/var/log/containers/*.log".to_string()]);
    assert_eq!(src.format, oauthwatch::framing::Format::Cri);
    assert!(
        src.kubernetes_metadata,
        "namespace/pod/container labels are opt-in"
    );
    assert!(
        cfg.max_pod_series > 0 && cfg.max_pod_series <= 5000,
        "bounded per-pod series"
    );
    assert!(
        cm["data"]["config.toml"]
            .as_str()
            .unwrap()
            .contains("max_pod_series"),
        "the bound is stated, not defaulted silently"
    );

    let ow = container(pod, "oauthwatch");
    let host = |path: &str| {
        pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["hostPath"]["path"] == path)
            .and_then(|v| v["name"].as_str())
            .unwrap_or_else(|| panic!("no hostPath {path}"))
    };
    for p in ["/var/log/containers", "/var/log/pods"] {
        let m = mount(ow, host(p)).unwrap_or_else(|| panic!("{p} not mounted"));
        assert_eq!(
            m["mountPath"], p,
            "symlinks in /var/log/containers resolve to the same path"
        );
        assert_eq!(m["readOnly"], true);
    }
    let state = mount(ow, host(cfg.state_dir.to_str().unwrap())).expect("state hostPath");
    assert_eq!(
        Path::new(state["mountPath"].as_str().unwrap()),
        cfg.state_dir
    );

    let sc = &ow["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let added: Vec<&str> = sc["capabilities"]["add"]
        .as_sequence()
        .map(|s| s.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        added,
        vec!["DAC_READ_SEARCH"],
        "read-only access to root-owned logs, nothing else"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
}

/// The `UPDATE_MANIFESTS` path: rewriting a manifest's rule copy yields valid YAML whose
/// ConfigMap key holds exactly the new text (blank lines and all), and is idempotent.
#[test]
fn rule_copy_rewrite_round_trips() {
    let sample = "# Zoom rules\n[[rules]]\nid = \"x\"\n\nremediation = \"\"\"\nline one\n  indented\n\"\"\"\n";
    for path in manifests() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("m.yaml");
        std::fs::copy(&path, &copy).unwrap();
        for _ in 0..2 {
            rewrite_rules(&copy, sample);
            for cm in kind(&documents(&copy), "ConfigMap") {
                if !cm["data"]["zoom-oauth.toml"].is_null() {
                    assert_eq!(embedded_rules(cm), sample, "{}", path.display());
                }
            }
        }
    }
}
