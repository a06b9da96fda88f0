//! The catch-all's "what to add next" table: how often each normalised unmatched reason text
//! was seen. Pure and bounded: at most `capacity` distinct texts are kept; when a new text
//! arrives at a full table, the least frequent one (the oldest among equals) is evicted, so a
//! flood of one-off texts cannot grow memory and frequent texts stay.

use std::collections::HashMap;

use super::report::ReasonCount;

/// Longest reason text kept, in characters (the normaliser bounds it too; this is a backstop).
pub const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone)]
struct Seen {
    count: u64,
    /// Insertion order, to evict the oldest among equally rare texts.
    seq: u64,
}

/// Counts of normalised reason texts, bounded in size.
#[derive(Debug, Clone)]
pub struct ReasonTable {
    capacity: usize,
    seq: u64,
    seen: HashMap<String, Seen>,
}

impl ReasonTable {
    /// An empty table keeping at most `capacity` (>= 1) texts.
    pub fn new(capacity: usize) -> ReasonTable {
        ReasonTable {
            capacity: capacity.max(1),
            seq: 0,
            seen: HashMap::new(),
        }
    }

    /// Count one occurrence of `reason` (already normalised).
    pub fn add(&mut self, reason: &str) {
        let reason = truncate_chars(reason, MAX_REASON_CHARS);
        if let Some(s) = self.seen.get_mut(reason) {
            s.count += 1;
            return;
        }
        if self.seen.len() >= self.capacity {
            let victim = self
                .seen
                .iter()
                .min_by_key(|(_, s)| (s.count, s.seq))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                self.seen.remove(&k);
            }
        }
        self.seq += 1;
        self.seen.insert(
            reason.to_string(),
            Seen {
                count: 1,
                seq: self.seq,
            },
        );
    }

    /// The `n` most frequent texts, most frequent first (ties: alphabetical).
    pub fn top(&self, n: usize) -> Vec<ReasonCount> {
        let mut all: Vec<ReasonCount> = self
            .seen
            .iter()
            .map(|(reason, s)| ReasonCount {
                reason: reason.clone(),
                count: s.count,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        all.truncate(n);
        all
    }
}

/// `s` cut to at most `max` characters, on a character boundary.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_orders_most_frequent_first() {
        let mut t = ReasonTable::new(10);
        for r in ["b", "a", "b", "c", "b", "a"] {
            t.add(r);
        }
        let top = t.top(2);
        assert_eq!(
            top,
            vec![
                ReasonCount {
                    reason: "b".into(),
                    count: 3
                },
                ReasonCount {
                    reason: "a".into(),
                    count: 2
                },
            ]
        );
    }

    #[test]
    fn a_flood_of_one_off_texts_stays_bounded_and_keeps_the_frequent_one() {
        let mut t = ReasonTable::new(50);
        for _ in 0..5 {
            t.add("frequent");
        }
        for i in 0..10_000 {
            t.add(&format!("one-off {i}"));
        }
        assert_eq!(t.top(usize::MAX).len(), 50, "distinct texts kept");
        assert_eq!(
            t.top(1)[0],
            ReasonCount {
                reason: "frequent".into(),
                count: 5
            }
        );
    }

    #[test]
    fn long_texts_are_cut_on_a_char_boundary() {
        let mut t = ReasonTable::new(4);
        t.add(&"é".repeat(500));
        assert_eq!(t.top(1)[0].reason.chars().count(), MAX_REASON_CHARS);
    }
}
