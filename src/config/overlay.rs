//! What `run` will do: the config file (if any) with the command-line flags applied on top.
//!
//! Pure apart from reading the config file, so the precedence rules are unit-tested: a flag
//! beats the config file, which beats the built-in default. `--path` and `--stdin` add sources
//! named `files` and `stdin`, so the daemon runs with no config file at all.
//!
//! The flags arrive as an [`Overlay`]: typed values, each already checked by the same
//! validator the config file's key goes through. The daemon keeps the overlay and applies it
//! again on every reload, so a flag keeps beating the file.

use std::path::PathBuf;

use crate::config::{Config, ListenAddr, LogFormat};
use crate::diag::{Diagnostic, Diagnostics};
use crate::sources::{compile_glob, SourceSpec, StartAt};

/// Where a setting that is not in any file came from, for diagnostics about flags.
pub const FLAGS: &str = "<command line>";

/// The flags of `run`, typed: what the command line sets over the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlay {
    /// `--config`: the config file, if any.
    pub config: Option<PathBuf>,
    /// `--path`: globs of a source named `files`.
    pub paths: Vec<String>,
    /// `--stdin`: a source named `stdin`.
    pub stdin: bool,
    /// `--exit-on-eof`: stop when standard input ends.
    pub exit_on_eof: bool,
    /// `--listen`.
    pub listen: Option<ListenAddr>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--rules`: replaces the config's rule files.
    pub rules: Vec<PathBuf>,
    /// `--start-at`: applies to every source.
    pub start_at: Option<StartAt>,
    /// `--log-level` (checked with [`crate::config::check_log_level`]).
    pub log_level: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--provider` of the `files` and `stdin` sources.
    pub provider: Option<String>,
}

/// A problem with a flag, located on the command line.
pub fn flag_error(field: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::field(FLAGS, field, message)
}

/// The config file named by `--config` (if any), with every flag applied.
pub fn resolve(args: &Overlay) -> Result<Config, Diagnostics> {
    let mut cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    apply_flags(&mut cfg, args)?;
    Ok(cfg)
}

/// Apply the flags of `run` on top of a config (file or default).
pub fn apply_flags(cfg: &mut Config, args: &Overlay) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    if let Some(listen) = &args.listen {
        cfg.listen = listen.clone();
    }
    if let Some(dir) = &args.state_dir {
        cfg.state_dir = dir.clone();
    }
    if !args.rules.is_empty() {
        cfg.rules = args.rules.clone();
    }
    if let Some(level) = &args.log_level {
        cfg.log_level = level.clone();
    }
    if let Some(format) = args.log_format {
        cfg.log_format = format;
    }
    let start_at = args.start_at;
    if let Some(start_at) = start_at {
        for s in &mut cfg.sources {
            s.start_at = start_at;
        }
    }
    if let Some(provider) = &args.provider {
        for name in ["files", "stdin"] {
            let used = match name {
                "files" => !args.paths.is_empty(),
                _ => args.stdin,
            };
            if used {
                cfg.provider_sites.push(crate::config::ProviderSite {
                    source: name.to_string(),
                    provider: provider.clone(),
                    place: Diagnostic::field(FLAGS, "--provider", ""),
                });
            }
        }
    }
    if !args.paths.is_empty() {
        for g in &args.paths {
            if let Err(e) = compile_glob(g) {
                diags.push(flag_error("--path", format!("bad glob `{g}`: {e}")));
            }
        }
        add_source(cfg, &mut diags, flag_source("files", args, start_at));
    }
    if args.stdin {
        let mut spec = flag_source("stdin", args, start_at);
        spec.stdin = true;
        spec.paths.clear();
        add_source(cfg, &mut diags, spec);
    }
    if args.exit_on_eof && !cfg.sources.iter().any(|s| s.stdin) {
        diags.push(flag_error(
            "--exit-on-eof",
            "only makes sense with --stdin (or a source with `stdin = true`)",
        ));
    }
    if cfg.sources.is_empty() {
        diags.push(flag_error(
            "sources",
            "nothing to read: give --config FILE (with [[sources]]), --path GLOB or --stdin",
        ));
    }
    diags.into_result(())
}

