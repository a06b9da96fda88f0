//! The batch path against record-by-record classification over the same corpora.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::*;
use crate::classifier::RuleSet;

/// Per rule: count, first line, last line; and the line and record totals.
#[derive(Debug, Default, PartialEq, Eq)]
struct Result {
    per_rule: BTreeMap<usize, (u64, u64, u64)>,
    lines: u64,
    records: u64,
}

impl Result {
    fn add(&mut self, rule: usize, line: u64) {
        let e = self.per_rule.entry(rule).or_insert((0, line, line));
        e.0 += 1;
        e.2 = line;
    }
}

/// The reference: frame every record in full, classify each one by one.
fn record_by_record(
    rules: &RuleSet,
    ctx: &MatchContext<'_>,
    format: Format,
    input: &[u8],
    chunk: usize,
) -> Result {
    let mut framer = Framer::new(format, FramingLimits::default());
    let mut framed = Framed::default();
    let mut r = Result::default();
    let now = Instant::now();
    let take = |framed: &mut Framed, r: &mut Result| {
        for (i, record) in framed.records().enumerate() {
            if let Some(c) = rules.classify(record, ctx) {
                r.add(c.rule, framed.first_lines[i] + 1);
            }
        }
        r.lines += framed.lines;
        r.records += framed.ends.len() as u64;
        assert_eq!(framed.skipped_records, 0);
        framed.clear();
    };
    for c in input.chunks(chunk.max(1)) {
        framer.push(c, now, &mut framed);
        take(&mut framed, &mut r);
    }
    framer.finish(&mut framed);
    take(&mut framed, &mut r);
    r
}

fn batched(
    rules: &RuleSet,
    ctx: &MatchContext<'_>,
    format: Format,
    input: &[u8],
    chunk: usize,
) -> Result {
    let mut b = BatchFramer::new(format, FramingLimits::default());
    let mut r = Result::default();
    let now = Instant::now();
    for c in input.chunks(chunk.max(1)) {
        let mut found = Vec::new();
        let n = b.push(c, now, rules, ctx, |m| found.push((m.class.rule, m.line)));
        for (rule, line) in found {
            r.add(rule, line);
        }
        r.lines += n.lines;
        r.records += n.records;
    }
    let mut found = Vec::new();
    let n = b.finish(rules, ctx, |m| found.push((m.class.rule, m.line)));
    for (rule, line) in found {
        r.add(rule, line);
    }
    r.lines += n.lines;
    r.records += n.records;
    r
}

fn fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut out,
    );
    out.sort();
    out
}

/// The evaluation set's records (real failures, lookalikes, multi-line bodies and traces),
/// between ordinary lines: as plain lines, as CRI lines (long lines split into `P` pieces),
/// and as docker json-file lines.
fn synthetic() -> Vec<(&'static str, Format, Vec<u8>)> {
    let set = include_str!("../../tests/fixtures/eval/zoom_oauth_eval.jsonl");
    let mut lines: Vec<String> = Vec::new();
    for (n, line) in set.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        lines.extend(v["record"].as_str().unwrap().lines().map(str::to_string));
        match n % 5 {
            0 => lines.push("2024-05-01 12:00:00 INFO GET /healthz 200 1ms".into()),
            1 => lines.push(String::new()),
            2 => lines.push("2024-05-01 12:00:01 WARN  [scheduler] reminder delayed".into()),
            3 => lines.push("{\"level\":\"info\",\"msg\":\"cache miss\"}".into()),
            _ => {
                lines.push("2024-05-01 12:00:02 ERROR request failed: {".into());
                lines.push("  \"status\": 500".into());
                lines.push("}".into());
            }
        }
    }
    let plain: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let mut cri = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let stream = if i % 7 == 3 { "stderr" } else { "stdout" };
        let b = l.as_bytes();
        let mut at = 0;
        while b.len() - at > 40 && l.is_char_boundary(at + 40) {
            cri.extend_from_slice(format!("2024-05-01T12:00:00Z {stream} P ").as_bytes());
            cri.extend_from_slice(&b[at..at + 40]);
            cri.push(b'\n');
            at += 40;
        }
        cri.extend_from_slice(format!("2024-05-01T12:00:00Z {stream} F ").as_bytes());
        cri.extend_from_slice(&b[at..]);
        cri.push(b'\n');
    }
    let mut docker = Vec::new();
    for l in &lines {
        let log = serde_json::to_string(&format!("{l}\n")).unwrap();
        docker.extend_from_slice(
            format!("{{\"log\":{log},\"stream\":\"stdout\",\"time\":\"2024-05-01T12:00:00Z\"}}\n")
                .as_bytes(),
        );
    }
    vec![
        ("synthetic plain", Format::Plain, plain.clone()),
        ("synthetic plain (auto)", Format::Auto, plain),
        ("synthetic cri", Format::Cri, cri.clone()),
        ("synthetic cri (auto)", Format::Auto, cri),
        ("synthetic docker", Format::Docker, docker.clone()),
        ("synthetic docker (auto)", Format::Auto, docker),
    ]
}

