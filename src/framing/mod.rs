//! Framing: turns the bytes a source reads into complete log records.
//!
//! Pure: no I/O, no clock reads (time is passed in), so it is unit- and property-tested
//! directly. The shape follows mini-redis' `frame.rs`: the caller owns the reading and loops
//! "read a chunk, [`Framer::push`] it"; the framer keeps only what it must between chunks.
//!
//! # Invariants
//! - **A record** is one log event, terminators excluded: one physical line, or several
//!   joined with `\n` (a pretty-printed JSON body, a message and its stack trace), or one
//!   application line reassembled from container pieces (CRI `P`…`F`, docker's 16 KiB
//!   splits), unwrapped from its CRI/docker wrapper. Bytes are passed through as they are
//!   (invalid UTF-8 included); a trailing `\r` before `\n` is dropped. Blank lines are
//!   counted but make no record.
//! - **Resumable:** any chunking of the same input gives exactly the same records and
//!   counters, as long as time-based flushes ([`Framer::flush_idle`]) are not involved.
//! - **Bounded:** a line is cut at `max_line_bytes` (and counted in `truncated_lines`); the
//!   framer never buffers more than `max_line_bytes + 1` bytes of a pending line, however
//!   long the line, nor more than [`FramingLimits::max_record_bytes`] of a record (a
//!   longer one is split and counted), nor more than that again (or 64 Ki entries) of records
//!   held back behind another stream's pending record (past it, pending records are flushed).
//! - **`consumed`** ([`Framed::consumed`]) is the checkpoint offset: every input byte before it
//!   belongs to an emitted record (or a blank line already counted), and no byte of an emitted
//!   record lies after it. A pending partial line, a pending container piece and a pending
//!   multi-line record are *not* consumed, nor is anything after them. A graceful stop
//!   checkpoints `consumed`; after a restart the rest is read again, whole, and framed into
//!   exactly the records an uninterrupted run would have made: nothing lost, nothing counted
//!   twice. When stdout and stderr interleave (CRI, docker), a complete record of one stream
//!   is held back while a record of the other stream that began before its last line is
//!   pending, so records come out in input order and the guarantee holds there too. (One
//!   exception: the tail of a record split at `max_record_lines`/`max_record_bytes` may be
//!   framed differently after a restart, since the framer no longer knows it continues.)
//!
//! # Time
//! A partial last line waits for its newline; [`Framer::flush_idle`] takes it as a line after
//! `partial_line_timeout` without new bytes (a CRI/docker piece likewise waits for the rest
//! of its line). A held multi-line record waits for its next line, then is emitted, or is
//! flushed by `flush_idle` after `multiline_timeout` (or the shorter continuation grace, see
//! [`Framer::with_continuation_grace`]). Call `flush_idle` when there is nothing more to read
//! now; [`Framer::idle_deadline`] says when, so a reader sleeps instead of polling:
//!
//! ```text
//! loop {
//!     match read(chunk) {
//!         n > 0 => framer.push(&chunk[..n], now, &mut out),
//!         0     => { sleep until new bytes or framer.idle_deadline();
//!                    framer.flush_idle(now, &mut out) }
//!         EOF of a finished input => framer.finish(&mut out),
//!     }
//!     send out.records(), checkpoint out.consumed once they are acknowledged; out.clear()
//! }
//! ```
//!
//! # Multi-line records
//! Ordinary lines are emitted at their newline; only a line that says more may follow is
//! held: it ends with an open `{`/`[` or a `:`, or it is an exception header or a logger's
//! `ERROR`/`WARN`/… message line (which a stack trace may follow). The rules, and what
//! waits how long, are in `multiline.rs`. Joining works on the unwrapped messages, per
//! stream, so it applies inside CRI and docker wrappers too; the `json` format never joins.

mod container;
mod lines;
mod multiline;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use container::PLAIN;
use lines::{Line, LineSplitter};
use multiline::{Next, Shape, Start};

/// How a source's lines are wrapped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Detect per line: CRI, docker json-file, or plain.
    #[default]
    Auto,
    /// Lines as written by the application.
    Plain,
    /// One JSON object per line (the application's own structured log).
    Json,
    /// Container runtime interface: `<time> <stream> <P|F> <message>`.
    Cri,
    /// Docker json-file driver: `{"log":"…","stream":"…","time":"…"}`.
    Docker,
}

