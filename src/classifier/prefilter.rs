//! The literal prefilter: the words a record must contain before any regex runs.
//!
//! Every rule pattern must start with a literal of at least [`MIN_LITERAL_LEN`] bytes (after
//! alternation and optional parts are expanded). Those literals (or, for a gate, a longer word
//! the pattern requires further in: [`gate_literals`]), lower-cased and minimised, are searched
//! for in one pass ([`Gate`]: Teddy, SIMD), so a record that contains none of them is
//! dismissed after a single pass over its bytes — the fate of ~99% of lines.
//!
//! Matching is case-insensitive, but the search is not: the text is first [`fold`]ed (ASCII
//! lower-cased, NUL replaced by a space) and the lower-cased literals are searched in that copy.
//! A gate, which searches every byte of every line, folds more coarsely ([`coarse_fold`]: bit
//! 5 set on every byte, one OR) and may then report a few places the exact fold would not,
//! never fewer.
//! A case-sensitive search keeps Teddy with dozens of literals, where a case-insensitive
//! automaton falls back to a byte-at-a-time scan (measured: ~90 MB/s with 32 literals, against
//! well over 1 GB/s folded). The regexes run on the folded copy too (see
//! `pattern::compile_pattern`). No `unsafe`: the fold is plain code the compiler vectorises,
//! and Teddy's SIMD is aho-corasick's.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// Shortest literal accepted for the prefilter: shorter ones would hit on almost every line.
pub(crate) const MIN_LITERAL_LEN: usize = 3;

/// Literals are cut to this length: a shorter prefix selects nearly as well and keeps the
/// automaton small.
pub(crate) const MAX_LITERAL_LEN: usize = 16;

/// Copy `src` into `dst` (replacing its contents) as the matchers see it: ASCII letters lower-cased and
/// each NUL replaced by a space, so that a NUL written inside a phrase does not split it. The
/// copy has the same length as `src`, so an offset in one is the same offset in the other.
///
/// Branch-free over fixed 32-byte steps, so the compiler turns it into vector code with no
/// `unsafe` (setting bit 5 lower-cases `A`..=`Z` and turns NUL (0x00) into a space (0x20); no
/// other byte is touched).
pub(crate) fn fold(src: &[u8], dst: &mut Vec<u8>) {
    #[inline(always)]
    fn fold_byte(b: u8) -> u8 {
        // The comparison as an all-ones or all-zeros byte, masked with 0x20: what a vector
        // compare gives, so no shift or blend is needed.
        let hit = ((b.wrapping_sub(b'A') < 26) | (b == 0)) as u8;
        b | (hit.wrapping_neg() & 0x20)
    }
    // Every byte is written below: reuse the buffer's old bytes instead of zeroing it first
    // (a zero fill cost as much as the fold itself).
    if dst.len() < src.len() {
        dst.resize(src.len(), 0);
    } else {
        dst.truncate(src.len());
    }
    let mut from = src.chunks_exact(32);
    let mut to = dst.chunks_exact_mut(32);
    for (t, f) in (&mut to).zip(&mut from) {
        for (d, &b) in t.iter_mut().zip(f) {
            *d = fold_byte(b);
        }
    }
    // The last partial chunk goes through a full one on the stack, so that it is folded with
    // the same vector steps instead of a byte at a time (a record is often short).
    let (rest, out) = (from.remainder(), to.into_remainder());
    let mut tail = [0u8; 32];
    tail[..rest.len()].copy_from_slice(rest);
    for b in tail.iter_mut() {
        *b = fold_byte(*b);
    }
    out.copy_from_slice(&tail[..rest.len()]);
}

/// Copy `src` into `dst` (replacing its contents) as a [`Gate`] searches it: every byte with
/// bit 5 set. That is [`fold`] and more: it also maps `_` to DEL, `[` to `{`, a tab to `)`,
/// and so on, so a gate over coarse-folded literals finds every place the folded literal is
/// in the folded text, and a few more (never in the words a gate looks for: a false hit
/// only costs a record that is classified for nothing). Coarse-folding a folded copy gives
/// the same bytes as coarse-folding the original. One OR per byte, where [`fold`] needs a
/// compare and a blend: the gate folds every byte of every log line.
pub(crate) fn coarse_fold(src: &[u8], dst: &mut Vec<u8>) {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0);
    } else {
        dst.truncate(src.len());
    }
    for (d, &b) in dst.iter_mut().zip(src) {
        *d = b | 0x20;
    }
}

