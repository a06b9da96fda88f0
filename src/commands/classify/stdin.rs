//! Standard input for `classify`: read on its own thread, decompressed, and handed over in
//! chunks, so the command can wait for the next chunk with a deadline and print a held record
//! (an `ERROR` line a stack trace may follow) when the input goes quiet, instead of holding it
//! until the next line arrives. How long "quiet" is depends on what standard input is
//! ([`Pace`]).

use std::io::{self, IsTerminal, Read};

use crate::commands::decode::{self, Encoding};
use crate::framing::{Format, Framer, FramingLimits};

/// How long `classify` lets a held record wait for its next line, by what standard input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// A person at a terminal: a held line (an `ERROR` message a stack trace may follow) is
    /// printed after the framer's short continuation grace, as the daemon does.
    Terminal,
    /// A pipe or socket (`tail -f app.log | oauthwatch classify`): a held record is printed
    /// once the writer has been quiet for the multi-line timeout, long enough that a busy
    /// writer's stack trace still joins its message line.
    Stream,
    /// A regular file: everything is there, so nothing waits on the clock; the next line or
    /// the end of input decides.
    File,
}

impl Pace {
    /// The pace for the process's standard input.
    pub fn of_stdin() -> Pace {
        use std::os::fd::AsFd;
        if io::stdin().is_terminal() {
            return Pace::Terminal;
        }
        let regular = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file());
        if regular {
            Pace::File
        } else {
            Pace::Stream
        }
    }

    /// The framer for this pace.
    pub fn framer(self, format: Format) -> Framer {
        let limits = FramingLimits::default();
        let framer = Framer::new(format, limits);
        match self {
            Pace::Terminal | Pace::File => framer,
            Pace::Stream => framer.with_continuation_grace(limits.multiline_timeout),
        }
    }
}

/// What the stdin reader thread hands to `classify`.
pub enum Chunk {
    /// The encoding, first, before any data.
    Encoding(Encoding),
    /// Decompressed bytes.
    Data(Vec<u8>),
    /// A read failed; nothing follows.
    Failed(io::Error),
}

/// Read standard input on a thread, decompressed, in chunks as they arrive, so the caller can
/// wait for the next chunk with a deadline (a held record is flushed when it passes).
pub fn stdin_chunks() -> std::sync::mpsc::Receiver<Chunk> {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let (enc, mut reader) = match decode::decoded(io::stdin().lock()) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Chunk::Failed(e));
                return;
            }
        };
        if tx.send(Chunk::Encoding(enc)).is_err() || matches!(enc, Encoding::Unsupported(_)) {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(e));
                    return;
                }
            };
            if tx.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{Framed, DEFAULT_CONTINUATION_GRACE};
    use std::time::Instant;

    #[test]
    fn a_held_error_line_waits_the_grace_on_a_terminal_and_the_timeout_on_a_pipe() {
        let t0 = Instant::now();
        let line = b"2024-05-01T10:00:06Z ERROR zoom_client: token refresh failed\n";
        let due = |pace: Pace| {
            let mut f = pace.framer(Format::Plain);
            f.push(line, t0, &mut Framed::default());
            f.idle_deadline()
        };
        assert_eq!(due(Pace::Terminal), Some(t0 + DEFAULT_CONTINUATION_GRACE));
        assert_eq!(
            due(Pace::Stream),
            Some(t0 + FramingLimits::default().multiline_timeout)
        );
    }
}
