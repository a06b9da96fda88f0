//! The error reference: a Markdown page generated from the rule set, one entry per rule with
//! its code, the provider's message, what it means and what to do.
//!
//! It is the runbook the alerts link to: the `runbook_url` of the `OAuthTokenFailures` alert in
//! `deploy/prometheus/oauthwatch.rules.yml` ends in `#rule-<rule id>`, and every entry here
//! carries that anchor ([`rule_anchor`]). The README's `error-reference` section is this
//! output verbatim; `tests/deploy_reference.rs` keeps the two in sync (`UPDATE_README=1`
//! rewrites the section). Pure: text in, text out.

use std::fmt::Write as _;

use crate::classifier::{Rule, RuleSet};

/// The HTML anchor of a rule's entry (`rule-invalid_authorization_code`); alert rules build
/// their `runbook_url` from it, so it depends on nothing but the rule id.
pub fn rule_anchor(rule_id: &str) -> String {
    format!("rule-{rule_id}")
}

/// The whole error reference for `rules`, as Markdown: a title, an index table linking every
/// rule's anchor, then one entry per rule in rule-file order.
pub fn error_reference_markdown(rules: &RuleSet) -> String {
    let mut out = String::new();
    out.push_str("## Error reference\n\n");
    out.push_str(
        "Generated from the rule file (`rules/zoom-oauth.toml`, embedded in the binary) by \
         `oauthwatch::reference::error_reference_markdown`; do not edit by hand \
         (`UPDATE_README=1 cargo test --test deploy_reference` regenerates it). Each entry is \
         the runbook an alert's `runbook_url` points at: the code and `rule` label of the \
         alert, the provider's message, what it means, and what to do.\n\n",
    );
    out.push_str("| Code | Rule | Severity | Alert hint when | Summary |\n");
    out.push_str("|---|---|---|---|---|\n");
    for rule in rules.rules() {
        let _ = writeln!(
            out,
            "| {code} | [`{id}`](#{anchor}) | {sev} | {when} | {summary} |",
            code = cell(&rule.code_label()),
            id = rule.id,
            anchor = rule_anchor(&rule.id),
            sev = rule.severity.as_str(),
            when = cell(&alert_condition(rule)),
            summary = cell(&rule.summary),
        );
    }
    for rule in rules.rules() {
        out.push('\n');
        entry(&mut out, rule);
    }
    out
}

fn entry(out: &mut String, rule: &Rule) {
    let code = rule.code_label();
    let _ = writeln!(out, "<a id=\"{}\"></a>", rule_anchor(&rule.id));
    let _ = writeln!(
        out,
        "### {provider} {code}: `{id}`\n",
        provider = title(&rule.provider),
        id = rule.id
    );
    let _ = writeln!(out, "{}\n", one_line(&rule.summary));
    let _ = writeln!(
        out,
        "- **Labels:** `provider=\"{}\"`, `code=\"{code}\"`, `rule=\"{}\"`, `severity=\"{}\"`",
        rule.provider,
        rule.id,
        rule.severity.as_str()
    );
    if !rule.message.trim().is_empty() {
        let _ = writeln!(out, "- **Message:** {}", one_line(&rule.message));
    }
    if !rule.description.trim().is_empty() {
        let _ = writeln!(out, "- **Meaning:** {}", one_line(&rule.description));
    }
    let _ = writeln!(out, "- **Alert hint:** {}", alert_condition(rule));
    out.push_str("\n**What to do:**\n\n");
    for line in rule.remediation.trim().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// "5 matches within 10m", the rule's alert condition as the rule file states it.
fn alert_condition(rule: &Rule) -> String {
    let n = rule.alert.count;
    format!(
        "{n} {} within {}",
        if n == 1 { "match" } else { "matches" },
        humantime::format_duration(rule.alert.window)
    )
}

/// Text for a table cell or a list item: one line, pipes escaped.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn title(provider: &str) -> String {
    let mut c = provider.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{AlertCondition, Severity};
    use std::time::Duration;

    fn rule(id: &str, codes: &[&str], catch_all: bool) -> Rule {
        Rule {
            id: id.to_string(),
            provider: "zoom".to_string(),
            codes: codes.iter().map(|c| c.to_string()).collect(),
            message: "Invalid client. | Invalid client secret.".to_string(),
            description: "The client ID or secret\nis wrong.".to_string(),
            severity: Severity::Critical,
            alert: AlertCondition {
                count: 3,
                window: Duration::from_secs(600),
            },
            summary: "Client rejected".to_string(),
            remediation: "Verify the client ID and secret.\nThen redeploy.\n".to_string(),
            catch_all,
        }
    }

    #[test]
    fn every_rule_gets_an_anchor_a_table_row_and_its_texts() {
        let set = RuleSet::without_matchers(vec![
            rule("invalid_client", &["4702", "4704"], false),
            rule("unclassified", &[], true),
        ]);
        let md = error_reference_markdown(&set);
        assert!(md.starts_with("## Error reference\n"), "{md}");
        assert!(
            md.contains("<a id=\"rule-invalid_client\"></a>\n### Zoom 4702,4704: `invalid_client`")
        );
        assert!(md.contains("<a id=\"rule-unclassified\"></a>\n### Zoom unknown: `unclassified`"));
        assert!(md.contains(
            "| 4702,4704 | [`invalid_client`](#rule-invalid_client) | critical | 3 matches within 10m | Client rejected |"
        ));
        assert!(md.contains("- **Message:** Invalid client. | Invalid client secret.\n"));
        assert!(md.contains("- **Meaning:** The client ID or secret is wrong.\n"));
        assert!(
            md.contains("**What to do:**\n\nVerify the client ID and secret.\nThen redeploy.\n")
        );
        assert_eq!(md.matches("<a id=").count(), 2);
    }

    #[test]
    fn pipes_in_table_cells_are_escaped() {
        let mut r = rule("x", &["1"], false);
        r.summary = "a | b".to_string();
        let md = error_reference_markdown(&RuleSet::without_matchers(vec![r]));
        assert!(md.contains("| a \\| b |"), "{md}");
    }

    #[test]
    fn anchor_depends_only_on_the_rule_id() {
        assert_eq!(
            rule_anchor("invalid_authorization_code"),
            "rule-invalid_authorization_code"
        );
    }
}
