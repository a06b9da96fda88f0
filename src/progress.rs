//! What `oauthwatch scan` shows on a terminal while it reads: a progress bar with an ETA when
//! the total size is known (files), and a spinner with lines, records and rate when it is not
//! (`-`, standard input from a pipe), where a bar could only say "N of N, eta 0s". Nothing is
//! drawn when standard error is not a terminal, so scripts and CI logs stay clean.
//!
//! One status line, redrawn in place (carriage return, erase line) at most ten times a second
//! and cut to the terminal's width so it never wraps. Drawn here rather than by a progress-bar
//! crate: the one this replaced was, with its rate estimator's `pow`, the last reason the
//! binary linked libm, whose pages every process of the binary (the daemon too) then kept
//! resident.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write as _};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Least time between two redraws of the line (a scan reports every read).
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// Time between two frames of the spinner, which turns while a pipe is quiet.
const SPIN_EVERY: Duration = Duration::from_millis(120);
/// The spinner's frames.
const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Cells of the bar.
const BAR_CELLS: usize = 30;
/// Carriage return, then erase the whole line.
const CLEAR: &str = "\r\x1b[2K";

/// The bar or spinner, if standard error is a terminal.
pub struct Progress {
    shown: Option<Arc<Shown>>,
    /// Turns the spinner (streams only).
    ticker: Mutex<Option<JoinHandle<()>>>,
    start: Instant,
}

/// The line's state, shared with the spinner's thread.
struct Shown {
    state: Mutex<State>,
    /// Wakes the spinner's thread early when the line is finished.
    finished: Condvar,
}

