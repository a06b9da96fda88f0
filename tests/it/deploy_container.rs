//! The Containerfile is consistent with the rest of the deployment: multi-stage, non-root,
//! port 9742, the systemd paths (/etc/oauthwatch, /var/lib/oauthwatch), an entrypoint whose
//! flags exist, and a baked-in config that passes `oauthwatch check`. No container engine runs
//! in CI, so this is what can be checked without one.

use std::path::{Path, PathBuf};
use std::process::Command;

use oauthwatch::config::Config;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// (instruction, arguments) per line of the Containerfile, continuation lines joined.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/container/Containerfile")).unwrap();
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                let (i, args) = pending.split_once(' ').unwrap_or((&pending, ""));
                out.push((i.to_uppercase(), args.trim().to_string()));
                pending.clear();
            }
        }
    }
    out
}

fn json_array(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("exec form expected: {args}: {e}"))
}

#[test]
fn containerfile_is_multi_stage_non_root_and_consistent() {
    let ins = instructions();
    let froms: Vec<&str> = ins
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains(" AS build"), "{froms:?}");
    let last = ins.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let final_stage = &ins[last..];
    assert!(
        final_stage[0].1.contains("distroless"),
        "small final image: {}",
        final_stage[0].1
    );

    let get = |name: &str| {
        final_stage
            .iter()
            .rev()
            .find(|(i, _)| i == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("no {name} in the final stage"))
    };
    let user = get("USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("numeric USER (runAsNonRoot can verify it)");
    assert!(uid > 0, "non-root: {user}");
    assert_eq!(get("EXPOSE"), "9742");
    assert!(get("VOLUME").contains("/var/lib/oauthwatch"));

    let entry = json_array(&get("ENTRYPOINT"));
    assert_eq!(entry, vec!["/usr/bin/oauthwatch"]);
    let cmd = json_array(&get("CMD"));
    assert_eq!(cmd[0], "run");
    let bin = env!("CARGO_BIN_EXE_oauthwatch");
    let top = String::from_utf8_lossy(&Command::new(bin).arg("--help").output().unwrap().stdout)
        .into_owned();
    assert!(top.contains("  run "), "{top}");
    let help = String::from_utf8_lossy(
        &Command::new(bin)
            .args(["run", "--help"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    for f in cmd.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(f.as_str()),
            "{f} not in `oauthwatch run --help`"
        );
    }
    let i = cmd.iter().position(|a| a == "--config").expect("--config");
    assert_eq!(
        cmd[i + 1],
        "/etc/oauthwatch/config.toml",
        "the systemd path"
    );

    // The config baked in is the one named, and its state_dir is the VOLUME.
    let copy = final_stage
        .iter()
        .find(|(i, a)| i == "COPY" && a.ends_with(" /etc/oauthwatch/config.toml"))
        .expect("config copied to /etc/oauthwatch/config.toml");
    let src = copy.1.split_whitespace().rev().nth(1).unwrap();
    let cfg = Config::load(&repo(src)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.state_dir, PathBuf::from("/var/lib/oauthwatch"));
    assert!(cfg.listen.starts_with("0.0.0.0:9742"), "{}", cfg.listen);
    let out = Command::new(bin)
        .args(["check", "--config"])
        .arg(repo(src))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oauthwatch check --config {src} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The build stage copies what the build needs, and nothing named there is missing.
    let mut copied = Vec::new();
    for (i, a) in &ins[..last] {
        if i == "COPY" && !a.starts_with("--from") {
            let words: Vec<&str> = a.split_whitespace().collect();
            for src in &words[..words.len() - 1] {
                assert!(repo(src).exists(), "COPY source {src} does not exist");
                copied.push(src.to_string());
            }
        }
    }
    for needed in ["Cargo.toml", "Cargo.lock", "build.rs", "src", "rules"] {
        if repo(needed).exists() {
            assert!(
                copied.iter().any(|c| c == needed),
                "the build stage does not COPY {needed}"
            );
        }
    }
}
