//! Compressed input for the one-shot commands: gzip and zstd are recognised by their magic
//! bytes (never by file name) and decompressed while streaming, so `scan app.log.2.gz` and
//! `zcat`-less pipes read the log lines, not the compressed bytes.
//!
//! Only the first bytes are looked at, and only as many as it takes to rule a magic number in
//! or out: on a terminal a one-character first line is not held back waiting for more.
//! Formats that are recognised but not decoded here (xz, bzip2, lz4, zip) are reported, so
//! the caller can say so instead of scanning compressed bytes as text.

use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// How an input is encoded, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Not compressed (or compressed in no format we recognise): read as it is.
    Plain,
    /// gzip (RFC 1952), possibly several members back to back.
    Gzip,
    /// Zstandard, possibly several frames (and skippable frames) back to back.
    Zstd,
    /// A compression format recognised but not decoded here; the name for messages.
    Unsupported(&'static str),
}

impl Encoding {
    /// Name for messages (`gzip`, `zstd`, `plain`, or the unsupported format's name).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Plain => "plain",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Unsupported(name) => name,
        }
    }
}

/// Magic numbers. None is a prefix of another, so their order does not matter.
const MAGICS: &[(&[u8], Encoding)] = &[
    (&[0x1f, 0x8b], Encoding::Gzip),
    (&[0x28, 0xb5, 0x2f, 0xfd], Encoding::Zstd),
    (
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        Encoding::Unsupported("xz"),
    ),
    (b"BZh", Encoding::Unsupported("bzip2")),
    (&[0x04, 0x22, 0x4d, 0x18], Encoding::Unsupported("lz4")),
    (b"PK\x03\x04", Encoding::Unsupported("zip")),
];

/// What the first bytes of an input say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Decided.
    Is(Encoding),
    /// `prefix` is a proper prefix of a magic number: read more (or, at end of input, plain).
    NeedMore,
}

/// Judge an input from its first bytes. Pure.
pub fn sniff(prefix: &[u8]) -> Sniff {
    for (magic, enc) in MAGICS {
        if prefix.starts_with(magic) {
            return Sniff::Is(*enc);
        }
    }
    if !prefix.is_empty()
        && MAGICS
            .iter()
            .any(|(magic, _)| prefix.len() < magic.len() && magic.starts_with(prefix))
    {
        return Sniff::NeedMore;
    }
    Sniff::Is(Encoding::Plain)
}

/// Read the first bytes of `reader`, as few as decide its [`Encoding`]. Returns the encoding
/// and the bytes read, which belong in front of the rest of the stream.
pub fn read_prefix(reader: &mut impl Read) -> io::Result<(Encoding, Vec<u8>)> {
    let mut prefix = Vec::with_capacity(8);
    let mut byte = [0u8; 8];
    loop {
        match sniff(&prefix) {
            Sniff::Is(enc) if !prefix.is_empty() => return Ok((enc, prefix)),
            _ => {}
        }
        // Ask for no more than the longest magic still possible needs; a terminal returns
        // one line per read whatever the size, so this never waits for a second line.
        let want = MAGICS
            .iter()
            .map(|(m, _)| m.len())
            .max()
            .unwrap_or(1)
            .saturating_sub(prefix.len())
            .max(1);
        let n = match reader.read(&mut byte[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok((Encoding::Plain, prefix));
        }
        prefix.extend_from_slice(&byte[..n]);
    }
}

/// `reader` with its encoding detected and undone: the decompressed bytes for gzip and zstd,
/// the bytes as they are otherwise. `Unsupported` encodings are returned undecoded; the caller
/// decides what to do with them.
pub fn decoded<'a>(mut reader: impl Read + 'a) -> io::Result<(Encoding, Box<dyn Read + 'a>)> {
    let (enc, prefix) = read_prefix(&mut reader)?;
    let whole = io::Cursor::new(prefix).chain(reader);
    let out: Box<dyn Read + 'a> = match enc {
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            whole,
        ))),
        Encoding::Zstd => Box::new(ZstdReader::new(BufReader::with_capacity(1 << 16, whole))),
        Encoding::Plain | Encoding::Unsupported(_) => Box::new(whole),
    };
    Ok((enc, out))
}

