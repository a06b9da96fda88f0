//! Framer-level tests: records, counters, `consumed`, time, and chunking invariance.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::ordering::MAX_HELD;
use super::*;

fn limits() -> FramingLimits {
    FramingLimits::default()
}

/// Everything a run produced, for comparison.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Out {
    records: Vec<Vec<u8>>,
    lines: u64,
    truncated: u64,
    split: u64,
    malformed: u64,
    consumed: u64,
    first_lines: Vec<u64>,
    skipped: u64,
}

impl Out {
    fn take(&mut self, f: &mut Framed) {
        self.records.extend(f.records().map(<[u8]>::to_vec));
        self.lines += f.lines;
        self.truncated += f.truncated_lines;
        self.split += f.split_records;
        self.malformed += f.malformed_wrappers;
        self.consumed = f.consumed;
        self.first_lines.extend_from_slice(&f.first_lines);
        self.skipped += f.skipped_records;
        assert_eq!(f.first_lines.len(), f.ends.len());
        f.clear();
    }

    fn strs(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

fn run_chunks(format: Format, limits: FramingLimits, chunks: &[&[u8]]) -> Out {
    let now = Instant::now();
    let mut f = Framer::new(format, limits);
    let mut framed = Framed::default();
    let mut out = Out::default();
    for c in chunks {
        f.push(c, now, &mut framed);
        out.take(&mut framed);
    }
    f.finish(&mut framed);
    out.take(&mut framed);
    out
}

/// `input` cut at the (sorted) positions `cuts` pick: the chunks a property test feeds.
fn cut_at<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for p in points {
        chunks.push(&input[prev..p]);
        prev = p;
    }
    chunks.push(&input[prev..]);
    chunks
}

fn run(format: Format, input: &str) -> Out {
    run_chunks(format, limits(), &[input.as_bytes()])
}

#[test]
fn plain_lines_are_records_without_terminators() {
    let o = run(Format::Plain, "one\r\ntwo\n\nthree");
    assert_eq!(o.strs(), ["one", "two", "three"]);
    assert_eq!(o.lines, 4);
    assert_eq!(o.consumed, 15);
}

#[test]
fn invalid_utf8_passes_through_as_bytes() {
    let o = run_chunks(Format::Auto, limits(), &[b"a\xff\xfeb\n\xc3\n"]);
    assert_eq!(o.records, vec![b"a\xff\xfeb".to_vec(), b"\xc3".to_vec()]);
}

#[test]
fn ordinary_line_is_emitted_at_its_newline() {
    let now = Instant::now();
    let mut f = Framer::new(Format::Auto, limits());
    let mut out = Framed::default();
    f.push(b"2024-05-01 INFO signed in\n", now, &mut out);
    assert_eq!(out.ends.len(), 1);
    assert_eq!(out.consumed, 26);
    assert_eq!(f.idle_deadline(), None);
}

#[test]
fn long_line_is_truncated_and_counted() {
    let l = FramingLimits {
        max_line_bytes: 8,
        ..limits()
    };
    let o = run_chunks(Format::Plain, l, &[b"0123456789abcdef", b"ghij\nshort\n"]);
    assert_eq!(o.strs(), ["01234567", "short"]);
    assert_eq!(o.truncated, 1);
}

#[test]
fn hundred_megabyte_line_fed_in_chunks_stays_within_the_cap() {
    let l = limits();
    let now = Instant::now();
    let mut f = Framer::new(Format::Auto, l);
    let mut out = Framed::default();
    let chunk = vec![b'a'; 64 * 1024];
    for _ in 0..1600 {
        f.push(&chunk, now, &mut out);
        assert!(f.lines.buffer_capacity() <= 2 * (l.max_line_bytes + 1));
        assert!(out.ends.is_empty());
        assert_eq!(out.consumed, 0, "a pending line is not consumed");
    }
    f.push(b"\nafter\n", now, &mut out);
    let recs: Vec<_> = out.records().collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].len(), l.max_line_bytes);
    assert_eq!(recs[1], b"after");
    assert_eq!(out.truncated_lines, 1);
    assert_eq!(out.consumed, 1600 * 64 * 1024 + 7);
}

#[test]
fn partial_line_waits_then_flushes_after_the_timeout() {
    let t0 = Instant::now();
    let l = limits();
    let mut f = Framer::new(Format::Plain, l);
    let mut out = Framed::default();
    f.push(b"done\nhalf a li", t0, &mut out);
    assert_eq!(out.records().collect::<Vec<_>>(), [b"done"]);
    assert_eq!(out.consumed, 5);
    out.clear();
    f.push(b"ne", t0 + Duration::from_secs(1), &mut out);
    let due = t0 + Duration::from_secs(1) + l.partial_line_timeout;
    assert_eq!(f.idle_deadline(), Some(due));
    f.flush_idle(due - Duration::from_millis(1), &mut out);
    assert!(out.ends.is_empty());
    assert_eq!(out.consumed, 5);
    f.flush_idle(due, &mut out);
    assert_eq!(out.records().collect::<Vec<_>>(), [b"half a line"]);
    assert_eq!(out.consumed, 16);
    assert_eq!(f.idle_deadline(), None);
}

#[test]
fn finish_emits_everything_pending() {
    let o = run(Format::Plain, "Response body: {\n  \"a\": 1,\nno newline");
    assert_eq!(o.strs(), ["Response body: {\n  \"a\": 1,", "no newline"]);
    assert_eq!(o.consumed, 37);
}

#[test]
fn pretty_json_body_is_one_record_emitted_when_braces_close() {
    let now = Instant::now();
    let mut f = Framer::new(Format::Plain, limits());
    let mut out = Framed::default();
    let body = "2024-05-01 ERROR Zoom token exchange failed: {\n  \"reason\": \"Invalid authorization code\",\n  \"error\": \"invalid_grant\"\n}\n";
    f.push(body.as_bytes(), now, &mut out);
    let recs: Vec<_> = out.records().collect();
    assert_eq!(recs, [body.trim_end().as_bytes()]);
    assert_eq!(out.lines, 4);
    assert_eq!(out.consumed, body.len() as u64);
    assert_eq!(
        f.idle_deadline(),
        None,
        "nothing waits after the closing brace"
    );
}

