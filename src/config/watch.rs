//! Reload on change: watches the config and rule files and pokes the daemon's reload path,
//! so a Kubernetes ConfigMap update or an edited rule file takes effect without SIGHUP.
//!
//! The *directories* are watched, not the files: editors replace files by rename, and kubelet
//! updates a mounted ConfigMap by swapping a `..data` symlink, neither of which a watch on
//! the old inode would see. An event only triggers a reload when the files' contents really
//! changed (a digest is compared), and bursts of events are coalesced.
//!
//! Only modifications, creations, renames and deletions count. Opens, reads and closes are
//! ignored: computing the digest opens and reads the files, and in a plain directory (no
//! `..data` symlink) those reads are events on the watched directory, which would trigger
//! another digest, forever.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

/// Events closer together than this are one change (editors write in several steps).
const SETTLE: Duration = Duration::from_millis(300);

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
    /// Reads of the files so far (the task counts them; the tests read them).
    #[cfg(test)]
    checks: Arc<AtomicU64>,
}

impl WatchGuard {
    /// How many times the files were read to look for a change since the watch began (an
    /// idle daemon reads them never).
    #[cfg(test)]
    fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event can mean the files changed: a write, a creation, a deletion or a rename.
/// Opens, reads, closes and attribute changes (`touch`, `chmod`) cannot.
pub fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) => false,
        EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Any | EventKind::Other => true,
    }
}

/// A digest of the files' current contents (a missing file hashes as missing).
pub fn digest(files: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        std::fs::read(f).ok().hash(&mut h);
    }
    h.finish()
}

/// Watch `files` and call `reload.notify_one()` when their contents change. Returns `None`
/// (after logging why) when the platform cannot watch; SIGHUP still works then.
pub fn spawn(files: Vec<PathBuf>, reload: Arc<tokio::sync::Notify>) -> Option<WatchGuard> {
    if files.is_empty() {
        return None;
    }
    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if !ev.need_rescan() && !is_change(&ev.kind) => {}
            _ => {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch config files ({e}); reload with SIGHUP instead");
                return None;
            }
        };
    for dir in &dirs {
        if let Err(e) = watcher.watch(Path::new(dir), RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), "cannot watch ({e}); reload with SIGHUP instead");
        }
    }
    // The baseline is taken now, before any event can arrive: taken inside the task, an edit
    // made before the task first ran would become the baseline and never trigger a reload.
    let mut last = digest(&files);
    let checks = Arc::new(AtomicU64::new(0));
    let counted = checks.clone();
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Coalesce a burst of events, then look at what actually changed.
            loop {
                match tokio::time::timeout(SETTLE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            counted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("config or rule files may have changed: reading them");
            let now = digest(&files);
            if now != last {
                last = now;
                // The reload itself logs one line naming this trigger.
                tracing::debug!("config or rule files changed on disk");
                reload.notify_one();
            }
        }
    });
    Some(WatchGuard {
        _watcher: watcher,
        task,
        #[cfg(test)]
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_content_change_triggers_one_reload_and_a_touch_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\n").unwrap();
        let reload = Arc::new(tokio::sync::Notify::new());
        let _guard = spawn(vec![cfg.clone()], reload.clone()).expect("inotify works here");
        // Rewriting the same bytes is not a change.
        std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\n").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(2), reload.notified())
                .await
                .is_err(),
            "identical content must not trigger a reload"
        );
        // Replace by rename, as editors and kubelet do.
        let tmp = dir.path().join(".config.toml.tmp");
        std::fs::write(&tmp, "listen = \"127.0.0.1:2\"\n").unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
        tokio::time::timeout(Duration::from_secs(20), reload.notified())
            .await
            .expect("a changed file triggers a reload");
    }

    /// The digest's own reads of files in a plain directory (no `..data` symlink) used to
    /// trigger another digest, about three times a second forever.
    #[tokio::test]
    async fn an_idle_watch_in_a_plain_directory_does_not_reread_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        let rules = dir.path().join("rules.toml");
        std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\n").unwrap();
        std::fs::write(&rules, "# rules\n").unwrap();
        let reload = Arc::new(tokio::sync::Notify::new());
        let guard = spawn(vec![cfg.clone(), rules], reload.clone()).expect("inotify works here");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(guard.checks(), 0, "nothing changed, nothing is read");
        std::fs::write(&cfg, "listen = \"127.0.0.1:2\"\n").unwrap();
        tokio::time::timeout(Duration::from_secs(20), reload.notified())
            .await
            .expect("a real edit still triggers a reload");
        let after_edit = guard.checks();
        assert!(after_edit >= 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            guard.checks(),
            after_edit,
            "the reload's own reads are not changes"
        );
    }

    #[test]
    fn only_writes_creations_deletions_and_renames_are_changes() {
        use notify::event::{AccessKind, AccessMode, CreateKind, MetadataKind, ModifyKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Any
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(
            notify::event::RenameMode::Both
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(
            notify::event::DataChange::Any
        ))));
    }
}
