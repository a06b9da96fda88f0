//! Sparse framing: frame a read buffer in full only around the records that can matter.
//!
//! A failure is rare: nearly every line holds none of the literals a match must contain. The
//! caller passes in the search for those literals (the classifier's candidate search; framing
//! does not depend on the classifier), run once over the buffer from hit to hit. A line is
//! then only counted, not copied into [`Framed::data`], when all of these hold: nothing is
//! pending (no partial container line, no open multi-line record, nothing held back behind
//! another stream), it holds no candidate, it was not cut, it is not wrapped (CRI, docker),
//! and it would start a one-line record or is blank. That is exactly the case where the
//! framer would emit it (or count it as blank) at once and be left as it was. A line that
//! would be held for continuations (a level word, an exception header) is a one-line record
//! too when the next line is already in the buffer and breaks it (whole, not blank, not cut,
//! not wrapped, and not a continuation by `multiline::next`): the framer would emit it alone
//! as that line arrives, within the same push. So records,
//! counters and `consumed` are those of [`Framer::push`], with the candidate-free records
//! counted in [`Framed::skipped_records`] instead of copied. Every other line goes through
//! the full framing: a hit inside a multi-line record's body belongs to a record whose first
//! line opened it (that line says more may follow, so it was framed in full), and the record
//! is emitted whole.

use std::sync::LazyLock;
use std::time::Instant;

use aho_corasick::packed;
use aho_corasick::AhoCorasick;

use super::container;
use super::lines::Line;
use super::multiline::{self, Shape, Start};
use super::{Format, Framed, Framer, State};

/// Where the next candidate lies, searched lazily through one pushed buffer.
struct Hits<'a, F> {
    input: &'a [u8],
    /// Stream offset of `input[0]`.
    base: u64,
    /// Stream offset of the next hit at or after `from` (`u64::MAX`: none in the rest).
    next: u64,
    /// The search has covered `input` from this stream offset on.
    from: u64,
    find: F,
}

impl<F: FnMut(&[u8]) -> Option<usize>> Hits<'_, F> {
    /// Whether a candidate starts inside `line` (the bytes pushed for it, terminator included).
    fn in_line(&mut self, line: &Line<'_>) -> bool {
        let end = line.start + line.bytes.len() as u64 + 1;
        if line.start < self.base {
            // A line completed from bytes of an earlier push: search it alone.
            return (self.find)(line.bytes).is_some();
        }
        if self.next < line.start || self.from > line.start {
            let at = (line.start - self.base) as usize;
            self.from = line.start;
            self.next = match (self.find)(&self.input[at..]) {
                Some(h) => line.start + h as u64,
                None => u64::MAX,
            };
        }
        self.next < end
    }
}

/// The literals of [`multiline::HOLD_HINTS`], searched through the whole buffer at once:
/// with Teddy (SIMD) where the CPU has it, else an Aho-Corasick automaton.
enum HintSearch {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl HintSearch {
    fn find(&self, data: &[u8]) -> Option<usize> {
        match self {
            HintSearch::Packed(s) => s.find(data).map(|m| m.start()),
            HintSearch::Automaton(a) => a.find(data).map(|m| m.start()),
        }
    }
}

static HINTS: LazyLock<HintSearch> = LazyLock::new(|| {
    let mut b = packed::Config::new().builder();
    for h in multiline::HOLD_HINTS {
        b.add(h);
    }
    match b.build() {
        Some(s) => HintSearch::Packed(s),
        None => HintSearch::Automaton(
            AhoCorasick::new(multiline::HOLD_HINTS).expect("the hold hints are a valid automaton"),
        ),
    }
});

/// Where the next hold hint lies, searched lazily like [`Hits`].
struct Hints<'a> {
    input: &'a [u8],
    base: u64,
    next: u64,
    from: u64,
}

impl Hints<'_> {
    /// Whether a hold hint lies inside `line`.
    fn in_line(&mut self, line: &Line<'_>) -> bool {
        let end = line.start + line.bytes.len() as u64;
        if line.start < self.base {
            return HINTS.find(line.bytes).is_some();
        }
        if self.next < line.start || self.from > line.start {
            let at = (line.start - self.base) as usize;
            self.from = line.start;
            self.next = match HINTS.find(&self.input[at..]) {
                Some(m) => line.start + m as u64,
                None => u64::MAX,
            };
        }
        // A hint that starts in the line but runs past its end is no hint of it; `start`
        // decides then (it is only asked more often).
        self.next < end
    }
}

/// `line` (without terminator) is, on its own, a whole one-line plain record: not blank, not
/// wrapped, and not a line that holds a record open for continuations. A record most likely
/// starts right after it (where a file can be split to be framed in pieces).
pub fn is_one_line_record(line: &[u8]) -> bool {
    line.first().is_some_and(u8::is_ascii_alphanumeric)
        && !line.starts_with(b"{\"log\":")
        && container::parse_cri(line).is_none()
        && multiline::start(line, &mut Shape::default()) == Start::Single
}

