//! The running daemon's lifecycle: start the sources, classify until told to stop, reload
//! when asked (the policy is in [`super::reload`]), and stop gracefully.
//!
//! Graceful stop, in order, so that nothing read is lost and nothing is counted twice after
//! a restart: mark not ready → stop the sources (they drop their senders) → the classify
//! thread drains the queue and acknowledges every batch → write the final checkpoints →
//! close the HTTP endpoint. The whole sequence is bounded by [`SHUTDOWN_BUDGET`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::logging::LogControl;
use super::pipeline::{self, InstalledRules};
use super::reload::{
    has_files, providers, source_labels, sources_options, Reloader, StartupSettings,
};
use super::statelock;
use crate::classifier::RuleSet;
use crate::config::{Config, Overlay};
use crate::exporter::{self, Site};
use crate::registry::{HintsReport, Registry, StatusReport};
use crate::sources::{SourceObserver, Sources, Stopped};

/// A graceful stop that takes longer than this is abandoned (exit 1), so an orchestrator's
/// kill timeout is never the thing that ends us.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(20);

/// The first look at alert hints after start, a reload or a match into empty windows; after
/// it, the next look is when the oldest match leaves its window (the only moment a hint can
/// turn off), so nobody scraping still sees a hint that expires logged on time.
const HINT_TICK: Duration = Duration::from_secs(5);

/// What the daemon starts with.
pub struct Settings {
    /// The command-line flags, applied again over the config file on every reload.
    pub overlay: Overlay,
    /// The config with the flags applied ([`crate::config::resolve`]).
    pub config: Config,
    /// The rules the config names, checked against it ([`super::load`]).
    pub rules: RuleSet,
    /// The daemon's own log filter, for a reload to change; `None` when the caller did not
    /// install the logging (an in-process test).
    pub log: Option<LogControl>,
}

/// A request to re-read the config and rules; `trigger` says why, for the log line
/// (`SIGHUP`, `test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadRequest {
    /// What asked for it.
    pub trigger: &'static str,
}

/// Why the daemon stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
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
    StateLock(#[from] statelock::LockError),
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

/// What woke the main loop.
enum Event {
    Stop,
    Reload(&'static str),
    ReloadsClosed,
    StdinEnded,
    Tick,
    /// A match after every alert window had emptied: tick again.
    Matched,
    ServerEnded(Result<Result<(), exporter::ServeError>, tokio::task::JoinError>),
}

/// Run the daemon on an already-bound `listener` until `shutdown` resolves (or standard
/// input ends, with `exit_on_eof`); every message on `reloads` re-reads the config and
/// rules. The caller owns the process: it binds, installs signal handling, and turns the
/// outcome into an exit code; a test can run the whole daemon in-process on `127.0.0.1:0`.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    mut reloads: mpsc::Receiver<ReloadRequest>,
) -> Result<(), RunError> {
    let Settings {
        overlay,
        config,
        rules,
        log,
    } = settings;
    tokio::pin!(shutdown);
    // Before anything reads or writes checkpoints: one daemon per state directory.
    let state_lock = if has_files(&config) {
        Some(statelock::acquire(&config.state_dir)?)
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

    let addr = listener
        .local_addr()
        .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    if addr != config.listen.as_str() {
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

    let (tx, rx) = mpsc::channel(config.queue_capacity);
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

    let exit_on_eof = overlay.exit_on_eof;
    let mut reloader = Reloader {
        overlay,
        startup: StartupSettings::of(&config),
        config,
        sources: Some(sources),
        tx,
        registry: registry.clone(),
        current,
        log,
        reload: Arc::new(tokio::sync::Notify::new()),
        watched: Vec::new(),
        watch: None,
        state_lock,
    };
    reloader.rewatch();
    if reloader.config.watch_config && reloader.changed_since_load() {
        reloader.reload.notify_one();
    }
    let file_changed = reloader.reload.clone();
    // Brings alert hints up to date between scrapes, so a hint that expires is logged; stopped
    // while every window is empty (nothing can change), so an idle daemon sleeps.
    let hint_tick = tokio::time::sleep(HINT_TICK);
    tokio::pin!(hint_tick);
    let mut ticking = true;

    let mut stdin_done = false;
    let mut reloads_open = true;
    loop {
        let event = tokio::select! {
            () = &mut shutdown => Event::Stop,
            req = reloads.recv(), if reloads_open => match req {
                Some(ReloadRequest { trigger }) => Event::Reload(trigger),
                None => Event::ReloadsClosed,
            },
            _ = file_changed.notified() => Event::Reload("config or rule files changed"),
            _ = reloader.stdin_finished(), if !stdin_done => Event::StdinEnded,
            res = &mut server => Event::ServerEnded(res),
            () = &mut hint_tick, if ticking => Event::Tick,
            () = registry.matched_after_quiet(), if !ticking => Event::Matched,
        };
        match event {
            Event::Stop => break,
            Event::ReloadsClosed => reloads_open = false,
            Event::Reload(why) => {
                reloader.reload(why).await;
                // Windows may have been shortened.
                ticking = true;
                hint_tick
                    .as_mut()
                    .reset(tokio::time::Instant::now() + HINT_TICK);
            }
            Event::Tick => match registry.tick() {
                Some(next) => hint_tick.as_mut().reset(tokio::time::Instant::now() + next),
                None => ticking = false,
            },
            Event::Matched => {
                ticking = true;
                hint_tick
                    .as_mut()
                    .reset(tokio::time::Instant::now() + HINT_TICK);
            }
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