#[test]
fn colon_then_brace_on_next_line() {
    let o = run(
        Format::Plain,
        "Zoom response:\n{\n  \"error\": \"invalid_grant\"\n}\nnext\n",
    );
    assert_eq!(
        o.strs(),
        [
            "Zoom response:\n{\n  \"error\": \"invalid_grant\"\n}",
            "next"
        ]
    );
}

#[test]
fn java_stack_trace_after_message_is_one_record() {
    let input = "2024-05-01 12:00:00.000 [main] ERROR c.e.TokenService - exchange failed\n\
com.zoom.OAuthException: {\"reason\":\"Invalid authorization code\",\"error\":\"invalid_grant\"}\n\
\tat com.zoom.TokenService.exchange(TokenService.java:42)\n\
\tat com.zoom.Main.main(Main.java:7)\n\
Caused by: java.io.IOException: HTTP 400\n\
\t... 2 more\n\
2024-05-01 12:00:01.000 [main] INFO c.e.App - next\n";
    let o = run(Format::Plain, input);
    assert_eq!(o.records.len(), 2, "{:?}", o.strs());
    assert_eq!(o.strs()[0].lines().count(), 6);
    assert!(o.strs()[1].ends_with("next"));
    assert_eq!(o.lines, 7);
}

#[test]
fn python_traceback_is_one_record_emitted_within_the_grace() {
    let input = "ERROR:app:token exchange failed\n\
Traceback (most recent call last):\n  File \"app.py\", line 10, in exchange\n    r.raise_for_status()\n\
requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: https://zoom.us/oauth/token\n";
    let now = Instant::now();
    let mut f = Framer::new(Format::Plain, limits());
    let mut out = Framed::default();
    f.push(input.as_bytes(), now, &mut out);
    // A chained traceback may follow the exception line, so it waits only the grace.
    assert_eq!(f.idle_deadline(), Some(now + DEFAULT_CONTINUATION_GRACE));
    f.flush_idle(now + DEFAULT_CONTINUATION_GRACE, &mut out);
    assert_eq!(out.ends.len(), 1);
    assert_eq!(out.records().next().unwrap(), input.trim_end().as_bytes());
    assert_eq!(out.consumed, input.len() as u64);
}

#[test]
fn chained_python_tracebacks_are_one_record() {
    let input = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n\
requests.exceptions.HTTPError: 400 Client Error: Bad Request\n\
\n\
During handling of the above exception, another exception occurred:\n\
\n\
Traceback (most recent call last):\n  File \"a.py\", line 5, in <module>\n\
app.errors.ZoomAuthError: invalid_grant\n\
\n\
INFO:app:next\n";
    let o = run(Format::Plain, input);
    assert_eq!(o.records.len(), 2, "{:#?}", o.strs());
    assert!(o.strs()[0].ends_with("app.errors.ZoomAuthError: invalid_grant"));
    assert_eq!(o.strs()[0].lines().count(), 9);
    assert_eq!(o.lines, 11);
}

#[test]
fn node_and_go_traces() {
    let node = "AxiosError: Request failed with status code 400\n    at settle (/app/node_modules/axios/lib/core/settle.js:19:12)\n    at IncomingMessage.handleStreamEnd (/app/node_modules/axios/lib/adapters/http.js:585:11)\nnext\n";
    assert_eq!(run(Format::Plain, node).records.len(), 2);
    let go = "panic: oauth2: cannot fetch token: 400 Bad Request\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d\nexit status 2\n\nnext line\n";
    let o = run(Format::Plain, go);
    assert_eq!(o.records.len(), 2, "{:?}", o.strs());
    assert!(o.strs()[0].ends_with("exit status 2"));
    assert_eq!(o.lines, 8);
}

#[test]
fn held_record_is_flushed_by_the_grace_or_the_timeout() {
    let t0 = Instant::now();
    let l = limits();
    // A hint (an ERROR line) waits only the short grace.
    let mut f = Framer::new(Format::Plain, l);
    let mut out = Framed::default();
    f.push(b"2024 ERROR exchange failed\n", t0, &mut out);
    assert!(out.ends.is_empty());
    assert_eq!(out.consumed, 0, "a held record is not consumed");
    assert_eq!(f.idle_deadline(), Some(t0 + DEFAULT_CONTINUATION_GRACE));
    f.flush_idle(t0 + DEFAULT_CONTINUATION_GRACE, &mut out);
    assert_eq!(out.ends.len(), 1);
    assert_eq!(out.consumed, 27);
    // A line that says more follows waits the full multiline_timeout.
    let mut f = Framer::new(Format::Plain, l);
    let mut out = Framed::default();
    f.push(b"body: {\n  \"a\": 1,\n", t0, &mut out);
    let t1 = t0 + Duration::from_millis(100);
    f.push(b"  \"b\": 2,\n", t1, &mut out);
    assert_eq!(f.idle_deadline(), Some(t1 + l.multiline_timeout));
    f.flush_idle(
        t1 + l.multiline_timeout - Duration::from_millis(1),
        &mut out,
    );
    assert!(out.ends.is_empty());
    f.flush_idle(t1 + l.multiline_timeout, &mut out);
    assert_eq!(
        out.records().collect::<Vec<_>>(),
        [&b"body: {\n  \"a\": 1,\n  \"b\": 2,"[..]]
    );
}

