//! Reading one file: opening it within `max_open_files`, deciding where it starts, one read
//! turn with its truncation checks, and sending the framed records.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::framing::Framed;
use crate::sources::{Ack, StartAt};

use super::checkpoint::LiveFile;
use super::identity::{FileId, Fingerprint, TailCheck};
use super::tailer::{self, error_kind, read_chunk};
use super::{report_framed, Server, Stop, Turn};

impl Server {
    /// Open a file's handle, respecting `max_open_files`; decides its start on first open.
    pub(super) fn open(&mut self, id: FileId) -> Option<()> {
        let (path, gone) = {
            let t = self.files.get(&id)?;
            if t.file.is_some() {
                return Some(());
            }
            // A rotated file resumed after a restart is opened once, where it went.
            (
                t.open_path().to_path_buf(),
                t.is_gone() && t.start_pending.is_none(),
            )
        };
        if gone {
            return None; // a closed handle to a file that has left its path cannot be reopened
        }
        if self.open_handles >= self.src.limits.max_open_files.max(1) {
            self.close_quietest(id);
        }
        let idx = self.src.idx;
        let file = match File::open(&path).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok(fm) => fm,
            Err(e) => {
                let kind = error_kind(&e);
                self.src.observer.read_error(idx, kind);
                let t = self.files.get_mut(&id)?;
                if kind == "not_found" {
                    t.gone_since.get_or_insert_with(Instant::now);
                } else if t.open_error != Some(kind) {
                    tracing::warn!(source = %self.src.spec.name, path = %path.display(), error = %e,
                        "cannot open log file; will retry on the next event or poll");
                    t.open_error = Some(kind);
                }
                return None;
            }
        };
        let (file, meta) = file;
        if FileId::of(&meta) != id {
            // The path now holds another file; ours left while its handle was closed.
            tracing::warn!(source = %self.src.spec.name, path = %path.display(),
                "file was replaced while its handle was closed; lines appended to the old file after the last read are lost");
            self.mark_gone(id, Instant::now());
            self.src.wake.rescan();
            return None;
        }
        let size = meta.len();
        let start = self.start_offset(id, &file, size);
        let spec_format = self.src.spec.format;
        let framing = self.src.limits.framing;
        let name = self.src.spec.name.clone();
        let t = self.files.get_mut(&id)?;
        if t.open_error.take().is_some() {
            tracing::info!(source = %name, path = %path.display(), "log file readable again");
        }
        if let Some(start) = start {
            t.restart_at(start, spec_format, framing);
            t.start_pending = None;
            t.fingerprint = Fingerprint::of_file(&file).unwrap_or_default();
            self.src.table.insert(
                id,
                LiveFile {
                    path: t.path.clone(),
                    target: t.target.clone(),
                    fingerprint: t.fingerprint,
                    cursor: t.cursor.clone(),
                },
            );
        }
        t.size = size;
        self.lag.set(id, size, &t.cursor);
        t.file = Some(file);
        self.open_handles += 1;
        self.watcher.watch_file(id, &path);
        Some(())
    }

    /// Where a file opened for the first time starts: its checkpoint (if identity,
    /// fingerprint and pod UID match), else `start_at` on the very first start, else 0.
    pub(super) fn start_offset(&mut self, id: FileId, file: &File, size: u64) -> Option<u64> {
        let t = self.files.get(&id)?;
        let initial = t.start_pending?;
        if let Some(saved) = self.saved.remove(&id) {
            let fp = Fingerprint {
                len: saved.fingerprint_len,
                hash: saved.fingerprint,
            };
            let uid = |p: Option<&Path>| p.and_then(crate::sources::k8s::pod_uid);
            let (was, is) = (
                uid(saved.target.as_deref().map(Path::new)),
                uid(t.target.as_deref()),
            );
            let same_pod = was.is_none() || is.is_none() || was == is;
            let path = t.open_path().display().to_string();
            if same_pod && saved.offset > size {
                tracing::warn!(source = %self.src.spec.name, path = %path, offset = saved.offset, size,
                    "checkpoint offset is beyond the file's size (it was truncated while oauthwatch was down); reading it again from the start");
                self.src.observer.truncated(self.src.idx);
                return Some(0);
            }
            if same_pod && fp.matches(file).unwrap_or(false) {
                return Some(saved.offset);
            }
            // Same inode, other content (or another pod): the inode was reused by a new file.
            tracing::warn!(source = %self.src.spec.name, path = %path, offset = saved.offset,
                "file does not match its checkpoint (its inode now belongs to another file); reading it as a new file from the start");
        }
        if initial && self.first_start && self.src.spec.start_at == StartAt::End {
            let at_discovery = self.files.get(&id)?.discovered_size;
            return Some(if at_discovery <= size {
                at_discovery
            } else {
                0
            });
        }
        Some(0)
    }

    pub(super) fn close_quietest(&mut self, keep: FileId) {
        let victim = self
            .files
            .values()
            .filter(|t| t.file.is_some() && !t.is_gone() && t.id != keep)
            .min_by_key(|t| t.last_active)
            .map(|t| t.id);
        if let Some(v) = victim {
            if let Some(t) = self.files.get_mut(&v) {
                t.file = None;
                self.open_handles -= 1;
                self.watcher.unwatch_file(v);
            }
        }
    }

    /// Whether a live file whose handle was closed (past `max_open_files`) after it was read
    /// to its end is still as it was: same identity, size and modification time at its path.
    /// Then a poll or a stray event costs one `stat`, not an open that closes another file.
    pub(super) fn unchanged_while_closed(&self, id: FileId) -> bool {
        let Some(t) = self.files.get(&id) else {
            return false;
        };
        if t.file.is_some() || t.is_gone() || t.start_pending.is_some() || t.read_pos < t.size {
            return false;
        }
        let Some(settled) = t.settled_mtime else {
            return false;
        };
        std::fs::metadata(&t.path).is_ok_and(|m| {
            FileId::of(&m) == id && m.len() == t.size && m.modified().ok() == Some(settled)
        })
    }

    /// One read turn of at most one chunk.
    pub(super) fn turn(&mut self, id: FileId) -> Result<Turn, Stop> {
        if self.unchanged_while_closed(id) {
            return Ok(Turn::Done);
        }
        if self.open(id).is_none() {
            return Ok(Turn::Done);
        }
        let first_bytes = self.files.get(&id).is_some_and(|t| {
            !t.carry_checked
                && !t.is_gone()
                && t.read_pos == 0
                && t.file
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .is_some_and(|m| m.len() > 0)
        });
        if first_bytes {
            self.carry_split_line(id)?;
        }
        let idx = self.src.idx;
        let format = self.src.spec.format;
        let framing = self.src.limits.framing;
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(Turn::Done);
        };
        let Some(file) = t.file.as_ref() else {
            return Ok(Turn::Done);
        };
        let (size, mtime) = match file.metadata() {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(e) => {
                self.src.observer.read_error(idx, error_kind(&e));
                return Ok(Turn::Done);
            }
        };
        // Nothing changed since a look that found everything read: an idle poll stops here.
        if mtime.is_some() && mtime == t.settled_mtime && size == t.size && t.read_pos >= size {
            return Ok(Turn::Done);
        }
        t.settled_mtime = None;
        t.size = size;
        // Truncated (copytruncate, `> file`) or rewritten in place since we last looked: it is
        // shorter than our offset, its first bytes changed, or the bytes just before our
        // offset did (rewritten past it between two looks, with the same first bytes).
        let rewritten = size < t.read_pos
            || (t.read_pos > 0
                && (!t.fingerprint.matches(file).unwrap_or(true)
                    || t.tail_check
                        .is_some_and(|c| c.end == t.read_pos && !c.matches(file).unwrap_or(true))));
        if rewritten {
            tracing::info!(source = %self.src.spec.name, path = %t.path.display(), "file truncated; reading it again from the start");
            self.src.observer.truncated(idx);
            // (Fields set one by one: `file` stays borrowed.)
            t.base = 0;
            t.read_pos = 0;
            t.framer = crate::framing::Framer::new(format, framing);
            t.cursor = Arc::new(std::sync::atomic::AtomicU64::new(0));
            t.sent = 0;
            t.tail_check = None;
            t.carried = 0;
            t.fingerprint = Fingerprint::of_file(file).unwrap_or_default();
            self.src.table.truncated(id, &t.cursor, t.fingerprint);
        } else if t.fingerprint.can_grow() && size > t.fingerprint.len {
            if let Ok(fp) = Fingerprint::of_file(file) {
                t.fingerprint = fp;
                self.src.table.fingerprinted(id, fp);
            }
        }
        self.lag.set(id, size, &t.cursor);
        if t.read_pos >= size {
            t.settled_mtime = mtime;
            return Ok(Turn::Done);
        }
        let n = match read_chunk(file, t.read_pos, &mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = error_kind(&e);
                self.src.observer.read_error(idx, kind);
                tracing::warn!(source = %self.src.spec.name, path = %t.path.display(), error = %e, "read failed; will retry");
                return Ok(Turn::Done);
            }
        };
        if n == 0 {
            return Ok(Turn::Done);
        }
        let now = Instant::now();
        t.read_pos += n as u64;
        t.tail_check = TailCheck::of_read(&self.buf[..n], t.read_pos);
        t.last_active = now;
        if t.read_pos >= size {
            // Read up to the size looked at: settled as of that look, so a quiet file whose
            // handle is closed later is not reopened by the next poll just to find nothing.
            t.settled_mtime = mtime;
        }
        let mut framed = Framed::default();
        t.framer.push(&self.buf[..n], now, &mut framed);
        let full = n == self.buf.len();
        self.emit(id, framed, n as u64)?;
        Ok(if full { Turn::More } else { Turn::Done })
    }

    /// Before a new file's first read: if the file that was at its path before rotation ends
    /// with an unfinished CRI line (`P` pieces, the runtime writing the rest into the new
    /// file), hand those pieces over, so the line comes out whole, once, from here.
    pub(super) fn carry_split_line(&mut self, id: FileId) -> Result<(), Stop> {
        let format = self.src.spec.format;
        let framing = self.src.limits.framing;
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(());
        };
        t.carry_checked = true;
        if !matches!(
            format,
            crate::framing::Format::Cri | crate::framing::Format::Auto
        ) {
            return Ok(());
        }
        let path = t.path.clone();
        let Some(prev) = self
            .files
            .values()
            .find(|p| {
                p.id != id
                    && p.is_gone()
                    && p.path == path
                    && p.file.is_some()
                    && p.read_pos >= p.size
            })
            .map(|p| p.id)
        else {
            return Ok(());
        };
        let Some(p) = self.files.get_mut(&prev) else {
            return Ok(());
        };
        let from = p.base + p.framer.consumed();
        let len = p.read_pos.saturating_sub(from);
        if len == 0 || len > framing.max_record_bytes() as u64 {
            return Ok(());
        }
        let mut bytes = vec![0u8; len as usize];
        let mut got = 0usize;
        while got < bytes.len() {
            match p
                .file
                .as_ref()
                .map(|f| read_chunk(f, from + got as u64, &mut bytes[got..]))
            {
                Some(Ok(n)) if n > 0 => got += n,
                _ => return Ok(()),
            }
        }
        if !tailer::ends_with_cri_partial(&bytes) {
            return Ok(());
        }
        // The predecessor forgets them (its acknowledged offset stays before them) ...
        p.framer = crate::framing::Framer::new(format, framing);
        p.base = p.read_pos;
        tracing::debug!(source = %self.src.spec.name, path = %path.display(), bytes = len,
            "a line split by rotation continues in the new file; joining it");
        // ... and the new file reads them first.
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(());
        };
        t.carried = len;
        let mut framed = Framed::default();
        t.framer.push(&bytes, Instant::now(), &mut framed);
        self.emit(id, framed, 0)
    }

    /// Send a file's framed records, acknowledging up to the end of the last one.
    pub(super) fn emit(&mut self, id: FileId, framed: Framed, bytes: u64) -> Result<(), Stop> {
        report_framed(&*self.src.observer, self.src.idx, &framed, bytes);
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(());
        };
        let offset = (t.base + framed.consumed).saturating_sub(t.carried);
        if framed.ends.is_empty() && offset <= t.sent {
            return Ok(());
        }
        t.sent = t.sent.max(offset);
        let ack = Ack {
            cursor: t.cursor.clone(),
            offset,
            progress: Some(crate::sources::Progress {
                unsaved: self.src.unsaved.clone(),
                records: framed.ends.len() as u64,
            }),
        };
        let k8s = t.k8s.clone();
        self.src.sink.send(crate::sources::RecordBatch {
            source: self.src.idx,
            data: framed.data,
            ends: framed.ends,
            lines: framed.lines,
            k8s,
            ack: Some(ack),
            reserved: Default::default(),
        })
    }
}
