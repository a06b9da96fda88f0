//! Which lines belong together: the multi-line heuristics.
//!
//! A record starts as one line. Whether it may continue is decided from that line alone, at
//! its newline, so the overwhelming majority of lines (ordinary single-line logs, JSON lines)
//! are emitted at once and never wait:
//!
//! | first line | decision | waits for |
//! |---|---|---|
//! | ends with `{` or `[` with unbalanced brackets (a pretty-printed body) | hold, *open* | the closing bracket, or `multiline_timeout` |
//! | ends with `:` (`Traceback (most recent call last):`, `goroutine 1 [running]:`, `Response body:`) | hold, *open* | the next line, or `multiline_timeout` |
//! | an exception header (`java.lang.IllegalStateException: …`, `Error: …`, `AxiosError: …`, `Exception in thread …`, `panic: …`) | hold, *grace* | the next line, or the grace period |
//! | a level word `ERROR`/`FATAL`/`SEVERE`/`CRITICAL`/`WARN` near the start (a logger's message line, which a trace may follow) | hold, *grace* | the next line, or the grace period |
//! | anything else, and any complete one-line JSON object | emit now | nothing |
//!
//! A held record takes the next line when it is a continuation:
//! - any line starting with a space or tab (`\tat …`, `    at …`, `  File "…"`, indented JSON,
//!   Go's tab-indented frames, .NET's `   at …`);
//! - `Caused by:`, `Suppressed:`, `... N more`, a closing bracket, and PHP's `Stack trace:`,
//!   `#0 …` frames, `Next <Exception>:` and Laravel's `[stacktrace]`; a line starting `"}`
//!   (the end of Laravel's exception context) joins and ends the record;
//! - while brackets are open: those, and lines starting with `{` or a quote; the record ends
//!   (and is emitted at once) when they balance;
//! - right after the first line only: an exception header (logback's message line, then the
//!   exception), `Traceback (most recent call last):` (Python's `logger.exception`), Go
//!   oauth2's `Response: {…}`, or, after a line ending in `:` (Guzzle's
//!   "… response:"), a line starting with `{` or `[` (the body);
//! - in a Python traceback, the first non-indented line after the frames is the exception
//!   line; a chained traceback (`During handling of the above exception…`, `The above
//!   exception was the direct cause…`) may follow after blank lines and is joined too;
//! - in a Go panic (`panic:`, `fatal error:`, `goroutine N [`): `goroutine …`, `[signal …`,
//!   `created by …`, `exit status …`, call lines `pkg.func(…)`, and blank lines between them.
//!
//! Anything else ends the record (emitted then), and the line starts a new one.
//!
//! The trade-off: a held record that is the last thing written waits, for the grace period
//! (the rest of a stack trace is written by the same logger call, so it is already there or
//! arrives within milliseconds) or for `multiline_timeout` (the line itself says more follows).
//! Ordinary lines pay nothing. A message line and its trace are one record, so a failure
//! logged with its trace counts once.

/// What is known about a held record's shape, carried from line to line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Open brackets (`{`, `[`) not yet closed, counted outside double-quoted strings.
    pub depth: u32,
    /// The first line ended with `:`.
    pub colon: bool,
    /// Inside a Python traceback: the next non-indented line is the final exception line.
    pub python: bool,
    /// A Go panic or goroutine dump.
    pub go: bool,
    /// A Python traceback reached its exception line; a chained one
    /// (`During handling of the above exception…`) may follow after a blank line.
    pub python_done: bool,
    /// Blank lines seen inside a Go dump or between chained Python tracebacks, joined only if
    /// the record goes on after them.
    pub blanks: u32,
}

impl Shape {
    /// Blank lines may sit inside this record (Go dumps, chained Python tracebacks).
    pub fn blanks_inside(&self) -> bool {
        self.go || self.python_done
    }

    /// The line itself says more follows, so the record may wait the full `multiline_timeout`;
    /// otherwise only the short grace period.
    pub fn expects_more(&self, joined: u32) -> bool {
        self.depth > 0 || self.python || (self.colon && joined == 1)
    }
}

/// What to do with the first line of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// A complete record: emit it now.
    Single,
    /// Hold it: continuation lines may follow.
    Hold,
}

/// What to do with a line that follows a held record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Join it; the record may go on.
    Join,
    /// Join it; the record is complete.
    JoinEnd,
    /// Not a continuation: the held record is complete, the line starts a new one.
    Break,
}

/// How far into a line a level word is looked for: loggers put it right after the timestamp.
const LEVEL_WINDOW: usize = 96;

