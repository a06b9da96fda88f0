//! The consumer end of the queue: classify every record of every batch with the current rule
//! set, count the matches, then acknowledge the batch so its offset may be checkpointed.
//!
//! The rule set and the counters bound to it travel together in one [`InstalledRules`], swapped
//! atomically on reload: a batch is classified and counted with one rule set from start to
//! end, so rule indices of two rule sets are never mixed. The loop runs on its own thread
//! (classification is CPU work) and ends when every source has dropped its sender and the
//! queue is empty, which is how a graceful stop knows everything read was counted.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use crate::batch::{candidate_search, for_each_match, Candidates};
use crate::classifier::{MatchContext, RuleSet};
use crate::framing::{Framed, Framer};
use crate::registry::MatchRecorder;
use crate::sources::RecordBatch;

/// One installed rule set with its counters and the per-source provider hints.
pub struct InstalledRules {
    /// The compiled rules.
    pub rules: Arc<RuleSet>,
    /// Counters bound to `rules`' indices.
    pub tally: Arc<MatchRecorder>,
    /// `provider` of each source (by `SourceIdx`), from config.
    pub providers: Vec<Option<String>>,
}

impl InstalledRules {
    /// The match context of source `source` (its provider hint).
    fn context(&self, source: usize) -> MatchContext<'_> {
        MatchContext {
            provider: self.providers.get(source).and_then(|p| p.as_deref()),
        }
    }
}

/// The readers frame with the rules installed now: the same candidates as the classifier.
impl Candidates for ArcSwap<InstalledRules> {
    fn push(
        &self,
        source: usize,
        framer: &mut Framer,
        input: &[u8],
        now: Instant,
        out: &mut Framed,
    ) {
        let installed = self.load();
        let ctx = installed.context(source);
        framer.push_sparse(input, now, out, candidate_search(&installed.rules, &ctx));
    }
}

/// What the loop did, for the shutdown log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyTotals {
    /// Batches classified.
    pub batches: u64,
    /// Records classified.
    pub records: u64,
    /// Records that matched a rule.
    pub matches: u64,
}

/// Classify one batch with one installed rule set and acknowledge it.
pub fn process(generation: &InstalledRules, batch: RecordBatch, totals: &mut ClassifyTotals) {
    let ctx = generation.context(batch.source);
    totals.records += batch.ends.len() as u64;
    for_each_match(
        &generation.rules,
        &batch.data,
        &batch.ends,
        &ctx,
        |_, record, c| {
            totals.matches += 1;
            generation.tally.record_match(
                batch.source,
                c.rule,
                record,
                c.reason,
                batch.k8s.as_deref(),
            );
        },
    );
    totals.batches += 1;
    if let Some(ack) = batch.ack {
        ack.commit();
    }
}

/// Run the loop on a new thread until the queue closes; returns its totals on join.
pub fn spawn(
    mut rx: mpsc::Receiver<RecordBatch>,
    current: Arc<ArcSwap<InstalledRules>>,
) -> std::thread::JoinHandle<ClassifyTotals> {
    std::thread::Builder::new()
        .name("classify".into())
        .spawn(move || {
            let mut totals = ClassifyTotals::default();
            while let Some(batch) = rx.blocking_recv() {
                let generation = current.load();
                process(&generation, batch, &mut totals);
            }
            totals
        })
        .expect("spawn the classify thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch path and record-by-record classification give the same matches, whatever
    /// the records around a failure (the real-record evaluation set, interleaved with
    /// ordinary lines, empty records and pieces of literals split across records).
    #[test]
    fn batch_search_matches_exactly_what_classifying_each_record_matches() {
        let rules = RuleSet::embedded();
        let set = include_str!("../../tests/fixtures/eval/zoom_oauth_eval.jsonl");
        let mut records: Vec<String> = Vec::new();
        for (n, line) in set.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            records.push(v["record"].as_str().unwrap().to_string());
            match n % 4 {
                0 => records.push("GET /healthz 200 1ms".into()),
                1 => records.push(String::new()),
                2 => records.push("user logged in via zo".into()),
                _ => records.push("om: token refreshed".into()),
            }
        }
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for r in &records {
            data.extend_from_slice(r.as_bytes());
            ends.push(data.len() as u32);
        }
        for provider in [None, Some("zoom")] {
            let ctx = MatchContext { provider };
            let one_by_one: Vec<(usize, usize)> = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| rules.classify(r.as_bytes(), &ctx).map(|c| (i, c.rule)))
                .collect();
            let mut batched = Vec::new();
            for_each_match(&rules, &data, &ends, &ctx, |i, record, c| {
                let start = record.as_ptr() as usize - data.as_ptr() as usize;
                assert_eq!(i, ends.partition_point(|&e| (e as usize) <= start));
                batched.push((i, c.rule));
            });
            assert!(!one_by_one.is_empty());
            assert_eq!(batched, one_by_one, "provider {provider:?}");
        }
    }
}