#[test]
fn record_is_split_at_max_record_lines() {
    let l = FramingLimits {
        max_record_lines: 3,
        ..limits()
    };
    let input = "java.lang.IllegalStateException: x\n\tat a\n\tat b\n\tat c\n\tat d\nnext\n";
    let o = run_chunks(Format::Plain, l, &[input.as_bytes()]);
    assert_eq!(
        o.strs(),
        [
            "java.lang.IllegalStateException: x\n\tat a\n\tat b",
            "\tat c\n\tat d",
            "next"
        ]
    );
    assert_eq!(o.split, 1);
    assert_eq!(o.lines, 6);
}

#[test]
fn json_format_never_joins() {
    let o = run(Format::Json, "{\"a\":\n  1}\n{\"b\":2}\n");
    assert_eq!(o.strs(), ["{\"a\":", "  1}", "{\"b\":2}"]);
}

#[test]
fn cri_partials_are_reassembled_per_stream() {
    let input = "2024-05-01T12:00:00.000000001Z stdout P {\"reason\":\"Invalid auth\n\
2024-05-01T12:00:00.000000002Z stderr F other stream\n\
2024-05-01T12:00:00.000000003Z stdout F orization code\",\"error\":\"invalid_grant\"}\n";
    let o = run(Format::Cri, input);
    assert_eq!(
        o.strs(),
        [
            "{\"reason\":\"Invalid authorization code\",\"error\":\"invalid_grant\"}",
            "other stream"
        ]
    );
    assert_eq!(o.lines, 3);
    assert_eq!(o.malformed, 0);
}

#[test]
fn cri_stream_held_back_while_the_other_is_pending_keeps_consumed_exact() {
    let a = "2024-05-01T12:00:00.000000001Z stdout P first half \n";
    let b = "2024-05-01T12:00:00.000000002Z stderr F complete\n";
    let now = Instant::now();
    let mut f = Framer::new(Format::Cri, limits());
    let mut out = Framed::default();
    f.push(format!("{a}{b}").as_bytes(), now, &mut out);
    assert!(
        out.ends.is_empty(),
        "stderr waits for the earlier stdout piece"
    );
    assert_eq!(out.consumed, 0);
    f.push(
        b"2024-05-01T12:00:00.000000003Z stdout F second\n",
        now,
        &mut out,
    );
    let recs: Vec<_> = out.records().collect();
    assert_eq!(recs, [&b"first half second"[..], b"complete"]);
    assert_eq!(out.consumed, (a.len() + b.len() + 47) as u64);
}

#[test]
fn multiline_joining_inside_cri() {
    let input = "2024-05-01T12:00:00Z stderr F Traceback (most recent call last):\n\
2024-05-01T12:00:00Z stdout F unrelated stdout line\n\
2024-05-01T12:00:00Z stderr F   File \"app.py\", line 1, in <module>\n\
2024-05-01T12:00:00Z stderr F oauthlib.oauth2.rfc6749.errors.InvalidGrantError: (invalid_grant)\n";
    let o = run(Format::Auto, input);
    assert_eq!(
        o.strs(),
        [
            "Traceback (most recent call last):\n  File \"app.py\", line 1, in <module>\noauthlib.oauth2.rfc6749.errors.InvalidGrantError: (invalid_grant)",
            "unrelated stdout line"
        ]
    );
}

#[test]
fn docker_lines_are_unwrapped_and_16k_pieces_reassembled() {
    let input = concat!(
        r#"{"log":"{\"reason\":\"Invalid authori","stream":"stderr","time":"2024-05-01T12:00:00.1Z"}"#,
        "\n",
        r#"{"log":"zation code\",\"error\":\"invalid_grant\"}\n","stream":"stderr","time":"2024-05-01T12:00:00.2Z"}"#,
        "\n",
        r#"{"log":"plain stdout\r\n","stream":"stdout","time":"2024-05-01T12:00:00.3Z"}"#,
        "\n",
    );
    let o = run(Format::Docker, input);
    assert_eq!(
        o.strs(),
        [
            r#"{"reason":"Invalid authorization code","error":"invalid_grant"}"#,
            "plain stdout"
        ]
    );
    assert_eq!(o.lines, 3);
    assert_eq!(run(Format::Auto, input).strs(), o.strs());
}

#[test]
fn docker_line_cut_at_the_cap_is_still_unwrapped() {
    let l = FramingLimits {
        max_line_bytes: 24,
        ..limits()
    };
    let o = run_chunks(
        Format::Docker,
        l,
        &[
            br#"{"log":"0123456789abcdefghij\n","stream":"stdout","time":"t"}"#,
            b"\n",
        ],
    );
    assert_eq!(o.strs(), ["0123456789abcdef"]);
    assert_eq!((o.truncated, o.malformed), (1, 0));
}

#[test]
fn docker_multiline_pretty_json() {
    let input = concat!(
        r#"{"log":"Token response: {\n","stream":"stdout","time":"t"}"#,
        "\n",
        r#"{"log":"  \"error\": \"invalid_grant\"\n","stream":"stdout","time":"t"}"#,
        "\n",
        r#"{"log":"}\n","stream":"stdout","time":"t"}"#,
        "\n",
    );
    assert_eq!(
        run(Format::Docker, input).strs(),
        ["Token response: {\n  \"error\": \"invalid_grant\"\n}"]
    );
}

#[test]
fn malformed_wrappers_pass_through_and_are_counted() {
    let o = run(
        Format::Cri,
        "not a cri line\n2024-05-01T12:00:00Z stdout F ok\n",
    );
    assert_eq!(o.strs(), ["not a cri line", "ok"]);
    assert_eq!(o.malformed, 1);
    let o = run(Format::Docker, "{\"log\":\"broken\n");
    assert_eq!(o.strs(), ["{\"log\":\"broken"]);
    assert_eq!(o.malformed, 1);
    let o = run(Format::Auto, "{\"log\":\"broken\nplain line\n");
    assert_eq!(o.malformed, 1);
    // Auto: an application's JSON line that starts with a `log` key is not docker's.
    let app = "{\"log\":\"user signed in\",\"level\":\"info\"}\n{\"log\":\"next\"}\n";
    let o = run(Format::Auto, app);
    assert_eq!(o.records.len(), 2);
    assert_eq!(o.strs()[0], app.lines().next().unwrap());
    assert_eq!(o.malformed, 0);
    // Auto: a plain line is not a malformed wrapper, even with an RFC 3339 timestamp.
    let o = run(Format::Auto, "2024-05-01T12:00:00Z INFO hello\n");
    assert_eq!(
        (o.strs(), o.malformed),
        (vec!["2024-05-01T12:00:00Z INFO hello".to_string()], 0)
    );
}

