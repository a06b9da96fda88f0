//! The file server: one thread per file source that discovers files, follows them through
//! rotation and truncation, and reads them fairly in bounded chunks.
//!
//! The thread sleeps until a `notify` event, the poll interval (the fallback for NFS and lost
//! events), a framer's idle deadline, or the end of a rotated file's grace period. Each wake
//! reads every file with news in turns of at most `read_chunk_bytes`, round-robin, so one
//! busy file cannot starve the others; rotated-away files get their turns first, so an old
//! file is drained before its successor is read. Sending into the bounded queue blocks when
//! the consumer falls behind, which pauses reading: memory stays bounded by the queue, one
//! chunk, and each file's framer.

pub mod checkpoint;
pub mod discover;
pub mod identity;
pub mod tailer;
pub mod unmatched;
pub mod watch;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framing::Framed;
use crate::sources::{Ack, LagMeter, SourceIdx, SourceObserver, SourceSpec, StartAt};

use checkpoint::{LiveFile, Loaded, SavedFile, SharedTable};
use discover::{Discovery, WatchDir};
use identity::{FileId, Fingerprint, TailCheck};
use tailer::{error_kind, read_chunk, resolve, Tailer};
use unmatched::{NoMatchWarning, Notice};
use watch::{DirWatcher, Wake};

use super::{report_framed, Sink, Stop};

/// Everything a file source's thread needs.
pub struct FileSource {
    /// Index of the source.
    pub idx: SourceIdx,
    /// Its spec.
    pub spec: SourceSpec,
    /// Compiled globs.
    pub discovery: Discovery,
    /// Resource bounds.
    pub limits: crate::config::Limits,
    /// The installed rules' candidate search, to frame sparsely with (`None`: in full).
    pub candidates: Option<crate::batch::SharedCandidates>,
    /// Fallback poll period.
    pub poll_interval: Duration,
    /// Event sink.
    pub observer: Arc<dyn SourceObserver>,
    /// Where batches go.
    pub sink: Sink,
    /// Wake-ups.
    pub wake: Arc<Wake>,
    /// Live checkpoint table.
    pub table: SharedTable,
    /// Acknowledged work not yet checkpointed (wakes the checkpointer).
    pub unsaved: Arc<crate::sources::Unsaved>,
    /// Told once the first discovery has fixed the start offsets of the files already there,
    /// so `Sources::start` returns only then: a line written after it is never skipped.
    pub ready: Option<std::sync::mpsc::SyncSender<()>>,
}

/// Outcome of one read turn.
enum Turn {
    /// A whole chunk was read; the file may have more.
    More,
    /// Nothing more for now.
    Done,
}

struct Server {
    src: FileSource,
    watcher: DirWatcher,
    /// Saved positions not yet matched to a file.
    saved: HashMap<FileId, SavedFile>,
    /// No checkpoint existed (or it was set aside): `start_at` applies to files found first.
    first_start: bool,
    files: HashMap<FileId, Tailer>,
    /// Path (and symlink target) → identity, for mapping events.
    by_path: HashMap<PathBuf, FileId>,
    open_handles: usize,
    buf: Vec<u8>,
    reported_watched: Option<u64>,
    /// Pods whose last file was closed, with its directory: reported drained once that
    /// directory is gone.
    closed_pods: HashMap<Arc<crate::sources::K8sRef>, PathBuf>,
    /// Size and acknowledged offset of every tailed file, read at each scrape.
    lag: Arc<LagMeter>,
    no_match: NoMatchWarning,
}

/// With events covering every watched directory, a full rediscovery with a `stat` of every
/// file runs every this many poll intervals (once a minute by default).
const FULL_POLL_EVERY: u32 = 6;

/// Pods remembered while their log directories linger (beyond it, a pod's series retire by
/// the registry's idle eviction instead).
const MAX_CLOSED_PODS: usize = 10_000;

