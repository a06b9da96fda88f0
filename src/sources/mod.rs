//! Sources: where log bytes come from (tailed files, stdin), and the records they hand on.
//!
//! A source reads in bounded chunks, frames them into records (`crate::framing`), and sends
//! [`RecordBatch`]es into a bounded queue; when classification falls behind, `send` waits and
//! reading pauses, so memory stays bounded. File sources checkpoint offsets only once the
//! consumer has acknowledged a batch ([`Ack::commit`]), so a crash re-counts at most one
//! checkpoint interval and a graceful stop loses and repeats nothing.

pub mod file;
pub mod k8s;
pub mod spec;
pub mod stdin;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::framing::Framed;
use file::checkpoint::{self, Checkpoints};
use file::watch::Wake;
pub use spec::{compile_glob, ReadLimits, SourceSpec, SourcesOptions, StartAt};

/// Index of a configured source; the `source` label is `SourceSpec::name` at this index.
pub type SourceIdx = usize;

/// Kubernetes identity of a container log file, parsed from its name
/// (`<pod>_<namespace>_<container>-<id>.log`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct K8sRef {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
}

/// Acknowledged bytes after which a checkpoint is written without waiting for
/// `checkpoint_interval`: bounds what a crash during a catch-up counts again.
pub const CHECKPOINT_BYTES: u64 = 1 << 20;

/// Acknowledged records after which a checkpoint is written without waiting for
/// `checkpoint_interval` (short lines reach it long before [`CHECKPOINT_BYTES`]).
pub const CHECKPOINT_RECORDS: u64 = 10_000;

/// Work acknowledged since the last checkpoint write, shared by every file source of a daemon.
/// It wakes the checkpointer at once for the first acknowledgement after start (so a crash
/// loop still makes progress) and whenever [`CHECKPOINT_BYTES`] or [`CHECKPOINT_RECORDS`] are
/// reached, so what a crash counts again is bounded by data, not only by time.
#[derive(Debug)]
pub struct Unsaved {
    bytes: AtomicU64,
    records: AtomicU64,
    /// No acknowledgement seen since start: the next one asks for a save at once.
    eager: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
    /// Something changed since the last save (an acknowledgement, a file added, moved or
    /// truncated): until then the checkpointer sleeps without a timer.
    dirty: tokio::sync::Notify,
}

impl Default for Unsaved {
    fn default() -> Self {
        Unsaved {
            bytes: AtomicU64::new(0),
            records: AtomicU64::new(0),
            eager: std::sync::atomic::AtomicBool::new(true),
            wake: tokio::sync::Notify::new(),
            dirty: tokio::sync::Notify::new(),
        }
    }
}

impl Unsaved {
    /// Count an acknowledgement; wake the checkpointer when a threshold is reached.
    pub fn add(&self, bytes: u64, records: u64) {
        let b = self.bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let r = self.records.fetch_add(records, Ordering::AcqRel) + records;
        if bytes == 0 && records == 0 {
            return;
        }
        self.dirty.notify_one();
        let first = self.eager.swap(false, Ordering::AcqRel);
        if first || b >= CHECKPOINT_BYTES || r >= CHECKPOINT_RECORDS {
            self.wake.notify_one();
        }
    }

    /// Start a new count (just before a checkpoint's snapshot is taken): what is acknowledged
    /// from now on counts towards the next save.
    pub fn reset(&self) {
        self.bytes.store(0, Ordering::Release);
        self.records.store(0, Ordering::Release);
    }

    /// Resolves when a threshold asks for a save.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// Record a change of a checkpoint table itself (not of an offset).
    pub fn touched(&self) {
        self.dirty.notify_one();
    }

    /// Resolves once something changed since the last call: there may be something to save.
    pub async fn dirtied(&self) {
        self.dirty.notified().await;
    }
}

/// What an acknowledgement adds to the unsaved work.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The daemon's unsaved-work counter.
    pub unsaved: Arc<Unsaved>,
    /// Records in the batch.
    pub records: u64,
}

