//! Rule-file patterns as the classifier compiles them: for folded text (ASCII lower-cased),
//! with ASCII word boundaries, within [`NFA_SIZE_LIMIT`]. Shared by the rule-file reader
//! (validation at load) and [`super::lazy`] (compilation on first use).

use regex_automata::meta::{self, Regex};
use regex_automata::MatchKind;
use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::literal::{Extractor, Literal, Seq};
use regex_syntax::hir::{
    Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
};

/// The regex size limit every pattern is compiled with (bytes of NFA, as the regex crate's
/// `RegexBuilder::size_limit` counts them).
pub(crate) const NFA_SIZE_LIMIT: usize = 2 << 20;

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
    build_folded(parse_folded(text)?, NFA_SIZE_LIMIT)
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

/// `text` parsed for folded text: what [`for_folded_text`] makes of [`parse_for_folded`],
/// found faster.
///
/// Case-insensitive, a letter is parsed as the class of its case variants (`[Ii]`), each
/// built and case-folded on its own, and narrowed again to the lower-case letter: most of a
/// parse, which the routing pass pays for every pattern. Here the runs of ASCII characters
/// that fold to themselves alone (every one but `s` and `k`, see [`ASCII_FOLD_VARIANTS`]) are
/// lower-cased and parsed case-sensitive, in a `(?-i:…)` group; the rest of the pattern is
/// parsed as before. A pattern that sets flags of its own (`(?i)`, `(?-u:…)`) is parsed the
/// plain way, so that no run is moved out of the flags it is written under.
fn parse_folded(text: &str) -> Result<Hir, String> {
    let pattern = ascii_word_boundaries(&any_char_classes(text));
    let invalid = |e: regex_syntax::Error| format!("invalid regex: {e}");
    // `ParserBuilder::parse` in its two steps, with the runs set apart between them.
    let mut ast = regex_syntax::ast::parse::Parser::new()
        .parse(&pattern)
        .map_err(|e| invalid(e.into()))?;
    let own_flags = text
        .match_indices("(?")
        .any(|(at, _)| text.as_bytes().get(at + 2) != Some(&b':'));
    if !own_flags {
        case_sensitive_runs(&mut ast);
    }
    regex_syntax::hir::translate::TranslatorBuilder::new()
        .case_insensitive(true)
        .utf8(false)
        .build()
        .translate(&pattern, &ast)
        .map(for_folded_text)
        .map_err(|e| invalid(e.into()))
}

/// Lower-cases each run of ASCII literals in `ast` that fold to themselves alone, and puts
/// it in a `(?-i:…)` group (see [`parse_folded`]).
fn case_sensitive_runs(ast: &mut Ast) {
    match ast {
        Ast::Concat(concat) => {
            let mut out = Vec::with_capacity(concat.asts.len());
            let mut run: Vec<Ast> = Vec::new();
            for mut part in std::mem::take(&mut concat.asts) {
                match &part {
                    Ast::Literal(lit)
                        if lit.c.is_ascii() && !matches!(lit.c, 's' | 'S' | 'k' | 'K') =>
                    {
                        run.push(Ast::literal(ast::Literal {
                            span: lit.span,
                            kind: ast::LiteralKind::Verbatim,
                            c: lit.c.to_ascii_lowercase(),
                        }));
                    }
                    _ => {
                        case_sensitive_group(&mut run, &mut out);
                        case_sensitive_runs(&mut part);
                        out.push(part);
                    }
                }
            }
            case_sensitive_group(&mut run, &mut out);
            concat.asts = out;
        }
        Ast::Group(group) => case_sensitive_runs(&mut group.ast),
        Ast::Repetition(rep) => case_sensitive_runs(&mut rep.ast),
        // Not inside an alternation: `Hir::alternation` takes a prefix its branches share out
        // of them (`error(?:me…|_me…)`), which a run in a group hides, so the parse would
        // differ (the same language, another shape).
        _ => {}
    }
}

