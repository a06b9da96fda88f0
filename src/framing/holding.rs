//! Multi-line holding: the record of a stream that may still take continuation lines (a
//! pretty-printed body, a message and its stack trace), joined until a line breaks it.

use std::time::{Duration, Instant};

use super::multiline::{self, Next, Shape, Start};
use super::{recycle, Framed, Span, State};

/// The multi-line record of a stream still open for continuation lines (held until a line
/// breaks it, a bound splits it, or its wait runs out).
#[derive(Debug, Default)]
pub(super) struct OpenRecord {
    pub(super) active: bool,
    pub(super) buf: Vec<u8>,
    pub(super) start: u64,
    /// Line number of its first physical line.
    pub(super) first_line: u64,
    /// Offset of its last physical line.
    pub(super) last: u64,
    /// Physical lines in it.
    pub(super) lines: u32,
    /// Logical lines joined (what `max_record_lines` bounds).
    pub(super) joined: u32,
    /// The rest of a record split at a bound: its first line is not a record's first line.
    pub(super) split: bool,
    pub(super) shape: Shape,
    pub(super) deadline: Option<Instant>,
}

impl OpenRecord {
    /// Hold `first` (spanning `span`) as the record's first line, waiting until `deadline`;
    /// `split`: it goes on a record split at a bound.
    fn open(&mut self, first: &[u8], span: Span, split: bool, shape: Shape, deadline: Instant) {
        self.active = true;
        self.buf.clear();
        self.buf.extend_from_slice(first);
        self.start = span.start;
        self.first_line = span.first_line;
        self.last = span.last;
        self.lines = span.lines;
        self.joined = 1;
        self.split = split;
        self.shape = shape;
        self.deadline = Some(deadline);
    }
}

impl State {
    /// One logical (application) line of stream `s`, made of `lines` physical lines starting
    /// at `start`: join it to the held record, or start a record with it.
    #[inline]
    pub(super) fn logical(
        &mut self,
        s: usize,
        msg: &[u8],
        span: Span,
        now: Instant,
        out: &mut Framed,
    ) {
        let blank = multiline::is_blank(msg);
        if self.streams[s].rec.active {
            let rec = &mut self.streams[s].rec;
            if blank {
                if rec.shape.depth > 0 {
                    return self.join(s, msg, span, now, out);
                }
                if rec.shape.blanks_inside() {
                    rec.shape.blanks += 1;
                    rec.lines += span.lines;
                    rec.last = span.last;
                    return;
                }
                self.complete(s, out);
                return self.drop_line(span, out);
            }
            match multiline::next(&mut rec.shape, rec.joined + u32::from(rec.split), msg) {
                Next::Join => return self.join(s, msg, span, now, out),
                Next::JoinEnd => {
                    self.join(s, msg, span, now, out);
                    return self.complete(s, out);
                }
                Next::Break => self.complete(s, out),
            }
        }
        if blank {
            return self.drop_line(span, out);
        }
        let mut shape = Shape::default();
        match multiline::start(msg, &mut shape) {
            Start::Single => self.emit(msg, span, out),
            Start::Hold if self.limits.max_record_lines <= 1 => self.emit(msg, span, out),
            Start::Hold => {
                let deadline = now + self.wait(&shape, 1);
                self.streams[s].rec.open(msg, span, false, shape, deadline);
            }
        }
    }

    /// How long a held record may wait for its next line.
    pub(super) fn wait(&self, shape: &Shape, joined: u32) -> Duration {
        if shape.expects_more(joined) {
            self.limits.multiline_timeout
        } else {
            self.grace.min(self.limits.multiline_timeout)
        }
    }

    /// Append a continuation to the held record of stream `s`, splitting at the bounds.
    pub(super) fn join(
        &mut self,
        s: usize,
        msg: &[u8],
        span: Span,
        now: Instant,
        out: &mut Framed,
    ) {
        let max_lines = self.limits.max_record_lines as u64;
        let max_bytes = self.limits.max_record_bytes();
        let rec = &self.streams[s].rec;
        let blanks = rec.shape.blanks as usize;
        let grows_to = rec.buf.len() + blanks + 1 + msg.len();
        if u64::from(rec.joined) + rec.shape.blanks as u64 >= max_lines || grows_to > max_bytes {
            // Split: emit what is held (with the blank lines it saw, unjoined); the rest goes
            // on as a record of the same shape.
            let shape = Shape {
                blanks: 0,
                ..rec.shape
            };
            self.complete(s, out);
            out.split_records += 1;
            let deadline = now + self.wait(&shape, 2);
            let first = &msg[..msg.len().min(self.limits.max_line_bytes)];
            self.streams[s].rec.open(first, span, true, shape, deadline);
            return;
        }
        let deadline;
        {
            let rec = &mut self.streams[s].rec;
            for _ in 0..rec.shape.blanks {
                rec.buf.push(b'\n');
            }
            rec.joined += rec.shape.blanks;
            rec.shape.blanks = 0;
            rec.buf.push(b'\n');
            rec.buf.extend_from_slice(msg);
            rec.lines += span.lines;
            rec.last = span.last;
            rec.joined += 1;
            deadline = now + self.wait(&self.streams[s].rec.shape, self.streams[s].rec.joined);
        }
        self.streams[s].rec.deadline = Some(deadline);
    }

    /// The held record of stream `s` is complete: emit it.
    pub(super) fn complete(&mut self, s: usize, out: &mut Framed) {
        let rec = &mut self.streams[s].rec;
        if !rec.active {
            return;
        }
        rec.active = false;
        rec.deadline = None;
        let buf = std::mem::take(&mut rec.buf);
        let span = Span {
            start: rec.start,
            last: rec.last,
            lines: rec.lines,
            first_line: rec.first_line,
        };
        self.emit(&buf, span, out);
        recycle(&mut self.streams[s].rec.buf, buf);
        self.release(out);
    }

    /// A blank line makes no record, but is counted with the records around it, so a
    /// restart from `consumed` neither loses nor repeats it.
    pub(super) fn drop_line(&mut self, span: Span, out: &mut Framed) {
        if self.held.recs.is_empty() && self.min_pending().is_none_or(|m| span.last < m) {
            out.lines += u64::from(span.lines);
        } else {
            self.hold(None, span, out);
        }
    }
}
