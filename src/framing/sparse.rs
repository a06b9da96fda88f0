//! Sparse framing: frame a read buffer in full only around the records that can matter.
//!
//! A failure is rare: nearly every line holds none of the literals a match must contain. The
//! caller passes in the search for those literals (the classifier's candidate search; framing
//! does not depend on the classifier), run once over the buffer from hit to hit. A line is
//! then only counted, not copied into [`Framed::data`], when all of these hold: nothing is
//! pending (no partial container line, no open multi-line record, nothing held back behind
//! another stream), it holds no candidate, it was not cut, it is a whole application line
//! (a plain line, or a CRI `F` line, judged by its message; never a CRI `P` piece or a
//! docker line), and it would start a one-line record or is blank. That is exactly the case
//! where the framer would emit it (or count it as blank) at once and be left as it was. A
//! line that would be held for continuations (a level word, an exception header) is a
//! one-line record too when the next line of its stream is already in the buffer and breaks
//! it (whole, not blank, not cut, and not a continuation by `multiline::next`): the framer
//! would emit it alone as that line arrives, within the same push. Between two hits, the
//! lines that surely start a record whatever the line before them held (a timestamp, a
//! word, a JSON object after a line that does not end open) are counted in one tight loop
//! over their first bytes (`State::claim_run`) instead of one by one through the line
//! splitter. So records, counters and `consumed` are those of [`Framer::push`], with the
//! candidate-free records counted in [`Framed::skipped_records`] instead of copied. Every
//! other line goes through the full framing: a hit inside a multi-line record's body belongs
//! to a record whose first line opened it (that line says more may follow, so it was framed
//! in full), and the record is emitted whole.

use std::time::Instant;

use super::container::{self, PLAIN};
use super::lines::{Claim, Line, Newlines};
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
        self.next_from(line.start) < end
    }

    /// Stream offset of the first candidate at or after `at` (inside `input`), or `u64::MAX`.
    fn next_from(&mut self, at: u64) -> u64 {
        if self.next < at || self.from > at {
            let i = (at - self.base) as usize;
            self.from = at;
            self.next = match (self.find)(&self.input[i..]) {
                Some(h) => at + h as u64,
                None => u64::MAX,
            };
        }
        self.next
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
        if self.st.format == Format::Docker {
            // Every line is wrapped in JSON: nothing can be skipped without unescaping it.
            return self.push(input, now, out);
        }
        self.st.last_now = Some(now);
        let base = self.lines.offset();
        let mut hits = Hits {
            input,
            base,
            next: 0,
            from: u64::MAX,
            find,
        };
        let st = &mut self.st;
        let max = self.lines.max();
        // The last line, when it would be a one-line record unless the line after it
        // continues it: decided when that line arrives.
        let mut deferred: Option<Deferred> = None;
        self.lines.push_claiming(input, now, |line| {
            let whole = st.whole(line.bytes);
            if let Some(d) = deferred.take() {
                if st.breaks(&d, input, base, &line, whole) {
                    out.lines += 1;
                    out.skipped_records += 1;
                } else {
                    st.on_line(d.line(input, base), now, out);
                }
            }
            match st.skip_line(&line, whole, &mut hits, out) {
                Skip::Counted => Claim::NONE,
                Skip::Deferred(stream, msg) => {
                    let d = Deferred {
                        start: line.start,
                        len: line.bytes.len(),
                        number: line.number,
                        stream,
                        msg,
                    };
                    let (claim, last) = st.claim_run(d, &mut hits, max);
                    out.lines += claim.lines;
                    out.skipped_records += claim.lines;
                    deferred = Some(last);
                    claim
                }
                Skip::Framed => {
                    st.on_line(line, now, out);
                    Claim::NONE
                }
            }
        });
        if let Some(d) = deferred {
            // Nothing after it yet: counted only if it cannot be continued at all.
            if multiline::start(d.msg(input, base), &mut Shape::default()) == Start::Single {
                out.lines += 1;
                out.skipped_records += 1;
            } else {
                self.st.on_line(d.line(input, base), now, out);
            }
        }
        self.st.release(out);
        out.consumed = self.consumed();
    }

    /// Nothing is pending: no partial line, no open piece or record, nothing held. A framer
    /// in this state frames what follows exactly as a new framer started here would.
    pub fn is_idle(&self) -> bool {
        self.lines.pending_since().is_none() && self.st.nothing_pending()
    }
}

