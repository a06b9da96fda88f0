//! Throughput of `RuleSet::classify` alone (no framing, no I/O): `classify_speed FILE`.
//! Complements `benches/scan.sh`, which measures the whole `scan` command.

use oauthwatch::classifier::{MatchContext, RuleSet};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: classify_speed FILE");
    let data = std::fs::read(&path).expect("cannot read FILE");
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let rules = RuleSet::embedded();
    for (name, ctx) in [
        ("no provider", MatchContext::default()),
        (
            "provider=zoom",
            MatchContext {
                provider: Some("zoom"),
            },
        ),
    ] {
        let start = Instant::now();
        let mut hits = 0u64;
        for l in &lines {
            if rules.classify(l, &ctx).is_some() {
                hits += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "classify ({name}): {} lines in {secs:.3}s = {:.2} M lines/s, {:.0} MB/s, {hits} matches",
            lines.len(),
            lines.len() as f64 / secs / 1e6,
            data.len() as f64 / secs / 1e6
        );
    }
}
