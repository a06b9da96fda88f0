//! Redaction of secrets in records shown to people (samples, excerpts), and normalisation of
//! unmatched reason texts so they can be grouped.
//!
//! Not on the hot path: it runs only for records a person will see (the `classify` command,
//! samples in `/hints`). It errs on the side of hiding: any long token-looking word is hidden.

use std::sync::OnceLock;

use regex::bytes::{Captures, Regex};

/// Replacement for a hidden secret.
pub const REDACTED: &str = "<redacted>";

/// Longest redacted record returned, in bytes (before the `…` marker).
pub const MAX_RECORD_BYTES: usize = 2048;

/// Longest normalised reason, in bytes.
pub const MAX_REASON_BYTES: usize = 160;

struct Redactors {
    /// `Bearer xyz`, `Basic xyz`: keep the scheme, hide the value.
    auth_scheme: Regex,
    /// `key=value`, `"key":"value"`, `'key': 'value'`, `key: value` for secret-bearing keys.
    secret_field: Regex,
    /// Three base64url segments: a JWT.
    jwt: Regex,
    /// A word after a phrase that announces a code or token ("Invalid authorization code X",
    /// "the code [X]").
    announced: Regex,
    /// Any long token-looking word (mixed letters and digits, 20+ chars).
    long_token: Regex,
}

fn redactors() -> &'static Redactors {
    static R: OnceLock<Redactors> = OnceLock::new();
    R.get_or_init(|| Redactors {
        auth_scheme: Regex::new(r"(?i)\b(bearer|basic)(\s+|%20)[A-Za-z0-9._~+/=-]{4,}").unwrap(),
        secret_field: Regex::new(
            r#"(?i)(\b(?:access_token|refresh_token|id_token|token|code|code_verifier|client_secret|clientsecret|secret|password|authorization|assertion|api_key|apikey)\b\\?["'’”]?\s*(?:=|:)\s*\\?["'‘“]?)([^"'\s&,;}\\’”\]]{3,})"#,
        )
        .unwrap(),
        jwt: Regex::new(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}").unwrap(),
        announced: Regex::new(
            r"(?i)(\b(?:authorization code|auth code|refresh token|access token|token|code|verifier|secret)\b(?:\s+|\s*[\[:=]\s*))([A-Za-z0-9._~+/=-]{8,})",
        )
        .unwrap(),
        long_token: Regex::new(r"\b[A-Za-z0-9_-]{20,}[A-Za-z0-9._~+/=-]*").unwrap(),
    })
}

/// True for a word that looks like a secret, not like prose or an identifier: it mixes
/// letters with digits, or is a long mixed-case run (random base64). Snake_case identifiers
/// (`client_secret`, `invalid_grant`) and CamelCase class names stay readable.
fn looks_like_token(w: &[u8]) -> bool {
    let digits = w.iter().filter(|b| b.is_ascii_digit()).count();
    let letters = w.iter().any(u8::is_ascii_alphabetic);
    let upper = w.iter().skip(1).filter(|b| b.is_ascii_uppercase()).count();
    let lower = w.iter().any(u8::is_ascii_lowercase);
    (digits > 0 && letters && w.len() >= 8) || (w.len() >= 32 && upper >= 4 && lower)
}

/// A word announced as a code or token ("Invalid authorization code X"): anything but a
/// plain lower-case word is taken for the secret.
fn looks_announced(w: &[u8]) -> bool {
    !w.iter().all(|b| b.is_ascii_lowercase() || *b == b'-') || looks_like_token(w)
}

