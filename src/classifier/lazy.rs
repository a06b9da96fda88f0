//! Regexes and Aho-Corasick automata built on first use.
//!
//! Compiling a rule file's ~70 patterns took ~80% of start-up (a bounded repeat of a Unicode
//! class, `[^\n]{0,200}`, is a large NFA to build) and their compiled programs held megabytes
//! for the daemon's life, though ~99% of records never reach a regex and most rules never
//! match on a given host. So a rule file is validated at load without compiling (each pattern
//! is parsed, so a syntax error is still reported at its file, line and field, and its NFA size
//! is bounded from the parse, see [`nfa_size_bound`]), and a [`LazyRegex`] compiles its pattern
//! the first time a record needs it. `OnceLock` makes that safe when several threads classify
//! with one shared rule set: one compiles, the others wait for it.

use std::sync::OnceLock;

use regex_automata::meta::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;

use super::pattern::compile_pattern;

/// A rule-file pattern, compiled the first time it is searched with.
pub(crate) struct LazyRegex {
    /// The pattern as written in the rule file.
    text: Box<str>,
    /// Where it was written (`rules/acme.toml: rules[2].patterns[0]`), for the one error
    /// logged should it fail to compile.
    place: Box<str>,
    /// The compiled regex once needed; `None` inside when it failed to compile.
    compiled: OnceLock<Option<Regex>>,
}

impl std::fmt::Debug for LazyRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRegex")
            .field("text", &self.text)
            .field("compiled", &self.is_compiled())
            .finish()
    }
}

impl LazyRegex {
    /// A pattern validated at load (see [`super::rulefile`]), `compiled` already if it was
    /// compiled there.
    pub(crate) fn new(text: &str, place: String, compiled: Option<Regex>) -> LazyRegex {
        let cell = OnceLock::new();
        if let Some(re) = compiled {
            let _ = cell.set(Some(re));
        }
        LazyRegex {
            text: text.into(),
            place: place.into_boxed_str(),
            compiled: cell,
        }
    }

    /// The pattern as written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The compiled regex, compiling it now if this is its first use. A pattern validated at
    /// load compiles (its size was bounded then); should it fail all the same, one error is
    /// logged and the pattern matches nothing, rather than the daemon stopping.
    fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| match compile_pattern(&self.text) {
                Ok(re) => Some(re),
                Err(e) => {
                    tracing::error!(
                        pattern = %self.text,
                        place = %self.place,
                        "rule pattern cannot be compiled ({e}); it matches nothing"
                    );
                    None
                }
            })
            .as_ref()
    }

    /// Whether the pattern matches somewhere in `haystack`.
    pub(crate) fn is_match(&self, haystack: &[u8]) -> bool {
        self.regex().is_some_and(|re| re.is_match(haystack))
    }

    /// The leftmost match at or after `start` (look-around sees the bytes before it).
    pub(crate) fn find_at<'h>(&self, haystack: &'h [u8], start: usize) -> Option<Match<'h>> {
        let input = regex_automata::Input::new(haystack).span(start..haystack.len());
        self.regex()
            .and_then(|re| re.find(input))
            .map(|m| Match::new(haystack, m.range()))
    }

    /// The leftmost match.
    pub(crate) fn find<'h>(&self, haystack: &'h [u8]) -> Option<Match<'h>> {
        self.find_at(haystack, 0)
    }

    /// Every non-overlapping match, left to right.
    pub(crate) fn find_iter<'r, 'h>(
        &'r self,
        haystack: &'h [u8],
    ) -> impl Iterator<Item = Match<'h>> + 'r
    where
        'h: 'r,
    {
        self.regex()
            .into_iter()
            .flat_map(move |re| re.find_iter(haystack))
            .map(move |m| Match::new(haystack, m.range()))
    }

    /// Whether the pattern has been compiled (or tried to be).
    pub(crate) fn is_compiled(&self) -> bool {
        self.compiled.get().is_some()
    }

    /// Forget the compiled regex, so that its memory is freed and the next use compiles it
    /// again (after the load-time examples check: what that compiled only for the check is
    /// not kept for the daemon's life).
    pub(crate) fn reset(&mut self) {
        self.compiled.take();
    }
}

/// A match of a [`LazyRegex`]: where it is in the haystack, and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match<'h> {
    haystack: &'h [u8],
    start: usize,
    end: usize,
}

impl<'h> Match<'h> {
    fn new(haystack: &'h [u8], range: std::ops::Range<usize>) -> Match<'h> {
        Match {
            haystack,
            start: range.start,
            end: range.end,
        }
    }

    /// Offset of the first byte.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Offset just past the last byte.
    pub(crate) fn end(&self) -> usize {
        self.end
    }

    /// The matched bytes.
    pub(crate) fn as_bytes(&self) -> &'h [u8] {
        &self.haystack[self.start..self.end]
    }
}

