//! One tailed file: the per-file state machine, which owns its state.
//!
//! A tailer follows a file *identity* (device + inode, checked against the fingerprint of its
//! first bytes and, under the kubelet's pod directory, the pod's UID), not a path. Its states:
//! - **not started**: found but never opened (not readable yet, say); where it starts is
//!   decided on the first successful open ([`Start`]);
//! - **live**: its path still leads to it; the handle may be closed while the file is quiet
//!   and is reopened (and its identity re-checked) on the next event;
//! - **gone**: renamed away or deleted; the open handle is drained to its end, and closed once
//!   the rotated-file grace period has passed, so disk space is freed.
//!
//! Offsets: `read_pos` is the next byte to read; `base` is the file offset the framer's stream
//! began at, so `base + Framed::consumed` is the file offset an [`Ack`](crate::sources::Ack)
//! reports. A truncation starts a new generation: offset 0, a new framer and a new cursor, so
//! late acknowledgements of the old generation cannot move the new one.

use std::fs::{File, Metadata};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::framing::{Format, Framed, Framer, FramingLimits};
use crate::sources::K8sRef;

use super::checkpoint::LiveFile;
use super::identity::{FileId, Fingerprint, TailCheck};

/// Where a tailer starts reading, until its first successful open decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// Found by the source's first discovery: `start_at` applies on a first start.
    FirstDiscovery,
    /// Found later (created while the daemon runs, or rotated away): from its beginning,
    /// unless a checkpoint says otherwise.
    Later,
    /// Decided: the tailer has been opened.
    Decided,
}

/// What one read turn found.
#[derive(Debug, Default)]
pub(super) struct ReadTurn {
    /// The file was truncated or rewritten since the last look; reading restarted at 0 with a
    /// new cursor.
    pub rewritten: bool,
    /// The fingerprint changed (it grew, or the file was rewritten): the checkpoint follows.
    pub fingerprint: Option<Fingerprint>,
    /// Reading (or asking the file's size) failed; retried on the next event or poll.
    pub error: Option<std::io::Error>,
    /// Bytes read.
    pub bytes: u64,
    /// Records framed from them.
    pub framed: Framed,
    /// A whole chunk was read: the file may have more.
    pub more: bool,
}

/// One tailed file.
#[derive(Debug)]
pub(super) struct Tailer {
    id: FileId,
    /// The path it was found at (a glob match, perhaps a symlink).
    path: PathBuf,
    /// Where the file itself is when not at `path`: a symlink's target (for mapping events in
    /// its directory), or, once gone, the name rotation gave it.
    target: Option<PathBuf>,
    fingerprint: Fingerprint,
    /// The last bytes read, where they were read (`None` before the first read).
    tail_check: Option<TailCheck>,
    /// Open handle; `None` while closed (quiet, past `max_open_files`, or not readable yet).
    file: Option<File>,
    /// File offset where the framer's input began.
    base: u64,
    /// Next byte to read.
    read_pos: u64,
    /// Size at the last look (for lag).
    size: u64,
    /// Modification time at the last look that found everything read: while size and mtime
    /// stay the same, a poll has nothing to check (no fingerprint re-read).
    settled_mtime: Option<SystemTime>,
    framer: Framer,
    format: Format,
    framing: FramingLimits,
    /// Acknowledged offset of the current generation.
    cursor: Arc<AtomicU64>,
    /// Highest offset already sent in a batch's acknowledgement (so a chunk that completes
    /// no record sends nothing).
    sent: u64,
    /// Since when the path no longer leads here.
    gone_since: Option<Instant>,
    /// Last time bytes were read (to pick which quiet handles to close).
    last_active: Instant,
    k8s: Option<Arc<K8sRef>>,
    start: Start,
    /// Size when discovered: where `start_at = end` starts even if the file only becomes
    /// readable later (lines written in between are not lost).
    discovered_size: u64,
    /// The last open failed with this kind; logged once until it clears.
    open_error: Option<&'static str>,
    /// Bytes of a rotated predecessor's unfinished line (CRI `P` pieces) fed to the framer
    /// before this file's own, so the line's end here completes it; acknowledged offsets
    /// subtract them.
    carried: u64,
    /// Whether a predecessor's unfinished line was looked for (once, at the first read).
    carry_checked: bool,
}