impl Format {
    /// The config spelling: `auto`, `plain`, `json`, `cri`, `docker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Cri => "cri",
            Format::Docker => "docker",
        }
    }

    /// Parse the config spelling.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "auto" => Format::Auto,
            "plain" => Format::Plain,
            "json" => Format::Json,
            "cri" => Format::Cri,
            "docker" => Format::Docker,
            _ => return None,
        })
    }
}

/// Bounds that keep framing memory finite whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingLimits {
    /// A line longer than this is truncated to it (and counted).
    pub max_line_bytes: usize,
    /// A multi-line record holds at most this many lines before it is flushed.
    pub max_record_lines: usize,
    /// A pending multi-line record is flushed after this long without a continuation.
    pub multiline_timeout: std::time::Duration,
    /// A last line without newline is taken as a line after this long without more bytes.
    pub partial_line_timeout: std::time::Duration,
}

impl Default for FramingLimits {
    fn default() -> Self {
        FramingLimits {
            max_line_bytes: 64 * 1024,
            max_record_lines: 500,
            multiline_timeout: std::time::Duration::from_millis(500),
            partial_line_timeout: std::time::Duration::from_secs(5),
        }
    }
}

impl FramingLimits {
    /// The byte bound of one multi-line record: 16 lines at the cap (at least 1 MiB), so a
    /// record of many short lines is bounded by `max_record_lines` and one of long lines by
    /// this. A record that would grow past it is split (and counted in `split_records`).
    pub fn max_record_bytes(&self) -> usize {
        self.max_line_bytes.saturating_mul(16).max(1 << 20)
    }
}

/// Records produced by a [`Framer`], packed into one buffer (no allocation per record).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Framed {
    /// Record bytes back to back, terminators stripped.
    pub data: Vec<u8>,
    /// End offset in `data` of each record.
    pub ends: Vec<u32>,
    /// Physical input lines accounted for: those of the records in `data` (every wrapper
    /// piece and joined line counts), and blank lines, which make no record.
    pub lines: u64,
    /// Input bytes fully accounted for by emitted records (for checkpoints): everything pushed
    /// before this offset belongs to a record already in `data` (or to a dropped line).
    pub consumed: u64,
    /// Lines cut at `max_line_bytes`.
    pub truncated_lines: u64,
    /// Multi-line records split at `max_record_lines`.
    pub split_records: u64,
    /// Container wrapper lines that could not be parsed (passed on as plain lines).
    pub malformed_wrappers: u64,
}

impl Framed {
    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let r = &self.data[start..end as usize];
            start = end as usize;
            r
        })
    }

    /// Forget the records (keep the buffers' capacity).
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.lines = 0;
        self.truncated_lines = 0;
        self.split_records = 0;
        self.malformed_wrappers = 0;
    }
}

/// How long a record held on a hint (an exception header, an `ERROR` message line, a stack
/// trace's last frame) waits for its next line, when `multiline_timeout` is longer. A logger
/// writes a message and its trace in one call (and a container runtime writes the lines of
/// one read back to back), so the rest is already there or arrives within a millisecond;
/// waiting longer would only delay the record. 2 ms keeps such a line well inside the 10 ms
/// append-to-metric budget (`benches/daemon.sh` measured a 3.4 ms median with 2 ms, and
/// 11.5 ms with 5 ms).
pub const DEFAULT_CONTINUATION_GRACE: Duration = Duration::from_millis(2);

/// Turns a byte stream into records. Resumable: feed any chunking, get the same records.
#[derive(Debug)]
pub struct Framer {
    lines: LineSplitter,
    st: State,
}

/// Everything but the line splitter, so a line borrowed from the splitter can be handed to it.
#[derive(Debug)]
struct State {
    format: Format,
    limits: FramingLimits,
    grace: Duration,
    /// Plain, stdout, stderr: reassembly and joining never mix streams.
    streams: [Stream; 3],
    /// Complete records waiting for an earlier pending record of another stream.
    held: Held,
    /// Unescaped docker `log` field.
    scratch: Vec<u8>,
    /// The `now` of the last push or flush (for lines taken by `finish`).
    last_now: Option<Instant>,
    /// Start of a reassembled container line being joined or emitted right now: it began
    /// before lines already seen, so records after it must wait for it like for a pending one.
    inflight: Option<u64>,
}