/// Moves the literals of `run` (if any) into `out` as one `(?-i:…)` group.
fn case_sensitive_group(run: &mut Vec<Ast>, out: &mut Vec<Ast>) {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return;
    };
    let span = ast::Span::new(first.span().start, last.span().end);
    let item = |kind| ast::FlagsItem { span, kind };
    out.push(Ast::group(ast::Group {
        span,
        kind: ast::GroupKind::NonCapturing(ast::Flags {
            span,
            items: vec![
                item(ast::FlagsItemKind::Negation),
                item(ast::FlagsItemKind::Flag(ast::Flag::CaseInsensitive)),
            ],
        }),
        ast: Box::new(Ast::concat(ast::Concat {
            span,
            asts: std::mem::take(run),
        })),
    }));
}

/// What the routing pass needs to know of a pattern: literals that must be in a record for
/// the pattern as [`compile_pattern`] compiles it to match there, each cut to `max_len`
/// bytes, in a record that holds none of the [`ASCII_FOLD_VARIANTS`].
///
/// Unlike `prefilter::required_literals` (the rule file's literals, read as written), this is
/// what the compiled regex needs: a record holding none of `leading` (or none of `inner`),
/// and none of the variants, cannot match, so the search can be skipped. The compiled pattern
/// matches `ſ` where it says `s` and the Kelvin sign where it says `k`; the literals spelled
/// with those are left out (a pattern can have dozens of them), so a record holding one must
/// be searched.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct MatchLiterals {
    /// One of these starts every match. `None` when no such list is known: the pattern can
    /// start with any of too many strings, or with an empty one.
    pub(crate) leading: Option<Vec<Vec<u8>>>,
    /// One of these is inside every match: the leading literals of one part of the pattern's
    /// top-level sequence, the most selective part, when its shortest literal is longer than
    /// `leading`'s by [`INNER_GAIN`] bytes or more (`\bcode\W{0,3}\d+[\s\S]{0,80}message` →
    /// `message`).
    pub(crate) inner: Option<Vec<Vec<u8>>>,
}

/// How much longer an inner literal must be than a pattern's leading literals to be worth a
/// check of its own: a longer word is rarer in logs (and each literal is one more to compare
/// at every position of a record).
const INNER_GAIN: usize = 3;

/// The [`MatchLiterals`] of `text`.
///
/// The routing pass needs these for every pattern of a file before its first candidate
/// record, so they are found from one parse and one extraction per part of the sequence:
/// each tail's literals are the cross product of its parts' (as `Extractor` builds a
/// sequence's), where extracting each tail anew cloned and searched the same parts up to
/// sixteen times.
pub(crate) fn match_literals(text: &str, max_len: usize) -> MatchLiterals {
    // The pattern as compiled: `compile_pattern` compiles this.
    let Ok(hir) = parse_folded(text) else {
        return MatchLiterals::default();
    };
    let extractor = Extractor::new();
    let mut seq = &hir;
    while let HirKind::Capture(c) = seq.kind() {
        seq = &c.sub;
    }
    let HirKind::Concat(parts) = seq.kind() else {
        return MatchLiterals {
            leading: leading_literals(extractor.extract(&hir), max_len),
            inner: None,
        };
    };
    let each: Vec<Seq> = parts.iter().map(|p| extractor.extract(p)).collect();
    let leading = leading_literals(concat_prefixes(&each), max_len);
    let shortest = |lits: &Vec<Vec<u8>>| lits.iter().map(Vec::len).min().unwrap_or(0);
    let floor = leading.as_ref().map_or(0, shortest) + INNER_GAIN;
    // Each tail of the sequence, as far as a literal can reach (a case-insensitive word is a
    // sequence of one-letter classes, so a part alone is one letter).
    let inner = (1..parts.len())
        // A tail starting inside a word gives a shorter literal than the word's start.
        .filter(|&i| !(one_char(&parts[i - 1]) && one_char(&parts[i])))
        .filter_map(|i| {
            let tail = &each[i..parts.len().min(i + max_len)];
            // One part alone is that part (a sequence of one is not a concatenation).
            let seq = match tail {
                [one] => one.clone(),
                _ => concat_prefixes(tail),
            };
            leading_literals(seq, max_len)
        })
        .filter(|lits| shortest(lits) >= floor)
        .max_by_key(|lits| (shortest(lits), std::cmp::Reverse(lits.len())));
    MatchLiterals { leading, inner }
}

