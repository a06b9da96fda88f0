//! The routing pass: which of a matcher's literals a candidate record holds, in one pass.
//!
//! A record that passed the gate is checked against most of a rule file: rules, exclusions,
//! evidence, code and reason patterns. Each check needs one of a few literals to be in the
//! record (a literal list, or a pattern's leading literals), and most of them are absent from
//! any given record. One pass over the record says which are there, so that the checks whose
//! literals are all absent are decided (a literal list) or skipped (a pattern, which cannot
//! match) without a search of their own.
//!
//! The pass hashes the three bytes at each position into a small table of the literals that
//! start with them, and compares the few literals found there: ~20 KB for the embedded rule
//! file. An Aho-Corasick automaton routed the rules before: its contiguous NFA (17 KB, the
//! rule literals only) took ~33 instructions a byte, an overlapping search following failure
//! transitions; a DFA over the same rule literals held 177 KB.

use std::collections::HashMap;

/// Words in a [`Found`]: the rule routing word and the key words after it.
const WORDS: usize = 4;

/// How many keys a [`Found`] holds beyond the rule routing word; a larger key reads as unknown.
pub(crate) const KEYS: usize = 64 * (WORDS - 1);

/// Hash table size, in buckets of literals sharing a hash of their first three bytes: small
/// enough to stay in the CPU cache, large enough that a position rarely meets a bucket of
/// literals that do not start there.
const BUCKET_BITS: u32 = 10;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// What a routing pass found in a record: a routing word (the union of the route bits of the
/// route literals found; see [`RoutingBuilder::route`]) and one bit per key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Found([u64; WORDS]);

impl Found {
    /// The union of the route bits of the route literals found.
    pub(crate) fn route(&self) -> u64 {
        self.0[0]
    }

    /// Whether a literal of `key` was found (or the key was declared always found); `None` for
    /// a key past [`KEYS`], which the pass does not track.
    pub(crate) fn get(&self, key: usize) -> Option<bool> {
        (key < KEYS).then(|| self.0[1 + key / 64] & (1 << (key % 64)) != 0)
    }

    fn set(&mut self, key: usize) {
        if key < KEYS {
            self.0[1 + key / 64] |= 1 << (key % 64);
        }
    }

    fn add(&mut self, other: &Found) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
}

/// Collects the literals of a [`Routing`] and what each one stands for.
#[derive(Default)]
pub(crate) struct RoutingBuilder {
    literals: HashMap<Vec<u8>, Found>,
    always: Found,
}

impl RoutingBuilder {
    /// Finding `literal` adds `bits` to the routing word.
    pub(crate) fn route(&mut self, literal: &[u8], bits: u64) {
        self.literals.entry(literal.to_vec()).or_default().0[0] |= bits;
    }

    /// Finding `literal` sets `key` (ignored past [`KEYS`]).
    pub(crate) fn key(&mut self, literal: &[u8], key: usize) {
        self.literals.entry(literal.to_vec()).or_default().set(key);
    }

    /// `key` is set for every record (ignored past [`KEYS`]).
    pub(crate) fn always(&mut self, key: usize) {
        self.always.set(key);
    }

    /// The routing pass over the literals given.
    pub(crate) fn build(self) -> Routing {
        let mut always = self.always;
        let mut short = Vec::new();
        let mut long = Vec::new();
        for (bytes, found) in self.literals {
            match bytes.len() {
                0 => always.add(&found),
                1 | 2 => short.push((bytes.into_boxed_slice(), found)),
                _ => long.push((bytes, found)),
            }
        }
        // Grouped by bucket (ties in a stable order, so a build is reproducible).
        long.sort_by(|a, b| (bucket(prefix(&a.0)), &a.0).cmp(&(bucket(prefix(&b.0)), &b.0)));
        let mut long: Vec<Literal> = long
            .into_iter()
            .map(|(bytes, found)| Literal::new(bytes, found))
            .collect();
        // Runs of literals with the same head (sorted, they are side by side): a position
        // whose first eight bytes differ from the head skips the whole run.
        for i in (0..long.len()).rev() {
            let same = |j: usize| {
                j < long.len()
                    && (long[j].head, long[j].mask) == (long[i].head, long[i].mask)
                    && bucket(long[j].prefix) == bucket(long[i].prefix)
            };
            long[i].run = if same(i + 1) { long[i + 1].run + 1 } else { 1 };
        }
        // Each bucket's literals: where they start in `long`, and how many.
        let mut slots = vec![0u64; BUCKETS];
        for (i, lit) in long.iter().enumerate() {
            let slot = &mut slots[bucket(lit.prefix)];
            if *slot == 0 {
                *slot = i as u64;
            }
            *slot += 1 << 32;
        }
        short.sort_by(|a, b| a.0.cmp(&b.0));
        Routing {
            slots: slots
                .into_boxed_slice()
                .try_into()
                .expect("BUCKETS entries"),
            literals: long.into_boxed_slice(),
            short: short.into_boxed_slice(),
            always,
        }
    }
}

