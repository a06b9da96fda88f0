//! Container log wrappers: CRI (`<time> <stream> <P|F> <message>`) and docker's json-file
//! driver (`{"log":"…\n","stream":"stderr","time":"…"}`).
//!
//! Both split one application line into several wrapper lines when it is long (CRI marks the
//! pieces `P` and the last one `F`; docker leaves the trailing `\n` off all pieces but the
//! last). Parsing here only unwraps one wrapper line and says whether it is such a piece;
//! reassembly per stream is the framer's job.

/// The stream a container line came from. Plain (unwrapped) lines have their own stream, so
/// joining and reassembly never mix lines of different streams.
pub(crate) const PLAIN: usize = 0;
/// Container stdout.
pub(crate) const STDOUT: usize = 1;
/// Container stderr.
pub(crate) const STDERR: usize = 2;

/// One unwrapped CRI line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cri<'a> {
    /// [`STDOUT`] or [`STDERR`].
    pub stream: usize,
    /// A `P` piece: the application line continues in the next piece of this stream.
    pub partial: bool,
    /// The application's bytes.
    pub message: &'a [u8],
}

/// Parse a CRI line; `None` when it is not one. Inlined where every line of a file is asked:
/// the timestamp's shape turns most lines away without a call, and an application's own
/// timestamped line (`2024-05-01T00:00:00.335Z INFO …`) is turned away by the word after the
/// first space, which a CRI line needs to be `stdout` or `stderr`.
#[inline(always)]
pub(crate) fn parse_cri(line: &[u8]) -> Option<Cri<'_>> {
    if !looks_like_rfc3339(line) {
        return None;
    }
    // The first space at 20 or later (an RFC 3339 timestamp is at least 20 bytes).
    let sp = 20 + first_space(&line[20..])?;
    if !line[sp + 1..].starts_with(b"std") {
        // Most timestamped lines (`INFO`, `WARN`) end here.
        return None;
    }
    cri_fields(line, sp)
}

/// Offset of the first space in `t`. It is in the first eight bytes after a timestamp's 20
/// for the usual fractions (none, milli-, micro-seconds) and zones: found there with one
/// word's arithmetic (the lowest byte the zero-byte test flags is the first zero byte,
/// exactly).
#[inline]
fn first_space(t: &[u8]) -> Option<usize> {
    match t.first_chunk::<8>() {
        Some(word) => {
            let x = u64::from_le_bytes(*word) ^ 0x2020_2020_2020_2020;
            let zero = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
            if zero != 0 {
                Some((zero.trailing_zeros() / 8) as usize)
            } else {
                t[8..].iter().position(|&b| b == b' ').map(|i| i + 8)
            }
        }
        None => t.iter().position(|&b| b == b' '),
    }
}

/// The rest of [`parse_cri`], for a line whose first space after its timestamp (at `sp`) is
/// followed by `std`: the stream's name, no space in the timestamp, and tags that start with
/// `P` or `F`. Out of line: only container lines get here.
fn cri_fields(line: &[u8], sp: usize) -> Option<Cri<'_>> {
    let rest = &line[sp + 1..];
    let stream = if rest.starts_with(b"stdout ") {
        STDOUT
    } else if rest.starts_with(b"stderr ") {
        STDERR
    } else {
        return None;
    };
    if line[..20].contains(&b' ') {
        return None;
    }
    let rest = &rest[7..];
    // Tags: `P` or `F`, possibly followed by more `:`-separated tags.
    let tag_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let tags = &rest[..tag_end];
    let first = tags.split(|&b| b == b':').next().unwrap_or(&[]);
    let partial = match first {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let message = if tag_end < rest.len() {
        &rest[tag_end + 1..]
    } else {
        &[][..]
    };
    Some(Cri {
        stream,
        partial,
        message,
    })
}

