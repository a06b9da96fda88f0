//! Command-line interface: `run` (the default), `scan`, `classify`, `check`, `alerts`.
//!
//! Flag names are a public interface (README, systemd unit, manifests use them). The flags
//! are parsed here, in the binary, and turned into the library's typed requests; each value
//! is checked by the same function that checks its config-file key.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

use oauthwatch::commands::alerts::AlertsRequest;
use oauthwatch::commands::classify::ClassifyRequest;
use oauthwatch::commands::scan::ScanRequest;
use oauthwatch::config::{check_log_level, flag_error, LogFormat, Overlay};
use oauthwatch::diag::Diagnostics;
use oauthwatch::framing::Format;
use oauthwatch::sources::StartAt;

/// Count Zoom OAuth token-endpoint failures in logs and export them to Prometheus.
#[derive(Debug, Parser)]
#[command(
    name = "oauthwatch",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The command; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run`, accepted without the word `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: tail sources, classify, serve metrics (the default command).
    Run(RunArgs),
    /// Classify whole files and print a summary per rule.
    Scan(ScanArgs),
    /// Read records on stdin and print one JSON object per record (for debugging rules).
    Classify(ClassifyArgs),
    /// Validate a config file and rule files; report every problem with file:line:column.
    Check(CheckArgs),
    /// Print the Prometheus alerting and recording rules generated from the rule files and the
    /// alert settings (deploy/prometheus/alerts.toml).
    Alerts(AlertsArgs),
}

/// `--start-at`: `beginning` (everything already in the files) or `end` (only lines written
/// from now on, like `tail -F`), parsed by the function that reads the config's `start_at`.
fn start_at_parser() -> impl TypedValueParser<Value = StartAt> {
    PossibleValuesParser::new(StartAt::NAMES)
        .map(|s| StartAt::parse(&s).expect("one of the possible values"))
}

/// Flags of `run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Config file (default: none; flags alone describe one source).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tail files matching this glob (repeatable); adds a source named `files`.
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Read log lines from standard input; adds a source named `stdin`.
    #[arg(long)]
    pub stdin: bool,
    /// With --stdin: exit when input ends instead of serving metrics until signalled.
    #[arg(long)]
    pub exit_on_eof: bool,
    /// Address for the HTTP endpoint (default 127.0.0.1:9742).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Directory for checkpoints.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Rule file (repeatable); replaces the embedded Zoom rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Start position for pre-existing files without a checkpoint: `beginning` (everything
    /// already in the files) or `end` (only lines written from now on, like `tail -F`).
    #[arg(long, value_name = "WHERE", value_parser = start_at_parser())]
    pub start_at: Option<StartAt>,
    /// Log level or filter (`info`, `debug`, `oauthwatch=trace`); RUST_LOG also works.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// The provider the --path/--stdin source talks to exclusively (e.g. `zoom`).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
}

/// Output format of `scan`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A table for a person.
    #[default]
    Text,
    /// One JSON object for scripts.
    Json,
}

/// Flags of `scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Rule file (repeatable); default: the embedded Zoom rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Treat every input as talking only to this provider (e.g. `zoom`).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Line wrapping of the inputs: auto, plain, json, cri, docker.
    #[arg(long = "input-format", value_name = "FORMAT", default_value = "auto")]
    pub input_format: String,
    /// Files or directories to scan (gzip and zstd are decompressed); `-` is standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// Flags of `classify`.
#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// Rule file (repeatable); default: the embedded Zoom rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Treat input as talking only to this provider (e.g. `zoom`).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Line wrapping of the input: auto, plain, json, cri, docker.
    #[arg(long = "input-format", value_name = "FORMAT", default_value = "auto")]
    pub input_format: String,
    /// Also print records that match no rule.
    #[arg(long)]
    pub all: bool,
}

/// Flags of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Config file to validate (and the rule files it names).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Rule file to validate (repeatable); default: the embedded rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
}

