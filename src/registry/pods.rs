//! Per-pod failure counters (`oauthwatch_pod_errors_total`), the one family whose label values
//! (k8s_namespace, k8s_pod, k8s_container) come from file names rather than from the rule and config
//! files. The config admits them with `kubernetes_metadata = true` on a source; they are bounded
//! here: at most `max` label sets exist at once. When the table is full, a label set whose last
//! match is older than [`IDLE_EVICT_SECS`] makes room (pods come and go on a node); otherwise
//! the match counts under `k8s_namespace="_overflow",k8s_pod="_overflow",k8s_container="_overflow"`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus::{IntCounter, IntCounterVec};

use super::families::OVERFLOW;
use crate::sources::K8sRef;

/// A pod label set with no match for this long may be evicted when the table is full.
pub const IDLE_EVICT_SECS: u64 = 3600;

/// The per-pod counters of one rule × source series.
struct PodGroup {
    /// provider, code, rule, source.
    labels: [String; 4],
    pods: HashMap<K8sRef, PodSeries>,
}

struct PodSeries {
    counter: IntCounter,
    last_match: u64,
}

struct PodTable {
    groups: HashMap<u64, PodGroup>,
    len: usize,
    /// No label set can be idle long enough before this time; spares scanning the table on
    /// every overflowing match.
    no_eviction_before: u64,
}

/// The bounded per-pod counters of a registry.
pub struct PodBook {
    vec: IntCounterVec,
    max: usize,
    table: Mutex<PodTable>,
}

/// What the pod book needs from a rule × source series.
pub struct PodSlot {
    /// Stable id of the series (unique for the life of the registry).
    pub id: u64,
    /// provider, code, rule, source.
    pub labels: [String; 4],
    /// Its `_overflow` counter, created on first overflow.
    pub overflow: OnceLock<IntCounter>,
    /// Set (under the table lock) once the series is removed, so a straggling match through
    /// an old tally cannot bring its per-pod series back.
    pub retired: AtomicBool,
}

impl PodSlot {
    /// The slot of a new series.
    pub fn new(id: u64, labels: [String; 4]) -> PodSlot {
        PodSlot {
            id,
            labels,
            overflow: OnceLock::new(),
            retired: AtomicBool::new(false),
        }
    }
}

fn labels_of<'a>(group: &'a [String; 4], k: &'a K8sRef) -> [&'a str; 7] {
    [
        &group[0],
        &group[1],
        &group[2],
        &group[3],
        &k.namespace,
        &k.pod,
        &k.container,
    ]
}

impl PodBook {
    /// A book keeping at most `max` pod label sets in `vec`.
    pub fn new(vec: IntCounterVec, max: usize) -> PodBook {
        PodBook {
            vec,
            max,
            table: Mutex::new(PodTable {
                groups: HashMap::new(),
                len: 0,
                no_eviction_before: 0,
            }),
        }
    }

    /// Count one match of `slot` from pod `k` at `now`.
    pub fn count(&self, slot: &PodSlot, k: &K8sRef, now: u64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if slot.retired.load(Ordering::Relaxed) {
            return;
        }
        if let Some(p) = t.groups.get_mut(&slot.id).and_then(|g| g.pods.get_mut(k)) {
            p.counter.inc();
            p.last_match = now;
            return;
        }
        if t.len >= self.max && !self.evict_idle(&mut t, now) {
            let c = slot.overflow.get_or_init(|| {
                let [p, c, r, s] = &slot.labels;
                self.vec
                    .with_label_values(&[p, c, r, s, OVERFLOW, OVERFLOW, OVERFLOW])
            });
            c.inc();
            return;
        }
        let group = t.groups.entry(slot.id).or_insert_with(|| PodGroup {
            labels: slot.labels.clone(),
            pods: HashMap::new(),
        });
        let counter = self.vec.with_label_values(&labels_of(&group.labels, k));
        counter.inc();
        group.pods.insert(
            k.clone(),
            PodSeries {
                counter,
                last_match: now,
            },
        );
        t.len += 1;
    }

    /// Remove the least recently matched label set if it has been idle long enough.
    fn evict_idle(&self, t: &mut PodTable, now: u64) -> bool {
        if now < t.no_eviction_before {
            return false;
        }
        let oldest = t
            .groups
            .iter()
            .flat_map(|(id, g)| g.pods.iter().map(move |(k, p)| (p.last_match, *id, k)))
            .min_by_key(|(last, _, _)| *last)
            .map(|(last, id, k)| (last, id, k.clone()));
        let Some((last, id, k)) = oldest else {
            return false;
        };
        if now.saturating_sub(last) < IDLE_EVICT_SECS {
            t.no_eviction_before = last + IDLE_EVICT_SECS;
            return false;
        }
        if let Some(g) = t.groups.get_mut(&id) {
            g.pods.remove(&k);
            let _ = self.vec.remove_label_values(&labels_of(&g.labels, &k));
            if g.pods.is_empty() {
                t.groups.remove(&id);
            }
        }
        t.len -= 1;
        true
    }

    /// Remove every per-pod series of `slot` (its rule or source is gone).
    pub fn remove(&self, slot: &PodSlot) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        slot.retired.store(true, Ordering::Relaxed);
        if let Some(g) = t.groups.remove(&slot.id) {
            for k in g.pods.keys() {
                let _ = self.vec.remove_label_values(&labels_of(&g.labels, k));
            }
            t.len -= g.pods.len();
        }
        if slot.overflow.get().is_some() {
            let [p, c, r, s] = &slot.labels;
            let _ = self
                .vec
                .remove_label_values(&[p, c, r, s, OVERFLOW, OVERFLOW, OVERFLOW]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    fn book(max: usize) -> PodBook {
        let vec = IntCounterVec::new(
            Opts::new("p_total", "p"),
            &crate::registry::families::POD_LABELS,
        )
        .unwrap();
        PodBook::new(vec, max)
    }

    fn slot(id: u64) -> PodSlot {
        PodSlot::new(id, ["zoom", "4734", "r", "s"].map(String::from))
    }

    fn pod(name: &str) -> K8sRef {
        K8sRef {
            namespace: "ns".into(),
            pod: name.into(),
            container: "c".into(),
        }
    }

    #[test]
    fn zero_max_puts_everything_under_overflow() {
        let b = book(0);
        let s = slot(1);
        b.count(&s, &pod("a"), 10);
        b.count(&s, &pod("b"), 10);
        assert_eq!(s.overflow.get().unwrap().get(), 2);
        assert_eq!(
            prometheus::core::Collector::collect(&b.vec)[0]
                .get_metric()
                .len(),
            1
        );
    }

    #[test]
    fn removing_a_series_frees_its_room_and_retires_it() {
        let b = book(1);
        let (s1, s2) = (slot(1), slot(2));
        b.count(&s1, &pod("a"), 10);
        b.remove(&s1);
        b.count(&s2, &pod("a"), 10);
        assert!(s2.overflow.get().is_none(), "room was freed");
        b.count(&s1, &pod("a"), 11);
        let families = prometheus::core::Collector::collect(&b.vec);
        let series = families[0].get_metric();
        assert_eq!(series.len(), 1, "the retired series stays gone");
    }
}
