//! The `/` page: what a person opening the endpoint in a browser needs — links to the other
//! endpoints and a table of the hints with what to do about each.
//!
//! Plain HTML with inline CSS and no script, so it renders anywhere (including behind strict
//! content-security policies and in text browsers on a jump host). Every string that reaches
//! the page goes through [`escape`]: rule files are trusted, but `sample` and the unmatched
//! reasons come from log text, which an attacker may control even after redaction.

use std::fmt::Write;
use std::time::Duration;

use crate::registry::{HintEntry, HintsReport};

/// Escape text for an HTML element body or a double- or single-quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters (other than tab and newline) have no business on a page and
            // some confuse terminals that display saved pages; show them as U+FFFD.
            c if c.is_control() && c != '\t' && c != '\n' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;line-height:1.4;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}\
td.sample,td.reason{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap;word-break:break-all}\
.critical{color:#a00;font-weight:bold}.warning{color:#a60;font-weight:bold}\
.muted{color:#666}";

/// Render the page for `report`.
///
/// Links are relative (`metrics`, not `/metrics`) so the page still works when a reverse
/// proxy serves the endpoint under a path prefix.
pub fn render(report: &HintsReport) -> String {
    let mut html = String::with_capacity(4096);
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>oauthwatch</title>\n<style>",
    );
    html.push_str(STYLE);
    html.push_str("</style>\n</head>\n<body>\n<h1>oauthwatch</h1>\n");
    html.push_str(
        "<p>Zoom OAuth token-endpoint failures found in the logs, and what to do about them.</p>\n\
         <ul>\n\
         <li><a href=\"metrics\">/metrics</a>: Prometheus metrics</li>\n\
         <li><a href=\"hints\">/hints</a>: the hints below, as JSON</li>\n\
         <li><a href=\"healthz\">/healthz</a>: liveness</li>\n\
         <li><a href=\"readyz\">/readyz</a>: readiness (rules loaded, sources open)</li>\n\
         </ul>\n",
    );

    let (active, recent): (Vec<&HintEntry>, Vec<&HintEntry>) =
        report.hints.iter().partition(|h| h.active);

    let _ = writeln!(html, "<h2>Active hints ({})</h2>", active.len());
    if active.is_empty() {
        html.push_str("<p class=\"muted\">No rule's alert condition holds right now.</p>\n");
    } else {
        hints_table(&mut html, &active);
    }
    if !recent.is_empty() {
        let _ = writeln!(html, "<h2>Recent, no longer active ({})</h2>", recent.len());
        hints_table(&mut html, &recent);
    }

    let unmatched: Vec<&HintEntry> = report
        .hints
        .iter()
        .filter(|h| !h.unmatched_reasons.is_empty())
        .collect();
    if !unmatched.is_empty() {
        html.push_str(
            "<h2>Unclassified reasons</h2>\n<p>The most frequent reasons no rule matched \
             (normalised). Rules for them belong in the rule file.</p>\n",
        );
        for h in unmatched {
            let _ = writeln!(
                html,
                "<h3>{} ({})</h3>\n<table>\n<tr><th>Reason</th><th>Count</th></tr>",
                escape(&h.rule),
                escape(&h.source)
            );
            for r in &h.unmatched_reasons {
                let _ = writeln!(
                    html,
                    "<tr><td class=\"reason\">{}</td><td>{}</td></tr>",
                    escape(&r.reason),
                    r.count
                );
            }
            html.push_str("</table>\n");
        }
    }

    let _ = writeln!(
        html,
        "<p class=\"muted\">Generated at {}.</p>\n</body>\n</html>",
        escape(&report.generated_at)
    );
    html
}

fn hints_table(html: &mut String, hints: &[&HintEntry]) {
    html.push_str(
        "<table>\n<tr><th>Rule</th><th>Codes</th><th>Severity</th><th>Source</th>\
         <th>Count in window</th><th>Summary</th><th>Remediation</th><th>Last seen</th>\
         <th>Sample</th></tr>\n",
    );
    for h in hints {
        let codes = if h.codes.is_empty() {
            h.code.clone()
        } else {
            h.codes.join(", ")
        };
        let severity_class = match h.severity.as_str() {
            "critical" => "critical",
            "warning" => "warning",
            _ => "info",
        };
        let window = humantime::format_duration(Duration::from_secs(h.window_seconds));
        let _ = writeln!(
            html,
            "<tr><td>{rule}</td><td>{codes}</td><td class=\"{severity_class}\">{severity}</td>\
             <td>{source}</td><td>{count} (alert at {threshold} in {window})</td>\
             <td>{summary}</td><td>{remediation}</td><td>{last_seen}</td>\
             <td class=\"sample\">{sample}</td></tr>",
            rule = escape(&h.rule),
            codes = escape(&codes),
            severity = escape(&h.severity),
            source = escape(&h.source),
            count = h.count_in_window,
            threshold = h.threshold,
            window = window,
            summary = escape(&h.summary),
            remediation = escape(&h.remediation),
            last_seen = escape(&h.last_seen),
            sample = escape(&h.sample),
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ReasonCount;

    fn entry(active: bool) -> HintEntry {
        HintEntry {
            rule: "invalid_authorization_code".into(),
            provider: "zoom".into(),
            codes: vec!["4734".into()],
            code: "4734".into(),
            source: "app".into(),
            severity: "warning".into(),
            summary: "Invalid authorization code".into(),
            remediation: "Exchange each code once & within its lifetime".into(),
            active,
            count_in_window: 7,
            threshold: 5,
            window_seconds: 300,
            first_seen: "2026-11-24T19:00:00Z".into(),
            last_seen: "2026-11-24T19:04:00Z".into(),
            sample: r#"{"reason":"<script>alert('x')</script>","code":"[REDACTED]"}"#.into(),
            unmatched_reasons: vec![],
            last_fired: None,
        }
    }

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("tab\tnl\nbell\u{7}"), "tab\tnl\nbell\u{FFFD}");
        assert_eq!(escape("Zoom 4734 ✓"), "Zoom 4734 ✓");
    }

    #[test]
    fn active_hint_is_a_row_with_every_column_escaped() {
        let report = HintsReport {
            generated_at: "2026-11-24T19:05:00Z".into(),
            hints: vec![entry(true)],
        };
        let html = render(&report);
        assert!(html.contains("<h2>Active hints (1)</h2>"));
        assert!(html.contains("<td>invalid_authorization_code</td><td>4734</td>"));
        assert!(html.contains("7 (alert at 5 in 5m)"));
        assert!(html.contains("Exchange each code once &amp; within its lifetime"));
        assert!(html.contains("2026-11-24T19:04:00Z"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        for link in ["metrics", "hints", "healthz", "readyz"] {
            assert!(html.contains(&format!("<a href=\"{link}\">")), "{link}");
        }
    }

    #[test]
    fn inactive_hints_and_unmatched_reasons_have_their_own_sections() {
        let mut catch_all = entry(false);
        catch_all.rule = "unclassified".into();
        catch_all.codes.clear();
        catch_all.code = "unknown".into();
        catch_all.unmatched_reasons = vec![ReasonCount {
            reason: "Weird <b>reason</b> <token>".into(),
            count: 3,
        }];
        let report = HintsReport {
            generated_at: "now".into(),
            hints: vec![catch_all],
        };
        let html = render(&report);
        assert!(html.contains("<h2>Active hints (0)</h2>"));
        assert!(html.contains("No rule's alert condition holds right now."));
        assert!(html.contains("<h2>Recent, no longer active (1)</h2>"));
        assert!(html.contains("<td>unclassified</td><td>unknown</td>"));
        assert!(html.contains("Weird &lt;b&gt;reason&lt;/b&gt; &lt;token&gt;</td><td>3</td>"));
        assert!(!html.contains("<b>reason"));
    }
}
