//! Physical lines: a resumable splitter over the byte stream.
//!
//! Invariant: a line is the bytes between two `\n` terminators, with the terminator (and a
//! `\r` just before it) excluded. A line never holds more than `max` bytes: longer lines are
//! cut to `max` and flagged `truncated`. The splitter's own buffer holds at most `max + 1`
//! bytes (the extra byte is a possible `\r`), whatever the input, so a 100 MB line costs no
//! more memory than a `max`-byte one.
//!
//! Lines that lie wholly inside one pushed chunk are handed on as slices of that chunk
//! (no copy, no allocation); only the unterminated tail of a chunk is copied, and only up
//! to the cap.

use std::time::Instant;

use memchr::memchr;

/// One physical line, borrowed from the input chunk or from the splitter's tail buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The line without its terminator, at most `max` bytes.
    pub bytes: &'a [u8],
    /// Stream offset of the line's first byte.
    pub start: u64,
    /// The line was longer than `max` and was cut.
    pub truncated: bool,
    /// Lines before it since the splitter started (0-based line number).
    pub number: u64,
}

/// Whole lines right after a line that the caller of [`LineSplitter::push_claiming`] dealt
/// with itself: `lines` lines, `bytes` bytes with their terminators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    pub bytes: usize,
    pub lines: u64,
}

impl Claim {
    /// Nothing claimed.
    pub const NONE: Claim = Claim { bytes: 0, lines: 0 };
}

/// Finds the newlines of a stretch of many short lines: the vector search is chosen once for
/// the stretch, where `memchr::memchr` chooses it again on every call (on lines of ~180
/// bytes that choice was a sixth of the search's instructions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Newlines {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl Newlines {
    /// The best search this CPU has.
    #[inline]
    pub(crate) fn new() -> Newlines {
        Newlines {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    /// Offset of the first `\n` in `haystack`.
    #[inline]
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.avx2 {
            return one.find(haystack);
        }
        memchr(b'\n', haystack)
    }
}

/// Splits a byte stream into [`Line`]s, whatever the chunking.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    /// Line length cap.
    max: usize,
    /// Bytes of the current unterminated line, at most `max + 1`.
    buf: Vec<u8>,
    /// The current unterminated line has more bytes than `buf` kept.
    overflow: bool,
    /// Stream offset of the next byte to be pushed.
    offset: u64,
    /// Stream offset where the current unterminated line starts (`offset` when none).
    line_start: u64,
    /// When bytes of the current unterminated line last arrived; `None` when there is none.
    last_input: Option<Instant>,
    /// Lines completed so far (the number of the next line).
    number: u64,
}

/// Above this, the tail buffer is given back after a line is taken from it, so one long line
/// does not pin `max` bytes per file for the rest of the daemon's life.
const KEEP_CAPACITY: usize = 8 * 1024;

impl LineSplitter {
    /// A splitter whose first byte is at stream offset `offset`.
    pub fn new(max: usize, offset: u64) -> LineSplitter {
        LineSplitter {
            max: max.max(1),
            buf: Vec::new(),
            overflow: false,
            offset,
            line_start: offset,
            last_input: None,
            number: 0,
        }
    }

    /// Stream offset where the pending unterminated line starts (or the end of input so far).
    pub fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Line length cap: longer lines are cut.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Stream offset of the next byte to be pushed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// When the pending unterminated line last grew; `None` when no line is pending.
    pub fn pending_since(&self) -> Option<Instant> {
        self.last_input
    }