#[test]
fn cri_partial_flushed_after_the_partial_line_timeout() {
    let t0 = Instant::now();
    let l = limits();
    let mut f = Framer::new(Format::Cri, l);
    let mut out = Framed::default();
    f.push(b"2024-05-01T12:00:00Z stdout P dangling\n", t0, &mut out);
    assert_eq!(f.idle_deadline(), Some(t0 + l.partial_line_timeout));
    f.flush_idle(t0 + l.partial_line_timeout, &mut out);
    assert_eq!(out.records().collect::<Vec<_>>(), [b"dangling"]);
    assert_eq!(out.consumed, 39);
}

#[test]
fn flushing_a_held_record_releases_the_other_streams_records_behind_it() {
    let t0 = Instant::now();
    let mut f = Framer::new(Format::Cri, limits());
    let mut out = Framed::default();
    let input = "2024-05-01T12:00:00Z stderr F java.lang.IllegalStateException: boom\n\
2024-05-01T12:00:00Z stdout F ordinary\n";
    f.push(input.as_bytes(), t0, &mut out);
    assert!(
        out.ends.is_empty(),
        "stdout waits behind the held stderr record"
    );
    assert_eq!(out.consumed, 0);
    let due = f.idle_deadline().expect("a held record has a deadline");
    assert_eq!(due, t0 + DEFAULT_CONTINUATION_GRACE);
    f.flush_idle(due, &mut out);
    assert_eq!(
        out.records().collect::<Vec<_>>(),
        [&b"java.lang.IllegalStateException: boom"[..], b"ordinary"]
    );
    assert_eq!(out.lines, 2);
    assert_eq!(out.consumed, input.len() as u64);
    assert_eq!(f.idle_deadline(), None);
}

#[test]
fn continuation_grace_is_configurable_and_capped_by_multiline_timeout() {
    let t0 = Instant::now();
    let l = limits();
    let mut f = Framer::new(Format::Plain, l).with_continuation_grace(Duration::from_secs(60));
    let mut out = Framed::default();
    f.push(b"2024 ERROR failed\n", t0, &mut out);
    assert_eq!(f.idle_deadline(), Some(t0 + l.multiline_timeout));
}

#[test]
fn starting_at_numbers_consumed_as_file_offsets() {
    let now = Instant::now();
    let mut f = Framer::new(Format::Plain, limits()).starting_at(1000);
    let mut out = Framed::default();
    f.push(b"a\nb", now, &mut out);
    assert_eq!(out.consumed, 1002);
    assert_eq!(f.consumed(), 1002);
}

/// Restart exactness: stop anywhere (checkpoint `consumed`, drop the framer), restart from
/// the checkpoint, and the records are exactly those of one uninterrupted run.
fn restart_matches(format: Format, l: FramingLimits, input: &[u8], stop: usize) {
    let now = Instant::now();
    let whole = run_chunks(format, l, &[input]);
    let mut first = Framer::new(format, l);
    let mut out = Framed::default();
    first.push(&input[..stop], now, &mut out);
    let ckpt = out.consumed;
    assert!(ckpt <= stop as u64);
    let mut got: Vec<Vec<u8>> = out.records().map(<[u8]>::to_vec).collect();
    let mut lines = out.lines;
    let mut second = Framer::new(format, l).starting_at(ckpt);
    let mut out = Framed::default();
    second.push(&input[ckpt as usize..], now, &mut out);
    second.finish(&mut out);
    got.extend(out.records().map(<[u8]>::to_vec));
    lines += out.lines;
    assert_eq!(got, whole.records, "stop at {stop}, checkpoint {ckpt}");
    assert_eq!(lines, whole.lines);
    assert_eq!(out.consumed, input.len() as u64);
}

#[test]
fn restart_from_consumed_is_exact_at_every_byte() {
    let input = "a\nTraceback (most recent call last):\n  File \"x\"\nValueError: x\nbody: {\n  1\n}\nlast\n";
    for stop in 0..=input.len() {
        restart_matches(Format::Plain, limits(), input.as_bytes(), stop);
    }
}

#[test]
fn records_held_behind_another_stream_stay_bounded() {
    let now = Instant::now();
    let l = limits();
    let mut f = Framer::new(Format::Cri, l);
    let mut out = Framed::default();
    f.push(
        b"2024-05-01T12:00:00Z stderr F Response: {\n",
        now,
        &mut out,
    );
    let line = b"2024-05-01T12:00:00Z stdout F an ordinary stdout line of some length\n";
    let mut emitted = 0;
    for _ in 0..100_000 {
        f.push(line, now, &mut out);
        assert!(f.st.held.data.len() <= l.max_record_bytes());
        emitted += out.ends.len();
        out.clear();
    }
    assert!(emitted > 90_000, "the hold was released: {emitted}");
    f.finish(&mut out);
    emitted += out.ends.len();
    assert_eq!(emitted, 100_001);
}

