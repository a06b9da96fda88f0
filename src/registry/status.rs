//! The status page's view (`/`): the hints, every source's self-monitoring, and each rule's
//! matches per minute over the last hour.

use std::sync::atomic::Ordering;

use prometheus::IntCounter;

use super::history;
use super::{lock, rfc3339, Registry, RuleHistory, SourceStatus, StatusReport};

impl Registry {
    /// Everything the status page shows: hints, sources, and each rule's last hour.
    pub fn status(&self) -> StatusReport {
        self.refresh_lag();
        let hints = self.hints();
        let now = self.clock.now_secs();
        let sources = self
            .sources
            .load()
            .iter()
            .map(|s| {
                let desc = lock(&s.live.desc).clone();
                let matched = s.live.files_matched.load(Ordering::Acquire);
                let last_read = s.live.last_read.load(Ordering::Acquire);
                SourceStatus {
                    name: s.name.clone(),
                    stdin: desc.stdin,
                    globs: desc.paths,
                    exclude: desc.exclude,
                    files_matched: (matched != u64::MAX).then_some(matched),
                    files_watched: s.files_watched.get().max(0) as u64,
                    lag_bytes: s.lag.get().max(0) as u64,
                    lines: s.lines.get(),
                    records: s.records.get(),
                    bytes: s.bytes.get(),
                    last_read: (last_read > 0).then(|| rfc3339(last_read)),
                    read_errors: s.read_errors.iter().map(IntCounter::get).sum(),
                    degraded: s.degraded.iter().map(IntCounter::get).sum(),
                }
            })
            .collect();
        let order = lock(&self.installed).order.clone();
        let mut rules: Vec<RuleHistory> = Vec::new();
        for cell in &order {
            let st = lock(&cell.state);
            let series = st.history.series(now);
            if series.iter().all(|&c| c == 0) {
                continue;
            }
            let [provider, _, rule, _] = &cell.pod.labels;
            match rules
                .iter_mut()
                .find(|r| &r.rule == rule && &r.provider == provider)
            {
                Some(r) => history::add_into(&mut r.per_minute, &series),
                None => rules.push(RuleHistory {
                    rule: rule.clone(),
                    provider: provider.clone(),
                    severity: st.rule.severity.as_str().to_string(),
                    per_minute: series,
                }),
            }
        }
        StatusReport {
            hints,
            sources,
            rules,
            ready: self.is_ready(),
        }
    }
}
