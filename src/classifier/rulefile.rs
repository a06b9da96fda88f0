//! Reading a rule file: TOML text → a validated [`FileSpec`], with every problem reported at
//! its file:line:column (unknown keys, wrong types, bad regexes, bad durations, bad ids).
//!
//! This is step one of two (ripgrep's "raw flags, then a validated, compiled value"): the spec
//! keeps the byte offset of every pattern and example, so that `set` can report compile-time
//! problems (duplicate ids across files, failing examples) at the right place too.

use std::time::Duration;

use regex_automata::meta::Regex;

use super::{lazy, pattern, prefilter, AlertCondition, Severity};
use crate::diag::{Diagnostic, Diagnostics};
use crate::tomldoc::{Table, TomlDocument};

/// A string from the file with the byte offset where it was written.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    /// The value.
    pub(crate) value: T,
    /// Byte offset in the file's text.
    pub(crate) offset: usize,
}

/// How much of a pattern is compiled while a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compile {
    /// Parse each pattern and bound its size; compile only one that might be over the regex
    /// size limit. The rest compile on first use ([`super::lazy::LazyRegex`]).
    Lazy,
    /// Compile every pattern now (`oauthwatch check`: every failure reported before a deploy).
    Eager,
    /// The embedded file's text: its patterns are not even parsed here, nor its examples
    /// checked; the test suite compiles every pattern and checks every example of it
    /// (`embedded_rules_compile_and_every_example_passes`), and the same bytes compile the
    /// same way every time.
    Trusted,
}

/// A validated pattern with its source text and its prefilter literals.
#[derive(Debug, Clone)]
pub(crate) struct PatternSpec {
    /// The regex as written.
    pub(crate) text: String,
    /// Where it was written (`rules[2].patterns[0]`).
    pub(crate) field: String,
    /// The regex, if it was compiled while the file was read (see [`Compile`]).
    pub(crate) compiled: Option<Regex>,
    /// Lower-cased literals one of which starts every match.
    pub(crate) literals: Vec<Vec<u8>>,
}

/// One `[[rules]]` entry, validated.
#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    /// Stable snake_case id.
    pub(crate) id: At<String>,
    /// Provider codes; empty for the catch-all.
    pub(crate) codes: Vec<String>,
    /// The provider's documented message.
    pub(crate) message: String,
    /// What the failure means.
    pub(crate) description: String,
    /// Severity label.
    pub(crate) severity: Severity,
    /// Alert condition.
    pub(crate) alert: AlertCondition,
    /// Match patterns.
    pub(crate) patterns: Vec<PatternSpec>,
    /// One-line summary.
    pub(crate) summary: String,
    /// What to do.
    pub(crate) remediation: String,
    /// Lines that must classify as exactly this rule.
    pub(crate) must_match: Vec<At<String>>,
    /// Lines that must not classify as any rule of the file.
    pub(crate) must_not_match: Vec<At<String>>,
}

impl RuleSpec {
    /// True for the provider's catch-all (`codes = []`).
    pub(crate) fn is_catch_all(&self) -> bool {
        self.codes.is_empty()
    }
}

/// A validated regex that needs no leading literal (it runs only on records that passed the
/// prefilter).
#[derive(Debug, Clone)]
pub(crate) struct CheckSpec {
    /// The regex as written.
    pub(crate) text: String,
    /// Where it was written (`exclusions[0].unless[1]`).
    pub(crate) field: String,
    /// The regex, if it was compiled while the file was read (see [`Compile`]).
    pub(crate) compiled: Option<Regex>,
}

/// One `[[evidence]]` entry, validated: a shape that shows a record is this provider's, so
/// that it counts with no provider declared for its source.
#[derive(Debug, Clone)]
pub(crate) struct EvidenceSpec {
    /// Snake_case name, shown by `classify --all`.
    pub(crate) name: At<String>,
    /// One line saying what the evidence is.
    pub(crate) about: String,
    /// Literals whose presence alone is the evidence (case-insensitive), e.g. a host name.
    pub(crate) literals: Vec<String>,
    /// Patterns one of which must match; each begins with a literal that feeds the prefilter.
    pub(crate) patterns: Vec<PatternSpec>,
    /// True when the evidence holds only beside a table message: one of the patterns of a
    /// rule that is not the catch-all also matches the record.
    pub(crate) needs_message: bool,
    /// With `needs_message`: the message must begin where a pattern's match ends (the pattern
    /// ends at the opening of a value, such as `"reason": "`), not anywhere in the record.
    pub(crate) message_follows: bool,
    /// Patterns that void the evidence: lookalikes of the same shape.
    pub(crate) unless: Vec<CheckSpec>,
    /// Records that must show this evidence.
    pub(crate) must_match: Vec<At<String>>,
    /// Records that must not show it.
    pub(crate) must_not_match: Vec<At<String>>,
}