/// Acknowledges that every record of a batch was classified, letting the checkpointer
/// advance the file's offset to the end of the batch.
#[derive(Debug)]
pub struct Ack {
    /// The file's acknowledged offset, read by the checkpointer.
    pub cursor: Arc<AtomicU64>,
    /// Offset just past the batch's last complete record.
    pub offset: u64,
    /// Where the acknowledged work is counted towards the next checkpoint (`None`: not
    /// checkpointed, e.g. a queue barrier).
    pub progress: Option<Progress>,
}

impl Ack {
    /// Mark the batch processed.
    pub fn commit(self) {
        let before = self.cursor.fetch_max(self.offset, Ordering::AcqRel);
        if let Some(p) = self.progress {
            p.unsaved.add(self.offset.saturating_sub(before), p.records);
        }
    }
}

/// Records from one source, packed into one buffer to avoid an allocation per line.
#[derive(Debug)]
pub struct RecordBatch {
    /// Which source produced these records.
    pub source: SourceIdx,
    /// The records' bytes, back to back (line terminators stripped).
    pub data: Vec<u8>,
    /// End offset in `data` of each record; record `i` is `data[ends[i-1]..ends[i]]`.
    pub ends: Vec<u32>,
    /// Physical lines these records span (a multi-line record spans several).
    pub lines: u64,
    /// Kubernetes identity of the file, when the source asks for it.
    pub k8s: Option<Arc<K8sRef>>,
    /// Commit once classified; `None` for stdin.
    pub ack: Option<Ack>,
    /// Its share of the queue's byte bound, given back when the batch is dropped (after it
    /// was classified). Empty until the batch is sent.
    pub reserved: Reserved,
}

/// A batch's share of [`QueueBytes`]; released on drop.
#[derive(Debug, Default)]
pub struct Reserved {
    /// Held only to be dropped.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The bound, in bytes, on batches between the readers and the classifier
/// (`limits.queue_bytes`). A count of batches alone does not bound memory: a batch holds
/// anything from one line to a whole read chunk, and a writer appending large blocks fast
/// fills every slot with full ones. A sender waits until the classifier has released enough
/// bytes; a batch larger than the whole bound waits until the queue is empty, then goes.
#[derive(Debug, Clone)]
pub struct QueueBytes {
    budget: Arc<tokio::sync::Semaphore>,
    cap: usize,
}

impl QueueBytes {
    /// A bound of `cap` bytes (at least 1).
    pub fn new(cap: usize) -> QueueBytes {
        let cap = cap.clamp(1, u32::MAX as usize);
        QueueBytes {
            budget: Arc::new(tokio::sync::Semaphore::new(cap)),
            cap,
        }
    }

    /// What a batch holds in memory (its buffers' capacities), capped at the bound.
    pub fn weight(&self, batch: &RecordBatch) -> u32 {
        let bytes = batch.data.capacity() + batch.ends.capacity() * std::mem::size_of::<u32>();
        bytes.min(self.cap) as u32
    }

    /// Take the batch's share now if the bound allows; `false` if it must wait.
    pub fn try_reserve(&self, batch: &mut RecordBatch) -> bool {
        let n = self.weight(batch);
        match self.budget.clone().try_acquire_many_owned(n) {
            Ok(p) => {
                batch.reserved = Reserved { _permit: Some(p) };
                true
            }
            Err(_) => false,
        }
    }

    /// Wait for the batch's share.
    pub async fn reserve(&self, batch: &mut RecordBatch) {
        let n = self.weight(batch);
        if let Ok(p) = self.budget.clone().acquire_many_owned(n).await {
            batch.reserved = Reserved { _permit: Some(p) };
        }
    }

    /// Bytes currently reserved by queued batches.
    pub fn in_use(&self) -> usize {
        self.cap - self.budget.available_permits()
    }
}

impl RecordBatch {
    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&end| {
            let r = &self.data[start..end as usize];
            start = end as usize;
            r
        })
    }
}

