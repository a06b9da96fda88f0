//! Wake-ups for a file source: `notify` events, and the stop signal.
//!
//! The reader thread sleeps on a condition variable until an event, its poll interval, or a
//! framer's idle deadline; nothing spins. Events only record *which* paths changed (a bounded
//! set); when that set overflows, or the kernel queue overflowed, the reader rescans
//! everything instead, as it does on every poll (the fallback for NFS and lost events).
//!
//! Only events that can mean news are taken: writes, creations, deletions, renames and
//! attribute changes. Opens, reads and closes without writing are dropped where they arrive
//! (the inotify backend of `notify` subscribes to them and cannot be told otherwise): the
//! reader's own opens, and discovery's directory reads, would otherwise wake the reader,
//! which opens files again, in a loop that never goes idle.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use notify::{EventKind, RecursiveMode, Watcher as _};

use super::discover::WatchDir;
use super::identity::FileId;

/// Paths remembered between wake-ups before falling back to a full rescan.
const MAX_PENDING_PATHS: usize = 4096;

/// What happened since the reader last looked: why it wakes.
#[derive(Debug, Default)]
pub(super) struct WakeReasons {
    /// Paths with events.
    pub paths: HashSet<PathBuf>,
    /// Something appeared, vanished or was renamed, or events were lost: rediscover.
    pub rescan: bool,
    /// Renames seen (from, to), so a file renamed away before it was ever read can still be
    /// found and drained.
    pub renames: Vec<(PathBuf, PathBuf)>,
    /// Stop reading.
    pub stop: bool,
}

/// Shared between event producers and the reader thread.
#[derive(Debug, Default)]
pub struct Wake {
    pending: Mutex<WakeReasons>,
    cond: Condvar,
}

impl Wake {
    /// A new wake-up point.
    pub fn new() -> Arc<Wake> {
        Arc::new(Wake::default())
    }

    fn with(&self, f: impl FnOnce(&mut WakeReasons)) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut p);
        self.cond.notify_one();
    }

    /// Ask the reader to stop.
    pub fn stop(&self) {
        self.with(|p| p.stop = true);
    }

    /// Ask for a full rescan.
    pub fn rescan(&self) {
        self.with(|p| p.rescan = true);
    }

    /// Record a rename.
    pub fn renamed(&self, from: PathBuf, to: PathBuf) {
        self.with(|p| {
            p.rescan = true;
            if p.renames.len() < MAX_PENDING_PATHS {
                p.renames.push((from, to));
            }
        });
    }

    /// Record an event on `paths`.
    pub fn event(&self, paths: impl IntoIterator<Item = PathBuf>, rescan: bool) {
        self.with(|p| {
            p.rescan |= rescan;
            for path in paths {
                if p.paths.len() >= MAX_PENDING_PATHS {
                    p.rescan = true;
                    break;
                }
                p.paths.insert(path);
            }
        });
    }

    /// Sleep until something is pending or `deadline` passes (with no deadline, until
    /// something is pending), then take what is pending.
    pub(super) fn wait(&self, deadline: Option<Instant>) -> WakeReasons {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if p.stop || p.rescan || !p.paths.is_empty() || !p.renames.is_empty() {
                break;
            }
            p = match deadline {
                None => self.cond.wait(p).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    self.cond
                        .wait_timeout(p, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        let stop = p.stop;
        let taken = std::mem::take(&mut *p);
        p.stop = stop;
        taken
    }
}

/// Whether an event can mean news for a reader: anything but an open, a read, or a close
/// (a close after writing follows writes that were reported themselves). A lost-events
/// marker always matters.
pub fn matters(ev: &notify::Event) -> bool {
    ev.need_rescan() || !matches!(ev.kind, EventKind::Access(_))
}

/// The `notify` watcher of one source and the directories it watches.
pub struct DirWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashMap<PathBuf, bool>,
    /// Open files watched themselves, by identity, with the handle path their watch was
    /// added at: a write through another name (a hard link elsewhere) raises no event in the
    /// watched directory, but does on the file.
    files: HashMap<FileId, PathBuf>,
    /// The same, from handle path to identity (events name the handle path).
    by_handle: HashMap<PathBuf, FileId>,
    /// A wanted directory could not be watched, or is on a filesystem whose changes made by
    /// other machines inotify never reports (NFS, SMB, FUSE…): only polling sees everything.
    blind_spots: bool,
}

/// Filesystems where another machine (or a user-space server) can change files without an
/// inotify event here (`statfs` magic numbers).
const REMOTE_FILESYSTEMS: &[i64] = &[
    0x6969,      // NFS
    0x517B,      // SMB
    0xFF53_4D42, // CIFS
    0xFE53_4D42, // SMB2
    0x6573_5546, // FUSE
    0x00C3_6400, // Ceph
    0x0102_1997, // 9P
    0x5346_414F, // AFS
    0x0116_1970, // GFS2
    0x7461_636F, // OCFS2
    0x0BD0_0BD0, // Lustre
];

/// Whether `dir` is on a filesystem listed in [`REMOTE_FILESYSTEMS`] (or cannot be asked).
fn on_remote_filesystem(dir: &std::path::Path) -> bool {
    let Ok(st) = rustix::fs::statfs(dir) else {
        return true;
    };
    #[allow(clippy::unnecessary_cast)] // f_type's type differs between targets
    let magic = st.f_type as i64;
    REMOTE_FILESYSTEMS.contains(&magic)
}

