//! The Grafana dashboard is well-formed without a Grafana: a datasource variable used by every
//! panel, the panels the README lists, and every query valid PromQL (each is compiled by
//! `promtool check rules` as a recording rule). That they return data is proven end to end in
//! `tests/it/e2e_prometheus.rs`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/oauthwatch.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// The dashboard's variables besides the datasource, and the value "All" gives each.
const VARIABLES: [(&str, &str); 6] = [
    ("cluster", ".*"),
    ("namespace", ".*"),
    ("job", ".*oauthwatch.*"),
    ("instance", ".*"),
    ("source", ".*"),
    ("provider", ".*"),
];

/// A query with Grafana's variables replaced as "All" would.
fn substitute(expr: &str) -> String {
    let mut q = expr.to_string();
    for (name, all) in VARIABLES {
        q = q.replace(&format!("${name}"), all);
    }
    q.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$__interval", "1s")
}

#[test]
fn every_panel_uses_the_datasource_variable() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().unwrap();
    let ds = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["query"], "prometheus");
    let uid = format!("${{{}}}", ds["name"].as_str().unwrap());
    for p in panels(&d) {
        assert_eq!(
            p["datasource"]["uid"].as_str(),
            Some(uid.as_str()),
            "{}",
            p["title"]
        );
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(
                t["datasource"]["uid"].as_str(),
                Some(uid.as_str()),
                "{}",
                p["title"]
            );
            assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()));
        }
    }
    let mut ids: Vec<u64> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "panel ids are unique");
}

/// A variable per deployment label, instance, source and provider, each with "All" and
/// multi-select, and every panel query filtered by the deployment variables.
#[test]
fn variables_select_deployments_instances_and_sources() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().unwrap();
    for (name, all) in VARIABLES {
        let v = vars
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"));
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["multi"], true, "{name}");
        assert_eq!(v["allValue"], all, "{name}");
    }
    for p in panels(&d) {
        for t in p["targets"].as_array().unwrap() {
            let e = t["expr"].as_str().unwrap();
            for dep in ["$cluster", "$namespace", "$job"] {
                assert!(e.contains(dep), "{}: {e} ignores {dep}", p["title"]);
            }
        }
    }
}

#[test]
fn the_promised_panels_are_there() {
    let d = dashboard();
    let all: Vec<(String, String)> = panels(&d)
        .iter()
        .flat_map(|p| {
            p["targets"].as_array().unwrap().iter().map(|t| {
                (
                    p["title"].as_str().unwrap().to_string(),
                    t["expr"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    let has = |what: &str, f: &dyn Fn(&str, &str) -> bool| {
        assert!(
            all.iter().any(|(t, e)| f(t, e)),
            "no panel for {what}: {all:#?}"
        );
    };
    has("failures per code over time", &|_, e| {
        e.contains("job_rule_source:oauthwatch_errors:rate5m") && e.contains("by (code, rule)")
    });
    has("top codes without zero bars", &|_, e| {
        e.contains("topk(") && e.contains("oauthwatch_errors_total") && e.contains("> 0")
    });
    has("failures by source", &|_, e| {
        e.contains("by (source)") && e.contains("errors")
    });
    has("firing alerts", &|_, e| {
        e.starts_with("ALERTS{") && e.contains("alertstate=\"firing\"")
    });
    has("every instance, down ones included", &|_, e| {
        e.starts_with("min by (instance) (up{") && !e.contains("== 1")
    });
    has("lines/s", &|_, e| {
        e.contains("job_source:oauthwatch_source_lines:rate5m")
    });
    has("degraded lines", &|_, e| {
        e.contains("oauthwatch_lines_degraded_total")
    });
    has("rotations", &|_, e| {
        e.contains("oauthwatch_file_rotations_total")
    });
    has("reload failures", &|_, e| {
        e.contains("oauthwatch_config_reloads_total{") && e.contains("result=\"failure\"")
    });
    // Failures are not requests: no panel says "reqps".
    assert!(
        !serde_json::to_string(&d).unwrap().contains("reqps"),
        "failures shown as requests per second"
    );
    // Every table lists rules and links each to its runbook anchor.
    let tables: Vec<&Value> = panels(&d)
        .into_iter()
        .filter(|p| p["type"] == "table")
        .collect();
    assert!(tables.len() >= 2);
    let anchor = oauthwatch::reference::rule_anchor("${__value.raw}");
    for t in tables {
        assert_eq!(t["targets"][0]["format"], "table");
        assert_eq!(t["targets"][0]["instant"], true);
        let link = t["fieldConfig"]["overrides"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["matcher"]["options"] == "rule")
            .and_then(|o| o["properties"][0]["value"][0]["url"].as_str())
            .unwrap_or_else(|| panic!("{}: no runbook link on `rule`", t["title"]));
        assert!(link.ends_with(&format!("#{anchor}")), "{link}");
    }
}

#[test]
fn every_query_is_valid_promql() {
    let d = dashboard();
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for p in panels(&d) {
        for t in p["targets"].as_array().unwrap() {
            let q = substitute(t["expr"].as_str().unwrap());
            assert!(!q.contains('$'), "unsubstituted variable in {q}");
            n += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query_{n}\n        expr: {}\n",
                serde_json::to_string(&q).unwrap()
            ));
        }
    }
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (./scripts/test installs it)");
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(n >= 9, "{n} queries");
}