/// One `[[exclusions]]` entry, validated: a shape that shows a record is not one of this
/// provider's token-endpoint failures, whatever else it contains. Applies to every source,
/// declared or not.
#[derive(Debug, Clone)]
pub(crate) struct ExclusionSpec {
    /// Snake_case name, shown by `classify --all`.
    pub(crate) name: At<String>,
    /// One line saying what the exclusion keeps out.
    pub(crate) about: String,
    /// Literals any one of which excludes the record (case-insensitive).
    pub(crate) literals: Vec<String>,
    /// Patterns any one of which excludes the record.
    pub(crate) patterns: Vec<CheckSpec>,
    /// Patterns that lift the exclusion: the record is one of the provider's failures after all.
    pub(crate) unless: Vec<CheckSpec>,
}

/// A whole rule file, validated.
#[derive(Debug, Clone)]
pub(crate) struct FileSpec {
    /// The file as the user named it.
    pub(crate) origin: String,
    /// How it was read: what of it is compiled and checked at load.
    pub(crate) mode: Compile,
    /// Its text, for locating later diagnostics.
    pub(crate) text: String,
    /// Provider name (`zoom`), the `provider` label.
    pub(crate) provider: String,
    /// What shows a record is this provider's: the `[[evidence]]` entries, and the legacy
    /// `markers` list as an evidence named `markers`.
    pub(crate) evidence: Vec<EvidenceSpec>,
    /// What keeps a record out: the `[[exclusions]]` entries, and the legacy `exclude` list as
    /// an exclusion named `exclude`.
    pub(crate) exclusions: Vec<ExclusionSpec>,
    /// Explicit-code patterns; the digits in a match form the code.
    pub(crate) code_patterns: Vec<PatternSpec>,
    /// Patterns whose match ends where a reason text starts.
    pub(crate) reason_patterns: Vec<CheckSpec>,
    /// The rules, in file order.
    pub(crate) rules: Vec<RuleSpec>,
}

/// Check `text` as a pattern: it parses, and it compiles within the size limit. With
/// [`Compile::Lazy`] it is compiled only if its size bound from the parse does not prove it
/// fits; the compiled regex is returned when it was compiled.
fn validate(text: &str, mode: Compile) -> Result<Option<Regex>, String> {
    if mode == Compile::Trusted {
        return Ok(None);
    }
    let hir = pattern::parse_for_folded(text)?;
    if mode == Compile::Lazy && lazy::nfa_size_bound(&hir) <= pattern::NFA_SIZE_LIMIT {
        return Ok(None);
    }
    pattern::build(hir).map(Some)
}