/// A literal of three bytes or more, in the bucket of its first three.
#[derive(Debug)]
struct Literal {
    /// Its first three bytes, as the pass's window holds them.
    prefix: u32,
    /// Its first eight bytes (fewer if shorter) as a little-endian word, and the mask of the
    /// bytes it has: one comparison tells most literals from the text at a position.
    head: u64,
    mask: u64,
    /// How many literals from this one on (in its bucket) have the same head and mask.
    run: u32,
    bytes: Box<[u8]>,
    found: Found,
}

impl Literal {
    fn new(bytes: Vec<u8>, found: Found) -> Literal {
        let n = bytes.len().min(8);
        let mut head = [0u8; 8];
        head[..n].copy_from_slice(&bytes[..n]);
        Literal {
            prefix: prefix(&bytes),
            head: u64::from_le_bytes(head),
            mask: u64::MAX >> (8 * (8 - n)),
            run: 1,
            bytes: bytes.into_boxed_slice(),
            found,
        }
    }

    /// Whether the literal's first eight bytes (or all, if fewer) start `at`, whose first
    /// eight bytes are `word` when it has that many.
    fn head_starts(&self, at: &[u8], word: Option<u64>) -> bool {
        match word {
            Some(w) => w & self.mask == self.head,
            None => at.starts_with(&self.bytes[..self.bytes.len().min(8)]),
        }
    }
}

/// The first three bytes of `bytes` (at least three), little-endian in the low 24 bits (as a
/// little-endian load of four bytes holds them).
fn prefix(bytes: &[u8]) -> u32 {
    u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16
}

/// The bucket of a three-byte prefix: a multiplicative hash's top bits.
fn bucket(prefix: u32) -> usize {
    (prefix.wrapping_mul(0x9E37_79B1) >> (32 - BUCKET_BITS)) as usize
}

/// The built routing pass of one matcher (see the module documentation).
#[derive(Debug)]
pub(crate) struct Routing {
    /// Bucket `b`'s literals are the `slots[b] >> 32` from `literals[slots[b] as u32]` on
    /// (one load per position tells an empty bucket).
    slots: Box<[u64; BUCKETS]>,
    literals: Box<[Literal]>,
    /// Literals of one or two bytes, searched for one by one.
    short: Box<[(Box<[u8]>, Found)]>,
    /// What every record finds.
    always: Found,
}

impl Routing {
    /// What `text` holds: every literal found, wherever it is, overlaps included.
    pub(crate) fn find(&self, text: &[u8]) -> Found {
        let mut found = self.always;
        let mut at = 0;
        // Two positions a step: four bytes hold the three-byte windows starting at `at` and
        // `at + 1` (fewer instructions a byte than one window at a time).
        while let Some(four) = text.get(at..at + 4) {
            let x = u32::from_le_bytes(four.try_into().expect("four bytes"));
            for (pos, window) in [(at, x & 0xFF_FFFF), (at + 1, x >> 8)] {
                let slot = self.slots[bucket(window)];
                if slot != 0 {
                    self.check(&text[pos..], window, slot, &mut found);
                }
            }
            at += 2;
        }
        if let Some(&[a, b, c]) = text.get(at..at + 3) {
            let window = prefix(&[a, b, c]);
            let slot = self.slots[bucket(window)];
            if slot != 0 {
                self.check(&text[at..], window, slot, &mut found);
            }
        }
        for (lit, f) in self.short.iter() {
            // One or two bytes: where the first is, the second follows (a memchr scan; a
            // memmem searcher is built for every call, costlier than this whole pass).
            let (first, rest) = (lit[0], &lit[1..]);
            if memchr::memchr_iter(first, text).any(|at| text[at + 1..].starts_with(rest)) {
                found.add(f);
            }
        }
        found
    }

