//! File identity: device + inode, checked against a fingerprint of the file's first bytes.
//!
//! Device and inode tell files apart while they exist; once a file is deleted its inode may be
//! reused by a new one. The fingerprint (a hash of up to [`FINGERPRINT_MAX`] leading bytes,
//! with the length it covers) catches that. It grows with the file and covers whatever is
//! there, so a small file, an empty one, or one without a newline is still read: an empty
//! fingerprint matches anything.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};

/// Leading bytes the fingerprint covers at most.
pub const FINGERPRINT_MAX: u64 = 256;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity in a file's metadata.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Hash of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// Bytes covered.
    pub len: u64,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn read_prefix(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let mut got = 0usize;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

impl Fingerprint {
    /// Fingerprint of the bytes a file holds now (up to [`FINGERPRINT_MAX`]).
    pub fn of_bytes(bytes: &[u8]) -> Fingerprint {
        let len = bytes.len().min(FINGERPRINT_MAX as usize);
        Fingerprint {
            len: len as u64,
            hash: fnv1a(&bytes[..len]),
        }
    }

    /// Fingerprint of an open file's first bytes.
    pub fn of_file(file: &File) -> std::io::Result<Fingerprint> {
        Ok(Fingerprint::of_bytes(&read_prefix(file, FINGERPRINT_MAX)?))
    }

    /// Whether the file still starts with the bytes this fingerprint covers (false when it is
    /// now shorter than them: it was truncated or replaced).
    pub fn matches(&self, file: &File) -> std::io::Result<bool> {
        if self.len == 0 {
            return Ok(true);
        }
        let prefix = read_prefix(file, self.len)?;
        Ok(prefix.len() as u64 == self.len && fnv1a(&prefix) == self.hash)
    }

    /// Whether it covers less than it could (the file was shorter when it was taken).
    pub fn can_grow(&self) -> bool {
        self.len < FINGERPRINT_MAX
    }
}

/// Bytes before the read offset that [`TailCheck`] covers at most.
pub const TAIL_CHECK_MAX: usize = 64;

/// Hash of the last bytes read from a file, just before the read offset. A file truncated and
/// rewritten past that offset between two looks (copytruncate while the writer is fast, with
/// the same first bytes as before) no longer has them there: together with the size and the
/// leading-bytes [`Fingerprint`], this notices a rewrite on every read turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCheck {
    /// Offset just past the covered bytes (the read offset when it was taken).
    pub end: u64,
    /// Bytes covered.
    pub len: u64,
    /// FNV-1a 64 of those bytes.
    pub hash: u64,
}

impl TailCheck {
    /// The check of `read`, the bytes just read, ending at file offset `end`.
    pub fn of_read(read: &[u8], end: u64) -> Option<TailCheck> {
        let len = read.len().min(TAIL_CHECK_MAX);
        (len > 0).then(|| TailCheck {
            end,
            len: len as u64,
            hash: fnv1a(&read[read.len() - len..]),
        })
    }

    /// Whether the file still holds those bytes where they were.
    pub fn matches(&self, file: &File) -> std::io::Result<bool> {
        let mut buf = [0u8; TAIL_CHECK_MAX];
        let want = &mut buf[..self.len as usize];
        let start = self.end - self.len;
        let mut got = 0usize;
        while got < want.len() {
            match file.read_at(&mut want[got..], start + got as u64) {
                Ok(0) => return Ok(false),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(fnv1a(want) == self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn grows_with_file_and_detects_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut f = File::create(&p).unwrap();
        let r = File::open(&p).unwrap();
        let empty = Fingerprint::of_file(&r).unwrap();
        assert_eq!(empty.len, 0);
        f.write_all(b"abc").unwrap();
        assert!(
            empty.matches(&r).unwrap(),
            "an empty fingerprint matches anything"
        );
        let small = Fingerprint::of_file(&r).unwrap();
        assert_eq!(small.len, 3);
        assert!(small.can_grow());
        f.write_all(&[b'x'; 400]).unwrap();
        assert!(small.matches(&r).unwrap());
        let full = Fingerprint::of_file(&r).unwrap();
        assert_eq!(full.len, FINGERPRINT_MAX);
        assert!(!full.can_grow());
        // Rewritten in place with other content: no longer matches.
        f.set_len(0).unwrap();
        assert!(!small.matches(&r).unwrap());
        std::fs::write(&p, b"abd").unwrap();
        assert!(!small.matches(&r).unwrap());
    }

    #[test]
    fn tail_check_sees_a_rewrite_with_the_same_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let head = "same header line\n".repeat(20);
        std::fs::write(&p, format!("{head}gen1 a\ngen1 b\n")).unwrap();
        let r = File::open(&p).unwrap();
        let all = std::fs::read(&p).unwrap();
        let fp = Fingerprint::of_file(&r).unwrap();
        let tc = TailCheck::of_read(&all[all.len() - 10..], all.len() as u64).unwrap();
        assert!(tc.matches(&r).unwrap());
        // Truncated and rewritten longer, with the same first 256 bytes.
        std::fs::write(&p, format!("{head}gen2 a\ngen2 b\ngen2 c\n")).unwrap();
        assert!(fp.matches(&r).unwrap(), "the leading bytes cannot tell");
        assert!(!tc.matches(&r).unwrap(), "the bytes before the offset can");
        std::fs::write(&p, b"short").unwrap();
        assert!(!tc.matches(&r).unwrap());
    }
}
