//! The stdin source: frames piped input until end of input; no checkpoints (a pipe cannot
//! be re-read).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::framing::{Framed, Framer};

use super::{report_framed, QueueBytes, RecordBatch, SourceIdx, SourceObserver, SourceSpec};

/// Read `input` until end of input (or cancellation), sending its records into `tx`. At end
/// of input the framer is finished, so a last line without newline is still a record.
pub async fn run<R: AsyncRead + Unpin>(
    idx: SourceIdx,
    spec: SourceSpec,
    limits: crate::sources::ReadLimits,
    mut input: R,
    (tx, queue_bytes): (tokio::sync::mpsc::Sender<RecordBatch>, QueueBytes),
    observer: Arc<dyn SourceObserver>,
    cancel: CancellationToken,
) {
    let mut framer = Framer::new(spec.format, limits.framing);
    let mut buf = vec![0u8; limits.read_chunk_bytes.max(1)];
    loop {
        let mut framed = Framed::default();
        let deadline = framer.idle_deadline();
        let mut bytes = 0u64;
        let mut eof = false;
        tokio::select! {
            _ = cancel.cancelled() => {
                // A pipe cannot be re-read after a restart: what the framer holds (a partial
                // line, a record waiting for its continuation) is handed on now. The consumer
                // drains the queue until every sender is gone, so this send completes.
                framer.finish(&mut framed);
                report_framed(&*observer, idx, &framed, 0);
                if !framed.ends.is_empty() {
                    let mut batch = batch_of(idx, framed);
                    queue_bytes.reserve(&mut batch).await;
                    let _ = tx.send(batch).await;
                }
                return;
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                framer.flush_idle(std::time::Instant::now(), &mut framed);
            }
            r = input.read(&mut buf) => match r {
                Ok(0) => {
                    framer.finish(&mut framed);
                    eof = true;
                }
                Ok(n) => {
                    framer.push(&buf[..n], std::time::Instant::now(), &mut framed);
                    bytes = n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(source = %spec.name, error = %e, "reading stdin failed; treating it as end of input");
                    observer.read_error(idx, super::error_kind(&e));
                    framer.finish(&mut framed);
                    eof = true;
                }
            },
        }
        report_framed(&*observer, idx, &framed, bytes);
        if !framed.ends.is_empty() {
            let mut batch = batch_of(idx, framed);
            queue_bytes.reserve(&mut batch).await;
            if tx.send(batch).await.is_err() {
                return;
            }
        }
        if eof {
            tracing::info!(source = %spec.name, "end of standard input");
            return;
        }
    }
}

fn batch_of(idx: SourceIdx, framed: Framed) -> RecordBatch {
    RecordBatch {
        source: idx,
        data: framed.data,
        ends: framed.ends,
        lines: framed.lines,
        k8s: None,
        ack: None,
        reserved: Default::default(),
    }
}