/// Counts, first and last line per rule, and the line and record totals are those of
/// classifying every record one by one: over every fixture and the synthetic corpora, in
/// several formats, chunkings and provider contexts.
#[test]
fn batch_path_gives_what_record_by_record_classification_gives() {
    let rules = RuleSet::embedded();
    let mut corpora: Vec<(String, Format, Vec<u8>)> = Vec::new();
    for p in fixtures() {
        let bytes = std::fs::read(&p).unwrap();
        for format in [Format::Auto, Format::Plain] {
            corpora.push((p.display().to_string(), format, bytes.clone()));
        }
    }
    corpora.extend(
        synthetic()
            .into_iter()
            .map(|(n, f, b)| (n.to_string(), f, b)),
    );
    let mut matched = 0;
    for (name, format, input) in &corpora {
        for provider in [None, Some("zoom")] {
            let ctx = MatchContext { provider };
            let want = record_by_record(&rules, &ctx, *format, input, 1 << 20);
            matched += want.per_rule.len();
            for chunk in [1 << 20, 4096, 61] {
                let got = batched(&rules, &ctx, *format, input, chunk);
                assert_eq!(
                    got, want,
                    "{name}, {format:?}, provider {provider:?}, chunk {chunk}"
                );
            }
        }
    }
    assert!(matched > 20, "the corpora must hold failures ({matched})");
}

/// A log of ordinary lines with failures, multi-line bodies, traces and blank lines.
fn big_log(lines: usize) -> Vec<u8> {
    let set = include_str!("../../tests/fixtures/eval/zoom_oauth_eval.jsonl");
    let records: Vec<String> = set
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["record"].as_str().unwrap().to_string()
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..lines {
        let line = match i % 97 {
            0 => records[(i / 97) % records.len()].clone(),
            1 => "2024-05-01 12:00:02 ERROR request failed: {\n  \"status\": 500\n}".into(),
            2 => String::new(),
            3 => "java.lang.IllegalStateException: boom\n\tat x.Y.z(Y.java:1)".into(),
            _ => format!("2024-05-01 12:00:00 INFO GET /api/{i} 200 1ms"),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

type Tally = Vec<(usize, u64)>;

fn parallel_result(
    path: &Path,
    size: u64,
    threads: usize,
    rules: &RuleSet,
    ctx: &MatchContext<'_>,
) -> Option<Result> {
    let pieces = parallel::scan_file(
        path,
        size,
        threads,
        Format::Auto,
        rules,
        ctx,
        Tally::new,
        |t: &mut Tally, m| t.push((m.class.rule, m.line)),
    )
    .unwrap()?;
    let mut r = Result::default();
    for p in pieces {
        let base = r.lines;
        for (rule, line) in p.tally {
            r.add(rule, base + line);
        }
        r.lines += p.counts.lines;
        r.records += p.counts.records;
    }
    Some(r)
}

/// Split across threads at record boundaries, a file gives exactly what one thread gives.
#[test]
fn a_file_split_across_threads_gives_what_one_thread_gives() {
    let rules = RuleSet::embedded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let input = big_log(20_000);
    std::fs::write(&path, &input).unwrap();
    for provider in [None, Some("zoom")] {
        let ctx = MatchContext { provider };
        let one = batched(&rules, &ctx, Format::Auto, &input, 1 << 20);
        assert!(one.per_rule.len() > 3);
        for threads in [2, 3, 7] {
            let got = parallel_result(&path, input.len() as u64, threads, &rules, &ctx)
                .expect("split at record boundaries");
            assert_eq!(got, one, "{threads} threads, provider {provider:?}");
        }
    }
}

/// A split point inside a record (here every line continues one held record) is detected:
/// no parallel result, so the caller scans on one thread.
#[test]
fn a_split_inside_a_record_is_refused() {
    let rules = RuleSet::embedded();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.log");
    let mut input = b"java.lang.IllegalStateException: zoom token\n".to_vec();
    for i in 0..300 {
        input.extend_from_slice(format!("\tat x.Y.f{i}(Y.java:{i})\n").as_bytes());
    }
    std::fs::write(&path, &input).unwrap();
    let ctx = MatchContext::default();
    assert!(parallel_result(&path, input.len() as u64, 2, &rules, &ctx).is_none());
}
