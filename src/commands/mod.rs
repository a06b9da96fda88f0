//! The one-shot commands: `scan`, `classify`, `check`, `alerts`.
//!
//! These are the I/O edge around the pure pieces: they read files or stdin in large chunks,
//! frame them with [`crate::framing`] into records, classify each record with the shared
//! [`RuleSet`], and hand back a report (or, for `classify`, write one JSON line per record to
//! the writer they are given). They never pick an exit code: the binary prints the report or
//! the [`CommandError`] and decides.
//!
//! One command per module; what two commands share keeps its own module: [`decode`]
//! (gzip and zstd inputs) and [`text`] (is an input text at all).

pub mod alerts;
pub mod check;
pub mod classify;
mod decode;
pub mod scan;
mod text;

use std::fmt;

use crate::classifier::RuleSet;
use crate::diag::Diagnostics;
use decode::Encoding;
use text::TextSample;

/// Why a one-shot command could not do its job.
#[derive(Debug)]
pub enum CommandError {
    /// The rule files have problems (each with file:line).
    Rules(Diagnostics),
    /// An input named on the command line cannot be used.
    Input(String),
    /// Reading an input failed.
    Io {
        /// What was being done (`cannot read app.log`, `error reading standard input`).
        what: String,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Rules(d) => write!(
                f,
                "{d}\nthe rule files have {} problem(s); run `oauthwatch check` for details",
                d.0.len()
            ),
            CommandError::Input(message) => f.write_str(message),
            CommandError::Io { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// The rule files (the embedded rules when none are named).
fn load_rules(paths: &[std::path::PathBuf]) -> Result<RuleSet, CommandError> {
    RuleSet::load_or_embedded(paths).map_err(CommandError::Rules)
}

/// ` (gzip input)` for a decompressed input, for read errors.
fn encoding_note(enc: Encoding) -> String {
    match enc {
        Encoding::Gzip | Encoding::Zstd => format!(" ({} input)", enc.name()),
        _ => String::new(),
    }
}

/// The warning for an input that is mostly not text.
fn not_text_warning(name: &str, enc: Encoding, sample: &TextSample) -> String {
    let (seen, not_text) = sample.counts();
    let after = match enc {
        Encoding::Gzip | Encoding::Zstd => format!(" after {} decompression", enc.name()),
        _ => String::new(),
    };
    format!(
        "oauthwatch: warning: {name} is mostly not text ({}% of its first {} bytes{after} are \
         control bytes or invalid UTF-8); its records are unlikely to match. Is it binary, or \
         compressed in a format other than gzip or zstd?",
        not_text * 100 / seen.max(1),
        seen
    )
}
