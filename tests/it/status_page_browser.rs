//! The status page `/` rendered by a real browser: Debian's headless Chromium loads the page
//! of a daemon with data (under the page's own Content-Security-Policy) and the test asserts
//! on the DOM it built. Screenshots (desktop and phone width) are saved under `target/` for
//! people to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::append;
use crate::support::daemon::Daemon;

const CHROMIUM: &str = "/usr/bin/chromium";

const DISABLED: &str =
    "zoom token error: {\"reason\":\"The app has been disabled\",\"error\":\"invalid_client\"}\n";
const REUSED_CODE: &str = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ client_secret=hunter2hunter2\n";
const EXPIRED: &str = "zoom: {\"reason\":\"Code is expired\",\"error\":\"invalid_grant\"}\n";

/// Run headless Chromium with the flags that keep it off the network (other than the page)
/// and out of the user's profile; returns its stdout.
fn chromium(url: &str, extra: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's `chromium` (scripts/test does)"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    // Bounded: a browser that hangs fails the test instead of the suite.
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The element that starts at the first occurrence of `start` up to the next `end`.
fn section<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let from = dom
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in the DOM:\n{dom}"));
    let rest = &dom[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn headless_chromium_renders_sources_ordered_hints_and_sparklines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut text = String::new();
    text.push_str(&DISABLED.repeat(2)); // critical, alert at 1: active, fewer matches
    text.push_str(&REUSED_CODE.repeat(12)); // warning, alert at 10: active, more matches
    text.push_str(&EXPIRED.repeat(3)); // info, alert at 20: below threshold
    append(&log, &text);
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"state\"\n\
             [[sources]]\nname = \"app\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n\
             [[sources]]\nname = \"sidecar\"\npaths = [\"{}/later/*.log\"]\n",
            log.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&["--config", cfg.to_str().unwrap()], Stdio::null());
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "authorization_code_expired"), ("source", "app")],
        3.0,
    );
    d.wait_metric(
        "oauthwatch_errors_total",
        &[("rule", "invalid_authorization_code"), ("source", "app")],
        12.0,
    );
    let url = format!("http://{}/", d.addr);

    let dom = chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("<h1>oauthwatch</h1>"),
        "page not rendered:\n{dom}"
    );

    // Sources: both, with globs, matched files and lines read; the empty one is called out.
    let sources = section(&dom, "id=\"sources-table\"", "</table>");
    assert!(sources.contains("<strong>app</strong>"), "{sources}");
    assert!(
        sources.contains(&format!("<code>{}</code>", log.display())),
        "{sources}"
    );
    assert!(sources.contains("<strong>sidecar</strong>"), "{sources}");
    assert!(sources.contains("later/*.log"), "{sources}");
    assert!(
        sources.contains("<td data-label=\"Lines read\" class=\"num\">17</td>"),
        "{sources}"
    );
    let warn = section(&dom, "id=\"unmatched-sources\"", "</div>");
    assert!(
        warn.contains("<strong>sidecar</strong> matches no file"),
        "{warn}"
    );

    // Active hints: the critical one above the warning one although it has fewer matches;
    // the info one, which never reached its threshold, is not among them.
    let active = section(&dom, "id=\"active-table\"", "</table>");
    let critical = active.find("data-rule=\"app_disabled\"").expect(active);
    let warning = active
        .find("data-rule=\"invalid_authorization_code\"")
        .expect(active);
    assert!(critical < warning, "{active}");
    assert!(!active.contains("authorization_code_expired"), "{active}");
    let below = section(&dom, "id=\"below-table\"", "</table>");
    assert!(
        below.contains("data-rule=\"authorization_code_expired\""),
        "{below}"
    );
    assert!(
        !dom.contains("no longer active"),
        "nothing has fired and stopped"
    );
    // Samples are shown redacted, in a monospace block under their row.
    assert!(dom.contains("<pre class=\"sample\""), "{active}");
    assert!(!dom.contains("hunter2"), "a secret reached the page");
    // Remediation is rendered: its Markdown code spans are code.
    assert!(
        active.contains("A JSON <code>state</code> value"),
        "{active}"
    );
    assert!(!active.contains("`state`"), "{active}");

    // A sparkline per rule with failures, drawn as inline SVG bars.
    let rules = section(&dom, "id=\"rules-table\"", "</table>");
    for rule in [
        "app_disabled",
        "invalid_authorization_code",
        "authorization_code_expired",
    ] {
        let row = section(rules, &format!("data-rule=\"{rule}\""), "</tr>");
        assert!(
            row.contains("<svg class=\"spark"),
            "no sparkline for {rule}: {row}"
        );
        assert!(row.contains("<rect"), "empty sparkline for {rule}: {row}");
    }
    assert_eq!(rules.matches("<svg").count(), 3, "{rules}");

    // Pictures for people: desktop and phone width.
    let target = target_dir();
    for (name, size) in [
        ("status-page.png", "1280,1600"),
        ("status-page-phone.png", "390,2400"),
    ] {
        let shot = target.join(name);
        let _ = std::fs::remove_file(&shot);
        chromium(
            &url,
            &[
                &format!("--screenshot={}", shot.display()),
                &format!("--window-size={size}"),
            ],
        );
        let len = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "no screenshot at {}", shot.display());
    }
    assert_eq!(d.stop(), 0);
}
