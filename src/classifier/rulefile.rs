//! Reading a rule file: TOML text → a validated [`FileSpec`], with every problem reported at
//! its file:line:column (unknown keys, wrong types, bad regexes, bad durations, bad ids).
//!
//! This is step one of two (ripgrep's "raw flags, then a validated, compiled value"): the spec
//! keeps the byte offset of every pattern and example, so that `set` can report compile-time
//! problems (duplicate ids across files, failing examples) at the right place too.

use std::time::Duration;

use regex::bytes::{Regex, RegexBuilder};

use super::{prefilter, AlertCondition, Severity};
use crate::config::reader::{Source, Table};
use crate::diag::{Diagnostic, Diagnostics};

/// A string from the file with the byte offset where it was written.
#[derive(Debug, Clone)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Byte offset in the file's text.
    pub offset: usize,
}

/// A compiled pattern with its source text, its prefilter literals and where it was written.
#[derive(Debug, Clone)]
pub struct PatternSpec {
    /// The regex as written.
    pub text: String,
    /// The regex compiled (bytes, case-insensitive).
    pub regex: Regex,
    /// Lower-cased literals one of which starts every match.
    pub literals: Vec<Vec<u8>>,
    /// Byte offset in the file.
    pub offset: usize,
}

/// One `[[rules]]` entry, validated.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// Stable snake_case id.
    pub id: At<String>,
    /// Provider codes; empty for the catch-all.
    pub codes: Vec<String>,
    /// The provider's documented message.
    pub message: String,
    /// What the failure means.
    pub description: String,
    /// Severity label.
    pub severity: Severity,
    /// Alert condition.
    pub alert: AlertCondition,
    /// Match patterns.
    pub patterns: Vec<PatternSpec>,
    /// One-line summary.
    pub summary: String,
    /// What to do.
    pub remediation: String,
    /// Lines that must classify as exactly this rule.
    pub must_match: Vec<At<String>>,
    /// Lines that must not classify as any rule of the file.
    pub must_not_match: Vec<At<String>>,
}

impl RuleSpec {
    /// True for the provider's catch-all (`codes = []`).
    pub fn is_catch_all(&self) -> bool {
        self.codes.is_empty()
    }
}

/// A whole rule file, validated.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The file as the user named it.
    pub origin: String,
    /// Its text, for locating later diagnostics.
    pub text: String,
    /// Provider name (`zoom`), the `provider` label.
    pub provider: String,
    /// Literals that name the provider (case-insensitive).
    pub markers: Vec<String>,
    /// Literals that name another provider (case-insensitive).
    pub exclude: Vec<String>,
    /// Explicit-code patterns; the digits in a match form the code.
    pub code_patterns: Vec<PatternSpec>,
    /// Patterns whose match ends where a reason text starts.
    pub reason_patterns: Vec<Regex>,
    /// The rules, in file order.
    pub rules: Vec<RuleSpec>,
}

/// Compile a pattern the way the classifier runs it: on bytes, case-insensitive, bounded.
/// Word boundaries (`\b`, `\B`) are ASCII: a Unicode boundary makes the fast DFA give up on
/// any non-ASCII byte (typographic quotes are common in these records) and fall back to a
/// slower engine that allocates.
pub fn compile_pattern(text: &str) -> Result<Regex, String> {
    RegexBuilder::new(&ascii_word_boundaries(text))
        .case_insensitive(true)
        .unicode(true)
        .size_limit(2 << 20)
        .dfa_size_limit(4 << 20)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
}

