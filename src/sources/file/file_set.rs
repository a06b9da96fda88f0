//! The file-set tracker: which files a source follows, found by discovery and `notify`
//! events, followed through renames and replacement, and forgotten once drained.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::checkpoint::SavedFile;
use super::discover::WatchDir;
use super::identity::{FileId, Fingerprint};
use super::scheduler::{ReaderThread, MAX_CLOSED_PODS};
use super::tailer::{resolve, Start, Tailer};
use super::unmatched::{self, Notice};

impl ReaderThread {
    pub(super) fn watch_dirs(&self) -> Vec<WatchDir> {
        self.with_file_dirs(self.src.discovery.watch_dirs())
    }

    /// `dirs` and the directories of tailed files that live elsewhere (symlink targets).
    fn with_file_dirs(&self, mut dirs: Vec<WatchDir>) -> Vec<WatchDir> {
        // Thousands of symlinked files (a Kubernetes node) share few directories: a set
        // keeps this linear.
        let mut seen: HashSet<&Path> = dirs.iter().map(|d| d.dir.as_path()).collect();
        let mut extra = Vec::new();
        for t in self.files.values() {
            if let Some(dir) = t.target().and_then(Path::parent) {
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
        start: Start,
        discovered_size: u64,
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
            (self.src.spec.format, self.src.limits.framing),
            k8s,
            start,
            discovered_size,
            now,
        )
    }

    /// Rediscover the globs: new files, files replaced at their path, files gone. Returns
    /// the files that may have news: all but the quiet ones whose handle is closed and whose
    /// size and modification time are as last read (discovery's `stat` already shows it).
    pub(super) fn rescan(&mut self, initial: bool) -> Vec<FileId> {
        let roots = self.src.discovery.watch_dirs();
        let dirs = self.with_file_dirs(roots.clone());
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
                .is_some_and(|t| t.path() != path && !t.is_at(&path))
            {
                // A new file reuses the inode of one deleted while its handle was closed: it
                // is not that file renamed, and keeps nothing of it (offset, pod labels).
                tracing::debug!(source = %self.src.spec.name, path = %path.display(),
                    "new file reuses the inode of a deleted one; reading it as a new file");
                self.forget(id);
            }
            let indexed = known == Some(id);
            if let Some(t) = self.files.get_mut(&id) {
                if t.path() != path {
                    // Renamed to another path the globs match: follow it.
                    t.follow(path.clone());
                    self.src.table.moved(id, &path, t.target());
                }
                if !t.quiet(&meta) {
                    ready.push(id);
                }
                t.found_again();
                if !indexed {
                    Self::index(&mut self.by_path, t);
                }
                continue;
            }
            let start = if initial {
                Start::FirstDiscovery
            } else {
                Start::Later
            };
            let target = resolve(&path);
            let t = self.tailer(id, path, target, start, meta.len(), now);
            if let Some(k) = t.k8s() {
                self.src.observer.pod_logs(self.src.idx, k, true);
            }
            Self::index(&mut self.by_path, &t);
            tracing::debug!(source = %self.src.spec.name, path = %t.path().display(), "watching file");
            self.files.insert(id, Box::new(t));
            ready.push(id);
            // Fix its start offset now (End means the size at discovery, not at first read).
            let _ = self.open(id);
        }
        let vanished: Vec<FileId> = self
            .files
            .values()
            .filter(|t| !t.is_gone() && !seen.contains(&t.id()))
            .map(|t| t.id())
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
        ready.extend(self.files.values().filter(|t| t.is_gone()).map(|t| t.id()));
        // Files found just now may live elsewhere (a symlink's target, as in Kubernetes'
        // /var/log/containers): watch their directories at once, not from the next poll.
        // What they got before the watch is read by the drain that follows every rescan.
        let found = self.watch_dirs();
        if found != dirs {
            self.watcher.set(&found);
        }
        // A directory a glob needs appeared or went during this pass (`mkdir -p a/b/c`
        // while `a` was watched): what was created in it before its watch began shows no
        // event, so look again now that it is watched. Nothing polls for it later.
        if self.src.discovery.watch_dirs() != roots {
            self.src.wake.rescan();
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
    pub(super) fn follow_renames(&mut self, renames: &[(PathBuf, PathBuf)], now: Instant) {
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
            let mut t = self.tailer(id, from.clone(), Some(to.clone()), Start::Later, 0, now);
            t.mark_gone(now);
            tracing::debug!(source = %self.src.spec.name, path = %to.display(), "file rotated away before it was read; draining it");
            self.files.insert(id, Box::new(t));
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
            let mut t = self.tailer(id, path, Some(found), Start::Later, 0, now);
            t.mark_gone(now);
            tracing::info!(source = %self.src.spec.name, path = %t.path().display(),
                file = %t.open_path().display(), unread_bytes = size - saved.offset,
                "resuming a file rotated or replaced while oauthwatch was down; draining it");
            self.files.insert(id, Box::new(t));
            let _ = self.open(id);
        }
    }

    /// Where a file that left its path went, if it stayed in the same directory (rotation by
    /// rename), so a restart can still drain it.
    fn find_renamed(t: &Tailer) -> Option<PathBuf> {
        let place = t.target().unwrap_or(t.path());
        find_in_dir(place.parent()?, t.id(), t.fingerprint()).map(|(p, _)| p)
    }

    /// Stop following a file without reading more (it no longer exists as that file, or was
    /// read to its end after it went away); its checkpoint entry goes too. Returns its tailer.
    pub(super) fn forget(&mut self, id: FileId) -> Option<Box<Tailer>> {
        self.watcher.unwatch_file(id);
        let t = self.files.remove(&id);
        if let Some(t) = &t {
            if t.is_open() {
                self.open_handles -= 1;
            }
            self.by_path.retain(|_, v| *v != id);
        }
        self.src.table.remove(id);
        t
    }

    fn index(by_path: &mut HashMap<PathBuf, FileId>, t: &Tailer) {
        by_path.insert(t.path().to_path_buf(), t.id());
        if let Some(target) = t.target() {
            by_path.insert(target.to_path_buf(), t.id());
        }
    }

    pub(super) fn mark_gone(&mut self, id: FileId, now: Instant) {
        if let Some(t) = self.files.get_mut(&id) {
            if t.mark_gone(now) {
                tracing::debug!(source = %self.src.spec.name, path = %t.path().display(), "file moved away or deleted; draining it");
                if let Some(new_path) = Self::find_renamed(t) {
                    self.src.table.retargeted(id, &new_path);
                    t.set_target(new_path);
                }
            }
        }
    }

    /// After a closed file: if it was its pod's last file, the pod's series may retire once
    /// its log directory is gone too (the pod was deleted, not merely rotated). The kubelet
    /// removes links and directories in no fixed order, so a directory still there is looked
    /// at again on every rescan.
    pub(super) fn report_pod_drained(&mut self, closed: &Tailer) {
        let Some(k) = closed.k8s() else { return };
        let Some(dir) = closed.target().unwrap_or(closed.path()).parent() else {
            return;
        };
        if self.closed_pods.len() < MAX_CLOSED_PODS {
            self.closed_pods.insert(k.clone(), dir.to_path_buf());
        }
        self.recheck_closed_pods();
    }

    /// Report pods with no file left whose log directory has gone; forget those with a file
    /// again.
    pub(super) fn recheck_closed_pods(&mut self) {
        if self.closed_pods.is_empty() {
            return;
        }
        let live: HashSet<&Arc<crate::sources::K8sRef>> =
            self.files.values().filter_map(|t| t.k8s()).collect();
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
