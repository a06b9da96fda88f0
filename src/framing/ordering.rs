//! Cross-stream ordering: when stdout and stderr interleave, a complete record of one stream
//! is held back while a record of the other stream that began before its last line is
//! pending, so records come out in input order and `consumed` stays exact.

use std::time::Instant;

use super::{recycle_in_place, Framed, Span, State};

#[derive(Debug, Default)]
pub(super) struct Held {
    pub(super) data: Vec<u8>,
    pub(super) recs: Vec<HeldRec>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct HeldRec {
    pub(super) start: u64,
    pub(super) last: u64,
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) lines: u32,
    pub(super) first_line: u64,
    /// `false`: a dropped blank line, held only for its line count.
    pub(super) record: bool,
}

/// Most records (or blank lines) held behind a pending record of another stream; past this (or
/// past `max_record_bytes` of them) the pending records are flushed as they are.
pub(super) const MAX_HELD: usize = 64 * 1024;

impl State {
    /// Hand on a complete record, unless a pending record (of another stream) began before its
    /// last line: then hold it, so a record is emitted only once everything before its last
    /// line is, and `consumed` stays exact.
    #[inline]
    pub(super) fn emit(&mut self, rec: &[u8], span: Span, out: &mut Framed) {
        if self.held.recs.is_empty() && self.min_pending().is_none_or(|m| span.last < m) {
            out.data.extend_from_slice(rec);
            out.ends.push(out.data.len() as u32);
            out.first_lines.push(span.first_line);
            out.lines += u64::from(span.lines);
            return;
        }
        self.hold(Some(rec), span, out);
    }

    /// Keep a complete record (or, with `None`, a dropped line's count) until the pending
    /// records before it are emitted.
    pub(super) fn hold(&mut self, rec: Option<&[u8]>, span: Span, out: &mut Framed) {
        let Span {
            start,
            last,
            lines,
            first_line,
        } = span;
        let from = self.held.data.len();
        if let Some(rec) = rec {
            self.held.data.extend_from_slice(rec);
        }
        let r = HeldRec {
            start,
            last,
            from,
            to: self.held.data.len(),
            lines,
            first_line,
            record: rec.is_some(),
        };
        // Kept in stream order (records nearly always complete in it).
        match self.held.recs.last() {
            Some(last) if last.start > start => {
                let at = self.held.recs.partition_point(|h| h.start < start);
                self.held.recs.insert(at, r);
            }
            _ => self.held.recs.push(r),
        }
        if self.held.data.len() > self.limits.max_record_bytes() || self.held.recs.len() > MAX_HELD
        {
            // Bound the hold: take the pending records as they are.
            let now = self.last_now;
            if let Some(now) = now {
                self.flush_all(now, out);
            }
            self.release(out);
        }
    }

    /// Emit every pending piece and record (end of input, or the hold grew too large).
    pub(super) fn flush_all(&mut self, now: Instant, out: &mut Framed) {
        for s in 0..self.streams.len() {
            if self.streams[s].part.active {
                self.finish_part(s, now, out);
            }
        }
        for s in 0..self.streams.len() {
            self.complete(s, out);
        }
    }

    /// Emit the held records that no pending record precedes, in stream order.
    pub(super) fn release(&mut self, out: &mut Framed) {
        if self.held.recs.is_empty() {
            return;
        }
        let m = self.min_pending();
        if m.is_some_and(|m| self.held.recs[0].last >= m) {
            return;
        }
        // A prefix (in stream order) whose lines all lie before every pending record and
        // before every record still held after it.
        let recs = &self.held.recs;
        let mut n = recs
            .iter()
            .take_while(|r| m.is_none_or(|m| r.last < m))
            .count();
        while n > 0 && n < recs.len() {
            let last = recs[..n].iter().map(|r| r.last).max().unwrap_or(0);
            if last < recs[n].start {
                break;
            }
            n -= 1;
        }
        for r in &self.held.recs[..n] {
            if r.record {
                out.data.extend_from_slice(&self.held.data[r.from..r.to]);
                out.ends.push(out.data.len() as u32);
                out.first_lines.push(r.first_line);
            }
            out.lines += u64::from(r.lines);
        }
        if n == self.held.recs.len() {
            self.held.recs.clear();
            recycle_in_place(&mut self.held.data);
        } else if n > 0 {
            let mut data = Vec::new();
            let mut recs = Vec::new();
            for r in &self.held.recs[n..] {
                let from = data.len();
                data.extend_from_slice(&self.held.data[r.from..r.to]);
                recs.push(HeldRec {
                    from,
                    to: data.len(),
                    ..*r
                });
            }
            self.held.data = data;
            self.held.recs = recs;
        }
    }

    /// The earliest start of a pending piece or record, in any stream.
    #[inline]
    pub(super) fn min_pending(&self) -> Option<u64> {
        let mut m: Option<u64> = self.inflight;
        for st in &self.streams {
            if st.part.active {
                m = Some(m.map_or(st.part.start, |m| m.min(st.part.start)));
            }
            if st.rec.active {
                m = Some(m.map_or(st.rec.start, |m| m.min(st.rec.start)));
            }
        }
        m
    }
}

impl Held {
    pub(super) fn min_start(&self) -> Option<u64> {
        self.recs.iter().map(|r| r.start).min()
    }
}