/// The lower-cased literals one of which every match of `pattern` starts with, or a message
/// saying why none could be found.
pub(crate) fn required_literals(pattern: &str) -> Result<Vec<Vec<u8>>, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| format!("invalid regex: {e}"))?;
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    seq.keep_first_bytes(MAX_LITERAL_LEN);
    seq.dedup();
    let Some(lits) = seq.literals() else {
        return Err(format!(
            "pattern `{pattern}` does not start with a literal word, so the prefilter cannot \
             skip lines for it; begin it with a literal of {MIN_LITERAL_LEN}+ characters"
        ));
    };
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits {
        let bytes = lit.as_bytes().to_ascii_lowercase();
        if bytes.len() < MIN_LITERAL_LEN {
            return Err(format!(
                "pattern `{pattern}` can start with the literal `{}`, shorter than \
                 {MIN_LITERAL_LEN} characters; begin it with a longer literal word",
                String::from_utf8_lossy(&bytes)
            ));
        }
        out.push(bytes);
    }
    if out.is_empty() {
        return Err(format!("pattern `{pattern}` can never match"));
    }
    Ok(out)
}

/// The literals to search for a pattern in a gate: one of them is in every match of it. Its
/// leading literals ([`required_literals`]), unless the pattern also requires a clearly longer
/// word further in (4+ bytes longer than its shortest leading literal): `tokens?\b[^\n]{0,40}?\bbad request` is gated by `bad request`, not by
/// `token`, which ordinary log lines say all the time. A hit may then lie inside a match, not
/// at its start, which a gate allows: the caller classifies the whole record around the hit.
pub(crate) fn gate_literals(pattern: &str) -> Result<Vec<Vec<u8>>, String> {
    let prefix = required_literals(pattern)?;
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| format!("invalid regex: {e}"))?;
    Ok(match inner_literals(&hir) {
        Some(inner) if selectivity(&inner) >= selectivity(&prefix) + 4 => inner,
        _ => minimise(prefix),
    })
}

/// How selective a literal set is, roughly: the length of its shortest literal (a longer word
/// is rarer in logs), capped where more length stops mattering.
fn selectivity(lits: &[Vec<u8>]) -> usize {
    lits.iter().map(Vec::len).min().unwrap_or(0).min(12)
}

/// The leading literals of `hir`, lower-cased and minimised, when it has a finite set of them
/// each at least [`MIN_LITERAL_LEN`] long.
fn prefix_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut seq = Extractor::new().kind(ExtractKind::Prefix).extract(hir);
    seq.keep_first_bytes(MAX_LITERAL_LEN);
    seq.dedup();
    let lits = seq.literals()?;
    let out: Vec<Vec<u8>> = lits
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    (!out.is_empty() && out.iter().all(|l| l.len() >= MIN_LITERAL_LEN)).then(|| minimise(out))
}

/// The most selective literal set one of which every match of `hir` contains, anywhere in it:
/// the leading literals of any part of a sequence that every match goes through.
fn inner_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let better = |a: Option<Vec<Vec<u8>>>, b: Option<Vec<Vec<u8>>>| match (a, b) {
        (Some(a), Some(b)) => {
            let key = |l: &Vec<Vec<u8>>| (selectivity(l), std::cmp::Reverse(l.len()));
            Some(if key(&b) > key(&a) { b } else { a })
        }
        (a, b) => a.or(b),
    };
    let own = prefix_literals(hir);
    let inner = match hir.kind() {
        HirKind::Capture(c) => inner_literals(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => inner_literals(&r.sub),
        HirKind::Concat(subs) => (0..subs.len()).fold(None, |best, i| {
            let tail = better(
                prefix_literals(&Hir::concat(subs[i..].to_vec())),
                inner_literals(&subs[i]),
            );
            better(best, tail)
        }),
        HirKind::Alternation(subs) => {
            let mut all = Vec::new();
            for s in subs {
                all.extend(inner_literals(s)?);
            }
            Some(minimise(all))
        }
        _ => None,
    };
    better(own, inner)
}

/// Drop duplicates and every literal that contains another one: a record containing the
/// longer also contains the shorter, so the shorter alone decides.
pub(crate) fn minimise(mut lits: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    lits.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    lits.dedup();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits {
        if !kept.iter().any(|k| memchr::memmem::find(&lit, k).is_some()) {
            kept.push(lit);
        }
    }
    kept
}

