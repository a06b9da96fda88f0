//! Line framing: turns the bytes a source reads into complete log records.
//!
//! Pure: no I/O, no clock reads (time is passed in), so it is unit- and property-tested
//! directly. Handles CRLF, invalid UTF-8 (works on bytes), a line length cap (truncate and
//! count, never unbounded memory), CRI `P`/`F` partial-line reassembly, docker json-file
//! unwrapping, and joining multi-line records (pretty-printed JSON bodies, stack traces)
//! bounded by a line cap and a flush timeout.
//!
//! OWNER: sources helper. Keep the public names below; add freely.

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

/// Records produced by a [`Framer`], packed into one buffer (no allocation per record).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Framed {
    /// Record bytes back to back, terminators stripped.
    pub data: Vec<u8>,
    /// End offset in `data` of each record.
    pub ends: Vec<u32>,
    /// Physical lines consumed into the records.
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

/// Turns a byte stream into records. Resumable: feed any chunking, get the same records.
/// (SKELETON: splits on `\n` only; the sources helper replaces it.)
#[derive(Debug)]
pub struct Framer {
    #[allow(dead_code)]
    format: Format,
    limits: FramingLimits,
    pending: Vec<u8>,
    offset: u64,
}

impl Framer {
    /// A framer for one stream.
    pub fn new(format: Format, limits: FramingLimits) -> Framer {
        Framer {
            format,
            limits,
            pending: Vec::new(),
            offset: 0,
        }
    }

    /// Feed the next bytes of the stream; complete records are appended to `out`.
    pub fn push(&mut self, input: &[u8], _now: std::time::Instant, out: &mut Framed) {
        for &b in input {
            self.offset += 1;
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.pending);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                line.truncate(self.limits.max_line_bytes);
                out.data.extend_from_slice(&line);
                out.ends.push(out.data.len() as u32);
                out.lines += 1;
                out.consumed = self.offset;
            } else {
                self.pending.push(b);
            }
        }
    }

    /// Flush what has waited too long (partial last line, pending multi-line record).
    pub fn flush_idle(&mut self, _now: std::time::Instant, _out: &mut Framed) {}

    /// When `flush_idle` next has something to do (`None`: nothing is pending), so a reader
    /// can sleep until then instead of polling.
    pub fn idle_deadline(&self) -> Option<std::time::Instant> {
        None
    }

    /// End of input: everything pending becomes records.
    pub fn finish(&mut self, out: &mut Framed) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            out.data.extend_from_slice(&line);
            out.ends.push(out.data.len() as u32);
            out.lines += 1;
            out.consumed = self.offset;
        }
    }
}