#[derive(Debug, Default)]
struct Stream {
    part: Reassembly,
    rec: Pending,
}

/// Where a line or record lies in the input: what `consumed` and the hold are computed from.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Offset of its first physical line.
    start: u64,
    /// Offset of its last physical line.
    last: u64,
    /// Physical lines in it.
    lines: u32,
}

impl Span {
    fn line(start: u64) -> Span {
        Span {
            start,
            last: start,
            lines: 1,
        }
    }
}

/// Container pieces (CRI `P`, docker without `\n`) of one application line.
#[derive(Debug, Default)]
struct Reassembly {
    active: bool,
    buf: Vec<u8>,
    start: u64,
    last: u64,
    lines: u32,
    truncated: bool,
    since: Option<Instant>,
}

/// A held multi-line record.
#[derive(Debug, Default)]
struct Pending {
    active: bool,
    buf: Vec<u8>,
    start: u64,
    /// Offset of its last physical line.
    last: u64,
    /// Physical lines in it.
    lines: u32,
    /// Logical lines joined (what `max_record_lines` bounds).
    joined: u32,
    /// The rest of a record split at a bound: its first line is not a record's first line.
    split: bool,
    shape: Shape,
    deadline: Option<Instant>,
}

#[derive(Debug, Default)]
struct Held {
    data: Vec<u8>,
    recs: Vec<HeldRec>,
}

#[derive(Debug, Clone, Copy)]
struct HeldRec {
    start: u64,
    last: u64,
    from: usize,
    to: usize,
    lines: u32,
    /// `false`: a dropped blank line, held only for its line count.
    record: bool,
}

/// Most records (or blank lines) held behind a pending record of another stream; past this (or
/// past `max_record_bytes` of them) the pending records are flushed as they are.
const MAX_HELD: usize = 64 * 1024;

/// Above this, a record buffer is given back after use (one huge record does not pin memory).
const KEEP_CAPACITY: usize = 16 * 1024;

/// Put a buffer that was taken out for use back in `slot`, empty, keeping at most
/// `KEEP_CAPACITY` of it (one huge record must not pin its memory for ever).
fn recycle(slot: &mut Vec<u8>, used: Vec<u8>) {
    *slot = used;
    recycle_in_place(slot);
}

/// Empty `buf`, keeping at most `KEEP_CAPACITY` of its capacity.
fn recycle_in_place(buf: &mut Vec<u8>) {
    buf.clear();
    if buf.capacity() > KEEP_CAPACITY {
        buf.shrink_to(KEEP_CAPACITY);
    }
}

impl Framer {
    /// A framer for one stream.
    pub fn new(format: Format, limits: FramingLimits) -> Framer {
        let limits = FramingLimits {
            max_line_bytes: limits.max_line_bytes.max(1),
            max_record_lines: limits.max_record_lines.max(1),
            ..limits
        };
        Framer {
            lines: LineSplitter::new(limits.max_line_bytes, 0),
            st: State {
                format,
                limits,
                grace: DEFAULT_CONTINUATION_GRACE,
                streams: Default::default(),
                held: Held::default(),
                scratch: Vec::new(),
                last_now: None,
                inflight: None,
            },
        }
    }

    /// Number the stream's bytes from `offset` (the file offset reading resumes at), so
    /// [`Framed::consumed`] is a file offset. Call before the first push.
    pub fn starting_at(mut self, offset: u64) -> Framer {
        self.lines = LineSplitter::new(self.st.limits.max_line_bytes, offset);
        self
    }

    /// How long a record held only on a hint waits for a continuation (default
    /// [`DEFAULT_CONTINUATION_GRACE`], never more than `multiline_timeout`).
    pub fn with_continuation_grace(mut self, grace: Duration) -> Framer {
        self.st.grace = grace;
        self
    }

    /// The checkpoint offset now (the same value `push`/`flush_idle`/`finish` leave in
    /// [`Framed::consumed`]).
    pub fn consumed(&self) -> u64 {
        let mut c = self.lines.line_start();
        if let Some(m) = self.st.min_pending() {
            c = c.min(m);
        }
        if let Some(m) = self.st.held.min_start() {
            c = c.min(m);
        }
        c
    }