/// Why a line or record was dropped or cut; the `reason` label of the drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A line longer than `max_line_bytes` was cut to it.
    LineTooLong,
    /// A multi-line record hit `max_record_lines` and was split.
    RecordTooLong,
    /// A container wrapper line that could not be parsed.
    MalformedWrapper,
}

impl DropReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::LineTooLong => "line_too_long",
            DropReason::RecordTooLong => "record_too_long",
            DropReason::MalformedWrapper => "malformed_wrapper",
        }
    }
}

/// Everything a source reports about itself; the registry implements it (one method per
/// event, so metric names live in one module).
pub trait SourceObserver: Send + Sync {
    /// Bytes and physical lines read, and records produced.
    fn read(&self, source: SourceIdx, bytes: u64, lines: u64, records: u64);
    /// A line or record was cut or dropped.
    fn dropped(&self, source: SourceIdx, reason: DropReason);
    /// Number of files currently watched by the source.
    fn files_watched(&self, source: SourceIdx, count: u64);
    /// A file was rotated (renamed away, or replaced at its path).
    fn rotated(&self, source: SourceIdx);
    /// A file shrank below the read offset (copytruncate or truncation).
    fn truncated(&self, source: SourceIdx);
    /// A read or open failed (`kind`: `permission_denied`, `not_found`, `io`).
    fn read_error(&self, source: SourceIdx, kind: &'static str);
    /// Writing checkpoints failed.
    fn checkpoint_write_failed(&self);
    /// Bytes not yet processed across the source's files, as one reading. File sources
    /// report through [`SourceObserver::track_lag`] instead, which stays current while the
    /// reader waits on a full queue.
    fn lag_bytes(&self, source: SourceIdx, bytes: u64);
    /// A pod's logs came (`present`), or went: its log directory is gone and its last file
    /// was read to the end, so its per-pod series may retire.
    fn pod_logs(&self, _source: SourceIdx, _pod: &K8sRef, _present: bool) {}
    /// Files the source's globs match now (after excludes); reported at every discovery pass.
    fn files_matched(&self, _source: SourceIdx, _count: u64) {}
    /// The live lag account of a file source, read whenever the lag is wanted (a scrape).
    fn track_lag(&self, _source: SourceIdx, _meter: Arc<LagMeter>) {}
}

/// The unprocessed bytes of one file source: per open file, its size at the reader's latest
/// look and the offset the consumer has acknowledged. The reader updates sizes as it reads
/// (once per chunk, not per line); acknowledgements move on their own as batches are
/// classified. So the lag keeps growing while the classifier is stalled and the reader waits
/// on the full queue, and drops to 0 only once everything read has been classified.
#[derive(Debug, Default)]
pub struct LagMeter {
    files: std::sync::Mutex<std::collections::HashMap<file::identity::FileId, FileLag>>,
}

#[derive(Debug)]
struct FileLag {
    size: u64,
    acked: Arc<AtomicU64>,
}

impl LagMeter {
    /// Record a file's size and its current acknowledgement cursor.
    pub fn set(&self, id: file::identity::FileId, size: u64, acked: &Arc<AtomicU64>) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        match files.get_mut(&id) {
            Some(f) => {
                f.size = size;
                if !Arc::ptr_eq(&f.acked, acked) {
                    f.acked = acked.clone();
                }
            }
            None => {
                files.insert(
                    id,
                    FileLag {
                        size,
                        acked: acked.clone(),
                    },
                );
            }
        }
    }

    /// Forget a file that is no longer tailed.
    pub fn remove(&self, id: file::identity::FileId) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// Sum over the files of size minus acknowledged offset.
    pub fn lag(&self) -> u64 {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|f| f.size.saturating_sub(f.acked.load(Ordering::Acquire)))
            .sum()
    }
}

