//! Reading a rule file: TOML text → a validated [`FileSpec`], with every problem reported at
//! its file:line:column (unknown keys, wrong types, bad regexes, bad durations, bad ids).
//!
//! This is step one of two (ripgrep's "raw flags, then a validated, compiled value"): the spec
//! keeps the byte offset of every pattern and example, so that `set` can report compile-time
//! problems (duplicate ids across files, failing examples) at the right place too.

use std::time::Duration;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{
    Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
};

use super::{lazy, prefilter, AlertCondition, Severity};
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

/// Compile a pattern the way the classifier runs it: on bytes, case-insensitive, bounded.
/// Word boundaries (`\b`, `\B`) are ASCII: a Unicode boundary makes the fast DFA give up on
/// any non-ASCII byte (typographic quotes are common in these records) and fall back to a
/// slower engine that allocates.
///
/// The regex runs on a record's folded copy (`prefilter::fold`: ASCII lower-cased), never on
/// the record itself, so it is compiled case-sensitive for lower-case text: the pattern is
/// parsed case-insensitive and every ASCII upper-case letter its case folding added is taken
/// out again. It matches folded text exactly as the case-insensitive regex would, and
/// compiles many times faster (a case-insensitive literal is a set of case variants that
/// the regex engine builds a literal searcher for; `cannot fetch token` took 600 µs instead
/// of 8).
pub(crate) fn compile_pattern(text: &str) -> Result<Regex, String> {
    build(parse_for_folded(text)?)
}

/// `text` parsed as [`compile_pattern`] parses it (case-insensitive, ASCII word boundaries,
/// `[\s\S]` as any character), before the case folding is taken out again.
pub(crate) fn parse_for_folded(text: &str) -> Result<Hir, String> {
    let pattern = ascii_word_boundaries(&any_char_classes(text));
    regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .utf8(false)
        .build()
        .parse(&pattern)
        .map_err(|e| format!("invalid regex: {e}"))
}

/// The regex text to compile for `hir` (from [`parse_for_folded`]) to run on folded text.
pub(crate) fn folded_text(hir: Hir) -> String {
    for_folded_text(hir).to_string()
}

fn build(hir: Hir) -> Result<Regex, String> {
    RegexBuilder::new(&folded_text(hir))
        .unicode(true)
        .size_limit(lazy::NFA_SIZE_LIMIT)
        .dfa_size_limit(4 << 20)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
}

/// Check `text` as a pattern: it parses, and it compiles within the size limit. With
/// [`Compile::Lazy`] it is compiled only if its size bound from the parse does not prove it
/// fits; the compiled regex is returned when it was compiled.
fn validate(text: &str, mode: Compile) -> Result<Option<Regex>, String> {
    if mode == Compile::Trusted {
        return Ok(None);
    }
    let hir = parse_for_folded(text)?;
    if mode == Compile::Lazy && lazy::nfa_size_bound(&hir) <= lazy::NFA_SIZE_LIMIT {
        return Ok(None);
    }
    build(hir).map(Some)
}

/// `hir` (parsed case-insensitive) for text with no ASCII upper-case letter: each class that
/// case folding widened loses its `A`..=`Z`, and literals are lower-cased. Broad classes that
/// hold every ASCII letter anyway (`.`, `\S`, `[^"]`) are left whole: they match folded text
/// the same either way, and stay the engine's cheap "any character" shapes.
fn for_folded_text(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Literal(lit) => Hir::literal(lit.0.to_ascii_lowercase()),
        HirKind::Class(Class::Unicode(mut c)) => {
            let letters = ClassUnicode::new([
                ClassUnicodeRange::new('A', 'Z'),
                ClassUnicodeRange::new('a', 'z'),
            ]);
            let mut held = c.clone();
            held.intersect(&letters);
            if held != letters {
                c.difference(&ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]));
            }
            Hir::class(Class::Unicode(c))
        }
        HirKind::Class(Class::Bytes(mut c)) => {
            let letters = ClassBytes::new([
                ClassBytesRange::new(b'A', b'Z'),
                ClassBytesRange::new(b'a', b'z'),
            ]);
            let mut held = c.clone();
            held.intersect(&letters);
            if held != letters {
                c.difference(&ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]));
            }
            Hir::class(Class::Bytes(c))
        }
        HirKind::Repetition(mut r) => {
            r.sub = Box::new(for_folded_text(*r.sub));
            Hir::repetition(r)
        }
        HirKind::Capture(mut c) => {
            c.sub = Box::new(for_folded_text(*c.sub));
            Hir::capture(c)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(for_folded_text).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(for_folded_text).collect())
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Look(l) => Hir::look(l),
    }
}

