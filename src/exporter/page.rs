//! The status page `/`: the page an on-call engineer opens first. In order: which sources are
//! read (globs, matched files, lag, lines, last read, errors), the active hints (most severe
//! first) with what to do, each rule's failures over the last hour as a sparkline, then hints
//! that fired earlier, matches below their alert threshold, and unclassified reasons.
//!
//! Plain HTML with one inline style sheet and inline SVG: no script, no outside resources, so
//! it renders under the strict [`content_security_policy`] the route sends (which allows that
//! one style sheet by its hash and nothing else) and in text browsers on a jump host. It
//! refreshes itself (`<meta http-equiv="refresh">`) and reflows to one column on a phone.
//! Every string that reaches the page goes through [`escape`]: rule files are trusted, but
//! `sample` and the unmatched reasons come from log text, which an attacker may control even
//! after redaction.

use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

use crate::registry::{HintEntry, RuleHistory, SourceStatus, StatusReport};

/// Seconds between the page's own reloads.
pub const REFRESH_SECS: u32 = 30;

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
body{font-family:system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:80em;line-height:1.4;color:#222}\
h1{margin:.2em 0}h2{margin-top:1.4em;border-bottom:1px solid #ddd}\
.wrap{overflow-x:auto}\
table{border-collapse:collapse;width:100%;margin-bottom:1em}\
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.num{text-align:right;white-space:nowrap}\
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}\
code{background:#f3f3f3;padding:0 .2em;border-radius:3px}\
pre.sample{margin:.4em 0 0;padding:.5em;background:#f7f7f7;border:1px solid #e3e3e3;white-space:pre-wrap;overflow-wrap:anywhere}\
tr.detail td{border-top:none;background:#fcfcfc}tr.hint td{border-bottom:none}\
.critical{color:#a00;font-weight:bold}.warning{color:#a60;font-weight:bold}.info{color:#246}\
.muted{color:#666}.warn{background:#fff4e5;border:1px solid #f0c36d;padding:.5em .8em}\
svg.spark{display:block}svg.spark rect{fill:#888}svg.spark line{stroke:#ccc}\
svg.spark.critical rect{fill:#a00}svg.spark.warning rect{fill:#c70}\
td.reason{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}\
@media (max-width:40em){\
body{padding:0 .5em}table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:auto}\
table.stack tr:first-child{display:none}table.stack tr{border:1px solid #ccc;margin-bottom:.6em}\
table.stack tr.hint{margin-bottom:0;border-bottom:none}table.stack td{border:none;padding:.15em .5em;text-align:left}\
table.stack td[data-label]::before{content:attr(data-label) \": \";font-weight:bold;color:#555}}";

/// The `Content-Security-Policy` of the page: nothing may load or run, and the only style
/// allowed is the page's own style sheet, named by its SHA-256.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// Render text with Markdown code spans (`` `x` ``) as `<code>`; everything else escaped.
/// An unpaired backtick stays as it is.
pub fn inline_markdown(text: &str) -> String {
    let (paired, unpaired) = match text.rfind('`') {
        Some(at) if text.matches('`').count() % 2 == 1 => (&text[..at], &text[at..]),
        _ => (text, ""),
    };
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in paired.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out.push_str(&escape(unpaired));
    out
}

/// A small bar sparkline of per-minute counts (oldest first) as inline SVG: one bar per
/// minute, scaled to the busiest minute, with the total in its accessible name.
pub fn sparkline(per_minute: &[u64], severity: &str) -> String {
    const W: usize = 3;
    const H: u64 = 24;
    let width = per_minute.len().max(1) * W;
    let max = per_minute.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = per_minute.iter().sum();
    let mut svg = format!(
        "<svg class=\"spark {cls}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"{total} in the last hour, busiest minute {max}\">\
         <title>{total} in the last {n} minutes (busiest minute: {max})</title>\
         <line x1=\"0\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\"/>",
        cls = severity_class(severity),
        w = width,
        h = H,
        base = H as f64 - 0.5,
        n = per_minute.len(),
        max = per_minute.iter().copied().max().unwrap_or(0),
    );
    for (i, &c) in per_minute.iter().enumerate() {
        if c == 0 {
            continue;
        }
        // At least 2 px, so a single failure is visible next to a busy minute.
        let h = (c * (H - 1)).div_ceil(max).max(2);
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            i * W,
            H - h,
            W - 1,
            h
        );
    }
    svg.push_str("</svg>");
    svg
}

fn severity_class(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "warning" => "warning",
        _ => "info",
    }
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// Bytes as a person reads them (`0 B`, `12.3 KiB`, `4.1 GiB`).
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Render the page for `status`.
///
/// Links are relative (`metrics`, not `/metrics`) so the page still works when a reverse
/// proxy serves the endpoint under a path prefix.
pub fn render(status: &StatusReport) -> String {
    let report = &status.hints;
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\n\
         <title>oauthwatch</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>oauthwatch</h1>\n"
    );
    let _ = writeln!(
        html,
        "<p class=\"muted\">Zoom OAuth token-endpoint failures found in the logs, and what to do \
         about them. {} &middot; generated {} &middot; refreshes every {REFRESH_SECS}&nbsp;s \
         &middot; <a href=\"metrics\">/metrics</a> &middot; <a href=\"hints\">/hints</a> (JSON) \
         &middot; <a href=\"healthz\">/healthz</a> &middot; <a href=\"readyz\">/readyz</a></p>",
        if status.ready {
            "Ready"
        } else {
            "<strong class=\"critical\">Not ready</strong>"
        },
        escape(&report.generated_at),
    );

    sources_section(&mut html, &status.sources);

    let mut active: Vec<&HintEntry> = report.hints.iter().filter(|h| h.active).collect();
    active.sort_by(|a, b| {
        severity_rank(&a.severity)
            .cmp(&severity_rank(&b.severity))
            .then(b.count_in_window.cmp(&a.count_in_window))
            .then_with(|| (&a.rule, &a.source).cmp(&(&b.rule, &b.source)))
    });
    let fired: Vec<&HintEntry> = report
        .hints
        .iter()
        .filter(|h| !h.active && h.last_fired.is_some())
        .collect();
    let below: Vec<&HintEntry> = report
        .hints
        .iter()
        .filter(|h| !h.active && h.last_fired.is_none())
        .collect();

    let _ = writeln!(
        html,
        "<h2 id=\"active\">Active hints ({})</h2>",
        active.len()
    );
    if active.is_empty() {
        html.push_str("<p class=\"muted\">No rule's alert condition holds right now.</p>\n");
    } else {
        hints_table(&mut html, &active, "active");
    }

    rules_section(&mut html, &status.rules);

    if !fired.is_empty() {
        let _ = writeln!(
            html,
            "<h2 id=\"fired\">Fired earlier, no longer active ({})</h2>\n<p class=\"muted\">\
             Their alert condition held within the last day and holds no more.</p>",
            fired.len()
        );
        hints_table(&mut html, &fired, "fired");
    }
    if !below.is_empty() {
        let _ = writeln!(
            html,
            "<h2 id=\"below\">Matched, below the alert threshold ({})</h2>\n<p class=\"muted\">\
             Matches inside the alert window, never enough to make the hint active.</p>",
            below.len()
        );
        hints_table(&mut html, &below, "below");
    }

    unmatched_section(&mut html, &report.hints);

    html.push_str(
        "<p class=\"muted\">Times are when oauthwatch read the line (UTC), not timestamps \
         written in the logs. Samples are the latest matching record with secrets \
         redacted.</p>\n</body>\n</html>\n",
    );
    html
}

fn sources_section(html: &mut String, sources: &[SourceStatus]) {
    let _ = writeln!(html, "<h2 id=\"sources\">Sources ({})</h2>", sources.len());
    let empty: Vec<&SourceStatus> = sources
        .iter()
        .filter(|s| s.files_matched == Some(0))
        .collect();
    if !empty.is_empty() {
        html.push_str("<div class=\"warn\" id=\"unmatched-sources\">");
        for s in empty {
            let _ = write!(
                html,
                "<p>Source <strong>{}</strong> matches no file: nothing is read from it until \
                 one of {} exists.</p>",
                escape(&s.name),
                s.globs
                    .iter()
                    .map(|g| format!("<code>{}</code>", escape(g)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        html.push_str("</div>\n");
    }
    html.push_str(
        "<div class=\"wrap\"><table class=\"stack sources\" id=\"sources-table\">\n<tr><th>Source</th>\
         <th>Reads</th><th>Files matched</th><th>Lag</th><th>Lines read</th>\
         <th>Last read (UTC)</th><th>Errors</th></tr>\n",
    );
    for s in sources {
        let reads = if s.stdin {
            "standard input".to_string()
        } else {
            let mut r = s
                .globs
                .iter()
                .map(|g| format!("<code>{}</code>", escape(g)))
                .collect::<Vec<_>>()
                .join("<br>");
            if !s.exclude.is_empty() {
                let _ = write!(
                    r,
                    "<br><span class=\"muted\">except</span> {}",
                    s.exclude
                        .iter()
                        .map(|g| format!("<code>{}</code>", escape(g)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            r
        };
        let matched = match s.files_matched {
            None if s.stdin => "&ndash;".to_string(),
            None => "not yet looked".to_string(),
            Some(0) => "<strong class=\"warning\">0</strong>".to_string(),
            Some(n) if n != s.files_watched => {
                format!(
                    "{n} <span class=\"muted\">({} tailed)</span>",
                    s.files_watched
                )
            }
            Some(n) => n.to_string(),
        };
        let errors = s.read_errors + s.degraded;
        let errors = if errors == 0 {
            "0".to_string()
        } else {
            format!(
                "<span class=\"warning\">{} read, {} degraded</span>",
                s.read_errors, s.degraded
            )
        };
        let _ = writeln!(
            html,
            "<tr class=\"source\"><td data-label=\"Source\"><strong>{name}</strong></td>\
             <td data-label=\"Reads\">{reads}</td><td data-label=\"Files matched\" class=\"num\">{matched}</td>\
             <td data-label=\"Lag\" class=\"num\">{lag}</td><td data-label=\"Lines read\" class=\"num\">{lines}</td>\
             <td data-label=\"Last read\">{last}</td><td data-label=\"Errors\" class=\"num\">{errors}</td></tr>",
            name = escape(&s.name),
            lag = human_bytes(s.lag_bytes),
            lines = s.lines,
            last = s
                .last_read
                .as_deref()
                .map_or_else(|| "never".to_string(), escape),
        );
    }
    html.push_str("</table></div>\n");
}

fn rules_section(html: &mut String, rules: &[RuleHistory]) {
    html.push_str("<h2 id=\"last-hour\">Failures in the last hour, per rule</h2>\n");
    if rules.is_empty() {
        html.push_str("<p class=\"muted\">No rule matched in the last hour.</p>\n");
        return;
    }
    let mut rules: Vec<&RuleHistory> = rules.iter().collect();
    rules.sort_by(|a, b| {
        severity_rank(&a.severity)
            .cmp(&severity_rank(&b.severity))
            .then(
                b.per_minute
                    .iter()
                    .sum::<u64>()
                    .cmp(&a.per_minute.iter().sum()),
            )
            .then_with(|| a.rule.cmp(&b.rule))
    });
    html.push_str(
        "<div class=\"wrap\"><table class=\"stack rules\" id=\"rules-table\">\n<tr><th>Rule</th><th>Severity</th>\
         <th>Last hour</th><th>Per minute, 60 min ago &rarr; now</th></tr>\n",
    );
    for r in rules {
        let _ = writeln!(
            html,
            "<tr class=\"rule\" data-rule=\"{rule}\"><td data-label=\"Rule\">{rule}</td>\
             <td data-label=\"Severity\" class=\"{cls}\">{sev}</td>\
             <td data-label=\"Last hour\" class=\"num\">{total}</td><td>{spark}</td></tr>",
            rule = escape(&r.rule),
            cls = severity_class(&r.severity),
            sev = escape(&r.severity),
            total = r.per_minute.iter().sum::<u64>(),
            spark = sparkline(&r.per_minute, &r.severity),
        );
    }
    html.push_str("</table></div>\n");
}

fn unmatched_section(html: &mut String, hints: &[HintEntry]) {
    let unmatched: Vec<&HintEntry> = hints
        .iter()
        .filter(|h| !h.unmatched_reasons.is_empty())
        .collect();
    if unmatched.is_empty() {
        return;
    }
    html.push_str(
        "<h2 id=\"unclassified\">Unclassified reasons</h2>\n<p>The most frequent reasons no rule \
         matched (normalised). Rules for them belong in the rule file.</p>\n",
    );
    for h in unmatched {
        let _ = writeln!(
            html,
            "<h3>{} ({})</h3>\n<div class=\"wrap\"><table>\n<tr><th>Reason</th><th>Count</th></tr>",
            escape(&h.rule),
            escape(&h.source)
        );
        for r in &h.unmatched_reasons {
            let _ = writeln!(
                html,
                "<tr><td class=\"reason\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&r.reason),
                r.count
            );
        }
        html.push_str("</table></div>\n");
    }
}

fn hints_table(html: &mut String, hints: &[&HintEntry], id: &str) {
    let _ = writeln!(
        html,
        "<div class=\"wrap\"><table class=\"stack hints\" id=\"{id}-table\">\n<tr><th>Severity</th><th>Rule</th>\
         <th>Codes</th><th>Source</th><th>In alert window</th><th>Last match read (UTC)</th></tr>"
    );
    for h in hints {
        let codes = if h.codes.is_empty() {
            h.code.clone()
        } else {
            h.codes.join(", ")
        };
        let window = humantime::format_duration(Duration::from_secs(h.window_seconds));
        let _ = writeln!(
            html,
            "<tr class=\"hint\" data-rule=\"{rule}\" data-severity=\"{severity}\">\
             <td data-label=\"Severity\" class=\"{cls}\">{severity}</td>\
             <td data-label=\"Rule\"><strong>{rule}</strong></td><td data-label=\"Codes\">{codes}</td>\
             <td data-label=\"Source\">{source}</td>\
             <td data-label=\"In alert window\">{count} <span class=\"muted\">(alert at {threshold} in {window})</span></td>\
             <td data-label=\"Last match read\">{last_seen}</td></tr>\n\
             <tr class=\"detail\"><td colspan=\"6\"><div>{summary}</div>\
             <div><strong>What to do:</strong> {remediation}</div>{sample}</td></tr>",
            cls = severity_class(&h.severity),
            rule = escape(&h.rule),
            codes = escape(&codes),
            severity = escape(&h.severity),
            source = escape(&h.source),
            count = h.count_in_window,
            threshold = h.threshold,
            summary = inline_markdown(&h.summary),
            remediation = inline_markdown(&h.remediation),
            last_seen = escape(&h.last_seen),
            sample = if h.sample.is_empty() {
                String::new()
            } else {
                format!(
                    "<pre class=\"sample\" title=\"latest matching record, redacted\">{}</pre>",
                    escape(&h.sample)
                )
            },
        );
    }
    html.push_str("</table></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{HintsReport, ReasonCount};

    fn entry(active: bool) -> HintEntry {
        HintEntry {
            rule: "invalid_authorization_code".into(),
            provider: "zoom".into(),
            codes: vec!["4734".into()],
            code: "4734".into(),
            source: "app".into(),
            severity: "warning".into(),
            summary: "Invalid authorization code".into(),
            remediation: "Exchange each code once & within its lifetime; check `redirect_uri`"
                .into(),
            active,
            count_in_window: 7,
            threshold: 5,
            window_seconds: 300,
            first_seen: "2026-11-24T19:00:00Z".into(),
            last_seen: "2026-11-24T19:04:00Z".into(),
            sample: r#"{"reason":"<script>alert('x')</script>","code":"[REDACTED]"}"#.into(),
            unmatched_reasons: vec![],
            last_fired: active.then(|| "2026-11-24T19:04:00Z".into()),
        }
    }

    fn status(hints: Vec<HintEntry>) -> StatusReport {
        StatusReport {
            hints: HintsReport {
                generated_at: "2026-11-24T19:05:00Z".into(),
                hints,
            },
            ready: true,
            ..StatusReport::default()
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
    fn code_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            inline_markdown("set `redirect_uri` <exactly>"),
            "set <code>redirect_uri</code> &lt;exactly&gt;"
        );
        assert_eq!(
            inline_markdown("`a<b>` and `c`"),
            "<code>a&lt;b&gt;</code> and <code>c</code>"
        );
        assert_eq!(inline_markdown("one ` alone"), "one ` alone");
        assert_eq!(inline_markdown("`x` then `"), "<code>x</code> then `");
        assert_eq!(inline_markdown("plain"), "plain");
    }

    #[test]
    fn sparkline_draws_one_bar_per_busy_minute_scaled_to_the_busiest() {
        let mut counts = vec![0u64; 60];
        counts[10] = 1;
        counts[59] = 10;
        let svg = sparkline(&counts, "critical");
        assert!(svg.starts_with("<svg class=\"spark critical\""));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<rect x=\"177\" y=\"1\" width=\"2\" height=\"23\"/>"));
        assert!(svg.contains("<rect x=\"30\" y=\"21\" width=\"2\" height=\"3\"/>"));
        assert!(svg.contains("aria-label=\"11 in the last hour, busiest minute 10\""));
        assert_eq!(sparkline(&[0; 60], "info").matches("<rect").count(), 0);
    }

    #[test]
    fn active_hints_are_ordered_by_severity_then_count_with_every_field_escaped() {
        let mut info = entry(true);
        info.rule = "noisy_info".into();
        info.severity = "info".into();
        info.count_in_window = 900;
        let mut critical = entry(true);
        critical.rule = "bad_secret".into();
        critical.severity = "critical".into();
        critical.count_in_window = 3;
        let html = render(&status(vec![info, entry(true), critical]));
        assert!(html.contains("<h2 id=\"active\">Active hints (3)</h2>"));
        let pos = |r: &str| html.find(&format!("data-rule=\"{r}\"")).unwrap();
        assert!(pos("bad_secret") < pos("invalid_authorization_code"));
        assert!(pos("invalid_authorization_code") < pos("noisy_info"));
        assert!(html.contains("7 <span class=\"muted\">(alert at 5 in 5m)</span>"));
        assert!(html.contains("once &amp; within its lifetime; check <code>redirect_uri</code>"));
        assert!(html.contains("2026-11-24T19:04:00Z"));
        assert!(html.contains(
            "<pre class=\"sample\" title=\"latest matching record, redacted\">\
             {&quot;reason&quot;:&quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        ));
        assert!(!html.contains("<script"));
        assert!(html.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        )));
        for link in ["metrics", "hints", "healthz", "readyz"] {
            assert!(html.contains(&format!("<a href=\"{link}\">")), "{link}");
        }
    }

    #[test]
    fn hints_that_never_fired_are_below_threshold_not_no_longer_active() {
        let mut fired = entry(false);
        fired.rule = "fired_once".into();
        fired.last_fired = Some("2026-11-24T18:00:00Z".into());
        let mut catch_all = entry(false);
        catch_all.rule = "unclassified".into();
        catch_all.codes.clear();
        catch_all.code = "unknown".into();
        catch_all.unmatched_reasons = vec![ReasonCount {
            reason: "Weird <b>reason</b> <token>".into(),
            count: 3,
        }];
        let html = render(&status(vec![catch_all, fired]));
        assert!(html.contains("<h2 id=\"active\">Active hints (0)</h2>"));
        assert!(html.contains("No rule's alert condition holds right now."));
        let fired_at = html.find("Fired earlier, no longer active (1)").unwrap();
        let below_at = html.find("Matched, below the alert threshold (1)").unwrap();
        let fired_row = html.find("data-rule=\"fired_once\"").unwrap();
        let below_row = html.find("data-rule=\"unclassified\"").unwrap();
        assert!(fired_at < fired_row && fired_row < below_at && below_at < below_row);
        assert!(html.contains("Weird &lt;b&gt;reason&lt;/b&gt; &lt;token&gt;</td>"));
        assert!(!html.contains("<b>reason"));
    }

    #[test]
    fn sources_show_globs_files_lag_and_a_warning_for_a_source_matching_nothing() {
        let mut s = status(vec![]);
        s.sources = vec![
            SourceStatus {
                name: "app".into(),
                globs: vec!["/var/log/app/*.log".into()],
                exclude: vec!["*.gz".into()],
                files_matched: Some(2),
                files_watched: 3,
                lag_bytes: 5 * 1024 * 1024,
                lines: 1234,
                last_read: Some("2026-11-24T19:04:59Z".into()),
                ..SourceStatus::default()
            },
            SourceStatus {
                name: "sidecar".into(),
                globs: vec!["logs/<x>.log".into()],
                files_matched: Some(0),
                ..SourceStatus::default()
            },
        ];
        let html = render(&s);
        assert!(html.contains("<code>/var/log/app/*.log</code><br><span class=\"muted\">except</span> <code>*.gz</code>"));
        assert!(html.contains("2 <span class=\"muted\">(3 tailed)</span>"));
        assert!(html.contains(">5.0 MiB<"));
        assert!(html.contains(">1234<"));
        assert!(html.contains("2026-11-24T19:04:59Z"));
        assert!(html.contains(
            "Source <strong>sidecar</strong> matches no file: nothing is read from it until one of <code>logs/&lt;x&gt;.log</code> exists."
        ));
        assert!(html.contains(">never<"));
    }

    #[test]
    fn the_policy_allows_exactly_the_page_style_sheet() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
        let html = render(&status(vec![]));
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(
            !html.contains(" style=\""),
            "inline style attributes would be blocked"
        );
    }
}