/// A streaming Zstandard decoder over every frame of a stream (the `zstd` tool writes one
/// frame per input, and `cat a.zst b.zst` is a valid stream), skipping skippable frames and
/// checking each frame's content checksum when it has one.
pub struct ZstdReader<R: BufRead> {
    src: R,
    frame: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    /// A decoder reading compressed bytes from `src`.
    pub fn new(src: R) -> Self {
        ZstdReader {
            src,
            frame: FrameDecoder::new(),
            in_frame: false,
        }
    }
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt or truncated zstd data: {what}"),
    )
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.frame.reset(&mut self.src) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(
                        ReadFrameHeaderError::SkipFrame { length, .. },
                    )) => {
                        let skipped = io::copy(
                            &mut (&mut self.src).take(u64::from(length)),
                            &mut io::sink(),
                        )?;
                        if skipped < u64::from(length) {
                            return Err(invalid("skippable frame cut short"));
                        }
                    }
                    Err(e) => return Err(invalid(e)),
                }
                continue;
            }
            while self.frame.can_collect() < buf.len() && !self.frame.is_finished() {
                let more = buf.len() - self.frame.can_collect();
                self.frame
                    .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBytes(more))
                    .map_err(invalid)?;
            }
            let n = self.frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.frame.is_finished() {
                if let (Some(want), Some(got)) = (
                    self.frame.get_checksum_from_data(),
                    self.frame.get_calculated_checksum(),
                ) {
                    if want != got {
                        return Err(invalid("content checksum mismatch"));
                    }
                }
                self.in_frame = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn read_all(input: Vec<u8>) -> (Encoding, Vec<u8>) {
        let (enc, mut r) = decoded(io::Cursor::new(input)).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (enc, out)
    }

    #[test]
    fn sniff_decides_on_as_few_bytes_as_it_can() {
        assert_eq!(sniff(b""), Sniff::Is(Encoding::Plain));
        assert_eq!(sniff(b"a"), Sniff::Is(Encoding::Plain));
        assert_eq!(sniff(&[0x1f]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x1f, 0x8b]), Sniff::Is(Encoding::Gzip));
        assert_eq!(sniff(&[0x1f, b'a']), Sniff::Is(Encoding::Plain));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f]), Sniff::NeedMore);
        assert_eq!(
            sniff(&[0x28, 0xb5, 0x2f, 0xfd, 9]),
            Sniff::Is(Encoding::Zstd)
        );
        assert_eq!(sniff(b"BZh91AY"), Sniff::Is(Encoding::Unsupported("bzip2")));
        assert_eq!(sniff(b"B"), Sniff::NeedMore);
        assert_eq!(sniff(b"Bob"), Sniff::Is(Encoding::Plain));
    }

    #[test]
    fn plain_input_passes_through_whole() {
        for input in [&b""[..], b"x", b"\x1f", b"BZ", b"hello\nworld\n"] {
            assert_eq!(read_all(input.to_vec()), (Encoding::Plain, input.to_vec()));
        }
    }

    #[test]
    fn gzip_members_back_to_back_are_one_stream() {
        let mut input = gzip(b"one\ntwo\n");
        input.extend(gzip(b"three\n"));
        assert_eq!(
            read_all(input),
            (Encoding::Gzip, b"one\ntwo\nthree\n".to_vec())
        );
    }

    #[test]
    fn zstd_frames_and_skippable_frames_are_one_stream() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut input = zstd(&big);
        // A skippable frame: magic 0x184D2A5?, length, payload.
        input.extend_from_slice(&0x184D2A50u32.to_le_bytes());
        input.extend_from_slice(&3u32.to_le_bytes());
        input.extend_from_slice(b"abc");
        input.extend(zstd(b"tail\n"));
        let (enc, out) = read_all(input);
        assert_eq!(enc, Encoding::Zstd);
        assert_eq!(out.len(), big.len() + 5);
        assert!(out.starts_with(&big) && out.ends_with(b"tail\n"));
    }

    #[test]
    fn truncated_zstd_is_an_error_not_silence() {
        let mut input = zstd(&b"some log line\n".repeat(1000));
        input.truncate(input.len() / 2);
        let (_, mut r) = decoded(io::Cursor::new(input)).unwrap();
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[test]
    fn a_short_first_read_is_not_held_for_more() {
        // A reader that yields one byte per call, like a terminal line "a".
        struct OneByte(Vec<u8>, usize);
        impl Read for OneByte {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() {
                    panic!("read past what the decision needed");
                }
                buf[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let (enc, prefix) = read_prefix(&mut OneByte(b"a".to_vec(), 0)).unwrap();
        assert_eq!((enc, prefix), (Encoding::Plain, b"a".to_vec()));
    }
}
