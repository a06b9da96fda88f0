//! Command-line interface: `run` (the default), `scan`, `classify`, `check`, `alerts`.
//!
//! Flag names are a public interface (README, systemd unit, manifests use them).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// Where `run` starts in files that already exist on the first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAtArg {
    /// Everything already in the files.
    Beginning,
    /// Only lines written from now on (like `tail -F`).
    End,
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
    /// Start position for pre-existing files without a checkpoint.
    #[arg(long, value_enum, value_name = "WHERE")]
    pub start_at: Option<StartAtArg>,
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

/// Parse arguments, run the command, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Scan(args)) => crate::scan::scan(&args),
        Some(Command::Classify(args)) => crate::scan::classify(&args),
        Some(Command::Check(args)) => crate::scan::check(&args),
        Some(Command::Alerts(args)) => crate::alerting::command::alerts(&args),
        Some(Command::Run(args)) => crate::app::main(args),
        None => crate::app::main(cli.run),
    }
}