/// Flags of `alerts`.
#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    /// Alert settings (selector, deployment labels, runbook URL, `for`, per-rule thresholds);
    /// default: the shipped deploy/prometheus/alerts.toml, compiled in.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Rule file to generate alerts for (repeatable); default: those --config names, else the
    /// embedded rules.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// oauthwatch config file whose `rules` to use.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the rules to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The value of `--input-format`, or the message for the user.
pub fn input_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| {
        format!("unknown --input-format `{s}`; use auto, plain, json, cri or docker")
    })
}

impl RunArgs {
    /// The flags as a typed overlay over the config file, with a problem (located on the
    /// command line) for every flag value that does not parse; such a flag is left unset.
    pub fn overlay(&self) -> (Overlay, Diagnostics) {
        let mut diags = Diagnostics::default();
        let listen = self.listen.as_deref().and_then(|l| match l.parse() {
            Ok(addr) => Some(addr),
            Err(message) => {
                diags.push(flag_error("--listen", message));
                None
            }
        });
        let log_level = self
            .log_level
            .as_deref()
            .and_then(|level| match check_log_level(level) {
                Ok(()) => Some(level.to_string()),
                Err(message) => {
                    diags.push(flag_error("--log-level", message));
                    None
                }
            });
        let log_format = self
            .log_format
            .as_deref()
            .and_then(|f| match LogFormat::parse(f) {
                Some(format) => Some(format),
                None => {
                    diags.push(flag_error(
                        "--log-format",
                        format!("unknown log format `{f}`; use `text` or `json`"),
                    ));
                    None
                }
            });
        let overlay = Overlay {
            config: self.config.clone(),
            paths: self.paths.clone(),
            stdin: self.stdin,
            exit_on_eof: self.exit_on_eof,
            listen,
            state_dir: self.state_dir.clone(),
            rules: self.rules.clone(),
            start_at: self.start_at,
            log_level,
            log_format,
            provider: self.provider.clone(),
        };
        (overlay, diags)
    }
}

impl ScanArgs {
    /// The request for `commands::scan`.
    pub fn request(&self) -> Result<ScanRequest, String> {
        Ok(ScanRequest {
            rules: self.rules.clone(),
            provider: self.provider.clone(),
            format: input_format(&self.input_format)?,
            files: self.files.clone(),
        })
    }
}

impl ClassifyArgs {
    /// The request for `commands::classify`.
    pub fn request(&self) -> Result<ClassifyRequest, String> {
        Ok(ClassifyRequest {
            rules: self.rules.clone(),
            provider: self.provider.clone(),
            format: input_format(&self.input_format)?,
            all: self.all,
        })
    }
}

impl AlertsArgs {
    /// The request for `commands::alerts`.
    pub fn request(&self) -> AlertsRequest {
        AlertsRequest {
            settings: self.settings.clone(),
            rules: self.rules.clone(),
            config: self.config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> RunArgs {
        let mut argv = vec!["oauthwatch"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("flags parse").run
    }

    #[test]
    fn every_flag_value_problem_is_reported_at_once() {
        let a = run_args(&[
            "--listen",
            "nowhere",
            "--log-format",
            "xml",
            "--log-level",
            "not a [filter",
        ]);
        let (overlay, diags) = a.overlay();
        let err = diags.to_string();
        assert!(err.contains("<command line>: --listen: `nowhere`"), "{err}");
        assert!(
            err.contains("--log-format: unknown log format `xml`"),
            "{err}"
        );
        assert!(
            err.contains("--log-level: `not a [filter` is not a level"),
            "{err}"
        );
        assert_eq!(overlay.listen, None);
        assert_eq!(overlay.log_format, None);
    }

    #[test]
    fn flags_become_typed_values() {
        let a = run_args(&[
            "--listen",
            "localhost:0",
            "--log-format",
            "json",
            "--start-at",
            "beginning",
            "--path",
            "/var/log/*.log",
        ]);
        let (overlay, diags) = a.overlay();
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(overlay.listen.unwrap().as_str(), "localhost:0");
        assert_eq!(overlay.log_format, Some(LogFormat::Json));
        assert_eq!(overlay.start_at, Some(StartAt::Beginning));
        assert!(Cli::try_parse_from(["oauthwatch", "--start-at", "middle"]).is_err());
    }
}