impl FileSource {
    /// Load the checkpoint and run until stopped (on the calling thread).
    pub fn run(self) {
        let (saved, first_start) = {
            let store = self
                .table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .store
                .clone();
            match store.load() {
                Loaded::FirstStart => (Vec::new(), true),
                Loaded::Files(f) => (f, false),
                Loaded::SetAside { .. } => (Vec::new(), true),
            }
        };
        let watcher = DirWatcher::new(self.wake.clone(), &self.spec.name);
        let chunk = self.limits.read_chunk_bytes.max(1);
        let mut server = Server {
            saved: saved
                .into_iter()
                .map(|s| {
                    (
                        FileId {
                            dev: s.dev,
                            ino: s.ino,
                        },
                        s,
                    )
                })
                .collect(),
            first_start,
            watcher,
            files: HashMap::new(),
            by_path: HashMap::new(),
            open_handles: 0,
            buf: vec![0u8; chunk],
            reported_watched: None,
            closed_pods: HashMap::new(),
            lag: Arc::new(LagMeter::default()),
            no_match: NoMatchWarning::default(),
            src: self,
        };
        server
            .src
            .observer
            .track_lag(server.src.idx, server.lag.clone());
        let _ = server.serve();
        tracing::debug!(source = %server.src.spec.name, "file source stopped");
    }
}

impl Server {
    fn serve(&mut self) -> Result<(), Stop> {
        self.rescan(true);
        let mut next_poll = Instant::now() + self.poll_period();
        if let Some(ready) = self.src.ready.take() {
            let _ = ready.send(());
        }
        let all: Vec<FileId> = self.files.keys().copied().collect();
        self.drain(all)?;
        self.report();
        loop {
            let deadline = self.next_deadline(next_poll);
            let pending = self.src.wake.wait(deadline);
            if pending.stop {
                // No more reading, but record files that appeared or were renamed away since
                // the last look, so the final checkpoint knows them and a restart reads them.
                let now = Instant::now();
                self.follow_renames(&pending.renames, now);
                self.rescan(false);
                return Err(Stop);
            }
            let now = Instant::now();
            let polled = now >= next_poll;
            if polled {
                next_poll = now + self.poll_period();
            }
            let ready: Vec<FileId> = if pending.rescan || polled {
                self.follow_renames(&pending.renames, now);
                let ready = self.rescan(false);
                // A directory that can no longer be watched shortens the period at once.
                next_poll = next_poll.min(now + self.poll_period());
                ready
            } else {
                let mut ready = Vec::new();
                let mut unknown = false;
                for p in &pending.paths {
                    match self.by_path.get(p) {
                        Some(id) => ready.push(*id),
                        None => unknown = true,
                    }
                }
                if unknown {
                    // Perhaps a rotated-away file being written under its new name.
                    ready.extend(
                        self.files
                            .values()
                            .filter(|t| t.is_gone() && t.file.is_some())
                            .map(|t| t.id),
                    );
                }
                ready
            };
            self.drain(ready)?;
            self.flush_idle()?;
            self.expire_gone()?;
            self.report();
        }
    }

    /// Time between two full rescans. With events covering every watched directory, a
    /// rescan guards only against the unforeseen (writes through mmap, say) and runs every
    /// `FULL_POLL_EVERY` poll intervals, so an idle daemon with thousands of files stays
    /// asleep; on NFS and the like, or with a directory not watched, every poll interval.
    fn poll_period(&self) -> Duration {
        if self.watcher.sees_everything() {
            self.src.poll_interval * FULL_POLL_EVERY
        } else {
            self.src.poll_interval
        }
    }

    /// The earliest of: next poll, a framer's idle deadline, a gone file's grace end.
    fn next_deadline(&self, next_poll: Instant) -> Instant {
        let grace = self.src.limits.rotated_file_grace;
        self.files
            .values()
            .flat_map(|t| [t.framer.idle_deadline(), t.gone_since.map(|g| g + grace)])
            .flatten()
            .fold(next_poll, Instant::min)
    }

    fn watch_dirs(&self) -> Vec<WatchDir> {
        let mut dirs = self.src.discovery.watch_dirs();
        // Thousands of symlinked files (a Kubernetes node) share few directories: a set
        // keeps this linear.
        let mut seen: HashSet<&Path> = dirs.iter().map(|d| d.dir.as_path()).collect();
        let mut extra = Vec::new();
        for t in self.files.values() {
            if let Some(dir) = t.target.as_ref().and_then(|p| p.parent()) {
                if seen.insert(dir) {
                    extra.push(WatchDir {
                        dir: dir.to_path_buf(),
                        recursive: false,
                    });
                }
            }
        }
        dirs.extend(extra);
        dirs
    }

