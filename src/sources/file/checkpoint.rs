//! Checkpoints: the acknowledged read offset of every tailed file, saved atomically.
//!
//! One JSON file per source in the state directory (`checkpoints-<source>.json`), each entry
//! tied to the file's identity (device, inode, fingerprint), never to its path alone, so a
//! file renamed while the daemon was down is still recognised and a reused inode is not.
//! Saving writes a temporary file, fsyncs it, renames it over the old one and fsyncs the
//! directory: a crash leaves either the old or the new checkpoint, never a torn one.
//!
//! Offsets come from [`Ack`](crate::sources::Ack) cursors, which the consumer advances only
//! after classifying a batch. The checkpointer saves every `checkpoint_interval`, at once
//! after the first acknowledgement following a start, and whenever
//! [`CHECKPOINT_BYTES`](crate::sources::CHECKPOINT_BYTES) or
//! [`CHECKPOINT_RECORDS`](crate::sources::CHECKPOINT_RECORDS) were acknowledged since the last
//! save; so a crash reads again less than the smallest of those (plus what is acknowledged
//! while one save is written), and a graceful stop reads nothing again.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sources::Unsaved;

use serde::{Deserialize, Serialize};

use super::identity::{FileId, Fingerprint};

/// Version of the checkpoint file layout. Version 1 (without `target`) is still read.
const VERSION: u32 = 2;

/// One file's saved position, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFile {
    /// The path the globs matched (a symlink in Kubernetes' `/var/log/containers`): where
    /// the file's Kubernetes identity comes from.
    pub path: String,
    /// Where the file itself was last seen, when that is not `path`: a symlink's resolved
    /// target, or the name rotation renamed it to. A restart looks for the file there and in
    /// that directory (the kubelet renames `0.log` to `0.log.<timestamp>` beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Bytes the fingerprint covers.
    pub fingerprint_len: u64,
    /// Fingerprint hash.
    pub fingerprint: u64,
    /// Acknowledged offset: everything before it was classified.
    pub offset: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedSource {
    version: u32,
    source: String,
    files: Vec<SavedFile>,
}

/// [`SavedSource`] as it is written, borrowing the files: the same JSON without a copy of
/// the table.
#[derive(Serialize)]
struct SavedSourceRef<'a> {
    version: u32,
    source: &'a str,
    files: &'a [SavedFile],
}

/// What loading a source's checkpoint found.
#[derive(Debug)]
pub enum Loaded {
    /// No checkpoint yet: this is the source's very first start.
    FirstStart,
    /// The saved files.
    Files(Vec<SavedFile>),
    /// The checkpoint was unreadable or corrupt; it was renamed to `<file>.corrupt-<time>`
    /// (if that worked, as logged) and the source starts as if for the first time.
    SetAside,
}

/// The checkpoint file of one source.
#[derive(Debug, Clone)]
pub struct Store {
    /// The source's name (stored inside, for people reading the file).
    source: String,
    /// `<state_dir>/checkpoints-<name>.json`.
    path: PathBuf,
}

/// A file name fragment safe on every filesystem, unique per source name.
fn file_stem(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == name {
        clean
    } else {
        // Two names that sanitise alike must not share a file.
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{clean}-{:08x}", h as u32)
    }
}

