//! One-shot commands over whole inputs: `scan`, `classify`, `check`.
//!
//! These are the I/O edge around the pure pieces: they read files or stdin in large chunks,
//! frame them with [`Framer`] into records, classify each record with the shared [`RuleSet`],
//! and print. `scan` keeps one small tally per rule and allocates nothing per record (but to
//! normalise the reason of a catch-all record, for the "what to add next" list).
//!
//! Inputs may be gzip or zstd (`decode`), directories (`walk`), or not text at all (`text`
//! warns); `classify` reads standard input on a thread so it can flush a held record when
//! the input goes quiet (`stdin`).
//!
//! Exit codes: 0 when the command did its job (a scan that finds failures still succeeds),
//! 1 when `check` found problems, 2 when the command could not run (unreadable input, invalid
//! rules, bad flags).

use std::cell::Cell;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use crate::batch::{parallel, BatchFramer, Counts, Found};
use crate::classifier::redact::{normalize_reason, redact_record};
use crate::classifier::{MatchContext, RuleIdx, RuleSet};
use crate::cli::{CheckArgs, ClassifyArgs, ScanArgs, ScanFormat};
use crate::config::Config;
use crate::diag::Diagnostics;
use crate::framing::{Format, Framed, FramingLimits};
use crate::registry::reasons::ReasonTable;
use crate::registry::report::ReasonCount;
use crate::registry::{REASONS_SHOWN, REASON_TABLE_CAPACITY};

pub mod decode;
pub mod progress;
pub mod stdin;
pub mod text;
pub mod walk;
use decode::Encoding;
use progress::Progress;
use stdin::{stdin_chunks, Chunk, Pace};
use text::TextSample;
use walk::Input;

/// Bytes read per chunk: large enough that per-chunk costs vanish, small enough for a cache.
const CHUNK_BYTES: usize = 1 << 20;

/// Exit code for "could not run".
const EXIT_ERROR: u8 = 2;

/// Where each rule was seen in a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTally {
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
    pub tallies: Vec<RuleTally>,
    /// The catch-all's reason texts (normalised and redacted as `/hints` shows them), most
    /// frequent first: what rule to add next.
    pub unmatched_reasons: Vec<ReasonCount>,
}

/// Frames and classifies a stream, tallying per rule; the core of `scan`, free of printing.
pub struct Scanner<'a> {
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
                tallies: vec![RuleTally::default(); rules.rules().len()],
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
        let mut buf = vec![0u8; CHUNK_BYTES];
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

    /// The totals and tallies so far (reasons are gathered by [`Scanner::into_summary`]).
    pub fn summary(&self) -> &ScanSummary {
        &self.summary
    }

    /// Finish and take the tallies, with the catch-all's most frequent reasons.
    pub fn into_summary(mut self) -> ScanSummary {
        self.summary.unmatched_reasons = self.reasons.top(REASONS_SHOWN);
        self.summary
    }
}

fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, ExitCode> {
    RuleSet::load_or_embedded(paths).map_err(|d| {
        eprintln!("{d}");
        eprintln!(
            "oauthwatch: the rule files have {} problem(s); run `oauthwatch check` for details",
            d.0.len()
        );
        ExitCode::from(EXIT_ERROR)
    })
}

/// What `scan` and `classify` both start from: the compiled rules and the input format, or
/// the exit code after the problem was printed.
fn prepare(rules: &[PathBuf], input_format: &str) -> Result<(RuleSet, Format), ExitCode> {
    Ok((load_rules(rules)?, self::input_format(input_format)?))
}