/// `\b` → `(?-u:\b)` and `\B` → `(?-u:\B)`, leaving escaped backslashes alone.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b @ ('b' | 'B')) => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_snake_case(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Parse and validate a rule file; every problem is reported.
pub fn parse(text: &str, origin: &str) -> Result<FileSpec, Diagnostics> {
    let mut src = Source::new(origin, text);
    let Some(doc) = src.parse() else {
        return Err(src.diags);
    };
    let mut root = Table::new(&doc, "", 0);
    let mut spec = FileSpec {
        origin: origin.to_string(),
        text: text.to_string(),
        provider: String::new(),
        markers: Vec::new(),
        exclude: Vec::new(),
        code_patterns: Vec::new(),
        reason_patterns: Vec::new(),
        rules: Vec::new(),
    };
    match root.string(&mut src, "provider") {
        Some((p, at)) if is_snake_case(&p) => {
            let _ = at;
            spec.provider = p;
        }
        Some((p, at)) => src.error(
            at,
            Some("provider"),
            format!("provider `{p}` must be lower-case snake_case, like `zoom`"),
        ),
        None => missing(&mut src, &root, "provider"),
    }
    for (key, out) in [
        ("markers", &mut spec.markers),
        ("exclude", &mut spec.exclude),
    ] {
        let key: &'static str = key;
        for (i, (s, at)) in root
            .strings(&mut src, key)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if s.len() < prefilter::MIN_LITERAL_LEN {
                src.error(
                    at,
                    Some(&format!("{key}[{i}]")),
                    format!(
                        "`{s}` is shorter than {} characters",
                        prefilter::MIN_LITERAL_LEN
                    ),
                );
            } else {
                out.push(s);
            }
        }
    }
    if spec.markers.is_empty() {
        src.error(
            root.offset(),
            Some("markers"),
            "at least one marker literal is required (e.g. `markers = [\"zoom\"]`): it is how \
             a record is recognised as this provider's",
        );
    }
    for (i, (p, at)) in root
        .strings(&mut src, "code_patterns")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if let Some(ps) = pattern(&mut src, &format!("code_patterns[{i}]"), p, at) {
            spec.code_patterns.push(ps);
        }
    }
    for (i, (p, at)) in root
        .strings(&mut src, "reason_patterns")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match compile_pattern(&p) {
            Ok(re) => spec.reason_patterns.push(re),
            Err(e) => src.error(at, Some(&format!("reason_patterns[{i}]")), e),
        }
    }
    let tables = root.tables(&mut src, "rules");
    if tables.is_empty() {
        src.error(root.offset(), Some("rules"), "no [[rules]] in the file");
    }
    let mut catch_all: Option<String> = None;
    for mut t in tables {
        if let Some(rule) = rule(&mut src, &mut t) {
            if rule.is_catch_all() {
                if let Some(first) = &catch_all {
                    src.error(
                        rule.id.offset,
                        Some(&t.field("codes")),
                        format!(
                            "a second catch-all rule (codes = []); `{first}` is already the \
                             catch-all of this file"
                        ),
                    );
                } else {
                    catch_all = Some(rule.id.value.clone());
                }
            }
            if let Some(prev) = spec.rules.iter().find(|r| r.id.value == rule.id.value) {
                let (line, _) = crate::diag::line_col(text, prev.id.offset);
                src.error(
                    rule.id.offset,
                    Some(&t.field("id")),
                    format!(
                        "duplicate rule id `{}` (first defined on line {line})",
                        rule.id.value
                    ),
                );
            } else {
                spec.rules.push(rule);
            }
        }
        t.finish(&mut src);
    }
    root.finish(&mut src);
    src.diags.into_result(spec)
}

fn missing(src: &mut Source<'_>, t: &Table<'_, '_>, key: &str) {
    src.error(t.offset(), Some(&t.field(key)), "missing required field");
}

fn pattern(src: &mut Source<'_>, field: &str, text: String, at: usize) -> Option<PatternSpec> {
    let regex = match compile_pattern(&text) {
        Ok(re) => re,
        Err(e) => {
            src.error(at, Some(field), e);
            return None;
        }
    };
    match prefilter::required_literals(&text) {
        Ok(literals) => Some(PatternSpec {
            text,
            regex,
            literals,
            offset: at,
        }),
        Err(e) => {
            src.error(at, Some(field), e);
            None
        }
    }
}

fn required_text(src: &mut Source<'_>, t: &mut Table<'_, '_>, key: &'static str) -> String {
    match t.string(src, key) {
        Some((s, _)) if !s.trim().is_empty() => s,
        Some((_, at)) => {
            src.error(at, Some(&t.field(key)), "must not be empty");
            String::new()
        }
        None => {
            missing(src, t, key);
            String::new()
        }
    }
}

