//! The reload policy: what a SIGHUP or a changed config file does to a running daemon.
//!
//! A reload reads the config and rules again (with the same flags over them) and applies them
//! only if all of it is valid; otherwise the old ones stay in force and the failure is logged
//! and counted. What applies live: rules, providers, the log level, the pod-series grace.
//! What restarts the sources: their list, globs or read settings. What only a process restart
//! applies ([`StartupSettings`]): it stays as it runs, with a warning.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::logging::LogControl;
use super::pipeline::InstalledRules;
use super::statelock::{self, StateLock};
use crate::classifier::RuleSet;
use crate::config::{watch, Config, ListenAddr, LogFormat, Overlay};
use crate::diag::Diagnostics;
use crate::exporter::HttpOptions;
use crate::registry::{Registry, SourceLabels};
use crate::sources::{Ack, RecordBatch, SourceObserver, SourceSpec, Sources, SourcesOptions};

/// The config file (if any) with the flags over it, and the rules it names, checked against
/// each other (every source's provider must be declared by a rule file).
pub fn load(overlay: &Overlay) -> Result<(Config, RuleSet), Diagnostics> {
    let cfg = crate::config::resolve(overlay)?;
    let rules = RuleSet::load_or_embedded(&cfg.rules)?;
    cfg.unknown_providers(rules.providers()).into_result(())?;
    Ok((cfg, rules))
}

pub(crate) fn source_labels(specs: &[SourceSpec]) -> Vec<SourceLabels> {
    specs
        .iter()
        .map(|s| SourceLabels {
            name: s.name.clone(),
            kubernetes_metadata: s.kubernetes_metadata,
        })
        .collect()
}

/// The sources' options with the installed rules' candidate search, so file sources frame
/// sparsely with the rules that classify (a reload switches both).
pub(crate) fn sources_options(
    cfg: &Config,
    rules: &Arc<ArcSwap<InstalledRules>>,
) -> SourcesOptions {
    let mut options = cfg.sources_options();
    options.candidates = Some(crate::batch::SharedCandidates(rules.clone()));
    options
}

pub(crate) fn providers(specs: &[SourceSpec]) -> Vec<Option<String>> {
    specs.iter().map(|s| s.provider.clone()).collect()
}

/// Settings only a restart applies: what the daemon was started with (the bound address,
/// the locked state directory, the endpoint's TLS and limits, the log format, the pod-series
/// cap). A reload keeps them as they run and logs the advice to restart when they changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartupSettings {
    listen: ListenAddr,
    state_dir: PathBuf,
    http: HttpOptions,
    log_format: LogFormat,
    max_pod_series: usize,
}

impl StartupSettings {
    /// The startup-only part of a config.
    pub(crate) fn of(cfg: &Config) -> StartupSettings {
        StartupSettings {
            listen: cfg.listen.clone(),
            state_dir: cfg.state_dir.clone(),
            http: cfg.http.clone(),
            log_format: cfg.log_format,
            max_pod_series: cfg.max_pod_series,
        }
    }

    /// The config keys whose value differs in `new`.
    fn changed(&self, new: &StartupSettings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.listen != new.listen {
            changed.push("listen");
        }
        if self.state_dir != new.state_dir {
            changed.push("state_dir");
        }
        if self.http != new.http {
            changed.push("http");
        }
        if self.log_format != new.log_format {
            changed.push("log_format");
        }
        if self.max_pod_series != new.max_pod_series {
            changed.push("kubernetes.max_pod_series");
        }
        changed
    }

    /// Put the running values back into a reloaded config.
    fn restore(&self, cfg: &mut Config) {
        cfg.listen = self.listen.clone();
        cfg.state_dir = self.state_dir.clone();
        cfg.http = self.http.clone();
        cfg.log_format = self.log_format;
        cfg.max_pod_series = self.max_pod_series;
    }
}

/// Settings a reload cannot apply to a running daemon; a change to them is logged with the
/// advice to restart.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = StartupSettings::of(old).changed(&StartupSettings::of(new));
    if sources_changed(old, new) && (has_stdin(old) || has_stdin(new)) {
        // Standard input cannot be reopened: a source list with stdin is fixed at start.
        changed.push("sources (with a stdin source)");
    }
    changed
}

/// Whether the sources must be restarted to apply `new`: their list (other than each
/// source's `provider`, which applies live) or the settings they were started with changed.
fn sources_changed(old: &Config, new: &Config) -> bool {
    let strip = |specs: &[SourceSpec]| -> Vec<SourceSpec> {
        specs
            .iter()
            .map(|s| SourceSpec {
                provider: None,
                ..s.clone()
            })
            .collect()
    };
    strip(&old.sources) != strip(&new.sources)
        || old.limits != new.limits
        || old.checkpoint_interval != new.checkpoint_interval
        || old.poll_interval != new.poll_interval
}