/// An upper bound on the bytes the regex crate's NFA builder uses for `hir` (the figure its
/// size limit is checked against), computed from the parse alone: a few bytes per state and
/// transition the Thompson construction can add for each part of the pattern, in either
/// direction (the regex crate builds a forward and a reverse NFA). A pattern under
/// [`super::pattern::NFA_SIZE_LIMIT`] by this bound is sure to compile, so it need not be compiled at load to
/// find out; one over it is compiled at load, and rejected there if it is too big.
pub(crate) fn nfa_size_bound(hir: &Hir) -> usize {
    // A builder state is 32 bytes; a sparse transition 8; a union alternate 4.
    const STATE: usize = 32;
    fn bound(hir: &Hir) -> usize {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => STATE,
            HirKind::Literal(lit) => STATE * lit.0.len(),
            HirKind::Class(Class::Bytes(c)) => 2 * STATE + 8 * c.ranges().len(),
            HirKind::Class(Class::Unicode(c)) => {
                let mut bytes = 2 * STATE;
                for r in c.iter() {
                    for seq in Utf8Sequences::new(r.start(), r.end()) {
                        // Per byte of the sequence: a state and a transition; per sequence:
                        // an alternate of the reverse NFA's union.
                        bytes += (STATE + 16) * seq.as_slice().len() + 8;
                    }
                }
                bytes
            }
            HirKind::Repetition(r) => {
                let copies = r.max.unwrap_or(r.min.saturating_add(1)).max(1) as usize;
                copies.saturating_mul(bound(&r.sub).saturating_add(2 * STATE)) + 3 * STATE
            }
            HirKind::Capture(c) => 2 * STATE + bound(&c.sub),
            HirKind::Concat(subs) => subs
                .iter()
                .fold(STATE, |sum, s| sum.saturating_add(bound(s))),
            HirKind::Alternation(subs) => subs
                .iter()
                .fold(2 * STATE, |sum, s| sum.saturating_add(bound(s) + STATE + 8)),
        }
    }
    // The unanchored prefix `(?s-u:.)*?`, the whole-match capture and the match state.
    bound(hir).saturating_add(16 * STATE)
}

/// A matcher's literals (literal evidence, exclusions: a few literals each; lower-cased, to
/// search folded text) and the automaton over them, as [`super::prefilter::automaton`] builds
/// it, built the first time it is needed: neither start-up nor a daemon that never needs it
/// pays for its build or its memory. Candidate records learn whether its literals are there
/// from the routing pass (`super::routing`); the automaton finds where, for explanations, and
/// stands in for the pass in a file with more literal lists than it tracks.
pub(crate) struct LazyAutomaton {
    literals: Vec<Vec<u8>>,
    built: OnceLock<aho_corasick::AhoCorasick>,
}

impl std::fmt::Debug for LazyAutomaton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyAutomaton")
            .field("literals", &self.literals.len())
            .field("built", &self.built.get().is_some())
            .finish()
    }
}

impl LazyAutomaton {
    /// The automaton over `literals`, lower-cased here; pattern ids follow the order given.
    pub(crate) fn new(literals: Vec<Vec<u8>>) -> LazyAutomaton {
        LazyAutomaton {
            literals: literals.iter().map(|l| l.to_ascii_lowercase()).collect(),
            built: OnceLock::new(),
        }
    }

    /// The literals, lower-cased, in the order given.
    pub(crate) fn literals(&self) -> &[Vec<u8>] {
        &self.literals
    }

