//! Precision and recall per rule over a labelled set of real, publicly reported records
//! (`tests/fixtures/eval/zoom_oauth_eval.jsonl`; each cites its source). Prints the table.

use std::collections::BTreeMap;

use oauthwatch::classifier::{MatchContext, RuleSet};

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

#[test]
fn precision_and_recall_per_rule_on_real_records() {
    let rules = RuleSet::embedded();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eval/zoom_oauth_eval.jsonl"
    ))
    .unwrap();
    let mut per_rule: BTreeMap<String, Counts> = BTreeMap::new();
    let mut wrong = Vec::new();
    let (mut positives, mut negatives, mut false_alarms) = (0, 0, 0);
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let record = v["record"].as_str().unwrap();
        let expect = v["expect"].as_str();
        if let Some(id) = expect {
            assert!(
                rules.find(id).is_some(),
                "line {}: unknown rule {id}",
                n + 1
            );
            positives += 1;
        } else {
            negatives += 1;
        }
        let ctx = MatchContext {
            provider: v["provider"].as_str(),
        };
        let got = rules
            .classify(record.as_bytes(), &ctx)
            .map(|c| rules.rules()[c.rule].id.as_str());
        if got != expect {
            wrong.push(format!(
                "  line {}: expected {expect:?}, got {got:?} ({})",
                n + 1,
                v["source"]
            ));
        }
        match (expect, got) {
            (Some(e), Some(g)) if e == g => per_rule.entry(e.into()).or_default().tp += 1,
            _ => {
                if let Some(e) = expect {
                    per_rule.entry(e.into()).or_default().fn_ += 1;
                }
                if let Some(g) = got {
                    per_rule.entry(g.into()).or_default().fp += 1;
                    if expect.is_none() {
                        false_alarms += 1;
                    }
                }
            }
        }
    }
    println!(
        "\n{positives} Zoom failures, {negatives} lookalikes/ordinary records\n\
         {:<28} {:>3} {:>3} {:>3} {:>9} {:>7}",
        "rule", "tp", "fp", "fn", "precision", "recall"
    );
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (id, c) in &per_rule {
        let p = c.tp as f64 / (c.tp + c.fp).max(1) as f64;
        let r = c.tp as f64 / (c.tp + c.fn_).max(1) as f64;
        println!(
            "{id:<28} {:>3} {:>3} {:>3} {p:>9.2} {r:>7.2}",
            c.tp, c.fp, c.fn_
        );
        tp += c.tp;
        fp += c.fp;
        fn_ += c.fn_;
    }
    let micro_p = tp as f64 / (tp + fp).max(1) as f64;
    let micro_r = tp as f64 / (tp + fn_).max(1) as f64;
    println!(
        "{:<28} {tp:>3} {fp:>3} {fn_:>3} {micro_p:>9.2} {micro_r:>7.2}",
        "all (micro)"
    );
    if !wrong.is_empty() {
        println!("misclassified:\n{}", wrong.join("\n"));
    }
    assert!(
        positives >= 20 && negatives >= 20,
        "the set must stay substantial"
    );
    assert_eq!(false_alarms, 0, "a lookalike counted as a Zoom failure");
    assert!(micro_p >= 0.95, "precision {micro_p:.2} below 0.95");
    assert!(micro_r >= 0.90, "recall {micro_r:.2} below 0.90");
    for id in ["invalid_authorization_code", "token_revoked"] {
        let c = per_rule[id];
        assert_eq!(c.fp + c.fn_, 0, "{id} must be exact on the set");
    }
}