    /// Feed the next bytes of the stream; complete records are appended to `out`.
    pub fn push(&mut self, input: &[u8], now: Instant, out: &mut Framed) {
        self.st.last_now = Some(now);
        let st = &mut self.st;
        self.lines
            .push(input, now, |line| st.on_line(line, now, out));
        self.st.release(out);
        out.consumed = self.consumed();
    }

    /// Flush what has waited too long (partial last line, pending multi-line record).
    pub fn flush_idle(&mut self, now: std::time::Instant, out: &mut Framed) {
        self.st.last_now = Some(now);
        let limits = self.st.limits;
        if self
            .lines
            .pending_since()
            .is_some_and(|t| t + limits.partial_line_timeout <= now)
        {
            let st = &mut self.st;
            self.lines.take_partial(|line| st.on_line(line, now, out));
        }
        for s in 0..self.st.streams.len() {
            let p = &self.st.streams[s].part;
            if p.active
                && p.since
                    .is_some_and(|t| t + limits.partial_line_timeout <= now)
            {
                self.st.finish_part(s, now, out);
            }
        }
        for s in 0..self.st.streams.len() {
            let r = &self.st.streams[s].rec;
            if r.active && r.deadline.is_some_and(|t| t <= now) {
                self.st.complete(s, out);
            }
        }
        self.st.release(out);
        out.consumed = self.consumed();
    }

    /// When `flush_idle` next has something to do (`None`: nothing is pending), so a reader
    /// can sleep until then instead of polling.
    pub fn idle_deadline(&self) -> Option<std::time::Instant> {
        let t = self.st.limits.partial_line_timeout;
        let mut d = self.lines.pending_since().map(|s| s + t);
        for st in &self.st.streams {
            if st.part.active {
                d = earliest(d, st.part.since.map(|s| s + t));
            }
            if st.rec.active {
                d = earliest(d, st.rec.deadline);
            }
        }
        d
    }

    /// End of input: everything pending becomes records.
    pub fn finish(&mut self, out: &mut Framed) {
        if let Some(now) = self.st.last_now {
            let st = &mut self.st;
            self.lines.take_partial(|line| st.on_line(line, now, out));
            self.st.flush_all(now, out);
        }
        self.st.release(out);
        out.consumed = self.consumed();
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl State {
    /// One physical line: unwrap it as the format says, then reassemble and join.
    #[inline]
    fn on_line(&mut self, line: Line<'_>, now: Instant, out: &mut Framed) {
        if line.truncated {
            out.truncated_lines += 1;
        }
        match self.format {
            Format::Plain => self.logical(PLAIN, line.bytes, Span::line(line.start), now, out),
            Format::Json => {
                if multiline::is_blank(line.bytes) {
                    self.drop_line(Span::line(line.start), out);
                } else {
                    self.emit(line.bytes, Span::line(line.start), out);
                }
            }
            Format::Cri => self.cri(line, true, now, out),
            Format::Docker => self.docker(line, true, now, out),
            Format::Auto => {
                if line.bytes.starts_with(b"{\"log\":") {
                    self.docker(line, false, now, out)
                } else if line.bytes.first().is_some_and(u8::is_ascii_digit) {
                    self.cri(line, false, now, out)
                } else {
                    self.logical(PLAIN, line.bytes, Span::line(line.start), now, out)
                }
            }
        }
    }

    /// A CRI line; one that does not parse is a plain line (counted if CRI was expected).
    fn cri(&mut self, line: Line<'_>, expected: bool, now: Instant, out: &mut Framed) {
        match container::parse_cri(line.bytes) {
            Some(c) => self.piece(c.stream, c.message, c.partial, line, now, out),
            None => {
                if expected {
                    out.malformed_wrappers += 1;
                }
                self.logical(PLAIN, line.bytes, Span::line(line.start), now, out)
            }
        }
    }

    /// A docker json-file line; one that does not parse is a plain line, counted. When the
    /// format is `auto` (not `expected`), a line without docker's `stream` and `time` keys is
    /// the application's own JSON and stays as it is.
    fn docker(&mut self, line: Line<'_>, expected: bool, now: Instant, out: &mut Framed) {
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
            Some(_) => self.logical(PLAIN, line.bytes, Span::line(line.start), now, out),
            None => {
                out.malformed_wrappers += 1;
                self.logical(PLAIN, line.bytes, Span::line(line.start), now, out)
            }
        }
        msg.clear();
        self.scratch = msg;
    }

    /// An unwrapped container message: a piece of a longer line, or a whole line.
    fn piece(
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
            return self.logical(s, msg, Span::line(line.start), now, out);
        }
        if !part.active {
            part.active = true;
            part.start = line.start;
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
    fn finish_part(&mut self, s: usize, now: Instant, out: &mut Framed) {
        let part = &mut self.streams[s].part;
        part.active = false;
        part.since = None;
        let buf = std::mem::take(&mut part.buf);
        let span = Span {
            start: part.start,
            last: part.last,
            lines: part.lines,
        };
        let outer = self.inflight.replace(span.start);
        self.logical(s, &buf, span, now, out);
        self.inflight = outer;
        recycle(&mut self.streams[s].part.buf, buf);
        self.release(out);
    }

    /// One logical (application) line of stream `s`, made of `lines` physical lines starting
    /// at `start`: join it to the held record, or start a record with it.
    #[inline]
    fn logical(&mut self, s: usize, msg: &[u8], span: Span, now: Instant, out: &mut Framed) {
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
                let rec = &mut self.streams[s].rec;
                rec.active = true;
                rec.buf.clear();
                rec.buf.extend_from_slice(msg);
                rec.start = span.start;
                rec.last = span.last;
                rec.lines = span.lines;
                rec.joined = 1;
                rec.split = false;
                rec.shape = shape;
                rec.deadline = Some(deadline);
            }
        }
    }