impl Store {
    /// The store of source `name` in `state_dir`.
    pub fn new(state_dir: &Path, name: &str) -> Store {
        Store {
            source: name.to_string(),
            path: state_dir.join(format!("checkpoints-{}.json", file_stem(name))),
        }
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the checkpoint. A corrupt or unreadable file is reported (naming the file, never
    /// its content) and set aside; it never keeps the source from starting.
    pub fn load(&self) -> Loaded {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::FirstStart,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e,
                    "checkpoint unreadable; setting it aside and starting from the configured start position");
                return self.set_aside();
            }
        };
        match serde_json::from_slice::<SavedSource>(&text) {
            Ok(s) if s.version == VERSION || s.version == 1 => Loaded::Files(s.files),
            Ok(s) => {
                tracing::warn!(file = %self.path.display(), version = s.version,
                    "checkpoint has an unknown version; setting it aside and starting from the configured start position");
                self.set_aside()
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), line = e.line(), column = e.column(),
                    "checkpoint is corrupt; setting it aside and starting from the configured start position");
                self.set_aside()
            }
        }
    }

    fn set_aside(&self) -> Loaded {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut aside = self.path.clone().into_os_string();
        aside.push(format!(".corrupt-{secs}"));
        let aside = PathBuf::from(aside);
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => {
                tracing::warn!(file = %self.path.display(), set_aside = %aside.display(), "bad checkpoint set aside");
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot set bad checkpoint aside; it will be overwritten");
            }
        }
        Loaded::SetAside
    }

    /// Write `files` atomically: temporary file, fsync, rename, fsync of the directory.
    /// The JSON is streamed to the file through a small buffer rather than built whole in
    /// memory first (20 KB for 100 files, and as many again in the vector's growth).
    pub fn save(&self, files: &[SavedFile]) -> std::io::Result<()> {
        let body = SavedSourceRef {
            version: VERSION,
            source: &self.source,
            files,
        };
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            serde_json::to_writer_pretty(&mut out, &body).map_err(std::io::Error::other)?;
            out.flush()?;
            let f = out.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                // Make the rename itself durable.
                if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// A tailed file's live checkpoint state, shared between its reader and the checkpointer.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// The path the globs matched.
    pub path: PathBuf,
    /// Where the file itself is, when not at `path` (symlink target, or renamed by rotation).
    pub target: Option<PathBuf>,
    /// Its fingerprint (grows as the file does).
    pub fingerprint: Fingerprint,
    /// Acknowledged offset, advanced by [`Ack::commit`](crate::sources::Ack::commit); replaced
    /// by a fresh cursor when the file is truncated.
    pub cursor: Arc<AtomicU64>,
}

/// The live checkpoint table of one source.
#[derive(Debug)]
struct Table {
    store: Store,
    files: HashMap<FileId, LiveFile>,
    /// Bumped by every change of the set of files or of an entry (not by cursors, which
    /// move on their own).
    generation: u64,
    /// What the last save wrote: the snapshot, the generation it was taken at, and each
    /// cursor with the offset saved for it. An idle daemon does not rewrite (and fsync) it,
    /// and finds that out without building a new snapshot.
    saved: Option<SavedState>,
}

#[derive(Debug)]
struct SavedState {
    snapshot: Vec<SavedFile>,
    generation: u64,
    cursors: Vec<(Arc<AtomicU64>, u64)>,
}

impl Table {
    /// Whether the live table still equals the last save: same generation, and no cursor
    /// moved (one atomic load per file, no lookups or path comparisons).
    fn unchanged_since_save(&self) -> bool {
        self.saved.as_ref().is_some_and(|s| {
            s.generation == self.generation
                && s.cursors
                    .iter()
                    .all(|(c, o)| c.load(Ordering::Acquire) == *o)
        })
    }

    fn snapshot(&self) -> (Vec<SavedFile>, Vec<(Arc<AtomicU64>, u64)>) {
        let mut cursors = Vec::with_capacity(self.files.len());
        let mut v: Vec<SavedFile> = self
            .files
            .iter()
            .map(|(id, f)| {
                let offset = f.cursor.load(Ordering::Acquire);
                cursors.push((f.cursor.clone(), offset));
                SavedFile {
                    path: f.path.to_string_lossy().into_owned(),
                    target: f.target.as_ref().map(|t| t.to_string_lossy().into_owned()),
                    dev: id.dev,
                    ino: id.ino,
                    fingerprint_len: f.fingerprint.len,
                    fingerprint: f.fingerprint.hash,
                    offset,
                }
            })
            .collect();
        v.sort_by_key(|f| (f.dev, f.ino));
        (v, cursors)
    }
}

