//! The scheduler of a file source's thread: sleep until an event, a poll, a framer's idle
//! deadline or a rotated file's grace end; then read every file with news in turns of at most
//! one chunk, round-robin, rotated-away files first.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::framing::Framed;
use crate::sources::{K8sRef, LagMeter, Stop};

use super::checkpoint::SavedFile;
use super::identity::FileId;
use super::tailer::Tailer;
use super::unmatched::NoMatchWarning;
use super::watch::DirWatcher;
use super::FileSource;

/// Outcome of one read turn.
pub(super) enum Turn {
    /// A whole chunk was read; the file may have more.
    More,
    /// Nothing more for now.
    Done,
}

/// The state of a file source's thread: the file set it tracks and what it needs to read
/// and send. Its methods are split by concern: the loop here, the file set in
/// [`file_set`](super::file_set), reading in [`reading`](super::reading).
pub(super) struct ReaderThread {
    /// The source's settings, sink and shared handles.
    pub(super) src: FileSource,
    /// Its `notify` watches.
    pub(super) watcher: DirWatcher,
    /// Saved positions not yet matched to a file.
    pub(super) saved: HashMap<FileId, SavedFile>,
    /// No checkpoint existed (or it was set aside): `start_at` applies to files found first.
    pub(super) first_start: bool,
    /// The files followed, by identity. Boxed: a tailer is about 1 KiB (its framer), and the
    /// table keeps a quarter or more of its slots empty, and left whole freed tables behind
    /// each time it grew.
    pub(super) files: HashMap<FileId, Box<Tailer>>,
    /// Path (and symlink target) → identity, for mapping events.
    pub(super) by_path: HashMap<PathBuf, FileId>,
    /// Handles open now (at most `max_open_files`).
    pub(super) open_handles: usize,
    /// The read buffer, one chunk, shared by every file.
    pub(super) buf: Vec<u8>,
    /// The files-watched count last reported (reported again only when it changes).
    pub(super) reported_watched: Option<u64>,
    /// Pods whose last file was closed, with its directory: reported drained once that
    /// directory is gone.
    pub(super) closed_pods: HashMap<Arc<K8sRef>, PathBuf>,
    /// Size and acknowledged offset of every tailed file, read at each scrape.
    pub(super) lag: Arc<LagMeter>,
    /// When to warn that the globs match nothing.
    pub(super) no_match: NoMatchWarning,
}

/// Pods remembered while their log directories linger (beyond it, a pod's series retire by
/// the registry's idle eviction instead).
pub(super) const MAX_CLOSED_PODS: usize = 10_000;

