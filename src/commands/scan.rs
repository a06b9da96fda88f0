//! `oauthwatch scan`: classify whole inputs and report, per rule, how often and where.
//!
//! Inputs are read in large chunks, framed into records, and classified with the shared
//! [`RuleSet`]. [`Scanner`] keeps one small tally per rule and allocates nothing per record
//! (but to normalise the reason of a catch-all record, for the "what to add next" list).
//! Inputs may be gzip or zstd ([`super::decode`]), directories ([`walk`]), or not text at all
//! ([`super::text`] warns). The caller shows progress and warnings ([`ScanObserver`]) and
//! prints the report ([`ScanReport::write_text`], [`ScanReport::write_json`]).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use super::decode::{self, Encoding};
use super::text::{self, TextSample};
use super::{encoding_note, load_rules, not_text_warning, CommandError};
use crate::batch::{parallel, BatchFramer, Counts, Found, READ_BYTES};
use crate::classifier::redact::normalize_reason;
use crate::classifier::{MatchContext, RuleIdx, RuleSet};
use crate::framing::{Format, FramingLimits};
use crate::registry::reasons::ReasonTable;
use crate::registry::report::ReasonCount;
use crate::registry::{REASONS_SHOWN, REASON_TABLE_CAPACITY};

mod walk;
use walk::Input;

/// How often and where one rule matched in a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleHits {
    /// Records classified as the rule.
    pub count: u64,
    /// Physical line (1-based, within its input) of the first such record.
    pub first_line: u64,
    /// Physical line (1-based, within its input) of the last such record.
    pub last_line: u64,
    /// Input (index into the scanned inputs) of the first record.
    pub first_input: usize,
    /// Input of the last record.
    pub last_input: usize,
}

/// The result of scanning inputs: totals and one tally per rule (indexed by [`RuleIdx`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Physical lines read.
    pub lines: u64,
    /// Records after framing (multi-line records count once).
    pub records: u64,
    /// Per rule, indexed like [`RuleSet::rules`].
    pub tallies: Vec<RuleHits>,
    /// The catch-all's reason texts (normalised and redacted as `/hints` shows them), most
    /// frequent first: what rule to add next.
    pub unmatched_reasons: Vec<ReasonCount>,
}

/// Frames and classifies a stream, tallying per rule; the core of `scan`, free of printing.
pub(crate) struct Scanner<'a> {
    rules: &'a RuleSet,
    ctx: MatchContext<'a>,
    format: Format,
    summary: ScanSummary,
    reasons: ReasonTable,
}

impl<'a> Scanner<'a> {
    /// A scanner over `rules` for inputs wrapped as `format`.
    pub fn new(rules: &'a RuleSet, ctx: MatchContext<'a>, format: Format) -> Self {
        Scanner {
            rules,
            ctx,
            format,
            summary: ScanSummary {
                tallies: vec![RuleHits::default(); rules.rules().len()],
                ..ScanSummary::default()
            },
            reasons: ReasonTable::new(REASON_TABLE_CAPACITY),
        }
    }