    /// Adds to `found` the literals of bucket `slot` that start `at` (whose first three bytes
    /// are `window`). Out of line: the scan loop stays small, and most positions never come
    /// here.
    #[inline(never)]
    fn check(&self, at: &[u8], window: u32, slot: u64, found: &mut Found) {
        let (from, len) = ((slot as u32) as usize, (slot >> 32) as usize);
        let word = at.first_chunk::<8>().map(|w| u64::from_le_bytes(*w));
        let literals = &self.literals[from..from + len];
        let mut i = 0;
        while let Some(lit) = literals.get(i) {
            if lit.prefix != window || !lit.head_starts(at, word) {
                i += lit.run as usize;
                continue;
            }
            // The head holds all of a short literal; a longer one needs eight bytes at `at`.
            let whole =
                lit.bytes.len() <= 8 || word.is_some() && at[8..].starts_with(&lit.bytes[8..]);
            if whole {
                found.add(&lit.found);
            }
            i += 1;
        }
    }

    /// Bytes held by the tables (for footprint figures and tests).
    #[cfg(test)]
    pub(crate) fn memory_usage(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
            + self
                .literals
                .iter()
                .map(|l| std::mem::size_of::<Literal>() + l.bytes.len())
                .sum::<usize>()
            + self
                .short
                .iter()
                .map(|(l, _)| std::mem::size_of::<(Box<[u8]>, Found)>() + l.len())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The pass agrees with a search for each literal alone, for literals of every length,
    /// sharing prefixes, overlapping each other, at the start and end of the text.
    fn reference(lits: &[(Vec<u8>, usize)], text: &[u8]) -> Found {
        let mut f = Found::default();
        for (l, k) in lits {
            if l.is_empty() || memchr::memmem::find(text, l).is_some() {
                f.set(*k);
            }
        }
        f
    }

    #[test]
    fn finds_every_literal_overlaps_included() {
        let lits: Vec<(Vec<u8>, usize)> = [
            "invalid",
            "invalid token",
            "valid",
            "token",
            "to",
            "n",
            "oken!",
            "zoom",
            "zoom.us",
            "abc",
            "bcd",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_bytes().to_vec(), i))
        .collect();
        let mut b = RoutingBuilder::default();
        for (l, k) in &lits {
            b.key(l, *k);
        }
        b.route(b"zoom", 1 << 3);
        b.route(b"abc", 1 << 5);
        let r = b.build();
        for text in [
            &b"invalid token!"[..],
            b"an invalid toke",
            b"zoom.u",
            b"abcd",
            b"",
            b"ab",
            b"xxzoom.us",
            b"bcdabc",
        ] {
            let f = r.find(text);
            assert_eq!(f.0[1..], reference(&lits, text).0[1..], "{text:?}");
            let route = if memchr::memmem::find(text, b"zoom").is_some() {
                1 << 3
            } else {
                0
            } | if memchr::memmem::find(text, b"abc").is_some() {
                1 << 5
            } else {
                0
            };
            assert_eq!(f.route(), route, "{text:?}");
        }
        assert_eq!(r.find(b"abcd").get(9), Some(true));
        assert_eq!(r.find(b"abcd").get(7), Some(false));
        assert_eq!(r.find(b"abcd").get(KEYS), None);
    }

    #[test]
    fn an_always_key_and_an_empty_literal_are_found_in_any_text() {
        let mut b = RoutingBuilder::default();
        b.always(7);
        b.key(b"", 8);
        b.key(b"xyz", 9);
        let f = b.build().find(b"nothing here");
        assert_eq!(
            (f.get(7), f.get(8), f.get(9)),
            (Some(true), Some(true), Some(false))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn agrees_with_one_search_per_literal(
            lits in proptest::collection::vec("[abc\u{17f}]{0,6}", 1..24),
            text in "[abcd\u{17f}]{0,64}",
            cuts in proptest::collection::vec((0usize..200, 0usize..40), 0..12),
        ) {
            // Random literals, and pieces of the text (found, of any length: several words).
            let bytes = text.as_bytes();
            let pieces = cuts.iter().map(|&(at, len)| {
                let at = at.min(bytes.len());
                bytes[at..(at + len).min(bytes.len())].to_vec()
            });
            let lits: Vec<(Vec<u8>, usize)> = lits
                .into_iter()
                .map(String::into_bytes)
                .chain(pieces)
                .enumerate()
                .map(|(i, l)| (l, i))
                .collect();
            let mut b = RoutingBuilder::default();
            for (l, k) in &lits {
                b.key(l, *k);
            }
            let r = b.build();
            prop_assert_eq!(r.find(text.as_bytes()), reference(&lits, text.as_bytes()));
        }
    }
}
