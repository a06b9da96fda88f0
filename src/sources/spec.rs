//! What a source is told: its spec (name, globs, format, provider, start position) and the
//! options shared by every source of a daemon (state directory, intervals, read limits).
//!
//! These are the sources' own option types; `config` builds them from the TOML file and the
//! command-line flags, and the validators here ([`StartAt::parse`], [`compile_glob`]) are the
//! ones both `check` and the running daemon use, so a value that passes `check` behaves the
//! same when the daemon runs.

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobBuilder};

use crate::framing::{Format, FramingLimits};

/// Where a file source starts in files that exist on the very first start (no checkpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartAt {
    /// Like `tail -F`: only lines written from now on.
    #[default]
    End,
    /// Everything already in the files.
    Beginning,
}

impl StartAt {
    /// The spellings of `start_at` and `--start-at`, for help texts and messages.
    pub const NAMES: [&'static str; 2] = ["beginning", "end"];

    /// Parse `end` or `beginning` (the config key and the flag take the same words).
    pub fn parse(s: &str) -> Option<StartAt> {
        match s {
            "end" => Some(StartAt::End),
            "beginning" => Some(StartAt::Beginning),
            _ => None,
        }
    }
}

/// A validated source, as config (or `run --path`/`--stdin`) describes it. The default is
/// what a source gets for every key its config table leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSpec {
    /// The `source` label.
    pub name: String,
    /// Path globs to tail; empty for stdin.
    pub paths: Vec<String>,
    /// Globs of paths to skip.
    pub exclude: Vec<String>,
    /// How lines are wrapped.
    pub format: Format,
    /// Provider this source talks to exclusively (`zoom`), if known.
    pub provider: Option<String>,
    /// Start position for pre-existing files without checkpoint.
    pub start_at: StartAt,
    /// Read standard input instead of files.
    pub stdin: bool,
    /// Take Kubernetes namespace/pod/container from `/var/log/containers/` file names.
    pub kubernetes_metadata: bool,
}

/// Compile one include or exclude glob the way file discovery matches it (`*` stops at `/`,
/// `\` escapes). Config validation calls this too, so a glob `check` accepts is one the
/// daemon can tail with.
pub fn compile_glob(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Bounds on what the sources read and hold (the `[limits]` keys they use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Framing bounds (line cap, multi-line record cap and timeouts).
    pub framing: FramingLimits,
    /// Bytes of records the sources may hold in the queue to the classifier: the bound on
    /// its memory, whatever the size of each batch.
    pub queue_bytes: usize,
    /// Bytes read from a file per turn, so one busy file does not starve others.
    pub read_chunk_bytes: usize,
    /// File handles kept open at once; quiet files are closed and reopened on demand.
    pub max_open_files: usize,
    /// How long a rotated-away or deleted file is still drained before it is closed.
    pub rotated_file_grace: Duration,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            framing: FramingLimits::default(),
            queue_bytes: 4 * 1024 * 1024,
            read_chunk_bytes: 256 * 1024,
            max_open_files: 256,
            rotated_file_grace: Duration::from_secs(30),
        }
    }
}

/// Settings shared by every source of one daemon.
#[derive(Debug, Clone)]
pub struct SourcesOptions {
    /// Directory that holds the checkpoints.
    pub state_dir: PathBuf,
    /// How often acknowledged offsets are checkpointed.
    pub checkpoint_interval: Duration,
    /// Fallback stat polling period (NFS, lost or overflowed inotify events).
    pub poll_interval: Duration,
    /// Read and memory bounds (framing, queue bytes, chunk size, open files, rotated-file
    /// grace).
    pub limits: ReadLimits,
    /// The installed rules' candidate search: file sources frame sparsely with it (records
    /// that cannot match are counted, not sent); `None` frames and sends every record.
    pub candidates: Option<crate::batch::SharedCandidates>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_at_takes_exactly_its_two_words() {
        assert_eq!(StartAt::parse("end"), Some(StartAt::End));
        assert_eq!(StartAt::parse("beginning"), Some(StartAt::Beginning));
        assert_eq!(StartAt::parse("Beginning"), None);
        for n in StartAt::NAMES {
            assert!(StartAt::parse(n).is_some());
        }
    }

    #[test]
    fn globs_compile_as_discovery_matches_them() {
        assert!(compile_glob("/var/log/**/*.log").is_ok());
        assert!(compile_glob("a/[b").is_err());
        let g = compile_glob("/var/log/*.log").unwrap().compile_matcher();
        assert!(g.is_match("/var/log/app.log"));
        assert!(
            !g.is_match("/var/log/sub/app.log"),
            "`*` must not cross `/`"
        );
    }
}