/// A whole, uncut line of the pushed input whose fate waits for the next line of its stream.
#[derive(Clone, Copy)]
struct Deferred {
    start: u64,
    len: usize,
    number: u64,
    /// The stream of its message ([`PLAIN`] for a line that is not wrapped).
    stream: usize,
    /// Length of its message, which ends the line (a CRI line's message follows its tags).
    msg: usize,
}

impl Deferred {
    /// The message framing sees (the line itself, unless it is wrapped).
    fn msg<'a>(&self, input: &'a [u8], base: u64) -> &'a [u8] {
        let end = (self.start - base) as usize + self.len;
        &input[end - self.msg..end]
    }

    fn line<'a>(&self, input: &'a [u8], base: u64) -> Line<'a> {
        let at = (self.start - base) as usize;
        Line {
            bytes: &input[at..at + self.len],
            start: self.start,
            truncated: false,
            number: self.number,
        }
    }
}

/// What sparse framing does with a line.
enum Skip {
    /// Counted (as a one-line record, or as a blank line), not framed.
    Counted,
    /// A one-line record unless the next line continues it: decided when that line arrives.
    /// With the stream and the length of the message that ends the line.
    Deferred(usize, usize),
    /// Framed in full.
    Framed,
}

impl State {
    /// The whole lines right after deferred line `d` that sparse framing counts without
    /// framing them, and the line then deferred in `d`'s place. Each claimed line holds no
    /// candidate, is whole ([`State::whole`]: not cut, not a container piece), and surely
    /// starts a new record after the line before it, which is then a one-line record: after
    /// a line of its own stream that it surely breaks, or after a line of the other stream
    /// that is a one-line record on its own. `d` and every claimed line but the last are
    /// counted (as many as the lines claimed), and the last claimed line is deferred in
    /// turn. This is what the line-by-line path does with those lines, run as a tight loop
    /// over the stretch between two hits.
    #[inline]
    fn claim_run<F: FnMut(&[u8]) -> Option<usize>>(
        &self,
        d: Deferred,
        hits: &mut Hits<'_, F>,
        max: usize,
    ) -> (Claim, Deferred) {
        let input = hits.input;
        let end = (d.start - hits.base) as usize + d.len;
        let from = end + 1 + usize::from(input[end] == b'\r');
        if from >= input.len() {
            return (Claim::NONE, d);
        }
        let hit = hits.next_from(hits.base + from as u64);
        let hit_at = hit.saturating_sub(hits.base).min(input.len() as u64) as usize;
        let (mut prev, mut at, mut last) = (d.msg(input, hits.base), from, d);
        let mut claim = Claim::NONE;
        let newlines = Newlines::new();
        while let Some(nl) = newlines.find(&input[at..hit_at]) {
            let raw = &input[at..at + nl];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.len() > max {
                break;
            }
            let Some((stream, msg)) = self.whole(line) else {
                break;
            };
            // On its own stream, the line must surely break the one before it. A line of
            // the other stream starts a record on its stream (every earlier line there is a
            // record already); it is claimed only if the line before it is a one-line record
            // on its own (otherwise that line waits for the next line of its stream, which
            // the full path follows).
            let breaks = if stream == last.stream {
                multiline::surely_breaks(prev, msg)
            } else {
                !multiline::is_blank(msg)
                    && multiline::start(prev, &mut Shape::default()) == Start::Single
            };
            if !breaks {
                break;
            }
            claim.lines += 1;
            last = Deferred {
                start: hits.base + at as u64,
                len: line.len(),
                number: d.number + claim.lines,
                stream,
                msg: msg.len(),
            };
            prev = msg;
            at += nl + 1;
        }
        claim.bytes = at - from;
        (claim, last)
    }

