//! The one redactor: every record, excerpt, sample or reason text that oauthwatch shows (the
//! `classify` command, `/hints`, the `/` page, unmatched reasons) goes through [`redact`], and
//! reasons are then normalised for grouping by [`normalize_reason`].
//!
//! It hides secrets and keeps the words of providers' messages readable: `Refresh token
//! invalid.` stays as it is, `Invalid authorization code mk1Cq8Pap6_…` becomes
//! `Invalid authorization code <redacted>`. What it hides, in this order:
//!
//! 1. JWTs (three base64url segments starting `eyJ`);
//! 2. the password in a URL's user-info (`https://user:pass@host`);
//! 3. the value after `Bearer`/`Basic`/`Token`/`Digest` (also `%20`- or `+`-separated);
//! 4. the value of every secret-bearing key, in every serialisation the framing handles —
//!    `key=value`, logfmt `key="…"`, JSON and escaped JSON, Python dict, Ruby `=>`, Node
//!    `util.inspect`, typographic quotes, and URL-encoded (`code%3D…`, `%22code%22%3A…`) —
//!    where a secret-bearing key is `code`, `auth_code`, or any key ending in `token`,
//!    `secret`, `password`, `passwd`, `pwd`, `passphrase`, `api_key`/`apikey`, `_key`,
//!    `assertion`, `verifier`, `authorization`, `cookie` or `signature` (so
//!    `ZOOM_CLIENT_SECRET=…`, `accessToken: '…'`, `"refresh_token":"…"`). Values that are
//!    placeholders (`null`, `***`, short numbers) stay, and so do identifiers after `code` or
//!    `authorization` (`"code": "ERR_BAD_REQUEST"`, `"code": 4711`) and prose after a bare
//!    word (`token: Bad Request`);
//! 5. a word announced as a code, token, secret or password ("Invalid authorization code X",
//!    "the code [X]", "password is X") unless it is a plain word or a short number;
//! 6. any bare word that looks random rather than like prose or an identifier (see
//!    [`looks_like_token`]): mixed-case-and-digit runs of 12+ characters, letter/digit
//!    alternations, long base64.
//!
//! Not on the hot path: it runs only for records a person will see.

use std::sync::OnceLock;

use regex::bytes::{Captures, Regex};

/// Replacement for a hidden secret.
pub const REDACTED: &str = "<redacted>";

/// Longest redacted record returned, in bytes (before the `…` marker).
pub const MAX_RECORD_BYTES: usize = 2048;

/// Longest normalised reason, in bytes.
pub const MAX_REASON_BYTES: usize = 160;

/// Longest quoted secret value hidden as a whole; a longer "value" is most likely not a
/// value at all (an unbalanced quote), and the other passes still see its words.
const MAX_QUOTED_VALUE: usize = 1024;

struct Redactors {
    jwt: Regex,
    userinfo: Regex,
    auth_scheme: Regex,
    /// A secret-bearing key, its closing quote, the separator and the value's opening quote.
    secret_key: Regex,
    announced: Regex,
    word: Regex,
}

