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
//!
//! # Files
//! `mod.rs` the API (formats, limits, [`Framer`], [`Framed`]) and the per-line dispatch;
//! `lines.rs` line splitting; `container.rs` CRI/docker parsing and `reassembly.rs` joining
//! their pieces; `multiline.rs` the multi-line rules and `holding.rs` the record they hold
//! open; `ordering.rs` the cross-stream hold; `sparse.rs` [`Framer::push_sparse`], which
//! counts candidate-free one-line records instead of copying them (the batch path).

mod container;
mod holding;
mod lines;
mod multiline;
mod ordering;
mod reassembly;
mod sparse;
pub use sparse::is_one_line_record;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use container::PLAIN;
use holding::OpenRecord;
use lines::{Line, LineSplitter};
use ordering::Held;
use reassembly::Reassembly;

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
    /// Line number (0-based, counted from where the framer started) of each record's first
    /// physical line, parallel to `ends`.
    pub first_lines: Vec<u64>,
    /// Records framed and counted but left out of `data`, because they hold no candidate
    /// literal ([`Framer::push_sparse`]); `ends.len() + skipped_records` is the record count.
    pub skipped_records: u64,
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
        self.first_lines.clear();
        self.skipped_records = 0;
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
    rec: OpenRecord,
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
    /// Line number (0-based, from where the framer started) of its first physical line.
    first_line: u64,
}

impl Span {
    fn line(line: &Line<'_>) -> Span {
        Span {
            start: line.start,
            last: line.start,
            lines: 1,
            first_line: line.number,
        }
    }
}

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
            Format::Plain => self.logical(PLAIN, line.bytes, Span::line(&line), now, out),
            Format::Json => {
                if multiline::is_blank(line.bytes) {
                    self.drop_line(Span::line(&line), out);
                } else {
                    self.emit(line.bytes, Span::line(&line), out);
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
                    self.logical(PLAIN, line.bytes, Span::line(&line), now, out)
                }
            }
        }
    }
}
