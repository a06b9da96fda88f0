//! HTTP basic authentication against bcrypt password hashes, as in the Prometheus
//! exporter-toolkit web config (`basic_auth_users: user → bcrypt hash`).
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10) and Prometheus scrapes every few
//! seconds, so successful verifications are cached. The cache key is an HMAC-SHA256 of the
//! credentials under a key drawn at start-up, never the plaintext: a memory dump does not
//! reveal passwords, and a key cannot be brute-forced offline without the process key.
//! Failed attempts are never cached; they run bcrypt every time, on a bounded number of
//! blocking threads, so password guessing costs the attacker time and cannot starve the
//! runtime. Unknown user names cost a bcrypt run too, so timing does not reveal which users
//! exist. Nothing here logs a user name, password or header value.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use hyper::header::HeaderValue;
use ring::hmac;
use tokio::sync::Semaphore;

use super::ServeError;

/// Cached successful logins at most; only valid credentials are cached, so this is only ever
/// reached by many users.
const CACHE_CAPACITY: usize = 1024;

/// Longest password bcrypt uses, in bytes. bcrypt ignores everything after the 72nd byte, so
/// a longer password would be accepted with any ending; such passwords are always refused.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// The realm in `WWW-Authenticate`.
pub const CHALLENGE: &str = "Basic realm=\"oauthwatch\"";

/// The configured users and the verification cache.
pub struct BasicAuth {
    /// User name → bcrypt hash.
    users: BTreeMap<String, String>,
    /// Hash verified for unknown users (result discarded), to equalise timing.
    decoy_hash: String,
    /// HMAC key for cache entries; random per process.
    key: hmac::Key,
    /// HMACs of credentials that verified.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// Concurrent bcrypt runs (one per core): a flood of bad passwords queues here.
    bcrypt_slots: Arc<Semaphore>,
    /// bcrypt runs so far (cache misses), read by the tests of the cache.
    bcrypt_runs: AtomicU64,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Build from the config's users; `Ok(None)` when no users are configured (no auth).
    /// Every hash is parsed up front so a typo fails at start-up, not at the first scrape.
    pub fn new(users: &BTreeMap<String, String>) -> Result<Option<BasicAuth>, ServeError> {
        let Some(decoy_hash) = users.values().next().cloned() else {
            return Ok(None);
        };
        for (user, hash) in users {
            if let Err(e) = bcrypt::HashParts::from_str(hash) {
                return Err(ServeError::BasicAuthHash {
                    user: user.clone(),
                    reason: hash_problem(&e),
                });
            }
        }
        let rng = ring::rand::SystemRandom::new();
        let key =
            hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| ServeError::NoRandomness)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Some(BasicAuth {
            users: users.clone(),
            decoy_hash,
            key,
            verified: Mutex::new(HashSet::new()),
            bcrypt_slots: Arc::new(Semaphore::new(cores)),
            bcrypt_runs: AtomicU64::new(0),
        }))
    }

    /// True when `authorization` carries valid basic credentials for a configured user.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        if password.len() > MAX_PASSWORD_BYTES {
            tracing::debug!(
                max_bytes = MAX_PASSWORD_BYTES,
                "basic auth password longer than bcrypt can check; refused"
            );
            return false;
        }
        let tag = self.cache_key(&user, &password);
        if self.cache().contains(&tag) {
            return true;
        }
        let (hash, known) = match std::str::from_utf8(&user)
            .ok()
            .and_then(|u| self.users.get(u))
        {
            Some(h) => (h.clone(), true),
            None => (self.decoy_hash.clone(), false),
        };
        let Ok(_slot) = self.bcrypt_slots.clone().acquire_owned().await else {
            return false;
        };
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = matched && known;
        if ok {
            let mut cache = self.cache();
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(tag);
        }
        ok
    }

    /// bcrypt verifications run so far (cache misses); tests check the cache with it.
    #[cfg(test)]
    fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// HMAC over an unambiguous encoding of the pair (user length first, since both parts
    /// are arbitrary bytes).
    fn cache_key(&self, user: &[u8], password: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user);
        ctx.update(password);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

/// What is wrong with a hash, without repeating it (a hash is still worth cracking offline,
/// and errors end up in logs).
fn hash_problem(e: &bcrypt::BcryptError) -> String {
    match e {
        bcrypt::BcryptError::InvalidCost(_) | bcrypt::BcryptError::CostNotAllowed(_) => {
            "its cost is not a number from 4 to 31".into()
        }
        bcrypt::BcryptError::InvalidPrefix(_) => {
            "its prefix is not `$2a$`, `$2b$`, `$2x$` or `$2y$`".into()
        }
        _ => "expected 60 characters like `$2y$10$` + 53 characters of salt and hash".into(),
    }
}