fn is_snake_case(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Parse and validate a rule file; every problem is reported.
pub(crate) fn parse(text: &str, origin: &str, mode: Compile) -> Result<FileSpec, Diagnostics> {
    let mut src = TomlDocument::new(origin, text);
    let Some(doc) = src.parse() else {
        return Err(src.diags);
    };
    let mut root = Table::new(&doc, "", 0);
    let mut spec = FileSpec {
        origin: origin.to_string(),
        mode,
        text: text.to_string(),
        provider: String::new(),
        evidence: Vec::new(),
        exclusions: Vec::new(),
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
    let markers = literals(&mut src, &mut root, "markers");
    if !markers.is_empty() {
        spec.evidence.push(EvidenceSpec {
            name: At {
                value: "markers".to_string(),
                offset: root.offset(),
            },
            about: "the record names the provider".to_string(),
            literals: markers,
            patterns: Vec::new(),
            needs_message: false,
            message_follows: false,
            unless: Vec::new(),
            must_match: Vec::new(),
            must_not_match: Vec::new(),
        });
    }
    let exclude = literals(&mut src, &mut root, "exclude");
    if !exclude.is_empty() {
        spec.exclusions.push(ExclusionSpec {
            name: At {
                value: "exclude".to_string(),
                offset: root.offset(),
            },
            about: "another identity provider's OAuth error".to_string(),
            literals: exclude,
            patterns: Vec::new(),
            unless: Vec::new(),
        });
    }
    for mut t in root.tables(&mut src, "evidence") {
        if let Some(e) = evidence(&mut src, &mut t, mode) {
            check_unique_name(&mut src, &t, text, &spec.evidence, &e.name, |x| &x.name);
            spec.evidence.push(e);
        }
        t.finish(&mut src);
    }
    for mut t in root.tables(&mut src, "exclusions") {
        if let Some(e) = exclusion(&mut src, &mut t, mode) {
            check_unique_name(&mut src, &t, text, &spec.exclusions, &e.name, |x| &x.name);
            spec.exclusions.push(e);
        }
        t.finish(&mut src);
    }
    if spec.evidence.is_empty() {
        src.error(
            root.offset(),
            Some("evidence"),
            "no evidence: give at least one [[evidence]] (or `markers = [\"zoom\"]`): it is how \
             a record from a source with no declared provider is recognised as this provider's",
        );
    }
    for (i, (p, at)) in root
        .strings(&mut src, "code_patterns")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if let Some(ps) = pattern(&mut src, format!("code_patterns[{i}]"), p, at, mode) {
            spec.code_patterns.push(ps);
        }
    }
    spec.reason_patterns = checks(&mut src, &mut root, "reason_patterns", mode);
    let tables = root.tables(&mut src, "rules");
    if tables.is_empty() {
        src.error(root.offset(), Some("rules"), "no [[rules]] in the file");
    }
    let mut catch_all: Option<String> = None;
    for mut t in tables {
        if let Some(rule) = rule(&mut src, &mut t, mode) {
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

/// A list of prefilter literals (`markers`, `literals`, `exclude`): each 3+ characters.
fn literals(src: &mut TomlDocument<'_>, t: &mut Table<'_, '_>, key: &'static str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (s, at)) in t
        .strings(src, key)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if s.len() < prefilter::MIN_LITERAL_LEN {
            src.error(
                at,
                Some(&format!("{}[{i}]", t.field(key))),
                format!(
                    "`{s}` is shorter than {} characters",
                    prefilter::MIN_LITERAL_LEN
                ),
            );
        } else {
            out.push(s);
        }
    }
    out
}

/// Regexes that run only after the prefilter, so they need no leading literal.
fn checks(
    src: &mut TomlDocument<'_>,
    t: &mut Table<'_, '_>,
    key: &'static str,
    mode: Compile,
) -> Vec<CheckSpec> {
    let mut out = Vec::new();
    for (i, (p, at)) in t
        .strings(src, key)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let field = format!("{}[{i}]", t.field(key));
        match validate(&p, mode) {
            Ok(compiled) => out.push(CheckSpec {
                text: p,
                field,
                compiled,
            }),
            Err(e) => src.error(at, Some(&field), e),
        }
    }
    out
}

/// A required snake_case `name`.
fn name(src: &mut TomlDocument<'_>, t: &mut Table<'_, '_>) -> Option<At<String>> {
    match t.string(src, "name") {
        Some((n, at)) if is_snake_case(&n) => Some(At {
            value: n,
            offset: at,
        }),
        Some((n, at)) => {
            src.error(
                at,
                Some(&t.field("name")),
                format!("name `{n}` must be snake_case (a-z, 0-9, _), like `token_endpoint_body`"),
            );
            None
        }
        None => {
            missing(src, t, "name");
            None
        }
    }
}

fn check_unique_name<T>(
    src: &mut TomlDocument<'_>,
    t: &Table<'_, '_>,
    text: &str,
    seen: &[T],
    name: &At<String>,
    get: impl Fn(&T) -> &At<String>,
) {
    if let Some(prev) = seen.iter().map(&get).find(|n| n.value == name.value) {
        let (line, _) = crate::diag::line_col(text, prev.offset);
        src.error(
            name.offset,
            Some(&t.field("name")),
            format!(
                "duplicate name `{}` (first defined on line {line})",
                name.value
            ),
        );
    }
}

/// `examples = { match = [...], no_match = [...] }`, optional.
fn examples(
    src: &mut TomlDocument<'_>,
    t: &mut Table<'_, '_>,
) -> (Vec<At<String>>, Vec<At<String>>) {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    if let Some(mut ex) = t.table(src, "examples") {
        for (s, at) in ex.strings(src, "match").unwrap_or_default() {
            yes.push(At {
                value: s,
                offset: at,
            });
        }
        for (s, at) in ex.strings(src, "no_match").unwrap_or_default() {
            no.push(At {
                value: s,
                offset: at,
            });
        }
        ex.finish(src);
    }
    (yes, no)
}

fn evidence(
    src: &mut TomlDocument<'_>,
    t: &mut Table<'_, '_>,
    mode: Compile,
) -> Option<EvidenceSpec> {
    let name = name(src, t);
    let about = required_text(src, t, "about");
    let literals = literals(src, t, "literals");
    let mut patterns = Vec::new();
    for (i, (p, at)) in t
        .strings(src, "patterns")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let field = format!("{}[{i}]", t.field("patterns"));
        if let Some(ps) = pattern(src, field, p, at, mode) {
            patterns.push(ps);
        }
    }
    if t.raw("literals").is_none() && t.raw("patterns").is_none() {
        src.error(
            t.offset(),
            Some(&t.field("patterns")),
            "give `literals` or `patterns`: what in a record is the evidence",
        );
    }
    let needs_message = t.boolean(src, "needs_message").unwrap_or(false);
    let message_follows = t.boolean(src, "message_follows").unwrap_or(false);
    if message_follows && !needs_message {
        src.error(
            t.offset(),
            Some(&t.field("message_follows")),
            "`message_follows = true` needs `needs_message = true`",
        );
    }
    let unless = checks(src, t, "unless", mode);
    let (must_match, must_not_match) = examples(src, t);
    Some(EvidenceSpec {
        name: name?,
        about,
        literals,
        patterns,
        needs_message,
        message_follows,
        unless,
        must_match,
        must_not_match,
    })
}