impl DirWatcher {
    /// A watcher that reports into `wake`. If the platform watcher cannot be created (inotify
    /// limits), the source still works from its poll interval; that is logged once.
    pub fn new(wake: Arc<Wake>, source: &str) -> DirWatcher {
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if !matters(&ev) => {}
            Ok(ev) => {
                if let EventKind::Modify(notify::event::ModifyKind::Name(
                    notify::event::RenameMode::Both,
                )) = ev.kind
                {
                    if let [from, to] = &ev.paths[..] {
                        wake.renamed(from.clone(), to.clone());
                    }
                }
                let rescan = ev.need_rescan()
                    || matches!(
                        ev.kind,
                        EventKind::Create(_)
                            | EventKind::Remove(_)
                            | EventKind::Modify(notify::event::ModifyKind::Name(_))
                            | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                            | EventKind::Any
                            | EventKind::Other
                    );
                wake.event(ev.paths, rescan);
            }
            Err(_) => wake.rescan(),
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(source, error = %e, "file events unavailable; relying on polling");
                None
            }
        };
        DirWatcher {
            blind_spots: watcher.is_none(),
            watcher,
            watched: HashMap::new(),
            files: HashMap::new(),
            by_handle: HashMap::new(),
        }
    }

    /// Whether events show every change under the watched directories (all watched, all on
    /// local filesystems). Then a periodic poll only guards against the unforeseen and can be
    /// rare; otherwise polling is how changes are seen.
    pub fn sees_everything(&self) -> bool {
        !self.blind_spots
    }

    /// Watch an open file itself (its writes, whatever name they come through), for as long
    /// as its handle is open. The watch is added through the handle (`/proc/self/fd/<n>`), not
    /// the file's name: a name soon leads to another file (rotation), and a second watch under
    /// the same name would replace the first. Without it, the file's directory still reports
    /// writes made through the name it is tailed by.
    pub fn watch_file(&mut self, id: FileId, file: &std::fs::File) {
        use std::os::fd::AsRawFd;
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        if self.files.contains_key(&id) {
            return;
        }
        let handle = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        match w.watch(&handle, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.by_handle.insert(handle.clone(), id);
                self.files.insert(id, handle);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch an open file; its directory's events cover it");
            }
        }
    }

    /// Stop watching a file whose handle is closed (or about to be).
    pub fn unwatch_file(&mut self, id: FileId) {
        if let (Some(w), Some(handle)) = (self.watcher.as_mut(), self.files.remove(&id)) {
            self.by_handle.remove(&handle);
            // Fails harmlessly when the kernel dropped it already (the file was deleted).
            let _ = w.unwatch(&handle);
        }
    }

    /// The file whose own watch reported an event at `path`, if any.
    pub fn file_at(&self, path: &std::path::Path) -> Option<FileId> {
        self.by_handle.get(path).copied()
    }

    /// Watch exactly `dirs` (adding and removing watches as needed).
    pub fn set(&mut self, dirs: &[WatchDir]) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        let want: HashMap<PathBuf, bool> =
            dirs.iter().map(|d| (d.dir.clone(), d.recursive)).collect();
        let mut blind = false;
        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|(d, r)| want.get(*d) != Some(r))
            .map(|(d, _)| d.clone())
            .collect();
        let mut changed = !stale.is_empty();
        for d in stale {
            let _ = w.unwatch(&d);
            self.watched.remove(&d);
        }
        for (d, recursive) in want {
            if self.watched.contains_key(&d) {
                continue;
            }
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match w.watch(&d, mode) {
                Ok(()) => {
                    self.watched.insert(d, recursive);
                    changed = true;
                }
                Err(e) => {
                    blind = true;
                    tracing::debug!(dir = %d.display(), error = %e, "cannot watch directory; polling covers it");
                }
            }
        }
        if blind {
            self.blind_spots = true;
        } else if changed || self.blind_spots {
            // A statfs per directory, only when the set of directories changed.
            self.blind_spots = self.watched.keys().any(|d| on_remote_filesystem(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, Flag, ModifyKind};
    use notify::Event;

    #[test]
    fn opens_reads_and_closes_do_not_wake_the_reader() {
        let access = |k| Event::new(EventKind::Access(k));
        assert!(!matters(&access(AccessKind::Open(AccessMode::Any))));
        assert!(!matters(&access(AccessKind::Read)));
        assert!(!matters(&access(AccessKind::Close(AccessMode::Read))));
        assert!(!matters(&access(AccessKind::Close(AccessMode::Write))));
        assert!(matters(&Event::new(EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        )))));
        assert!(matters(&Event::new(EventKind::Create(CreateKind::File))));
        // A lost-events marker always matters, whatever its kind.
        assert!(matters(
            &access(AccessKind::Open(AccessMode::Any)).set_flag(Flag::Rescan)
        ));
    }

    #[test]
    fn a_local_directory_is_not_remote() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!on_remote_filesystem(dir.path()));
        assert!(on_remote_filesystem(&dir.path().join("missing")));
    }
}