    /// A tailer for a file found at `path` (the name the globs matched) that is at `target`
    /// when that differs, framed as the source says, with the Kubernetes identity of those
    /// paths when the source asks for it.
    fn tailer(
        &self,
        id: FileId,
        path: PathBuf,
        target: Option<PathBuf>,
        initial: bool,
        now: Instant,
    ) -> Tailer {
        let k8s = self
            .src
            .spec
            .kubernetes_metadata
            .then(|| crate::sources::k8s::identify(&path, target.as_deref()))
            .flatten()
            .map(Arc::new);
        Tailer::new(
            id,
            path,
            target,
            self.src.spec.format,
            self.src.limits.framing,
            k8s,
            initial,
            now,
        )
    }

    /// Rediscover the globs: new files, files replaced at their path, files gone. Returns
    /// the files that may have news: all but the quiet ones whose handle is closed and whose
    /// size and modification time are as last read (discovery's `stat` already shows it).
    fn rescan(&mut self, initial: bool) -> Vec<FileId> {
        let dirs = self.watch_dirs();
        self.watcher.set(&dirs);
        let now = Instant::now();
        let mut seen: HashSet<FileId> = HashSet::new();
        let mut ready = Vec::new();
        for path in self.src.discovery.discover() {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let id = FileId::of(&meta);
            if !seen.insert(id) {
                continue; // a second path (link and target) to a file already seen
            }
            let known = self.by_path.get(&path).copied();
            if let Some(old) = known {
                if old != id && self.files.contains_key(&old) {
                    // Replaced at its path: rename-then-create, or delete-then-recreate.
                    self.src.observer.rotated(self.src.idx);
                    tracing::info!(source = %self.src.spec.name, path = %path.display(), "file rotated");
                    self.mark_gone(old, now);
                }
            }
            if self
                .files
                .get(&id)
                .is_some_and(|t| t.path != path && !same_file(t, &path))
            {
                // A new file reuses the inode of one deleted while its handle was closed: it
                // is not that file renamed, and keeps nothing of it (offset, pod labels).
                tracing::debug!(source = %self.src.spec.name, path = %path.display(),
                    "new file reuses the inode of a deleted one; reading it as a new file");
                self.forget(id);
            }
            let indexed = known == Some(id);
            if let Some(t) = self.files.get_mut(&id) {
                if t.path != path {
                    // Renamed to another path the globs match: follow it.
                    t.path = path.clone();
                    t.target = resolve(&path);
                    if let Some(lf) = self
                        .src
                        .table
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .files
                        .get_mut(&id)
                    {
                        lf.path = path.clone();
                        lf.target = t.target.clone();
                    }
                }
                let unchanged = t.file.is_none()
                    && t.gone_since.is_none()
                    && t.start_pending.is_none()
                    && t.read_pos >= t.size
                    && meta.len() == t.size
                    && t.settled_mtime.is_some()
                    && meta.modified().ok() == t.settled_mtime;
                if !unchanged {
                    ready.push(id);
                }
                t.gone_since = None;
                if !indexed {
                    Self::index(&mut self.by_path, t);
                }
                continue;
            }
            let mut t = self.tailer(id, path.clone(), resolve(&path), initial, now);
            t.discovered_size = meta.len();
            if let Some(k) = &t.k8s {
                self.src.observer.pod_logs(self.src.idx, k, true);
            }
            Self::index(&mut self.by_path, &t);
            tracing::debug!(source = %self.src.spec.name, path = %t.path.display(), "watching file");
            self.files.insert(id, t);
            ready.push(id);
            // Fix its start offset now (End means the size at discovery, not at first read).
            let _ = self.open(id);
        }
        let vanished: Vec<FileId> = self
            .files
            .values()
            .filter(|t| !t.is_gone() && !seen.contains(&t.id))
            .map(|t| t.id)
            .collect();
        for id in vanished {
            self.mark_gone(id, now);
        }
        self.report_matched(seen.len() as u64, now);
        if initial {
            self.resume_rotated(now);
        }
        self.recheck_closed_pods();
        // Files that left their paths (or were never at one) still drain.
        ready.extend(self.files.values().filter(|t| t.is_gone()).map(|t| t.id));
        // Files found just now may live elsewhere (a symlink's target, as in Kubernetes'
        // /var/log/containers): watch their directories at once, not from the next poll.
        // What they got before the watch is read by the drain that follows every rescan.
        let found = self.watch_dirs();
        if found != dirs {
            self.watcher.set(&found);
        }
        ready
    }