    /// Scan one whole input (already decompressed); `progress` is called after each chunk
    /// with the totals so far. Returns a sample of the input's first bytes, to tell whether
    /// it was text.
    pub fn scan_reader(
        &mut self,
        input: usize,
        mut reader: impl Read,
        mut progress: impl FnMut(&ScanSummary),
    ) -> io::Result<TextSample> {
        let mut batch = BatchFramer::new(self.format, FramingLimits::default());
        let mut buf = vec![0u8; READ_BYTES];
        let mut sample = TextSample::default();
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            sample.push(&buf[..n]);
            let (rules, ctx) = (self.rules, self.ctx);
            let counts = batch.push(&buf[..n], Instant::now(), rules, &ctx, |m| {
                self.found(input, m)
            });
            self.count(counts);
            progress(&self.summary);
        }
        let (rules, ctx) = (self.rules, self.ctx);
        let counts = batch.finish(rules, &ctx, |m| self.found(input, m));
        self.count(counts);
        progress(&self.summary);
        Ok(sample)
    }

    /// Scan one whole uncompressed file of `size` bytes split across `threads` threads
    /// (see [`parallel`]): the same tallies as [`Scanner::scan_reader`]. `Ok(None)` when the
    /// file could not be split at record boundaries; scan it with `scan_reader` then.
    pub fn scan_file_parallel(
        &mut self,
        input: usize,
        path: &Path,
        size: u64,
        threads: usize,
    ) -> io::Result<Option<TextSample>> {
        let mut sample = TextSample::default();
        let mut head = Vec::new();
        std::fs::File::open(path)?
            .take(text::SAMPLE_BYTES as u64)
            .read_to_end(&mut head)?;
        sample.push(&head);
        let rules = self.rules;
        let catch_all = |rule: RuleIdx| rules.rules()[rule].catch_all;
        let pieces = parallel::scan_file(
            path,
            size,
            threads,
            self.format,
            rules,
            &self.ctx,
            Vec::new,
            |found: &mut Vec<(RuleIdx, u64, Option<String>)>, m| {
                let reason = match (catch_all(m.class.rule), m.class.reason) {
                    (true, Some(r)) if !r.is_empty() => Some(normalize_reason(r)),
                    _ => None,
                };
                found.push((m.class.rule, m.line, reason));
            },
        )?;
        let Some(pieces) = pieces else {
            return Ok(None);
        };
        for piece in pieces {
            let base = self.summary.lines;
            for (rule, line, reason) in piece.tally {
                self.tally(input, rule, base + line, reason.as_deref());
            }
            self.count(piece.counts);
        }
        Ok(Some(sample))
    }

    /// Tally one classified record of input `input` (the batch path finds and numbers it).
    fn found(&mut self, input: usize, m: Found<'_>) {
        let reason = match (self.rules.rules()[m.class.rule].catch_all, m.class.reason) {
            (true, Some(r)) if !r.is_empty() => Some(normalize_reason(r)),
            _ => None,
        };
        self.tally(input, m.class.rule, m.line, reason.as_deref());
    }

    /// Count a record of `rule` at `line` of input `input`; `reason` is a catch-all's
    /// normalised reason text.
    fn tally(&mut self, input: usize, rule: RuleIdx, line: u64, reason: Option<&str>) {
        let t = &mut self.summary.tallies[rule];
        if t.count == 0 {
            t.first_line = line;
            t.first_input = input;
        }
        t.count += 1;
        t.last_line = line;
        t.last_input = input;
        if let Some(reason) = reason {
            self.reasons.add(reason);
        }
    }

    fn count(&mut self, c: Counts) {
        self.summary.lines += c.lines;
        self.summary.records += c.records;
    }

    /// Finish and take the tallies, with the catch-all's most frequent reasons.
    pub fn into_summary(mut self) -> ScanSummary {
        self.summary.unmatched_reasons = self.reasons.top(REASONS_SHOWN);
        self.summary
    }
}

/// A reader that counts the bytes it passes on, so progress is measured on the bytes read
/// from disk (compressed or not), which is what the total size counts.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Open an input for reading, undoing its compression.
fn open_input(input: &Input, count: Rc<Cell<u64>>) -> io::Result<(Encoding, Box<dyn Read>)> {
    let raw: Box<dyn Read> = match input {
        Input::Stdin => Box::new(io::stdin().lock()),
        Input::File(path) => Box::new(std::fs::File::open(path)?),
    };
    decode::decoded(Counted { inner: raw, count })
}

/// Total bytes of the inputs, when all are files of known size.
fn total_size(inputs: &[Input]) -> Option<u64> {
    inputs
        .iter()
        .map(|i| match i {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        })
        .sum()
}

/// What `scan` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Rule files; empty = the embedded rules.
    pub rules: Vec<PathBuf>,
    /// Treat every input as talking only to this provider.
    pub provider: Option<String>,
    /// Line wrapping of the inputs.
    pub format: Format,
    /// Files or directories to scan; `-` is standard input.
    pub files: Vec<PathBuf>,
}

/// What a scan found, with what it takes to print it.
pub struct ScanReport {
    /// The rules the scan classified with (the tallies are indexed like them).
    pub rules: RuleSet,
    /// Totals and per-rule tallies.
    pub summary: ScanSummary,
    /// The inputs in the order scanned (`-` for standard input).
    pub inputs: Vec<String>,
}

impl ScanReport {
    /// Write the `--format json` document (one line).
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        write_json(out, &self.rules, &self.summary, &self.inputs)
    }

    /// Write the table for a person.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        write_text(out, &self.rules, &self.summary, &self.inputs)
    }
}

/// What a scan tells its caller while it runs: how far it got, and inputs it skipped or that
/// are unlikely to match. The binary draws a progress bar on a terminal with it.
pub trait ScanObserver {
    /// The inputs are listed: `total` bytes on disk when every input is a file.
    fn start(&mut self, total: Option<u64>);
    /// `bytes` more bytes were read from disk (compressed or not); `lines` and `records`
    /// are the totals so far.
    fn advance(&mut self, bytes: u64, lines: u64, records: u64);
    /// An input was skipped or is mostly not text (one sentence, for a person).
    fn warn(&mut self, message: &str);
    /// Reading ended, with the report or an error to follow.
    fn finish(&mut self);
}

