//! Deterministic corpus generator for the scan benchmark.
//!
//! `cargo run --release --example gen_corpus -- OUT LINES [SEED]` writes LINES lines of
//! realistic mixed application logs (access logs, JSON logs, Java/Python/Go logs, SQL, health
//! checks) averaging ~175 bytes, of which ~1% are Zoom token-endpoint failures in every shape
//! the classifier handles (JSON, escaped JSON in a JSON log, Python dict repr with typographic
//! quotes, Node util.inspect, logfmt, plain text, Guzzle/axios/Go/requests exceptions) and
//! ~0.5% are lookalikes (Google, Microsoft, Okta, Auth0 OAuth errors, Zoom REST errors, token
//! chatter) that must not count. The same seed always gives the same bytes.
//!
//! On stderr it prints how many Zoom failure lines it wrote, so the bench can compare.

use std::io::{BufWriter, Write};

/// SplitMix64: tiny, fast, and good enough for picking templates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    #[allow(dead_code)]
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char)
            .collect()
    }
}

const REASONS: &[(&str, &str)] = &[
    ("Invalid authorization code {T}", "invalid_grant"),
    ("Invalid authorization code {T}", "invalid_request"),
    ("Invalid Token!", "invalid_grant"),
    ("Invalid client_id or client_secret", "invalid_client"),
    ("unsupported grant type", "unsupported_grant_type"),
    (
        "Invalid request : Redirect URI mismatch.",
        "invalid_request",
    ),
    ("Code is expired", "invalid_grant"),
    ("The token has been revoked.", "invalid_grant"),
    ("Missing grant type", "invalid_request"),
    ("The app has been disabled", "invalid_client"),
];

fn ts(rng: &mut Rng, i: u64) -> String {
    format!(
        "2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + (i / 3_000_000) % 28,
        (i / 150_000) % 24,
        (i / 2500) % 60,
        (i / 40) % 60,
        rng.below(1000)
    )
}

