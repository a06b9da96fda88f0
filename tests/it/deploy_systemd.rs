//! The systemd unit is valid for systemd, hardened as the README says, and consistent with its
//! config (`deploy/systemd/config.toml`): state in StateDirectory, config in
//! ConfigurationDirectory, flags that exist, and a config that passes `oauthwatch check`.

use std::path::{Path, PathBuf};
use std::process::Command;

use oauthwatch::config::Config;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn unit_text() -> String {
    std::fs::read_to_string(repo("deploy/systemd/oauthwatch.service")).unwrap()
}

/// Every `Key=value` of a section, in order (comments skipped).
fn section(unit: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{name}]");
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("Key=value");
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The argv of an Exec line after the binary, checked against the real binary's help.
fn assert_argv_exists(exec: &str) {
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/oauthwatch"), "{exec}");
    let argv: Vec<&str> = words.collect();
    let bin = env!("CARGO_BIN_EXE_oauthwatch");
    let top = String::from_utf8_lossy(&Command::new(bin).arg("--help").output().unwrap().stdout)
        .into_owned();
    assert!(
        top.contains(&format!("  {} ", argv[0])),
        "no `{}` command:\n{top}",
        argv[0]
    );
    let help = Command::new(bin)
        .args([argv[0], "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for f in argv.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(*f),
            "{f} not in `oauthwatch {} --help`",
            argv[0]
        );
    }
}

#[test]
fn unit_is_hardened_and_reloads_with_sighup() {
    let unit = unit_text();
    let svc = section(&unit, "Service");
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "oauthwatch"),
        ("ConfigurationDirectory", "oauthwatch"),
        ("NoNewPrivileges", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ] {
        assert_eq!(get(&svc, key), Some(value), "{key}");
    }
    assert!(
        svc.iter()
            .any(|(k, v)| k == "SystemCallFilter" && v == "@system-service"),
        "SystemCallFilter=@system-service"
    );
    assert_eq!(
        get(&section(&unit, "Install"), "WantedBy"),
        Some("multi-user.target")
    );
    assert_argv_exists(get(&svc, "ExecStart").unwrap());
    assert_argv_exists(get(&svc, "ExecStartPre").unwrap());
}

#[test]
fn config_matches_the_unit_and_passes_check() {
    let unit = unit_text();
    let svc = section(&unit, "Service");
    let start = get(&svc, "ExecStart").unwrap();
    let cfg_path = start
        .split_whitespace()
        .skip_while(|w| *w != "--config")
        .nth(1)
        .unwrap();
    let dir = format!("/etc/{}", get(&svc, "ConfigurationDirectory").unwrap());
    assert_eq!(Path::new(cfg_path).parent(), Some(Path::new(&dir)));

    let shipped = repo("deploy/systemd/config.toml");
    let cfg = Config::load(&shipped).unwrap_or_else(|e| panic!("{e}"));
    let state = format!("/var/lib/{}", get(&svc, "StateDirectory").unwrap());
    assert_eq!(
        cfg.state_dir,
        PathBuf::from(&state),
        "state_dir is the unit's StateDirectory"
    );
    assert!(cfg
        .sources
        .iter()
        .all(|s| s.paths.iter().all(|p| p.starts_with('/'))));

    let out = crate::support::oauthwatch()
        .args(["check", "--config"])
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oauthwatch check --config deploy/systemd/config.toml failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `systemd-analyze verify` reports nothing (it exits 0 on unknown keys but prints them, so
/// any output fails), and the offline security score is "OK" or better.
#[test]
fn systemd_analyze_verify_and_security() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed: the key checks above stand in for it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("oauthwatch.service");
    // verify needs the executables to exist: point the unit at the binary under test.
    std::fs::write(
        &unit,
        unit_text().replace("/usr/bin/oauthwatch", env!("CARGO_BIN_EXE_oauthwatch")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(level) = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for oauthwatch.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok())
    else {
        eprintln!("this systemd-analyze has no offline security check:\n{text}");
        return;
    };
    assert!(
        level <= 2.0,
        "exposure level {level} (want <= 2.0, \"OK\"):\n{text}"
    );
}