    /// The automaton, built on first use.
    pub(crate) fn get(&self) -> &aho_corasick::AhoCorasick {
        self.built
            .get_or_init(|| super::prefilter::automaton(&self.literals))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::classifier::pattern::{build_within, parse_for_folded, NFA_SIZE_LIMIT};

    /// The bound is an upper bound: compiled with the bound as its size limit, each pattern
    /// builds (both NFAs fit), for shapes the rule files use and for large ones.
    #[test]
    fn size_bound_is_never_below_what_the_regex_builder_needs() {
        let mut patterns: Vec<String> = [
            r"invalid[^\n]{0,200}token",
            r#"reason[\s\S]{0,300}?"(?:invalid|bad)"#,
            r"\bcode\W{0,5}\d{4}\b",
            r"(?:app|application) (?:has been|is) disabled",
            r"\w{3}\b",
            r"[^a-z]{2}x",
            r"stra(?-u:\xDF)e",
            r"kelvin",
            r"\w+\s*\p{Greek}{2,40}",
            r"(?:a|b|[^x]){10,}",
            r"’[^’]{1,64}’",
            r"x{0}",
            r"",
            r"(?:alpha|beta|gamma|delta|epsilon|zeta|eta|theta){1,40}",
            r"(?:invalid_(?:request|client|grant|scope)|unauthorized_client)+",
            r"\w{0,60}\s+\W{2,9}",
            r"[^\n]{0,500}?x",
            r"(?:a(?:b(?:c|d)?)*){3,7}",
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let embedded = crate::classifier::set::EMBEDDED_ZOOM_RULES;
        let doc: toml::Table = embedded.parse().unwrap();
        collect_strings(&doc, &mut patterns);
        let mut checked = 0;
        for p in &patterns {
            let Ok(hir) = parse_for_folded(p) else {
                continue;
            };
            let bound = nfa_size_bound(&hir);
            let built = build_within(hir, bound);
            assert!(
                built.is_ok(),
                "bound {bound} too small for `{p}`: {built:?}"
            );
            checked += 1;
        }
        assert!(
            checked > 60,
            "the embedded file's patterns were checked ({checked})"
        );
    }

    /// Patterns built at random from the shapes rule files use (words, Unicode and byte
    /// classes, alternations, bounded and unbounded repeats, nested): the bound is never below
    /// what the builder needs.
    pub(crate) fn shape() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            "[a-z]{1,8}",
            Just(r"\w".to_string()),
            Just(r"\s".to_string()),
            Just(r"\d".to_string()),
            Just(r"[^\n]".to_string()),
            Just(r"[\s\S]".to_string()),
            Just(r"[^'\x22‘’“”\n\\]".to_string()),
            Just(r"\p{Greek}".to_string()),
            Just(r"(?-u:\xDF)".to_string()),
            Just(r"\b".to_string()),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
                proptest::collection::vec(inner.clone(), 2..4)
                    .prop_map(|v| format!("(?:{})", v.join("|"))),
                (inner.clone(), 0u32..4, 0u32..40, any::<bool>()).prop_map(
                    |(p, min, extra, lazy)| {
                        format!(
                            "(?:{p}){{{min},{}}}{}",
                            min + extra,
                            if lazy { "?" } else { "" }
                        )
                    }
                ),
                (inner, 0u32..3)
                    .prop_map(|(p, k)| format!("(?:{p}){}", ["*", "+", "?"][k as usize])),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]
        #[test]
        fn size_bound_holds_for_random_shapes(p in shape()) {
            let hir = parse_for_folded(&p).unwrap();
            let bound = nfa_size_bound(&hir);
            // Bounds far over the limit are compiled at load anyway; keep the test fast.
            if bound <= 4 * NFA_SIZE_LIMIT {
                let built = build_within(hir, bound);
                proptest::prop_assert!(built.is_ok(), "bound {} too small for `{}`: {:?}", bound, p, built.err());
            }
        }
    }

    /// Every string of a pattern-bearing key in the parsed rule file.
    fn collect_strings(v: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in v {
            match v {
                toml::Value::Table(t) => collect_strings(t, out),
                toml::Value::Array(a) => {
                    for x in a {
                        match x {
                            toml::Value::Table(t) => collect_strings(t, out),
                            toml::Value::String(s) if k.contains("patterns") || k == "unless" => {
                                out.push(s.clone())
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// A pattern too big for the size limit is caught by the bound, so it is compiled (and
    /// rejected) at load instead of failing at its first use.
    #[test]
    fn a_pattern_over_the_size_limit_is_over_the_bound() {
        let hir = parse_for_folded(r"token\w{0,3000}x").unwrap();
        assert!(nfa_size_bound(&hir) > NFA_SIZE_LIMIT);
        assert!(compile_pattern(r"token\w{0,3000}x").is_err());
    }

    #[test]
    fn compiles_on_first_use_and_forgets_on_reset() {
        let mut re = LazyRegex::new("bad code", "test: patterns[0]".into(), None);
        assert!(!re.is_compiled());
        assert!(re.is_match(b"a bad code here"));
        assert!(re.is_compiled());
        assert_eq!(
            re.find(b"xx bad code").map(|m| m.start()..m.end()),
            Some(3..11)
        );
        assert_eq!(re.find_iter(b"bad code, bad code").count(), 2);
        re.reset();
        assert!(!re.is_compiled());
        assert_eq!(
            re.find_at(b"bad code bad code", 1).map(|m| m.start()),
            Some(9)
        );
    }

    /// A pattern that fails to compile at first use (which a validated one does not) matches
    /// nothing instead of panicking.
    #[test]
    fn a_pattern_that_cannot_compile_matches_nothing() {
        let re = LazyRegex::new(r"token\w{0,3000}x", "test: patterns[0]".into(), None);
        assert!(!re.is_match(b"token x"));
        assert!(re.find(b"token x").is_none());
        assert_eq!(re.find_iter(b"token x").count(), 0);
        assert!(re.is_compiled());
    }
}