/// Whether `next` (the line right after `first`, a record's first line; neither blank) starts
/// a new record: `next(shape, 1, next)` is `Break` for the shape [`start`] sets up for
/// `first`, whatever it is. Conservative: `false` also when unsure, and the caller then asks
/// [`start`] and [`next`] themselves. Sparse framing uses it to count a line as a one-line
/// record without looking into it: most log lines begin with a timestamp, a word or a JSON
/// object, which no continuation does.
#[inline(always)]
pub(crate) fn surely_breaks(first: &[u8], next: &[u8]) -> bool {
    // `{` continues only an open bracket or a line ending in `:` (a body after
    // "…response:"), and a call line only a Go dump; every other check looks at `next` alone.
    !(next.first() == Some(&b'{') && ends_open(first)) && starts_record(next, is_go_header(first))
}

/// Whether `next` starts a new record after a record's first line that does not end open
/// (`{`, `[`, `:`); `go`: that line may start a Go dump, which Go call lines continue.
#[inline(always)]
fn starts_record(next: &[u8], go: bool) -> bool {
    let Some(&b0) = next.first() else {
        return false;
    };
    if b0 != b'{' {
        if !b0.is_ascii_alphanumeric() {
            // Continuations begin with a space, a tab, a bracket, a quote, `#`, `.`, `[`.
            return false;
        }
        const JOINING_STARTS: &[&[u8]] = &[
            b"Caused by:",
            b"Suppressed:",
            b"Next ",
            b"Traceback",
            b"Response: ",
            b"goroutine ",
            b"created by ",
            b"exit status ",
            b"Stack trace:",
            b"During handling",
            b"The above exception",
            b"Exception in thread ",
            b"Unhandled exception",
            b"Uncaught ",
            b"PHP Fatal error: ",
        ];
        if matches!(
            b0,
            b'C' | b'D' | b'E' | b'N' | b'P' | b'R' | b'S' | b'T' | b'U' | b'c' | b'e' | b'g'
        ) && JOINING_STARTS.iter().any(|p| next.starts_with(p))
        {
            return false;
        }
    }
    // An exception header (`FooException: …`, `TypeError`) is a run of class-name bytes
    // followed by `:`, by blanks only, or by nothing. A Go call line (`main.main()`,
    // `net/http.(*conn).serve(…)`) has a `(` before any space; the run holds neither.
    // (`is_go_header` is asked of the untrimmed line: it may say yes where the trimmed line
    // would not, never the other way, so the check only errs towards "unsure".)
    if !go
        && next
            .get(..5)
            .is_none_or(|head| !head.iter().all(|&b| is_name_byte(b)))
    {
        // The run is shorter than the shortest throwable name (`Error`), and no `(` matters.
        return true;
    }
    let run = next
        .iter()
        .position(|&b| !is_name_byte(b))
        .unwrap_or(next.len());
    let rest = &next[run..];
    match rest.first() {
        None => return !names_a_throwable(next),
        Some(b'(') if go => return false,
        Some(b' ' | b'(') => {}
        Some(_) => {
            if go && memchr::memchr2(b' ', b'(', rest).is_some_and(|i| rest[i] == b'(') {
                return false;
            }
        }
    }
    let header_shaped = rest[0] == b':' || rest.iter().all(u8::is_ascii_whitespace);
    !(header_shaped && names_a_throwable(&next[..run]))
}

/// A byte of a class name (`com.example.Foo$Bar`, `App\\Exceptions\\Foo`).
#[inline]
fn is_name_byte(b: u8) -> bool {
    const NAME: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            t[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'$' | b'\\');
            b += 1;
        }
        t
    };
    NAME[b as usize]
}

/// The line's last non-blank byte may open a held record (`{`, `[`, `:`).
#[inline]
fn ends_open(line: &[u8]) -> bool {
    matches!(trim_end(line).last(), Some(b'{' | b'[' | b':'))
}

/// The class-name run holds one of the words that make an exception header.
fn names_a_throwable(run: &[u8]) -> bool {
    [&b"Exception"[..], b"Error", b"Throwable"]
        .iter()
        .any(|w| memchr::memmem::find(run, w).is_some())
}

