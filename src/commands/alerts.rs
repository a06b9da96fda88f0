//! `oauthwatch alerts`: read the rule files and the alert settings, generate the Prometheus
//! alerting and recording rules (YAML).

use std::path::PathBuf;

use crate::alerting::{rules_yaml, AlertSettings, DEFAULT_SETTINGS, DEFAULT_SETTINGS_ORIGIN};
use crate::classifier::RuleSet;
use crate::config::Config;
use crate::diag::Diagnostics;

/// What `alerts` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct AlertsRequest {
    /// Alert settings file; `None` = the shipped deploy/prometheus/alerts.toml, compiled in.
    pub settings: Option<PathBuf>,
    /// Rule files; when empty, those `config` names, else the embedded rules.
    pub rules: Vec<PathBuf>,
    /// oauthwatch config file whose `rules` to use.
    pub config: Option<PathBuf>,
}

/// The rule files: `--rules`, else those the `--config` names, else the embedded rules.
fn rule_files(args: &AlertsRequest) -> Result<Vec<PathBuf>, Diagnostics> {
    if !args.rules.is_empty() {
        return Ok(args.rules.clone());
    }
    match &args.config {
        Some(path) => Ok(Config::load(path)?.rules),
        None => Ok(Vec::new()),
    }
}

/// Generate the rules file; every problem (rule files, settings) with file:line.
pub fn run(args: &AlertsRequest) -> Result<String, Diagnostics> {
    let rules = RuleSet::load_or_embedded(&rule_files(args)?)?;
    let settings = match &args.settings {
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                Diagnostics::from(crate::diag::Diagnostic::whole_file(
                    &origin,
                    format!("cannot read alert settings: {e}"),
                ))
            })?;
            AlertSettings::parse(&text, &origin, &rules)?
        }
        None => AlertSettings::parse(DEFAULT_SETTINGS, DEFAULT_SETTINGS_ORIGIN, &rules)?,
    };
    Ok(rules_yaml(&rules, &settings))
}