fn rule(src: &mut Source<'_>, t: &mut Table<'_, '_>) -> Option<RuleSpec> {
    let id = match t.string(src, "id") {
        Some((id, at)) if is_snake_case(&id) => Some(At {
            value: id,
            offset: at,
        }),
        Some((id, at)) => {
            src.error(
                at,
                Some(&t.field("id")),
                format!("rule id `{id}` must be snake_case (a-z, 0-9, _), like `token_revoked`"),
            );
            None
        }
        None => {
            missing(src, t, "id");
            None
        }
    };
    let codes = match t.strings(src, "codes") {
        Some(codes) => {
            let mut out = Vec::new();
            for (i, (c, at)) in codes.into_iter().enumerate() {
                if c.is_empty()
                    || !c
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    src.error(
                        at,
                        Some(&format!("{}[{i}]", t.field("codes"))),
                        format!("code `{c}` must be letters, digits, `_` or `-`"),
                    );
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => {
            missing(src, t, "codes");
            Vec::new()
        }
    };
    let message = required_text(src, t, "message");
    let description = required_text(src, t, "description");
    let summary = required_text(src, t, "summary");
    let remediation = required_text(src, t, "remediation");
    let severity = match t.string(src, "severity") {
        Some((s, at)) => match s.as_str() {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            other => {
                src.error(
                    at,
                    Some(&t.field("severity")),
                    format!("unknown severity `{other}`; use info, warning or critical"),
                );
                None
            }
        },
        None => {
            missing(src, t, "severity");
            None
        }
    };
    let alert = match t.table(src, "alert") {
        Some(mut a) => {
            let count = a.integer(src, "count", 1, 1_000_000);
            if a.raw("count").is_none() {
                missing(src, &a, "count");
            }
            let window = a.duration(src, "window", Duration::from_secs(1));
            if a.raw("window").is_none() {
                missing(src, &a, "window");
            }
            a.finish(src);
            match (count, window) {
                (Some(count), Some(window)) => Some(AlertCondition { count, window }),
                _ => None,
            }
        }
        None => {
            missing(src, t, "alert");
            None
        }
    };
    let mut patterns = Vec::new();
    match t.strings(src, "patterns") {
        Some(list) if !list.is_empty() => {
            for (i, (p, at)) in list.into_iter().enumerate() {
                let field = format!("{}[{i}]", t.field("patterns"));
                if let Some(ps) = pattern(src, &field, p, at) {
                    patterns.push(ps);
                }
            }
        }
        Some(_) => src.error(
            t.offset(),
            Some(&t.field("patterns")),
            "needs at least one pattern",
        ),
        None => missing(src, t, "patterns"),
    }
    let mut must_match = Vec::new();
    let mut must_not_match = Vec::new();
    match t.table(src, "examples") {
        Some(mut ex) => {
            for (s, at) in ex.strings(src, "match").unwrap_or_default() {
                must_match.push(At {
                    value: s,
                    offset: at,
                });
            }
            for (s, at) in ex.strings(src, "no_match").unwrap_or_default() {
                must_not_match.push(At {
                    value: s,
                    offset: at,
                });
            }
            if must_match.is_empty() {
                src.error(
                    ex.offset(),
                    Some(&ex.field("match")),
                    "give at least one line this rule must match",
                );
            }
            ex.finish(src);
        }
        None => missing(src, t, "examples"),
    }
    Some(RuleSpec {
        id: id?,
        codes,
        message,
        description,
        severity: severity?,
        alert: alert?,
        patterns,
        summary,
        remediation,
        must_match,
        must_not_match,
    })
}

/// A diagnostic at `offset` of `file`'s text.
pub fn diag_at(file: &FileSpec, offset: usize, field: String, message: String) -> Diagnostic {
    Diagnostic::at_offset(&file.origin, &file.text, offset, Some(field), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_boundaries_become_ascii() {
        assert_eq!(ascii_word_boundaries(r"\bcode\b"), r"(?-u:\b)code(?-u:\b)");
        assert_eq!(ascii_word_boundaries(r"a\\b\B"), r"a\\b(?-u:\B)");
        assert_eq!(ascii_word_boundaries(r"\d+\."), r"\d+\.");
    }
}