/// `Extractor`'s default limits, which [`concat_prefixes`] applies as it does: at most this
/// many literals in a cross product (more make the part's literals unknown), each cut to
/// this many bytes.
const EXTRACT_LIMIT_TOTAL: usize = 250;
const EXTRACT_LIMIT_LITERAL_LEN: usize = 100;

/// The prefix literals of a sequence whose parts' prefix literals are `parts`: what
/// `Extractor::extract` gives for the concatenation, step for step (the cross product of
/// each part's literals in turn, until no literal can grow).
fn concat_prefixes(parts: &[Seq]) -> Seq {
    let mut seq = Seq::singleton(Literal::exact(vec![]));
    for part in parts {
        if seq.is_inexact() {
            break;
        }
        let mut next = part.clone();
        if seq
            .max_cross_len(&next)
            .is_some_and(|len| len > EXTRACT_LIMIT_TOTAL)
        {
            next.make_infinite();
        }
        seq.cross_forward(&mut next);
        seq.keep_first_bytes(EXTRACT_LIMIT_LITERAL_LEN);
    }
    seq
}

/// A literal, or a class of one or two characters (a letter and its case variant): part of a
/// word.
fn one_char(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(_) => true,
        HirKind::Class(Class::Unicode(c)) => {
            c.ranges().len() <= 2 && c.ranges().iter().all(|r| r.start() == r.end())
        }
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().len() <= 2 && c.ranges().iter().all(|r| r.start() == r.end())
        }
        _ => false,
    }
}

/// The literals one of which starts every match, from the prefix literals `seq` of a pattern
/// (see [`MatchLiterals`]).
fn leading_literals(mut seq: Seq, max_len: usize) -> Option<Vec<Vec<u8>>> {
    seq.keep_first_bytes(max_len);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for lit in seq.literals()? {
        // A literal cut inside a character keeps only its whole characters: still one that
        // every such match starts with.
        let lit = whole_chars(lit.as_bytes());
        if lit.is_empty() {
            return None;
        }
        let mut buf = [0; 4];
        if ASCII_FOLD_VARIANTS.iter().any(|v| {
            let v = v.encode_utf8(&mut buf).as_bytes();
            lit.windows(v.len()).any(|w| w == v)
        }) {
            continue;
        }
        if !out.iter().any(|o| o == lit) {
            out.push(lit.to_vec());
        }
    }
    // A pattern that can only start with a variant: nothing to route it by.
    (!out.is_empty()).then_some(out)
}

/// `lit` without a trailing UTF-8 sequence cut short (a lead byte followed by fewer
/// continuation bytes than it announces).
fn whole_chars(lit: &[u8]) -> &[u8] {
    for back in 1..=lit.len().min(3) {
        let b = lit[lit.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for its lead
        }
        let needs = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return lit,
        };
        return if needs > back {
            &lit[..lit.len() - back]
        } else {
            lit
        };
    }
    lit
}

/// The non-ASCII characters that Unicode simple case folding (what a case-insensitive pattern
/// matches) makes equal to an ASCII letter: `ſ` (s) and the Kelvin sign (k).
pub(crate) const ASCII_FOLD_VARIANTS: [char; 2] = ['ſ', '\u{212A}'];

/// Compile `hir` (from [`parse_for_folded`]) to run on folded text, within
/// [`NFA_SIZE_LIMIT`].
pub(crate) fn build(hir: Hir) -> Result<Regex, String> {
    build_within(hir, NFA_SIZE_LIMIT)
}

