//! `config.toml`: the daemon's configuration, parsed strictly and validated in full.
//!
//! Loading is two steps, as in ripgrep and ntpd-rs: the raw TOML is read field by field with
//! [`crate::tomldoc`], which records a `file:line:column: field: message` diagnostic for every unknown
//! key, wrong type and bad value; then cross-field checks run (duplicate source names, globs).
//! Only when no problem was found is a [`Config`] returned. Relative paths in the file are
//! resolved against the config file's directory, so a config works from any working directory.
//!
//! `config` builds each component's own option type ([`SourceSpec`], [`ReadLimits`],
//! [`HttpOptions`]) and validates every value with the one function the component itself
//! uses; [`overlay`] applies the command-line flags of `run` on top.

mod overlay;
pub(crate) mod watch;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::diag::{Diagnostic, Diagnostics};
pub use crate::exporter::{HttpOptions, TlsFiles};
use crate::framing::Format;
pub use crate::sources::ReadLimits;
use crate::sources::{compile_glob, SourceSpec, SourcesOptions, StartAt};
use crate::tomldoc::{Table, TomlDocument};
pub use overlay::{flag_error, resolve, Overlay};

/// The default HTTP listen address: loopback only, port 9742.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9742";

/// Log output format of the daemon itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl LogFormat {
    /// Parse `text` or `json`.
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from; `None` when built from flags only.
    pub path: Option<PathBuf>,
    /// HTTP listen address.
    pub listen: ListenAddr,
    /// Directory for checkpoints.
    pub state_dir: PathBuf,
    /// Log level or `tracing` filter.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Rule files; empty = the embedded Zoom rules.
    pub rules: Vec<PathBuf>,
    /// Reload when the config or rule files change on disk.
    pub watch_config: bool,
    /// How often acknowledged offsets are checkpointed.
    pub checkpoint_interval: Duration,
    /// Fallback stat polling period (NFS, lost inotify events).
    pub poll_interval: Duration,
    /// What the sources read and hold (the `[limits]` keys they use).
    pub limits: ReadLimits,
    /// Batches held in the queue between sources and the classifier (`limits.queue_capacity`).
    pub queue_capacity: usize,
    /// HTTP endpoint settings.
    pub http: HttpOptions,
    /// Cap on per-pod label sets (`oauthwatch_pod_errors_total`).
    pub max_pod_series: usize,
    /// How long a deleted pod's per-pod series stay after its logs are drained, so
    /// Prometheus scrapes their final value before they retire.
    pub pod_series_grace: Duration,
    /// The sources.
    pub sources: Vec<SourceSpec>,
    /// Where each source's `provider` was set, so a provider no rule file declares can be
    /// reported at its line ([`Config::unknown_providers`]).
    pub provider_sites: Vec<ProviderSite>,
}

/// Where a source's `provider` was written: a config line or the `--provider` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSite {
    /// The source it applies to.
    pub source: String,
    /// The provider named.
    pub provider: String,
    /// File (or `<command line>`), line, column and field, with an empty message.
    pub place: Diagnostic,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: None,
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address is valid"),
            state_dir: PathBuf::from("state"),
            log_level: "info".to_string(),
            log_format: LogFormat::Text,
            rules: Vec::new(),
            watch_config: true,
            checkpoint_interval: Duration::from_secs(5),
            poll_interval: Duration::from_secs(10),
            limits: ReadLimits::default(),
            queue_capacity: 64,
            http: HttpOptions::default(),
            max_pod_series: 500,
            pod_series_grace: Duration::from_secs(300),
            sources: Vec::new(),
            provider_sites: Vec::new(),
        }
    }
}