#[test]
fn blank_lines_held_behind_another_stream_stay_bounded() {
    let now = Instant::now();
    let mut f = Framer::new(Format::Cri, limits());
    let mut out = Framed::default();
    f.push(
        b"2024-05-01T12:00:00Z stderr F Response: {\n",
        now,
        &mut out,
    );
    let mut chunk = Vec::new();
    for _ in 0..1000 {
        chunk.extend_from_slice(b"2024-05-01T12:00:00Z stdout F \n");
    }
    let mut lines = 0;
    for _ in 0..200 {
        f.push(&chunk, now, &mut out);
        assert!(f.st.held.recs.len() <= MAX_HELD + 1);
        lines += out.lines;
        out.clear();
    }
    f.finish(&mut out);
    lines += out.lines;
    assert_eq!(lines, 200_001);
}

#[test]
fn record_is_split_at_max_record_bytes() {
    let l = FramingLimits {
        max_record_lines: 1_000_000,
        ..limits()
    };
    let mut input = b"java.lang.IllegalStateException: x\n".to_vec();
    for i in 0..40_000 {
        input.extend_from_slice(
            format!("\tat com.example.Frame{i}.call(Frame.java:1)\n").as_bytes(),
        );
    }
    let o = run_chunks(Format::Plain, l, &[&input]);
    assert!(o.split >= 1);
    assert_eq!(o.records.len() as u64, o.split + 1);
    assert!(o.records.iter().all(|r| r.len() <= l.max_record_bytes()));
    assert_eq!(o.lines, 40_001);
}

// ---- fixtures: what real loggers and runtimes write -----------------------------------

/// (fixture, its bytes, formats to read it as, lines per record).
type Fixture = (
    &'static str,
    &'static [u8],
    &'static [Format],
    &'static [usize],
);

const FIXTURES: &[Fixture] = &[
    (
        "java_logback.log",
        include_bytes!("../../tests/fixtures/framing/java_logback.log"),
        &[Format::Plain, Format::Auto],
        &[1, 10, 1, 1, 1],
    ),
    (
        "python_logging.log",
        include_bytes!("../../tests/fixtures/framing/python_logging.log"),
        &[Format::Plain, Format::Auto],
        &[1, 9, 1, 1, 1],
    ),
    (
        "node_axios.log",
        include_bytes!("../../tests/fixtures/framing/node_axios.log"),
        &[Format::Plain, Format::Auto],
        &[1, 12, 1],
    ),
    (
        "go_panic.log",
        include_bytes!("../../tests/fixtures/framing/go_panic.log"),
        &[Format::Plain, Format::Auto],
        &[1, 2, 1, 9, 1],
    ),
    (
        "pretty_json.log",
        include_bytes!("../../tests/fixtures/framing/pretty_json.log"),
        &[Format::Plain, Format::Auto],
        &[1, 4, 5, 1, 1],
    ),
    (
        "php_guzzle.log",
        include_bytes!("../../tests/fixtures/framing/php_guzzle.log"),
        &[Format::Plain, Format::Auto],
        &[1, 8, 1],
    ),
    (
        "laravel.log",
        include_bytes!("../../tests/fixtures/framing/laravel.log"),
        &[Format::Plain, Format::Auto],
        &[1, 10, 1],
    ),
    (
        "cri_k8s.log",
        include_bytes!("../../tests/fixtures/framing/cri_k8s.log"),
        &[Format::Cri, Format::Auto],
        &[1, 4, 1, 1, 1],
    ),
    (
        "docker_json.log",
        include_bytes!("../../tests/fixtures/framing/docker_json.log"),
        &[Format::Docker, Format::Auto],
        &[1, 1, 1, 2, 1],
    ),
];

#[test]
fn fixtures_frame_into_the_expected_records_whatever_the_chunking() {
    for (name, data, formats, shape) in FIXTURES {
        for &format in *formats {
            let whole = run_chunks(format, limits(), &[data]);
            let got: Vec<usize> = whole
                .records
                .iter()
                .map(|r| r.split(|&b| b == b'\n').count())
                .collect();
            assert_eq!(&got, shape, "{name} as {format:?}: {:#?}", whole.strs());
            assert_eq!(
                whole.lines as usize,
                data.iter().filter(|&&b| b == b'\n').count(),
                "{name}"
            );
            assert_eq!(
                (whole.malformed, whole.truncated, whole.split),
                (0, 0, 0),
                "{name}"
            );
            assert_eq!(whole.consumed, data.len() as u64);
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            assert_eq!(
                run_chunks(format, limits(), &bytes),
                whole,
                "{name} byte by byte"
            );
            for stop in 0..=data.len() {
                restart_matches(format, limits(), data, stop);
            }
        }
    }
}

#[test]
fn fixture_records_hold_the_failure_once() {
    // Each failure body ends up in exactly one record, with the message that introduced it.
    for (name, data, formats, _) in FIXTURES {
        let o = run_chunks(formats[0], limits(), &[data]);
        for r in o.strs() {
            if r.contains("\tat ") || r.contains("  File ") || r.contains("goroutine ") {
                assert!(r.lines().count() > 2, "{name}: trace split off: {r}");
            }
        }
    }
    let o = run_chunks(Format::Cri, limits(), &[FIXTURES[7].1]);
    assert_eq!(
        o.strs()[3],
        r#"{"level":"error","msg":"zoom token failed","body":{"reason":"Invalid authorization code","error":"invalid_grant"}}"#
    );
    let o = run_chunks(Format::Docker, limits(), &[FIXTURES[8].1]);
    assert_eq!(o.strs()[4], "café ok");
}

// ---- property tests -------------------------------------------------------------------