/// [`build`] with an NFA size limit of `size_limit` bytes.
///
/// The regex is built from the parse itself, as the regex crate builds a `bytes::Regex`
/// (leftmost-first, empty matches anywhere, the same size and cache limits): printing the
/// folded pattern and handing the text to `RegexBuilder`, which parsed it again, was a
/// sixth of each compile (the printed classes spell out every range).
///
/// One difference: no fully compiled DFA. The engine builds one up front for a small pattern
/// (`code is expired`, whose `s` folds to `[sſ]`, is too small to skip), which was a tenth of
/// compiling the patterns a scan meets; the lazy DFA it uses for larger patterns finds the
/// same matches, building only the states the records visit (measured: 2.4 M instructions
/// fewer to compile, and 0.1 M more to search, the states built once: the same for a scan of
/// 200,000 lines and of 1M).
pub(crate) fn build_within(hir: Hir, size_limit: usize) -> Result<Regex, String> {
    build_folded(for_folded_text(hir), size_limit)
}

/// [`build_within`] for a parse already made for folded text.
fn build_folded(folded: Hir, size_limit: usize) -> Result<Regex, String> {
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(false)
        .nfa_size_limit(Some(size_limit))
        .hybrid_cache_capacity(4 << 20)
        .dfa(false);
    meta::Builder::new()
        .configure(config)
        .build_from_hir(&folded)
        .map_err(|e| match e.size_limit() {
            // The regex crate's words, which a rule file's diagnostics have always shown.
            Some(limit) => {
                format!("invalid regex: Compiled regex exceeds size limit of {limit} bytes.")
            }
            None => format!("invalid regex: {e}"),
        })
}

/// `hir` (parsed case-insensitive) for text with no ASCII upper-case letter: each class that
/// case folding widened loses its `A`..=`Z`, and literals are lower-cased. Broad classes that
/// hold every ASCII letter anyway (`.`, `\S`, `[^"]`) are left whole: they match folded text
/// the same either way, and stay the engine's cheap "any character" shapes.
fn for_folded_text(hir: Hir) -> Hir {
    for_folded_kind(hir.into_kind())
}

fn for_folded_kind(kind: HirKind) -> Hir {
    match kind {
        HirKind::Literal(lit) => Hir::literal(lit.0.to_ascii_lowercase()),
        HirKind::Class(c) => Hir::class(for_folded_class(c)),
        HirKind::Repetition(mut r) => {
            r.sub = Box::new(for_folded_text(*r.sub));
            Hir::repetition(r)
        }
        HirKind::Capture(mut c) => {
            c.sub = Box::new(for_folded_text(*c.sub));
            Hir::capture(c)
        }
        HirKind::Concat(subs) => {
            // A case-insensitive word is a run of one-letter classes (`[Ii][Nn]…`), each a
            // literal once folded: the run is gathered here into one literal, as
            // `Hir::concat` would join them, without building each letter on its own.
            let mut out = Vec::with_capacity(subs.len());
            let mut run: Vec<u8> = Vec::new();
            for sub in subs {
                let sub = match sub.into_kind() {
                    HirKind::Literal(lit) => {
                        run.extend(lit.0.iter().map(u8::to_ascii_lowercase));
                        continue;
                    }
                    HirKind::Class(c) => {
                        let c = for_folded_class(c);
                        if let Some(bytes) = c.literal() {
                            run.extend_from_slice(&bytes);
                            continue;
                        }
                        Hir::class(c)
                    }
                    kind => for_folded_kind(kind),
                };
                if let HirKind::Literal(lit) = sub.kind() {
                    run.extend_from_slice(&lit.0);
                    continue;
                }
                if !run.is_empty() {
                    out.push(Hir::literal(std::mem::take(&mut run)));
                }
                out.push(sub);
            }
            if !run.is_empty() {
                out.push(Hir::literal(run));
            }
            Hir::concat(out)
        }
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(for_folded_text).collect())
        }
        HirKind::Empty => Hir::empty(),
        HirKind::Look(l) => Hir::look(l),
    }
}