/// `oauthwatch scan`: scan every input, telling `observer` how it goes.
pub fn run(
    args: &ScanRequest,
    observer: &mut dyn ScanObserver,
) -> Result<ScanReport, CommandError> {
    let rules = load_rules(&args.rules)?;
    let format = args.format;
    let ctx = MatchContext {
        provider: args.provider.as_deref(),
    };
    let inputs = walk::expand(&args.files).map_err(|e| {
        CommandError::Input(format!("cannot list {}: {}", e.path.display(), e.error))
    })?;
    if inputs.is_empty() {
        return Err(CommandError::Input(
            "no files to scan under the directories given".into(),
        ));
    }
    let names: Vec<String> = inputs.iter().map(Input::display).collect();
    let progress = observer;
    progress.start(total_size(&inputs));
    let read = Rc::new(Cell::new(0u64));
    let mut reported = 0u64;
    let mut scanner = Scanner::new(&rules, ctx, format);
    for (i, input) in inputs.iter().enumerate() {
        let name = &names[i];
        let (enc, reader) = match open_input(input, read.clone()) {
            Ok(r) => r,
            Err(error) => {
                progress.finish();
                return Err(CommandError::Io {
                    what: format!("cannot read {name}"),
                    error,
                });
            }
        };
        if let Encoding::Unsupported(format) = enc {
            progress.warn(&format!(
                "oauthwatch: warning: skipping {name}: it is {format}-compressed, which scan does \
                 not decode (gzip and zstd it does); decompress it and pipe it in, e.g. \
                 `{format} -dc {name} | oauthwatch scan -`"
            ));
            continue;
        }
        // A large uncompressed file is split across the cores when it can be split at
        // record boundaries (`OAUTHWATCH_SCAN_THREADS=1` keeps one thread).
        let split = match (input, enc) {
            (Input::File(path), Encoding::Plain) => {
                let size = std::fs::metadata(path).map_or(0, |m| m.len());
                let threads = parallel::threads_for(size);
                if threads > 1 {
                    scanner
                        .scan_file_parallel(i, path, size, threads)
                        .map(|s| s.map(|s| (s, size)))
                        .transpose()
                } else {
                    None
                }
            }
            _ => None,
        };
        let res = match split {
            Some(res) => res.map(|(sample, size)| {
                progress.advance(size, scanner.summary.lines, scanner.summary.records);
                sample
            }),
            None => scanner.scan_reader(i, reader, |s| {
                let now = read.get();
                progress.advance(now - reported, s.lines, s.records);
                reported = now;
            }),
        };
        match res {
            Ok(sample) if sample.mostly_not_text() => {
                progress.warn(&not_text_warning(name, enc, &sample))
            }
            Ok(_) => {}
            Err(error) => {
                progress.finish();
                return Err(CommandError::Io {
                    what: format!("error reading {name}{}", encoding_note(enc)),
                    error,
                });
            }
        }
    }
    progress.finish();
    let summary = scanner.into_summary();
    Ok(ScanReport {
        rules,
        summary,
        inputs: names,
    })
}

/// Rules seen, most frequent first (ties in rule-file order).
fn ranked(summary: &ScanSummary) -> Vec<RuleIdx> {
    let mut seen: Vec<RuleIdx> = (0..summary.tallies.len())
        .filter(|&i| summary.tallies[i].count > 0)
        .collect();
    seen.sort_by(|&a, &b| {
        summary.tallies[b]
            .count
            .cmp(&summary.tallies[a].count)
            .then(a.cmp(&b))
    });
    seen
}

/// The `--format json` document; `inputs` names the scanned inputs in order (`-` for
/// standard input). Line numbers count within the input named beside them.
fn json_summary(rules: &RuleSet, summary: &ScanSummary, inputs: &[String]) -> serde_json::Value {
    let name = |i: usize| inputs.get(i).map(String::as_str).unwrap_or("-");
    let list: Vec<serde_json::Value> = ranked(summary)
        .into_iter()
        .map(|i| {
            let r = &rules.rules()[i];
            let t = &summary.tallies[i];
            let mut v = serde_json::json!({
                "rule": r.id,
                "codes": r.codes,
                "count": t.count,
                "severity": r.severity.as_str(),
                "summary": r.summary,
                "remediation": r.remediation,
                "first_line": t.first_line,
                "last_line": t.last_line,
                "first_file": name(t.first_input),
                "last_file": name(t.last_input),
            });
            if r.catch_all {
                v["unmatched_reasons"] = serde_json::json!(summary.unmatched_reasons);
            }
            v
        })
        .collect();
    serde_json::json!({
        "lines": summary.lines,
        "records": summary.records,
        "rules": list,
    })
}