/// An automaton over `lits`, lower-cased, to search [`fold`]ed text; pattern ids follow the
/// order given. A DFA: it searches whole buffers (a gate without Teddy) or every candidate
/// record (the matchers' literal evidence and exclusions), and is small for so few literals.
pub(crate) fn automaton(lits: &[Vec<u8>]) -> AhoCorasick {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(lits.iter().map(|l| l.to_ascii_lowercase()))
        .expect("a few hundred short literals always build")
}

/// `lits` lower-cased and minimised, cut shorter (to 12, 10, then 8 bytes, never less, so
/// that no cut literal becomes a common word) until at most [`GATE_PACKED_MAX`] remain.
pub(crate) fn fit_for_teddy(lits: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut lower = minimise(lits.iter().map(|l| l.to_ascii_lowercase()).collect());
    for cut in [12, 10, 8] {
        if lower.len() <= GATE_PACKED_MAX {
            break;
        }
        lower = minimise(
            lower
                .iter()
                .map(|l| l[..l.len().min(cut)].to_vec())
                .collect(),
        );
    }
    lower
}

/// Most literals Teddy takes by default; past them it gives up.
pub(crate) const GATE_PACKED_MAX: usize = 64;

/// A one-pass gate over [`fold`]ed text: does it contain one of the literals, and where does
/// the first start. Searched with the packed (Teddy) searcher alone where the CPU and the
/// literal count allow it, which skips the automaton's set-up on every call (most calls are
/// one short record that contains nothing); otherwise with an automaton, built only then.
#[derive(Debug, Clone)]
pub(crate) enum Gate {
    /// Teddy over the literals.
    Packed(aho_corasick::packed::Searcher),
    /// Teddy over a few four-byte anchors, each hit verified against the literals holding
    /// that anchor: for more literals than slim Teddy takes.
    Anchored(Anchored),
    /// An automaton, where Teddy is not available.
    Automaton(AhoCorasick),
}

/// Most literals slim Teddy takes (8 buckets); past them aho-corasick uses fat Teddy, which
/// reads 16 bytes a step instead of 32 (the declared-provider gate, 64 literals, spent 29%
/// of a `scan --provider zoom` in it).
const SLIM_TEDDY_MAX: usize = 32;

/// Length of an [`Anchored`] gate's anchors: Teddy's longest fingerprint. (Anchors of 4 to 8
/// bytes, rarer, measured no better: Teddy's own cost depends on the first four.)
const ANCHOR_LEN: usize = 4;

/// A gate over many literals as slim Teddy over at most [`SLIM_TEDDY_MAX`] anchors: four-byte
/// pieces chosen so that each literal holds one. An anchor hit at `h` is a literal when one
/// of its literals is in the text with the anchor at its offset. No literal starts more than
/// `back` bytes before its anchor, so once a literal is found at `s`, the hits up to
/// `s + back` are the only ones that can give an earlier start. Anchors all have the same
/// length, so at most one starts at any offset and the leftmost search misses none.
#[derive(Debug, Clone)]
pub(crate) struct Anchored {
    anchors: aho_corasick::packed::Searcher,
    /// For each anchor (by pattern id): the literals holding it, each with the offset of the
    /// anchor in it.
    groups: Vec<Vec<(usize, Vec<u8>)>>,
    /// The largest anchor offset.
    back: usize,
}

impl Anchored {
    /// Anchors for `lits` (coarse-folded), chosen greedily: the piece held by the most
    /// literals not yet covered, the one whose bytes look rarer on a tie. `None` when a
    /// literal is shorter than an anchor, more than [`SLIM_TEDDY_MAX`] anchors are needed,
    /// or Teddy is unavailable.
    fn new(lits: &[Vec<u8>]) -> Option<Anchored> {
        fn pieces(l: &[u8]) -> Vec<&[u8]> {
            let mut v: Vec<&[u8]> = l.windows(ANCHOR_LEN).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        let mut uncovered: Vec<&Vec<u8>> = lits.iter().collect();
        while !uncovered.is_empty() {
            if anchors.len() == SLIM_TEDDY_MAX {
                return None;
            }
            let mut covers: std::collections::BTreeMap<&[u8], usize> =
                std::collections::BTreeMap::new();
            for l in &uncovered {
                for p in pieces(l) {
                    *covers.entry(p).or_default() += 1;
                }
            }
            let best = covers
                .into_iter()
                .max_by_key(|(p, n)| (*n, std::cmp::Reverse(commonness(p))))
                .map(|(p, _)| p.to_vec())?;
            uncovered.retain(|l| memchr::memmem::find(l, &best).is_none());
            anchors.push(best);
        }
        let mut groups = vec![Vec::new(); anchors.len()];
        let mut back = 0;
        for lit in lits {
            let (i, off) = anchors
                .iter()
                .enumerate()
                .find_map(|(i, a)| memchr::memmem::find(lit, a).map(|off| (i, off)))?;
            groups[i].push((off, lit.clone()));
            back = back.max(off);
        }
        let searcher = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&anchors)
            .build()?;
        Some(Anchored {
            anchors: searcher,
            groups,
            back,
        })
    }

