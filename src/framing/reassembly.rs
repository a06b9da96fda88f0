//! Container reassembly: CRI `P`…`F` pieces and docker's split lines of one application
//! line, per stream, unwrapped into one logical line.

use std::time::Instant;

use super::container::{self, PLAIN};
use super::lines::Line;
use super::{recycle, Framed, Span, State};

/// Container pieces (CRI `P`, docker without `\n`) of one application line.
#[derive(Debug, Default)]
pub(super) struct Reassembly {
    pub(super) active: bool,
    pub(super) buf: Vec<u8>,
    pub(super) start: u64,
    /// Line number of its first piece.
    pub(super) first_line: u64,
    pub(super) last: u64,
    pub(super) lines: u32,
    pub(super) truncated: bool,
    pub(super) since: Option<Instant>,
}

impl State {
    /// A CRI line; one that does not parse is a plain line (counted if CRI was expected).
    pub(super) fn cri(&mut self, line: Line<'_>, expected: bool, now: Instant, out: &mut Framed) {
        match container::parse_cri(line.bytes) {
            Some(c) => self.piece(c.stream, c.message, c.partial, line, now, out),
            None => {
                if expected {
                    out.malformed_wrappers += 1;
                }
                self.logical(PLAIN, line.bytes, Span::line(&line), now, out)
            }
        }
    }

    /// A docker json-file line; one that does not parse is a plain line, counted. When the
    /// format is `auto` (not `expected`), a line without docker's `stream` and `time` keys is
    /// the application's own JSON and stays as it is.
    pub(super) fn docker(
        &mut self,
        line: Line<'_>,
        expected: bool,
        now: Instant,
        out: &mut Framed,
    ) {
        let mut msg = std::mem::take(&mut self.scratch);
        let parsed = container::parse_docker(line.bytes, &mut msg).or_else(|| {
            // Cut at the cap: its JSON is incomplete, but the message is what matters.
            line.truncated
                .then(|| container::parse_docker_truncated(line.bytes, &mut msg))
                .flatten()
        });
        match parsed {
            Some(d) if d.complete || expected => {
                self.piece(d.stream, &msg, d.partial, line, now, out)
            }
            // An application's own JSON line with a `log` key, not a wrapper.
            Some(_) => self.logical(PLAIN, line.bytes, Span::line(&line), now, out),
            None => {
                out.malformed_wrappers += 1;
                self.logical(PLAIN, line.bytes, Span::line(&line), now, out)
            }
        }
        msg.clear();
        self.scratch = msg;
    }

    /// An unwrapped container message: a piece of a longer line, or a whole line.
    pub(super) fn piece(
        &mut self,
        s: usize,
        msg: &[u8],
        partial: bool,
        line: Line<'_>,
        now: Instant,
        out: &mut Framed,
    ) {
        let max = self.limits.max_line_bytes;
        let part = &mut self.streams[s].part;
        if !partial && !part.active {
            return self.logical(s, msg, Span::line(&line), now, out);
        }
        if !part.active {
            part.active = true;
            part.start = line.start;
            part.first_line = line.number;
            part.lines = 0;
            part.truncated = false;
            part.buf.clear();
        }
        part.lines += 1;
        part.last = line.start;
        part.since = Some(now);
        part.truncated |= line.truncated;
        let room = max.saturating_sub(part.buf.len());
        if msg.len() > room {
            part.buf.extend_from_slice(&msg[..room]);
            if !part.truncated {
                out.truncated_lines += 1;
                part.truncated = true;
            }
        } else {
            part.buf.extend_from_slice(msg);
        }
        if !partial {
            self.finish_part(s, now, out);
        }
    }

    /// The reassembled application line of stream `s` is complete.
    pub(super) fn finish_part(&mut self, s: usize, now: Instant, out: &mut Framed) {
        let part = &mut self.streams[s].part;
        part.active = false;
        part.since = None;
        let buf = std::mem::take(&mut part.buf);
        let span = Span {
            start: part.start,
            last: part.last,
            lines: part.lines,
            first_line: part.first_line,
        };
        let outer = self.inflight.replace(span.start);
        self.logical(s, &buf, span, now, out);
        self.inflight = outer;
        recycle(&mut self.streams[s].part.buf, buf);
        self.release(out);
    }
}