/// A class for folded text: without `A`..=`Z`, unless it holds every ASCII letter (see
/// [`for_folded_text`]). Ranges are sorted and never adjacent, so a class holds all of
/// `A`..=`Z` only inside one range.
fn for_folded_class(class: Class) -> Class {
    match class {
        Class::Unicode(mut c) => {
            let holds = |lo, hi| c.iter().any(|r| r.start() <= lo && r.end() >= hi);
            let upper = c.iter().any(|r| r.start() <= 'Z' && r.end() >= 'A');
            if upper && !(holds('A', 'Z') && holds('a', 'z')) {
                c.difference(&ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]));
            }
            Class::Unicode(c)
        }
        Class::Bytes(mut c) => {
            let holds = |lo, hi| c.iter().any(|r| r.start() <= lo && r.end() >= hi);
            let upper = c.iter().any(|r| r.start() <= b'Z' && r.end() >= b'A');
            if upper && !(holds(b'A', b'Z') && holds(b'a', b'z')) {
                c.difference(&ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]));
            }
            Class::Bytes(c)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::prefilter;
    use regex::bytes::RegexBuilder;

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

    /// The variants are what case folding adds to `a`..=`z` beyond ASCII.
    #[test]
    fn the_ascii_fold_variants_are_long_s_and_kelvin() {
        let mut class = ClassUnicode::new([ClassUnicodeRange::new('a', 'z')]);
        class.case_fold_simple();
        let added: Vec<char> = class
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .filter(|c| !c.is_ascii())
            .collect();
        assert_eq!(added, ASCII_FOLD_VARIANTS);
    }

    /// How the folded parse and the literals were found before: each class narrowed on its
    /// own and joined by `Hir::concat`, each tail of the sequence cloned and extracted anew.
    /// The faster ways must give the same, part for part.
    mod reference {
        use super::super::*;
        use regex_syntax::hir::literal::ExtractKind;

        pub(super) fn for_folded_text(hir: Hir) -> Hir {
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
                HirKind::Concat(subs) => {
                    Hir::concat(subs.into_iter().map(for_folded_text).collect())
                }
                HirKind::Alternation(subs) => {
                    Hir::alternation(subs.into_iter().map(for_folded_text).collect())
                }
                HirKind::Empty => Hir::empty(),
                HirKind::Look(l) => Hir::look(l),
            }
        }

        pub(super) fn match_literals(text: &str, max_len: usize) -> MatchLiterals {
            let Ok(hir) = parse_for_folded(text).map(for_folded_text) else {
                return MatchLiterals::default();
            };
            let leading = leading_literals(&hir, max_len);
            let shortest = |lits: &Vec<Vec<u8>>| lits.iter().map(Vec::len).min().unwrap_or(0);
            let floor = leading.as_ref().map_or(0, shortest) + INNER_GAIN;
            let mut seq = &hir;
            while let HirKind::Capture(c) = seq.kind() {
                seq = &c.sub;
            }
            let inner = match seq.kind() {
                HirKind::Concat(parts) => (1..parts.len())
                    .filter(|&i| !(one_char(&parts[i - 1]) && one_char(&parts[i])))
                    .filter_map(|i| {
                        let tail = &parts[i..parts.len().min(i + max_len)];
                        leading_literals(&Hir::concat(tail.to_vec()), max_len)
                    })
                    .filter(|lits| shortest(lits) >= floor)
                    .max_by_key(|lits| (shortest(lits), std::cmp::Reverse(lits.len()))),
                _ => None,
            };
            MatchLiterals { leading, inner }
        }

        fn leading_literals(hir: &Hir, max_len: usize) -> Option<Vec<Vec<u8>>> {
            let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
            seq.keep_first_bytes(max_len);
            let variants: Vec<String> = ASCII_FOLD_VARIANTS.iter().map(char::to_string).collect();
            let mut out: Vec<Vec<u8>> = Vec::new();
            for lit in seq.literals()? {
                let lit = whole_chars(lit.as_bytes());
                if lit.is_empty() {
                    return None;
                }
                if variants
                    .iter()
                    .any(|v| memchr::memmem::find(lit, v.as_bytes()).is_some())
                {
                    continue;
                }
                if !out.iter().any(|o| o == lit) {
                    out.push(lit.to_vec());
                }
            }
            (!out.is_empty()).then_some(out)
        }
    }

    /// The folded parse and the routing literals are the same as the straightforward ways
    /// give, for every pattern of the embedded file, at the lengths the routing pass and the
    /// tests use.
    #[test]
    fn folding_and_literals_agree_with_the_reference_on_the_embedded_patterns() {
        let embedded = crate::classifier::set::EMBEDDED_ZOOM_RULES;
        let doc: toml::Table = embedded.parse().unwrap();
        let (mut patterns, mut examples) = (Vec::new(), Vec::new());
        collect(&toml::Value::Table(doc), "", &mut patterns, &mut examples);
        assert!(patterns.len() > 60);
        for p in &patterns {
            assert_agrees(p);
        }
    }

    /// The regex is built from the folded parse itself; it was built from the parse's text
    /// before, which the regex crate parsed again. For every embedded pattern the two are the
    /// same expression, so the compiled regexes are the same.
    #[test]
    fn the_folded_parse_is_what_its_text_parses_to() {
        let embedded = crate::classifier::set::EMBEDDED_ZOOM_RULES;
        let doc: toml::Table = embedded.parse().unwrap();
        let (mut patterns, mut examples) = (Vec::new(), Vec::new());
        collect(&toml::Value::Table(doc), "", &mut patterns, &mut examples);
        for p in &patterns {
            let hir = for_folded_text(parse_for_folded(p).unwrap());
            // As `RegexBuilder::new(text).unicode(true)` parses it for a `bytes::Regex`.
            let reparsed = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(&hir.to_string())
                .unwrap();
            assert!(reparsed == hir, "`{p}`");
        }
    }

    fn assert_agrees(p: &str) {
        let hir = parse_for_folded(p).unwrap();
        assert!(
            parse_folded(p).unwrap() == reference::for_folded_text(hir.clone()),
            "parse of `{p}` for folded text"
        );
        assert!(
            for_folded_text(hir.clone()) == reference::for_folded_text(hir),
            "folded parse of `{p}`"
        );
        for max_len in [7, 16, 32] {
            assert_eq!(
                match_literals(p, max_len),
                reference::match_literals(p, max_len),
                "literals of `{p}` cut at {max_len}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// The same for patterns built at random from the shapes rule files use.
        #[test]
        fn folding_and_literals_agree_with_the_reference_on_random_shapes(
            p in crate::classifier::lazy::tests::shape()
        ) {
            assert_agrees(&p);
        }

        /// And for words in both cases, with `s`, `k` and the letters that fold to them,
        /// non-ASCII letters, punctuation and escapes, around those shapes and under flags.
        #[test]
        fn folding_and_literals_agree_with_the_reference_on_words(
            before in r"[a-zA-Z0-9 sSkKſ\x{212A}éÉ_.,:'’-]{0,12}",
            shape in crate::classifier::lazy::tests::shape(),
            after in r"(?:[a-zA-Z ſéÉ]|\\[.(]|\\x4[1-9]){0,8}",
            flags in proptest::sample::select(vec!["", "(?i)", "(?-i:", "(?u)"]),
        ) {
            let close = if flags.ends_with(':') { ")" } else { "" };
            assert_agrees(&format!("{flags}{before}{shape}{after}{close}"));
        }
    }

    #[test]
    fn a_literal_cut_inside_a_character_keeps_its_whole_characters() {
        assert_eq!(whole_chars("ab’".as_bytes()), "ab’".as_bytes());
        assert_eq!(whole_chars(&"ab’".as_bytes()[..4]), b"ab");
        assert_eq!(whole_chars(&"ab’".as_bytes()[..3]), b"ab");
        assert_eq!(whole_chars(b"ab\xdf"), b"ab"); // a lone lead byte
        assert_eq!(whole_chars(b"\xff"), b"\xff");
        assert_eq!(whole_chars(b""), b"");
    }

    /// Each pattern's routing literals: the ASCII spelling only (its `ſ` and Kelvin-sign
    /// spellings left to the caller), cut at a character, and `None` where a match can start
    /// with too many strings.
    #[test]
    fn match_prefixes_are_what_the_compiled_pattern_starts_with() {
        let lits = |p: &str| {
            match_literals(p, 32).leading.map(|l| {
                l.into_iter()
                    .map(|l| String::from_utf8(l).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(lits("Token has"), Some(vec!["token has".to_string()]));
        assert_eq!(
            lits(r"\bcode['’]?x"),
            Some(vec!["code'x".into(), "code’x".into(), "codex".into()])
        );
        assert_eq!(
            lits(r"(?:invalid|bad) JWT"),
            Some(vec!["invalid jwt".into(), "bad jwt".into()])
        );
        assert_eq!(lits(r"\w+ token"), None);
        assert_eq!(lits(r"x?y"), Some(vec!["xy".into(), "y".into()]));
        assert_eq!(lits(r"\s*y"), None);
        assert_eq!(
            lits("ſ"),
            Some(vec!["s".into()]),
            "a variant matches its ASCII letter"
        );
        assert_eq!(
            match_literals("owner’s token", 7).leading,
            Some(vec![b"owner".to_vec()]),
            "cut inside ’"
        );
    }

    #[test]
    fn inner_literals_are_a_more_selective_part_of_the_sequence() {
        let inner = |p: &str| {
            match_literals(p, 16).inner.map(|l| {
                l.into_iter()
                    .map(|l| String::from_utf8(l).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            inner(r"oauth/token[^\n]{0,160}?\b(?:500 internal server error|internal server error)"),
            Some(vec!["500 internal ser".into(), "internal server ".into()])
        );
        assert_eq!(
            inner(r"(\bcode\W{0,3}\d+[\s\S]{0,80}?\bmessage\b)"),
            Some(vec!["message".into()]),
            "inside a group"
        );
        assert_eq!(
            inner(r"reason\s*:\s*\bmessage"),
            None,
            "not 3 bytes longer than `reason`"
        );
        assert_eq!(inner(r"reason\s*[:=]\s*''"), None, "no literal part");
        assert_eq!(inner("plain words"), None, "not a sequence");
    }

    /// Soundness: whenever a compiled pattern matches folded text holding no ASCII-fold
    /// variant, the text holds one of the pattern's routing literals.
    #[test]
    fn a_match_holds_one_of_the_routing_literals() {
        let embedded = crate::classifier::set::EMBEDDED_ZOOM_RULES;
        let doc: toml::Table = embedded.parse().unwrap();
        let mut patterns = Vec::new();
        let mut examples = Vec::new();
        collect(&toml::Value::Table(doc), "", &mut patterns, &mut examples);
        assert!(patterns.len() > 60 && examples.len() > 100);
        let mut folded = Vec::new();
        let mut matched = 0;
        for p in &patterns {
            let re = compile_pattern(p).unwrap();
            let m = match_literals(p, 16);
            for lits in [m.leading, m.inner].into_iter().flatten() {
                for ex in &examples {
                    prefilter::fold(ex.as_bytes(), &mut folded);
                    if re.is_match(&folded) {
                        matched += 1;
                        assert!(
                            lits.iter()
                                .any(|l| memchr::memmem::find(&folded, l).is_some()),
                            "`{p}` matches `{ex}` holding none of {lits:?}"
                        );
                    }
                }
            }
        }
        assert!(matched > 100, "{matched}");
    }

    fn collect(v: &toml::Value, key: &str, patterns: &mut Vec<String>, examples: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => t
                .iter()
                .for_each(|(k, v)| collect(v, k, patterns, examples)),
            toml::Value::Array(a) => a.iter().for_each(|v| collect(v, key, patterns, examples)),
            toml::Value::String(s) if key.contains("patterns") || key == "unless" => {
                patterns.push(s.clone())
            }
            toml::Value::String(s) if key == "match" || key == "no_match" => {
                examples.push(s.clone())
            }
            _ => {}
        }
    }

    #[test]
    fn word_boundaries_become_ascii() {
        assert_eq!(ascii_word_boundaries(r"\bcode\b"), r"(?-u:\b)code(?-u:\b)");
        assert_eq!(ascii_word_boundaries(r"a\\b\B"), r"a\\b(?-u:\B)");
        assert_eq!(ascii_word_boundaries(r"\d+\."), r"\d+\.");
    }
}
