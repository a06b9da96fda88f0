//! When to tell the operator that a file source's globs match no file.
//!
//! A source whose globs match nothing reads nothing, and every counter stays at 0 — which
//! looks exactly like a healthy service with no failures. So the file server warns at the
//! first discovery that finds nothing, again every [`REPEAT`] while it stays so (a log
//! search for the source's name finds a recent line), and says once when files appear.
//! Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// How often the warning is repeated while the globs still match nothing.
pub const REPEAT: Duration = Duration::from_secs(10 * 60);

/// A glob as the operator should see it in a warning: relative ones are taken from the
/// current directory (as discovery does), so the message says where the daemon looked.
pub fn shown_glob(glob: &str) -> String {
    let p = std::path::Path::new(glob);
    if p.is_absolute() {
        return glob.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => glob.to_string(),
    }
}

/// What to log after a discovery pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing to say.
    Quiet,
    /// The globs match no file (`first`: the first time since it last matched, or at start).
    NoMatch {
        /// Whether this is the first warning of this stretch.
        first: bool,
    },
    /// Files match again after a warning.
    Matched,
}

/// The warning state of one source.
#[derive(Debug, Default)]
pub struct NoMatchWarning {
    /// When the warning was last logged; `None` while files match.
    warned_at: Option<Instant>,
}

impl NoMatchWarning {
    /// Feed the number of files a discovery pass matched at `now`.
    pub fn observe(&mut self, matched: u64, now: Instant) -> Notice {
        match (matched, self.warned_at) {
            (0, None) => {
                self.warned_at = Some(now);
                Notice::NoMatch { first: true }
            }
            (0, Some(at)) if now.saturating_duration_since(at) >= REPEAT => {
                self.warned_at = Some(now);
                Notice::NoMatch { first: false }
            }
            (0, Some(_)) => Notice::Quiet,
            (_, Some(_)) => {
                self.warned_at = None;
                Notice::Matched
            }
            (_, None) => Notice::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_at_once_then_rate_limited_then_says_when_files_appear() {
        let t0 = Instant::now();
        let mut w = NoMatchWarning::default();
        assert_eq!(w.observe(0, t0), Notice::NoMatch { first: true });
        assert_eq!(w.observe(0, t0 + Duration::from_secs(10)), Notice::Quiet);
        assert_eq!(
            w.observe(0, t0 + REPEAT - Duration::from_secs(1)),
            Notice::Quiet
        );
        assert_eq!(w.observe(0, t0 + REPEAT), Notice::NoMatch { first: false });
        assert_eq!(
            w.observe(0, t0 + REPEAT + Duration::from_secs(10)),
            Notice::Quiet
        );
        assert_eq!(w.observe(2, t0 + REPEAT * 2), Notice::Matched);
        assert_eq!(w.observe(2, t0 + REPEAT * 3), Notice::Quiet);
        assert_eq!(
            w.observe(0, t0 + REPEAT * 3),
            Notice::NoMatch { first: true }
        );
    }

    #[test]
    fn a_source_that_always_matched_says_nothing() {
        let t0 = Instant::now();
        let mut w = NoMatchWarning::default();
        assert_eq!(w.observe(1, t0), Notice::Quiet);
        assert_eq!(w.observe(3, t0 + REPEAT), Notice::Quiet);
    }
}
