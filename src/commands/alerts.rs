//! `oauthwatch alerts`: read the rule files and the alert settings, print the Prometheus rules.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{rules_yaml, AlertSettings, DEFAULT_SETTINGS, DEFAULT_SETTINGS_ORIGIN};
use crate::classifier::RuleSet;
use crate::cli::AlertsArgs;
use crate::config::Config;
use crate::diag::Diagnostics;

/// Generate the rules; problems go to stderr with file:line and exit code 1.
pub fn alerts(args: &AlertsArgs) -> ExitCode {
    match generate(args) {
        Ok(yaml) => {
            let written = match &args.output {
                Some(path) => std::fs::write(path, &yaml)
                    .map_err(|e| format!("{}: cannot write: {e}", path.display())),
                None => std::io::stdout()
                    .write_all(yaml.as_bytes())
                    .map_err(|e| format!("cannot write to stdout: {e}")),
            };
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s); no rules written", diags.0.len());
            ExitCode::from(1)
        }
    }
}

/// The rule files: `--rules`, else those the `--config` names, else the embedded rules.
fn rule_files(args: &AlertsArgs) -> Result<Vec<PathBuf>, Diagnostics> {
    if !args.rules.is_empty() {
        return Ok(args.rules.clone());
    }
    match &args.config {
        Some(path) => Ok(Config::load(path)?.rules),
        None => Ok(Vec::new()),
    }
}

fn generate(args: &AlertsArgs) -> Result<String, Diagnostics> {
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