/// Split `Basic base64(user:password)` into its parts; `None` if it is anything else.
fn parse_basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.as_bytes();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    fn auth() -> BasicAuth {
        let mut users = BTreeMap::new();
        users.insert(
            "prometheus".to_string(),
            bcrypt::hash("s3cret:x", 4).unwrap(),
        );
        users.insert("grafana".to_string(), bcrypt::hash("other", 4).unwrap());
        BasicAuth::new(&users).unwrap().unwrap()
    }

    #[test]
    fn parses_basic_credentials_only() {
        assert_eq!(
            parse_basic(&header("u", "p:w")),
            Some((b"u".to_vec(), b"p:w".to_vec()))
        );
        assert_eq!(
            parse_basic(&HeaderValue::from_static("basic dTpw")),
            Some((b"u".to_vec(), b"p".to_vec()))
        );
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer abc")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!!")), None);
        // "nocolon" has no separator.
        assert_eq!(
            parse_basic(&HeaderValue::from_static("Basic bm9jb2xvbg==")),
            None
        );
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic")), None);
    }

    #[tokio::test]
    async fn right_password_allowed_wrong_ones_refused() {
        let auth = auth();
        assert!(auth.allows(Some(&header("prometheus", "s3cret:x"))).await);
        assert!(auth.allows(Some(&header("grafana", "other"))).await);
        assert!(!auth.allows(Some(&header("prometheus", "s3cret"))).await);
        assert!(!auth.allows(Some(&header("grafana", "s3cret:x"))).await);
        assert!(!auth.allows(Some(&header("nobody", "s3cret:x"))).await);
        assert!(!auth.allows(None).await);
    }

    #[tokio::test]
    async fn passwords_longer_than_72_bytes_are_refused_not_truncated() {
        let long = "p".repeat(MAX_PASSWORD_BYTES);
        let mut users = BTreeMap::new();
        users.insert("ops".to_string(), bcrypt::hash(&long, 4).unwrap());
        let auth = BasicAuth::new(&users).unwrap().unwrap();
        assert!(auth.allows(Some(&header("ops", &long))).await);
        // bcrypt alone would accept this: it differs only after byte 72.
        let longer = format!("{long}-anything");
        assert!(bcrypt::verify(&longer, &users["ops"]).unwrap());
        assert!(!auth.allows(Some(&header("ops", &longer))).await);
    }

    #[tokio::test]
    async fn successes_are_cached_failures_are_not() {
        let auth = auth();
        let good = header("prometheus", "s3cret:x");
        assert!(auth.allows(Some(&good)).await);
        assert_eq!(auth.bcrypt_runs(), 1);
        for _ in 0..5 {
            assert!(auth.allows(Some(&good)).await);
        }
        assert_eq!(auth.bcrypt_runs(), 1, "cache hits must not run bcrypt");
        let bad = header("prometheus", "guess");
        assert!(!auth.allows(Some(&bad)).await);
        assert!(!auth.allows(Some(&bad)).await);
        assert_eq!(auth.bcrypt_runs(), 3, "failures are verified every time");
        // Unknown users cost a bcrypt run too (no timing oracle for user names).
        assert!(!auth.allows(Some(&header("mallory", "x"))).await);
        assert_eq!(auth.bcrypt_runs(), 4);
    }

    #[test]
    fn cache_keys_hold_no_plaintext_and_separate_user_from_password() {
        let auth = auth();
        let k = auth.cache_key(b"prometheus", b"s3cret:x");
        assert_ne!(k, auth.cache_key(b"prometheus", b"s3cret:y"));
        assert_ne!(auth.cache_key(b"ab", b"c"), auth.cache_key(b"a", b"bc"));
        assert!(!k.windows(6).any(|w| w == b"s3cret"));
    }

    #[test]
    fn no_users_means_no_auth_and_bad_hashes_fail_at_start() {
        assert!(BasicAuth::new(&BTreeMap::new()).unwrap().is_none());
        let mut users = BTreeMap::new();
        users.insert("ops".to_string(), "$2y$10$tooshort".to_string());
        let err = BasicAuth::new(&users).unwrap_err().to_string();
        assert!(err.contains("`ops`"), "{err}");
    }
}
