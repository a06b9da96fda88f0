//! The scheduler of a file source's thread: sleep until an event, a poll, a framer's idle
//! deadline or a rotated file's grace end; then read every file with news in turns of at most
//! one chunk, round-robin, rotated-away files first.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::framing::Framed;

use super::identity::FileId;
use super::{Server, Stop, Turn, FULL_POLL_EVERY};

impl Server {
    pub(super) fn serve(&mut self) -> Result<(), Stop> {
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
    pub(super) fn poll_period(&self) -> Duration {
        if self.watcher.sees_everything() {
            self.src.poll_interval * FULL_POLL_EVERY
        } else {
            self.src.poll_interval
        }
    }

    /// The earliest of: next poll, a framer's idle deadline, a gone file's grace end.
    pub(super) fn next_deadline(&self, next_poll: Instant) -> Instant {
        let grace = self.src.limits.rotated_file_grace;
        self.files
            .values()
            .flat_map(|t| [t.framer.idle_deadline(), t.gone_since.map(|g| g + grace)])
            .flatten()
            .fold(next_poll, Instant::min)
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
    pub(super) fn expire_gone(&mut self) -> Result<(), Stop> {
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

    pub(super) fn report(&mut self) {
        let watched = self.files.len() as u64;
        if self.reported_watched != Some(watched) {
            self.src.observer.files_watched(self.src.idx, watched);
            self.reported_watched = Some(watched);
        }
    }
}