/// The handle to one source's live checkpoint table, shared by its reader (which records the
/// files it tails, where they are, their fingerprints and cursors) and the checkpointer
/// (which saves it). Every change goes through a method here, which takes the lock for that
/// change only and tells the checkpointer there is something to save.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    table: Arc<Mutex<Table>>,
    unsaved: Arc<Unsaved>,
}

impl Checkpoints {
    /// An empty table saved to `store`; changes are reported to `unsaved`.
    pub fn new(store: Store, unsaved: Arc<Unsaved>) -> Checkpoints {
        Checkpoints {
            table: Arc::new(Mutex::new(Table {
                store,
                files: HashMap::new(),
                generation: 0,
                saved: None,
            })),
            unsaved,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply `change` to the entry of `id`, if there is one, as a new generation.
    fn change(&self, id: FileId, change: impl FnOnce(&mut LiveFile)) {
        let mut t = self.lock();
        if let Some(lf) = t.files.get_mut(&id) {
            change(lf);
            t.generation += 1;
            drop(t);
            self.unsaved.touched();
        }
    }

    /// The checkpoint file.
    pub fn path(&self) -> PathBuf {
        self.lock().store.path().to_path_buf()
    }

    /// Read the saved checkpoint (see [`Store::load`]); the lock is not held while reading.
    pub fn load(&self) -> Loaded {
        let store = self.lock().store.clone();
        store.load()
    }

    /// Start (or restart) the entry of a file.
    pub fn insert(&self, id: FileId, file: LiveFile) {
        let mut t = self.lock();
        t.files.insert(id, file);
        t.generation += 1;
        drop(t);
        self.unsaved.touched();
    }

    /// Drop a file's entry (it is no longer tailed).
    pub fn remove(&self, id: FileId) {
        let mut t = self.lock();
        if t.files.remove(&id).is_some() {
            t.generation += 1;
            drop(t);
            self.unsaved.touched();
        }
    }

    /// The file is now found at `path`, leading to `target`.
    pub fn moved(&self, id: FileId, path: &Path, target: Option<&Path>) {
        self.change(id, |lf| {
            lf.path = path.to_path_buf();
            lf.target = target.map(Path::to_path_buf);
        });
    }

    /// The file itself is now at `target` (renamed away by rotation).
    pub fn retargeted(&self, id: FileId, target: &Path) {
        self.change(id, |lf| lf.target = Some(target.to_path_buf()));
    }

    /// The file's fingerprint grew.
    pub fn fingerprinted(&self, id: FileId, fingerprint: Fingerprint) {
        self.change(id, |lf| lf.fingerprint = fingerprint);
    }

    /// The file was truncated: a new generation with a fresh cursor.
    pub fn truncated(&self, id: FileId, cursor: &Arc<AtomicU64>, fingerprint: Fingerprint) {
        self.change(id, |lf| {
            lf.cursor = cursor.clone();
            lf.fingerprint = fingerprint;
        });
    }

    /// Save the table if it changed since the last save. The lock is held only to take the
    /// snapshot, never across the disk write.
    pub fn save_if_changed(&self) -> std::io::Result<bool> {
        let (store, snapshot, cursors, generation) = {
            let mut t = self.lock();
            if t.unchanged_since_save() {
                return Ok(false);
            }
            let (snapshot, cursors) = t.snapshot();
            let generation = t.generation;
            if t.saved.as_ref().is_some_and(|s| s.snapshot == snapshot) {
                t.saved = Some(SavedState {
                    snapshot,
                    generation,
                    cursors,
                });
                return Ok(false);
            }
            (t.store.clone(), snapshot, cursors, generation)
        };
        store.save(&snapshot)?;
        self.lock().saved = Some(SavedState {
            snapshot,
            generation,
            cursors,
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_table_is_not_saved_again_and_any_change_is() {
        let dir = tempfile::tempdir().unwrap();
        let table = Checkpoints::new(Store::new(dir.path(), "s"), Arc::default());
        let cursor = Arc::new(AtomicU64::new(10));
        let id = FileId { dev: 1, ino: 2 };
        let live = |path: &str, cursor: &Arc<AtomicU64>| LiveFile {
            path: path.into(),
            target: None,
            fingerprint: Fingerprint::default(),
            cursor: cursor.clone(),
        };
        table.insert(id, live("/a.log", &cursor));
        assert!(table.save_if_changed().unwrap(), "first save");
        assert!(!table.save_if_changed().unwrap(), "nothing changed");
        cursor.store(20, Ordering::Release);
        assert!(table.save_if_changed().unwrap(), "offset moved");
        assert!(!table.save_if_changed().unwrap());
        table.moved(id, Path::new("/b.log"), None);
        assert!(table.save_if_changed().unwrap(), "path changed");
        table.retargeted(id, Path::new("/b.log.1"));
        assert!(table.save_if_changed().unwrap(), "target changed");
        assert!(!table.save_if_changed().unwrap());
        table.fingerprinted(id, Fingerprint { len: 3, hash: 7 });
        assert!(table.save_if_changed().unwrap(), "fingerprint grew");
        let fresh = Arc::new(AtomicU64::new(0));
        table.truncated(id, &fresh, Fingerprint::default());
        assert!(table.save_if_changed().unwrap(), "truncated: new cursor");
        cursor.store(30, Ordering::Release);
        assert!(
            !table.save_if_changed().unwrap(),
            "the old generation's cursor no longer counts"
        );
        fresh.store(5, Ordering::Release);
        assert!(table.save_if_changed().unwrap(), "the new cursor does");
        // A change that leaves the saved content as it was is not written again.
        table.moved(id, Path::new("/b.log"), Some(Path::new("/b.log.1")));
        assert!(!table.save_if_changed().unwrap());
        table.insert(
            FileId { dev: 1, ino: 3 },
            live("/c.log", &Arc::new(AtomicU64::new(0))),
        );
        assert!(table.save_if_changed().unwrap(), "file added");
        table.remove(id);
        assert!(table.save_if_changed().unwrap(), "file removed");
        assert!(!table.save_if_changed().unwrap());
        match table.load() {
            Loaded::Files(f) => assert_eq!(f.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn save_then_load_round_trips_and_corrupt_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "app logs");
        assert!(matches!(store.load(), Loaded::FirstStart));
        let files = vec![SavedFile {
            path: "/x.log".into(),
            target: Some("/pods/x/0.log.1".into()),
            dev: 1,
            ino: 2,
            fingerprint_len: 3,
            fingerprint: 4,
            offset: 5,
        }];
        store.save(&files).unwrap();
        match store.load() {
            Loaded::Files(f) => assert_eq!(f, files),
            other => panic!("{other:?}"),
        }
        std::fs::write(store.path(), b"{not json").unwrap();
        match store.load() {
            Loaded::SetAside => {
                assert!(!store.path().exists());
                let aside: Vec<_> = std::fs::read_dir(dir.path())
                    .unwrap()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
                    .collect();
                assert_eq!(aside.len(), 1, "the bad checkpoint is kept beside");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(store.load(), Loaded::FirstStart));
    }

    #[test]
    fn version_1_checkpoints_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "app");
        std::fs::write(
            store.path(),
            br#"{"version":1,"source":"app","files":[{"path":"/x.log","dev":1,"ino":2,"fingerprint_len":3,"fingerprint":4,"offset":5}]}"#,
        )
        .unwrap();
        match store.load() {
            Loaded::Files(f) => {
                assert_eq!(f[0].offset, 5);
                assert_eq!(f[0].target, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_that_sanitise_alike_get_distinct_files() {
        let d = Path::new("/s");
        assert_ne!(Store::new(d, "a/b").path(), Store::new(d, "a_b").path());
        assert_eq!(
            Store::new(d, "app").path(),
            Path::new("/s/checkpoints-app.json")
        );
    }
}