    /// [`Gate::find`] in one folded window whose first `end` bytes are its own (the rest is
    /// look-ahead, so that a literal starting before `end` is seen whole): the first start of
    /// a literal, from the anchor hits in order until no later one can give an earlier start.
    fn find(&self, folded: &[u8], end: usize) -> Option<usize> {
        let mut first: Option<usize> = None;
        let mut at = 0;
        while at < folded.len() {
            let Some(m) = self
                .anchors
                .find_in(folded, aho_corasick::Span::from(at..folded.len()))
            else {
                break;
            };
            let h = m.start();
            // A literal starts at most `back` bytes before its anchor: one held by this hit
            // or a later one starts at `h - back` or later.
            let before = first.unwrap_or(end);
            if h >= before + self.back {
                break;
            }
            for (off, lit) in &self.groups[m.pattern().as_usize()] {
                if let Some(s) = h.checked_sub(*off) {
                    if s < first.unwrap_or(end) && folded[s..].starts_with(lit) {
                        first = Some(s);
                    }
                }
            }
            at = h + 1;
        }
        first
    }
}

/// How common a piece of text looks in logs, roughly: how many of its bytes are spaces,
/// digits or the most frequent English letters. A tie-break between anchors.
fn commonness(piece: &[u8]) -> usize {
    piece
        .iter()
        .filter(|&&b| b == b' ' || b.is_ascii_digit() || b"etaoinsrhldcu".contains(&b))
        .count()
}

impl Gate {
    /// A gate for `lits` (lower-cased here). More than [`GATE_PACKED_MAX`] literals are cut
    /// shorter (and minimised again) to fit ([`fit_for_teddy`]): a prefix of a literal is in
    /// every record the literal is in. Past 64 literals Teddy gives up by default and the
    /// search is a byte-at-a-time automaton (the declared-provider gate had 73 and searched
    /// 8 times slower than Teddy); a set still too large after the cuts gets Teddy without
    /// that limit (up to 128). More than [`SLIM_TEDDY_MAX`] literals are searched through
    /// anchors ([`Anchored`]) where a few anchors cover them all.
    pub(crate) fn new(lits: &[Vec<u8>]) -> Gate {
        let lower = minimise(
            fit_for_teddy(lits)
                .iter()
                .map(|l| l.iter().map(|b| b | 0x20).collect())
                .collect(),
        );
        if lower.len() > SLIM_TEDDY_MAX {
            if let Some(a) = Anchored::new(&lower) {
                return Gate::Anchored(a);
            }
        }
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .heuristic_pattern_limits(false)
            .builder()
            .extend(&lower)
            .build();
        match packed {
            Some(p) => Gate::Packed(p),
            None => Gate::Automaton(automaton(&lower)),
        }
    }