fn zoom_failure(rng: &mut Rng, i: u64) -> String {
    let (reason, error) = REASONS[rng.below(REASONS.len() as u64) as usize];
    let reason = reason.replace("{T}", &rng.token(32));
    let t = ts(rng, i);
    let req = rng.token(12);
    match rng.below(10) {
        0 => format!(r#"{{"ts":"{t}","level":"error","svc":"auth","req":"{req}","msg":"zoom token exchange failed","status":400,"body":{{"reason":"{reason}","error":"{error}"}}}}"#),
        1 => format!(r#"{{"ts":"{t}","level":"error","logger":"oauth.zoom","msg":"token request failed","response":"{{\"reason\":\"{reason}\",\"error\":\"{error}\"}}"}}"#),
        2 => format!("{t} ERROR zoom_client: token endpoint said {{'reason': '{reason}', 'error': '{error}’}} req={req}"),
        3 => format!("{t} error [zoom-oauth] Request failed with status code 400 {{ reason: '{reason}', error: '{error}' }}"),
        4 => format!(r#"ts={t} level=error component=zoom_oauth status=400 error={error} reason="{reason}" req={req}"#),
        5 => format!("{t} ERROR Zoom API error: {error}, reason: {reason}"),
        6 => format!("[{t}] production.ERROR: Client error: `POST https://zoom.us/oauth/token` resulted in a `400 Bad Request` response: {{\"reason\":\"{reason}\",\"error\":\"{error}\"}}"),
        7 => format!(r#"{t} E zoomauth.go:88 oauth2: cannot fetch token: 400 Bad Request Response: {{"reason":"{reason}","error":"{error}"}}"#),
        8 => format!("{t} ERROR requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: https://zoom.us/oauth/token body={{\"reason\":\"{reason}\",\"error\":\"{error}\"}}"),
        _ => format!(r#"{{"ts":"{t}","level":"error","msg":"zoom oauth failed","errorCode":4734,"errorMessage":"Invalid authorization code","req":"{req}"}}"#),
    }
}

fn lookalike(rng: &mut Rng, i: u64) -> String {
    let t = ts(rng, i);
    match rng.below(7) {
        0 => format!(
            r#"{t} ERROR google.auth.exceptions.RefreshError: ('invalid_grant: Bad Request', {{'error': 'invalid_grant', 'error_description': 'Bad Request'}})"#
        ),
        1 => format!(
            r#"{t} WARN msal: {{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity."}}"#
        ),
        2 => format!(
            r#"{t} ERROR okta: POST https://dev-1234.okta.com/oauth2/v1/token 400 {{"error":"invalid_grant","error_description":"The authorization code is invalid or has expired."}}"#
        ),
        3 => format!(
            r#"{t} ERROR auth0: {{"error":"invalid_grant","error_description":"Invalid authorization code"}}"#
        ),
        4 => format!(
            r#"{t} WARN zoom api GET https://api.zoom.us/v2/users/me 401 {{"code":124,"message":"Invalid access token."}}"#
        ),
        5 => format!(
            "{t} INFO refreshed zoom access token for account {} expires_in=3599",
            rng.below(100000)
        ),
        _ => format!(
            r#"{t} ERROR com.google.api.client.auth.oauth2.TokenResponseException: 400 Bad Request {{"error" : "redirect_uri_mismatch"}}"#
        ),
    }
}

fn ordinary(rng: &mut Rng, i: u64) -> String {
    let t = ts(rng, i);
    let ip = format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.below(256)
    );
    let id = rng.below(1_000_000);
    match rng.below(8) {
        0 => format!(
            "{ip} - - [{t}] \"GET /api/v1/meetings/{id}?page={} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
            rng.below(20),
            rng.below(50000)
        ),
        1 => format!(
            r#"{{"ts":"{t}","level":"info","svc":"api","msg":"request completed","method":"POST","path":"/v1/events","status":201,"duration_ms":{},"user":{id}}}"#,
            rng.below(900)
        ),
        2 => format!(
            "{t} INFO  [http-nio-8080-exec-{}] c.e.app.web.MeetingController : Scheduled meeting {id} for user {} in 12 ms",
            rng.below(200),
            rng.below(99999)
        ),
        3 => format!(
            "{t} DEBUG sqlalchemy.engine.Engine SELECT users.id, users.email FROM users WHERE users.id = %(id_1)s LIMIT 1 [{id}]"
        ),
        4 => format!(
            "{t} INFO gunicorn.access {ip} \"GET /healthz HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\" in {}us",
            rng.below(5000)
        ),
        5 => format!(
            "level=info ts={t} caller=worker.go:{} msg=\"job finished\" job=recording-sync id={id} took={}ms",
            rng.below(400),
            rng.below(9000)
        ),
        6 => format!(
            "{t} WARN  [scheduler] c.e.app.jobs.Reminder : reminder {id} delayed by {} s, queue depth {}",
            rng.below(60),
            rng.below(300)
        ),
        _ => format!(
            r#"{{"ts":"{t}","level":"info","msg":"cache miss","key":"meeting:{id}","backend":"redis","latency_us":{}}}"#,
            rng.below(2000)
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen_corpus OUT LINES [SEED]");
        std::process::exit(2);
    }
    let lines: u64 = args[2].parse().expect("LINES must be a number");
    let seed: u64 = args
        .get(3)
        .map_or(0x5eed, |s| s.parse().expect("SEED must be a number"));
    let file = std::fs::File::create(&args[1]).expect("cannot create OUT");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(seed);
    let (mut zoom, mut look, mut bytes) = (0u64, 0u64, 0u64);
    for i in 0..lines {
        let roll = rng.below(1000);
        let line = if roll < 10 {
            zoom += 1;
            zoom_failure(&mut rng, i)
        } else if roll < 15 {
            look += 1;
            lookalike(&mut rng, i)
        } else {
            let mut line = ordinary(&mut rng, i);
            if rng.below(10) < 7 {
                // Tracing context, as OpenTelemetry-instrumented apps append it.
                let (a, b, c) = (rng.next(), rng.next(), rng.next());
                line.push_str(&format!(" trace_id={a:016x}{b:016x} span_id={c:016x}"));
            }
            line
        };
        bytes += line.len() as u64 + 1;
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    eprintln!(
        "gen_corpus: {lines} lines, {bytes} bytes ({:.0} bytes/line), {zoom} zoom failures, {look} lookalikes",
        bytes as f64 / lines.max(1) as f64
    );
}