    /// How long a held record may wait for its next line.
    fn wait(&self, shape: &Shape, joined: u32) -> Duration {
        if shape.expects_more(joined) {
            self.limits.multiline_timeout
        } else {
            self.grace.min(self.limits.multiline_timeout)
        }
    }

    /// Append a continuation to the held record of stream `s`, splitting at the bounds.
    fn join(&mut self, s: usize, msg: &[u8], span: Span, now: Instant, out: &mut Framed) {
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
            let rec = &mut self.streams[s].rec;
            rec.active = true;
            rec.buf.clear();
            rec.buf
                .extend_from_slice(&msg[..msg.len().min(self.limits.max_line_bytes)]);
            rec.start = span.start;
            rec.last = span.last;
            rec.lines = span.lines;
            rec.joined = 1;
            rec.split = true;
            rec.shape = shape;
            rec.deadline = Some(deadline);
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
    fn complete(&mut self, s: usize, out: &mut Framed) {
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
        };
        self.emit(&buf, span, out);
        recycle(&mut self.streams[s].rec.buf, buf);
        self.release(out);
    }

    /// A blank line makes no record, but is counted with the records around it, so a
    /// restart from `consumed` neither loses nor repeats it.
    fn drop_line(&mut self, span: Span, out: &mut Framed) {
        if self.held.recs.is_empty() && self.min_pending().is_none_or(|m| span.last < m) {
            out.lines += u64::from(span.lines);
        } else {
            self.hold(None, span, out);
        }
    }

    /// Hand on a complete record, unless a pending record (of another stream) began before its
    /// last line: then hold it, so a record is emitted only once everything before its last
    /// line is, and `consumed` stays exact.
    #[inline]
    fn emit(&mut self, rec: &[u8], span: Span, out: &mut Framed) {
        if self.held.recs.is_empty() && self.min_pending().is_none_or(|m| span.last < m) {
            out.data.extend_from_slice(rec);
            out.ends.push(out.data.len() as u32);
            out.lines += u64::from(span.lines);
            return;
        }
        self.hold(Some(rec), span, out);
    }

    /// Keep a complete record (or, with `None`, a dropped line's count) until the pending
    /// records before it are emitted.
    fn hold(&mut self, rec: Option<&[u8]>, span: Span, out: &mut Framed) {
        let Span { start, last, lines } = span;
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
    fn flush_all(&mut self, now: Instant, out: &mut Framed) {
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
    fn release(&mut self, out: &mut Framed) {
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
    fn min_pending(&self) -> Option<u64> {
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
    fn min_start(&self) -> Option<u64> {
        self.recs.iter().map(|r| r.start).min()
    }
}