/// Decide from a record's first (non-blank) line whether to hold it, and set up its shape.
pub(crate) fn start(line: &[u8], shape: &mut Shape) -> Start {
    *shape = Shape::default();
    let t = trim_end(line);
    let Some(&last) = t.last() else {
        return Start::Single;
    };
    if t[0] == b'{' && last == b'}' {
        // One complete JSON object per line: the structured-log case, never continued.
        return Start::Single;
    }
    shape.go = is_go_header(t);
    shape.python = t.starts_with(b"Traceback (most recent call last):");
    if last == b'{' || last == b'[' {
        let d = bracket_delta(t);
        if d > 0 {
            shape.depth = d as u32;
            return Start::Hold;
        }
    }
    if last == b':' {
        shape.colon = true;
        return Start::Hold;
    }
    if shape.go
        || shape.python
        || is_exception_header(t)
        || has_level_word(t)
        || is_go_oauth2_error(t)
    {
        return Start::Hold;
    }
    Start::Single
}

/// Decide whether a non-blank `line` continues a held record of `joined` lines; on a join,
/// update the shape.
pub(crate) fn next(shape: &mut Shape, joined: u32, line: &[u8]) -> Next {
    let b0 = line[0];
    let indented = b0 == b' ' || b0 == b'\t';
    if shape.python && !indented && joined >= 2 {
        // The exception line ends the traceback; a chained one may still follow.
        shape.depth = 0;
        shape.python = false;
        shape.python_done = true;
        return Next::Join;
    }
    if shape.python_done {
        if line.starts_with(b"During handling of the above exception")
            || line.starts_with(b"The above exception was the direct cause")
        {
            return Next::Join;
        }
        if line.starts_with(b"Traceback (most recent call last):") {
            shape.python = true;
            shape.python_done = false;
            return Next::Join;
        }
    }
    if line.starts_with(b"\"}") {
        // The end of Laravel's `{"exception":"…[stacktrace]…"}` context: the record is complete.
        join(shape, line);
        shape.depth = 0;
        return Next::JoinEnd;
    }
    let trace_line = indented
        || matches!(b0, b'}' | b']' | b')')
        || line.starts_with(b"Caused by:")
        || line.starts_with(b"Suppressed:")
        || line.starts_with(b"... ")
        || line.starts_with(b"Stack trace:")
        || line.starts_with(b"[stacktrace]")
        || (b0 == b'#' && line.get(1).is_some_and(u8::is_ascii_digit))
        || (line.starts_with(b"Next ") && is_exception_header(trim_end(&line[5..])));
    if shape.depth > 0 {
        if trace_line || matches!(b0, b'{' | b'"' | b'\'') {
            return join(shape, line);
        }
        return Next::Break;
    }
    if trace_line || (shape.go && is_go_continuation(line)) {
        return join(shape, line);
    }
    if joined == 1 {
        if shape.colon && matches!(b0, b'{' | b'[') {
            // `…response:` then the body. It may be the whole record, or a PHP/Laravel
            // exception may go on after it, so the record waits for the next line.
            return join(shape, line);
        }
        if line.starts_with(b"Traceback (most recent call last):") {
            shape.python = true;
            return Next::Join;
        }
        if is_exception_header(trim_end(line)) || line.starts_with(b"Response: ") {
            return Next::Join;
        }
    }
    Next::Break
}

/// Join bookkeeping: track brackets; a record whose brackets close is complete.
fn join(shape: &mut Shape, line: &[u8]) -> Next {
    let was_open = shape.depth > 0;
    let d = shape.depth as i64 + bracket_delta(line);
    shape.depth = d.clamp(0, u32::MAX as i64) as u32;
    if was_open && shape.depth == 0 {
        Next::JoinEnd
    } else {
        Next::Join
    }
}

/// Only spaces, tabs (and other ASCII whitespace).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[inline]
fn trim_end(line: &[u8]) -> &[u8] {
    let mut n = line.len();
    while n > 0 && line[n - 1].is_ascii_whitespace() {
        n -= 1;
    }
    &line[..n]
}

/// `{`/`[` minus `}`/`]`, outside double-quoted strings (which JSON keeps on one line).
fn bracket_delta(line: &[u8]) -> i64 {
    let mut d = 0i64;
    let mut in_str = false;
    let mut esc = false;
    for &b in line {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => d += 1,
            b'}' | b']' => d -= 1,
            _ => {}
        }
    }
    d
}

