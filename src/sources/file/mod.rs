//! File sources: one reader thread per source that discovers files, follows them through
//! rotation and truncation, and reads them fairly in bounded chunks.
//!
//! The parts, as in Vector's file source:
//! - [`scheduler`]: the thread's loop. It sleeps until a `notify` event, a framer's idle
//!   deadline, the end of a rotated file's grace period, or a poll (only for what events
//!   cannot show: NFS-like or unwatchable directories, files not readable yet). Each wake
//!   reads every file with news in turns of at most `read_chunk_bytes`, round-robin, so one
//!   busy file cannot starve the others; rotated-away files go first, so an old file is
//!   drained before its successor. Sending into the bounded queue blocks when the consumer
//!   falls behind, which pauses reading: memory stays bounded by the queue, one chunk, and
//!   each file's framer.
//! - [`file_set`]: the file-set tracker (discovery, renames, replacement, forgetting);
//! - [`reading`]: opening within `max_open_files`, start offsets, one read turn, sending;
//! - [`tailer`]: one file's state machine, which owns its offsets, framer and handle;
//! - [`identity`]: device + inode + fingerprint; [`checkpoint`]: the saved offsets;
//! - [`discover`]: the globs; [`watch`]: `notify` events and wake-ups.

pub(crate) mod checkpoint;
pub mod discover;
mod file_set;
pub mod identity;
mod reading;
mod scheduler;
mod tailer;
pub(crate) mod unmatched;
pub(crate) mod watch;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::sources::{LagMeter, SourceIdx, SourceObserver, SourceSpec};

use checkpoint::{Checkpoints, Loaded};
use discover::Discovery;
use identity::FileId;
use scheduler::ReaderThread;
use unmatched::NoMatchWarning;
use watch::{DirWatcher, Wake};

use super::Sink;

/// Everything a file source's thread needs.
pub(crate) struct FileSource {
    /// Index of the source.
    pub idx: SourceIdx,
    /// Its spec.
    pub spec: SourceSpec,
    /// Compiled globs.
    pub discovery: Discovery,
    /// Resource bounds.
    pub limits: crate::sources::ReadLimits,
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
    pub table: Checkpoints,
    /// Acknowledged work not yet checkpointed (wakes the checkpointer).
    pub unsaved: Arc<crate::sources::Unsaved>,
    /// Told once the first discovery has fixed the start offsets of the files already there,
    /// so `Sources::start` returns only then: a line written after it is never skipped.
    pub ready: Option<std::sync::mpsc::SyncSender<()>>,
}

impl FileSource {
    /// Load the checkpoint and run until stopped (on the calling thread).
    pub fn run(self) {
        let (saved, first_start) = match self.table.load() {
            Loaded::FirstStart => (Vec::new(), true),
            Loaded::Files(f) => (f, false),
            Loaded::SetAside => (Vec::new(), true),
        };
        let watcher = DirWatcher::new(self.wake.clone(), &self.spec.name);
        let chunk = self.limits.read_chunk_bytes.max(1);
        let mut server = ReaderThread {
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