fn redactors() -> &'static Redactors {
    static R: OnceLock<Redactors> = OnceLock::new();
    R.get_or_init(|| Redactors {
        jwt: Regex::new(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*").unwrap(),
        userinfo: Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)@").unwrap(),
        auth_scheme: Regex::new(
            r"(?i)\b(bearer|basic|token|digest)(\s+|%20|\+)([A-Za-z0-9._~+/=-]{4,}|<redacted>)",
        )
        .unwrap(),
        secret_key: Regex::new(
            r#"(?xi)
            (?:
                \b[A-Za-z0-9_.-]*?
                (?:token|secret|password|passwd|pwd|passphrase|api[_-]?key|[_-]key
                  |assertion|verifier|authorization|cookie|signature)
              | \bcode
              | \b(?:auth|authorization)[_-]?code
            )
            (?:\\{0,3}["'’”]|%(?:25)?2[27])?
            \s*(?:=>|=|:|%(?:25)?3[DA])\s*
            (\\{0,3}["'‘“’”]|%(?:25)?2[27])?
            "#,
        )
        .unwrap(),
        announced: Regex::new(
            r#"(?i)\b(?:authorization[ _-]code|auth[ _-]code|refresh[ _-]token|access[ _-]token|id[ _-]token|token|code|verifier|client[ _-]secret|secret|password|passwd|api[ _-]key)(?:\s+(?:is|was|of)\b)?(?:\s+|\s*[\[:=(]\s*)["'‘“]?([^\s"'‘’“”\[\](){},;<>\\]{6,})"#,
        )
        .unwrap(),
        word: Regex::new(r"[A-Za-z0-9_~-]{12,}").unwrap(),
    })
}

/// True for a word that looks random (a secret) rather than like prose, a number, a date or
/// an identifier. Snake_case identifiers (`client_secret`, `invalid_grant`), CamelCase class
/// names (`TokenResponseException`), timestamps and short ids stay readable.
fn looks_like_token(w: &[u8]) -> bool {
    let len = w.len();
    let mut upper = 0usize;
    let mut lower = 0usize;
    let mut digits = 0usize;
    // Changes between a letter and a digit, ignoring other characters.
    let mut switches = 0usize;
    let mut last: Option<bool> = None;
    // Runs of lower-case letters: CamelCase words have long ones ("Response"), random
    // strings short ones (about 1.7 letters on average for base62).
    let mut lower_runs = 0usize;
    let mut prev_lower = false;
    for &b in w {
        let is_lower = b.is_ascii_lowercase();
        if is_lower && !prev_lower {
            lower_runs += 1;
        }
        prev_lower = is_lower;
        let is_digit = b.is_ascii_digit();
        if b.is_ascii_uppercase() {
            upper += 1;
        } else if b.is_ascii_lowercase() {
            lower += 1;
        } else if is_digit {
            digits += 1;
        } else {
            continue;
        }
        if last.is_some_and(|d| d != is_digit) {
            switches += 1;
        }
        last = Some(is_digit);
    }
    let letters = upper + lower;
    if letters == 0 {
        return false;
    }
    // Share of upper case among letters: CamelCase words stay low, random base64 is ~half;
    // and lower-case runs shorter than 3 letters on average.
    let random_case = upper >= 2 && lower >= 2 && upper * 5 >= letters && lower < 3 * lower_runs;
    (len >= 12 && random_case && digits >= 1)
        || (len >= 12 && digits >= 3 && letters >= 3 && switches >= 4)
        || (len >= 20 && random_case && upper >= 3 && lower >= 3 && upper * 10 >= letters * 3)
        || (len >= 32 && digits >= 2 && switches >= 2)
}

/// A word that reads as prose, a status or an error identifier, not as a secret: letters (and
/// `_`, `-`) in ordinary case (`invalid`, `Expired`, `INVALID`, `invalid_grant`,
/// `ERR_BAD_REQUEST`, `InvalidCredentials`), or a number of at most five digits (`400`, `4711`, `-10`).
fn plain_word(w: &[u8]) -> bool {
    if short_number(w) {
        return true;
    }
    let letters = w
        .iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b'-' || *b == b'_');
    let rest_lower = w.iter().skip(1).all(|b| !b.is_ascii_uppercase());
    let all_upper = w.iter().all(|b| !b.is_ascii_lowercase());
    // CamelCase (`InvalidCredentials`) reads as a word; random mixed case does not.
    letters && !w.is_empty() && (rest_lower || all_upper || !looks_like_token(w))
}

/// A number of at most five digits, maybe signed: a status or an error code, not a secret.
fn short_number(w: &[u8]) -> bool {
    let digits = w.strip_prefix(b"-").unwrap_or(w);
    !digits.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit)
}

/// Trailing punctuation that ends a sentence (or Markdown emphasis), not a secret.
fn trim_punct(w: &[u8]) -> &[u8] {
    let end = w
        .iter()
        .rposition(|b| !matches!(b, b'.' | b'!' | b'?' | b':' | b';' | b',' | b'*'))
        .map_or(0, |i| i + 1);
    &w[..end]
}

/// Values that are not secrets whatever the key: empty markers and placeholders.
fn placeholder(v: &[u8]) -> bool {
    const WORDS: [&[u8]; 12] = [
        b"null",
        b"none",
        b"nil",
        b"true",
        b"false",
        b"undefined",
        b"bearer",
        b"basic",
        b"<redacted>",
        b"[redacted]",
        b"[filtered]",
        b"***",
    ];
    v.is_empty()
        || WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
        || short_number(v)
        || v.iter().all(|b| *b == b'*' || *b == b'x' || *b == b'X')
}

/// Where an unquoted value ends: whitespace, quotes, separators, or a URL-encoded `&`, `"`,
/// `,` or space.
fn unquoted_end(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'&' | b',' | b';' | b'{' | b'}'
            | b'[' | b']' | b'(' | b')' | b'\\' | b'<' | b'>' | b'|' => return i,
            b'%' => {
                let rest = &s[i + 1..];
                let rest = rest.strip_prefix(b"25").unwrap_or(rest);
                if rest.len() >= 2
                    && matches!(
                        (rest[0], rest[1].to_ascii_uppercase()),
                        (b'2', b'6' | b'2' | b'7' | b'C' | b'0')
                    )
                {
                    return i;
                }
            }
            // Typographic quotes (UTF-8 E2 80 98/99/9C/9D).
            0xE2 if s.get(i + 1) == Some(&0x80)
                && matches!(s.get(i + 2), Some(0x98 | 0x99 | 0x9C | 0x9D)) =>
            {
                return i
            }
            _ => {}
        }
        i += 1;
    }
    s.len()
}

