//! The README's error reference is exactly what `reference::error_reference_markdown`
//! generates from the embedded rule file, so the runbook the alerts link to never drifts from
//! the rules. `UPDATE_README=1 cargo test --test it deploy_reference` rewrites the section.

use std::path::Path;

use oauthwatch::classifier::RuleSet;
use oauthwatch::reference::{error_reference_markdown, rule_anchor};

const BEGIN: &str = "<!-- BEGIN section:error-reference";
const END: &str = "<!-- END section:error-reference -->";

/// (text before the section body, the body, text from the END marker on).
fn split_readme(readme: &str) -> (&str, &str, &str) {
    let begin = readme
        .find(BEGIN)
        .expect("README has the error-reference BEGIN marker");
    let body_start = begin + readme[begin..].find('\n').expect("marker line ends") + 1;
    let end = readme
        .find(END)
        .expect("README has the error-reference END marker");
    assert!(end >= body_start, "END marker before BEGIN marker");
    (
        &readme[..body_start],
        &readme[body_start..end],
        &readme[end..],
    )
}

#[test]
fn readme_error_reference_matches_the_rule_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let generated = error_reference_markdown(&RuleSet::embedded());
    let (head, body, tail) = split_readme(&readme);
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, format!("{head}{generated}{tail}")).unwrap();
        return;
    }
    assert!(
        body == generated,
        "README's error reference is out of date with the rule file; run \
         `UPDATE_README=1 cargo test --test it deploy_reference`.\n--- README ---\n{body}\n--- generated ---\n{generated}"
    );
}

#[test]
fn every_rule_the_alerts_rely_on_has_a_runbook_anchor() {
    let rules = RuleSet::embedded();
    let md = error_reference_markdown(&rules);
    for id in [
        "invalid_authorization_code",
        "token_revoked",
        "unclassified",
    ] {
        let idx = rules
            .find(id)
            .unwrap_or_else(|| panic!("embedded rules lack `{id}`"));
        let rule = &rules.rules()[idx];
        assert!(
            md.contains(&format!("<a id=\"{}\"></a>", rule_anchor(id))),
            "{id} has no anchor"
        );
        assert!(
            md.contains(rule.remediation.trim().lines().next().unwrap_or("")),
            "{id}'s remediation is missing from the reference"
        );
    }
    assert_eq!(
        md.matches("<a id=\"rule-").count(),
        rules.rules().len(),
        "one anchor per rule"
    );
}
