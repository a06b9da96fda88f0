//! Rule-file patterns as the classifier compiles them: for folded text (ASCII lower-cased),
//! with ASCII word boundaries, within [`NFA_SIZE_LIMIT`]. Shared by the rule-file reader
//! (validation at load) and [`super::lazy`] (compilation on first use).

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
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

/// What the routing pass needs to know of a pattern: literals that must be in a record for
/// the pattern as [`compile_pattern`] compiles it to match there, each cut to `max_len`
/// bytes, in a record that holds none of the [`ascii_fold_variants`].
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
pub(crate) fn match_literals(text: &str, max_len: usize) -> MatchLiterals {
    // The pattern as compiled: `build` prints this and the regex crate parses it back.
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
    // Each tail of the sequence, as far as a literal can reach (a case-insensitive word is a
    // sequence of one-letter classes, so a part alone is one letter).
    let inner = match seq.kind() {
        HirKind::Concat(parts) => (1..parts.len())
            // A tail starting inside a word gives a shorter literal than the word's start.
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

/// The literals one of which starts every match of `hir` (see [`MatchLiterals`]).
fn leading_literals(hir: &Hir, max_len: usize) -> Option<Vec<Vec<u8>>> {
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    seq.keep_first_bytes(max_len);
    let variants: Vec<String> = ascii_fold_variants().iter().map(char::to_string).collect();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for lit in seq.literals()? {
        // A literal cut inside a character keeps only its whole characters: still one that
        // every such match starts with.
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
pub(crate) fn ascii_fold_variants() -> Vec<char> {
    let mut class = ClassUnicode::new([ClassUnicodeRange::new('a', 'z')]);
    class.case_fold_simple();
    class
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .filter(|c| !c.is_ascii())
        .collect()
}

pub(crate) fn build(hir: Hir) -> Result<Regex, String> {
    RegexBuilder::new(&folded_text(hir))
        .unicode(true)
        .size_limit(NFA_SIZE_LIMIT)
        .dfa_size_limit(4 << 20)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::prefilter;

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
    fn the_ascii_fold_variants_are_long_s_and_kelvin() {
        assert_eq!(ascii_fold_variants(), vec!['ſ', '\u{212A}']);
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
