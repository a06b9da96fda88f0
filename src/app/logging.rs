//! The daemon's own logs: `tracing` to stderr, as human text or JSON lines.
//!
//! The level or filter comes from `--log-level`, else `RUST_LOG`, else the config file. A
//! reload can change it (the filter sits behind a reload handle). What is logged never holds
//! raw log text: sources and the classifier log paths, counts and rule ids only.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::LogFormat;

/// Changes the log filter of the running daemon.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` or `--log-level` was given: a config reload must not override it.
    pinned: bool,
}

impl LogControl {
    /// Apply the config file's level after a reload, unless a flag or `RUST_LOG` pinned it.
    pub fn set_config_level(&self, level: &str) {
        if self.pinned {
            return;
        }
        if let Ok(filter) = filter_of(level) {
            if self.handle.reload(filter).is_err() {
                tracing::warn!("could not change the log level");
            }
        }
    }
}

/// The filter for a level or filter string. The `notify` crate logs routine housekeeping at
/// INFO (a watch descriptor the kernel already dropped with its deleted directory, once per
/// deleted pod directory on a node): its messages show from WARN unless the string names
/// `notify` itself.
pub fn filter_of(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let filter = EnvFilter::try_new(level)?;
    if level.contains("notify") {
        return Ok(filter);
    }
    Ok(filter.add_directive("notify=warn".parse()?))
}

/// Install the global subscriber. `flag_level` is `--log-level`; `config_level` the config
/// file's `log_level` (or its default).
pub fn init(flag_level: Option<&str>, config_level: &str, format: LogFormat) -> LogControl {
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let pinned = flag_level.is_some() || env.is_some();
    let chosen = flag_level
        .map(str::to_string)
        .or(env)
        .unwrap_or_else(|| config_level.to_string());
    let filter = filter_of(&chosen).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // A second init (tests in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init();
    LogControl { handle, pinned }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_housekeeping_is_demoted_unless_asked_for() {
        assert_eq!(filter_of("info").unwrap().to_string(), "notify=warn,info");
        assert_eq!(filter_of("debug").unwrap().to_string(), "notify=warn,debug");
        assert_eq!(
            filter_of("notify=debug,info").unwrap().to_string(),
            "notify=debug,info"
        );
        assert!(filter_of("not a [filter").is_err());
    }
}
