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