/// Problems that keep the sources from starting at all (a missing log file is not one).
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The state directory cannot be created or written.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A source's glob does not compile (config validation normally catches this first).
    #[error("source {source_name:?}: {error}")]
    Glob {
        /// The source's name.
        source_name: String,
        /// The bad glob.
        error: file::discover::GlobError,
    },
}

/// The reader was told to stop (or the consumer went away) while it waited to send.
#[derive(Debug, Clone, Copy)]
pub struct Stop;

/// The sending end of the queue as a blocking reader thread uses it: waits while the queue is
/// full (that is the backpressure), gives up when told to stop.
#[derive(Clone)]
pub struct Sink {
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    bytes: QueueBytes,
    rt: tokio::runtime::Handle,
    cancel: CancellationToken,
}

impl Sink {
    /// Send a batch, waiting for room in the queue.
    pub fn send(&self, mut batch: RecordBatch) -> Result<(), Stop> {
        use tokio::sync::mpsc::error::TrySendError;
        if self.cancel.is_cancelled() {
            return Err(Stop);
        }
        if !self.bytes.try_reserve(&mut batch) {
            self.rt.block_on(async {
                tokio::select! {
                    _ = self.cancel.cancelled() => Err(Stop),
                    () = self.bytes.reserve(&mut batch) => Ok(()),
                }
            })?;
        }
        match self.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(Stop),
            Err(TrySendError::Full(batch)) => self.rt.block_on(async {
                tokio::select! {
                    _ = self.cancel.cancelled() => Err(Stop),
                    r = self.tx.send(batch) => r.map_err(|_| Stop),
                }
            }),
        }
    }
}

/// The `read_error` kind of an I/O error.
pub(crate) fn error_kind(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission_denied",
        std::io::ErrorKind::NotFound => "not_found",
        _ => "io",
    }
}

/// Report what one framing step produced: bytes read, lines, records, and drops.
pub(crate) fn report_framed(obs: &dyn SourceObserver, idx: SourceIdx, f: &Framed, bytes: u64) {
    if bytes > 0 || !f.ends.is_empty() || f.lines > 0 || f.skipped_records > 0 {
        obs.read(idx, bytes, f.lines, f.ends.len() as u64 + f.skipped_records);
    }
    for (n, reason) in [
        (f.truncated_lines, DropReason::LineTooLong),
        (f.split_records, DropReason::RecordTooLong),
        (f.malformed_wrappers, DropReason::MalformedWrapper),
    ] {
        for _ in 0..n {
            obs.dropped(idx, reason);
        }
    }
}

/// A running file source thread.
struct FileThread {
    wake: Arc<Wake>,
    handle: std::thread::JoinHandle<()>,
}

/// The running sources of one daemon: one reader thread per file source (blocking file I/O
/// stays off the async workers), one task per stdin source, and the checkpointer task.
pub struct Sources {
    cancel: CancellationToken,
    files: Vec<FileThread>,
    stdin_tasks: Vec<tokio::task::JoinHandle<()>>,
    stdin_done: tokio::sync::watch::Receiver<usize>,
    checkpointer: Option<tokio::task::JoinHandle<()>>,
    tables: Vec<Checkpoints>,
    observer: Arc<dyn SourceObserver>,
}

/// Sources that have stopped reading; holds what the final checkpoint needs.
pub struct Stopped {
    tables: Vec<Checkpoints>,
    observer: Arc<dyn SourceObserver>,
}

impl Sources {
    /// Open every source (expand globs, load checkpoints, start watching and reading) and
    /// send their records into `tx`. Must be called inside a tokio runtime. Files that do not
    /// exist yet, or cannot be read yet, are not errors: they are picked up when they can be.
    pub fn start(
        specs: Vec<SourceSpec>,
        opts: SourcesOptions,
        tx: tokio::sync::mpsc::Sender<RecordBatch>,
        observer: Arc<dyn SourceObserver>,
    ) -> Result<Sources, SourcesError> {
        Sources::start_with_stdin(specs, opts, tx, observer, tokio::io::stdin())
    }

