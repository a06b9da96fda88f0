//! `config.toml`: the daemon's configuration, parsed strictly and validated in full.
//! (SKELETON: the lead is writing the real loader; the shape below is final.)

use std::path::{Path, PathBuf};

use crate::diag::Diagnostics;
use crate::sources::SourceSpec;

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// Rule files (resolved relative to the config file); empty = embedded rules.
    pub rules: Vec<PathBuf>,
    /// The sources.
    pub sources: Vec<SourceSpec>,
}

impl Config {
    /// Read, parse and validate a config file; every problem is reported.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        Ok(Config {
            path: Some(path.to_path_buf()),
            ..Config::default()
        })
    }
}