impl Framer {
    /// Like [`Framer::push`], but a record that holds no candidate (`find` gives the offset of
    /// the first candidate in a slice, or `None`) may be counted in
    /// [`Framed::skipped_records`] instead of copied into `out`. Records that do hold one are
    /// emitted whole, as `push` would emit them. Resumable like `push`: any chunking gives
    /// the same records with candidates, the same counters and the same `consumed`.
    pub fn push_sparse(
        &mut self,
        input: &[u8],
        now: Instant,
        out: &mut Framed,
        find: impl FnMut(&[u8]) -> Option<usize>,
    ) {
        if matches!(self.st.format, Format::Cri | Format::Docker) {
            // Every line is wrapped: nothing can be skipped without unwrapping it first.
            return self.push(input, now, out);
        }
        self.st.last_now = Some(now);
        let mut hits = Hits {
            input,
            base: self.lines.offset(),
            next: 0,
            from: u64::MAX,
            find,
        };
        let mut hints = Hints {
            input,
            base: hits.base,
            next: 0,
            from: u64::MAX,
        };
        let st = &mut self.st;
        self.lines.push(input, now, |line| {
            if !st.skip_line(&line, &mut hits, &mut hints, out) {
                st.on_line(line, now, out)
            }
        });
        self.st.release(out);
        out.consumed = self.consumed();
    }

    /// Nothing is pending: no partial line, no open piece or record, nothing held. A framer
    /// in this state frames what follows exactly as a new framer started here would.
    pub fn is_idle(&self) -> bool {
        self.lines.pending_since().is_none() && self.st.nothing_pending()
    }
}

impl State {
    fn nothing_pending(&self) -> bool {
        self.held.recs.is_empty()
            && self.inflight.is_none()
            && self.streams.iter().all(|s| !s.part.active && !s.rec.active)
    }

    /// `line` would be held for continuations, but the line after it in `input` (stream
    /// offset `base`) is already there and starts a new record: the held record would be
    /// `line` alone, completed as that next line arrives, exactly as a one-line record. The
    /// next line must be whole, not blank, not cut and not wrapped (those take paths of
    /// their own); otherwise `false`, and `line` is framed in full.
    fn next_line_breaks(
        &self,
        line: &Line<'_>,
        input: &[u8],
        base: u64,
        shape: &mut Shape,
    ) -> bool {
        if line.start < base || self.limits.max_record_lines <= 1 {
            return false;
        }
        let after = (line.start - base) as usize + line.bytes.len();
        let Some(nl) = input.get(after..).and_then(|r| memchr::memchr(b'\n', r)) else {
            return false;
        };
        let from = after + nl + 1;
        let Some(len) = input.get(from..).and_then(|r| memchr::memchr(b'\n', r)) else {
            return false;
        };
        let mut next = &input[from..from + len];
        if let Some(stripped) = next.strip_suffix(b"\r") {
            next = stripped;
        }
        if next.len() > self.limits.max_line_bytes
            || multiline::is_blank(next)
            || next.starts_with(b"{\"log\":")
            || (self.format == Format::Auto
                && next.first().is_some_and(u8::is_ascii_digit)
                && container::parse_cri(next).is_some())
        {
            return false;
        }
        multiline::next(shape, 1, next) == multiline::Next::Break
    }

    /// Count `line` without framing it, when that is exactly what framing it would do (see
    /// the module doc); `false` when it must be framed in full.
    #[inline]
    fn skip_line<F: FnMut(&[u8]) -> Option<usize>>(
        &mut self,
        line: &Line<'_>,
        hits: &mut Hits<'_, F>,
        hints: &mut Hints<'_>,
        out: &mut Framed,
    ) -> bool {
        if line.truncated || !self.nothing_pending() {
            return false;
        }
        let bytes = line.bytes;
        let single = match self.format {
            Format::Json => true,
            Format::Plain => false,
            Format::Auto => {
                if bytes.starts_with(b"{\"log\":")
                    || (bytes.first().is_some_and(u8::is_ascii_digit)
                        && container::parse_cri(bytes).is_some())
                {
                    return false;
                }
                false
            }
            Format::Cri | Format::Docker => return false,
        };
        if multiline::is_blank(bytes) {
            // Blank: counted, no record (as `drop_line` with nothing pending).
            out.lines += 1;
            return true;
        }
        if hits.in_line(line) {
            return false;
        }
        // Without a hold hint and an open end, `start` would say it is a one-line record.
        if !single && (multiline::ends_open(bytes) || hints.in_line(line)) {
            let mut shape = Shape::default();
            if multiline::start(bytes, &mut shape) == Start::Hold
                && !self.next_line_breaks(line, hits.input, hits.base, &mut shape)
            {
                return false;
            }
        }
        out.lines += 1;
        out.skipped_records += 1;
        true
    }
}
