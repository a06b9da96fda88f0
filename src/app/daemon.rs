//! The running daemon: bind the endpoint, start the sources, classify until told to stop,
//! reload on SIGHUP or a file change, and stop gracefully on SIGTERM/SIGINT.
//!
//! Graceful stop, in order, so that nothing read is lost and nothing is counted twice after
//! a restart: mark not ready → stop the sources (they drop their senders) → the classify
//! thread drains the queue and acknowledges every batch → write the final checkpoints →
//! close the HTTP endpoint. The whole sequence is bounded by [`SHUTDOWN_BUDGET`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::logging::LogControl;
use super::pipeline::{self, InstalledRules};
use super::settings;
use crate::classifier::RuleSet;
use crate::cli::RunArgs;
use crate::config::{watch, Config};
use crate::exporter::{self, Site};
use crate::registry::{HintsReport, Registry, SourceLabels, StatusReport};
use crate::sources::{
    Ack, RecordBatch, SourceObserver, SourceSpec, Sources, SourcesOptions, Stopped,
};

/// A graceful stop that takes longer than this is abandoned (exit 1), so an orchestrator's
/// kill timeout is never the thing that ends us.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(20);

/// How often alert hints are brought up to date when nobody scrapes (their on/off log lines
/// are at most this late).
const HINT_TICK: Duration = Duration::from_secs(5);

/// What to change when binding failed: the flag or config key the address came from.
fn bind_advice(e: &std::io::Error, args: &RunArgs, config: &Config) -> String {
    let origin = if args.listen.is_some() {
        "change --listen".to_string()
    } else if let Some(path) = &config.path {
        format!(
            "change `listen` in {} (or pass --listen ADDR)",
            path.display()
        )
    } else {
        "pass --listen ADDR (the default is 127.0.0.1:9742)".to_string()
    };
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "; another process (perhaps another oauthwatch) holds this port: stop it, or {origin} \
             to another port"
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            format!("; this host has no such address: {origin}")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("; ports below 1024 need privileges: {origin} to a port above 1023")
        }
        _ => format!("; {origin}"),
    }
}