/// Where a quoted value ends, given its opening quote; `None` when no closing quote comes
/// within [`MAX_QUOTED_VALUE`] bytes.
fn quoted_end(s: &[u8], open: &[u8]) -> Option<usize> {
    let close: &[u8] = match open {
        b"\xE2\x80\x98" | b"\xE2\x80\x99" => "’".as_bytes(),
        b"\xE2\x80\x9C" | b"\xE2\x80\x9D" => "”".as_bytes(),
        o if o.starts_with(b"%") => o,
        o => &o[o.len() - 1..],
    };
    let escaped = open.len() > 1 && open[0] == b'\\';
    let limit = s.len().min(MAX_QUOTED_VALUE);
    let mut i = 0;
    while i < limit {
        if s[i..].starts_with(close) {
            // In escaped JSON the closing quote is escaped too; an unescaped one is not it.
            let backslashes = s[..i].iter().rev().take_while(|b| **b == b'\\').count();
            if escaped == (backslashes > 0) {
                return Some(i - backslashes);
            }
        }
        i += 1;
    }
    None
}

/// Hide the values of secret-bearing keys (pass 4 of the module doc).
fn redact_key_values(s: &[u8], re: &Regex) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut last = 0;
    let mut at = 0;
    while let Some(c) = re.captures_at(s, at) {
        let m = c.get(0).unwrap();
        let start = m.end();
        let value_end = match c.get(1) {
            Some(q) => quoted_end(&s[start..], q.as_bytes()),
            None => Some(unquoted_end(&s[start..])),
        };
        at = m.end().max(m.start() + 1);
        let Some(len) = value_end else { continue };
        let value = &s[start..start + len];
        if keep_value(&c[0], c.get(1).is_some(), value) {
            continue;
        }
        // Sentence punctuation after an unquoted value stays readable.
        let len = if c.get(1).is_some() {
            len
        } else {
            trim_punct(value).len().max(1)
        };
        out.extend_from_slice(&s[last..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        last = start + len;
        at = last.max(at);
    }
    out.extend_from_slice(&s[last..]);
    out
}

/// Whether the value after a secret-bearing key (`key_sep`: the key, its quotes and the
/// separator, as matched) is left as it is.
fn keep_value(key_sep: &[u8], quoted: bool, value: &[u8]) -> bool {
    if placeholder(value) {
        return true;
    }
    let word = trim_punct(value);
    // `token: oauth2: cannot fetch`: a label, not a value.
    let label = value.ends_with(b":") && !quoted && !looks_like_token(word);
    if !(plain_word(word) || label) || value.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    let k = key_sep.to_ascii_lowercase();
    let has = |w: &[u8]| k.windows(w.len()).any(|x| x == w);
    let holds_secret = [&b"pass"[..], b"pwd", b"secret", b"token", b"key", b"cookie"]
        .iter()
        .any(|w| has(w))
        || has(b"signature")
        || has(b"assertion")
        || has(b"verifier");
    if !holds_secret {
        // `code`, `authorization`: an identifier value is a status, not a code.
        return true;
    }
    // Prose such as `Error getting token: Bad Request`: a bare lower-case word as the key,
    // a colon, an unquoted word. `password=word`, `API_TOKEN: word`, `"token": "word"` are
    // still hidden (a password may be a word).
    let key_end = key_sep
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(key_sep.len());
    let key = &key_sep[..key_end];
    !quoted
        && key_end > 0
        && key[1..].iter().all(u8::is_ascii_lowercase)
        && key_sep[key_end..].trim_ascii_start().starts_with(b":")
}

/// `record` with every secret replaced by [`REDACTED`] (see the module doc), lossily decoded
/// as UTF-8, bounded to [`MAX_RECORD_BYTES`]. The one redaction used for everything shown.
pub fn redact(record: &[u8]) -> String {
    let r = redactors();
    let cut = record.len().min(MAX_RECORD_BYTES * 2);
    let s = &record[..cut];
    let s = r.jwt.replace_all(s, REDACTED.as_bytes());
    let s = r.userinfo.replace_all(&s, |c: &Captures<'_>| {
        [&c[1], REDACTED.as_bytes(), b"@"].concat()
    });
    let s = r.auth_scheme.replace_all(&s, |c: &Captures<'_>| {
        let v = &c[3];
        let word = trim_punct(v);
        // `=` inside (not base64 padding at the end): a `key=value` parameter, not a credential.
        let parameter = v
            .iter()
            .rposition(|b| *b != b'=')
            .is_some_and(|i| v[..i].contains(&b'='));
        if plain_word(word)
            || parameter
            || v.eq_ignore_ascii_case(b"realm=")
            || v == REDACTED.as_bytes()
        {
            c[0].to_vec()
        } else {
            [&c[1], &c[2], REDACTED.as_bytes(), &v[word.len()..]].concat()
        }
    });
    let s = redact_key_values(&s, &r.secret_key);
    let s = r.announced.replace_all(&s, |c: &Captures<'_>| {
        let w = c.get(1).unwrap();
        let word = trim_punct(w.as_bytes());
        // `token grant_type=…&code=…`: parameters, whose secret values pass 4 has hidden.
        // A word ending in `:` labels what follows (`token: oauth2: …`).
        let label = w.as_bytes().ends_with(b":") && !looks_like_token(word);
        if plain_word(word) || label || word.contains(&b'=') || word == REDACTED.as_bytes() {
            c[0].to_vec()
        } else {
            let keep = w.start() - c.get(0).unwrap().start();
            [
                &c[0][..keep],
                REDACTED.as_bytes(),
                &w.as_bytes()[word.len()..],
            ]
            .concat()
        }
    });
    let s = r.word.replace_all(&s, |c: &Captures<'_>| {
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

/// Same as [`redact`]; the name used for whole records (samples, excerpts).
pub fn redact_record(record: &[u8]) -> String {
    redact(record)
}

/// A reason text, redacted by [`redact`], with numbers of four or more digits replaced by
/// `<n>` so that the same kind of failure groups under one string; bounded to
/// [`MAX_REASON_BYTES`].
pub fn normalize_reason(reason: &[u8]) -> String {
    let redacted = redact(&reason[..reason.len().min(MAX_REASON_BYTES * 4)]);
    let mut out = String::with_capacity(redacted.len().min(MAX_REASON_BYTES));
    for (i, word) in redacted.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if core.len() >= 4 && core.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&word.replace(core, "<n>"));
        } else if word.len() > 40 {
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
mod tests;