    /// Report how many files the globs match; warn (rate-limited) while that is none.
    fn report_matched(&mut self, matched: u64, now: Instant) {
        self.src.observer.files_matched(self.src.idx, matched);
        let spec = &self.src.spec;
        match self.no_match.observe(matched, now) {
            Notice::Quiet => {}
            Notice::NoMatch { first } => tracing::warn!(
                source = %spec.name,
                globs = %spec.paths.iter().map(|g| unmatched::shown_glob(g)).collect::<Vec<_>>().join(", "),
                exclude = %spec.exclude.join(", "),
                repeated = !first,
                "no file matches this source's globs; nothing is read from it until one appears \
                 (check the paths, or ignore this if the application creates its log later)"
            ),
            Notice::Matched => tracing::info!(
                source = %spec.name,
                files = matched,
                "the source's globs match files again; reading them"
            ),
        }
    }

    /// A path the globs match was renamed to one they do not match: if the file was never
    /// seen (created, written and rotated away between two looks), track it as a rotated
    /// file, from its beginning, so its lines are not lost.
    fn follow_renames(&mut self, renames: &[(PathBuf, PathBuf)], now: Instant) {
        for (from, to) in renames {
            if !self.src.discovery.matches(from) || self.src.discovery.matches(to) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(to) else {
                continue;
            };
            let id = FileId::of(&meta);
            if !meta.is_file() || self.files.contains_key(&id) {
                continue;
            }
            let mut t = self.tailer(id, from.clone(), Some(to.clone()), false, now);
            t.gone_since = Some(now);
            tracing::debug!(source = %self.src.spec.name, path = %to.display(), "file rotated away before it was read; draining it");
            self.files.insert(id, t);
            let _ = self.open(id);
        }
    }

    /// After a restart: files in the checkpoint that discovery did not find again (rotated
    /// away, or their symlink replaced, while oauthwatch was down) are looked for where they
    /// were last seen and in that directory (the kubelet renames `0.log` to
    /// `0.log.<timestamp>` beside it), and drained from their checkpoint with the identity
    /// they had, then closed like any rotated file. What cannot be found is logged.
    fn resume_rotated(&mut self, now: Instant) {
        let leftovers: Vec<SavedFile> = self
            .saved
            .iter()
            .filter(|(id, _)| !self.files.contains_key(id))
            .map(|(_, s)| s.clone())
            .collect();
        for saved in leftovers {
            let id = FileId {
                dev: saved.dev,
                ino: saved.ino,
            };
            let path = PathBuf::from(&saved.path);
            let target = saved.target.as_ref().map(PathBuf::from);
            let fingerprint = Fingerprint {
                len: saved.fingerprint_len,
                hash: saved.fingerprint,
            };
            let mut places: Vec<&Path> = target.iter().map(PathBuf::as_path).collect();
            places.push(&path);
            let Some((found, size)) = find_file(&places, id, fingerprint) else {
                self.saved.remove(&id);
                tracing::warn!(source = %self.src.spec.name, path = %path.display(),
                    target = %target.as_deref().unwrap_or(&path).display(), offset = saved.offset,
                    "a file in the checkpoint is gone (deleted, or rotated out of reach, while oauthwatch was down); lines written to it after the checkpoint, if any, were not read");
                continue;
            };
            if size <= saved.offset {
                self.saved.remove(&id);
                continue; // read to its end before the stop
            }
            let mut t = self.tailer(id, path, Some(found), false, now);
            t.gone_since = Some(now);
            tracing::info!(source = %self.src.spec.name, path = %t.path.display(),
                file = %t.open_path().display(), unread_bytes = size - saved.offset,
                "resuming a file rotated or replaced while oauthwatch was down; draining it");
            self.files.insert(id, t);
            let _ = self.open(id);
        }
    }

    /// Where a file that left its path went, if it stayed in the same directory (rotation by
    /// rename), so a restart can still drain it.
    fn find_renamed(t: &Tailer) -> Option<PathBuf> {
        let place = t.target.as_ref().unwrap_or(&t.path);
        find_in_dir(place.parent()?, t.id, t.fingerprint).map(|(p, _)| p)
    }

    /// Stop following a file without reading more (it no longer exists as that file, or was
    /// read to its end after it went away); its checkpoint entry goes too. Returns its tailer.
    fn forget(&mut self, id: FileId) -> Option<Tailer> {
        let t = self.files.remove(&id);
        if let Some(t) = &t {
            if t.file.is_some() {
                self.open_handles -= 1;
            }
            self.by_path.retain(|_, v| *v != id);
        }
        self.src
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .files
            .remove(&id);
        t
    }