/// A record with authorization codes, tokens, JWTs, client secrets and Bearer/Basic values
/// replaced by `<redacted>`, lossily decoded as UTF-8, bounded to [`MAX_RECORD_BYTES`].
pub fn redact_record(record: &[u8]) -> String {
    let r = redactors();
    let cut = record.len().min(MAX_RECORD_BYTES * 2);
    let s = &record[..cut];
    let s = r.jwt.replace_all(s, REDACTED.as_bytes());
    let s = r.auth_scheme.replace_all(&s, |c: &Captures<'_>| {
        [&c[1], &b" "[..], REDACTED.as_bytes()].concat()
    });
    let s = r.secret_field.replace_all(&s, |c: &Captures<'_>| {
        let value = &c[2];
        if value == REDACTED.as_bytes()
            || value.eq_ignore_ascii_case(b"bearer")
            || value.eq_ignore_ascii_case(b"basic")
        {
            c[0].to_vec()
        } else {
            [&c[1], REDACTED.as_bytes()].concat()
        }
    });
    let s = r.announced.replace_all(&s, |c: &Captures<'_>| {
        if looks_announced(&c[2]) {
            [&c[1], REDACTED.as_bytes()].concat()
        } else {
            c[0].to_vec()
        }
    });
    let s = r.long_token.replace_all(&s, |c: &Captures<'_>| {
        if looks_like_token(&c[0]) {
            REDACTED.as_bytes().to_vec()
        } else {
            c[0].to_vec()
        }
    });
    let mut out = String::from_utf8_lossy(&s).into_owned();
    if out.len() > MAX_RECORD_BYTES || cut < record.len() {
        let mut end = MAX_RECORD_BYTES.min(out.len());
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

/// A reason text with ids, codes, numbers and tokens replaced by placeholders, so that the
/// same kind of failure groups under one string; bounded to [`MAX_REASON_BYTES`].
pub fn normalize_reason(reason: &[u8]) -> String {
    let redacted = redact_record(&reason[..reason.len().min(MAX_REASON_BYTES * 4)]);
    let mut out = String::with_capacity(redacted.len().min(MAX_REASON_BYTES));
    for (i, word) in redacted.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let bytes = word.as_bytes();
        let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if core.len() >= 4 && core.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&word.replace(core, "<n>"));
        } else if core.len() >= 8 && looks_like_token(core.as_bytes()) {
            out.push_str(&word.replace(core, REDACTED));
        } else if bytes.len() > 40 {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        if out.len() >= MAX_REASON_BYTES {
            break;
        }
    }
    if out.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_codes_appended_to_reasons() {
        let out = redact_record(
            br#"Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ""#,
        );
        assert!(!out.contains("mk1Cq8Pap6"), "{out}");
        assert!(
            out.contains("Invalid authorization code <redacted>"),
            "{out}"
        );
        let out = redact_record(
            b"the code [ibcgiRImMi_PatCmZLwQxKCZOUJsBwojQ] for exchanging OAuth token is invalid",
        );
        assert!(!out.contains("ibcgiRImMi"), "{out}");
        assert!(
            out.contains("for exchanging OAuth token is invalid"),
            "{out}"
        );
    }

    #[test]
    fn hides_tokens_secrets_and_auth_headers() {
        let jwt = "eyJhbGciOiJIUzUxMiJ9.eyJ2ZXIiOiI2In0.5c58p0PflZ-abcdEFGH";
        let line = format!(
            "POST /oauth/token?grant_type=authorization_code&code=abcDEF123ghi&client_secret=s3cr3tValue99 \
             Authorization: Basic Q0xJRU5UOlNFQ1JFVA== bearer={jwt} \
             {{\"access_token\":\"{jwt}\",\"refresh_token\":\"rt_9f8e7d6c5b4a\"}} Authorization: Bearer abc.def-123"
        );
        let out = redact_record(line.as_bytes());
        for secret in [
            "abcDEF123ghi",
            "s3cr3tValue99",
            "Q0xJRU5UOlNFQ1JFVA",
            "eyJhbGci",
            "rt_9f8e7d6c5b4a",
            "abc.def-123",
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("grant_type=authorization_code"), "{out}");
        assert!(out.contains("Basic <redacted>"), "{out}");
    }

    #[test]
    fn keeps_prose_and_error_values() {
        let line =
            br#"zoom {"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#;
        assert_eq!(redact_record(line), String::from_utf8_lossy(line));
        let line = b"com.google.api.client.auth.oauth2.TokenResponseException: 400 Bad Request";
        assert_eq!(redact_record(line), String::from_utf8_lossy(line));
        assert_eq!(
            normalize_reason(b"Invalid client_id or client_secret"),
            "Invalid client_id or client_secret"
        );
        assert_eq!(
            normalize_reason(b"Invalid authorization code received"),
            "Invalid authorization code received"
        );
    }

    #[test]
    fn output_is_bounded() {
        let big = vec![b'a'; 1 << 20];
        assert!(redact_record(&big).len() <= MAX_RECORD_BYTES + 3);
        assert!(normalize_reason(&big).len() <= MAX_REASON_BYTES + 3);
    }

    #[test]
    fn normalised_reasons_group_the_same_failure() {
        let a = normalize_reason(b"Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ");
        let b = normalize_reason(b"Invalid authorization code jH8sFKaViM_RSTLNTS-Tk-_mCVkEdZpAQ");
        assert_eq!(a, b);
        assert_eq!(a, "Invalid authorization code <redacted>");
        assert_eq!(
            normalize_reason(b"user 123456 not found in account 98765"),
            "user <n> not found in account <n>"
        );
    }
}