struct State {
    /// Input bytes in all (a bar), or `None` (a spinner).
    total: Option<u64>,
    bytes: u64,
    message: String,
    frame: usize,
    drawn_at: Option<Instant>,
    finished: bool,
    start: Instant,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Progress {
    /// A bar over `total` input bytes (on disk, compressed or not), or a spinner when the
    /// total is unknown.
    pub fn new(total: Option<u64>) -> Progress {
        let start = Instant::now();
        let ticker = Mutex::new(None);
        if !io::stderr().is_terminal() {
            return Progress {
                shown: None,
                ticker,
                start,
            };
        }
        let shown = Arc::new(Shown {
            state: Mutex::new(State {
                total,
                bytes: 0,
                message: String::new(),
                frame: 0,
                drawn_at: None,
                finished: false,
                start,
            }),
            finished: Condvar::new(),
        });
        draw(&mut lock(&shown.state), true);
        if total.is_none() {
            // Keep the spinner turning while a pipe is quiet, so "waiting" is visible. Without
            // a thread (the system refused one) it still turns with every read.
            let s = shown.clone();
            let spin = std::thread::Builder::new()
                .name("progress".into())
                .spawn(move || s.spin());
            *ticker.lock().unwrap_or_else(|e| e.into_inner()) = spin.ok();
        }
        Progress {
            shown: Some(shown),
            ticker,
            start,
        }
    }

    /// `bytes` more input bytes were read; `lines` and `records` are the totals so far.
    pub fn update(&self, bytes: u64, lines: u64, records: u64) {
        let Some(shown) = &self.shown else { return };
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { lines as f64 / secs } else { 0.0 };
        let mut st = lock(&shown.state);
        st.bytes += bytes;
        st.message = status_line(lines, records, rate);
        draw(&mut st, false);
    }

    /// Print a line on standard error without tearing the bar.
    pub fn warn(&self, line: &str) {
        let Some(shown) = &self.shown else {
            eprintln!("{line}");
            return;
        };
        let mut st = lock(&shown.state);
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{CLEAR}{line}");
        drop(err);
        draw(&mut st, true);
    }

    /// Remove the bar (before the summary is printed).
    pub fn finish(&self) {
        let Some(shown) = &self.shown else { return };
        {
            let mut st = lock(&shown.state);
            if st.finished {
                return;
            }
            st.finished = true;
            let mut err = io::stderr().lock();
            let _ = err.write_all(CLEAR.as_bytes());
            let _ = err.flush();
        }
        shown.finished.notify_all();
        let spin = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = spin {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shown {
    /// Turn the spinner every [`SPIN_EVERY`] until the line is finished.
    fn spin(&self) {
        let mut st = lock(&self.state);
        while !st.finished {
            st = match self.finished.wait_timeout(st, SPIN_EVERY) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            if !st.finished {
                st.frame += 1;
                draw(&mut st, true);
            }
        }
    }
}

/// Redraw the line, unless it was drawn less than [`REDRAW_EVERY`] ago (`force` redraws
/// anyway: a warning was printed over it, or the spinner turned).
fn draw(st: &mut State, force: bool) {
    if st.finished {
        return;
    }
    let now = Instant::now();
    if !force
        && st
            .drawn_at
            .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
    {
        return;
    }
    st.drawn_at = Some(now);
    let line = match st.total {
        Some(total) => bar_line(st.bytes, total, now.duration_since(st.start), &st.message),
        None => format!("{} {}", SPINNER[st.frame % SPINNER.len()], st.message),
    };
    let mut err = io::stderr().lock();
    let _ = write!(err, "{CLEAR}{}", fit(&line, terminal_width()));
    let _ = err.flush();
}

/// Columns of the terminal on standard error (80 when it does not say).
fn terminal_width() -> usize {
    match rustix::termios::tcgetwinsize(io::stderr()) {
        Ok(size) if size.ws_col > 0 => usize::from(size.ws_col),
        _ => 80,
    }
}

/// `line` cut to one character less than `width`, so the cursor never wraps to a new line
/// (which would leave the old line behind at the next redraw). Pure.
fn fit(line: &str, width: usize) -> &str {
    match line.char_indices().nth(width.saturating_sub(1)) {
        Some((at, _)) => &line[..at],
        None => line,
    }
}

/// `████░░░ 12.50 MiB/100.00 MiB 25.00 MiB/s eta 4s  <message>` after `elapsed`. Pure.
fn bar_line(bytes: u64, total: u64, elapsed: Duration, message: &str) -> String {
    let done = bytes.min(total);
    let filled = if total == 0 {
        BAR_CELLS
    } else {
        (done as u128 * BAR_CELLS as u128 / total as u128) as usize
    };
    let mut line = String::with_capacity(160);
    line.extend(std::iter::repeat_n('█', filled));
    line.extend(std::iter::repeat_n('░', BAR_CELLS - filled));
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 {
        Duration::try_from_secs_f64((total - done) as f64 / rate).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    };
    let _ = write!(
        line,
        " {}/{} {}/s eta {}  {message}",
        human_bytes(bytes),
        human_bytes(total),
        human_bytes(rate as u64),
        human_duration(eta)
    );
    line
}

/// `512 B`, `12.50 KiB`, `3.00 GiB`. Pure.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// `4s`, `2m 05s`, `1h 02m`. Pure.
fn human_duration(d: Duration) -> String {
    let s = d
        .as_secs()
        .saturating_add(u64::from(d.subsec_millis() >= 500));
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
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

    #[test]
    fn the_bar_fills_with_the_bytes_read_and_estimates_what_is_left() {
        let mib = 1024 * 1024;
        let line = bar_line(25 * mib, 100 * mib, Duration::from_secs(1), "36 lines");
        let filled = line.chars().take_while(|&c| c == '█').count();
        assert_eq!(filled, 7, "{line}");
        assert_eq!(
            line.chars().skip(filled).take_while(|&c| c == '░').count(),
            BAR_CELLS - 7
        );
        assert!(
            line.ends_with(" 25.00 MiB/100.00 MiB 25.00 MiB/s eta 3s  36 lines"),
            "{line}"
        );
        let full = bar_line(100 * mib, 100 * mib, Duration::from_secs(2), "");
        assert!(full.starts_with(&"█".repeat(BAR_CELLS)), "{full}");
        assert!(full.contains(" eta 0s"), "{full}");
        // Nothing read yet: no rate, no estimate; an empty input is complete.
        assert!(bar_line(0, 10, Duration::ZERO, "").contains(" 0 B/s eta 0s"));
        assert!(bar_line(0, 0, Duration::ZERO, "").starts_with(&"█".repeat(BAR_CELLS)));
    }

    #[test]
    fn sizes_and_durations_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.00 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.50 MiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
        assert_eq!(human_duration(Duration::from_millis(4400)), "4s");
        assert_eq!(human_duration(Duration::from_millis(59_600)), "1m 00s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(human_duration(Duration::from_secs(3720)), "1h 02m");
        assert_eq!(human_duration(Duration::MAX), "5124095576030431h 00m");
    }

    #[test]
    fn a_line_is_cut_short_of_the_terminal_width() {
        assert_eq!(fit("abcdef", 80), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc");
        // Characters, not bytes: the bar is multi-byte.
        assert_eq!(fit("██████", 3), "██");
        assert_eq!(fit("abc", 1), "");
    }
}