    /// Capacity of the tail buffer (tests: memory stays bounded).
    #[cfg(test)]
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Feed the next bytes; `f` is called once per completed line, in order.
    #[inline]
    pub fn push(&mut self, input: &[u8], now: Instant, mut f: impl FnMut(Line<'_>)) {
        self.push_claiming(input, now, |line| {
            f(line);
            Claim::NONE
        });
    }

    /// Like [`LineSplitter::push`], but after each line `f` may claim the whole lines that
    /// follow it in `input` (it has dealt with them itself): the splitter skips them, and
    /// still numbers and offsets what comes after exactly.
    #[inline]
    pub fn push_claiming(
        &mut self,
        input: &[u8],
        now: Instant,
        mut f: impl FnMut(Line<'_>) -> Claim,
    ) {
        if input.is_empty() {
            return;
        }
        let base = self.offset;
        self.offset += input.len() as u64;
        let mut pos = 0usize;
        if self.last_input.is_some() {
            match memchr(b'\n', input) {
                None => {
                    self.append(input);
                    self.last_input = Some(now);
                    return;
                }
                Some(i) => {
                    self.append(&input[..i]);
                    let (bytes, truncated) = cut(&self.buf, self.overflow, self.max);
                    let claim = f(Line {
                        bytes,
                        start: self.line_start,
                        truncated,
                        number: self.number,
                    });
                    self.number += 1 + claim.lines;
                    self.reset_tail();
                    pos = i + 1 + claim.bytes;
                }
            }
        }
        let rest = &input[pos..];
        let mut s = 0usize;
        while let Some(i) = memchr(b'\n', &rest[s..]) {
            let i = s + i;
            let (bytes, truncated) = cut(&rest[s..i], false, self.max);
            let claim = f(Line {
                bytes,
                start: base + (pos + s) as u64,
                truncated,
                number: self.number,
            });
            self.number += 1 + claim.lines;
            s = i + 1 + claim.bytes;
        }
        if s < rest.len() {
            self.line_start = base + (pos + s) as u64;
            self.append(&rest[s..]);
            self.last_input = Some(now);
        } else {
            self.line_start = self.offset;
        }
    }

    /// Take the pending unterminated line, if any, as a line (idle timeout, end of input).
    pub fn take_partial(&mut self, mut f: impl FnMut(Line<'_>)) {
        if self.last_input.is_none() {
            return;
        }
        let (bytes, truncated) = cut(&self.buf, self.overflow, self.max);
        f(Line {
            bytes,
            start: self.line_start,
            truncated,
            number: self.number,
        });
        self.number += 1;
        self.reset_tail();
        self.line_start = self.offset;
    }

    fn append(&mut self, data: &[u8]) {
        let room = (self.max + 1).saturating_sub(self.buf.len());
        if data.len() > room {
            self.buf.extend_from_slice(&data[..room]);
            self.overflow = true;
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    fn reset_tail(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf.shrink_to(KEEP_CAPACITY);
        }
        self.overflow = false;
        self.last_input = None;
    }
}

/// The line proper: strip a final `\r`, cut to `max`. `overflow` means bytes beyond `raw` were
/// dropped already, so the line is longer than `max` whatever `raw` ends with.
#[inline]
fn cut(raw: &[u8], overflow: bool, max: usize) -> (&[u8], bool) {
    if overflow {
        return (&raw[..max.min(raw.len())], true);
    }
    let raw = match raw.last() {
        Some(b'\r') => &raw[..raw.len() - 1],
        _ => raw,
    };
    if raw.len() > max {
        (&raw[..max], true)
    } else {
        (raw, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<(Vec<u8>, u64, bool)> {
        let now = Instant::now();
        let mut sp = LineSplitter::new(max, 0);
        let mut got = Vec::new();
        for c in chunks {
            sp.push(c, now, |l| {
                got.push((l.bytes.to_vec(), l.start, l.truncated))
            });
        }
        sp.take_partial(|l| got.push((l.bytes.to_vec(), l.start, l.truncated)));
        got
    }

    #[test]
    fn terminators_are_excluded_and_crlf_is_stripped() {
        let got = split(&[b"a\r\nbb\n\nccc"], 100);
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), 0, false),
                (b"bb".to_vec(), 3, false),
                (b"".to_vec(), 6, false),
                (b"ccc".to_vec(), 7, false),
            ]
        );
    }

    #[test]
    fn crlf_split_across_chunks_is_still_one_terminator() {
        assert_eq!(
            split(&[b"abc\r", b"\nd\n"], 100),
            split(&[b"abc\r\nd\n"], 100)
        );
    }

    #[test]
    fn long_line_is_cut_to_the_cap_and_flagged() {
        let got = split(&[b"0123456789\nok\n"], 4);
        assert_eq!(got[0], (b"0123".to_vec(), 0, true));
        assert_eq!(got[1], (b"ok".to_vec(), 11, false));
    }

    #[test]
    fn cr_just_past_the_cap_does_not_count_as_truncation() {
        // "abcd\r\n" with cap 4: the line is "abcd", exactly at the cap.
        assert_eq!(split(&[b"abcd\r\n"], 4), vec![(b"abcd".to_vec(), 0, false)]);
        assert_eq!(
            split(&[b"ab", b"cd\r", b"\n"], 4),
            vec![(b"abcd".to_vec(), 0, false)]
        );
        assert_eq!(
            split(&[b"ab", b"cde\r", b"\n"], 4),
            vec![(b"abcd".to_vec(), 0, true)]
        );
    }

    #[test]
    fn partial_line_waits_until_taken() {
        let now = Instant::now();
        let mut sp = LineSplitter::new(100, 10);
        let mut n = 0;
        sp.push(b"abc", now, |_| n += 1);
        assert_eq!(n, 0);
        assert_eq!(sp.pending_since(), Some(now));
        assert_eq!(sp.line_start(), 10);
        let mut got = Vec::new();
        sp.take_partial(|l| got.push((l.bytes.to_vec(), l.start)));
        assert_eq!(got, vec![(b"abc".to_vec(), 10)]);
        assert_eq!(sp.pending_since(), None);
        assert_eq!(sp.line_start(), 13);
    }

    #[test]
    fn hundred_megabyte_line_keeps_the_buffer_at_the_cap() {
        let max = 64 * 1024;
        let now = Instant::now();
        let mut sp = LineSplitter::new(max, 0);
        let chunk = vec![b'x'; 64 * 1024];
        let mut got = Vec::new();
        for _ in 0..1600 {
            sp.push(&chunk, now, |l| got.push((l.bytes.len(), l.truncated)));
            assert!(sp.buffer_capacity() <= 2 * (max + 1));
        }
        sp.push(b"\nnext\n", now, |l| got.push((l.bytes.len(), l.truncated)));
        assert_eq!(got, vec![(max, true), (4, false)]);
        assert!(sp.buffer_capacity() <= KEEP_CAPACITY);
    }
}
