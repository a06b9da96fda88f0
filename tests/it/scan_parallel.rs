//! `scan` on a file large enough to be split across cores gives the report one thread gives.

use std::io::Write;

fn scan_json(path: &std::path::Path, threads: &str, provider: Option<&str>) -> String {
    let mut cmd = crate::support::oauthwatch();
    cmd.args(["scan", "--format", "json"])
        .arg(path)
        .env("OAUTHWATCH_SCAN_THREADS", threads);
    if let Some(p) = provider {
        cmd.args(["--provider", p]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn scan_split_across_threads_reports_what_one_thread_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // 17 MiB: over the size from which scan splits a file, and in more pieces (of 4 MiB or
    // more) than two threads, so a thread that is done takes the next piece.
    let mut n = 0u64;
    let mut written = 0usize;
    while written < 17 << 20 {
        let line = match n % 1000 {
            7 => format!("2024-05-01T12:00:00Z ERROR zoom token exchange failed: {{\"reason\":\"Invalid Token!\",\"error\":\"invalid_grant\"}} n={n}\n"),
            500 => "2024-05-01T12:00:00Z ERROR zoom token exchange failed, body:\n{\n  \"error\": \"invalid_client\",\n  \"reason\": \"Invalid client_id or client_secret\"\n}\n".to_string(),
            900 => format!("2024-05-01T12:00:00Z ERROR zoom oauth: {{\"reason\":\"Something new {n}\",\"error\":\"invalid_request\"}}\n"),
            _ => format!("2024-05-01T12:00:00Z INFO GET /api/v1/meetings/{n} 200 12ms user={n}\n"),
        };
        written += line.len();
        f.write_all(line.as_bytes()).unwrap();
        n += 1;
    }
    f.flush().unwrap();
    drop(f);
    for provider in [None, Some("zoom")] {
        let one = scan_json(&path, "1", provider);
        let two = scan_json(&path, "2", provider);
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert!(v["rules"].as_array().unwrap().len() >= 2, "{one}");
        assert_eq!(two, one, "provider {provider:?}");
        assert_eq!(scan_json(&path, "3", provider), one);
    }
}