    /// [`Sources::start`] with `stdin` sources reading `input` instead of the process's
    /// standard input (for tests and embedding).
    pub fn start_with_stdin<R>(
        specs: Vec<SourceSpec>,
        opts: SourcesOptions,
        tx: tokio::sync::mpsc::Sender<RecordBatch>,
        observer: Arc<dyn SourceObserver>,
        input: R,
    ) -> Result<Sources, SourcesError>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let rt = tokio::runtime::Handle::current();
        let cancel = CancellationToken::new();
        let has_files = specs.iter().any(|s| !s.stdin);
        if has_files {
            std::fs::create_dir_all(&opts.state_dir).map_err(|source| SourcesError::StateDir {
                path: opts.state_dir.clone(),
                source,
            })?;
        }
        // Compile every glob before starting anything, so a bad one starts nothing.
        let mut discoveries = Vec::new();
        for spec in &specs {
            discoveries.push(if spec.stdin {
                None
            } else {
                Some(
                    file::discover::Discovery::new(&spec.paths, &spec.exclude).map_err(
                        |error| SourcesError::Glob {
                            source_name: spec.name.clone(),
                            error,
                        },
                    )?,
                )
            });
        }
        let queue_bytes = QueueBytes::new(opts.limits.queue_bytes);
        let stdin_count = specs.iter().filter(|s| s.stdin).count();
        let (done_tx, stdin_done) = tokio::sync::watch::channel(stdin_count);
        let done_tx = Arc::new(done_tx);
        let mut input = Some(input);
        let mut files = Vec::new();
        let mut stdin_tasks = Vec::new();
        let mut tables = Vec::new();
        let unsaved = Arc::new(Unsaved::default());
        for ((idx, spec), discovery) in specs.into_iter().enumerate().zip(discoveries) {
            match discovery {
                None => {
                    let Some(input) = input.take() else {
                        tracing::warn!(source = %spec.name, "a second stdin source gets no input");
                        done_tx.send_modify(|n| *n = n.saturating_sub(1));
                        continue;
                    };
                    let (tx, obs, cancel, limits) = (
                        tx.clone(),
                        observer.clone(),
                        cancel.clone(),
                        opts.limits.clone(),
                    );
                    let done_tx = done_tx.clone();
                    let bytes = queue_bytes.clone();
                    stdin_tasks.push(tokio::spawn(async move {
                        stdin::run(idx, spec, limits, input, (tx, bytes), obs, cancel).await;
                        done_tx.send_modify(|n| *n = n.saturating_sub(1));
                    }));
                }
                Some(discovery) => {
                    let table = Checkpoints::new(
                        checkpoint::Store::new(&opts.state_dir, &spec.name),
                        unsaved.clone(),
                    );
                    tables.push(table.clone());
                    let wake = Wake::new();
                    let name = spec.name.clone();
                    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
                    let source = file::FileSource {
                        idx,
                        spec,
                        discovery,
                        limits: opts.limits.clone(),
                        candidates: opts.candidates.clone(),
                        poll_interval: opts.poll_interval.max(std::time::Duration::from_millis(10)),
                        observer: observer.clone(),
                        sink: Sink {
                            tx: tx.clone(),
                            bytes: queue_bytes.clone(),
                            rt: rt.clone(),
                            cancel: cancel.clone(),
                        },
                        wake: wake.clone(),
                        table,
                        unsaved: unsaved.clone(),
                        ready: Some(ready_tx),
                    };
                    let handle = std::thread::Builder::new()
                        .name(format!("source-{idx}"))
                        .spawn(move || source.run())
                        .map_err(|source| SourcesError::StateDir {
                            path: opts.state_dir.clone(),
                            source,
                        })?;
                    // Wait (briefly: one directory walk) for its first discovery.
                    let _ = ready_rx.recv();
                    tracing::debug!(source = %name, "file source started");
                    files.push(FileThread { wake, handle });
                }
            }
        }
        let checkpointer = (!tables.is_empty()).then(|| {
            let (tables, obs, cancel) = (tables.clone(), observer.clone(), cancel.clone());
            let every = opts
                .checkpoint_interval
                .max(std::time::Duration::from_millis(10));
            // Save at once: the start positions just decided must survive a crash, or a
            // restart would count as a first start again.
            let _ = save_all(&tables, &*obs);
            tokio::spawn(async move {
                loop {
                    // Nothing to save while nothing changed: no timer, no wake-up.
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = unsaved.dirtied() => {}
                    }
                    // Then within an interval, or at once when enough work was acknowledged.
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                        _ = unsaved.wanted() => {}
                    }
                    unsaved.reset();
                    let (t, o) = (tables.clone(), obs.clone());
                    let _ = tokio::task::spawn_blocking(move || save_all(&t, &*o)).await;
                }
            })
        });
        Ok(Sources {
            cancel,
            files,
            stdin_tasks,
            stdin_done,
            checkpointer,
            tables,
            observer,
        })
    }

    /// Resolves once every stdin source has reached end of input (never, when there is none).
    /// What stdin sent has been handed to the queue by then.
    pub async fn stdin_finished(&self) {
        let mut rx = self.stdin_done.clone();
        if self.stdin_tasks.is_empty() {
            std::future::pending::<()>().await;
        }
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Stop reading. Every reader drops its sender, so the consumer sees the queue close once
    /// it has drained it. A partial last line of a file is not emitted: it stays past the
    /// checkpoint and is read whole after a restart.
    pub async fn stop(mut self) -> Stopped {
        self.cancel.cancel();
        for f in std::mem::take(&mut self.files) {
            f.wake.stop();
            let _ = tokio::task::spawn_blocking(move || f.handle.join()).await;
        }
        for t in std::mem::take(&mut self.stdin_tasks) {
            let _ = t.await;
        }
        if let Some(c) = self.checkpointer.take() {
            let _ = c.await;
        }
        Stopped {
            tables: std::mem::take(&mut self.tables),
            observer: self.observer.clone(),
        }
    }
}