    fn index(by_path: &mut HashMap<PathBuf, FileId>, t: &Tailer) {
        by_path.insert(t.path.clone(), t.id);
        if let Some(target) = &t.target {
            by_path.insert(target.clone(), t.id);
        }
    }

    fn mark_gone(&mut self, id: FileId, now: Instant) {
        if let Some(t) = self.files.get_mut(&id) {
            if t.gone_since.is_none() {
                tracing::debug!(source = %self.src.spec.name, path = %t.path.display(), "file moved away or deleted; draining it");
                t.gone_since = Some(now);
                if let Some(new_path) = Self::find_renamed(t) {
                    t.target = Some(new_path.clone());
                    if let Some(lf) = self
                        .src
                        .table
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .files
                        .get_mut(&id)
                    {
                        lf.target = Some(new_path);
                    }
                }
            }
        }
    }

    /// Read the given files to their current end, one chunk per turn, round-robin; files
    /// that were rotated away go first.
    fn drain(&mut self, ready: Vec<FileId>) -> Result<(), Stop> {
        let mut ids: Vec<FileId> = ready;
        ids.sort_by_key(|id| (self.files.get(id).is_some_and(|t| !t.is_gone()), *id));
        ids.dedup();
        let mut queue: VecDeque<FileId> = ids.into();
        while let Some(id) = queue.pop_front() {
            if let Turn::More = self.turn(id)? {
                queue.push_back(id);
            }
        }
        Ok(())
    }

