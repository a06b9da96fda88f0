//! The classifier on every record shape apps log token-endpoint failures in, on explicit
//! codes, on lookalikes that must not count, and the rule-file loader's diagnostics.

use oauthwatch::classifier::redact::redact_record;
use oauthwatch::classifier::{MatchContext, RuleSet};

fn rule_of(rules: &RuleSet, record: &str, provider: Option<&str>) -> Option<String> {
    rules
        .classify(record.as_bytes(), &MatchContext { provider })
        .map(|c| rules.rules()[c.rule].id.clone())
}

fn assert_rule(record: &str, want: &str) {
    let rules = RuleSet::embedded();
    assert_eq!(
        rule_of(&rules, record, None).as_deref(),
        Some(want),
        "record: {record}"
    );
}

fn assert_none(record: &str) {
    let rules = RuleSet::embedded();
    assert_eq!(rule_of(&rules, record, None), None, "record: {record}");
}

#[test]
fn json_object_body() {
    assert_rule(
        r#"{"ts":"2024-05-01T10:00:00Z","level":"error","msg":"zoom token exchange failed","body":{"reason":"Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ","error":"invalid_grant"}}"#,
        "invalid_authorization_code",
    );
}

#[test]
fn json_log_with_escaped_body_string() {
    assert_rule(
        r#"{"level":"error","logger":"oauth.zoom","msg":"token request failed","response":"{\"reason\":\"Invalid Token!\",\"error\":\"invalid_grant\"}"}"#,
        "token_revoked",
    );
}

#[test]
fn python_dict_repr_with_typographic_quotes() {
    assert_rule(
        "zoom: {'reason': 'Invalid authorization code jH8sFKaViM_RSTLNTS-Tk-_mCVkEdZpAQ', 'error': 'invalid_grant’}",
        "invalid_authorization_code",
    );
    assert_rule(
        "zoom: {“reason”:“Invalid client_id or client_secret”,“error”:“invalid_client”}",
        "invalid_client",
    );
}

#[test]
fn node_util_inspect() {
    assert_rule(
        "[zoom] Request failed with status code 400 { reason: 'unsupported grant type', error: 'unsupported_grant_type' }",
        "unsupported_grant_type",
    );
}

#[test]
fn logfmt() {
    assert_rule(
        r#"ts=2024-05-01T10:00:00Z level=error component=zoom_oauth status=400 error=invalid_request reason="Invalid request : Redirect URI mismatch.""#,
        "redirect_uri_mismatch",
    );
}

#[test]
fn plain_text_wrapper() {
    assert_rule(
        "Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ\"",
        "invalid_authorization_code",
    );
}

#[test]
fn http_client_exceptions() {
    // Guzzle
    assert_rule(
        r#"Client error: `POST https://zoom.us/oauth/token` resulted in a `400 Bad Request` response: {"reason":"Invalid client_id or client_secret","error":"invalid_client"}"#,
        "invalid_client",
    );
    // axios
    assert_rule(
        r#"AxiosError: Request failed with status code 400 at settle (zoom-auth.js:19) data: { reason: 'Code is expired', error: 'invalid_grant' }"#,
        "authorization_code_expired",
    );
    // Go golang.org/x/oauth2
    assert_rule(
        r#"zoom: oauth2: cannot fetch token: 400 Bad Request Response: {"reason":"The token has been revoked.","error":"invalid_grant"}"#,
        "token_revoked",
    );
    // Python requests
    assert_rule(
        "requests.exceptions.HTTPError: 400 Client Error: Bad Request for url: https://zoom.us/oauth/token?grant_type=account_credentials",
        "unclassified",
    );
}

#[test]
fn multi_line_records_count_once() {
    let pretty = "2024-05-01 ERROR zoom token refresh failed\n{\n  \"reason\": \"Invalid Token!\",\n  \"error\": \"invalid_grant\"\n}";
    assert_rule(pretty, "token_revoked");
    let trace = "Error: Error while refreshing zoom tokens: 400 (Bad Request)\n{\"reason\":\"Invalid authorization code abc\",\"error\":\"invalid_grant\"}\n    at refreshTokens (OAuthService.js:136:18)\n    at async authorize (start-meeting.js:41:14115)";
    assert_rule(trace, "invalid_authorization_code");
}

