//! `oauthwatch classify`: read records on standard input and write one JSON object per record
//! (for debugging rules). Standard input is read on its own thread ([`stdin`]) so a held
//! record is printed when the input goes quiet.

mod stdin;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use super::decode::Encoding;
use super::text::{self, TextSample};
use super::{encoding_note, load_rules, not_text_warning, CommandError};
use crate::classifier::redact::{normalize_reason, redact_record};
use crate::classifier::MatchContext;
use crate::framing::{Format, Framed};
use stdin::{stdin_chunks, Chunk, Pace};

/// What `classify` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct ClassifyRequest {
    /// Rule files; empty = the embedded rules.
    pub rules: Vec<PathBuf>,
    /// Treat input as talking only to this provider.
    pub provider: Option<String>,
    /// Line wrapping of the input.
    pub format: Format,
    /// Also write records that match no rule.
    pub all: bool,
}

/// `oauthwatch classify`: frame standard input, classify every record, write one JSON
/// object per record to `out` (flushed per chunk), and call `warn` for input that is mostly
/// not text. A closed output (`| head`) ends the command successfully.
pub fn run<W: Write>(
    args: &ClassifyRequest,
    out: &mut W,
    warn: &mut dyn FnMut(&str),
) -> Result<(), CommandError> {
    use std::sync::mpsc::RecvTimeoutError;
    let rules = load_rules(&args.rules)?;
    let format = args.format;
    let ctx = MatchContext {
        provider: args.provider.as_deref(),
    };
    let pace = Pace::of_stdin();
    let mut framer = pace.framer(format);
    let mut framed = Framed::default();
    let mut sample = TextSample::default();
    let mut warned = false;
    let mut encoding = Encoding::Plain;
    let mut line = 1u64;
    let mut emit = |framed: &mut Framed, out: &mut W| -> io::Result<()> {
        for record in framed.records() {
            let this_line = line;
            line += 1 + memchr::memchr_iter(b'\n', record).count() as u64;
            let c = rules.classify(record, &ctx);
            if c.is_none() && !args.all {
                continue;
            }
            let obj = match c {
                Some(c) => {
                    let r = &rules.rules()[c.rule];
                    let mut obj = serde_json::json!({
                        "line": this_line,
                        "rule": r.id,
                        "provider": r.provider,
                        "codes": r.codes,
                        "severity": r.severity.as_str(),
                        "reason": c.reason.map(normalize_reason),
                        "excerpt": redact_record(record),
                    });
                    // With --all, say what made the record the provider's: the evidence
                    // (or the source's declared provider).
                    if args.all {
                        obj["why"] = rules.explain(record, &ctx).into();
                    }
                    obj
                }
                None => serde_json::json!({
                    "line": this_line,
                    "rule": null,
                    "codes": [],
                    "severity": null,
                    "why": rules.explain(record, &ctx),
                    "excerpt": redact_record(record),
                }),
            };
            serde_json::to_writer(&mut *out, &obj)?;
            out.write_all(b"\n")?;
        }
        framed.clear();
        // Flush per chunk so that someone pasting lines sees answers as they go.
        out.flush()
    };
    let chunks = stdin_chunks();
    let res = (|| -> io::Result<()> {
        loop {
            let next = match (pace, framer.idle_deadline()) {
                (Pace::Terminal | Pace::Stream, Some(due)) => chunks
                    .recv_timeout(due.saturating_duration_since(Instant::now()))
                    .map_err(|e| e == RecvTimeoutError::Timeout),
                _ => chunks.recv().map_err(|_| false),
            };
            match next {
                Ok(Chunk::Encoding(enc)) => {
                    encoding = enc;
                    if let Encoding::Unsupported(name) = enc {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "it is {name}-compressed, which classify does not \
                                 decode (gzip and zstd it does); pipe it through `{name} -dc`"
                            ),
                        ));
                    }
                }
                Ok(Chunk::Data(bytes)) => {
                    sample.push(&bytes);
                    if !warned && sample.counts().0 >= text::SAMPLE_BYTES {
                        warned = true;
                        if sample.mostly_not_text() {
                            warn(&not_text_warning("standard input", encoding, &sample));
                        }
                    }
                    framer.push(&bytes, Instant::now(), &mut framed);
                    emit(&mut framed, out)?;
                }
                Ok(Chunk::Failed(e)) => return Err(e),
                // The deadline passed with no new bytes: print what has waited long enough.
                Err(true) => {
                    framer.flush_idle(Instant::now(), &mut framed);
                    emit(&mut framed, out)?;
                }
                // End of input.
                Err(false) => break,
            }
        }
        framer.finish(&mut framed);
        emit(&mut framed, out)?;
        if !warned && sample.mostly_not_text() {
            warn(&not_text_warning("standard input", encoding, &sample));
        }
        Ok(())
    })();
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(CommandError::Io {
            what: format!("error reading standard input{}", encoding_note(encoding)),
            error,
        }),
    }
}