fn flag_source(name: &str, args: &Overlay, start_at: Option<StartAt>) -> SourceSpec {
    SourceSpec {
        name: name.to_string(),
        paths: args.paths.clone(),
        provider: args.provider.clone(),
        start_at: start_at.unwrap_or_default(),
        ..SourceSpec::default()
    }
}

fn add_source(cfg: &mut Config, diags: &mut Diagnostics, spec: SourceSpec) {
    if cfg.sources.iter().any(|s| s.name == spec.name) {
        diags.push(flag_error(
            if spec.stdin { "--stdin" } else { "--path" },
            format!(
                "the config already has a source named `{}`, the name this flag uses",
                spec.name
            ),
        ));
    } else {
        cfg.sources.push(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn args() -> Overlay {
        Overlay::default()
    }

    #[test]
    fn flags_alone_describe_a_source() {
        let mut a = args();
        a.paths = vec!["/var/log/app/*.log".into()];
        a.provider = Some("zoom".into());
        a.start_at = Some(StartAt::Beginning);
        let cfg = resolve(&a).unwrap();
        assert_eq!(cfg.sources.len(), 1);
        let s = &cfg.sources[0];
        assert_eq!(s.name, "files");
        assert_eq!(s.paths, vec!["/var/log/app/*.log".to_string()]);
        assert_eq!(s.provider.as_deref(), Some("zoom"));
        assert_eq!(s.start_at, StartAt::Beginning);
        assert!(!s.stdin);
    }

    #[test]
    fn stdin_flag_adds_a_stdin_source() {
        let mut a = args();
        a.stdin = true;
        a.exit_on_eof = true;
        let cfg = resolve(&a).unwrap();
        assert_eq!(cfg.sources[0].name, "stdin");
        assert!(cfg.sources[0].stdin);
        assert!(cfg.sources[0].paths.is_empty());
    }

    #[test]
    fn flags_override_the_config_file() {
        let mut cfg = Config::parse(
            "listen = \"127.0.0.1:1\"\nlog_level = \"warn\"\n[[sources]]\nname = \"app\"\npaths = [\"a/*.log\"]\n",
            "c.toml",
            Path::new(""),
        )
        .unwrap();
        let mut a = args();
        a.listen = Some("127.0.0.1:0".parse().unwrap());
        a.log_level = Some("debug".into());
        a.start_at = Some(StartAt::Beginning);
        a.state_dir = Some("/tmp/st".into());
        apply_flags(&mut cfg, &a).unwrap();
        assert_eq!(cfg.listen.as_str(), "127.0.0.1:0");
        assert_eq!(cfg.log_level, "debug");
        assert_eq!(cfg.state_dir, PathBuf::from("/tmp/st"));
        assert_eq!(cfg.sources[0].start_at, StartAt::Beginning);
    }

    #[test]
    fn every_flag_problem_is_reported() {
        let mut a = args();
        a.exit_on_eof = true;
        a.paths = vec!["a/[b".into()];
        let err = resolve(&a).unwrap_err().to_string();
        assert!(
            err.contains("<command line>: --path: bad glob `a/[b`"),
            "{err}"
        );
        assert!(
            err.contains("--exit-on-eof: only makes sense with --stdin"),
            "{err}"
        );
        let mut a = args();
        a.exit_on_eof = true;
        let err = resolve(&a).unwrap_err().to_string();
        assert!(err.contains("sources: nothing to read"), "{err}");
    }

    #[test]
    fn a_flag_source_may_not_shadow_a_config_source() {
        let mut cfg = Config::parse(
            "[[sources]]\nname = \"stdin\"\nstdin = true\n",
            "c.toml",
            Path::new(""),
        )
        .unwrap();
        let mut a = args();
        a.stdin = true;
        let err = apply_flags(&mut cfg, &a).unwrap_err().to_string();
        assert!(err.contains("already has a source named `stdin`"), "{err}");
    }
}
