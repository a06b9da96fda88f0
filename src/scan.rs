//! One-shot commands over whole inputs: `scan`, `classify`, `check`.
//!
//! OWNER: classifier helper. (SKELETON)

use std::process::ExitCode;

use crate::cli::{CheckArgs, ClassifyArgs, ScanArgs};

/// `oauthwatch scan`.
pub fn scan(_args: &ScanArgs) -> ExitCode {
    ExitCode::FAILURE
}

/// `oauthwatch classify`.
pub fn classify(_args: &ClassifyArgs) -> ExitCode {
    ExitCode::FAILURE
}

/// `oauthwatch check`.
pub fn check(_args: &CheckArgs) -> ExitCode {
    ExitCode::FAILURE
}