    /// Open a file's handle, respecting `max_open_files`; decides its start on first open.
    fn open(&mut self, id: FileId) -> Option<()> {
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
            self.src
                .table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .files
                .insert(
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
        Some(())
    }

    /// Where a file opened for the first time starts: its checkpoint (if identity,
    /// fingerprint and pod UID match), else `start_at` on the very first start, else 0.
    fn start_offset(&mut self, id: FileId, file: &File, size: u64) -> Option<u64> {
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

    fn close_quietest(&mut self, keep: FileId) {
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
    fn turn(&mut self, id: FileId) -> Result<Turn, Stop> {
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
            let mut table = self.src.table.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(lf) = table.files.get_mut(&id) {
                lf.cursor = t.cursor.clone();
                lf.fingerprint = t.fingerprint;
            }
        } else if t.fingerprint.can_grow() && size > t.fingerprint.len {
            if let Ok(fp) = Fingerprint::of_file(file) {
                t.fingerprint = fp;
                let mut table = self.src.table.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(lf) = table.files.get_mut(&id) {
                    lf.fingerprint = fp;
                }
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
        crate::batch::push_with(
            self.src.candidates.as_ref(),
            self.src.idx,
            &mut t.framer,
            &self.buf[..n],
            now,
            &mut framed,
        );
        let full = n == self.buf.len();
        self.emit(id, framed, n as u64)?;
        Ok(if full { Turn::More } else { Turn::Done })
    }

    /// Before a new file's first read: if the file that was at its path before rotation ends
    /// with an unfinished CRI line (`P` pieces, the runtime writing the rest into the new
    /// file), hand those pieces over, so the line comes out whole, once, from here.
    fn carry_split_line(&mut self, id: FileId) -> Result<(), Stop> {
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
    fn emit(&mut self, id: FileId, framed: Framed, bytes: u64) -> Result<(), Stop> {
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
                records: framed.ends.len() as u64 + framed.skipped_records,
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

    /// Emit what framers have held past their idle time (a last line without newline, a
    /// multi-line record without continuation).
    fn flush_idle(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let due: Vec<FileId> = self
            .files
            .values()
            .filter(|t| t.framer.idle_deadline().is_some_and(|d| d <= now))
            .map(|t| t.id)
            .collect();
        for id in due {
            let mut framed = Framed::default();
            if let Some(t) = self.files.get_mut(&id) {
                t.framer.flush_idle(now, &mut framed);
            }
            self.emit(id, framed, 0)?;
        }
        Ok(())
    }

    /// Close files gone for longer than the grace period, after a last drain.
    fn expire_gone(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let grace = self.src.limits.rotated_file_grace;
        let expired: Vec<FileId> = self
            .files
            .values()
            .filter(|t| t.gone_since.is_some_and(|g| g + grace <= now))
            .map(|t| t.id)
            .collect();
        for id in expired {
            while let Turn::More = self.turn(id)? {}
            let mut framed = Framed::default();
            if let Some(t) = self.files.get_mut(&id) {
                t.framer.finish(&mut framed);
            }
            self.emit(id, framed, 0)?;
            self.lag.remove(id);
            if let Some(t) = self.forget(id) {
                tracing::debug!(source = %self.src.spec.name, path = %t.path.display(), "closed rotated or deleted file");
                self.report_pod_drained(&t);
            }
        }
        Ok(())
    }

    /// After a closed file: if it was its pod's last file, the pod's series may retire once
    /// its log directory is gone too (the pod was deleted, not merely rotated). The kubelet
    /// removes links and directories in no fixed order, so a directory still there is looked
    /// at again on every rescan.
    fn report_pod_drained(&mut self, closed: &Tailer) {
        let Some(k) = &closed.k8s else { return };
        let Some(dir) = closed.target.as_ref().unwrap_or(&closed.path).parent() else {
            return;
        };
        if self.closed_pods.len() < MAX_CLOSED_PODS {
            self.closed_pods.insert(k.clone(), dir.to_path_buf());
        }
        self.recheck_closed_pods();
    }

    /// Report pods with no file left whose log directory has gone; forget those with a file
    /// again.
    fn recheck_closed_pods(&mut self) {
        if self.closed_pods.is_empty() {
            return;
        }
        let live: HashSet<&Arc<crate::sources::K8sRef>> =
            self.files.values().filter_map(|t| t.k8s.as_ref()).collect();
        let mut gone = Vec::new();
        self.closed_pods.retain(|k, dir| {
            if live.contains(k) {
                return false;
            }
            if dir.exists() {
                return true;
            }
            gone.push(k.clone());
            false
        });
        for k in gone {
            self.src.observer.pod_logs(self.src.idx, &k, false);
        }
    }

    fn report(&mut self) {
        let watched = self.files.len() as u64;
        if self.reported_watched != Some(watched) {
            self.src.observer.files_watched(self.src.idx, watched);
            self.reported_watched = Some(watched);
        }
    }
}

/// Whether the file now at `path`, with the identity of `t`, is the file `t` follows, and not
/// a new file that reuses the inode of one deleted while its handle was closed: an open
/// handle pins the inode; otherwise the first bytes and the pod's UID must agree.
fn same_file(t: &Tailer, path: &Path) -> bool {
    if t.file.is_some() {
        return true;
    }
    let uid = |p: Option<&Path>| p.and_then(crate::sources::k8s::pod_uid);
    let (old, new) = (uid(t.target.as_deref()), uid(resolve(path).as_deref()));
    if old.is_some() && new.is_some() && old != new {
        return false;
    }
    File::open(path)
        .and_then(|f| t.fingerprint.matches(&f))
        .unwrap_or(false)
}

/// A file with identity `id` whose first bytes match `fingerprint`, at one of `places` or
/// beside one of them (renamed within its directory); with its size.
fn find_file(places: &[&Path], id: FileId, fingerprint: Fingerprint) -> Option<(PathBuf, u64)> {
    let is_it = |p: &Path| -> Option<u64> {
        let f = File::open(p).ok()?;
        let m = f.metadata().ok()?;
        (m.is_file() && FileId::of(&m) == id && fingerprint.matches(&f).unwrap_or(false))
            .then_some(m.len())
    };
    for p in places {
        if let Some(size) = is_it(p) {
            return Some((p.to_path_buf(), size));
        }
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for p in places {
        if let Some(d) = p.parent().filter(|d| !dirs.contains(d)) {
            dirs.push(d);
        }
    }
    dirs.into_iter()
        .find_map(|d| find_in_dir(d, id, fingerprint))
}

/// The regular file in `dir` with identity `id` and matching first bytes, if any, with its
/// size (one directory read; rotation is rare).
fn find_in_dir(dir: &Path, id: FileId, fingerprint: Fingerprint) -> Option<(PathBuf, u64)> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let m = e.metadata().ok()?;
        if !(m.is_file() && FileId::of(&m) == id) {
            return None;
        }
        let f = File::open(e.path()).ok()?;
        fingerprint
            .matches(&f)
            .unwrap_or(false)
            .then(|| (e.path(), m.len()))
    })
}
