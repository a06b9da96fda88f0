//! Is an input mostly text? A log line is text; a core dump, a tarball or compressed bytes in
//! a format we do not decode are not, and scanning them finds nothing, silently. The commands
//! warn, naming the file, when the start of an input (after decompression) is mostly not text.
//!
//! Judged on the first [`SAMPLE_BYTES`] of each input, so the check costs nothing on large
//! files: a byte is "not text" when it is a control character other than tab, newline,
//! carriage return, form feed, vertical tab and escape (colour codes), or part of an invalid
//! UTF-8 sequence. Random or compressed bytes score about 60%, logs about 0%; the warning
//! fires above [`NOT_TEXT_PERCENT`].

/// Bytes of each input looked at.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// Share of non-text bytes (in percent) above which an input is "mostly not text".
pub const NOT_TEXT_PERCENT: u64 = 30;

/// Tallies the first [`SAMPLE_BYTES`] of an input, fed in chunks.
#[derive(Debug, Default, Clone)]
pub struct TextSample {
    seen: usize,
    not_text: usize,
    /// The sample's last bytes when they may start a UTF-8 sequence cut by the chunk end.
    carry: Vec<u8>,
}

impl TextSample {
    /// Look at the next bytes of the input (only until the sample is full).
    pub fn push(&mut self, chunk: &[u8]) {
        if self.seen >= SAMPLE_BYTES {
            return;
        }
        let take = chunk.len().min(SAMPLE_BYTES - self.seen);
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(&chunk[..take]);
        self.seen += take;
        let full = self.seen >= SAMPLE_BYTES;
        let mut rest = &bytes[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.not_text += s.bytes().filter(|&b| is_control(b)).count();
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    self.not_text += good.iter().filter(|&&b| is_control(b)).count();
                    match e.error_len() {
                        Some(n) => {
                            self.not_text += n;
                            rest = &bad[n..];
                        }
                        // An incomplete sequence at the end: wait for the next chunk, or
                        // count it when the sample is full.
                        None if !full => {
                            self.carry = bad.to_vec();
                            break;
                        }
                        None => {
                            self.not_text += bad.len();
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Whether what was sampled is mostly not text (an empty input is text).
    pub fn mostly_not_text(&self) -> bool {
        self.seen > 0 && (self.not_text as u64) * 100 > (self.seen as u64) * NOT_TEXT_PERCENT
    }

    /// Bytes sampled and how many of them are not text, for the warning.
    pub fn counts(&self) -> (usize, usize) {
        (self.seen, self.not_text)
    }
}

fn is_control(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1b)) || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(chunks: &[&[u8]]) -> TextSample {
        let mut s = TextSample::default();
        for c in chunks {
            s.push(c);
        }
        s
    }

    #[test]
    fn logs_are_text_and_random_bytes_are_not() {
        let log = "2024-05-01T10:00:00Z \x1b[31mERROR\x1b[0m zoom: naïve ✓\r\n\tat x\n".repeat(50);
        assert!(!sample(&[log.as_bytes()]).mostly_not_text());
        // A simple generator: xorshift bytes stand in for compressed data.
        let mut x = 0x2545F4914F6CDD1Du64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let s = sample(&[&noise]);
        assert!(s.mostly_not_text(), "{:?}", s.counts());
        assert_eq!(s.counts().0, SAMPLE_BYTES, "only the sample is looked at");
        assert!(!sample(&[]).mostly_not_text());
        assert!(sample(&[&[0u8; 100]]).mostly_not_text());
    }

    #[test]
    fn a_utf8_character_cut_by_a_chunk_end_is_text() {
        let text = "é".repeat(1000);
        let b = text.as_bytes();
        for cut in [1, 3, 1001] {
            let s = sample(&[&b[..cut], &b[cut..]]);
            assert_eq!(s.counts(), (b.len(), 0), "cut at {cut}");
        }
    }
}