#[test]
fn explicit_codes_win() {
    assert_rule(
        r#"zoom oauth failed: {"errorCode":4733,"errorMessage":"something else entirely"}"#,
        "authorization_code_expired",
    );
    assert_rule(
        r#"zoom api: {"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write]."}"#,
        "refresh_token_invalid",
    );
    assert_rule(
        "Zoom: Invalid redirect: http://localhost:57000/oauth/callback (4,702)",
        "invalid_client",
    );
    // 4700 has three rows: the one whose words match, else its general row.
    assert_rule(
        r#"zoom {"errorCode":4700,"errorMessage":"Token cannot be empty."}"#,
        "token_empty",
    );
    assert_rule(
        r#"zoom {"errorCode":4700,"errorMessage":"Invalid redirect url"}"#,
        "unexpected_exception",
    );
    // A 47xx code that is in no row: the catch-all, not lost.
    assert_rule(
        r#"zoom {"errorCode":4799,"errorMessage":"new"}"#,
        "unclassified",
    );
}

#[test]
fn drifting_reason_texts() {
    for (reason, rule) in [
        ("Invalid client_id or client_secret", "invalid_client"),
        ("Invalid client secret", "invalid_client"),
        ("unsupported grant type", "unsupported_grant_type"),
        (
            "Grant type is not supported from token endpoint.",
            "unsupported_grant_type",
        ),
        (
            "Invalid request : Redirect URI mismatch.",
            "redirect_uri_mismatch",
        ),
        (
            "Invalid authorization code xyz123456789",
            "invalid_authorization_code",
        ),
        ("Code is expired", "authorization_code_expired"),
        ("Missing grant type", "grant_type_missing"),
        (
            "Client ID or client secret is missing.",
            "client_credentials_missing",
        ),
        (
            "The owner of the token does not exist.",
            "token_owner_missing",
        ),
        (
            "Can not find the authentication for the access token.",
            "token_authentication_not_found",
        ),
        ("The token is disabled by admin.", "token_disabled_by_admin"),
        (
            "The token ID is out of the token tolerance range.",
            "token_out_of_tolerance",
        ),
        ("The app has been disabled", "app_disabled"),
        (
            "Creating authorization code error.",
            "authorization_code_creation_failed",
        ),
    ] {
        for error in ["invalid_request", "invalid_grant", "invalid_client"] {
            assert_rule(
                &format!(r#"zoom token: {{"reason":"{reason}","error":"{error}"}}"#),
                rule,
            );
        }
    }
}

#[test]
fn lookalikes_do_not_count() {
    for record in [
        // Google
        r#"google.auth.exceptions.RefreshError: ('invalid_grant: Bad Request', {'error': 'invalid_grant', 'error_description': 'Bad Request'})"#,
        r#"Zoom sync: Google refresh failed {"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        r#"zoom-integration: {"error":"redirect_uri_mismatch","error_description":"Bad Request"}"#,
        // Microsoft, Okta, Auth0
        "zoom bot: AADSTS54005: OAuth2 Authorization code was already redeemed",
        r#"zoom-app okta POST https://dev-1.okta.com/oauth2/v1/token {"error":"invalid_grant","error_description":"The authorization code is invalid or has expired."}"#,
        r#"auth0: {"error":"invalid_grant","error_description":"Invalid authorization code"}"#,
        // Other services' "Invalid authorization code" (no Zoom marker)
        "Invalid authorization code",
        r#"ZohoOAuthException: Exception while fetching Access Token from grant token{"error":"invalid_code"}"#,
        // Zoom REST errors outside the OAuth table
        r#"zoom api GET https://api.zoom.us/v2/users/me 401 {"code":124,"message":"Invalid access token."}"#,
        r#"zoom: {"code":3001,"message":"Meeting does not exist: 81234567890."}"#,
        "2019-03-11 22:19:07,648 zoom_api:ERROR HTTP_STATUS: 401-Unauthorized, Not authenticated.",
        // Ordinary lines mentioning tokens
        "INFO refreshed zoom access token for account 42 expires_in=3599",
        "POST https://zoom.us/oauth/token 200 OK in 85ms",
        "GET /api/zoomapp/auth?code=3ZDQH98oh8J0YKDVCU6SY-E3rQ2m9T3Rg 400 1.282 ms - 1126",
    ] {
        assert_none(record);
    }
}

#[test]
fn a_zoom_only_source_needs_no_evidence() {
    let rules = RuleSet::embedded();
    // No evidence: a bare OAuth error could be any provider's.
    let record = r#"Error while refreshing tokens: 400 (Bad Request) {"error":"invalid_grant"}"#;
    assert_eq!(rule_of(&rules, record, None), None);
    assert_eq!(
        rule_of(&rules, record, Some("zoom")).as_deref(),
        Some("unclassified")
    );
    // A source declared for another provider never matches Zoom rules.
    let zoom = r#"{"reason":"Invalid Token!","error":"invalid_grant"}"#;
    assert_eq!(
        rule_of(&rules, &format!("zoom {zoom}"), Some("google")),
        None
    );
}

/// Zoom's own answers, as apps log them without ever saying "zoom": each must count with no
/// provider declared, on its table row.
#[test]
fn zoom_fingerprints_count_with_no_provider_declared() {
    for (record, want) in [
        // Token endpoint body, in every serialisation.
        (r#"{"reason":"Invalid Token!","error":"invalid_grant"}"#, "token_revoked"),
        (
            r#"{"level":"error","msg":"refresh failed","body":"{\"reason\":\"Invalid authorization code abc\",\"error\":\"invalid_grant\"}"}"#,
            "invalid_authorization_code",
        ),
        (
            "token endpoint said {'reason': 'Invalid Token!', 'error': 'invalid_grant’}",
            "token_revoked",
        ),
        (
            r#"=> {"reason"=>"Invalid client_id or client_secret", "error"=>"invalid_client"}"#,
            "invalid_client",
        ),
        (
            "Request failed with status code 400 { reason: 'unsupported grant type', error: 'unsupported_grant_type' }",
            "unsupported_grant_type",
        ),
        (
            r#"level=error status=400 error=invalid_request reason="Invalid request : Redirect URI mismatch.""#,
            "redirect_uri_mismatch",
        ),
        (
            "I get this error: {“reason”:“Invalid authorization code”,“error”:“invalid_grant”}.",
            "invalid_authorization_code",
        ),
        (
            "{\n    \"reason\": \"Invalid account_id\",\n    \"error\": \"invalid_request\"\n}",
            "unclassified",
        ),
        (
            r#"(401, {"reason": "Invalid client_id or client_secret"})"#,
            "invalid_client",
        ),
        // Authorize page body and consent page code.
        (
            r#"{"status":false,"errorCode":4702,"errorMessage":"Invalid client_id: abc","result":null}"#,
            "invalid_client",
        ),
        ("Invalid redirect: http://localhost:57000/oauth/callback (4,700)", "unexpected_exception"),
        ("No hemos podido completar su solicitud. (4.709)", "redirect_uri_mismatch"),
        // REST body with an OAuth table message, and Zoom-only messages.
        (
            r#"{"code":4711,"message":"Invalid access token, does not contain scopes:[user:read:admin]."}"#,
            "refresh_token_invalid",
        ),
        (
            "Connection failed: Invalid access token, does not contain scopes: [user:read:admin]",
            "refresh_token_invalid",
        ),
        // Hosts.
        (
            "400 Client Error: Bad Request for url: https://zoom.us/oauth/token?grant_type=account_credentials",
            "unclassified",
        ),
    ] {
        assert_rule(record, want);
    }
}

/// Lookalikes of Zoom's shapes: each is kept out, declared source or not.
#[test]
fn exclusions_keep_lookalikes_out() {
    let rules = RuleSet::embedded();
    for record in [
        // RFC 6749 body beside a Zoom-looking reason.
        r#"{"error":"invalid_grant","reason":"Invalid Token!","error_description":"expired"}"#,
        // Zoom webhook payload carrying a reason.
        r#"{"event":"meeting.participant_left","event_ts":1626230691572,"payload":{"object":{"reason":"Invalid Token!","error":"invalid_grant"}}}"#,
        // Zoom REST errors outside the OAuth table.
        r#"{"code":124,"message":"Invalid access token."}"#,
        r#"=> {"code"=>300, "message"=>"Invalid client_id or client_secret"}"#,
        r#"{"code":429,"message":"Too many requests. Invalid token!"}"#,
        // Successful token response.
        r#"{"access_token":"eyJhbGciOi","token_type":"bearer","refresh_token":"x","expires_in":3599,"scope":"meeting:read","reason":"Invalid Token!"}"#,
    ] {
        for provider in [None, Some("zoom")] {
            assert_eq!(rule_of(&rules, record, provider), None, "record: {record}");
        }
    }
    for record in [
        // HTML showing (4,709) as a count, and ordinary numbers.
        r#"<span class="count">(4,709)</span> invalid_grant"#,
        "Search returned (4,709) results; invalid_request",
        "job 4711 failed: invalid_grant after 4700 ms",
        // Ordinary lines mentioning tokens, other providers' errors.
        "Refresh token, report error: {\"error\": \"invalid_grant\"}",
        "INFO refreshed access token for account 42",
        "Error: The authorization code is invalid or has expired.",
        r#"{"reason":"No Permission","error_code":"The error code number"}"#,
    ] {
        assert_eq!(rule_of(&rules, record, None), None, "record: {record}");
    }
}

/// A NUL inside a line (a padding writer, a broken encoder) is matched as a space: it does not
/// split a phrase and send the failure to the catch-all. The reason is cut from the record.
#[test]
fn nul_inside_a_line_is_matched_as_a_space() {
    let rules = RuleSet::embedded();
    let record =
        b"zoom {\"reason\":\"Invalid\0authorization code abc\",\"error\":\"invalid_grant\"}";
    let c = rules
        .classify(record, &MatchContext::default())
        .expect("classified");
    assert_eq!(rules.rules()[c.rule].id, "invalid_authorization_code");
    assert_eq!(c.reason, Some(&b"Invalid\0authorization code abc"[..]));
    // With no marker either: the NUL-split phrase is still the table message.
    let record = b"{\"reason\":\"Invalid\0Token!\",\"error\":\"invalid_grant\"}";
    let c = rules.classify(record, &MatchContext::default()).unwrap();
    assert_eq!(rules.rules()[c.rule].id, "token_revoked");
    let record = b"Invalid client_id: abc (4,\x00702)";
    assert_eq!(rules.classify(record, &MatchContext::default()), None);
}

#[test]
fn classify_all_names_the_evidence_or_the_exclusion() {
    let rules = RuleSet::embedded();
    let ctx = MatchContext::default();
    let why = rules.explain(
        br#"{"reason":"Invalid Token!","error":"invalid_grant"}"#,
        &ctx,
    );
    assert!(why.contains("evidence `token_endpoint_body`"), "{why}");
    let why = rules.explain(b"Invalid redirect: http://x/cb (4,700)", &ctx);
    assert!(why.contains("evidence `consent_page_code`"), "{why}");
    let why = rules.explain(br#"{"code":124,"message":"Invalid access token."}"#, &ctx);
    assert!(
        why.contains("excluded by `rest_error_outside_table`"),
        "{why}"
    );
    let why = rules.explain(br#"{"error":"invalid_grant"}"#, &ctx);
    assert!(why.contains("no `zoom` evidence"), "{why}");
    let why = rules.explain(br#"<b>(4,709)</b> invalid_grant"#, &ctx);
    assert!(
        why.contains("`consent_page_code` has the shape but is a known lookalike"),
        "{why}"
    );
}

#[test]
fn invalid_utf8_and_huge_records_are_handled() {
    let rules = RuleSet::embedded();
    let mut rec =
        b"zoom \xff\xfe {\"reason\":\"Invalid Token!\",\"error\":\"invalid_grant\"} \xc3".to_vec();
    let c = rules.classify(&rec, &MatchContext::default()).unwrap();
    assert_eq!(rules.rules()[c.rule].id, "token_revoked");
    rec.extend(std::iter::repeat_n(b'x', 8 << 20));
    assert!(rules.classify(&rec, &MatchContext::default()).is_some());
    assert!(redact_record(&rec).len() < 4096);
}

#[test]
fn classify_is_shared_across_threads() {
    let rules = std::sync::Arc::new(RuleSet::embedded());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let rules = rules.clone();
            std::thread::spawn(move || {
                rules
                    .classify(
                        br#"zoom {"reason":"Code is expired","error":"invalid_grant"}"#,
                        &MatchContext::default(),
                    )
                    .map(|c| c.rule)
            })
        })
        .collect();
    let want = rules.find("authorization_code_expired");
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

#[test]
fn redaction_of_excerpts() {
    let out = redact_record(
        br#"zoom POST /oauth/token code=ibcgiRImMi_PatCmZLwQxKCZOUJsBwojQ&code_verifier=abc123def456ghi789 Authorization: Basic Y2xpZW50OnNlY3JldA== {"reason":"Invalid authorization code jH8sFKaViM_RSTLNTS-Tk-_mCVkEdZpAQ","error":"invalid_grant"}"#,
    );
    for secret in [
        "ibcgiRImMi",
        "abc123def456",
        "Y2xpZW50OnNlY3JldA",
        "jH8sFKaViM",
    ] {
        assert!(!out.contains(secret), "{secret} leaked in {out}");
    }
    assert!(out.contains("invalid_grant"));
}

// ---------------------------------------------------------------- rule-file loading

const GOOD: &str = r#"
provider = "acme"
markers = ["acme"]
[[rules]]
id = "bad_code"
codes = ["E1"]
message = "Bad code"
description = "d"
severity = "warning"
alert = { count = 2, window = "5m" }
patterns = ['bad code']
summary = "s"
remediation = "r"
[rules.examples]
match = ["acme: bad code"]
no_match = ["other: bad code"]
"#;

#[test]
fn another_provider_file_loads_without_code_changes() {
    let rules = RuleSet::from_toml(GOOD, "acme.toml").unwrap();
    assert_eq!(rules.rules()[0].provider, "acme");
    assert_eq!(rules.rules()[0].alert.count, 2);
    assert_eq!(
        rule_of(&rules, "acme says: BAD CODE", None).as_deref(),
        Some("bad_code")
    );
}

#[test]
fn every_problem_is_reported_with_file_line_column() {
    let bad = GOOD
        .replace("severity = \"warning\"", "severity = \"loud\"\nsevrity = 1")
        .replace("window = \"5m\"", "window = \"5 parsecs\"")
        .replace("patterns = ['bad code']", "patterns = ['bad (code', '.*x']")
        + r#"
[[rules]]
id = "bad_code"
codes = []
message = "m"
description = "d"
severity = "info"
alert = { count = 1, window = "1m" }
patterns = ['acme failed']
summary = "s"
remediation = "r"
[rules.examples]
match = ["acme: something else"]
"#;
    let err = RuleSet::from_toml(&bad, "acme.toml").unwrap_err();
    let text = err.to_string();
    for want in [
        "acme.toml:9:12: rules[0].severity: unknown severity `loud`",
        "acme.toml:10:1: rules[0].sevrity: unknown key",
        "acme.toml:11:31: rules[0].alert.window: invalid duration `5 parsecs`",
        "acme.toml:12:13: rules[0].patterns[0]: invalid regex",
        "acme.toml:12:26: rules[0].patterns[1]: pattern `.*x` does not start with a literal",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // A rule id used twice in one file.
    let dup = format!("{GOOD}\n{}", &GOOD[GOOD.find("[[rules]]").unwrap()..]);
    let text = RuleSet::from_toml(&dup, "acme.toml")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            "acme.toml:19:6: rules[1].id: duplicate rule id `bad_code` (first defined on line 5)"
        ),
        "{text}"
    );
}

#[test]
fn evidence_and_exclusions_are_validated_with_file_line_column() {
    let bad = GOOD.replace(
        "markers = [\"acme\"]\n",
        "[[evidence]]\nname = \"Bad Name\"\nabout = \"x\"\npatterns = ['.*acme']\n\
         [[evidence]]\nname = \"body\"\nabout = \"x\"\npatterns = ['acme_error']\n\
         examples = { match = ['nothing here'], no_match = ['acme_error here'] }\n\
         [[exclusions]]\nname = \"other\"\nabout = \"x\"\nliterals = ['ab']\npatterns = ['(x']\n",
    );
    let text = RuleSet::from_toml(&bad, "acme.toml")
        .unwrap_err()
        .to_string();
    for want in [
        "acme.toml:4:8: evidence[0].name: name `Bad Name` must be snake_case",
        "acme.toml:6:13: evidence[0].patterns[0]: pattern `.*acme` does not start with a literal",
        "acme.toml:15:13: exclusions[0].literals[0]: `ab` is shorter than 3 characters",
        "acme.toml:16:13: exclusions[0].patterns[0]: invalid regex",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // Another provider's file declares its own evidence and exclusions: no code changes.
    let acme = GOOD
        .replace(
            "markers = [\"acme\"]\n",
            "[[evidence]]\nname = \"acme_body\"\nabout = \"Acme's error body\"\n\
         patterns = ['acme_error=']\n\
         [[exclusions]]\nname = \"acme_test\"\nabout = \"test traffic\"\nliterals = ['sandbox']\n",
        )
        .replace(
            "match = [\"acme: bad code\"]",
            "match = [\"acme_error=1 bad code\"]",
        );
    let rules = RuleSet::from_toml(&acme, "acme.toml").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        rule_of(&rules, "acme_error=7 Bad Code", None).as_deref(),
        Some("bad_code")
    );
    assert_eq!(rule_of(&rules, "acme: bad code", None), None, "no evidence");
    assert_eq!(rule_of(&rules, "sandbox acme_error=7 bad code", None), None);
    // Evidence examples are checked where they are written.
    let bad = acme.replace(
        "patterns = ['acme_error=']\n",
        "patterns = ['acme_error=']\nexamples = { match = ['nothing here'], no_match = ['acme_error=2'] }\n",
    );
    let text = RuleSet::from_toml(&bad, "acme.toml")
        .unwrap_err()
        .to_string();
    for want in [
        "acme.toml:7:23: evidence[acme_body].examples.match[0]: example does not show evidence `acme_body`",
        "acme.toml:7:52: evidence[acme_body].examples.no_match[0]: lookalike shows evidence `acme_body`",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}

#[test]
fn failing_examples_are_reported_where_they_are_written() {
    let bad = GOOD.replace(
        "match = [\"acme: bad code\"]",
        "match = [\"acme: good code\"]",
    );
    let bad = bad.replace(
        "no_match = [\"other: bad code\"]",
        "no_match = [\"acme: bad code here\"]",
    );
    let text = RuleSet::from_toml(&bad, "acme.toml")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("acme.toml:15:10: rules[0].examples.match[0]: example must classify as `bad_code` but classifies as no rule"),
        "{text}"
    );
    assert!(
        text.contains("acme.toml:16:13: rules[0].examples.no_match[0]: lookalike must not match any rule but classifies as `bad_code`"),
        "{text}"
    );
}

#[test]
fn ids_duplicated_across_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, GOOD).unwrap();
    std::fs::write(&b, GOOD.replace("acme", "bcme")).unwrap();
    let err = RuleSet::load(&[a.as_path(), b.as_path()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("b.toml:5:6: rules[0].id: duplicate rule id `bad_code`"),
        "{err}"
    );
    let missing = dir.path().join("missing.toml");
    let err = RuleSet::load(&[missing.as_path()]).unwrap_err();
    assert!(err.to_string().contains("cannot read rule file"), "{err}");
}

/// A rule's patterns are each within the regex size limit, but joined into one alternation
/// they would not be: each is compiled alone and never joined, so the file loads and every
/// pattern still classifies (once, a joined compile made this a diagnostic, and before that a
/// panic).
#[test]
fn many_large_patterns_in_one_rule_load_and_each_matches() {
    let many = (0..40)
        .map(|i| format!("'bad code(?: {i}\\w{{40}})?'"))
        .collect::<Vec<_>>()
        .join(", ");
    let big = GOOD.replace("patterns = ['bad code']", &format!("patterns = [{many}]"));
    let rules = RuleSet::from_toml(&big, "acme.toml").unwrap_or_else(|d| panic!("{d}"));
    let long = format!("acme: bad code 39{}", "x".repeat(40));
    assert_eq!(rule_of(&rules, &long, None).as_deref(), Some("bad_code"));
    assert_eq!(
        rule_of(&rules, "acme: bad code", None).as_deref(),
        Some("bad_code")
    );
    assert_eq!(rule_of(&rules, "acme: good code", None), None);
}

/// Patterns are compiled on first use, but one over the regex size limit is still a load-time
/// error at its file:line:column (its size is bounded from the parse, and a pattern the bound
/// cannot clear is compiled at load), for a rule pattern and for an `unless` check alike.
#[test]
fn a_pattern_over_the_size_limit_is_reported_at_load() {
    let huge = GOOD.replace(
        "patterns = ['bad code']",
        "patterns = ['bad code', 'bad code\\w{0,3000}x']",
    );
    let err = RuleSet::from_toml(&huge, "acme.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acme.toml:11:25: rules[0].patterns[1]: invalid regex")
            && err.contains("size limit"),
        "{err}"
    );
    let huge = format!(
        "{GOOD}[[exclusions]]\nname = \"big\"\nabout = \"a\"\nliterals = [\"zzz\"]\n\
         unless = ['ok\\w{{0,3000}}x']\n"
    );
    let err = RuleSet::from_toml(&huge, "acme.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acme.toml:21:11: exclusions[0].unless[0]: invalid regex")
            && err.contains("size limit"),
        "{err}"
    );
}