fn write_json(
    out: &mut (impl Write + ?Sized),
    rules: &RuleSet,
    summary: &ScanSummary,
    inputs: &[String],
) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &json_summary(rules, summary, inputs))?;
    writeln!(out)
}

/// Word-wrap `text` at `width` columns, each line prefixed with `indent`.
fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.chars().count() > width {
            out.push('\n');
            col = 0;
        }
        if col == 0 {
            out.push_str(indent);
            col = indent.len();
        } else {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    out
}

fn write_text(
    out: &mut (impl Write + ?Sized),
    rules: &RuleSet,
    summary: &ScanSummary,
    inputs: &[String],
) -> io::Result<()> {
    let seen = ranked(summary);
    let failures: u64 = seen.iter().map(|&i| summary.tallies[i].count).sum();
    writeln!(
        out,
        "{} lines, {} records, {} OAuth failures in {} rule(s)",
        summary.lines,
        summary.records,
        failures,
        seen.len()
    )?;
    if seen.is_empty() {
        return Ok(());
    }
    let name = |input: usize| -> String {
        if inputs.len() > 1 {
            format!("{}:", inputs[input])
        } else {
            String::new()
        }
    };
    let codes_w = seen
        .iter()
        .map(|&i| rules.rules()[i].code_label().len())
        .max()
        .unwrap_or(4)
        .max(5);
    let id_w = seen
        .iter()
        .map(|&i| rules.rules()[i].id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out)?;
    writeln!(
        out,
        "{:>8}  {:<codes_w$}  {:<8}  {:<id_w$}  FIRST..LAST LINE",
        "COUNT", "CODES", "SEVERITY", "RULE"
    )?;
    for &i in &seen {
        let r = &rules.rules()[i];
        let t = &summary.tallies[i];
        writeln!(
            out,
            "{:>8}  {:<codes_w$}  {:<8}  {:<id_w$}  {}{}..{}{}",
            t.count,
            r.code_label(),
            r.severity.as_str(),
            r.id,
            name(t.first_input),
            t.first_line,
            name(t.last_input),
            t.last_line
        )?;
        writeln!(out, "{}", wrap(&r.summary, "          ", 100))?;
        writeln!(
            out,
            "{}",
            wrap(&format!("What to do: {}", r.remediation), "          ", 100)
        )?;
        if r.catch_all && !summary.unmatched_reasons.is_empty() {
            writeln!(
                out,
                "          Reasons no rule names, most frequent first (add a rule for the top ones):"
            )?;
            for rc in &summary.unmatched_reasons {
                writeln!(out, "          {:>8}  {}", rc.count, rc.reason)?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a scan told its observer.
    #[derive(Default)]
    struct Seen {
        total: Option<Option<u64>>,
        bytes: u64,
        warnings: Vec<String>,
        finished: bool,
    }

    impl ScanObserver for Seen {
        fn start(&mut self, total: Option<u64>) {
            self.total = Some(total);
        }
        fn advance(&mut self, bytes: u64, _lines: u64, _records: u64) {
            self.bytes += bytes;
        }
        fn warn(&mut self, message: &str) {
            self.warnings.push(message.to_string());
        }
        fn finish(&mut self) {
            self.finished = true;
        }
    }

    #[test]
    fn the_observer_hears_progress_and_skipped_inputs_and_the_report_holds_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let log = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: \
                   Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ\nok\n";
        std::fs::write(dir.path().join("a.log"), log).unwrap();
        let xz = b"\xfd7zXZ\x00rest";
        std::fs::write(dir.path().join("b.xz"), xz).unwrap();
        let request = ScanRequest {
            files: vec![dir.path().to_path_buf()],
            ..ScanRequest::default()
        };
        let mut seen = Seen::default();
        let report = run(&request, &mut seen).unwrap();
        let size = (log.len() + xz.len()) as u64;
        assert_eq!(seen.total, Some(Some(size)));
        assert_eq!(
            seen.bytes,
            log.len() as u64,
            "the skipped input is not read"
        );
        assert_eq!(seen.warnings.len(), 1, "{:?}", seen.warnings);
        assert!(
            seen.warnings[0].contains("skipping") && seen.warnings[0].contains("b.xz"),
            "{:?}",
            seen.warnings
        );
        assert!(seen.finished);
        assert_eq!((report.summary.lines, report.summary.records), (2, 2));
        let hits: u64 = report.summary.tallies.iter().map(|t| t.count).sum();
        assert_eq!(hits, 1);
        assert_eq!(report.inputs.len(), 2);
    }
}