/// `[\s\S]` (and `[\S\s]`) outside a bracket class → `(?s:.)`: the same set (any character),
/// but a case-insensitive build folds the case of every Unicode range in a bracket class,
/// which made such a pattern several times slower to compile. Escapes and the insides of
/// other bracket classes are left alone.
fn any_char_classes(pattern: &str) -> String {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    // Depth of bracket classes we are inside; 0 outside any.
    let mut depth = 0usize;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'[' if depth == 0
                && (b[i..].starts_with(b"[\\s\\S]") || b[i..].starts_with(b"[\\S\\s]")) =>
            {
                out.push_str(&pattern[last..i]);
                out.push_str("(?s:.)");
                i += 6;
                last = i;
            }
            b'[' => {
                depth += 1;
                i += 1;
                // A `]` right after `[` or `[^` is a literal member, not the end.
                if depth == 1 {
                    if b.get(i) == Some(&b'^') {
                        i += 1;
                    }
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    }
                }
            }
            b']' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push_str(&pattern[last.min(pattern.len())..]);
    out
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
    for (i, (p, at)) in root
        .strings(&mut src, "reason_patterns")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let field = format!("reason_patterns[{i}]");
        match validate(&p, mode) {
            Ok(compiled) => spec.reason_patterns.push(CheckSpec {
                text: p,
                field,
                compiled,
            }),
            Err(e) => src.error(at, Some(&field), e),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_char_classes_become_dot_all_and_match_the_same() {
        assert_eq!(any_char_classes(r"a[\s\S]{0,3}?b"), r"a(?s:.){0,3}?b");
        assert_eq!(any_char_classes(r"a[\S\s]b"), r"a(?s:.)b");
        // Escaped brackets, other classes and classes containing `[\s\S]` stay as written.
        for kept in [r"\[\s\S]", r"[^]\s\S]", r"[a[\s\S]]", r"[\s\S\d]", r"’[\s]"] {
            assert_eq!(any_char_classes(kept), kept);
        }
        let re = compile_pattern(r"reason[\s\S]{0,5}error").unwrap();
        let mut folded = Vec::new();
        for (text, hit) in [
            (&b"reason\n\xe2\x80\x9cerror"[..], true),
            (b"REASON \t\r\nERROR", true),
            (b"reason\xffERROR", false),
            (b"reason123456error", false),
        ] {
            prefilter::fold(text, &mut folded);
            assert_eq!(
                re.is_match(&folded),
                hit,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    /// Compiled for folded text, a pattern matches what the case-insensitive regex matches
    /// on the same folded text, including classes, non-ASCII case folding and bytes.
    #[test]
    fn patterns_match_folded_text_as_case_insensitive_regexes_do() {
        let patterns = [
            r"Invalid [A-Z]oken!",
            r"(?:App|application) (?:has been|is) DISABLED",
            r"[^a-z]{2}x",
            r"[\S]+ok",
            r"\w{3}\b",
            r"stra(?-u:\xDF)e",
            r"kelvin",
        ];
        let texts: [&[u8]; 8] = [
            b"INVALID TOKEN!",
            b"invalid \x00oken!",
            b"The Application Is Disabled",
            b"12x AB x",
            b"Look ok",
            b"stra\xdfe STRA\xDFE",
            "\u{212a}elvin".as_bytes(),
            b"\xff\xfeok",
        ];
        let mut folded = Vec::new();
        for p in patterns {
            let ours = compile_pattern(p).unwrap();
            let reference = RegexBuilder::new(&ascii_word_boundaries(p))
                .case_insensitive(true)
                .build()
                .unwrap();
            for t in texts {
                prefilter::fold(t, &mut folded);
                assert_eq!(
                    ours.find(&folded).map(|m| m.range()),
                    reference.find(&folded).map(|m| m.range()),
                    "{p} on {}",
                    String::from_utf8_lossy(t)
                );
            }
        }
    }

    #[test]
    fn word_boundaries_become_ascii() {
        assert_eq!(ascii_word_boundaries(r"\bcode\b"), r"(?-u:\b)code(?-u:\b)");
        assert_eq!(ascii_word_boundaries(r"a\\b\B"), r"a\\b(?-u:\B)");
        assert_eq!(ascii_word_boundaries(r"\d+\."), r"\d+\.");
    }
}