impl Config {
    /// Read, parse and validate a config file; every problem is reported.
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::whole_file(&shown, format!("cannot read config: {e}")))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut cfg = Config::parse(&text, &shown, &base)?;
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parse and validate config text; relative paths resolve against `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, Diagnostics> {
        let mut src = TomlDocument::new(file, text);
        let Some(doc) = src.parse() else {
            return Err(src.diags);
        };
        let mut cfg = Config::default();
        let mut root = Table::new(&doc, "", 0);
        read_root(&mut root, &mut src, &mut cfg, base);
        root.finish(&mut src);
        src.diags.sort_by_place();
        src.diags.into_result(cfg)
    }

    /// A problem for every source whose `provider` no loaded rule file declares (`known`):
    /// such a source would silently count nothing, so it is an error in `check` and at start.
    pub fn unknown_providers<'a>(&self, known: impl IntoIterator<Item = &'a str>) -> Diagnostics {
        let known: Vec<&str> = known.into_iter().collect();
        let mut diags = Diagnostics::default();
        for site in &self.provider_sites {
            if known.contains(&site.provider.as_str()) {
                continue;
            }
            let mut d = site.place.clone();
            d.message = format!(
                "source `{}`: no loaded rule file declares provider `{}` (declared: {}); \
                 with it nothing from this source would be counted",
                site.source,
                site.provider,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            diags.push(d);
        }
        diags
    }

    /// The options every source of the daemon starts with.
    /// The sources' options (without a candidate search: the daemon adds its rules').
    pub fn sources_options(&self) -> SourcesOptions {
        SourcesOptions {
            state_dir: self.state_dir.clone(),
            checkpoint_interval: self.checkpoint_interval,
            poll_interval: self.poll_interval,
            limits: self.limits.clone(),
            candidates: None,
        }
    }

    /// All rule files named by the config, for reload watching and `check`.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.path.iter().cloned().collect();
        v.extend(self.rules.iter().cloned());
        v
    }
}

/// The HTTP listen address: an IP socket address (`127.0.0.1:9742`, `[::]:9742`) or a host
/// name with a port (`localhost:9742`), which is resolved when the daemon binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr(String);

impl ListenAddr {
    /// The address as given (what `bind` resolves).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The address as written, for string use (its host and port).
impl std::ops::Deref for ListenAddr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    /// The one check of `listen` and `--listen`; the error is the message for the user.
    fn from_str(addr: &str) -> Result<ListenAddr, String> {
        check_listen(addr).map(|()| ListenAddr(addr.to_string()))
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> ListenAddr {
        ListenAddr(a.to_string())
    }
}

/// Check a listen address (see [`ListenAddr`]). Returns the message for the user when it is
/// neither an IP socket address nor a host name with a port.
fn check_listen(addr: &str) -> Result<(), String> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || {
        format!("`{addr}` is not an address like `127.0.0.1:9742`, `[::]:9742` or `localhost:9742`")
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "`{addr}`: the port `{port}` is not a number from 0 to 65535"
        ));
    }
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Check a log level or `tracing` filter (`log_level` and `--log-level`); the error is the
/// message for the user.
pub fn check_log_level(level: &str) -> Result<(), String> {
    match tracing_subscriber::EnvFilter::try_new(level) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "`{level}` is not a level (error, warn, info, debug, trace) or filter"
        )),
    }
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() || base.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn resolve_glob(base: &Path, g: &str) -> String {
    if Path::new(g).is_absolute() || base.as_os_str().is_empty() {
        g.to_string()
    } else {
        base.join(g).to_string_lossy().into_owned()
    }
}

fn read_root(root: &mut Table<'_, '_>, src: &mut TomlDocument<'_>, cfg: &mut Config, base: &Path) {
    if let Some((listen, at)) = root.string(src, "listen") {
        match listen.parse() {
            Ok(addr) => cfg.listen = addr,
            Err(message) => src.error(at, Some("listen"), message),
        }
    }
    if let Some((dir, _)) = root.string(src, "state_dir") {
        cfg.state_dir = resolve_path(base, &dir);
    }
    if let Some((level, at)) = root.string(src, "log_level") {
        if let Err(message) = check_log_level(&level) {
            src.error(at, Some("log_level"), message);
        }
        cfg.log_level = level;
    }
    if let Some((fmt, at)) = root.string(src, "log_format") {
        match LogFormat::parse(&fmt) {
            Some(f) => cfg.log_format = f,
            None => src.error(
                at,
                Some("log_format"),
                format!("unknown log format `{fmt}`; use `text` or `json`"),
            ),
        }
    }
    if let Some(rules) = root.strings(src, "rules") {
        cfg.rules = rules.iter().map(|(r, _)| resolve_path(base, r)).collect();
    }
    if let Some(w) = root.boolean(src, "watch_config") {
        cfg.watch_config = w;
    }
    if let Some(d) = root.duration(src, "checkpoint_interval", Duration::from_millis(100)) {
        cfg.checkpoint_interval = d;
    }
    if let Some(d) = root.duration(src, "poll_interval", Duration::from_millis(100)) {
        cfg.poll_interval = d;
    }
    if let Some(mut t) = root.table(src, "limits") {
        read_limits(&mut t, src, cfg);
        t.finish(src);
    }
    if let Some(mut t) = root.table(src, "http") {
        read_http(&mut t, src, &mut cfg.http, base);
        t.finish(src);
    }
    if let Some(mut t) = root.table(src, "kubernetes") {
        if let Some(n) = t.integer(src, "max_pod_series", 0, 1_000_000) {
            cfg.max_pod_series = n as usize;
        }
        if let Some(d) = t.duration(src, "pod_series_grace", Duration::ZERO) {
            cfg.pod_series_grace = d;
        }
        t.finish(src);
    }
    let mut names = BTreeSet::new();
    for mut t in root.tables(src, "sources") {
        if let Some(spec) = read_source(&mut t, src, base, &mut names) {
            if let (Some(provider), Some(value)) = (&spec.provider, t.raw("provider")) {
                cfg.provider_sites.push(ProviderSite {
                    source: spec.name.clone(),
                    provider: provider.clone(),
                    place: Diagnostic::at_offset(
                        &src.file,
                        src.text,
                        value.span().start,
                        Some(t.field("provider")),
                        "",
                    ),
                });
            }
            cfg.sources.push(spec);
        }
        t.finish(src);
    }
}

fn read_limits(t: &mut Table<'_, '_>, src: &mut TomlDocument<'_>, cfg: &mut Config) {
    if let Some(n) = t.integer(src, "max_line_bytes", 256, 1 << 30) {
        cfg.limits.framing.max_line_bytes = n as usize;
    }
    if let Some(n) = t.integer(src, "max_record_lines", 1, 100_000) {
        cfg.limits.framing.max_record_lines = n as usize;
    }
    if let Some(d) = t.duration(src, "multiline_timeout", Duration::from_millis(1)) {
        cfg.limits.framing.multiline_timeout = d;
    }
    if let Some(d) = t.duration(src, "partial_line_timeout", Duration::from_millis(1)) {
        cfg.limits.framing.partial_line_timeout = d;
    }
    if let Some(n) = t.integer(src, "queue_capacity", 1, 1 << 20) {
        cfg.queue_capacity = n as usize;
    }
    if let Some(n) = t.integer(src, "queue_bytes", 4096, 1 << 30) {
        cfg.limits.queue_bytes = n as usize;
    }
    if let Some(n) = t.integer(src, "read_chunk_bytes", 4096, 1 << 30) {
        cfg.limits.read_chunk_bytes = n as usize;
    }
    if let Some(n) = t.integer(src, "max_open_files", 1, 1 << 20) {
        cfg.limits.max_open_files = n as usize;
    }
    if let Some(d) = t.duration(src, "rotated_file_grace", Duration::ZERO) {
        cfg.limits.rotated_file_grace = d;
    }
}

fn read_http(t: &mut Table<'_, '_>, src: &mut TomlDocument<'_>, h: &mut HttpOptions, base: &Path) {
    if let Some(n) = t.integer(src, "max_connections", 1, 1 << 16) {
        h.max_connections = n as usize;
    }
    if let Some(d) = t.duration(src, "first_byte_timeout", Duration::from_millis(10)) {
        h.first_byte_timeout = d;
    }
    if let Some(d) = t.duration(src, "header_read_timeout", Duration::from_millis(10)) {
        h.header_read_timeout = d;
    }
    if let Some(d) = t.duration(src, "idle_timeout", Duration::from_millis(10)) {
        h.idle_timeout = d;
    }
    if let Some(n) = t.integer(src, "max_header_bytes", 1024, 1 << 20) {
        h.max_header_bytes = n as usize;
    }
    if let Some(mut tls) = t.table(src, "tls") {
        let cert = tls.string(src, "cert_file");
        let key = tls.string(src, "key_file");
        match (cert, key) {
            (Some((c, _)), Some((k, _))) => {
                h.tls = Some(TlsFiles {
                    cert_file: resolve_path(base, &c),
                    key_file: resolve_path(base, &k),
                })
            }
            _ => src.error(
                tls.offset(),
                Some(&t.field("tls")),
                "both `cert_file` and `key_file` are required for TLS",
            ),
        }
        tls.finish(src);
    }
    if let Some(users) = t.table(src, "basic_auth_users") {
        for (user, hash) in users.string_map(src) {
            if !hash.starts_with("$2") {
                src.error(
                    users.offset(),
                    Some(&format!("{}.{user}", users.field("").trim_end_matches('.'))),
                    "expected a bcrypt hash (`$2y$…`); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                );
            }
            h.basic_auth_users.insert(user, hash);
        }
    }
}

/// A source name becomes a label value: keep it to a safe, bounded alphabet.
fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn read_source(
    t: &mut Table<'_, '_>,
    src: &mut TomlDocument<'_>,
    base: &Path,
    names: &mut BTreeSet<String>,
) -> Option<SourceSpec> {
    let mut ok = true;
    let name = match t.string(src, "name") {
        Some((name, at)) => {
            if !valid_source_name(&name) {
                src.error(
                    at,
                    Some(&t.field("name")),
                    format!("source name `{name}` must be 1-64 characters of letters, digits, `_`, `-`, `.`"),
                );
                ok = false;
            } else if !names.insert(name.clone()) {
                src.error(
                    at,
                    Some(&t.field("name")),
                    format!(
                        "duplicate source name `{name}`; each source needs its own `source` label"
                    ),
                );
                ok = false;
            }
            name
        }
        None => {
            src.error(
                t.offset(),
                Some(&t.field("name")),
                "missing required `name`",
            );
            ok = false;
            String::new()
        }
    };
    let stdin = t.boolean(src, "stdin").unwrap_or(false);
    let mut paths = Vec::new();
    for (g, at) in t.strings(src, "paths").unwrap_or_default() {
        if let Err(e) = compile_glob(&g) {
            src.error(at, Some(&t.field("paths")), format!("bad glob `{g}`: {e}"));
            ok = false;
        }
        paths.push(resolve_glob(base, &g));
    }
    let mut exclude = Vec::new();
    for (g, at) in t.strings(src, "exclude").unwrap_or_default() {
        if let Err(e) = compile_glob(&g) {
            src.error(
                at,
                Some(&t.field("exclude")),
                format!("bad glob `{g}`: {e}"),
            );
            ok = false;
        }
        // A bare name pattern (`*.gz`) matches file names anywhere; one with a directory part
        // is a path, resolved like `paths`.
        exclude.push(if g.contains('/') {
            resolve_glob(base, &g)
        } else {
            g
        });
    }
    if paths.is_empty() && !stdin {
        src.error(
            t.offset(),
            Some(&t.field("paths")),
            "a source needs at least one path glob (or `stdin = true`)",
        );
        ok = false;
    }
    let mut format = Format::Auto;
    if let Some((f, at)) = t.string(src, "format") {
        match Format::parse(&f) {
            Some(v) => format = v,
            None => {
                src.error(
                    at,
                    Some(&t.field("format")),
                    format!("unknown format `{f}`; use auto, plain, json, cri or docker"),
                );
                ok = false;
            }
        }
    }
    let provider = match t.string(src, "provider") {
        Some((p, at)) => {
            if !valid_source_name(&p) {
                src.error(
                    at,
                    Some(&t.field("provider")),
                    format!("bad provider `{p}`"),
                );
                ok = false;
            }
            Some(p)
        }
        None => None,
    };
    let mut start_at = StartAt::End;
    if let Some((s, at)) = t.string(src, "start_at") {
        match StartAt::parse(&s) {
            Some(v) => start_at = v,
            None => {
                src.error(
                    at,
                    Some(&t.field("start_at")),
                    format!("unknown start position `{s}`; use `end` or `beginning`"),
                );
                ok = false;
            }
        }
    }
    let kubernetes_metadata = t.boolean(src, "kubernetes_metadata").unwrap_or(false);
    ok.then_some(SourceSpec {
        name,
        paths,
        exclude,
        format,
        provider,
        start_at,
        stdin,
        kubernetes_metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Diagnostics> {
        Config::parse(text, "config.toml", Path::new(""))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.listen.as_str(), DEFAULT_LISTEN);
        assert!(c.sources.is_empty());
        assert_eq!(c.checkpoint_interval, Duration::from_secs(5));
    }

    #[test]
    fn full_source_is_read() {
        let c = parse(
            r#"
listen = "0.0.0.0:9742"
checkpoint_interval = "1s"
[limits]
max_line_bytes = 4096
[[sources]]
name = "app"
paths = ["/var/log/app/*.log"]
exclude = ["*.gz"]
format = "cri"
provider = "zoom"
start_at = "beginning"
"#,
        )
        .unwrap();
        assert_eq!(c.listen.as_str(), "0.0.0.0:9742");
        assert_eq!(c.limits.framing.max_line_bytes, 4096);
        let s = &c.sources[0];
        assert_eq!(s.name, "app");
        assert_eq!(s.format, Format::Cri);
        assert_eq!(s.provider.as_deref(), Some("zoom"));
        assert_eq!(s.start_at, StartAt::Beginning);
        assert_eq!(s.exclude, vec!["*.gz".to_string()]);
    }

    #[test]
    fn every_problem_is_reported_with_line_and_field() {
        let err = parse(
            "listen = \"nowhere\"\nbogus = 1\ncheckpoint_interval = \"5\"\n[[sources]]\nname = \"a\"\nformat = \"xml\"\npaths = [\"x\"]\n[[sources]]\nname = \"a\"\npaths = [\"y\"]\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("config.toml:1:10: listen:"), "{text}");
        assert!(
            text.contains("config.toml:2:1: bogus: unknown key `bogus`"),
            "{text}"
        );
        assert!(
            text.contains("config.toml:3:23: checkpoint_interval: invalid duration"),
            "{text}"
        );
        assert!(
            text.contains("config.toml:6:10: sources[0].format: unknown format `xml`"),
            "{text}"
        );
        assert!(
            text.contains("config.toml:9:8: sources[1].name: duplicate source name `a`"),
            "{text}"
        );
        assert_eq!(err.0.len(), 5, "{text}");
    }

    #[test]
    fn listen_takes_socket_addresses_and_host_names_with_a_port() {
        for ok in [
            "127.0.0.1:9742",
            "[::]:9742",
            "[::1]:0",
            "localhost:9742",
            "oauthwatch.example-1.internal:80",
        ] {
            assert_eq!(check_listen(ok), Ok(()), "{ok}");
        }
        for bad in [
            "localhost",
            "nowhere",
            ":9742",
            "host:99999",
            "host:http",
            "a b:1",
            "-x:1",
            "[::1]",
        ] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
        assert!(check_listen("host:99999")
            .unwrap_err()
            .contains("the port `99999` is not a number from 0 to 65535"));
    }

    #[test]
    fn a_provider_no_rule_file_declares_is_reported_at_its_line() {
        let cfg = parse(
            "[[sources]]\nname = \"a\"\npaths = [\"x\"]\nprovider = \"zoom\"\n\
             [[sources]]\nname = \"b\"\npaths = [\"y\"]\nprovider = \"zooom\"\n",
        )
        .unwrap();
        assert!(cfg.unknown_providers(["zoom", "zooom"]).is_empty());
        let one = cfg.unknown_providers(["zoom"]).to_string();
        assert_eq!(
            one,
            "config.toml:8:12: sources[1].provider: source `b`: no loaded rule file declares \
             provider `zooom` (declared: `zoom`); with it nothing from this source would be counted"
        );
        let text = cfg.unknown_providers(["okta"]).to_string();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.contains(
                "config.toml:8:12: sources[1].provider: source `b`: no loaded rule file declares \
             provider `zooom` (declared: `okta`)"
            ),
            "{text}"
        );
        assert!(
            text.starts_with("config.toml:4:12: sources[0].provider: source `a`"),
            "{text}"
        );
    }

    #[test]
    fn wrong_types_are_reported() {
        let err = parse("watch_config = \"yes\"\n[limits]\nqueue_capacity = 0\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("watch_config: expected true or false, found string"),
            "{text}"
        );
        assert!(
            text.contains("limits.queue_capacity: must be an integer from 1"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("listen = \n").unwrap_err();
        assert!(err.to_string().starts_with("config.toml:1:"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = Config::parse(
            "rules = [\"rules/x.toml\"]\nstate_dir = \"st\"\n[[sources]]\nname = \"a\"\npaths = [\"logs/*.log\", \"/abs/*.log\"]\nexclude = [\"*.gz\", \"logs/old/*.log\"]\n",
            "c.toml",
            Path::new("/etc/ow"),
        )
        .unwrap();
        assert_eq!(c.rules, vec![PathBuf::from("/etc/ow/rules/x.toml")]);
        assert_eq!(c.state_dir, PathBuf::from("/etc/ow/st"));
        assert_eq!(c.sources[0].paths, vec!["/etc/ow/logs/*.log", "/abs/*.log"]);
        assert_eq!(c.sources[0].exclude, vec!["*.gz", "/etc/ow/logs/old/*.log"]);
    }

    #[test]
    fn tls_needs_both_files_and_auth_needs_bcrypt() {
        let err = parse(
            "[http.tls]\ncert_file = \"c.pem\"\n[http.basic_auth_users]\nalice = \"plain\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("both `cert_file` and `key_file`"), "{err}");
        assert!(err.contains("expected a bcrypt hash"), "{err}");
    }
}
