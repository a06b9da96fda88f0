//! One tailed file: the per-file state machine.
//!
//! A tailer follows a file *identity* (device + inode, checked against the fingerprint of its
//! first bytes and, under the kubelet's pod directory, the pod's UID), not a path. Its states:
//! - **live**: its path still leads to it; the handle may be closed while the file is quiet
//!   and is reopened (and its identity re-checked) on the next event;
//! - **gone**: renamed away or deleted; the open handle is drained to its end, and closed once
//!   [`limits.rotated_file_grace`](crate::sources::ReadLimits) has passed, so disk space is freed;
//! - **pending start**: found but not yet readable (permission denied); its start offset is
//!   decided on the first successful open.
//!
//! Offsets: `read_pos` is the next byte to read; `base` is the file offset the framer's stream
//! began at, so `base + Framed::consumed` is the file offset an [`Ack`](crate::sources::Ack)
//! reports. A truncation starts a new generation: offset 0, a new framer and a new cursor, so
//! late acknowledgements of the old generation cannot move the new one.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use crate::framing::{Format, Framer, FramingLimits};
use crate::sources::K8sRef;

use super::identity::{FileId, Fingerprint, TailCheck};

/// One tailed file.
#[derive(Debug)]
pub struct Tailer {
    /// Identity being followed.
    pub id: FileId,
    /// The path it was found at (a glob match, perhaps a symlink).
    pub path: PathBuf,
    /// Where the file itself is when not at `path`: a symlink's target (for mapping events in
    /// its directory), or, once gone, the name rotation gave it.
    pub target: Option<PathBuf>,
    /// First bytes' fingerprint.
    pub fingerprint: Fingerprint,
    /// The last bytes read, where they were read (`None` before the first read).
    pub tail_check: Option<TailCheck>,
    /// Open handle; `None` while closed (quiet, or not readable yet).
    pub file: Option<File>,
    /// File offset where the framer's input began.
    pub base: u64,
    /// Next byte to read.
    pub read_pos: u64,
    /// Size at the last look (for lag).
    pub size: u64,
    /// Modification time at the last look that found everything read: while size and mtime
    /// stay the same, a poll has nothing to check (no fingerprint re-read).
    pub settled_mtime: Option<std::time::SystemTime>,
    /// Frames this file's bytes.
    pub framer: Framer,
    /// Acknowledged offset of the current generation.
    pub cursor: Arc<AtomicU64>,
    /// Highest offset already sent in a batch's [`Ack`](crate::sources::Ack) (so a chunk
    /// that completes no record sends nothing).
    pub sent: u64,
    /// Since when the path no longer leads here.
    pub gone_since: Option<Instant>,
    /// Last time bytes were read (to pick which quiet handles to close).
    pub last_active: Instant,
    /// Kubernetes identity, when the source asks for it.
    pub k8s: Option<Arc<K8sRef>>,
    /// Start offset not decided yet (never opened); `true` if found by the first discovery.
    pub start_pending: Option<bool>,
    /// Size when discovered: where `start_at = end` starts even if the file only becomes
    /// readable later (lines written in between are not lost).
    pub discovered_size: u64,
    /// The last open failed with this kind; logged once until it clears.
    pub open_error: Option<&'static str>,
    /// Bytes of a rotated predecessor's unfinished line (CRI `P` pieces) fed to the framer
    /// before this file's own, so the line's end here completes it; acknowledged offsets
    /// subtract them.
    pub carried: u64,
    /// Whether a predecessor's unfinished line was looked for (once, at the first read).
    pub carry_checked: bool,
}

impl Tailer {
    /// A tailer for `id` at `path` (leading to `target`) whose start is decided on first open.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: FileId,
        path: PathBuf,
        target: Option<PathBuf>,
        format: Format,
        limits: FramingLimits,
        k8s: Option<Arc<K8sRef>>,
        initial: bool,
        now: Instant,
    ) -> Tailer {
        Tailer {
            id,
            path,
            target,
            fingerprint: Fingerprint::default(),
            tail_check: None,
            file: None,
            base: 0,
            read_pos: 0,
            size: 0,
            settled_mtime: None,
            framer: Framer::new(format, limits),
            cursor: Arc::new(AtomicU64::new(0)),
            sent: 0,
            gone_since: None,
            last_active: now,
            k8s,
            start_pending: Some(initial),
            discovered_size: 0,
            open_error: None,
            carried: 0,
            carry_checked: false,
        }
    }

    /// Begin a generation at `offset` (start, resume, or 0 after truncation).
    pub fn restart_at(&mut self, offset: u64, format: Format, limits: FramingLimits) {
        self.base = offset;
        self.read_pos = offset;
        self.framer = Framer::new(format, limits);
        self.cursor = Arc::new(AtomicU64::new(offset));
        self.sent = offset;
        self.tail_check = None;
        self.carried = 0;
    }

    /// Where the file can be opened: at its path while it is there, else where it went.
    pub fn open_path(&self) -> &std::path::Path {
        match (&self.target, self.is_gone()) {
            (Some(t), true) => t,
            _ => &self.path,
        }
    }

    /// Whether the path no longer leads to this file.
    pub fn is_gone(&self) -> bool {
        self.gone_since.is_some()
    }

    /// Bytes not read yet.
    pub fn lag(&self) -> u64 {
        self.size.saturating_sub(self.read_pos)
    }
}

/// Where a path leads when it is a symlink (`None` for a plain file).
pub fn resolve(path: &std::path::Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().filter(|t| t != path)
}

/// Whether the last complete line of `bytes` is a CRI partial piece (`<time> <stream> P …`):
/// a line the runtime will finish in its next write, which rotation may put in the next file.
pub fn ends_with_cri_partial(bytes: &[u8]) -> bool {
    let end = match memchr::memrchr(b'\n', bytes) {
        Some(i) => i,
        None => return false,
    };
    let start = memchr::memrchr(b'\n', &bytes[..end]).map_or(0, |i| i + 1);
    let mut fields = bytes[start..end].splitn(4, |&b| b == b' ');
    let (_, stream, tag) = (fields.next(), fields.next(), fields.next());
    matches!(stream, Some(b"stdout" | b"stderr")) && tag == Some(b"P")
}

/// Read up to `buf.len()` bytes at `pos`; 0 at end of file.
pub fn read_chunk(file: &File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// The `read_error` kind of an I/O error.
pub fn error_kind(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission_denied",
        std::io::ErrorKind::NotFound => "not_found",
        _ => "io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_partial_piece_at_the_end_is_recognised() {
        assert!(ends_with_cri_partial(
            b"2026-12-01T10:00:00Z stderr F done\n2026-12-01T10:00:01Z stderr P Zoom API er\n"
        ));
        assert!(ends_with_cri_partial(
            b"2026-12-01T10:00:01Z stdout P part\n2026-12-01T10:00:01Z stdout P more"
        ));
        assert!(!ends_with_cri_partial(
            b"2026-12-01T10:00:01Z stderr F whole\n"
        ));
        assert!(!ends_with_cri_partial(b"plain P line\n"));
        assert!(!ends_with_cri_partial(b"no newline P"));
    }
}