impl Drop for Sources {
    fn drop(&mut self) {
        self.cancel.cancel();
        for f in &self.files {
            f.wake.stop();
        }
    }
}

/// Save every table that changed; count and log failures. Returns the first error.
fn save_all(tables: &[Checkpoints], obs: &dyn SourceObserver) -> std::io::Result<()> {
    let mut first = Ok(());
    for t in tables {
        if let Err(e) = t.save_if_changed() {
            let path = t.path();
            tracing::warn!(file = %path.display(), error = %e, "writing checkpoint failed");
            obs.checkpoint_write_failed();
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

impl Stopped {
    /// Write the final checkpoints from the acknowledged offsets. Call after the consumer has
    /// drained the queue and committed every batch's [`Ack`].
    pub fn final_checkpoint(self) -> std::io::Result<()> {
        save_all(&self.tables, &*self.observer)
    }
}

#[cfg(test)]
mod queue_bytes_tests {
    use super::*;

    fn batch(bytes: usize) -> RecordBatch {
        RecordBatch {
            source: 0,
            data: Vec::with_capacity(bytes),
            ends: Vec::new(),
            lines: 0,
            k8s: None,
            ack: None,
            reserved: Reserved::default(),
        }
    }

    #[test]
    fn batches_wait_for_bytes_and_give_them_back_when_dropped() {
        let q = QueueBytes::new(1000);
        let mut a = batch(600);
        assert!(q.try_reserve(&mut a));
        assert!(q.in_use() >= 600);
        let mut b = batch(600);
        assert!(!q.try_reserve(&mut b), "over the bound: must wait");
        drop(a);
        assert_eq!(q.in_use(), 0);
        assert!(q.try_reserve(&mut b));
        // A batch larger than the whole bound still goes, alone.
        drop(b);
        let mut huge = batch(5000);
        assert!(q.try_reserve(&mut huge));
        assert_eq!(q.in_use(), 1000);
    }
}
