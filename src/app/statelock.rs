//! One daemon per state directory: an advisory lock on `<state_dir>/.lock`, held for the
//! process's life, with the holder's PID written inside.
//!
//! Two daemons sharing a state directory would each resume from the other's checkpoints and
//! count lines twice or skip them. That happens when an orchestrator starts the new daemon
//! before the old one has stopped (a DaemonSet rolling update with surge, state on a
//! hostPath). The lock is `File::try_lock` (`flock(2)` on Linux): the kernel drops it when the process ends however it
//! ends, so a crash never leaves a stale lock behind, and the file itself is left in place
//! (removing it would let a third process lock a new file while the second still holds the
//! old one).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = ".lock";

/// Holds the state directory's lock until dropped (the end of the process).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state directory {} is in use by another oauthwatch (PID {}); two daemons must not \
         share a state directory: stop the other one, or give this one its own --state-dir",
        dir.display(),
        holder.map_or_else(|| "unknown".to_string(), |p| p.to_string())
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// The PID written by the holder, if it could be read.
        holder: Option<u32>,
    },
    /// The directory or its lock file cannot be created, opened or locked.
    #[error("state directory {}: cannot lock {}: {source}", dir.display(), LOCK_FILE)]
    Io {
        /// The state directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Lock `dir` (creating it if needed) for as long as the returned value lives.
pub fn acquire(dir: &Path) -> Result<StateLock, LockError> {
    let io = |source| LockError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                holder: read_pid(&mut file),
            })
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(pid.as_bytes()))
        .map_err(io)?;
    Ok(StateLock { _file: file })
}

/// The PID a holder wrote, if the file holds one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    parse_pid(&text)
}

/// The PID in a lock file's text (a decimal number, perhaps with a newline).
pub fn parse_pid(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = acquire(&state).expect("first lock");
        let written = std::fs::read_to_string(state.join(LOCK_FILE)).unwrap();
        assert_eq!(parse_pid(&written), Some(std::process::id()));
        // These locks belong to the open file description: a second open in this process
        // conflicts exactly as another process would.
        let err = acquire(&state).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, LockError::Held { holder: Some(p), .. } if p == std::process::id()),
            "{text}"
        );
        assert!(text.contains(&state.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("PID {}", std::process::id())),
            "{text}"
        );
        drop(first);
        acquire(&state).expect("free again once the holder is gone");
    }

    #[test]
    fn pid_text_is_parsed_strictly() {
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0"), None);
        assert_eq!(parse_pid("12ab"), None);
    }
}