    fn nothing_pending(&self) -> bool {
        self.held.recs.is_empty()
            && self.inflight.is_none()
            && self.streams.iter().all(|s| !s.part.active && !s.rec.active)
    }

    /// `line` as record framing sees it when it is a whole application line: its stream and
    /// message, the line itself for a line that is not wrapped, or the message of a CRI `F`
    /// line (which ends the line) when its stream has no piece pending. `None` for a line that
    /// takes the full path: a CRI `P` piece (its message continues in the next piece, so a
    /// literal may straddle the two), a docker line (its message is escaped), and a line that
    /// should be a wrapper and does not parse (counted as malformed).
    #[inline(always)]
    fn whole<'a>(&self, line: &'a [u8]) -> Option<(usize, &'a [u8])> {
        let cri = |line: &'a [u8]| {
            container::parse_cri(line)
                .filter(|c| !c.partial)
                .map(|c| (c.stream, c.message))
        };
        match self.format {
            Format::Plain | Format::Json => Some((PLAIN, line)),
            Format::Docker => None,
            Format::Cri => cri(line),
            Format::Auto => match line.first() {
                Some(b'{') if line.starts_with(b"{\"log\":") => None,
                Some(b'0'..=b'9') => match container::parse_cri(line) {
                    Some(c) if c.partial => None,
                    Some(c) => Some((c.stream, c.message)),
                    None => Some((PLAIN, line)),
                },
                _ => Some((PLAIN, line)),
            },
        }
    }

    /// Deferred line `d` (nothing was pending before it, no candidate, whole, not blank) is
    /// a one-line record now that `next` has arrived (`next_whole`: what [`State::whole`] says
    /// of it): either it is one on its own, or it would be held and `next`, the next line of
    /// its stream, breaks it. When `next` is of another stream, cut, blank or not whole, `d`
    /// is a one-line record only if it is one on its own.
    #[inline]
    fn breaks(
        &self,
        d: &Deferred,
        input: &[u8],
        base: u64,
        next: &Line<'_>,
        next_whole: Option<(usize, &[u8])>,
    ) -> bool {
        let first = d.msg(input, base);
        let next = match next_whole {
            Some((stream, msg))
                if stream == d.stream && !next.truncated && !multiline::is_blank(msg) =>
            {
                msg
            }
            // Framing `first` alone is what framing does here only if `start` says so.
            _ => return multiline::start(first, &mut Shape::default()) == Start::Single,
        };
        if multiline::surely_breaks(first, next) {
            return true;
        }
        let mut shape = Shape::default();
        multiline::start(first, &mut shape) == Start::Single
            || (self.limits.max_record_lines > 1
                && multiline::next(&mut shape, 1, next) == multiline::Next::Break)
    }

    /// What to do with `line` (see the module doc).
    #[inline]
    fn skip_line<F: FnMut(&[u8]) -> Option<usize>>(
        &mut self,
        line: &Line<'_>,
        whole: Option<(usize, &[u8])>,
        hits: &mut Hits<'_, F>,
        out: &mut Framed,
    ) -> Skip {
        let Some((stream, msg)) = whole else {
            return Skip::Framed;
        };
        if line.truncated || !self.nothing_pending() {
            return Skip::Framed;
        }
        if multiline::is_blank(msg) {
            // Blank: counted, no record (as `drop_line` with nothing pending).
            out.lines += 1;
            return Skip::Counted;
        }
        if hits.in_line(line) {
            return Skip::Framed;
        }
        let alone = self.format == Format::Json
            || (line.start < hits.base
                && multiline::start(msg, &mut Shape::default()) == Start::Single);
        if alone {
            out.lines += 1;
            out.skipped_records += 1;
            return Skip::Counted;
        }
        if line.start < hits.base {
            // Completed from an earlier push's bytes, which are gone by the next line.
            return Skip::Framed;
        }
        Skip::Deferred(stream, msg.len())
    }
}