    /// Where the first literal in `text` (raw or [`fold`]ed) starts, or an offset before it
    /// where the coarse fold (see [`coarse_fold`]) makes a literal appear too; `None`: no
    /// literal is in `text`. The text is coarse-folded 2 KiB at a time, into a per-thread
    /// buffer: a window stays in the CPU cache between folding and searching it, and after a
    /// hit half a window on average was folded for nothing (1 KiB measured slower, 4 KiB
    /// folded twice as much for nothing).
    pub(crate) fn find(&self, text: &[u8]) -> Option<usize> {
        const WINDOW: usize = 2 << 10;
        thread_local! {
            static COARSE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        COARSE.with(|buf| {
            let mut folded = buf.borrow_mut();
            let mut pos = 0;
            while pos < text.len() {
                let end = text.len().min(pos + WINDOW);
                // A literal that starts before `end` is seen whole.
                let upto = text.len().min(end + MAX_LITERAL_LEN);
                coarse_fold(&text[pos..upto], &mut folded);
                let hit = match self {
                    Gate::Packed(p) => p.find(&folded[..]).map(|m| m.start()),
                    Gate::Anchored(a) => a.find(&folded, end - pos),
                    Gate::Automaton(a) => a.find(&folded[..]).map(|m| m.start()),
                };
                if let Some(h) = hit {
                    return Some(pos + h);
                }
                pos = end;
            }
            None
        })
    }

    /// `text` (raw or folded) may contain one of the literals (see [`Gate::find`]).
    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        self.find(text).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_alternation_and_optional_parts() {
        let lits = required_literals(r"can ?not find the authentication").unwrap();
        assert!(lits.contains(&b"can not find the".to_vec()));
        assert!(lits.contains(&b"cannot find the ".to_vec()));
        let lits = required_literals(r"(?:Invalid|expired) jwt").unwrap();
        assert_eq!(lits.len(), 2);
        assert!(lits.iter().all(|l| l == &l.to_ascii_lowercase()));
    }

    #[test]
    fn rejects_patterns_without_a_leading_literal() {
        assert!(required_literals(r".*token").is_err());
        assert!(required_literals(r"\d+ failed").is_err());
        assert!(required_literals(r"ab").unwrap_err().contains("shorter"));
        assert!(required_literals(r"(unclosed")
            .unwrap_err()
            .contains("invalid regex"));
    }

    #[test]
    fn fold_lowercases_and_turns_nul_into_space() {
        let mut out = Vec::new();
        fold(b"Invalid\0Token! \xe2\x80\x9cZOOM\xe2\x80\x9d", &mut out);
        assert_eq!(out, b"invalid token! \xe2\x80\x9czoom\xe2\x80\x9d");
        let ac = automaton(&[b"Invalid Token".to_vec()]);
        assert!(ac.is_match(&out));
        // Every length around the 32-byte steps folds as byte by byte would.
        let src: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for len in [0, 1, 31, 32, 33, 64, 95, 300] {
            fold(&src[..len], &mut out);
            let expect: Vec<u8> = src[..len]
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b.to_ascii_lowercase() })
                .collect();
            assert_eq!(out, expect, "length {len}");
        }
        fold(b"Invalid\0Token! \xe2\x80\x9cZOOM\xe2\x80\x9d", &mut out);
        let gate = Gate::new(&[b"Invalid Token".to_vec(), b"ZOOM".to_vec()]);
        assert_eq!(gate.find(&out), Some(0));
        assert_eq!(gate.find(&out[1..]), Some(17));
        assert!(!gate.is_match(b"valid token"));
    }

    #[test]
    fn gate_literals_prefer_a_longer_required_word_to_a_short_leading_one() {
        let lits = gate_literals(r"tokens?\b[^\n]{0,40}?\b(?:400 )?\(?bad request\b").unwrap();
        assert_eq!(lits, vec![b"bad request".to_vec()]);
        // Inside an alternation each branch brings its own.
        let lits = gate_literals(r"(?:tokens?\s+(?:is )?bad request|expired jwt)").unwrap();
        assert_eq!(lits, vec![b"bad request".to_vec(), b"expired jwt".to_vec()]);
        // A leading word that is long enough stays; so does a short one with nothing much
        // longer behind it.
        assert_eq!(
            gate_literals(r"oauth/token[^\n]{0,160}?\binternal server error").unwrap(),
            vec![b"oauth/token".to_vec()]
        );
        assert_eq!(
            gate_literals(r"code\s*[:=]\s*47\d\d\b[\s\S]{0,80}?message").unwrap(),
            vec![b"code".to_vec()]
        );
        // An optional part is never required.
        assert_eq!(
            gate_literals(r"reason(?: was a very long optional phrase)?").unwrap(),
            vec![b"reason".to_vec()]
        );
        assert!(gate_literals(r".*token").is_err());
    }

    #[test]
    fn a_gate_over_many_literals_cuts_them_shorter_and_still_finds_each() {
        let lits: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("literal number {i:03} of many").into_bytes())
            .collect();
        let gate = Gate::new(&lits);
        assert!(matches!(gate, Gate::Packed(_)));
        let mut text = Vec::new();
        for lit in &lits {
            fold(
                &[b"x".repeat(40).as_slice(), lit, b" end"].concat(),
                &mut text,
            );
            assert_eq!(gate.find(&text), Some(40));
        }
        assert_eq!(gate.find(b"nothing to see here, not a literal"), None);
    }

    proptest::proptest! {
        /// The gate never misses: where a literal is in the folded text, the gate reports it
        /// or an earlier offset, on the raw text and on its folded copy alike.
        #[test]
        fn the_coarse_gate_never_misses_a_literal(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"zo"[..], b"om", b"ZOOM", b"Zo", b"error", b"_", b"code", b"@", b"[", b"\\",
                b"\x7f", b"\x00", b"\t", b" ", b"(4,7", b"(4", b",7", b"\xe2\x80\x99", b"\xe2",
                b"reason", b"REASON", b"x", b"/",
            ]), 0..80),
        ) {
            let text = pieces.concat();
            let lits = [b"zoom".to_vec(), b"error_code".to_vec(), b"@zoom/".to_vec(),
                b"(4,7".to_vec(), b"code\\".to_vec(), b"reason\xe2\x80\x99".to_vec()];
            let gate = Gate::new(&lits);
            let mut folded = Vec::new();
            fold(&text, &mut folded);
            // A literal that holds a shorter one is found by the shorter one, inside it.
            let first = minimise(lits.to_vec())
                .iter()
                .filter_map(|l| memchr::memmem::find(&folded, l))
                .min();
            let got = gate.find(&text);
            proptest::prop_assert_eq!(got, gate.find(&folded));
            if let Some(p) = first {
                proptest::prop_assert!(got.is_some_and(|g| g <= p), "{:?} > {}", got, p);
            }
        }
    }

    /// Phrases like the declared-provider gate's: more than slim Teddy takes, sharing words.
    fn many_phrases() -> Vec<Vec<u8>> {
        let words = [
            "invalid", "client", "token", "grant", "redirect", "expired", "missing",
        ];
        let tails = [
            " id",
            "_type",
            " uri",
            " secret",
            " code",
            " has been",
            " is bad",
        ];
        let mut v: Vec<Vec<u8>> = words
            .iter()
            .flat_map(|w| tails.iter().map(move |t| format!("{w}{t}").into_bytes()))
            .collect();
        v.extend([b"(4,7".to_vec(), b"reason".to_vec(), b"code\"".to_vec()]);
        v
    }

    #[test]
    fn a_gate_over_more_literals_than_slim_teddy_takes_searches_anchors() {
        let lits = many_phrases();
        assert!(lits.len() > SLIM_TEDDY_MAX);
        let gate = Gate::new(&lits);
        assert!(matches!(gate, Gate::Anchored(_)), "{gate:?}");
        assert_eq!(gate.find(b"a token is bad here"), Some(2));
        assert_eq!(gate.find(b"token is ok, Missing nothing"), None);
        assert_eq!(gate.find(b"x MISSING_TYPE and (4,7"), Some(2));
        assert_eq!(gate.find(b"redirect is fine"), None);
    }

    proptest::proptest! {
        /// The anchored gate finds exactly the first literal (in the coarse-folded text), as
        /// a search for every literal does.
        #[test]
        fn the_anchored_gate_finds_the_first_literal(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                &b"invalid"[..], b"client", b"token", b"grant", b"redirect", b"expired",
                b"missing", b" id", b"_type", b" uri", b" secret", b" code", b" has been",
                b" is bad", b"(4,7", b"reason", b"code\"", b"TOKEN", b"x", b" ", b"\n", b"_",
            ]), 0..400),
        ) {
            let text = pieces.concat();
            let lits = many_phrases();
            let gate = Gate::new(&lits);
            let mut folded = Vec::new();
            coarse_fold(&text, &mut folded);
            let want = lits
                .iter()
                .map(|l| l.iter().map(|b| b | 0x20).collect::<Vec<u8>>())
                .filter_map(|l| memchr::memmem::find(&folded, &l))
                .min();
            proptest::prop_assert_eq!(gate.find(&text), want);
        }
    }

    #[test]
    fn minimise_keeps_the_shortest_covering_literals() {
        let kept = minimise(vec![
            b"invalid client".to_vec(),
            b"invalid".to_vec(),
            b"zoom".to_vec(),
            b"zoom".to_vec(),
        ]);
        assert_eq!(kept, vec![b"zoom".to_vec(), b"invalid".to_vec()]);
    }
}
