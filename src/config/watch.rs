//! Reload on change: watches the config and rule files and pokes the daemon's reload path,
//! so a Kubernetes ConfigMap update or an edited rule file takes effect without SIGHUP.
//!
//! The *directories* are watched, not the files: editors replace files by rename, and kubelet
//! updates a mounted ConfigMap by swapping a `..data` symlink, neither of which a watch on
//! the old inode would see. An event only triggers a reload when the files' contents really
//! changed (a digest is compared), and bursts of events are coalesced.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// Events closer together than this are one change (editors write in several steps).
const SETTLE: Duration = Duration::from_millis(300);

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    _task: tokio::task::JoinHandle<()>,
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
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
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
        _task: task,
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
}