impl Tailer {
    /// A tailer for `id` at `path` (leading to `target`), framed as `format` says, whose
    /// start is decided on its first open.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: FileId,
        path: PathBuf,
        target: Option<PathBuf>,
        (format, framing): (Format, FramingLimits),
        k8s: Option<Arc<K8sRef>>,
        start: Start,
        discovered_size: u64,
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
            framer: Framer::new(format, framing),
            format,
            framing,
            cursor: Arc::new(AtomicU64::new(0)),
            sent: 0,
            gone_since: None,
            last_active: now,
            k8s,
            start,
            discovered_size,
            open_error: None,
            carried: 0,
            carry_checked: false,
        }
    }

    /// The identity followed.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// The path the globs matched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the file itself is, when not at its path.
    pub fn target(&self) -> Option<&Path> {
        self.target.as_deref()
    }

    /// Its Kubernetes identity, when the source asks for it.
    pub fn k8s(&self) -> Option<&Arc<K8sRef>> {
        self.k8s.as_ref()
    }

    /// Its fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The acknowledged offset of the current generation.
    pub fn cursor(&self) -> &Arc<AtomicU64> {
        &self.cursor
    }

    /// Size at the last look.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How its start is (or was) decided.
    pub fn start(&self) -> Start {
        self.start
    }

    /// Size when discovered (where `start_at = end` starts).
    pub fn discovered_size(&self) -> u64 {
        self.discovered_size
    }

    /// Whether its handle is open.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Whether the path no longer leads to this file.
    pub fn is_gone(&self) -> bool {
        self.gone_since.is_some()
    }

    /// Since when the path no longer leads here.
    pub fn gone_since(&self) -> Option<Instant> {
        self.gone_since
    }

    /// Last time bytes were read.
    pub fn last_active(&self) -> Instant {
        self.last_active
    }

    /// When its framer wants to emit what it holds (a last line without newline).
    pub fn idle_deadline(&self) -> Option<Instant> {
        self.framer.idle_deadline()
    }

    /// Whether its last open failed (not readable yet): only a poll retries it.
    pub fn unreadable(&self) -> bool {
        self.open_error.is_some()
    }

    /// Its checkpoint entry.
    pub fn live(&self) -> LiveFile {
        LiveFile {
            path: self.path.clone(),
            target: self.target.clone(),
            fingerprint: self.fingerprint,
            cursor: self.cursor.clone(),
        }
    }

    /// Where the file can be opened: at its path while it is there, else where it went.
    pub fn open_path(&self) -> &Path {
        match (&self.target, self.is_gone()) {
            (Some(t), true) => t,
            _ => &self.path,
        }
    }

    /// Whether a closed handle may be (re)opened: not for a file that left its path since
    /// (only a rotated file resumed after a restart is opened where it went, once).
    pub fn can_open(&self) -> bool {
        self.file.is_none() && !(self.is_gone() && self.start == Start::Decided)
    }

    /// Take an open handle to the file (whose identity the caller checked), starting at
    /// `start` if its start was not decided yet. Returns whether it was unreadable before.
    pub fn open(&mut self, file: File, size: u64, start: Option<u64>) -> bool {
        if let Some(offset) = start {
            self.restart_at(offset);
            self.start = Start::Decided;
            self.fingerprint = Fingerprint::of_file(&file).unwrap_or_default();
        }
        self.size = size;
        self.file = Some(file);
        self.open_error.take().is_some()
    }

    /// An open failed with `kind`; returns whether that is news (to log once).
    pub fn open_failed(&mut self, kind: &'static str, now: Instant) -> bool {
        if kind == "not_found" {
            self.gone_since.get_or_insert(now);
            return false;
        }
        self.open_error.replace(kind) != Some(kind)
    }

    /// Close the handle (past `max_open_files`); returns whether it was open.
    pub fn close(&mut self) -> bool {
        self.file.take().is_some()
    }

    /// Renamed to another path the globs match: follow it.
    pub fn follow(&mut self, path: PathBuf) {
        self.target = resolve(&path);
        self.path = path;
    }

    /// The path no longer leads here (from `now`); returns whether that is news.
    pub fn mark_gone(&mut self, now: Instant) -> bool {
        let news = self.gone_since.is_none();
        self.gone_since.get_or_insert(now);
        news
    }

    /// The file was renamed to `target` (rotation), or is there after a restart.
    pub fn set_target(&mut self, target: PathBuf) {
        self.target = Some(target);
    }

    /// The path leads here again.
    pub fn found_again(&mut self) {
        self.gone_since = None;
    }

    /// Whether the handle is closed, everything was read, and `meta` (the file at its path)
    /// shows the same size and modification time as when it was: nothing to look at.
    pub fn quiet(&self, meta: &Metadata) -> bool {
        self.file.is_none()
            && !self.is_gone()
            && self.start == Start::Decided
            && self.read_pos >= self.size
            && meta.len() == self.size
            && self.settled_mtime.is_some()
            && meta.modified().ok() == self.settled_mtime
    }

    /// Whether the file now at `path`, with this tailer's identity, is the file followed,
    /// and not a new file that reuses the inode of one deleted while the handle was closed:
    /// an open handle pins the inode; otherwise the first bytes and the pod's UID must agree.
    pub fn is_at(&self, path: &Path) -> bool {
        if self.file.is_some() {
            return true;
        }
        let uid = |p: Option<&Path>| p.and_then(crate::sources::k8s::pod_uid);
        let (old, new) = (uid(self.target.as_deref()), uid(resolve(path).as_deref()));
        if old.is_some() && new.is_some() && old != new {
            return false;
        }
        File::open(path)
            .and_then(|f| self.fingerprint.matches(&f))
            .unwrap_or(false)
    }

    /// Begin a generation at `offset` (start, resume, or 0 after truncation).
    fn restart_at(&mut self, offset: u64) {
        self.base = offset;
        self.read_pos = offset;
        self.framer = Framer::new(self.format, self.framing);
        self.cursor = Arc::new(AtomicU64::new(offset));
        self.sent = offset;
        self.tail_check = None;
        self.carried = 0;
    }

    /// Whether the open file was truncated (copytruncate, `> file`) or rewritten in place
    /// since the last look, now that it is `size` bytes long: it is shorter than the read
    /// offset, its first bytes changed, or the bytes just before the offset did (rewritten
    /// past it between two looks, with the same first bytes).
    pub fn check_rewritten(&self, size: u64) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        size < self.read_pos
            || (self.read_pos > 0
                && (!self.fingerprint.matches(file).unwrap_or(true)
                    || self.tail_check.is_some_and(|c| {
                        c.end == self.read_pos && !c.matches(file).unwrap_or(true)
                    })))
    }

    /// One read turn of at most `buf.len()` bytes: look at the size, restart from 0 if the
    /// file was rewritten, grow the fingerprint, read and frame.
    /// `candidates` (with the source's index) frames sparsely: records that cannot match are
    /// counted, not copied.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        now: Instant,
        candidates: Option<&crate::batch::SharedCandidates>,
        source: usize,
    ) -> ReadTurn {
        let mut turn = ReadTurn::default();
        let Some(file) = self.file.as_ref() else {
            return turn;
        };
        let (size, mtime) = match file.metadata() {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(e) => {
                turn.error = Some(e);
                return turn;
            }
        };
        // Nothing changed since a look that found everything read: an idle poll stops here.
        if mtime.is_some()
            && mtime == self.settled_mtime
            && size == self.size
            && self.read_pos >= size
        {
            return turn;
        }
        self.settled_mtime = None;
        self.size = size;
        if self.check_rewritten(size) {
            let fingerprint = Fingerprint::of_file(file).unwrap_or_default();
            self.restart_at(0);
            self.fingerprint = fingerprint;
            turn.rewritten = true;
            turn.fingerprint = Some(fingerprint);
        } else if self.fingerprint.can_grow() && size > self.fingerprint.len {
            if let Ok(fp) = Fingerprint::of_file(file) {
                self.fingerprint = fp;
                turn.fingerprint = Some(fp);
            }
        }
        if self.read_pos >= size {
            self.settled_mtime = mtime;
            return turn;
        }
        let Some(file) = self.file.as_ref() else {
            return turn;
        };
        let n = match read_chunk(file, self.read_pos, buf) {
            Ok(0) => return turn,
            Ok(n) => n,
            Err(e) => {
                turn.error = Some(e);
                return turn;
            }
        };
        self.read_pos += n as u64;
        self.tail_check = TailCheck::of_read(&buf[..n], self.read_pos);
        self.last_active = now;
        if self.read_pos >= size {
            // Read up to the size looked at: settled as of that look, so a quiet file whose
            // handle is closed later is not reopened by the next poll just to find nothing.
            self.settled_mtime = mtime;
        }
        crate::batch::push_with(
            candidates,
            source,
            &mut self.framer,
            &buf[..n],
            now,
            &mut turn.framed,
        );
        turn.bytes = n as u64;
        turn.more = n == buf.len();
        turn
    }

    /// Emit what the framer has held past its idle time (a last line without newline, a
    /// multi-line record without continuation).
    pub fn flush_idle(&mut self, now: Instant, out: &mut Framed) {
        self.framer.flush_idle(now, out);
    }

    /// Emit everything the framer holds (the file is closed for good).
    pub fn finish(&mut self, out: &mut Framed) {
        self.framer.finish(out);
    }

    /// The acknowledgement for records framed up to `consumed` bytes of the framer's
    /// stream: the cursor and the file offset after the last complete record, if that moves
    /// (or records were completed).
    pub fn ack(&mut self, consumed: u64, records: bool) -> Option<(Arc<AtomicU64>, u64)> {
        let offset = (self.base + consumed).saturating_sub(self.carried);
        if !records && offset <= self.sent {
            return None;
        }
        self.sent = self.sent.max(offset);
        Some((self.cursor.clone(), offset))
    }

    /// Whether this is the first read of a new file that has bytes (once): then a rotated
    /// predecessor's unfinished line may continue here.
    pub fn first_read(&mut self) -> bool {
        if self.carry_checked {
            return false;
        }
        let has_bytes = !self.is_gone()
            && self.read_pos == 0
            && self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .is_some_and(|m| m.len() > 0);
        if has_bytes {
            self.carry_checked = true;
        }
        has_bytes
    }

    /// Whether this gone file, read to its end, was at `path` (a successor's predecessor).
    pub fn drained_from(&self, path: &Path) -> bool {
        self.is_gone() && self.path == path && self.file.is_some() && self.read_pos >= self.size
    }

    /// Hand over an unfinished CRI line at the end of what was read (`P` pieces, the runtime
    /// writing the rest into the next file), at most `max` bytes: the framer forgets it (the
    /// acknowledged offset stays before it) and the bytes are returned.
    pub fn take_unfinished_line(&mut self, max: u64) -> Option<Vec<u8>> {
        let from = self.base + self.framer.consumed();
        let len = self.read_pos.saturating_sub(from);
        if len == 0 || len > max {
            return None;
        }
        let file = self.file.as_ref()?;
        let mut bytes = vec![0u8; len as usize];
        let mut got = 0usize;
        while got < bytes.len() {
            match read_chunk(file, from + got as u64, &mut bytes[got..]) {
                Ok(n) if n > 0 => got += n,
                _ => return None,
            }
        }
        if !ends_with_cri_partial(&bytes) {
            return None;
        }
        self.framer = Framer::new(self.format, self.framing);
        self.base = self.read_pos;
        Some(bytes)
    }

    /// Frame a predecessor's unfinished line before this file's own bytes.
    pub fn carry_in(&mut self, bytes: &[u8], now: Instant, out: &mut Framed) {
        self.carried = bytes.len() as u64;
        self.framer.push(bytes, now, out);
    }
}

/// Where a path leads when it is a symlink (`None` for a plain file).
pub(super) fn resolve(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().filter(|t| t != path)
}

/// Whether the last complete line of `bytes` is a CRI partial piece (`<time> <stream> P …`):
/// a line the runtime will finish in its next write, which rotation may put in the next file.
fn ends_with_cri_partial(bytes: &[u8]) -> bool {
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
fn read_chunk(file: &File, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
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
