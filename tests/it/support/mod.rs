//! Helpers shared by the integration tests. The small ones every area uses are here; each kind
//! of harness has its module: `daemon` (the real binary, scraped over HTTP), `http` (the
//! exporter served in process), `sources` (the file sources in process) and `alerting` (real
//! Prometheus and Alertmanager).

pub mod alerting;
pub mod daemon;
pub mod http;
pub mod sources;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// Generous: CI runs on a loaded 2-core machine. Only ever an upper bound.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `oauthwatch` binary under test, without the caller's `RUST_LOG` (a test that wants
/// another log level says so with flags or its config).
pub fn oauthwatch() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauthwatch"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Send `sig` (`libc::SIGTERM`, `libc::SIGHUP`, …) to a child process.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Append `text` to `path` (creating it), as an application's logger would.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// `data` gzip-compressed, as logrotate or the kubelet writes a rotated file.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `data` zstd-compressed.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// One HTTP/1.1 request over a new connection to `addr`, read to its close (with a deadline);
/// returns (status, body), the body de-chunked. A non-empty `body` is sent as JSON.
pub fn request(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(DEADLINE))?;
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{content}Connection: close\r\n\r\n{body}"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match text.split_once("\r\n\r\n") {
        Some((head, b))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(b)
        }
        Some((_, b)) => b.to_string(),
        None => String::new(),
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
