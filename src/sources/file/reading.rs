//! Reading one file for the scheduler: opening it within `max_open_files`, deciding where it
//! starts, one read turn of its [`Tailer`](super::tailer::Tailer), and sending what it framed.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use crate::framing::{Format, Framed};
use crate::sources::{error_kind, report_framed, Ack, Progress, RecordBatch, StartAt, Stop};

use super::identity::{FileId, Fingerprint};
use super::scheduler::{ReaderThread, Turn};
use super::tailer::Start;

impl ReaderThread {
    /// Open a file's handle, respecting `max_open_files`; decides its start on first open.
    pub(super) fn open(&mut self, id: FileId) -> Option<()> {
        let t = self.files.get(&id)?;
        if t.is_open() {
            return Some(());
        }
        if !t.can_open() {
            return None; // a closed handle to a file that has left its path cannot be reopened
        }
        let path = t.open_path().to_path_buf();
        if self.open_handles >= self.src.limits.max_open_files.max(1) {
            self.close_quietest(id);
        }
        let (file, meta) = match File::open(&path).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok(fm) => fm,
            Err(e) => {
                let kind = error_kind(&e);
                self.src.observer.read_error(self.src.idx, kind);
                if self.files.get_mut(&id)?.open_failed(kind, Instant::now()) {
                    tracing::warn!(source = %self.src.spec.name, path = %path.display(), error = %e,
                        "cannot open log file; will retry on the next event or poll");
                }
                return None;
            }
        };
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
        // Watched while the handle is open, through the handle.
        self.watcher.watch_file(id, &file);
        let t = self.files.get_mut(&id)?;
        if t.open(file, size, start) {
            tracing::info!(source = %self.src.spec.name, path = %path.display(), "log file readable again");
        }
        if start.is_some() {
            self.src.table.insert(id, t.live());
        }
        self.lag.set(id, size, t.cursor());
        self.open_handles += 1;
        Some(())
    }

    /// Where a file opened for the first time starts: its checkpoint (if identity,
    /// fingerprint and pod UID match), else `start_at` on the very first start, else 0.
    /// `None` once decided.
    fn start_offset(&mut self, id: FileId, file: &File, size: u64) -> Option<u64> {
        let t = self.files.get(&id)?;
        if t.start() == Start::Decided {
            return None;
        }
        if let Some(saved) = self.saved.remove(&id) {
            let fp = Fingerprint {
                len: saved.fingerprint_len,
                hash: saved.fingerprint,
            };
            let uid = |p: Option<&Path>| p.and_then(crate::sources::k8s::pod_uid);
            let (was, is) = (uid(saved.target.as_deref().map(Path::new)), uid(t.target()));
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
        if t.start() == Start::FirstDiscovery
            && self.first_start
            && self.src.spec.start_at == StartAt::End
        {
            let at_discovery = t.discovered_size();
            return Some(if at_discovery <= size {
                at_discovery
            } else {
                0
            });
        }
        Some(0)
    }

    /// Close the open handle of the live file read longest ago (but not `keep`'s).
    fn close_quietest(&mut self, keep: FileId) {
        let victim = self
            .files
            .values()
            .filter(|t| t.is_open() && !t.is_gone() && t.id() != keep)
            .min_by_key(|t| t.last_active())
            .map(|t| t.id());
        if let Some(t) = victim.and_then(|v| self.files.get_mut(&v)) {
            self.watcher.unwatch_file(t.id());
            if t.close() {
                self.open_handles -= 1;
            }
        }
    }

    /// Whether a live file whose handle was closed (past `max_open_files`) after it was read
    /// to its end is still as it was: same identity, size and modification time at its path.
    /// Then a poll or a stray event costs one `stat`, not an open that closes another file.
    fn unchanged_while_closed(&self, id: FileId) -> bool {
        let Some(t) = self.files.get(&id) else {
            return false;
        };
        if t.is_open() || t.is_gone() {
            return false;
        }
        std::fs::metadata(t.path()).is_ok_and(|m| FileId::of(&m) == id && t.quiet(&m))
    }

    /// One read turn of at most one chunk.
    pub(super) fn turn(&mut self, id: FileId) -> Result<Turn, Stop> {
        if self.unchanged_while_closed(id) || self.open(id).is_none() {
            return Ok(Turn::Done);
        }
        if self.files.get_mut(&id).is_some_and(|t| t.first_read()) {
            self.carry_split_line(id)?;
        }
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(Turn::Done);
        };
        let read = t.read(
            &mut self.buf,
            Instant::now(),
            self.src.candidates.as_ref(),
            self.src.idx,
        );
        if read.rewritten {
            tracing::info!(source = %self.src.spec.name, path = %t.path().display(), "file truncated; reading it again from the start");
            self.src.observer.truncated(self.src.idx);
        }
        match read.fingerprint {
            Some(fp) if read.rewritten => self.src.table.truncated(id, t.cursor(), fp),
            Some(fp) => self.src.table.fingerprinted(id, fp),
            None => {}
        }
        if let Some(e) = &read.error {
            self.src.observer.read_error(self.src.idx, error_kind(e));
            tracing::warn!(source = %self.src.spec.name, path = %t.path().display(), error = %e, "read failed; will retry");
            return Ok(Turn::Done);
        }
        self.lag.set(id, t.size(), t.cursor());
        if read.bytes == 0 {
            return Ok(Turn::Done);
        }
        let more = read.more;
        self.emit(id, read.framed, read.bytes)?;
        Ok(if more { Turn::More } else { Turn::Done })
    }

    /// Before a new file's first read: if the file that was at its path before rotation ends
    /// with an unfinished CRI line (`P` pieces, the runtime writing the rest into the new
    /// file), hand those pieces over, so the line comes out whole, once, from here.
    fn carry_split_line(&mut self, id: FileId) -> Result<(), Stop> {
        if !matches!(self.src.spec.format, Format::Cri | Format::Auto) {
            return Ok(());
        }
        let Some(path) = self.files.get(&id).map(|t| t.path().to_path_buf()) else {
            return Ok(());
        };
        let max = self.src.limits.framing.max_record_bytes() as u64;
        let Some(bytes) = self
            .files
            .values_mut()
            .find(|p| p.id() != id && p.drained_from(&path))
            .and_then(|p| p.take_unfinished_line(max))
        else {
            return Ok(());
        };
        tracing::debug!(source = %self.src.spec.name, path = %path.display(), bytes = bytes.len(),
            "a line split by rotation continues in the new file; joining it");
        let mut framed = Framed::default();
        if let Some(t) = self.files.get_mut(&id) {
            t.carry_in(&bytes, Instant::now(), &mut framed);
        }
        self.emit(id, framed, 0)
    }

    /// Send a file's framed records, acknowledging up to the end of the last one.
    pub(super) fn emit(&mut self, id: FileId, framed: Framed, bytes: u64) -> Result<(), Stop> {
        report_framed(&*self.src.observer, self.src.idx, &framed, bytes);
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(());
        };
        let Some((cursor, offset)) = t.ack(framed.consumed, !framed.ends.is_empty()) else {
            return Ok(());
        };
        let ack = Ack {
            cursor,
            offset,
            progress: Some(Progress {
                unsaved: self.src.unsaved.clone(),
                records: framed.ends.len() as u64 + framed.skipped_records,
            }),
        };
        self.src.sink.send(RecordBatch {
            source: self.src.idx,
            data: framed.data,
            ends: framed.ends,
            lines: framed.lines,
            k8s: t.k8s().cloned(),
            ack: Some(ack),
            reserved: Default::default(),
        })
    }
}