/// Why the daemon stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}{advice}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
        /// Which flag or config key to change, when that would help.
        advice: String,
    },
    /// The sources could not start (state directory).
    #[error(transparent)]
    Sources(#[from] crate::sources::SourcesError),
    /// The HTTP endpoint failed.
    #[error("HTTP endpoint: {0}")]
    Serve(#[from] exporter::ServeError),
    /// The HTTP endpoint task ended although no stop was asked for.
    #[error("HTTP endpoint stopped unexpectedly: {0}")]
    ServerStopped(String),
    /// The graceful stop did not finish within the budget.
    #[error("graceful stop took longer than {0:?}; exiting anyway")]
    ShutdownTimeout(Duration),
    /// Another daemon holds the state directory (or it cannot be locked).
    #[error(transparent)]
    StateLock(#[from] super::statelock::LockError),
}

/// The signals the daemon acts on, installed before anything else so that one arriving
/// during start-up is held and acted on once start-up completes instead of ending the
/// process with the default action.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install the handlers for SIGTERM, SIGINT and SIGHUP (inside a tokio runtime).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// The endpoint's view of the registry.
struct DaemonSite(Arc<Registry>);

impl Site for DaemonSite {
    fn metrics(&self) -> Vec<u8> {
        self.0.encode()
    }
    fn hints(&self) -> HintsReport {
        self.0.hints()
    }
    fn ready(&self) -> bool {
        self.0.is_ready()
    }
    fn status(&self) -> StatusReport {
        self.0.status()
    }
    fn readiness_notes(&self) -> Vec<String> {
        self.0.source_warnings()
    }
}

fn source_labels(specs: &[SourceSpec]) -> Vec<SourceLabels> {
    specs
        .iter()
        .map(|s| SourceLabels {
            name: s.name.clone(),
            kubernetes_metadata: s.kubernetes_metadata,
        })
        .collect()
}

fn providers(specs: &[SourceSpec]) -> Vec<Option<String>> {
    specs.iter().map(|s| s.provider.clone()).collect()
}

/// Settings a reload cannot apply to a running daemon; a change to them is logged with the
/// advice to restart.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.listen != new.listen {
        changed.push("listen");
    }
    if old.state_dir != new.state_dir {
        changed.push("state_dir");
    }
    if old.http != new.http {
        changed.push("http");
    }
    if old.log_format != new.log_format {
        changed.push("log_format");
    }
    if old.max_pod_series != new.max_pod_series {
        changed.push("kubernetes.max_pod_series");
    }
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
fn has_files(cfg: &Config) -> bool {
    cfg.sources.iter().any(|s| !s.stdin)
}

fn sources_options(cfg: &Config, rules: &Arc<ArcSwap<InstalledRules>>) -> SourcesOptions {
    SourcesOptions {
        state_dir: cfg.state_dir.clone(),
        checkpoint_interval: cfg.checkpoint_interval,
        poll_interval: cfg.poll_interval,
        limits: cfg.limits.clone(),
        candidates: Some(crate::batch::SharedCandidates(rules.clone())),
    }
}

/// Wait until every batch sent before now has been classified and acknowledged: send an
/// empty batch whose acknowledgement is ours and wait for it (the queue is FIFO and has one
/// consumer).
async fn drain_queue(tx: &mpsc::Sender<RecordBatch>) {
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
struct Reloader {
    args: RunArgs,
    config: Config,
    /// The running sources; `None` only while they are being restarted.
    sources: Option<Sources>,
    /// The queue's sending side, kept so sources can be restarted without closing it.
    tx: mpsc::Sender<RecordBatch>,
    registry: Arc<Registry>,
    current: Arc<ArcSwap<InstalledRules>>,
    log: LogControl,
    reload: Arc<tokio::sync::Notify>,
    watched: Vec<PathBuf>,
    _watch: Option<watch::WatchGuard>,
    /// The state directory's lock, held while the daemon runs (taken by the first config
    /// with a file source).
    state_lock: Option<super::statelock::StateLock>,
}

impl Reloader {
    /// Start (or restart) watching the config and rule files when the config asks for it.
    fn rewatch(&mut self) {
        let files = if self.config.watch_config {
            self.config.watched_files()
        } else {
            Vec::new()
        };
        if files != self.watched {
            self._watch = watch::spawn(files.clone(), self.reload.clone());
            self.watched = files;
        }
    }

    /// Resolves once every stdin source has reached end of input.
    async fn stdin_finished(&self) {
        match &self.sources {
            Some(s) => s.stdin_finished().await,
            None => std::future::pending().await,
        }
    }

    /// Re-read config and rules; apply them only if all of it is valid. Logs one line with
    /// the outcome and what triggered it (`why`).
    async fn reload(&mut self, why: &'static str) {
        let loaded = settings::resolve(&self.args).and_then(|cfg| {
            let rules = RuleSet::load_or_embedded(&cfg.rules)?;
            cfg.unknown_providers(rules.providers()).into_result(())?;
            Ok((cfg, rules))
        });
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
            cfg.checkpoint_interval = self.config.checkpoint_interval;
            cfg.poll_interval = self.config.poll_interval;
        }
        // What only a restart applies stays as it runs (a warning above said so).
        cfg.listen = self.config.listen.clone();
        cfg.state_dir = self.config.state_dir.clone();
        cfg.http = self.config.http.clone();
        cfg.log_format = self.config.log_format;
        cfg.max_pod_series = self.config.max_pod_series;

        let rules = Arc::new(rules);
        let n = rules.rules().len();
        if restart_sources && self.state_lock.is_none() && has_files(&cfg) {
            match super::statelock::acquire(&cfg.state_dir) {
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
                if let Err(e) = stopped.final_checkpoint() {
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
        self.log.set_config_level(&cfg.log_level);
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

/// What woke the main loop.
enum Event {
    Stop(&'static str),
    Reload(&'static str),
    StdinEnded,
    Tick,
    ServerEnded(Result<Result<(), exporter::ServeError>, tokio::task::JoinError>),
}

/// Run the daemon until SIGTERM/SIGINT (or end of stdin with `--exit-on-eof`).
pub async fn run(
    args: RunArgs,
    config: Config,
    rules: RuleSet,
    log: LogControl,
    signals: Signals,
) -> Result<(), RunError> {
    let Signals {
        term: mut sigterm,
        int: mut sigint,
        hup: mut sighup,
    } = signals;
    // Before anything reads or writes checkpoints: one daemon per state directory.
    let state_lock = if has_files(&config) {
        Some(super::statelock::acquire(&config.state_dir)?)
    } else {
        None
    };

    let registry = Arc::new(Registry::new(config.max_pod_series));
    registry.set_pod_series_grace(config.pod_series_grace);
    let rules = Arc::new(rules);
    let tally = registry.install(rules.clone(), &source_labels(&config.sources));
    registry.describe_sources(&config.sources);
    let current = Arc::new(ArcSwap::from_pointee(InstalledRules {
        rules: rules.clone(),
        tally,
        providers: providers(&config.sources),
    }));

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| RunError::Bind {
            advice: bind_advice(&source, &args, &config),
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_or_else(|_| config.listen.clone(), |a| a.to_string());
    if addr != config.listen {
        // A host name (`localhost:9742`) or port 0: say what it became.
        tracing::info!(listen = %config.listen, bound = %addr, "HTTP endpoint bound");
    }
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let site: Arc<dyn Site> = Arc::new(DaemonSite(registry.clone()));
    let mut server = tokio::spawn(exporter::serve(
        listener,
        site,
        config.http.clone(),
        async move {
            let _ = http_stop_rx.await;
        },
    ));

    let (tx, rx) = mpsc::channel(config.limits.queue_capacity);
    let classify = pipeline::spawn(rx, current.clone());
    let observer: Arc<dyn SourceObserver> = registry.clone();
    let sources = Sources::start(
        config.sources.clone(),
        sources_options(&config, &current),
        tx.clone(),
        observer,
    )?;
    registry.set_ready(true);
    tracing::info!(
        listen = %addr,
        sources = config.sources.len(),
        rules = rules.rules().len(),
        "oauthwatch is running"
    );

    let exit_on_eof = args.exit_on_eof;
    let mut reloader = Reloader {
        args,
        config,
        sources: Some(sources),
        tx,
        registry: registry.clone(),
        current,
        log,
        reload: Arc::new(tokio::sync::Notify::new()),
        watched: Vec::new(),
        _watch: None,
        state_lock,
    };
    reloader.rewatch();
    let file_changed = reloader.reload.clone();
    // Brings alert hints up to date between scrapes, so a hint that expires is logged.
    let mut hint_tick = tokio::time::interval(HINT_TICK);
    hint_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let mut stdin_done = false;
    loop {
        let event = tokio::select! {
            _ = sigterm.recv() => Event::Stop("SIGTERM"),
            _ = sigint.recv() => Event::Stop("SIGINT"),
            _ = sighup.recv() => Event::Reload("SIGHUP"),
            _ = file_changed.notified() => Event::Reload("config or rule files changed"),
            _ = reloader.stdin_finished(), if !stdin_done => Event::StdinEnded,
            res = &mut server => Event::ServerEnded(res),
            _ = hint_tick.tick() => Event::Tick,
        };
        match event {
            Event::Stop(why) => {
                tracing::info!("{why}: stopping");
                break;
            }
            Event::Reload(why) => reloader.reload(why).await,
            Event::Tick => registry.tick(),
            Event::StdinEnded => {
                stdin_done = true;
                if exit_on_eof {
                    tracing::info!("end of input on stdin: stopping (--exit-on-eof)");
                    break;
                }
                tracing::info!("end of input on stdin; still serving metrics until signalled");
            }
            Event::ServerEnded(res) => {
                // The endpoint stopped by itself: that is a failure (e.g. bad TLS files).
                registry.set_ready(false);
                return match res {
                    Ok(Ok(())) => Err(RunError::ServerStopped("no error given".into())),
                    Ok(Err(e)) => Err(RunError::Serve(e)),
                    Err(e) => Err(RunError::ServerStopped(e.to_string())),
                };
            }
        }
    }

    registry.set_ready(false);
    let Reloader { sources, tx, .. } = reloader;
    let stop = async {
        let stopped = match sources {
            Some(s) => Some(s.stop().await),
            None => None,
        };
        // With every reader stopped and our sender dropped, the classify thread drains the
        // queue, acknowledges every batch, and ends.
        drop(tx);
        let totals = tokio::task::spawn_blocking(move || classify.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if let Some(Err(e)) = stopped.map(Stopped::final_checkpoint) {
            tracing::error!("final checkpoint failed: {e}");
        }
        let _ = http_stop_tx.send(());
        let _ = server.await;
        totals
    };
    match tokio::time::timeout(SHUTDOWN_BUDGET, stop).await {
        Ok(totals) => {
            tracing::info!(
                records = totals.records,
                matches = totals.matches,
                "stopped cleanly"
            );
            Ok(())
        }
        Err(_) => Err(RunError::ShutdownTimeout(SHUTDOWN_BUDGET)),
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
}