/// `com.example.FooException: msg`, `Error: msg`, `TypeError: msg`, `Exception in thread …`.
fn is_exception_header(t: &[u8]) -> bool {
    if t.starts_with(b"Exception in thread ")
        || t.starts_with(b"Unhandled exception")
        || t.starts_with(b"Uncaught ")
        || t.starts_with(b"PHP Fatal error: ")
    {
        return true;
    }
    let end = memchr::memchr(b':', t).unwrap_or(t.len());
    let name = &t[..end];
    if name.is_empty()
        || !name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'$' | b'\\'))
    {
        return false;
    }
    if end < t.len() && t.get(end + 1).is_some_and(|&b| b != b' ') {
        return false;
    }
    // The class name proper (`HttpClientErrorException$BadRequest` counts too).
    let class = match memchr::memrchr2(b'.', b'\\', name) {
        Some(i) => &name[i + 1..],
        None => name,
    };
    [&b"Exception"[..], b"Error", b"Throwable"]
        .iter()
        .any(|w| class.windows(w.len()).any(|x| x == *w))
}

/// Go's `golang.org/x/oauth2` error: `oauth2: cannot fetch token: 400 Bad Request`, followed
/// by a `Response: {…}` line holding the body.
fn is_go_oauth2_error(t: &[u8]) -> bool {
    // The status text ends the line ("511 Network Authentication Required" is the longest),
    // so only the tail is searched.
    const NEEDLE: &[u8] = b"cannot fetch token";
    let tail = &t[t.len().saturating_sub(NEEDLE.len() + 42)..];
    memchr::memchr_iter(b':', tail).any(|i| tail[..i].ends_with(NEEDLE))
}

#[inline]
fn is_go_header(t: &[u8]) -> bool {
    // Asked of nearly every line (sparse framing): the first byte settles most.
    match t.first() {
        Some(b'p') => t.starts_with(b"panic: "),
        Some(b'f') => t.starts_with(b"fatal error: "),
        Some(b'g') => is_goroutine(t),
        _ => false,
    }
}

#[inline]
fn is_goroutine(t: &[u8]) -> bool {
    t.starts_with(b"goroutine ") && t.get(10).is_some_and(u8::is_ascii_digit)
}

fn is_go_continuation(line: &[u8]) -> bool {
    if is_goroutine(line)
        || line.starts_with(b"[signal ")
        || line.starts_with(b"created by ")
        || line.starts_with(b"exit status ")
    {
        return true;
    }
    // A call line: `main.main()`, `net/http.(*conn).serve(0xc000…)`.
    let t = trim_end(line);
    match memchr::memchr(b'(', t) {
        Some(i) => i > 0 && t.ends_with(b")") && !t[..i].contains(&b' '),
        None => false,
    }
}

/// A level word (`ERROR`, `FATAL`, …) as a whole word near the start of the line.
fn has_level_word(t: &[u8]) -> bool {
    let w = &t[..t.len().min(LEVEL_WINDOW)];
    for i in memchr::memchr3_iter(b'E', b'F', b'W', w) {
        let rest = &w[i..];
        let hit = match rest[0] {
            b'E' => word_at(w, i, b"ERROR"),
            b'F' => word_at(w, i, b"FATAL"),
            _ => word_at(w, i, b"WARN") || word_at(w, i, b"WARNING"),
        };
        if hit {
            return true;
        }
    }
    for i in memchr::memchr2_iter(b'S', b'C', w) {
        if word_at(w, i, b"SEVERE") || word_at(w, i, b"CRITICAL") {
            return true;
        }
    }
    // Lower case only where it is plainly the level: `error: …` first on the line or right
    // after a `[timestamp] `, or `[error]` (winston, nginx), not `Zoom API error: …`.
    let lower_level_at = |i: usize| {
        [&b"error"[..], b"fatal", b"warn", b"warning"]
            .iter()
            .any(|word| {
                w[i..].starts_with(word) && matches!(w.get(i + word.len()), Some(b':' | b']'))
            })
    };
    if lower_level_at(0) {
        return true;
    }
    for i in memchr::memchr2_iter(b'[', b']', w) {
        let at = if w[i] == b'[' { i + 1 } else { i + 2 };
        if at < w.len() && (w[i] == b'[' || w[i + 1] == b' ') && lower_level_at(at) {
            return true;
        }
    }
    false
}