impl ReaderThread {
    /// Discover, read what is there, then wait and read until stopped.
    pub(super) fn serve(&mut self) -> Result<(), Stop> {
        self.rescan(true);
        let mut next_poll = self.poll_period().map(|p| Instant::now() + p);
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
            let polled = next_poll.is_some_and(|p| now >= p);
            if polled {
                next_poll = None;
            }
            let ready: Vec<FileId> =
                if pending.rescan || (polled && !self.watcher.sees_everything()) {
                    self.follow_renames(&pending.renames, now);
                    self.rescan(false)
                } else {
                    let mut ready = Vec::new();
                    let mut unknown = false;
                    for p in &pending.paths {
                        match self.by_path.get(p).copied() {
                            Some(id) => ready.push(id),
                            None => match self.watcher.file_at(p) {
                                Some(id) => ready.push(id),
                                None => unknown = true,
                            },
                        }
                    }
                    if unknown {
                        // Perhaps a rotated-away file being written under its new name.
                        ready.extend(
                            self.files
                                .values()
                                .filter(|t| t.is_gone() && t.is_open())
                                .map(|t| t.id()),
                        );
                    }
                    if polled {
                        // What events cannot show: a file becoming readable (its permissions
                        // or its directory's changed), a drained pod's directory going away.
                        ready.extend(self.unreadable());
                        self.recheck_closed_pods();
                    }
                    ready
                };
            self.drain(ready)?;
            self.flush_idle()?;
            self.expire_gone()?;
            self.report();
            // (Re)arm or drop the poll: a directory that can no longer be watched shortens it
            // at once; with nothing left that events cannot show, nothing wakes the thread.
            next_poll = match (self.poll_period(), next_poll) {
                (None, _) => None,
                (Some(p), Some(n)) => Some(n.min(now + p)),
                (Some(p), None) => Some(now + p),
            };
        }
    }

    /// Time between two polls, if one is needed. Where events show every change (every
    /// directory watched, on a local filesystem), nothing is polled: an idle daemon with
    /// thousands of files sleeps until something changes. Otherwise (NFS and the like, a
    /// directory that cannot be watched) a full rediscovery runs every poll interval; and
    /// while a file cannot be opened yet, or a drained pod's directory lingers, those alone
    /// are looked at again every poll interval.
    pub(super) fn poll_period(&self) -> Option<std::time::Duration> {
        let needed = !self.watcher.sees_everything()
            || !self.closed_pods.is_empty()
            || self.files.values().any(|t| t.unreadable());
        needed.then_some(self.src.poll_interval)
    }

    /// Files whose last open failed (permission denied, say): retried at each poll.
    fn unreadable(&self) -> Vec<FileId> {
        self.files
            .values()
            .filter(|t| t.unreadable())
            .map(|t| t.id())
            .collect()
    }

    /// The earliest of: next poll, a framer's idle deadline, a gone file's grace end; `None`
    /// when nothing is due (sleep until an event).
    pub(super) fn next_deadline(&self, next_poll: Option<Instant>) -> Option<Instant> {
        let grace = self.src.limits.rotated_file_grace;
        self.files
            .values()
            .flat_map(|t| [t.idle_deadline(), t.gone_since().map(|g| g + grace)])
            .flatten()
            .chain(next_poll)
            .min()
    }

    /// Read the given files to their current end, one chunk per turn, round-robin; files
    /// that were rotated away go first.
    pub(super) fn drain(&mut self, ready: Vec<FileId>) -> Result<(), Stop> {
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

    /// Emit what framers have held past their idle time (a last line without newline, a
    /// multi-line record without continuation).
    pub(super) fn flush_idle(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let due: Vec<FileId> = self
            .files
            .values()
            .filter(|t| t.idle_deadline().is_some_and(|d| d <= now))
            .map(|t| t.id())
            .collect();
        for id in due {
            let mut framed = Framed::default();
            if let Some(t) = self.files.get_mut(&id) {
                t.flush_idle(now, &mut framed);
            }
            self.emit(id, framed, 0)?;
        }
        Ok(())
    }

    /// Close files gone for longer than the grace period, after a last drain.
    pub(super) fn expire_gone(&mut self) -> Result<(), Stop> {
        let now = Instant::now();
        let grace = self.src.limits.rotated_file_grace;
        let expired: Vec<FileId> = self
            .files
            .values()
            .filter(|t| t.gone_since().is_some_and(|g| g + grace <= now))
            .map(|t| t.id())
            .collect();
        for id in expired {
            while let Turn::More = self.turn(id)? {}
            let mut framed = Framed::default();
            if let Some(t) = self.files.get_mut(&id) {
                t.finish(&mut framed);
            }
            self.emit(id, framed, 0)?;
            self.lag.remove(id);
            if let Some(t) = self.forget(id) {
                tracing::debug!(source = %self.src.spec.name, path = %t.path().display(), "closed rotated or deleted file");
                self.report_pod_drained(&t);
            }
        }
        Ok(())
    }

    pub(super) fn report(&mut self) {
        let watched = self.files.len() as u64;
        if self.reported_watched != Some(watched) {
            self.src.observer.files_watched(self.src.idx, watched);
            self.reported_watched = Some(watched);
        }
    }
}
