//! Physical line numbers for framed records, for `scan`'s first/last line.
//!
//! Framing does not say where each record started, and its records skip blank lines (counted,
//! in no record) and may absorb them. But every record starts on a non-blank line and holds
//! its non-blank lines in input order, joined with `\n`. So [`LineMap`] notes, for each raw
//! input line, whether it is blank, and walks it: a record's first line is the next non-blank
//! line after those of the records before it. Exact for plain and JSON-lines input; container
//! wrappers (CRI, docker) change what a raw line holds, so for them the caller falls back to
//! counting records and inner newlines.

/// Which raw lines are blank, and a cursor that walks the non-blank ones.
#[derive(Debug, Default)]
pub struct LineMap {
    /// Bit `k` set: raw line `first + k` (0-based) is not blank.
    bits: Vec<u64>,
    /// Raw line index of bit 0.
    first: u64,
    /// Raw lines recorded.
    len: u64,
    /// The last line has no newline yet; whether it has a non-blank byte so far.
    partial: Option<bool>,
    /// Raw line index of the next line not yet taken by a record.
    cursor: u64,
}

fn blank_byte(b: u8) -> bool {
    b.is_ascii_whitespace()
}

impl LineMap {
    /// Note the raw lines in the next bytes of the input.
    pub fn push(&mut self, chunk: &[u8]) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let line = &chunk[start..nl];
            let nonblank = self.partial.take().unwrap_or(false)
                || line.first().is_some_and(|&b| !blank_byte(b))
                || line.iter().any(|&b| !blank_byte(b));
            self.record(nonblank);
            start = nl + 1;
        }
        if start < chunk.len() {
            let rest = &chunk[start..];
            let nonblank = rest.iter().any(|&b| !blank_byte(b));
            self.partial = Some(self.partial.unwrap_or(false) || nonblank);
        }
    }

    /// End of input: a last line without newline is a line.
    pub fn finish(&mut self) {
        if let Some(nonblank) = self.partial.take() {
            self.record(nonblank);
        }
    }

    fn record(&mut self, nonblank: bool) {
        let k = self.len - self.first;
        let (word, bit) = ((k / 64) as usize, k % 64);
        if word == self.bits.len() {
            self.bits.push(0);
        }
        if nonblank {
            self.bits[word] |= 1 << bit;
        }
        self.len += 1;
    }

    fn is_nonblank(&self, line: u64) -> bool {
        let k = line - self.first;
        self.bits[(k / 64) as usize] & (1 << (k % 64)) != 0
    }

    /// Move the cursor past `n` non-blank lines (and the blank lines among them).
    pub fn advance(&mut self, mut n: u64) {
        while n > 0 && self.cursor < self.len {
            let k = self.cursor - self.first;
            let (word, bit) = ((k / 64) as usize, k % 64);
            let avail = (64 - bit).min(self.len - self.cursor);
            let rest = (self.bits[word] >> bit) & mask(avail);
            let ones = u64::from(rest.count_ones());
            if ones < n {
                n -= ones;
                self.cursor += avail;
                continue;
            }
            // The n-th non-blank line is in this word: step just past it.
            let mut r = rest;
            let mut step = 0;
            while n > 0 {
                if r & 1 != 0 {
                    n -= 1;
                }
                r >>= 1;
                step += 1;
            }
            self.cursor += step;
        }
        self.compact();
    }

    /// Everything recorded so far is taken (an input whose records were numbered otherwise).
    pub fn take_all(&mut self) {
        self.cursor = self.len;
        self.compact();
    }

    /// Skip blank lines; the 1-based number of the line the cursor is on (the next record's
    /// first line).
    pub fn next_record_line(&mut self) -> u64 {
        while self.cursor < self.len && !self.is_nonblank(self.cursor) {
            self.cursor += 1;
        }
        self.cursor + 1
    }

    /// Forget whole words the cursor has passed, so memory stays bounded on huge inputs.
    fn compact(&mut self) {
        let passed_words = ((self.cursor - self.first) / 64) as usize;
        if passed_words >= 1024 {
            self.bits.drain(..passed_words);
            self.first += passed_words as u64 * 64;
        }
    }
}