fn word_at(w: &[u8], i: usize, word: &[u8]) -> bool {
    w[i..].starts_with(word)
        && (i == 0 || !w[i - 1].is_ascii_alphanumeric())
        && w.get(i + word.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn starts(line: &str) -> Start {
        start(line.as_bytes(), &mut Shape::default())
    }

    fn a_word() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => r#"[a-zA-Z0-9 ._$:\\\[\]{}="-]{0,8}"#,
            1 => prop::sample::select(vec![
                "ERROR", "FATAL", "WARN", "WARNING", "SEVERE", "CRITICAL", "error", "fatal",
                "warn", "warning", "Exception in thread ", "Unhandled exception", "Uncaught ",
                "PHP Fatal error: ", "IllegalStateException", "TypeError", "Throwable",
                "panic: ", "fatal error: ", "goroutine 1 [", "Traceback (most recent call last):",
                "x: cannot fetch token: 400 Bad Request", "E", "W", "[", "]", ": ", "{", "}",
                "(", ")", "main.main()", "a-b.c(0x1)", "Caused by: ", "Next ", "Response: ",
                "created by ", "exit status ", "\t", "#1 ", "... ", "\"}", "'",
            ]).prop_map(str::to_string),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Sparse framing relies on it: when `surely_breaks` says a line starts a new record,
        /// it does.
        #[test]
        fn surely_breaks_is_never_wrong(
            first in prop::collection::vec(a_word(), 1..8),
            second in prop::collection::vec(a_word(), 1..8),
        ) {
            let (first, second) = (first.concat(), second.concat());
            prop_assume!(!is_blank(first.as_bytes()) && !is_blank(second.as_bytes()));
            if surely_breaks(first.as_bytes(), second.as_bytes()) {
                let mut shape = Shape::default();
                if start(first.as_bytes(), &mut shape) == Start::Hold {
                    prop_assert_eq!(
                        next(&mut shape, 1, second.as_bytes()),
                        Next::Break,
                        "{:?} then {:?}",
                        first,
                        second
                    );
                }
            }
        }
    }

    #[test]
    fn ordinary_lines_are_single() {
        for l in [
            "2024-05-01 12:00:00 INFO user 42 signed in",
            r#"{"level":"ERROR","msg":"token exchange failed","error":"invalid_grant"}"#,
            "GET /callback?code=abc 200 12ms",
            "level=error msg=\"Zoom API error\" error=invalid_request",
            "ERRORS are fine as part of a longer word? ERRORS",
            "Zoom API error: invalid_request, reason: Invalid request : Redirect URI mismatch.",
            "2024-05-01 12:00:00 INFO errors: 0",
        ] {
            assert_eq!(starts(l), Start::Single, "{l}");
        }
    }

    #[test]
    fn openers_and_headers_are_held() {
        for l in [
            "Token response: {",
            "payload = [",
            "Traceback (most recent call last):",
            "goroutine 1 [running]:",
            "panic: runtime error: invalid memory address",
            "com.zoom.sdk.OAuthException: Invalid authorization code",
            "Error: Request failed with status code 400",
            "AxiosError: Request failed with status code 400",
            "Exception in thread \"main\" java.lang.IllegalStateException",
            "2024-05-01 12:00:00.000 [main] ERROR c.e.TokenService - Token exchange failed",
            "ERROR:root:token exchange failed",
            "[2024-05-01T12:00:00.350Z] error: Zoom token request failed",
            "2024/05/01 12:00:03 oauth2: cannot fetch token: 400 Bad Request",
            "org.springframework.web.client.HttpClientErrorException$BadRequest: 400 Bad Request",
        ] {
            assert_eq!(starts(l), Start::Hold, "{l}");
        }
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(bracket_delta(br#"{"a":"{[","b":{"#), 2);
        assert_eq!(bracket_delta(br#"  "q\"{": 1 }"#), -1);
    }

    #[test]
    fn exception_header_shapes() {
        assert!(is_exception_header(b"java.lang.RuntimeException"));
        assert!(is_exception_header(b"Foo$BarError: x"));
        assert!(!is_exception_header(b"Error:x"));
        assert!(!is_exception_header(b"Some Error: x"));
        assert!(!is_exception_header(b"http://x"));
    }

    #[test]
    fn python_traceback_ends_at_the_exception_line() {
        let mut s = Shape::default();
        assert_eq!(start(b"ERROR:root:exchange failed", &mut s), Start::Hold);
        assert_eq!(
            next(&mut s, 1, b"Traceback (most recent call last):"),
            Next::Join
        );
        assert_eq!(
            next(&mut s, 2, b"  File \"app.py\", line 3, in <module>"),
            Next::Join
        );
        assert_eq!(next(&mut s, 3, b"    exchange(code)"), Next::Join);
        assert_eq!(
            next(
                &mut s,
                4,
                b"oauthlib.oauth2.rfc6749.errors.InvalidGrantError: (invalid_grant)"
            ),
            Next::Join
        );
        assert!(s.blanks_inside());
        let chained: [&[u8]; 4] = [
            b"During handling of the above exception, another exception occurred:",
            b"Traceback (most recent call last):",
            b"  File \"app.py\", line 9, in <module>",
            b"RuntimeError: login failed",
        ];
        for (i, l) in chained.iter().enumerate() {
            assert_eq!(next(&mut s, 5 + i as u32, l), Next::Join, "{i}");
        }
        assert_eq!(next(&mut s, 9, b"INFO:app:next request"), Next::Break);
    }

    #[test]
    fn pretty_json_ends_when_brackets_balance() {
        let mut s = Shape::default();
        assert_eq!(start(b"Zoom said: {", &mut s), Start::Hold);
        assert_eq!(
            next(&mut s, 1, b"  \"reason\": \"Invalid authorization code\","),
            Next::Join
        );
        assert_eq!(next(&mut s, 2, b"  \"nested\": {\"a\": [1]}"), Next::Join);
        assert_eq!(next(&mut s, 3, b"}"), Next::JoinEnd);
    }

    #[test]
    fn colon_then_json_line() {
        let mut s = Shape::default();
        assert_eq!(start(b"Response body:", &mut s), Start::Hold);
        assert!(s.expects_more(1));
        assert_eq!(
            next(&mut s, 1, b"{\"error\":\"invalid_grant\"}"),
            Next::Join
        );
        assert!(!s.expects_more(2));
        let mut s = Shape::default();
        start(b"Response body:", &mut s);
        assert_eq!(next(&mut s, 1, b"{"), Next::Join);
        assert_eq!(next(&mut s, 2, b"}"), Next::JoinEnd);
    }

    #[test]
    fn java_trace_continues_and_breaks_on_next_message() {
        let mut s = Shape::default();
        assert_eq!(
            start(b"2024 ERROR TokenService - failed", &mut s),
            Start::Hold
        );
        assert!(!s.expects_more(1));
        assert_eq!(
            next(&mut s, 1, b"com.zoom.OAuthException: invalid_grant"),
            Next::Join
        );
        assert_eq!(
            next(&mut s, 2, b"\tat com.zoom.Token.get(Token.java:42)"),
            Next::Join
        );
        assert_eq!(
            next(&mut s, 3, b"Caused by: java.io.IOException: 400"),
            Next::Join
        );
        assert_eq!(next(&mut s, 4, b"\t... 3 more"), Next::Join);
        assert_eq!(next(&mut s, 5, b"2024 INFO next"), Next::Break);
    }

    #[test]
    fn exception_header_after_frames_is_a_new_record() {
        let mut s = Shape::default();
        start(b"java.lang.IllegalStateException: a", &mut s);
        assert_eq!(next(&mut s, 1, b"\tat x.Y.z(Y.java:1)"), Next::Join);
        assert_eq!(
            next(&mut s, 2, b"java.lang.IllegalStateException: b"),
            Next::Break
        );
    }

    #[test]
    fn go_panic_frames() {
        let mut s = Shape::default();
        assert_eq!(
            start(b"panic: oauth2: cannot fetch token", &mut s),
            Start::Hold
        );
        assert!(s.go);
        assert_eq!(next(&mut s, 1, b"goroutine 1 [running]:"), Next::Join);
        assert_eq!(next(&mut s, 2, b"main.main()"), Next::Join);
        assert_eq!(next(&mut s, 3, b"\t/app/main.go:8 +0x1d"), Next::Join);
        assert_eq!(next(&mut s, 4, b"exit status 2"), Next::Join);
        assert_eq!(next(&mut s, 5, b"2024 INFO restarted"), Next::Break);
    }

    #[test]
    fn node_error_with_inspected_properties() {
        let mut s = Shape::default();
        assert_eq!(
            start(b"AxiosError: Request failed with status code 400", &mut s),
            Start::Hold
        );
        assert_eq!(
            next(
                &mut s,
                1,
                b"    at settle (/app/node_modules/axios/lib/core/settle.js:19:12) {"
            ),
            Next::Join
        );
        assert!(s.expects_more(2));
        assert_eq!(next(&mut s, 2, b"  code: 'ERR_BAD_REQUEST',"), Next::Join);
        assert_eq!(next(&mut s, 3, b"}"), Next::JoinEnd);
    }

    #[test]
    fn open_brackets_break_on_an_unindented_line() {
        let mut s = Shape::default();
        start(b"function foo() {", &mut s);
        assert_eq!(next(&mut s, 1, b"2024 INFO unrelated"), Next::Break);
    }
}
