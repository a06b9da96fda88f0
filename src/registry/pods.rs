//! Per-pod failure counters (`oauthwatch_pod_errors_total`), the one family whose label values
//! (k8s_namespace, k8s_pod, k8s_container) come from file names rather than from the rule and config
//! files. The config admits them with `kubernetes_metadata = true` on a source; they are bounded
//! here: at most `max` label sets exist at once. When the table is full, a label set whose last
//! match is older than [`IDLE_EVICT_SECS`] makes room (pods come and go on a node); otherwise
//! the match counts under `k8s_namespace="_overflow",k8s_pod="_overflow",k8s_container="_overflow"`.
//!
//! A deleted pod's series retire on their own: once its log directory is gone and its last
//! file has been read to the end, the file source reports it drained ([`PodBook::drained`]),
//! and after `kubernetes.pod_series_grace` (default [`DEFAULT_POD_SERIES_GRACE_SECS`], long
//! enough for Prometheus to scrape the final value) its series are removed and their room is
//! free for new pods. A pod whose logs reappear before then (a StatefulSet pod recreated
//! under its name) keeps its series.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus::{IntCounter, IntCounterVec};

use super::families::OVERFLOW;
use crate::sources::K8sRef;

/// A pod label set with no match for this long may be evicted when the table is full.
pub const IDLE_EVICT_SECS: u64 = 3600;

/// How long a drained pod's series stay after its logs are gone, when the config does not
/// say (`kubernetes.pod_series_grace`): several scrape intervals, so the final value is seen.
pub const DEFAULT_POD_SERIES_GRACE_SECS: u64 = 300;

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
    /// Pods whose logs are gone and drained, by (source, pod): when their series retire.
    retiring: HashMap<(String, K8sRef), u64>,
}

/// The bounded per-pod counters of a registry.
pub struct PodBook {
    vec: IntCounterVec,
    max: usize,
    /// Seconds a drained pod's series stay.
    grace: AtomicU64,
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
    /// an old recorder cannot bring its per-pod series back.
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
            grace: AtomicU64::new(DEFAULT_POD_SERIES_GRACE_SECS),
            table: Mutex::new(PodTable {
                groups: HashMap::new(),
                len: 0,
                no_eviction_before: 0,
                retiring: HashMap::new(),
            }),
        }
    }

    /// How long a drained pod's series stay (`kubernetes.pod_series_grace`).
    pub fn set_grace(&self, secs: u64) {
        self.grace.store(secs, Ordering::Relaxed);
    }

    /// Pod `k` of `source` has no log file left (its directory is gone and its files were
    /// read to the end): retire its series after the grace. Matches still in the queue from
    /// its last lines count meanwhile.
    pub fn drained(&self, source: &str, k: &K8sRef, now: u64) {
        let at = now.saturating_add(self.grace.load(Ordering::Relaxed));
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.retiring.insert((source.to_string(), k.clone()), at);
    }

    /// Pod `k` of `source` has a log file again (recreated under its name): keep its series.
    pub fn present(&self, source: &str, k: &K8sRef) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !t.retiring.is_empty() {
            t.retiring.remove(&(source.to_string(), k.clone()));
        }
    }

    /// Retire the series of drained pods whose grace has passed (called before each scrape
    /// and when the table is full).
    pub fn sweep(&self, now: u64) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        self.sweep_locked(&mut t, now);
    }

    fn sweep_locked(&self, t: &mut PodTable, now: u64) {
        if t.retiring.is_empty() {
            return;
        }
        let due: Vec<(String, K8sRef)> = t
            .retiring
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            t.retiring.remove(&key);
            let (source, k) = key;
            let mut emptied = Vec::new();
            let mut removed = 0;
            for (id, g) in t.groups.iter_mut().filter(|(_, g)| g.labels[3] == source) {
                if g.pods.remove(&k).is_some() {
                    let _ = self.vec.remove_label_values(&labels_of(&g.labels, &k));
                    removed += 1;
                    if g.pods.is_empty() {
                        emptied.push(*id);
                    }
                }
            }
            for id in emptied {
                t.groups.remove(&id);
            }
            t.len -= removed;
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
        if t.len >= self.max {
            self.sweep_locked(&mut t, now);
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

    fn series_count(b: &PodBook) -> usize {
        prometheus::core::Collector::collect(&b.vec)[0]
            .get_metric()
            .len()
    }

    #[test]
    fn a_drained_pod_retires_after_the_grace_and_frees_its_room() {
        let b = book(1);
        b.set_grace(300);
        let s = slot(1);
        b.count(&s, &pod("old"), 10);
        b.drained("s", &pod("old"), 20);
        b.sweep(319);
        assert_eq!(series_count(&b), 1, "the final value stays for the grace");
        b.sweep(320);
        assert_eq!(series_count(&b), 0, "retired after the grace");
        b.count(&s, &pod("new"), 321);
        assert!(s.overflow.get().is_none(), "the new pod got the freed room");
    }

    #[test]
    fn a_full_table_retires_due_pods_before_overflowing() {
        let b = book(1);
        b.set_grace(5);
        let s = slot(1);
        b.count(&s, &pod("old"), 10);
        b.drained("s", &pod("old"), 10);
        b.count(&s, &pod("new"), 15);
        assert!(s.overflow.get().is_none());
        assert_eq!(series_count(&b), 1);
    }

    #[test]
    fn a_pod_back_before_the_grace_or_of_another_source_keeps_its_series() {
        let b = book(2);
        b.set_grace(5);
        let s = slot(1);
        b.count(&s, &pod("web-0"), 10);
        b.drained("s", &pod("web-0"), 10);
        b.present("s", &pod("web-0"));
        b.drained("other", &pod("web-0"), 10);
        b.sweep(100);
        assert_eq!(series_count(&b), 1);
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