fn input_format(s: &str) -> Result<Format, ExitCode> {
    Format::parse(s).ok_or_else(|| {
        eprintln!("oauthwatch: unknown --input-format `{s}`; use auto, plain, json, cri or docker");
        ExitCode::from(EXIT_ERROR)
    })
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

/// `oauthwatch scan`.
pub fn scan(args: &ScanArgs) -> ExitCode {
    let (rules, format) = match prepare(&args.rules, &args.input_format) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let ctx = MatchContext {
        provider: args.provider.as_deref(),
    };
    let inputs = match walk::expand(&args.files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("oauthwatch: cannot list {}: {}", e.path.display(), e.error);
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if inputs.is_empty() {
        eprintln!("oauthwatch: no files to scan under the directories given");
        return ExitCode::from(EXIT_ERROR);
    }
    let names: Vec<String> = inputs.iter().map(Input::display).collect();
    let progress = Progress::new(total_size(&inputs));
    let read = Rc::new(Cell::new(0u64));
    let mut reported = 0u64;
    let mut scanner = Scanner::new(&rules, ctx, format);
    for (i, input) in inputs.iter().enumerate() {
        let name = &names[i];
        let (enc, reader) = match open_input(input, read.clone()) {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                eprintln!("oauthwatch: cannot read {name}: {e}");
                return ExitCode::from(EXIT_ERROR);
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
                progress.update(size, scanner.summary.lines, scanner.summary.records);
                sample
            }),
            None => scanner.scan_reader(i, reader, |s| {
                let now = read.get();
                progress.update(now - reported, s.lines, s.records);
                reported = now;
            }),
        };
        match res {
            Ok(sample) if sample.mostly_not_text() => {
                progress.warn(&not_text_warning(name, enc, &sample))
            }
            Ok(_) => {}
            Err(e) => {
                progress.finish();
                let how = match enc {
                    Encoding::Gzip | Encoding::Zstd => format!(" ({} input)", enc.name()),
                    _ => String::new(),
                };
                eprintln!("oauthwatch: error reading {name}{how}: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    progress.finish();
    let summary = scanner.into_summary();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let res = match args.format {
        ScanFormat::Json => write_json(&mut out, &rules, &summary, &names),
        ScanFormat::Text => write_text(&mut out, &rules, &summary, &names),
    };
    match res.and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauthwatch: cannot write output: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
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
pub fn json_summary(
    rules: &RuleSet,
    summary: &ScanSummary,
    inputs: &[String],
) -> serde_json::Value {
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
    out: &mut impl Write,
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
    out: &mut impl Write,
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

/// `oauthwatch classify`.
pub fn classify(args: &ClassifyArgs) -> ExitCode {
    use std::sync::mpsc::RecvTimeoutError;
    let (rules, format) = match prepare(&args.rules, &args.input_format) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let ctx = MatchContext {
        provider: args.provider.as_deref(),
    };
    let pace = Pace::of_stdin();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut framer = pace.framer(format);
    let mut framed = Framed::default();
    let mut sample = TextSample::default();
    let mut warned = false;
    let mut encoding = Encoding::Plain;
    let mut line = 1u64;
    let mut emit =
        |framed: &mut Framed, out: &mut BufWriter<io::StdoutLock<'_>>| -> io::Result<()> {
            for record in framed.records() {
                let this_line = line;
                line += 1 + memchr::memchr_iter(b'\n', record).count() as u64;
                let c = rules.classify(record, &ctx);
                if c.is_none() && !args.all {
                    continue;
                }
                let obj = match c {
                    Some(c) => {
                        let r = &rules.rules()[c.rule];
                        let mut obj = serde_json::json!({
                            "line": this_line,
                            "rule": r.id,
                            "provider": r.provider,
                            "codes": r.codes,
                            "severity": r.severity.as_str(),
                            "reason": c.reason.map(normalize_reason),
                            "excerpt": redact_record(record),
                        });
                        // With --all, say what made the record the provider's: the evidence
                        // (or the source's declared provider).
                        if args.all {
                            obj["why"] = rules.explain(record, &ctx).into();
                        }
                        obj
                    }
                    None => serde_json::json!({
                        "line": this_line,
                        "rule": null,
                        "codes": [],
                        "severity": null,
                        "why": rules.explain(record, &ctx),
                        "excerpt": redact_record(record),
                    }),
                };
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
            framed.clear();
            // Flush per chunk so that someone pasting lines sees answers as they go.
            out.flush()
        };
    let chunks = stdin_chunks();
    let res = (|| -> io::Result<()> {
        loop {
            let next = match (pace, framer.idle_deadline()) {
                (Pace::Terminal | Pace::Stream, Some(due)) => chunks
                    .recv_timeout(due.saturating_duration_since(Instant::now()))
                    .map_err(|e| e == RecvTimeoutError::Timeout),
                _ => chunks.recv().map_err(|_| false),
            };
            match next {
                Ok(Chunk::Encoding(enc)) => {
                    encoding = enc;
                    if let Encoding::Unsupported(name) = enc {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "it is {name}-compressed, which classify does not \
                                 decode (gzip and zstd it does); pipe it through `{name} -dc`"
                            ),
                        ));
                    }
                }
                Ok(Chunk::Data(bytes)) => {
                    sample.push(&bytes);
                    if !warned && sample.counts().0 >= text::SAMPLE_BYTES {
                        warned = true;
                        if sample.mostly_not_text() {
                            eprintln!("{}", not_text_warning("standard input", encoding, &sample));
                        }
                    }
                    framer.push(&bytes, Instant::now(), &mut framed);
                    emit(&mut framed, &mut out)?;
                }
                Ok(Chunk::Failed(e)) => return Err(e),
                // The deadline passed with no new bytes: print what has waited long enough.
                Err(true) => {
                    framer.flush_idle(Instant::now(), &mut framed);
                    emit(&mut framed, &mut out)?;
                }
                // End of input.
                Err(false) => break,
            }
        }
        framer.finish(&mut framed);
        emit(&mut framed, &mut out)?;
        if !warned && sample.mostly_not_text() {
            eprintln!("{}", not_text_warning("standard input", encoding, &sample));
        }
        Ok(())
    })();
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let how = match encoding {
                Encoding::Gzip | Encoding::Zstd => format!(" ({} input)", encoding.name()),
                _ => String::new(),
            };
            eprintln!("oauthwatch: error reading standard input{how}: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Validate a config file and rule files; every problem of every file is collected.
pub fn check_files(config: Option<&Path>, rules: &[PathBuf]) -> (Diagnostics, Vec<String>) {
    let mut diags = Diagnostics::default();
    let mut checked = Vec::new();
    let mut rule_files: Vec<PathBuf> = rules.to_vec();
    let mut loaded_config = None;
    if let Some(path) = config {
        match Config::load(path) {
            Ok(cfg) => {
                diags.0.extend(endpoint_problems(path, &cfg));
                loaded_config = Some(cfg.clone());
                for r in cfg.rules {
                    if !rule_files.contains(&r) {
                        rule_files.push(r);
                    }
                }
            }
            Err(d) => {
                diags.0.extend(d.0);
                // Still check the rule files it names, so one run shows every problem.
                for r in rule_files_named_by(path) {
                    if !rule_files.contains(&r) {
                        rule_files.push(r);
                    }
                }
            }
        }
        checked.push(path.display().to_string());
    }
    let loaded_rules = RuleSet::load_or_embedded(&rule_files);
    if rule_files.is_empty() {
        checked.push(crate::classifier::EMBEDDED_ORIGIN.to_string());
    } else {
        checked.extend(rule_files.iter().map(|p| p.display().to_string()));
    }
    match loaded_rules {
        Err(d) => diags.0.extend(d.0),
        Ok(set) => {
            // A source's provider must be one the rules declare, or it counts nothing.
            if let Some(cfg) = &loaded_config {
                diags.0.extend(cfg.unknown_providers(set.providers()).0);
            }
        }
    }
    diags.sort_by_place();
    (diags, checked)
}

/// Problems the HTTP endpoint would refuse to start with: TLS files that do not load, and
/// basic-auth hashes that are not valid bcrypt. Loading them here, as `serve` does, catches
/// them before a deploy rather than at the daemon's start.
fn endpoint_problems(path: &Path, cfg: &Config) -> Vec<crate::diag::Diagnostic> {
    let file = path.display().to_string();
    let mut out = Vec::new();
    let mut problem = |field: &str, message: String| {
        out.push(crate::diag::Diagnostic::field(&file, field, message))
    };
    if let Some(tls) = &cfg.http.tls {
        if let Err(e) = crate::exporter::tls::acceptor(tls) {
            problem("http.tls", e.to_string());
        }
    }
    if let Err(e) = crate::exporter::auth::BasicAuth::new(&cfg.http.basic_auth_users) {
        problem("http.basic_auth_users", e.to_string());
    }
    out
}

/// The `rules` of a config file that failed validation, read leniently (relative paths
/// resolve against the config's directory, as `Config::load` does).
fn rule_files_named_by(config: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Vec::new();
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let base = config.parent().unwrap_or(Path::new(""));
    table
        .get("rules")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(|s| base.join(s))
                .collect()
        })
        .unwrap_or_default()
}

/// `oauthwatch check`.
pub fn check(args: &CheckArgs) -> ExitCode {
    let (diags, checked) = check_files(args.config.as_deref(), &args.rules);
    if diags.is_empty() {
        println!("ok: {}", checked.join(", "));
        ExitCode::SUCCESS
    } else {
        for d in &diags.0 {
            eprintln!("{d}");
        }
        eprintln!(
            "{} problem(s) in {}",
            diags.0.len(),
            diags.files().join(", ")
        );
        ExitCode::from(1)
    }
}