/// Lines of every shape the framer treats specially, including CRLF, invalid and multi-byte
/// UTF-8, over-long lines, openers, traces and container wrappers.
fn a_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[a-z ]{0,12}".prop_map(String::into_bytes),
        1 => Just(b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 ok".to_vec()),
        1 => Just(b"bad \xff\xfe utf8".to_vec()),
        1 => Just(b"crlf line\r".to_vec()),
        1 => "[x]{20,60}".prop_map(String::into_bytes),
        1 => Just(b"2024 ERROR exchange failed".to_vec()),
        1 => Just(b"body: {".to_vec()),
        1 => Just(b"  \"a\": 1,".to_vec()),
        1 => Just(b"}".to_vec()),
        1 => Just(b"Response:".to_vec()),
        1 => Just(b"java.lang.IllegalStateException: boom".to_vec()),
        1 => Just(b"\tat x.Y.z(Y.java:1)".to_vec()),
        1 => Just(b"Traceback (most recent call last):".to_vec()),
        1 => Just(b"ValueError: x".to_vec()),
        1 => Just(b"panic: x".to_vec()),
        1 => Just(b"goroutine 1 [running]:".to_vec()),
        1 => Just(b"main.main()".to_vec()),
        1 => Just(b"During handling of the above exception, another exception occurred:".to_vec()),
        1 => Just(b"Stack trace:".to_vec()),
        1 => Just(b"#0 /app/x.php(1): f()".to_vec()),
        1 => Just(b" {\"exception\":\"[object] (X(code: 400): response:".to_vec()),
        1 => Just(b"\"} ".to_vec()),
        1 => Just(b"Response: {\"error\":\"invalid_grant\"}".to_vec()),
        1 => Just(b"x: cannot fetch token: 400 Bad Request".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"2024-05-01T12:00:00Z stdout P part \xc3".to_vec()),
        1 => Just(b"2024-05-01T12:00:00Z stdout F \xa9 end".to_vec()),
        1 => Just(b"2024-05-01T12:00:00Z stderr F   File \"x\"".to_vec()),
        1 => Just(b"2024-05-01T12:00:00Z stderr F Traceback (most recent call last):".to_vec()),
        1 => Just(br#"{"log":"piece ","stream":"stderr","time":"t"}"#.to_vec()),
        1 => Just(br#"{"log":"\tat \u00e9 end\n","stream":"stderr","time":"t"}"#.to_vec()),
        1 => Just(br#"{"log":"broken"#.to_vec()),
        2 => Just(b"2024-05-01 INFO zoom token refreshed".to_vec()),
        1 => Just(b"  \"reason\": \"Invalid Token! zoom\",".to_vec()),
        1 => Just(b"2024 ERROR zoom exchange failed".to_vec()),
        1 => Just(b"2024-05-01T12:00:00Z stdout F zoom: invalid_grant".to_vec()),
        1 => Just(br#"{"log":"zoom said no\n","stream":"stdout","time":"t"}"#.to_vec()),
        1 => Just(b"{\"msg\":\"zoom\",\"level\":\"error\"}".to_vec()),
        1 => Just(b"{\"ts\":1,\"msg\":\"ok\"} trace_id=1".to_vec()),
        1 => Just(b"2024-05-01T12:00:00.123Z INFO plain".to_vec()),
        1 => Just(b"10.0.0.1 - - \"GET / HTTP/1.1\" 200".to_vec()),
        1 => Just(b"level=info msg=(x) y".to_vec()),
    ]
}

fn an_input() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((a_line(), any::<bool>()), 0..40),
        any::<bool>(),
    )
        .prop_map(|(lines, trailing)| {
            let mut v = Vec::new();
            for (l, crlf) in lines {
                v.extend_from_slice(&l);
                v.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
            if trailing {
                v.extend_from_slice(b"tail \xe2\x82");
            }
            v
        })
}

/// A container runtime's log: each application line of [`a_line`] wrapped as a CRI line of
/// either stream, mostly `F`, sometimes a `P` piece; now and then a line that is not one.
fn a_cri_input() -> impl Strategy<Value = Vec<u8>> {
    let wrapped = (a_line(), 0..6u8).prop_map(|(msg, how)| {
        let mut v = match how {
            0 => b"2024-05-01T12:00:00.5Z stderr F ".to_vec(),
            1 => b"2024-05-01T12:00:00.5Z stdout P ".to_vec(),
            2 => b"not a cri line ".to_vec(),
            _ => b"2024-05-01T12:00:00.123456789Z stdout F ".to_vec(),
        };
        v.extend_from_slice(&msg);
        v
    });
    prop::collection::vec((wrapped, any::<bool>()), 0..40).prop_map(|lines| {
        let mut v = Vec::new();
        for (l, crlf) in lines {
            v.extend_from_slice(&l);
            v.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        v
    })
}

fn a_format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Auto),
        Just(Format::Plain),
        Just(Format::Json),
        Just(Format::Cri),
        Just(Format::Docker),
    ]
}

fn small_limits() -> FramingLimits {
    FramingLimits {
        max_line_bytes: 32,
        max_record_lines: 4,
        ..FramingLimits::default()
    }
}

/// The candidate search the sparse tests pass in: the literal `zoom`.
fn find_zoom(data: &[u8]) -> Option<usize> {
    memchr::memmem::find(data, b"zoom")
}

fn holds_zoom(r: &[u8]) -> bool {
    find_zoom(r).is_some()
}

fn run_sparse(format: Format, limits: FramingLimits, chunks: &[&[u8]]) -> Out {
    let now = Instant::now();
    let mut f = Framer::new(format, limits);
    let mut framed = Framed::default();
    let mut out = Out::default();
    for c in chunks {
        f.push_sparse(c, now, &mut framed, find_zoom);
        out.take(&mut framed);
    }
    f.finish(&mut framed);
    out.take(&mut framed);
    out
}

/// What sparse framing must keep of a full run: the records holding a candidate (with their
/// line numbers), the number of records, and every counter.
fn assert_sparse_keeps(sparse: &Out, full: &Out) {
    let kept = |o: &Out| -> Vec<(Vec<u8>, u64)> {
        o.records
            .iter()
            .zip(&o.first_lines)
            .filter(|(r, _)| holds_zoom(r))
            .map(|(r, &l)| (r.clone(), l))
            .collect()
    };
    assert_eq!(kept(sparse), kept(full));
    assert_eq!(
        sparse.records.len() as u64 + sparse.skipped,
        full.records.len() as u64
    );
    assert_eq!(full.skipped, 0);
    assert_eq!(
        (
            sparse.lines,
            sparse.truncated,
            sparse.split,
            sparse.malformed,
            sparse.consumed
        ),
        (
            full.lines,
            full.truncated,
            full.split,
            full.malformed,
            full.consumed
        )
    );
}

