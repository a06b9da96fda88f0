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
mod file_set;
pub mod identity;
mod reading;
mod scheduler;
pub mod tailer;
pub mod unmatched;
pub mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::sources::{LagMeter, SourceIdx, SourceObserver, SourceSpec};

use checkpoint::{Checkpoints, Loaded, SavedFile};
use discover::Discovery;
use identity::FileId;
use tailer::Tailer;
use unmatched::NoMatchWarning;
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

/// Pods remembered while their log directories linger (beyond it, a pod's series retire by
/// the registry's idle eviction instead).
const MAX_CLOSED_PODS: usize = 10_000;

impl FileSource {
    /// Load the checkpoint and run until stopped (on the calling thread).
    pub fn run(self) {
        let (saved, first_start) = match self.table.load() {
            Loaded::FirstStart => (Vec::new(), true),
            Loaded::Files(f) => (f, false),
            Loaded::SetAside { .. } => (Vec::new(), true),
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