fn has_stdin(cfg: &Config) -> bool {
    cfg.sources.iter().any(|s| s.stdin)
}

/// Whether any source tails files (and so keeps checkpoints in the state directory).
pub(crate) fn has_files(cfg: &Config) -> bool {
    cfg.sources.iter().any(|s| !s.stdin)
}

/// Wait until every batch sent before now has been classified and acknowledged: send an
/// empty batch whose acknowledgement is ours and wait for it (the queue is FIFO and has one
/// consumer).
pub(crate) async fn drain_queue(tx: &mpsc::Sender<RecordBatch>) {
    let cursor = Arc::new(AtomicU64::new(0));
    let barrier = RecordBatch {
        source: 0,
        data: Vec::new(),
        ends: Vec::new(),
        lines: 0,
        k8s: None,
        ack: Some(Ack {
            cursor: cursor.clone(),
            offset: 1,
            progress: None,
        }),
        reserved: Default::default(),
    };
    if tx.send(barrier).await.is_err() {
        return;
    }
    while cursor.load(Ordering::Acquire) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The daemon's reloadable state.
pub(crate) struct Reloader {
    /// The flags, applied again over the config file on every reload.
    pub(crate) overlay: Overlay,
    /// What only a restart changes, as the daemon runs with it.
    pub(crate) startup: StartupSettings,
    /// The config in force.
    pub(crate) config: Config,
    /// The running sources; `None` only while they are being restarted.
    pub(crate) sources: Option<Sources>,
    /// The queue's sending side, kept so sources can be restarted without closing it.
    pub(crate) tx: mpsc::Sender<RecordBatch>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) current: Arc<ArcSwap<InstalledRules>>,
    /// The daemon's own log filter; `None` when the caller did not install the logging.
    pub(crate) log: Option<LogControl>,
    /// Poked by the config file watch.
    pub(crate) reload: Arc<tokio::sync::Notify>,
    pub(crate) watched: Vec<PathBuf>,
    pub(crate) watch: Option<watch::WatchGuard>,
    /// The state directory's lock, held while the daemon runs (taken by the first config
    /// with a file source).
    pub(crate) state_lock: Option<StateLock>,
}

impl Reloader {
    /// Start (or restart) watching the config and rule files when the config asks for it.
    pub(crate) fn rewatch(&mut self) {
        let files = if self.config.watch_config {
            self.config.watched_files()
        } else {
            Vec::new()
        };
        if files != self.watched {
            self.watch = watch::spawn(files.clone(), self.reload.clone());
            self.watched = files;
        }
    }

    /// Whether the config or rule files on disk now differ from what the daemon runs with.
    /// The watch takes its baseline when it starts, which is after the files were first read:
    /// an edit in between (a ConfigMap updated while the pod starts) would otherwise never
    /// be reloaded. Called once, right after the first [`Reloader::rewatch`]. The config is
    /// parsed again (cheap); the rule files are only hashed, never compiled a second time.
    pub(crate) fn changed_since_load(&self) -> bool {
        let Ok(cfg) = crate::config::resolve(&self.overlay) else {
            // Broken now: a reload reports it (and keeps what runs).
            return true;
        };
        cfg != self.config || !self.current.load().rules.files_unchanged(&cfg.rules)
    }

    /// Resolves once every stdin source has reached end of input.
    pub(crate) async fn stdin_finished(&self) {
        match &self.sources {
            Some(s) => s.stdin_finished().await,
            None => std::future::pending().await,
        }
    }