#[test]
fn sparse_framing_skips_candidate_free_lines_and_keeps_records_around_hits() {
    let input = "a\nb zoom\n\nERROR exchange failed\n\tat x.Y(Y.java:1)\nbody: {\n  \"reason\": \"zoom\"\n}\nc\nd\n";
    for format in [Format::Auto, Format::Plain] {
        let full = run(format, input);
        let sparse = run_sparse(format, limits(), &[input.as_bytes()]);
        assert_sparse_keeps(&sparse, &full);
        // `a`, `c`, `d` are skipped; the ERROR record (held, framed in full) is emitted.
        assert_eq!(sparse.skipped, 3, "{format:?}");
        assert_eq!(
            sparse.strs(),
            [
                "b zoom",
                "ERROR exchange failed\n\tat x.Y(Y.java:1)",
                "body: {\n  \"reason\": \"zoom\"\n}"
            ]
        );
        assert_eq!(sparse.first_lines, [1, 3, 5]);
    }
}

/// A line that would be held (a level word) is counted, not copied, when the next line is
/// already in the buffer and starts a new record; when that next line continues it, or has
/// not arrived yet, the held record is framed in full.
#[test]
fn sparse_framing_skips_a_held_line_that_the_next_line_breaks() {
    let input = "WARN queue slow\nb\nERROR exchange failed\n\tat x.Y(Y.java:1)\nWARN last\n";
    for format in [Format::Auto, Format::Plain] {
        let full = run(format, input);
        let sparse = run_sparse(format, limits(), &[input.as_bytes()]);
        assert_sparse_keeps(&sparse, &full);
        // `WARN queue slow` (broken by `b`) and `b` are skipped; the ERROR record has a
        // continuation, and `WARN last` has no next line yet.
        assert_eq!(sparse.skipped, 2, "{format:?}");
        assert_eq!(
            sparse.strs(),
            ["ERROR exchange failed\n\tat x.Y(Y.java:1)", "WARN last"]
        );
        // Pushed a line at a time, no held line has its next line in the same buffer.
        let chunks: Vec<&[u8]> = input.split_inclusive('\n').map(str::as_bytes).collect();
        let apart = run_sparse(format, limits(), &chunks);
        assert_sparse_keeps(&apart, &full);
        assert_eq!(apart.skipped, 0, "{format:?}");
    }
}

/// A long candidate-free stretch of one-line records, of every shape that starts a record
/// after any line (a timestamp, an address, a word, a JSON object), is counted in bulk: the
/// record around the one hit keeps its line number, and a JSON object after a line that
/// ends open, or a Go call line after a Go header, is still joined to it.
#[test]
fn sparse_framing_counts_a_long_stretch_and_keeps_what_joins() {
    let shapes = [
        "2024-05-01T00:00:00.335Z INFO gunicorn.access \"GET /healthz\" 200",
        "10.179.141.117 - - [2024-05-01T00:00:00.005Z] \"GET /api HTTP/1.1\" 200",
        "{\"ts\":\"2024-05-01\",\"msg\":\"request completed\"} trace_id=58a5",
        "level=info ts=2024-05-01 caller=worker.go:69 msg=\"job finished\"",
    ];
    let mut input = String::new();
    for i in 0..400 {
        input.push_str(shapes[i % shapes.len()]);
        input.push('\n');
    }
    input.push_str("2024-05-01 ERROR zoom exchange failed\n");
    input.push_str("Response:\n{\"ok\":true}\npanic: boom\nmain.main()\n");
    for i in 0..100 {
        input.push_str(shapes[i % shapes.len()]);
        input.push('\n');
    }
    for format in [Format::Auto, Format::Plain] {
        let full = run(format, &input);
        let sparse = run_sparse(format, limits(), &[input.as_bytes()]);
        assert_sparse_keeps(&sparse, &full);
        assert_eq!(full.records.len(), 400 + 1 + 2 + 100, "{format:?}");
        // The held records are framed in full, and the line that breaks the last one; the
        // rest of the stretch is counted again.
        assert_eq!(
            sparse.strs(),
            [
                "2024-05-01 ERROR zoom exchange failed",
                "Response:\n{\"ok\":true}",
                "panic: boom\nmain.main()",
                shapes[0],
            ]
        );
        assert_eq!(sparse.first_lines, [400, 401, 403, 405]);
        assert_eq!(sparse.skipped, 400 + 99);
        assert_eq!(sparse.lines, 505);
    }
}

