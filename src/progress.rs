//! What `oauthwatch scan` shows on a terminal while it reads: a progress bar with an ETA when
//! the total size is known (files), and a spinner with lines, records and rate when it is not
//! (`-`, standard input from a pipe), where a bar could only say "N of N, eta 0s". Nothing is
//! drawn when standard error is not a terminal, so scripts and CI logs stay clean.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar or spinner, if standard error is a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    /// A bar over `total` input bytes (on disk, compressed or not), or a spinner when the
    /// total is unknown.
    pub fn new(total: Option<u64>) -> Progress {
        let start = Instant::now();
        if !io::stderr().is_terminal() {
            return Progress { bar: None, start };
        }
        let (bar, template) = match total {
            Some(t) => (
                ProgressBar::new(t),
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}  {msg}",
            ),
            None => (ProgressBar::new_spinner(), "{spinner} {msg}"),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if total.is_none() {
            // Keep the spinner turning while a pipe is quiet, so "waiting" is visible.
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress {
            bar: Some(bar),
            start,
        }
    }

    /// `bytes` more input bytes were read; `lines` and `records` are the totals so far.
    pub fn update(&self, bytes: u64, lines: u64, records: u64) {
        let Some(bar) = &self.bar else { return };
        bar.inc(bytes);
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { lines as f64 / secs } else { 0.0 };
        bar.set_message(status_line(lines, records, rate));
    }

    /// Print a line on standard error without tearing the bar.
    pub fn warn(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Remove the bar (before the summary is printed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1,234 lines, 1,200 records, 56,789 lines/s`. Pure.
pub fn status_line(lines: u64, records: u64, lines_per_sec: f64) -> String {
    format!(
        "{} lines, {} records, {} lines/s",
        grouped(lines),
        grouped(records),
        grouped(lines_per_sec.round() as u64)
    )
}

/// `n` with thousands separated by commas.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_groups_thousands() {
        assert_eq!(
            status_line(1_234_567, 999, 56_789.4),
            "1,234,567 lines, 999 records, 56,789 lines/s"
        );
        assert_eq!(status_line(0, 0, 0.0), "0 lines, 0 records, 0 lines/s");
    }
}