/// `YYYY-MM-DDTHH:MM:SS…`: enough to tell a CRI timestamp from an application's first word.
#[inline]
fn looks_like_rfc3339(t: &[u8]) -> bool {
    let Some(head) = t.first_chunk::<20>() else {
        return false;
    };
    // Four digits: each byte's high nibble is 3, and adding 6 leaves it 3 (no carry out of
    // the low nibble: it is at most 9).
    let year = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    (year & 0xF0F0_F0F0) == 0x3030_3030
        && (year.wrapping_add(0x0606_0606) & 0xF0F0_F0F0) == 0x3030_3030
        && head[4] == b'-'
        && head[7] == b'-'
        && (head[10] | 0x20) == b't'
        && head[13] == b':'
        && head[16] == b':'
}

/// One unwrapped docker json-file line (the message is written to the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Docker {
    /// [`STDOUT`] or [`STDERR`] (`stdout` when the field is missing).
    pub stream: usize,
    /// The `log` field did not end with `\n`: docker split a long line, more pieces follow.
    pub partial: bool,
    /// It has `stream` and `time` too, as every line docker writes does: what tells a docker
    /// line from an application's own JSON line that happens to start with a `log` key.
    pub complete: bool,
}

/// Parse a docker json-file line, JSON-unescaping its `log` field into `msg` (cleared first)
/// with the trailing `\n` (and a `\r` before it) removed. `None` when it is not one.
pub(crate) fn parse_docker(line: &[u8], msg: &mut Vec<u8>) -> Option<Docker> {
    msg.clear();
    let mut p = Parser { s: line, i: 0 };
    p.ws();
    p.eat(b'{')?;
    let mut stream = STDOUT;
    let mut have_log = false;
    let (mut have_stream, mut have_time) = (false, false);
    p.ws();
    if p.peek() == Some(b'}') {
        return None;
    }
    loop {
        p.ws();
        let key = p.raw_string()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        match key {
            b"log" => {
                if p.peek() != Some(b'"') {
                    return None;
                }
                p.i += 1;
                p.unescape_into(msg)?;
                have_log = true;
            }
            b"stream" => {
                stream = match p.raw_string()? {
                    b"stdout" => STDOUT,
                    b"stderr" => STDERR,
                    _ => return None,
                };
                have_stream = true;
            }
            b"time" => {
                p.skip_value(0)?;
                have_time = true;
            }
            _ => p.skip_value(0)?,
        }
        p.ws();
        match p.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    p.ws();
    if p.i != line.len() || !have_log {
        return None;
    }
    let partial = msg.last() != Some(&b'\n');
    if !partial {
        msg.pop();
        if msg.last() == Some(&b'\r') {
            msg.pop();
        }
    }
    Some(Docker {
        stream,
        partial,
        complete: have_stream && have_time,
    })
}

/// The `log` field of a docker line cut at the length cap (so its JSON is incomplete): as much
/// of the message as the line holds. `None` when the line does not start like docker's.
pub(crate) fn parse_docker_truncated(line: &[u8], msg: &mut Vec<u8>) -> Option<Docker> {
    msg.clear();
    let body = line.strip_prefix(b"{\"log\":\"")?;
    let mut p = Parser { s: body, i: 0 };
    // Stops at the cut (or at the closing quote, if the cut fell after it).
    let _ = p.unescape_into(msg);
    Some(Docker {
        stream: STDOUT,
        partial: false,
        complete: true,
    })
}

/// A minimal JSON reader: just enough for docker's wrapper object, on bytes, no allocation.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

/// Nesting bound for skipped values, so a hostile line cannot recurse deeply.
const MAX_DEPTH: u32 = 32;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// A string's raw bytes (escapes left as they are); the cursor ends past the closing quote.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            let j = memchr::memchr2(b'"', b'\\', &self.s[self.i..])? + self.i;
            if self.s[j] == b'"' {
                self.i = j + 1;
                return Some(&self.s[start..j]);
            }
            self.i = j + 2;
            if self.i > self.s.len() {
                return None;
            }
        }
    }

    /// Unescape a string body (cursor just past the opening quote) into `out`.
    fn unescape_into(&mut self, out: &mut Vec<u8>) -> Option<()> {
        loop {
            let rest = &self.s[self.i..];
            let Some(j) = memchr::memchr2(b'"', b'\\', rest) else {
                // Unterminated: keep what there is (a line cut at the cap).
                out.extend_from_slice(rest);
                self.i = self.s.len();
                return None;
            };
            out.extend_from_slice(&rest[..j]);
            self.i += j + 1;
            if rest[j] == b'"' {
                return Some(());
            }
            match self.next()? {
                b'"' => out.push(b'"'),
                b'\\' => out.push(b'\\'),
                b'/' => out.push(b'/'),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        // A surrogate pair, if the low half follows.
                        if self.s[self.i..].starts_with(b"\\u") {
                            let save = self.i;
                            self.i += 2;
                            let lo = self.hex4()?;
                            if (0xDC00..0xE000).contains(&lo) {
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                self.i = save;
                                None
                            }
                        } else {
                            None
                        }
                    } else {
                        char::from_u32(hi)
                    };
                    let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let mut v = 0u32;
        for &b in h {
            v = v * 16 + (b as char).to_digit(16)?;
        }
        self.i += 4;
        Some(v)
    }

    /// Skip any JSON value (strings, numbers, literals, nested objects and arrays).
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.raw_string()?;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.raw_string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        b if b == close => break,
                        _ => return None,
                    }
                }
            }
            _ => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'a'..=b'z' | b'.' | b'-' | b'+' | b'E')
                ) {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_full_and_partial_lines() {
        let c = parse_cri(b"2024-05-01T12:00:00.123456789Z stderr F hello world").unwrap();
        assert_eq!(
            c,
            Cri {
                stream: STDERR,
                partial: false,
                message: b"hello world"
            }
        );
        let c = parse_cri(b"2024-05-01T12:00:00+02:00 stdout P part").unwrap();
        assert_eq!(
            (c.stream, c.partial, c.message),
            (STDOUT, true, &b"part"[..])
        );
    }

    #[test]
    fn cri_empty_message_and_extra_tags() {
        let c = parse_cri(b"2024-05-01T12:00:00Z stdout F").unwrap();
        assert_eq!(c.message, b"");
        let c = parse_cri(b"2024-05-01T12:00:00Z stdout F:x msg").unwrap();
        assert_eq!((c.partial, c.message), (false, &b"msg"[..]));
    }

    #[test]
    fn not_cri() {
        assert!(parse_cri(b"2024-05-01T12:00:00Z INFO started").is_none());
        assert!(parse_cri(b"2024-05-01 12:00:00 stdout F x").is_none());
        assert!(parse_cri(b"2024-05-01T12:00:00Z stdout X x").is_none());
        assert!(parse_cri(b"hello").is_none());
    }

    /// The CRI format read plainly, a byte at a time: the reference `parse_cri` is held to.
    fn plain_cri(line: &[u8]) -> Option<Cri<'_>> {
        let digits = |r: std::ops::Range<usize>| line[r].iter().all(u8::is_ascii_digit);
        let shaped = line.len() >= 20
            && digits(0..4)
            && line[4] == b'-'
            && line[7] == b'-'
            && matches!(line[10], b'T' | b't')
            && line[13] == b':'
            && line[16] == b':';
        if !shaped || line[..20].contains(&b' ') {
            return None;
        }
        let sp = 20 + line[20..].iter().position(|&b| b == b' ')?;
        let mut words = line[sp + 1..].splitn(3, |&b| b == b' ');
        let stream = match words.next()? {
            b"stdout" => STDOUT,
            b"stderr" => STDERR,
            _ => return None,
        };
        let tags = words.next()?;
        let partial = match tags.split(|&b| b == b':').next()? {
            b"P" => true,
            b"F" => false,
            _ => return None,
        };
        Some(Cri {
            stream,
            partial,
            message: words.next().unwrap_or(&[]),
        })
    }

    #[test]
    fn cri_quick_refusals() {
        assert!(parse_cri(b"2024-05-01T12:00:00.123Z stdout F x").is_some());
        assert!(parse_cri(b"2024-05-01T12:00:00.123456789+02:00 stderr P x").is_some());
        assert!(parse_cri(b"2024-05-01T00:00:00.335Z INFO gunicorn.access").is_none());
        assert!(parse_cri(b"2024-05-01T00:00:00.335Z std").is_none());
        assert!(parse_cri(b"2024-05-01T00:00:00.335Z").is_none());
        assert!(parse_cri(b"20:4-05-01T12:00:00Z stdout F x").is_none());
        assert!(parse_cri(b"2024/05-01T12:00:00Z stdout F x").is_none());
    }

    proptest::proptest! {
        /// `parse_cri` (the year as one word, the first space found a word at a time)
        /// parses as the plain reading of the format does: timestamps of every width and
        /// zone, with bytes around the digits, spaces and stream names changed.
        #[test]
        fn parse_cri_reads_the_format_plainly(
            year in "[0-9:/;?*]{4}",
            rest in "-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
            gap in "( |  |\t|)",
            stream in "(stdout|stderr|std|stdou|INFO|s|)",
            tail in "( [PF](:[a-z]+)?( .{0,8})?| x|)",
        ) {
            let line = format!("{year}{rest}{gap}{stream}{tail}");
            proptest::prop_assert_eq!(
                parse_cri(line.as_bytes()),
                plain_cri(line.as_bytes()),
                "{:?}",
                line
            );
        }
    }

    #[test]
    fn docker_unwraps_and_unescapes() {
        let mut m = Vec::new();
        let line = br#"{"log":"{\"reason\":\"Invalid authorization code\",\"error\":\"invalid_grant\"}\n","stream":"stderr","time":"2024-05-01T12:00:00.1Z"}"#;
        let d = parse_docker(line, &mut m).unwrap();
        assert_eq!(
            d,
            Docker {
                stream: STDERR,
                partial: false,
                complete: true,
            }
        );
        assert_eq!(
            m,
            br#"{"reason":"Invalid authorization code","error":"invalid_grant"}"#
        );
    }

    #[test]
    fn docker_piece_without_newline_is_partial() {
        let mut m = Vec::new();
        let d = parse_docker(br#"{"log":"abc","stream":"stdout","time":"t"}"#, &mut m).unwrap();
        assert!(d.partial);
        assert_eq!(m, b"abc");
    }

    #[test]
    fn docker_escapes_unicode_and_surrogates() {
        let mut m = Vec::new();
        parse_docker(
            br#"{"log":"caf\u00e9 \ud83d\ude00 \ud800 tab\tq\"\\\/\r\n"}"#,
            &mut m,
        )
        .unwrap();
        assert_eq!(m, "café 😀 \u{FFFD} tab\tq\"\\/".as_bytes());
    }

    #[test]
    fn docker_skips_other_fields_in_any_order() {
        let mut m = Vec::new();
        let d = parse_docker(
            br#"{"stream":"stderr","attrs":{"a":[1,{"b":"}"}],"n":null},"log":"x\n","time":"t"}"#,
            &mut m,
        )
        .unwrap();
        assert_eq!((d.stream, d.partial), (STDERR, false));
        assert_eq!(m, b"x");
    }

    #[test]
    fn truncated_docker_line_keeps_its_message() {
        let mut m = Vec::new();
        let d = parse_docker_truncated(br#"{"log":"abc\"def\u00"#, &mut m).unwrap();
        assert!(!d.partial);
        assert_eq!(m, br#"abc"def"#);
        parse_docker_truncated(br#"{"log":"abc\"defgh"#, &mut m).unwrap();
        assert_eq!(m, br#"abc"defgh"#);
        assert!(parse_docker_truncated(b"{\"x\":1", &mut m).is_none());
    }

    #[test]
    fn not_docker() {
        let mut m = Vec::new();
        assert!(parse_docker(br#"{"log":"unterminated"#, &mut m).is_none());
        assert!(parse_docker(br#"{"log":"x"} trailing"#, &mut m).is_none());
        assert!(parse_docker(br#"{"msg":"no log field"}"#, &mut m).is_none());
        assert!(parse_docker(br#"{"log":"bad \q escape"}"#, &mut m).is_none());
        assert!(parse_docker(br#"{"log":"x","stream":"other"}"#, &mut m).is_none());
    }
}
