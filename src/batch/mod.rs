//! The batch path shared by `scan` and the daemon: search a buffer once for the candidate
//! literals of the whole rule set, and classify only the records around a hit.
//!
//! A failure is rare: nearly every line holds none of the literals a match must contain. So
//! a read buffer is framed sparsely ([`Framer::push_sparse`], given the rule set's candidate
//! search): lines between hits are counted at the speed of the line splitter and never
//! copied, and only the records that hold a candidate (or that framing must see in full: a
//! held multi-line record, a container piece) come out. Those records are then searched
//! again as one buffer ([`for_each_match`]), and only a record holding a hit is classified.
//! Line and record counts stay exact, every record counts once however it was framed, and
//! the matches are those of classifying every record one by one.
//!
//! Dependencies run one way: this module uses `framing` and `classifier`; framing takes the
//! candidate search as a closure and knows nothing of rules.
//!
//! [`parallel`] splits one large file at record boundaries and runs the same path on each
//! piece on its own thread.

pub mod parallel;

use std::sync::Arc;
use std::time::Instant;

use crate::classifier::{Classification, MatchContext, RuleSet};
use crate::framing::{Format, Framed, Framer, FramingLimits};

/// Bytes `scan` reads at a time (one thread, or each piece's thread): large enough that
/// per-chunk costs vanish, small enough that the kernel's copy and the search over it stay in
/// the CPU's L2 cache (1 MiB chunks made `read` 3 times slower: 90 ms of system time on a
/// 175 MB file against 30 ms).
pub const READ_BYTES: usize = 128 << 10;

/// The rule set's candidate search as framing takes it: the offset of the first byte at
/// which a record could start to match, or `None`.
pub fn candidate_search<'a>(
    rules: &'a RuleSet,
    ctx: &'a MatchContext<'a>,
) -> impl FnMut(&[u8]) -> Option<usize> + 'a {
    move |data| rules.next_candidate(data, ctx)
}

/// What the daemon's readers frame with: the installed rules' candidate search for a source.
/// Implemented by the daemon's installed rules (swapped on reload), so the readers skip what
/// its classifier would skip. Records framed before a reload were framed with the rules
/// installed then.
pub trait Candidates: Send + Sync {
    /// Frame `input` of source `source` sparsely ([`Framer::push_sparse`]) with the
    /// installed rules' candidate search.
    fn push(
        &self,
        source: usize,
        framer: &mut Framer,
        input: &[u8],
        now: Instant,
        out: &mut Framed,
    );
}

/// A shared [`Candidates`], as the sources' options carry it.
#[derive(Clone)]
pub struct SharedCandidates(pub Arc<dyn Candidates>);

impl std::fmt::Debug for SharedCandidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCandidates")
    }
}

/// Frame `input` of source `source`: sparsely with `candidates` when given, else in full.
pub fn push_with(
    candidates: Option<&SharedCandidates>,
    source: usize,
    framer: &mut Framer,
    input: &[u8],
    now: Instant,
    out: &mut Framed,
) {
    match candidates {
        Some(c) => c.0.push(source, framer, input, now, out),
        None => framer.push(input, now, out),
    }
}

/// Call `on_match(i, record, classification)` for every record of a batch (`data` back to
/// back, record `i` ending at `ends[i]`) that a rule matches, in order. The whole batch is
/// searched once for the rule set's candidate literals and only a record holding a hit is
/// classified: the same matches as classifying each record.
pub fn for_each_match<'d>(
    rules: &RuleSet,
    data: &'d [u8],
    ends: &[u32],
    ctx: &MatchContext<'_>,
    mut on_match: impl FnMut(usize, &'d [u8], Classification<'d>),
) {
    let mut pos = 0usize;
    let mut next = 0usize;
    while pos < data.len() {
        let Some(hit) = rules.next_candidate(&data[pos..], ctx) else {
            break;
        };
        let at = pos + hit;
        // The record holding the hit: the first whose end lies beyond it.
        let i = next + ends[next..].partition_point(|&end| end as usize <= at);
        let Some(&end) = ends.get(i) else {
            break;
        };
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        let record = &data[start..end as usize];
        if let Some(c) = rules.classify(record, ctx) {
            on_match(i, record, c);
        }
        // A literal straddling into the next record is not that record's: search again
        // from its start.
        pos = end as usize;
        next = i + 1;
    }
}

/// What a pushed buffer held, beside its matches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Physical lines accounted for.
    pub lines: u64,
    /// Records framed (multi-line records count once), classified or not.
    pub records: u64,
}

/// One classified record, handed to the caller's tally.
#[derive(Debug, Clone, Copy)]
pub struct Found<'d> {
    /// The record (unwrapped, lines joined with `\n`).
    pub record: &'d [u8],
    /// The rule that matched it, and its reason text.
    pub class: Classification<'d>,
    /// Physical line (1-based, from where the framer started) of the record's first line.
    pub line: u64,
}

/// Frames one input sparsely and classifies the records around hits: the core of `scan`,
/// free of I/O (the caller reads and pushes).
#[derive(Debug)]
pub struct BatchFramer {
    framer: Framer,
    framed: Framed,
    /// Lines before this framer's first byte, added to line numbers.
    line_base: u64,
}

impl BatchFramer {
    /// A framer for one input wrapped as `format`.
    pub fn new(format: Format, limits: FramingLimits) -> BatchFramer {
        BatchFramer {
            framer: Framer::new(format, limits),
            framed: Framed::default(),
            line_base: 0,
        }
    }

    /// Number the input from byte `offset`, whose line is `line_base + 1` (a piece of a
    /// larger input framed on its own).
    pub fn starting_at(mut self, offset: u64, line_base: u64) -> BatchFramer {
        self.framer = self.framer.starting_at(offset);
        self.line_base = line_base;
        self
    }

    /// Frame the next bytes and call `on_match` for each record a rule matches, in order.
    pub fn push(
        &mut self,
        input: &[u8],
        now: Instant,
        rules: &RuleSet,
        ctx: &MatchContext<'_>,
        on_match: impl FnMut(Found<'_>),
    ) -> Counts {
        self.framer
            .push_sparse(input, now, &mut self.framed, candidate_search(rules, ctx));
        self.drain(rules, ctx, on_match)
    }

    /// End of input: frame what is pending, then as [`BatchFramer::push`].
    pub fn finish(
        &mut self,
        rules: &RuleSet,
        ctx: &MatchContext<'_>,
        on_match: impl FnMut(Found<'_>),
    ) -> Counts {
        self.framer.finish(&mut self.framed);
        self.drain(rules, ctx, on_match)
    }

    /// Nothing is pending: what follows frames as it would with a new framer.
    pub fn is_idle(&self) -> bool {
        self.framer.is_idle()
    }

    fn drain(
        &mut self,
        rules: &RuleSet,
        ctx: &MatchContext<'_>,
        mut on_match: impl FnMut(Found<'_>),
    ) -> Counts {
        let f = &self.framed;
        let base = self.line_base;
        for_each_match(rules, &f.data, &f.ends, ctx, |i, record, class| {
            on_match(Found {
                record,
                class,
                line: base + f.first_lines[i] + 1,
            })
        });
        let counts = Counts {
            lines: f.lines,
            records: f.ends.len() as u64 + f.skipped_records,
        };
        self.framed.clear();
        counts
    }
}

#[cfg(test)]
mod tests;