fn exclusion(
    src: &mut TomlDocument<'_>,
    t: &mut Table<'_, '_>,
    mode: Compile,
) -> Option<ExclusionSpec> {
    let name = name(src, t);
    let about = required_text(src, t, "about");
    let literals = literals(src, t, "literals");
    let patterns = checks(src, t, "patterns", mode);
    if t.raw("literals").is_none() && t.raw("patterns").is_none() {
        src.error(
            t.offset(),
            Some(&t.field("patterns")),
            "give `literals` or `patterns`: what in a record excludes it",
        );
    }
    let unless = checks(src, t, "unless", mode);
    Some(ExclusionSpec {
        name: name?,
        about,
        literals,
        patterns,
        unless,
    })
}

fn missing(src: &mut TomlDocument<'_>, t: &Table<'_, '_>, key: &str) {
    src.error(t.offset(), Some(&t.field(key)), "missing required field");
}

fn pattern(
    src: &mut TomlDocument<'_>,
    field: String,
    text: String,
    at: usize,
    mode: Compile,
) -> Option<PatternSpec> {
    let compiled = match validate(&text, mode) {
        Ok(compiled) => compiled,
        Err(e) => {
            src.error(at, Some(&field), e);
            return None;
        }
    };
    match prefilter::required_literals(&text) {
        Ok(literals) => Some(PatternSpec {
            text,
            field,
            compiled,
            literals,
        }),
        Err(e) => {
            src.error(at, Some(&field), e);
            None
        }
    }
}

fn required_text(src: &mut TomlDocument<'_>, t: &mut Table<'_, '_>, key: &'static str) -> String {
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

fn rule(src: &mut TomlDocument<'_>, t: &mut Table<'_, '_>, mode: Compile) -> Option<RuleSpec> {
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
                if let Some(ps) = pattern(src, field, p, at, mode) {
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
pub(crate) fn diag_at(
    file: &FileSpec,
    offset: usize,
    field: String,
    message: String,
) -> Diagnostic {
    Diagnostic::at_offset(&file.origin, &file.text, offset, Some(field), message)
}