fn mask(n: u64) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Non-blank lines a run of records holds beyond its first lines: the `\n`-joined segments
/// after each `\n` that are not blank. `data` is records back to back; a segment ends at the
/// next `\n` or at the end of its record (`ends`, absolute offsets into the batch, with
/// `offset` the position of `data` in the batch).
pub fn inner_nonblank(data: &[u8], offset: usize, ends: &[u32]) -> u64 {
    let mut n = 0;
    for nl in memchr::memchr_iter(b'\n', data) {
        let abs = offset + nl;
        let record_end = ends[ends.partition_point(|&e| (e as usize) <= abs)] as usize - offset;
        let seg_end =
            memchr::memchr(b'\n', &data[nl + 1..record_end]).map_or(record_end, |p| nl + 1 + p);
        if data[nl + 1..seg_end].iter().any(|&b| !blank_byte(b)) {
            n += 1;
        }
    }
    n
}

/// True when the input looks wrapped by a container runtime (CRI or docker json-file), so that
/// raw lines are not the application's lines.
pub fn looks_containerized(chunk: &[u8]) -> bool {
    let Some(line) = chunk
        .split(|&b| b == b'\n')
        .find(|l| l.iter().any(|&b| !blank_byte(b)))
    else {
        return false;
    };
    if line.starts_with(br#"{"log":"#) {
        return true;
    }
    let mut parts = line.splitn(4, |&b| b == b' ');
    let _time = parts.next();
    matches!(
        (parts.next(), parts.next()),
        (Some(b"stdout" | b"stderr"), Some(b"F" | b"P"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(input: &[u8]) -> LineMap {
        let mut m = LineMap::default();
        m.push(input);
        m.finish();
        m
    }

    #[test]
    fn walks_non_blank_lines() {
        let mut m = map(b"a\n\n\nb\nc\n\nd");
        assert_eq!(m.next_record_line(), 1);
        m.advance(1);
        assert_eq!(m.next_record_line(), 4);
        m.advance(2); // a record of two lines: b, c
        assert_eq!(m.next_record_line(), 7);
    }

    #[test]
    fn any_chunking_gives_the_same_map() {
        let input = b"x\n  \n\r\ny\n\tz\n\n";
        let whole = map(input);
        for cut in 0..input.len() {
            let mut m = LineMap::default();
            m.push(&input[..cut]);
            m.push(&input[cut..]);
            m.finish();
            assert_eq!(m.bits, whole.bits, "cut at {cut}");
            assert_eq!(m.len, whole.len);
        }
    }

    #[test]
    fn advance_crosses_words_and_compacts() {
        let mut input = Vec::new();
        for i in 0..200_000 {
            input.extend_from_slice(if i % 3 == 0 { b"\n" } else { b"l\n" });
        }
        let mut m = map(&input);
        // Non-blank lines are those with i % 3 != 0: the k-th (0-based) is at line
        // 1 + k + k/2 + 1 (1-based).
        let mut taken = 0u64;
        for step in [1u64, 5, 63, 64, 65, 1000, 70_000] {
            m.advance(step);
            taken += step;
            let want = taken + taken / 2 + 2;
            assert_eq!(m.next_record_line(), want, "after {taken}");
        }
        assert!(m.bits.len() < 200_000 / 64, "compacted");
    }

    #[test]
    fn inner_segments_count_only_non_blank_lines() {
        let data = b"a\nb\n\nc  \n x";
        let ends = [data.len() as u32];
        assert_eq!(inner_nonblank(data, 0, &ends), 3);
        // Two records, "a\nb" and "c\n": the second's segment after `\n` is empty.
        let data = b"a\nbc\n";
        let ends = [3u32, 5];
        assert_eq!(inner_nonblank(data, 0, &ends), 1);
        // A range that starts inside the batch.
        assert_eq!(inner_nonblank(&data[3..], 3, &ends), 0);
    }

    #[test]
    fn recognises_container_wrappers() {
        assert!(looks_containerized(
            b"2024-05-01T10:00:00.1Z stderr F hello\n"
        ));
        assert!(looks_containerized(
            b"\n{\"log\":\"hi\\n\",\"stream\":\"stdout\"}\n"
        ));
        assert!(!looks_containerized(b"2024-05-01T10:00:00Z INFO hello\n"));
    }
}
