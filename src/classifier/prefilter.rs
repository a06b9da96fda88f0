//! The literal prefilter: the words a record must contain before any regex runs.
//!
//! Every rule pattern must start with a literal of at least [`MIN_LITERAL_LEN`] bytes (after
//! alternation and optional parts are expanded). Those literals, lower-cased and minimised,
//! are compiled into one Aho-Corasick automaton, so a record that contains none of them is
//! dismissed after a single pass over its bytes — the fate of ~99% of lines.
//!
//! Matching is case-insensitive, but the automaton is not: a record is first [`fold`]ed (ASCII
//! lower-cased, NUL replaced by a space) and the lower-cased literals are searched in that copy.
//! A case-sensitive automaton keeps its SIMD (Teddy) prefilter with dozens of literals, where a
//! case-insensitive one falls back to a byte-at-a-time scan (measured: ~90 MB/s with 32
//! literals, against well over 1 GB/s folded).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Shortest literal accepted for the prefilter: shorter ones would hit on almost every line.
pub const MIN_LITERAL_LEN: usize = 3;

/// Literals are cut to this length: a shorter prefix selects nearly as well and keeps the
/// automaton small.
pub const MAX_LITERAL_LEN: usize = 16;

/// Copy `src` into `dst` (cleared first) as the matchers see it: ASCII letters lower-cased and
/// each NUL replaced by a space, so that a NUL written inside a phrase does not split it. The
/// copy has the same length as `src`, so an offset in one is the same offset in the other.
pub fn fold(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(src.len(), 0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of a
        // `target_feature` function; `fold_avx2` itself is safe code.
        unsafe { fold_avx2(src, dst) };
        return;
    }
    fold_into(src, dst);
}

/// [`fold`]'s loop over two slices of the same length. Branch-free so that it compiles to
/// SIMD: setting bit 5 lower-cases `A`..=`Z` and turns NUL (0x00) into a space (0x20); no
/// other byte is touched.
#[inline(always)]
fn fold_into(src: &[u8], dst: &mut [u8]) {
    #[inline(always)]
    fn fold_byte(b: u8) -> u8 {
        b | ((((b.wrapping_sub(b'A') < 26) | (b == 0)) as u8) << 5)
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

/// [`fold_into`] compiled with AVX2: 32 bytes a step instead of SSE2's 16, on the hot path
/// of every record.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_avx2(src: &[u8], dst: &mut [u8]) {
    fold_into(src, dst);
}

/// The lower-cased literals one of which every match of `pattern` starts with, or a message
/// saying why none could be found.
pub fn required_literals(pattern: &str) -> Result<Vec<Vec<u8>>, String> {
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

/// Drop duplicates and every literal that contains another one: a record containing the
/// longer also contains the shorter, so the shorter alone decides.
pub fn minimise(mut lits: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
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
/// order given.
pub fn automaton(lits: &[Vec<u8>]) -> AhoCorasick {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(lits.iter().map(|l| l.to_ascii_lowercase()))
        .expect("a few hundred short literals always build")
}

/// A one-pass gate over [`fold`]ed text: does it contain one of the literals, and where does
/// the first start. Searched with the packed (Teddy) searcher alone where the CPU and the
/// literal count allow it, which skips the automaton's set-up on every call (most calls are
/// one short record that contains nothing); otherwise with an automaton.
#[derive(Debug, Clone)]
pub struct Gate {
    packed: Option<aho_corasick::packed::Searcher>,
    automaton: AhoCorasick,
}

impl Gate {
    /// A gate for `lits` (lower-cased here).
    pub fn new(lits: &[Vec<u8>]) -> Gate {
        let lower: Vec<Vec<u8>> = lits.iter().map(|l| l.to_ascii_lowercase()).collect();
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&lower)
            .build();
        Gate {
            packed,
            automaton: automaton(&lower),
        }
    }

    /// Where the first literal in `text` starts.
    pub fn find(&self, text: &[u8]) -> Option<usize> {
        match &self.packed {
            Some(p) => p.find(text).map(|m| m.start()),
            None => self.automaton.find(text).map(|m| m.start()),
        }
    }

    /// `text` contains one of the literals.
    pub fn is_match(&self, text: &[u8]) -> bool {
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
