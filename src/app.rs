//! The `run` command: wires sources, the classifier, the registry and the exporter together.
//! (SKELETON: owned by the lead.)

use std::process::ExitCode;

use crate::cli::RunArgs;

/// `oauthwatch run`.
pub fn main(_args: RunArgs) -> ExitCode {
    ExitCode::FAILURE
}
