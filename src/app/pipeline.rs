//! The consumer end of the queue: classify every record of every batch with the current rule
//! set, count the matches, then acknowledge the batch so its offset may be checkpointed.
//!
//! The rule set and the counters bound to it travel together in one [`Generation`], swapped
//! atomically on reload: a batch is classified and counted with one generation from start to
//! end, so rule indices of two rule sets are never mixed. The loop runs on its own thread
//! (classification is CPU work) and ends when every source has dropped its sender and the
//! queue is empty, which is how a graceful stop knows everything read was counted.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use crate::classifier::{MatchContext, RuleSet};
use crate::registry::Tally;
use crate::sources::RecordBatch;

/// One installed rule set with its counters and the per-source provider hints.
pub struct Generation {
    /// The compiled rules.
    pub rules: Arc<RuleSet>,
    /// Counters bound to `rules`' indices.
    pub tally: Arc<Tally>,
    /// `provider` of each source (by `SourceIdx`), from config.
    pub providers: Vec<Option<String>>,
}

/// What the loop did, for the shutdown log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Batches classified.
    pub batches: u64,
    /// Records classified.
    pub records: u64,
    /// Records that matched a rule.
    pub matches: u64,
}

/// Classify one batch with one generation and acknowledge it.
pub fn process(generation: &Generation, batch: RecordBatch, totals: &mut Totals) {
    let ctx = MatchContext {
        provider: generation
            .providers
            .get(batch.source)
            .and_then(|p| p.as_deref()),
    };
    for record in batch.records() {
        totals.records += 1;
        if let Some(c) = generation.rules.classify(record, &ctx) {
            totals.matches += 1;
            generation.tally.record_match(
                batch.source,
                c.rule,
                record,
                c.reason,
                batch.k8s.as_deref(),
            );
        }
    }
    totals.batches += 1;
    if let Some(ack) = batch.ack {
        ack.commit();
    }
}

/// Run the loop on a new thread until the queue closes; returns its totals on join.
pub fn spawn(
    mut rx: mpsc::Receiver<RecordBatch>,
    current: Arc<ArcSwap<Generation>>,
) -> std::thread::JoinHandle<Totals> {
    std::thread::Builder::new()
        .name("classify".into())
        .spawn(move || {
            let mut totals = Totals::default();
            while let Some(batch) = rx.blocking_recv() {
                let generation = current.load();
                process(&generation, batch, &mut totals);
            }
            totals
        })
        .expect("spawn the classify thread")
}
