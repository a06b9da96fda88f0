//! Framing throughput: lines/s of `Framer::push` over realistic ~175-byte log lines, printed
//! beside `wc -l` on the same bytes (written to a temporary file) in the same run.
//!
//! `cargo bench --bench framing` (criterion figures follow the one-line summary).

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use criterion::{criterion_group, Criterion, Throughput};
use oauthwatch::framing::{Format, Framed, Framer, FramingLimits};

/// Bytes per push, like a source's read buffer.
const CHUNK: usize = 64 * 1024;
const LINES: usize = 200_000;

/// Deterministic plain application lines, 175 bytes on average, with 1% ERROR lines and 1%
/// short stack traces so the multi-line path is exercised too when `traces` is set.
fn corpus(traces: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(LINES * 180);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut n = 0;
    while n < LINES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ms = x % 1000;
        let user = x % 100_000;
        let dur = x % 900;
        if traces && x.is_multiple_of(100) {
            writeln!(
                v,
                "2024-05-01T12:00:{:02}.{ms:03}Z ERROR [http-nio-8080-exec-7] c.e.oauth.TokenService - Zoom token exchange failed for user_id={user}",
                n % 60
            )
            .unwrap();
            v.extend_from_slice(b"com.example.oauth.ZoomOAuthException: {\"reason\":\"Invalid authorization code\",\"error\":\"invalid_grant\"}\n\tat com.example.oauth.TokenService.exchange(TokenService.java:118)\n\tat com.example.web.CallbackController.callback(CallbackController.java:52)\n");
            n += 4;
        } else {
            writeln!(
                v,
                "2024-05-01T12:00:{:02}.{ms:03}Z INFO  [http-nio-8080-exec-{}] c.e.web.RequestLogger - GET /api/v1/meetings?page={} status=200 duration_ms={dur} user_id={user} trace_id={x:016x}{:08x}",
                n % 60,
                x % 16,
                x % 50,
                x >> 32
            )
            .unwrap();
            n += 1;
        }
    }
    v
}

fn cri(plain: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(plain.len() + plain.len() / 3);
    for (i, l) in plain.split_inclusive(|&b| b == b'\n').enumerate() {
        let stream = if i % 10 == 0 { "stderr" } else { "stdout" };
        write!(v, "2024-05-01T12:00:00.{i:09}Z {stream} F ").unwrap();
        v.extend_from_slice(l);
    }
    v
}

/// The same lines as docker's json-file driver writes them (JSON-escaped `log` field).
fn docker(plain: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(plain.len() * 3 / 2);
    for (i, l) in plain.split_inclusive(|&b| b == b'\n').enumerate() {
        let stream = if i % 10 == 0 { "stderr" } else { "stdout" };
        let text = std::str::from_utf8(l).unwrap();
        let log = serde_json::to_string(text).unwrap();
        writeln!(
            v,
            r#"{{"log":{log},"stream":"{stream}","time":"2024-05-01T12:00:00.{i:09}Z"}}"#
        )
        .unwrap();
    }
    v
}

fn frame_all(format: Format, data: &[u8], now: Instant, out: &mut Framed) -> usize {
    let mut f = Framer::new(format, FramingLimits::default());
    let mut records = 0;
    for c in data.chunks(CHUNK) {
        f.push(c, now, out);
        records += out.ends.len();
        out.clear();
    }
    f.finish(out);
    records += out.ends.len();
    out.clear();
    records
}

/// CPU time of this thread: on a shared, loaded machine it measures the work, not the wait.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU time (user + system) of the waited-for children so far.
fn children_cpu() -> f64 {
    // SAFETY: `ru` is a valid out-pointer; all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Best-of-7 lines/s of framing, and of `wc -l` on the same bytes, in CPU time (wall time
/// beside it).
fn summary(name: &str, format: Format, data: &[u8]) {
    let lines = memchr::memchr_iter(b'\n', data).count();
    let now = Instant::now();
    let mut out = Framed::default();
    let (mut best_cpu, mut best_wall) = (f64::MAX, f64::MAX);
    for _ in 0..7 {
        let (c, t) = (thread_cpu(), Instant::now());
        black_box(frame_all(format, data, now, &mut out));
        best_wall = best_wall.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(thread_cpu() - c);
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(data).unwrap();
    file.flush().unwrap();
    let mut wc_best = f64::MAX;
    let mut wc_lines = String::new();
    for _ in 0..7 {
        let c = children_cpu();
        let o = std::process::Command::new("wc")
            .arg("-l")
            .arg(file.path())
            .output()
            .expect("wc");
        wc_best = wc_best.min(children_cpu() - c);
        wc_lines = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_string();
    }
    println!(
        "{name:<24} {lines} lines, {:.1} MB, avg {} B/line: framing {:.2} M lines/s CPU ({:.0} MB/s; wall {:.2} M lines/s) | wc -l ({wc_lines} lines) {:.2} M lines/s CPU",
        data.len() as f64 / 1e6,
        data.len() / lines.max(1),
        lines as f64 / best_cpu / 1e6,
        data.len() as f64 / best_cpu / 1e6,
        lines as f64 / best_wall / 1e6,
        lines as f64 / wc_best.max(1e-6) / 1e6,
    );
}

fn bench(c: &mut Criterion) {
    let plain = corpus(false);
    let mixed = corpus(true);
    let cri_mixed = cri(&mixed);
    let docker_mixed = docker(&mixed);
    let now = Instant::now();
    let mut out = Framed::default();
    let mut g = c.benchmark_group("framing");
    for (name, format, data) in [
        ("plain_175B", Format::Plain, &plain),
        ("auto_175B", Format::Auto, &plain),
        ("auto_with_traces", Format::Auto, &mixed),
        ("cri_with_traces", Format::Cri, &cri_mixed),
        ("docker_with_traces", Format::Docker, &docker_mixed),
    ] {
        let lines = memchr::memchr_iter(b'\n', data).count() as u64;
        g.throughput(Throughput::Elements(lines));
        g.bench_function(name, |b| {
            b.iter(|| black_box(frame_all(format, data, now, &mut out)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}

fn main() {
    let plain = corpus(false);
    let mixed = corpus(true);
    summary("plain, format=plain", Format::Plain, &plain);
    summary("plain, format=auto", Format::Auto, &plain);
    summary("1% traces, format=auto", Format::Auto, &mixed);
    summary("CRI, 1% traces", Format::Cri, &cri(&mixed));
    summary("docker, 1% traces", Format::Docker, &docker(&mixed));
    benches();
    Criterion::default().configure_from_args().final_summary();
}