/// A CRI log (what the DaemonSet reads) is framed sparsely too: the `F` lines of one stream
/// between two hits are counted in bulk, a stack trace on the same stream is still joined to
/// its header, and a line of the other stream leaves a held record waiting, as full framing
/// does.
#[test]
fn sparse_framing_counts_cri_lines_in_bulk() {
    let out = "2024-05-01T12:00:00.123456789Z stdout F ";
    let err = "2024-05-01T12:00:00.123456789Z stderr F ";
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(out);
        input.push_str(if i % 2 == 0 {
            "2024-05-01T00:00:00.335Z INFO ok"
        } else {
            "{\"msg\":\"done\"}"
        });
        input.push('\n');
    }
    input.push_str(&format!(
        "{err}java.lang.IllegalStateException: zoom said no\n"
    ));
    input.push_str(&format!("{err}\tat x.Y.z(Y.java:1)\n"));
    input.push_str(&format!("{out}WARN slow\n"));
    input.push_str(&format!("{err}level=info msg=ok\n"));
    input.push_str(&format!("{out}\tat a.B.c(B.java:2)\n"));
    for _ in 0..50 {
        input.push_str(out);
        input.push_str("level=info msg=ok\n");
    }
    for format in [Format::Cri, Format::Auto] {
        let full = run(format, &input);
        let sparse = run_sparse(format, limits(), &[input.as_bytes()]);
        assert_sparse_keeps(&sparse, &full);
        assert_eq!(full.records.len(), 200 + 1 + 1 + 1 + 50, "{format:?}");
        assert_eq!(
            sparse.strs(),
            [
                "java.lang.IllegalStateException: zoom said no\n\tat x.Y.z(Y.java:1)",
                "WARN slow\n\tat a.B.c(B.java:2)",
                // Framed in full while `WARN slow` waits on the other stream, and the line
                // that breaks it.
                "level=info msg=ok",
                "level=info msg=ok",
            ]
        );
        assert_eq!(sparse.first_lines, [200, 202, 203, 205]);
        assert_eq!(sparse.skipped, 200 + 49, "{format:?}");
        assert_eq!(sparse.lines, 255);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Sparse framing gives the records with candidates, the record count and the counters
    /// of full framing, whatever the chunking.
    #[test]
    fn sparse_framing_keeps_what_full_framing_gives(
        input in an_input(),
        format in a_format(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        small in any::<bool>(),
    ) {
        let l = if small { small_limits() } else { limits() };
        let full = run_chunks(format, l, &[&input]);
        let chunks = cut_at(&input, &cuts);
        assert_sparse_keeps(&run_sparse(format, l, &chunks), &full);
        assert_sparse_keeps(&run_sparse(format, l, &[&input]), &full);
    }

    /// The same for a container runtime's log, read as `cri` or `auto`: runs of `F` lines
    /// of one stream are counted in bulk, and a `P` piece, a line of the other stream or a
    /// continuation decides what is held exactly as full framing does.
    #[test]
    fn sparse_framing_keeps_what_full_framing_gives_for_cri(
        input in a_cri_input(),
        cri in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        small in any::<bool>(),
    ) {
        let format = if cri { Format::Cri } else { Format::Auto };
        let l = if small { small_limits() } else { limits() };
        let full = run_chunks(format, l, &[&input]);
        let chunks = cut_at(&input, &cuts);
        assert_sparse_keeps(&run_sparse(format, l, &chunks), &full);
        assert_sparse_keeps(&run_sparse(format, l, &[&input]), &full);
    }

    /// Stop anywhere, restart from `consumed` with sparse framing: the records with candidates
    /// and the line and record counts of one uninterrupted full run.
    #[test]
    fn sparse_restart_from_consumed_is_exact(
        input in prop_oneof![an_input(), a_cri_input()],
        format in a_format(),
        cut in any::<prop::sample::Index>(),
    ) {
        let now = Instant::now();
        let stop = cut.index(input.len() + 1);
        let whole = run_chunks(format, limits(), &[&input]);
        let mut first = Framer::new(format, limits());
        let mut out = Framed::default();
        first.push_sparse(&input[..stop], now, &mut out, find_zoom);
        let ckpt = out.consumed;
        prop_assert!(ckpt <= stop as u64);
        let mut got: Vec<Vec<u8>> = out.records().filter(|r| holds_zoom(r)).map(<[u8]>::to_vec).collect();
        let (mut lines, mut records) = (out.lines, out.ends.len() as u64 + out.skipped_records);
        let mut second = Framer::new(format, limits()).starting_at(ckpt);
        let mut out = Framed::default();
        second.push_sparse(&input[ckpt as usize..], now, &mut out, find_zoom);
        second.finish(&mut out);
        got.extend(out.records().filter(|r| holds_zoom(r)).map(<[u8]>::to_vec));
        lines += out.lines;
        records += out.ends.len() as u64 + out.skipped_records;
        let want: Vec<Vec<u8>> = whole.records.iter().filter(|r| holds_zoom(r)).cloned().collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(lines, whole.lines);
        prop_assert_eq!(records, whole.records.len() as u64);
    }

    #[test]
    fn any_chunking_gives_the_same_records(
        input in an_input(),
        format in a_format(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        small in any::<bool>(),
    ) {
        let l = if small { small_limits() } else { limits() };
        let whole = run_chunks(format, l, &[&input]);
        let chunks = cut_at(&input, &cuts);
        let chunked = run_chunks(format, l, &chunks);
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(whole.consumed, input.len() as u64);
    }

    #[test]
    fn byte_by_byte_gives_the_same_records(input in an_input(), format in a_format()) {
        let l = small_limits();
        let whole = run_chunks(format, l, &[&input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(run_chunks(format, l, &bytes), whole);
    }

    #[test]
    fn consumed_is_monotonic_and_within_the_input(
        input in an_input(),
        format in a_format(),
        cut in any::<prop::sample::Index>(),
    ) {
        let now = Instant::now();
        let l = small_limits();
        let stop = cut.index(input.len() + 1);
        let mut f = Framer::new(format, l);
        let mut out = Framed::default();
        f.push(&input[..stop], now, &mut out);
        prop_assert!(out.consumed <= stop as u64);
        // Monotonic.
        let before = out.consumed;
        f.push(&input[stop..], now, &mut out);
        prop_assert!(out.consumed >= before);
    }

    /// Stop anywhere, restart from `consumed`: the same records and line counts as one
    /// uninterrupted run, in every format, with stdout/stderr pieces and multi-line records
    /// interleaved. (Not with records split at `max_record_lines`: see the module doc.)
    #[test]
    fn restart_from_consumed_is_exact(
        input in an_input(),
        format in a_format(),
        cut in any::<prop::sample::Index>(),
    ) {
        let stop = cut.index(input.len() + 1);
        restart_matches(format, limits(), &input, stop);
    }
}
