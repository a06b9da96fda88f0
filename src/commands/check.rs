//! `oauthwatch check`: validate a config file and rule files before a deploy, reporting every
//! problem of every file with file:line:column.
//!
//! Each value is checked by the function the daemon itself uses on it: the config loader
//! (globs compiled as file discovery compiles them), the rule-set compiler, and the HTTP
//! endpoint's TLS and basic-auth loaders.

use std::path::{Path, PathBuf};

use crate::classifier::RuleSet;
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Every problem, sorted by file and place; empty when all is well.
    pub problems: Diagnostics,
    /// The files checked (the embedded rules by their origin name), in order.
    pub checked: Vec<String>,
}

/// Check a config file (if any) and rule files (`rules`, plus those the config names).
pub fn run(config: Option<&Path>, rules: &[PathBuf]) -> CheckReport {
    let (problems, checked) = check_files(config, rules);
    CheckReport { problems, checked }
}

/// Validate a config file and rule files; every problem of every file is collected.
fn check_files(config: Option<&Path>, rules: &[PathBuf]) -> (Diagnostics, Vec<String>) {
    let mut diags = Diagnostics::default();
    let mut checked = Vec::new();
    let mut rule_files: Vec<PathBuf> = rules.to_vec();
    let mut loaded_config = None;
    if let Some(path) = config {
        match Config::load(path) {
            Ok(cfg) => {
                diags.0.extend(endpoint_problems(path, &cfg));
                loaded_config = Some(cfg.clone());
                for r in cfg.rules {
                    if !rule_files.contains(&r) {
                        rule_files.push(r);
                    }
                }
            }
            Err(d) => {
                diags.0.extend(d.0);
                // Still check the rule files it names, so one run shows every problem.
                for r in rule_files_named_by(path) {
                    if !rule_files.contains(&r) {
                        rule_files.push(r);
                    }
                }
            }
        }
        checked.push(path.display().to_string());
    }
    // Strict: every pattern compiled (the daemon compiles each on first use) and every
    // file's examples checked, so that nothing a deploy would meet later is left unchecked.
    let loaded_rules = RuleSet::load_or_embedded_strict(&rule_files);
    if rule_files.is_empty() {
        checked.push(crate::classifier::EMBEDDED_ORIGIN.to_string());
    } else {
        checked.extend(rule_files.iter().map(|p| p.display().to_string()));
    }
    match loaded_rules {
        Err(d) => diags.0.extend(d.0),
        Ok(set) => {
            // A source's provider must be one the rules declare, or it counts nothing.
            if let Some(cfg) = &loaded_config {
                diags.0.extend(cfg.unknown_providers(set.providers()).0);
            }
        }
    }
    diags.sort_by_place();
    (diags, checked)
}

/// Problems the HTTP endpoint would refuse to start with: TLS files that do not load, and
/// basic-auth hashes that are not valid bcrypt. Loading them here, as `serve` does, catches
/// them before a deploy rather than at the daemon's start.
fn endpoint_problems(path: &Path, cfg: &Config) -> Vec<Diagnostic> {
    let file = path.display().to_string();
    let mut out = Vec::new();
    let mut problem =
        |field: &str, message: String| out.push(Diagnostic::field(&file, field, message));
    if let Some(tls) = &cfg.http.tls {
        if let Err(e) = crate::exporter::tls::acceptor(tls) {
            problem("http.tls", e.to_string());
        }
    }
    if let Err(e) = crate::exporter::auth::BasicAuth::new(&cfg.http.basic_auth_users) {
        problem("http.basic_auth_users", e.to_string());
    }
    out
}

/// The `rules` of a config file that failed validation, read leniently (relative paths
/// resolve against the config's directory, as `Config::load` does).
fn rule_files_named_by(config: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Vec::new();
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let base = config.parent().unwrap_or(Path::new(""));
    table
        .get("rules")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(|s| base.join(s))
                .collect()
        })
        .unwrap_or_default()
}
