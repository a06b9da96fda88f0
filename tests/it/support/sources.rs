//! Shared harness for the sources tests: drives `Sources::start` on a real tokio runtime with
//! a collecting consumer that acknowledges every batch, as the daemon's classify loop does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauthwatch::framing::Format;
use oauthwatch::sources::ReadLimits;
use oauthwatch::sources::{
    DropReason, K8sRef, RecordBatch, SourceIdx, SourceObserver, SourceSpec, Sources,
    SourcesOptions, StartAt,
};

use super::DEADLINE;

/// Counts every observer event.
#[derive(Default)]
pub struct Counts {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    pub records: AtomicU64,
    pub dropped: AtomicU64,
    pub files_watched: AtomicU64,
    pub rotated: AtomicU64,
    pub truncated: AtomicU64,
    pub permission_denied: AtomicU64,
    pub other_errors: AtomicU64,
    pub checkpoint_write_failed: AtomicU64,
    pub lag_bytes: AtomicU64,
    /// Discovery passes (each reports the files matched).
    pub rescans: AtomicU64,
}

impl SourceObserver for Counts {
    fn read(&self, _: SourceIdx, bytes: u64, lines: u64, records: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.lines.fetch_add(lines, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }
    fn dropped(&self, _: SourceIdx, _: DropReason) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
    fn files_watched(&self, _: SourceIdx, count: u64) {
        self.files_watched.store(count, Ordering::Relaxed);
    }
    fn rotated(&self, _: SourceIdx) {
        self.rotated.fetch_add(1, Ordering::Relaxed);
    }
    fn truncated(&self, _: SourceIdx) {
        self.truncated.fetch_add(1, Ordering::Relaxed);
    }
    fn read_error(&self, _: SourceIdx, kind: &'static str) {
        if kind == "permission_denied" {
            self.permission_denied.fetch_add(1, Ordering::Relaxed);
        } else {
            self.other_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn checkpoint_write_failed(&self) {
        self.checkpoint_write_failed.fetch_add(1, Ordering::Relaxed);
    }
    fn lag_bytes(&self, _: SourceIdx, bytes: u64) {
        self.lag_bytes.store(bytes, Ordering::Relaxed);
    }
    fn files_matched(&self, _: SourceIdx, _: u64) {
        self.rescans.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counts {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One delivered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub source: SourceIdx,
    pub k8s: Option<K8sRef>,
    pub text: String,
}

/// A file source spec over `globs`.
pub fn file_spec(name: &str, globs: &[&Path], start_at: StartAt) -> SourceSpec {
    SourceSpec {
        name: name.to_string(),
        paths: globs.iter().map(|g| g.display().to_string()).collect(),
        exclude: Vec::new(),
        format: Format::Plain,
        provider: None,
        start_at,
        stdin: false,
        kubernetes_metadata: false,
    }
}

/// Options for tests: state in `state`, quick checkpoints, a slow poll (events must do the
/// work), and a long partial-line timeout so partial writes wait for their newline.
pub fn options(state: &Path) -> SourcesOptions {
    let mut limits = ReadLimits::default();
    limits.framing.partial_line_timeout = Duration::from_secs(3600);
    limits.rotated_file_grace = Duration::from_secs(2);
    SourcesOptions {
        state_dir: state.to_path_buf(),
        checkpoint_interval: Duration::from_millis(100),
        poll_interval: Duration::from_secs(2),
        limits,
        candidates: None,
    }
}

/// Sources running on their own runtime, with a consumer that collects and acks.
pub struct Running {
    pub rt: tokio::runtime::Runtime,
    sources: Option<Sources>,
    consumer: Option<tokio::task::JoinHandle<()>>,
    pub got: Arc<Mutex<Vec<Got>>>,
    pub counts: Arc<Counts>,
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl Running {
    pub fn start(specs: Vec<SourceSpec>, opts: SourcesOptions) -> Running {
        Running::start_with(specs, opts, Arc::new(Counts::default()), None)
    }

    pub fn start_with(
        specs: Vec<SourceSpec>,
        opts: SourcesOptions,
        counts: Arc<Counts>,
        stdin: Option<Vec<u8>>,
    ) -> Running {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let rt = runtime();
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        // The daemon's default queue length (`limits.queue_capacity`).
        let cap = 64;
        let (sources, consumer) = rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(cap);
            let obs: Arc<dyn SourceObserver> = counts.clone();
            let sources = match stdin {
                Some(bytes) => {
                    Sources::start_with_stdin(specs, opts, tx, obs, std::io::Cursor::new(bytes))
                }
                None => Sources::start(specs, opts, tx, obs),
            }
            .expect("sources start");
            let got = got.clone();
            let consumer = tokio::spawn(async move {
                while let Some(batch) = rx.recv().await {
                    {
                        let mut g = got.lock().unwrap();
                        for r in batch.records() {
                            g.push(Got {
                                source: batch.source,
                                k8s: batch.k8s.as_deref().cloned(),
                                text: String::from_utf8_lossy(r).into_owned(),
                            });
                        }
                    }
                    if let Some(ack) = batch.ack {
                        ack.commit();
                    }
                }
            });
            (sources, consumer)
        });
        Running {
            rt,
            sources: Some(sources),
            consumer: Some(consumer),
            got,
            counts,
        }
    }

    /// The texts delivered so far.
    pub fn texts(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|g| g.text.clone())
            .collect()
    }

    /// Wait until `n` records arrived (panics with what did arrive after the deadline).
    pub fn wait_records(&self, n: usize) -> Vec<String> {
        self.wait_until(|t| t.len() >= n, &format!("{n} records"));
        self.texts()
    }

    pub fn wait_until(&self, cond: impl Fn(&[String]) -> bool, what: &str) {
        self.wait_until_for(cond, what, DEADLINE)
    }

    pub fn wait_until_for(&self, cond: impl Fn(&[String]) -> bool, what: &str, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            let t = self.texts();
            if cond(&t) {
                return;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; got {t:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait for a counter to reach `n`.
    pub fn wait_count(&self, c: impl Fn(&Counts) -> u64, n: u64, what: &str) {
        let end = Instant::now() + DEADLINE;
        while c(&self.counts) < n {
            if Instant::now() > end {
                panic!(
                    "timed out waiting for {what} >= {n}; is {}",
                    c(&self.counts)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until the sources have seen `n` files.
    pub fn wait_watching(&self, n: u64) {
        self.wait_count(|c| Counts::get(&c.files_watched), n, "files_watched");
    }

    /// Graceful stop: stop, let the consumer drain and ack, write the final checkpoint.
    /// Returns everything delivered.
    pub fn stop(mut self) -> Vec<String> {
        let sources = self.sources.take().unwrap();
        let consumer = self.consumer.take().unwrap();
        self.rt.block_on(async {
            let stopped = sources.stop().await;
            consumer.await.unwrap();
            stopped.final_checkpoint().expect("final checkpoint");
        });
        self.texts()
    }

    /// Simulated crash: the sources stop without a final checkpoint (what SIGKILL leaves is
    /// the last periodic checkpoint).
    pub fn crash(mut self) -> Vec<String> {
        let sources = self.sources.take().unwrap();
        drop(sources);
        let consumer = self.consumer.take().unwrap();
        self.rt.block_on(async {
            let _ = tokio::time::timeout(DEADLINE, consumer).await;
        });
        self.texts()
    }

    pub fn stdin_finished(&self) {
        let s = self.sources.as_ref().unwrap();
        self.rt.block_on(async {
            tokio::time::timeout(DEADLINE, s.stdin_finished())
                .await
                .expect("stdin finished")
        });
    }
}

/// `n` numbered lines `prefix-i`.
pub fn lines(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// Lines joined with newlines, each terminated.
pub fn text_of(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

pub fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