    /// Re-read config and rules; apply them only if all of it is valid. Logs one line with
    /// the outcome and what triggered it (`why`).
    pub(crate) async fn reload(&mut self, why: &'static str) {
        // Reading and checking the rule files takes tens of milliseconds; the runtime's one
        // thread serves HTTP meanwhile.
        let overlay = self.overlay.clone();
        let loaded = match tokio::task::spawn_blocking(move || load(&overlay)).await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(trigger = %why, "reload failed; the previous config and rules stay in force: {e}");
                self.registry.reload_result(false);
                return;
            }
        };
        let (mut cfg, rules) = match loaded {
            Ok(v) => v,
            Err(diags) => {
                tracing::error!(
                    trigger = %why,
                    "reload failed; the previous config and rules stay in force:\n{diags}"
                );
                self.registry.reload_result(false);
                return;
            }
        };
        let restart = needs_restart(&self.config, &cfg);
        if !restart.is_empty() {
            tracing::warn!(
                settings = restart.join(", "),
                "these settings changed but only take effect after a restart"
            );
        }
        let restart_sources = sources_changed(&self.config, &cfg) && restart.is_empty();
        if !restart_sources {
            // Keep what runs: the sources and the settings they were started with.
            let providers: Vec<Option<String>> = self
                .config
                .sources
                .iter()
                .map(
                    |spec| match cfg.sources.iter().find(|s| s.name == spec.name) {
                        Some(new) => new.provider.clone(),
                        None => spec.provider.clone(),
                    },
                )
                .collect();
            cfg.sources = self.config.sources.clone();
            for (spec, provider) in cfg.sources.iter_mut().zip(providers) {
                spec.provider = provider;
            }
            cfg.limits = self.config.limits.clone();
            cfg.queue_capacity = self.config.queue_capacity;
            cfg.checkpoint_interval = self.config.checkpoint_interval;
            cfg.poll_interval = self.config.poll_interval;
        }
        // What only a restart applies stays as it runs (a warning above said so).
        self.startup.restore(&mut cfg);

        let rules = Arc::new(rules);
        let n = rules.rules().len();
        if restart_sources && self.state_lock.is_none() && has_files(&cfg) {
            match statelock::acquire(&cfg.state_dir) {
                Ok(lock) => self.state_lock = Some(lock),
                Err(e) => {
                    tracing::error!("reload failed; the previous config stays in force: {e}");
                    self.registry.reload_result(false);
                    return;
                }
            }
        }
        if restart_sources {
            if let Some(running) = self.sources.take() {
                let stopped = running.stop().await;
                drain_queue(&self.tx).await;
                let saved = tokio::task::spawn_blocking(move || stopped.final_checkpoint()).await;
                if let Ok(Err(e)) = saved {
                    tracing::error!("checkpoint before restarting the sources failed: {e}");
                }
            }
        }
        let tally = self
            .registry
            .install(rules.clone(), &source_labels(&cfg.sources));
        self.registry.describe_sources(&cfg.sources);
        self.current.store(Arc::new(InstalledRules {
            rules,
            tally,
            providers: providers(&cfg.sources),
        }));
        if restart_sources {
            let observer: Arc<dyn SourceObserver> = self.registry.clone();
            match Sources::start(
                cfg.sources.clone(),
                sources_options(&cfg, &self.current),
                self.tx.clone(),
                observer,
            ) {
                Ok(started) => {
                    self.sources = Some(started);
                    self.registry.set_ready(true);
                }
                Err(e) => {
                    // Only if the state directory vanished. Nothing reads now: not ready, a
                    // failed reload, and the old config kept, so the next reload retries.
                    tracing::error!("restarting the sources failed; reload to retry: {e}");
                    self.registry.set_ready(false);
                    self.registry.reload_result(false);
                    return;
                }
            }
        }
        if let Some(log) = &self.log {
            log.set_config_level(&cfg.log_level);
        }
        self.registry.set_pod_series_grace(cfg.pod_series_grace);
        self.config = cfg;
        self.rewatch();
        self.registry.reload_result(true);
        tracing::info!(
            trigger = %why,
            rules = n,
            sources_restarted = restart_sources,
            "reloaded config and rules"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        Config::parse(text, "c.toml", Path::new("")).unwrap()
    }

    #[test]
    fn listen_and_stdin_source_changes_need_a_restart_others_apply_live() {
        let base = "[[sources]]\nname = \"app\"\npaths = [\"a/*.log\"]\n";
        let old = cfg(base);
        let new = cfg(&format!("{base}provider = \"zoom\"\n"));
        assert!(needs_restart(&old, &new).is_empty());
        let moved =
            cfg("listen = \"127.0.0.1:1\"\n[[sources]]\nname = \"app\"\npaths = [\"b/*.log\"]\n");
        assert_eq!(needs_restart(&old, &moved), vec!["listen"]);
        assert!(sources_changed(&old, &moved));
        assert!(!sources_changed(&old, &new));
        let stdin = cfg("[[sources]]\nname = \"in\"\nstdin = true\n");
        assert_eq!(
            needs_restart(&stdin, &moved),
            vec!["listen", "sources (with a stdin source)"]
        );
    }

    #[test]
    fn startup_only_settings_stay_as_they_run_and_the_rest_applies() {
        let old = cfg("listen = \"127.0.0.1:1\"\nlog_format = \"json\"\nlog_level = \"info\"\n");
        let mut new = cfg(
            "listen = \"127.0.0.1:2\"\nstate_dir = \"/elsewhere\"\nlog_level = \"debug\"\n\
             [kubernetes]\nmax_pod_series = 3\n",
        );
        let running = StartupSettings::of(&old);
        assert_eq!(
            running.changed(&StartupSettings::of(&new)),
            vec![
                "listen",
                "state_dir",
                "log_format",
                "kubernetes.max_pod_series"
            ]
        );
        running.restore(&mut new);
        assert_eq!(StartupSettings::of(&new), running);
        assert_eq!(new.log_level, "debug", "a live setting is not restored");
    }
}
